#!/usr/bin/env python3
"""The shipped access-log snippets of envoy/access-log/, checked inside a minimal bootstrap.

Each snippet is a list of `access_log` entries for an http_connection_manager. `bootstrap()`
puts one into the smallest Envoy that loads it (a listener with a direct response, the cluster
the OpenTelemetry logger names, optionally a Wasm filter), and `--validate` runs
`envoy --mode validate` on each; tests/e2e/test_logging.py puts file-json.yaml into a real
bootstrap and reads the lines the filter's filter state produces.

    .venv/bin/python envoy/access_logs.py --validate [--envoy PATH]
    .venv/bin/python envoy/access_logs.py --print stdout-payload.yaml [--log-dir D]
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SNIPPETS = HERE / "access-log"
# The cluster opentelemetry.yaml sends to (OTLP/gRPC needs HTTP/2).
OTEL_CLUSTER = {
    "name": "otel_collector",
    "type": "STATIC",
    "typed_extension_protocol_options": {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}},
        },
    },
    "load_assignment": {
        "cluster_name": "otel_collector",
        "endpoints": [{"lb_endpoints": [{"endpoint": {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": 4317}},
        }}]}],
    },
}


def snippet(name: str, log_dir: str | None = None) -> list:
    """The entries of `envoy/access-log/<name>`; file paths moved into `log_dir` when given."""
    entries = yaml.safe_load((SNIPPETS / name).read_text())
    if log_dir:
        for e in entries:
            cfg = e.get("typed_config", {})
            if "path" in cfg:
                cfg["path"] = str(Path(log_dir) / Path(cfg["path"]).name)
    return entries


def bootstrap(access_log: list) -> dict:
    """A minimal Envoy bootstrap (admin and listener on port 0) carrying `access_log`, for
    `envoy --mode validate`. The filter itself is not in it: render.py builds the real bootstrap."""
    http_filters = [{
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
    }]
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "llm",
        "access_log": access_log,
        "route_config": {"virtual_hosts": [{
            "name": "all", "domains": ["*"],
            "routes": [{"match": {"prefix": "/"},
                        "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}],
        }]},
        "http_filters": http_filters,
    }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {
            "listeners": [{
                "name": "main",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": hcm,
                }]}],
            }],
            "clusters": [OTEL_CLUSTER],
        },
    }


def envoy_binary() -> str:
    sys.path.insert(0, str(HERE))
    from render import envoy_binary as find  # noqa: PLC0415 (render.py knows where .venv's Envoy is)
    return find()


def validate(envoy: str) -> int:
    failed = 0
    for path in sorted(SNIPPETS.glob("*.yaml")):
        # Envoy opens a file logger's path when it validates: point it into a scratch dir.
        with tempfile.TemporaryDirectory() as d:
            config = Path(d) / "bootstrap.yaml"
            config.write_text(yaml.safe_dump(bootstrap(snippet(path.name, d))))
            r = subprocess.run([envoy, "--mode", "validate", "-c", str(config), "--log-level", "error"],
                               capture_output=True, text=True)
        print(f"validate access-log/{path.name:<24} {'OK' if r.returncode == 0 else 'FAILED'}")
        if r.returncode != 0:
            failed += 1
            print(r.stdout + r.stderr)
    return 1 if failed else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--validate", action="store_true", help="envoy --mode validate on every snippet")
    p.add_argument("--print", metavar="SNIPPET", help="print a bootstrap carrying SNIPPET")
    p.add_argument("--log-dir", help="with --print: write file access logs here")
    p.add_argument("--envoy", help="the Envoy binary (default: the one in .venv)")
    a = p.parse_args(argv)
    if a.validate:
        return validate(a.envoy or envoy_binary())
    if a.print:
        yaml.safe_dump(bootstrap(snippet(a.print, a.log_dir)), sys.stdout, sort_keys=False)
        return 0
    p.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
