"""Istio, deployable: the OCI image `make oci` builds, pushed to a real registry and read back the
way Istio's agent reads it, and the filter configuration embedded in examples/istio/'s manifests
loaded into a real Envoy as Istio builds it (`--mode validate`, then live requests: LiteLLM's
labelled series and an alert through the webhook destination the manifests name).

Istio itself does not run here. What it does is reproduced from its source: the image format
(pkg/wasm/imagefetcher.go: two layers, the module in the `application/vnd.module.wasm.content.
layer.v1+wasm` one, WasmPlugin's sha256 = the manifest's digest), the WasmPlugin translation
(pilot/pkg/model/extensions.go, in envoy/render.py's istio_wasm_config), the agent replacing the
oci:// source by the file it pulled (pkg/wasm/convert.go), and the bootstrap pieces (stats_tags of
envoyfilter-stats-tags.yaml; proxyStatsMatcher.inclusionPrefixes of proxy-config.yaml as Envoy's
stats_matcher inclusion list).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from harness import REPO, Envoy, validate_config, wait_until, wasm_path  # puts envoy/ on sys.path
import oci  # noqa: E402  (envoy/oci.py)
import render  # noqa: E402

ISTIO = REPO / "examples" / "istio"
SLACK_URL = "https://hooks.slack.com/services/T0ISTIO/B0ISTIO/istio-e2e"
SLACK_CLUSTER = "outbound|443||hooks.slack.com"   # what wasmplugin.yaml maps hooks.slack.com to


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """`make oci` into a temporary directory: the layout, its digest, the filled-in manifests."""
    out = tmp_path_factory.mktemp("oci")
    built = oci.build_layout(wasm_path().read_bytes(), out / "llm-telemetry", "0.1.0")
    ref = "127.0.0.1:5000/llm-telemetry:0.1.0"
    oci.render_istio(ref, built["manifest_digest"], out / "istio")
    return {"out": out, "layout": out / "llm-telemetry", "ref": ref, **built}


def _blob(layout: Path, digest: str) -> bytes:
    data = (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()
    assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
    return data


def istio_extract(manifest: dict, blob) -> bytes:
    """The module, as Istio's agent takes it out of an "oci" variant Wasm image."""
    layers = manifest["layers"]
    assert len(layers) == 2, "Istio refuses an oci-variant Wasm image without exactly two layers"
    [wasm_layer] = [layer for layer in layers if layer["mediaType"] == oci.WASM_LAYER_MEDIA_TYPE]
    data = blob(wasm_layer["digest"])
    assert len(data) == wasm_layer["size"] and data[:4] == b"\0asm"
    return data


def test_oci_layout_is_the_image_istio_pulls(image, tmp_path):
    layout = image["layout"]
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((layout / "index.json").read_text())
    [entry] = index["manifests"]
    assert entry["mediaType"] == oci.MANIFEST_MEDIA_TYPE
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "0.1.0"
    raw = _blob(layout, entry["digest"])
    assert len(raw) == entry["size"] and entry["digest"] == image["manifest_digest"]
    manifest = json.loads(raw)
    assert manifest["mediaType"] == oci.MANIFEST_MEDIA_TYPE
    assert manifest["config"]["mediaType"] == oci.WASM_CONFIG_MEDIA_TYPE
    config = json.loads(_blob(layout, manifest["config"]["digest"]))
    assert config == {"type": "envoy_proxy", "abi_version": "proxy_abi_version_0_2_1",
                      "config": {"root_ids": ["llm_telemetry"]}}
    assert sorted(layer["mediaType"] for layer in manifest["layers"]) == sorted(
        [oci.WASM_CONFIG_MEDIA_TYPE, oci.WASM_LAYER_MEDIA_TYPE])
    assert istio_extract(manifest, lambda d: _blob(layout, d)) == wasm_path().read_bytes()
    # Nothing depends on the build time: the same module is the same image.
    again = oci.build_layout(wasm_path().read_bytes(), tmp_path / "again", "0.1.0")
    assert again["manifest_digest"] == image["manifest_digest"]


def test_make_oci_fills_the_manifests_with_url_and_manifest_digest(image):
    digest = image["manifest_digest"].split(":", 1)[1]
    plugin = yaml.safe_load((image["out"] / "istio" / "wasmplugin.yaml").read_text())
    assert plugin["spec"]["url"] == f"oci://{image['ref']}" and plugin["spec"]["sha256"] == digest
    ef = yaml.safe_load((image["out"] / "istio" / "envoyfilter-wasm.yaml").read_text())
    remote = ef["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]["value"]["config"]["vm_config"]["code"]["remote"]
    assert remote["http_uri"]["uri"] == f"oci://{image['ref']}" and remote["sha256"] == digest
    # The committed templates carry a placeholder Istio's schema rejects, never a stale digest.
    for name in oci.ISTIO_TEMPLATES:
        assert oci.DIGEST_PLACEHOLDER in (ISTIO / name).read_text()


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed but CI is set: `make deps` must install it")
    pytest.skip(f"{name} not found (run `make deps`)")


def test_oci_image_pushed_to_a_registry_keeps_its_digest(image, tmp_path):
    """The push `make oci` prints (skopeo's), into a real registry (Debian's docker-registry) on
    loopback; read back as Istio's agent reads it: the manifest under the tag has the digest the
    manifests carry, and its wasm layer is the module."""
    registry, skopeo = _tool("docker-registry"), _tool("skopeo")
    proc = None
    for _ in range(3):  # the free port may be taken between probe and bind
        port = _free_port()
        (tmp_path / "registry.yml").write_text(yaml.safe_dump({
            "version": 0.1, "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(tmp_path / "data")}},
            "http": {"addr": f"127.0.0.1:{port}"}}))
        proc = subprocess.Popen([registry, "serve", str(tmp_path / "registry.yml")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if wait_until(lambda: proc.poll() is not None or _answers(port), 15, "the registry"):
            if proc.poll() is None:
                break
    try:
        ref = f"127.0.0.1:{port}/llm-telemetry:0.1.0"
        subprocess.run([skopeo, "copy", "--preserve-digests", "--dest-tls-verify=false",
                        f"oci:{image['layout']}:0.1.0", f"docker://{ref}"],
                       check=True, capture_output=True, timeout=120)
        status, headers, raw = _get(port, "/v2/llm-telemetry/manifests/0.1.0",
                                    {"Accept": oci.MANIFEST_MEDIA_TYPE})
        assert status == 200
        assert headers["docker-content-digest"] == image["manifest_digest"]
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == image["manifest_digest"]

        def blob(digest):
            s, _, data = _get(port, f"/v2/llm-telemetry/blobs/{digest}")
            assert s == 200
            return data

        assert istio_extract(json.loads(raw), blob) == wasm_path().read_bytes()
    finally:
        proc.terminate()
        proc.wait(10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        return _get(port, "/v2/")[0] == 200
    except OSError:
        return False


def _get(port: int, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


# --- the embedded configuration in a real Envoy -----------------------------------------------------

def istio_bootstrap(base_text: str, http_filter: dict) -> str:
    """A test bootstrap (listener, fake upstream, webhook clusters) with Istio's pieces: the
    manifests' Wasm filter, the stats_tags of envoyfilter-stats-tags.yaml and the
    proxyStatsMatcher of proxy-config.yaml."""
    boot = yaml.safe_load(base_text)
    hcm = boot["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["http_filters"] = [http_filter] + [f for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.router"]
    [envoyfilter, _] = list(yaml.safe_load_all((ISTIO / "envoyfilter-stats-tags.yaml").read_text()))
    tags = envoyfilter["spec"]["configPatches"][0]["patch"]["value"]["stats_config"]["stats_tags"]
    annotations = yaml.safe_load((ISTIO / "proxy-config.yaml").read_text())["spec"]["template"]["metadata"]["annotations"]
    prefixes = yaml.safe_load(annotations["proxy.istio.io/config"])["proxyStatsMatcher"]["inclusionPrefixes"]
    boot["stats_config"] = {"stats_tags": tags,
                            "stats_matcher": {"inclusion_list": {"patterns": [{"prefix": p} for p in prefixes]}}}
    return yaml.safe_dump(boot, sort_keys=False)


def run_istio_envoy(start_envoy, text: str) -> Envoy:
    workdir = Path(tempfile.mkdtemp(prefix="istio-", dir=start_envoy.tmp_root))
    envoy = Envoy(text, workdir)
    ok, output = validate_config(envoy.config_path)
    assert ok, f"envoy --mode validate refused the Istio configuration:\n{output}"
    start_envoy.started.append(envoy)  # stopped (and its log printed on failure) by the fixture
    return envoy.start()


def base_config(start_envoy, webhook) -> str:
    # In the mesh, Istio names the Slack cluster after the ServiceEntry of webhook-egress.yaml and
    # its DestinationRule adds TLS; here the same cluster name leads to the webhook receiver.
    return start_envoy.render({}, clusters_extra=[(SLACK_CLUSTER, "127.0.0.1", webhook.port, False)])


CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "bonjour"}]}


def assert_counts_and_alerts(envoy: Envoy, webhook, alerts: bool):
    """A request is counted under LiteLLM's name with labels from the manifest's model_list (so
    the stats_tags and the inclusion prefixes work); a failing one alerts through the cluster the
    manifest names, to the Slack URL taken from the host's environment."""
    key_hash = hashlib.sha256(b"sk-istio").hexdigest()
    assert envoy.request("POST", "/v1/chat/completions", CHAT, {"authorization": "Bearer sk-istio"})[0] == 200

    def counted(text):
        for line in envoy.prom_lines("litellm_proxy_total_requests_metric_total{", text):
            if (f'hashed_api_key="{key_hash}"' in line and 'model_id="openai-gpt-4o"' in line
                    and 'requested_model="gpt-4o"' in line and 'status_code="200"' in line
                    and 'stream="False"' in line and line.endswith(" 1")):
                return line
        return None

    envoy.wait_for(counted, 15, "the request counted with the manifest's model_id and the stream label")
    assert ";" not in envoy.prometheus(), "a label was left in a stat name: stats_tags missing"
    if not alerts:
        return
    status, _, _ = envoy.request("POST", "/v1/chat/completions", CHAT,
                                 {"authorization": "Bearer sk-istio", "x-fake-status": "500"})
    assert status == 500

    def delivered():
        for rec in webhook.take_records():
            body = rec["json"] or {}
            if rec["path"] == "/services/T0ISTIO/B0ISTIO/istio-e2e" and "`llm_exceptions`" in body.get("text", ""):
                return rec
        return None

    wait_until(delivered, 30, lambda: f"an llm_exceptions alert at the Slack URL; received {webhook.take_records()}")


def test_wasmplugin_configuration_loads_in_envoy(start_envoy, webhook, image, monkeypatch):
    plugin = yaml.safe_load((image["out"] / "istio" / "wasmplugin.yaml").read_text())
    module = image["out"] / "pulled.wasm"
    module.write_bytes(istio_extract(json.loads(_blob(image["layout"], image["manifest_digest"])),
                                     lambda d: _blob(image["layout"], d)))
    wasm = render.istio_wasm_config(plugin, {"local": {"filename": str(module)}})
    assert wasm["config"]["vm_config"]["environment_variables"] == {"host_env_keys": ["SLACK_WEBHOOK_URL"]}
    http_filter = {"name": wasm["config"]["name"], "typed_config": {"@type": render.WASM_FILTER_TYPE, **wasm}}
    monkeypatch.setenv("SLACK_WEBHOOK_URL", SLACK_URL)   # valueFrom: HOST
    envoy = run_istio_envoy(start_envoy, istio_bootstrap(base_config(start_envoy, webhook), http_filter))
    assert_counts_and_alerts(envoy, webhook, alerts=True)


def test_envoyfilter_configuration_loads_in_envoy(start_envoy, webhook, image, monkeypatch):
    ef = yaml.safe_load((image["out"] / "istio" / "envoyfilter-wasm.yaml").read_text())
    extension, insert = ef["spec"]["configPatches"]
    assert extension["applyTo"] == "EXTENSION_CONFIG" and insert["applyTo"] == "HTTP_FILTER"
    value = extension["patch"]["value"]
    assert insert["patch"]["operation"] == "INSERT_BEFORE"
    assert insert["match"]["listener"]["filterChain"]["filter"]["subFilter"]["name"] == "envoy.filters.http.router"
    discovery = insert["patch"]["value"]
    assert discovery["name"] == value["name"]
    assert discovery["config_discovery"]["type_urls"] == [value["typed_config"]["type_url"]]
    # What Istio's agent hands Envoy: the same extension config, the module a local file.
    typed = json.loads(json.dumps(value["typed_config"]))
    vm = typed["value"]["config"]["vm_config"]
    assert vm["code"]["remote"]["sha256"] == image["manifest_digest"].split(":", 1)[1]
    module = image["out"] / "pulled-ecds.wasm"
    module.write_bytes(_blob(image["layout"], image["wasm_sha256"]))
    vm["code"] = {"local": {"filename": str(module)}}
    monkeypatch.setenv("SLACK_WEBHOOK_URL", SLACK_URL)
    envoy = run_istio_envoy(start_envoy, istio_bootstrap(base_config(start_envoy, webhook),
                                                         {"name": value["name"], "typed_config": typed}))
    assert_counts_and_alerts(envoy, webhook, alerts=False)


def test_istio_examples_are_well_formed():
    """Every example parses; the egress for the LLM API sends plaintext port 80 to the
    provider's 443 with TLS, so the sidecar's HTTP filters see the requests."""
    for path in sorted(ISTIO.glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        assert docs, path
    se, dr = list(yaml.safe_load_all((ISTIO / "llm-api-egress.yaml").read_text()))
    plain = next(p for p in se["spec"]["ports"] if p["number"] == 80)
    assert (plain["protocol"], plain["targetPort"]) == ("HTTP", 443)
    [tls] = [s for s in dr["spec"]["trafficPolicy"]["portLevelSettings"] if s["port"]["number"] == 80]
    assert tls["tls"]["mode"] == "SIMPLE" and tls["tls"]["sni"] == se["spec"]["hosts"][0]
    plugin = yaml.safe_load((ISTIO / "wasmplugin.yaml").read_text())
    assert plugin["spec"]["match"][0]["ports"] == [{"number": 80}]
    slack_se, slack_dr = list(yaml.safe_load_all((ISTIO / "webhook-egress.yaml").read_text()))
    host = slack_se["spec"]["hosts"][0]
    port = slack_se["spec"]["ports"][0]["number"]
    assert plugin["spec"]["pluginConfig"]["general_settings"]["webhook_clusters"][host] == f"outbound|{port}||{host}"
