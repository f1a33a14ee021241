#!/usr/bin/env python3
"""`make oci`: build/llm_telemetry.wasm as an OCI image Istio's WasmPlugin pulls, without Docker.

    python envoy/oci.py [--wasm build/llm_telemetry.wasm] [--ref registry.example.com/llm-telemetry:0.1.0]
                        [--out build/oci]

Writes an OCI image layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
to OUT/llm-telemetry/ and the Istio manifests of examples/istio/ with this image's URL and digest
filled in to OUT/istio/, then prints how to push the image.

The image is the "oci" variant of the Wasm image specification that Istio's agent reads
(istio/istio pkg/wasm/imagefetcher.go, extractOCIArtifactImage): an OCI manifest with exactly two
layers, the module as `application/vnd.module.wasm.content.layer.v1+wasm` (raw bytes, not a tar)
and its runtime config as `application/vnd.module.wasm.config.v1+json`, which is also the
manifest's config. Istio checks WasmPlugin's `sha256` against the digest of the manifest (not of
the module) when the URL is oci://. Nothing in the image depends on the time it was built: the
same module always gives the same digest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import render  # noqa: E402

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
WASM_LAYER_MEDIA_TYPE = "application/vnd.module.wasm.content.layer.v1+wasm"
WASM_CONFIG_MEDIA_TYPE = "application/vnd.module.wasm.config.v1+json"
ROOT_ID = "llm_telemetry"
# The placeholder examples/istio/*.yaml carry where the image's digest goes (Istio's schema
# rejects it, so an unfilled manifest cannot be applied by mistake).
DIGEST_PLACEHOLDER = "<digest printed by make oci>"
EXAMPLE_REF = "registry.example.com/llm-telemetry"
ISTIO_TEMPLATES = ("wasmplugin.yaml", "envoyfilter-wasm.yaml")


def version() -> str:
    m = re.search(r'^version\s*=\s*"([^"]+)"', (REPO / "Cargo.toml").read_text(), re.M)
    return m.group(1) if m else "0.0.0"


def _blob(layout: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _json(obj) -> bytes:
    return json.dumps(obj, indent=2, sort_keys=False).encode() + b"\n"


def runtime_config(wasm: bytes) -> dict:
    """The Wasm image spec's runtime config: Envoy, the proxy-wasm ABI the module exports, root id."""
    abi = re.search(rb"proxy_abi_version_[0-9_]+", wasm)
    return {"type": "envoy_proxy", "abi_version": abi.group(0).decode() if abi else "",
            "config": {"root_ids": [ROOT_ID]}}


def build_layout(wasm: bytes, layout: Path, tag: str) -> dict:
    """Write the OCI image layout; returns {'manifest_digest': 'sha256:…', 'manifest': {...}}."""
    if wasm[:4] != b"\0asm":
        raise ValueError("not a Wasm module (no \\0asm header)")
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_bytes(_json({"imageLayoutVersion": "1.0.0"}))
    config = _blob(layout, _json(runtime_config(wasm)))
    module = _blob(layout, wasm)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": WASM_CONFIG_MEDIA_TYPE, **config},
        "layers": [
            {"mediaType": WASM_CONFIG_MEDIA_TYPE, **config,
             "annotations": {"org.opencontainers.image.title": "runtime-config.json"}},
            {"mediaType": WASM_LAYER_MEDIA_TYPE, **module,
             "annotations": {"org.opencontainers.image.title": "plugin.wasm"}},
        ],
        "annotations": {"org.opencontainers.image.title": "llm-telemetry",
                        "org.opencontainers.image.version": version(),
                        "org.opencontainers.image.description": "LiteLLM's metrics and alerts as an Envoy Wasm filter"},
    }
    manifest_blob = _blob(layout, _json(manifest))
    index = {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": [
        {"mediaType": MANIFEST_MEDIA_TYPE, **manifest_blob,
         "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    (layout / "index.json").write_bytes(_json(index))
    return {"manifest_digest": manifest_blob["digest"], "manifest": manifest, "wasm_sha256": module["digest"]}


def render_istio(ref: str, manifest_digest: str, out: Path) -> list[Path]:
    """examples/istio/'s manifests that load the module, with this image's URL and digest."""
    hex_digest = manifest_digest.split(":", 1)[1]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ISTIO_TEMPLATES:
        text = (REPO / "examples" / "istio" / name).read_text()
        if DIGEST_PLACEHOLDER not in text or f"oci://{EXAMPLE_REF}:" not in text:
            raise ValueError(f"examples/istio/{name} lost its image URL or digest placeholder")
        text = re.sub(rf"oci://{re.escape(EXAMPLE_REF)}:[\w.-]+", f"oci://{ref}", text)
        text = text.replace(DIGEST_PLACEHOLDER, hex_digest)
        path = out / name
        path.write_text(f"# Written by `make oci` from examples/istio/{name} for oci://{ref}.\n" + text)
        written.append(path)
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wasm", default=str(REPO / render.DEFAULT_WASM))
    ap.add_argument("--ref", default=f"{EXAMPLE_REF}:{version()}",
                    help="where the image will be pushed: registry/repository:tag")
    ap.add_argument("--out", default=str(REPO / "build" / "oci"))
    a = ap.parse_args(argv)
    if ":" not in a.ref.rsplit("/", 1)[-1]:
        ap.error(f"--ref {a.ref!r}: expected registry/repository:tag")
    tag = a.ref.rsplit(":", 1)[1]
    out = Path(a.out)
    layout = out / "llm-telemetry"
    built = build_layout(Path(a.wasm).read_bytes(), layout, tag)
    manifests = render_istio(a.ref, built["manifest_digest"], out / "istio")
    rel = lambda p: p.relative_to(REPO) if p.is_relative_to(REPO) else p  # noqa: E731
    print(f"""OCI image layout: {rel(layout)}/  (tag {tag})
  manifest digest  {built['manifest_digest']}   <- WasmPlugin sha256 (Istio checks the manifest's digest)
  module sha256    {built['wasm_sha256']}
Istio manifests with this image: {', '.join(str(rel(p)) for p in manifests)}

Push it (any one; all keep the manifest, so the registry's digest stays the one above):
  oras cp --from-oci-layout {rel(layout)}:{tag} {a.ref}
  crane push {rel(layout)} {a.ref}
  skopeo copy --preserve-digests oci:{rel(layout)}:{tag} docker://{a.ref}
Check:  crane digest {a.ref}    (must print {built['manifest_digest']})
Then:   kubectl apply -f {rel(out / 'istio')}/   (with examples/istio/'s other files: see the README)""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
