#!/usr/bin/env python3
"""`make envoy-up` / `make envoy-down`: a local Envoy with the filter, in the background.

    python envoy/demo.py up [--listen-port 10000] [--admin-port 9901] [--upstream U]
                            [--litellm-config config.yaml | --plugin-config config.json]
                            [--fake-upstream-port 18080] [--webhook-port 18081] [--run-dir .run]
    python envoy/demo.py down [--run-dir .run]

Without --upstream it also starts the fake OpenAI upstream (127.0.0.1:18080) and the webhook
receiver (127.0.0.1:18081). Pids, logs and the rendered config go to the run directory (.run/).
SLACK_WEBHOOK_URL and WEBHOOK_URL, when set, reach the filter as in LiteLLM.

The plugin configuration: the LiteLLM config.yaml or JSON file given; else, in front of the fake
upstream, the example (examples/litellm-config.yaml, converted: its model_list names the fake
upstream, its alerts go to the webhook receiver); else (--upstream without a config) an empty
one: every label comes from the traffic. A file that cannot be read is one line naming it (and
the line and column), exit status 1. What the filter logs at start (settings it ignores,
unset variables, alerts without a destination, an invalid configuration) is printed.

It also starts Prometheus (127.0.0.1:9090, --prometheus-port; 0 for none) scraping Envoy with
envoy/prometheus/'s rules, and, with the webhook receiver, an Alertmanager (127.0.0.1:9093,
--alertmanager-port) sending the fleet alerts there in Slack's format (envoy/prometheus/
alertmanager.yml's routes). --demo-overlay adds demo settings to the plugin config (see
DEMO_OVERLAY); `make demo-traffic` (envoy/demo_traffic.py) then sends a mix through Envoy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

import monitoring
import render

REPO = render.REPO
RUN = REPO / ".run"  # --run-dir
E2E = REPO / "tests" / "e2e"
FAKE_UPSTREAM_PORT, WEBHOOK_PORT = 18080, render.DEFAULT_WEBHOOK[1]
# The addresses examples/config.json names (api_base, webhook URLs), moved with the demo's ports.
EXAMPLE_ADDRESSES = {"upstream": f"127.0.0.1:{FAKE_UPSTREAM_PORT}", "webhook": f"127.0.0.1:{WEBHOOK_PORT}"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def _ours(name: str) -> int | None:
    """The pid recorded in .run/NAME.pid if that process still runs what we started."""
    pidfile = RUN / f"{name}.pid"
    if not pidfile.exists():
        return None
    pid, _, marker = pidfile.read_text().partition("\n")
    try:
        cmdline = Path(f"/proc/{int(pid)}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, ValueError):
        return None
    return int(pid) if marker.strip() in cmdline else None


def _spawn(name: str, cmd: list[str], marker: str) -> int:
    """Start cmd detached from this terminal, logging to .run/NAME.log; remember its pid."""
    log = open(RUN / f"{name}.log", "wb")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            cwd=REPO, start_new_session=True)
    (RUN / f"{name}.pid").write_text(f"{proc.pid}\n{marker}\n")
    return proc.pid


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        # As the servers do: a port left in TIME_WAIT by the previous run is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _wait_port(port: int, pid: int, name: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{name} did not come up on port {port}; see {RUN / name}.log:\n{_tail(RUN / f'{name}.log')}")


def _tail(path: Path, n: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.exists() else ""


# What --demo-overlay adds to the plugin config, for `make envoy-up` on the default config: a second
# key of the key table (another alias and team, as LiteLLM's database would have them), a threshold
# short enough for slow and hanging requests to alert within seconds, and label bounds low enough
# for `make demo-traffic` to show folding.
DEMO_OVERLAY = {
    "general_settings": {"alerting_threshold": 5},
    "telemetry_settings": {
        # The key sk-demo-ops, by its SHA-256 (what LiteLLM's database keeps).
        "keys": [{"hashed_api_key": hashlib.sha256(b"sk-demo-ops").hexdigest(), "key_alias": "ops-key",
                  "team_id": "team-b", "team_alias": "Team B", "user_id": "bob", "user_email": "bob@example.com"}],
        "max_values_per_label": 30,
    },
}


def apply_demo_overlay(plugin: dict) -> dict:
    """The plugin config with DEMO_OVERLAY merged in (its keys appended to the key table)."""
    out = json.loads(json.dumps(plugin))
    for section, values in DEMO_OVERLAY.items():
        target = out.setdefault(section, {})
        for k, v in values.items():
            target[k] = target.get(k, []) + v if k == "keys" else v
    return out


def monitoring_up(a) -> str:
    """Start Prometheus (and Alertmanager when the webhook receiver runs) next to the demo Envoy;
    returns the lines the banner prints about them."""
    if not a.prometheus_port:
        return ""
    alertmanager = bool(a.alertmanager_port) and not a.upstream and monitoring.binary("alertmanager")
    ports = [a.prometheus_port] + ([a.alertmanager_port] if alertmanager else [])
    busy = [p for p in ports if not _port_free(p)]
    if busy:
        down()
        sys.exit(f"port(s) {busy} already in use on 127.0.0.1: stop what holds them, or pick others "
                 f"(PROMETHEUS_PORT=..., ALERTMANAGER_PORT=..., 0 for none)")
    lines = []
    if alertmanager:
        data = RUN / "alertmanager-data"
        shutil.rmtree(data, ignore_errors=True)
        config = RUN / "alertmanager.yml"
        config.write_text(yaml.safe_dump(monitoring.alertmanager_config(
            f"http://127.0.0.1:{a.webhook_port}/alertmanager"), sort_keys=False))
        pid = _spawn("alertmanager", monitoring.alertmanager_command(config, data, a.alertmanager_port), str(config))
        _wait_port(a.alertmanager_port, pid, "alertmanager")
        lines.append(f"Alertmanager:  http://127.0.0.1:{a.alertmanager_port}  (fleet alerts -> the webhook receiver, "
                     "Slack's format, at /alertmanager...)")
    data = RUN / "prometheus-data"
    shutil.rmtree(data, ignore_errors=True)
    config = RUN / "prometheus.yml"
    config.write_text(yaml.safe_dump(monitoring.prometheus_config(
        [f"127.0.0.1:{a.admin_port}"], monitoring.rule_files(), scrape_interval="5s",
        alertmanager=f"127.0.0.1:{a.alertmanager_port}" if alertmanager else None), sort_keys=False))
    pid = _spawn("prometheus", monitoring.prometheus_command(config, data, a.prometheus_port), str(config))
    _wait_port(a.prometheus_port, pid, "prometheus")
    lines.insert(0, f"Prometheus:    http://127.0.0.1:{a.prometheus_port}  (scrapes Envoy every 5 s; "
                    "rules of envoy/prometheus/; alerts at /alerts)")
    return "\n".join(lines) + "\n"


def down() -> None:
    for name in ("envoy", "fake_upstream", "webhook_receiver", "prometheus", "alertmanager"):
        pid = _ours(name)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not _alive(pid):
                    break
                time.sleep(0.05)
            else:
                os.kill(pid, signal.SIGKILL)
            print(f"stopped {name} (pid {pid})")
        (RUN / f"{name}.pid").unlink(missing_ok=True)


def example_plugin_config(fake_upstream_port: int, webhook_port: int) -> dict:
    """examples/config.json with its fake-upstream and webhook-receiver addresses on these ports."""
    text = render.EXAMPLE_PLUGIN_CONFIG.read_text()
    text = text.replace(EXAMPLE_ADDRESSES["upstream"], f"127.0.0.1:{fake_upstream_port}")
    text = text.replace(EXAMPLE_ADDRESSES["webhook"], f"127.0.0.1:{webhook_port}")
    return json.loads(text)


def plugin_config(a) -> tuple[dict, str]:
    """The plugin configuration `up` runs with, and the banner's line saying what it is."""
    if a.litellm_config or a.plugin_config:
        source = a.litellm_config or a.plugin_config
        return render.load_plugin_config(a.plugin_config, a.litellm_config), f"from {source}"
    if a.upstream:
        # The example's model_list describes the fake upstream: in front of a real one it would
        # label every request with the wrong api_base and count unknown models as `other`.
        return {}, "empty: every label comes from the traffic (LITELLM_CONFIG=config.yaml to use yours)"
    return (example_plugin_config(a.fake_upstream_port, a.webhook_port),
            "examples/litellm-config.yaml (its model_list, key table, team, custom labels and "
            "alerts to the webhook receiver)")


def filter_log_lines(log: Path) -> list[str]:
    """What the filter logged at start (Envoy's prefix cut): `[level] llm-telemetry: ...`."""
    out = []
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        if "llm-telemetry: " not in line:
            continue
        level = next((lv for lv in ("critical", "error", "warning", "info") if f"[{lv}]" in line), "")
        out.append(f"[{level}] llm-telemetry: {line.split('llm-telemetry: ', 1)[1]}")
    return out


def up(a) -> None:
    down()
    RUN.mkdir(parents=True, exist_ok=True)
    try:
        plugin, source = plugin_config(a)
    except render.litellm_config.ConfigFileError as e:
        sys.exit(str(e))
    if a.demo_overlay:
        plugin = apply_demo_overlay(plugin)
        source += " + the demo overlay (DEMO_OVERLAY in envoy/demo.py)"
    env = render.forwarded_env()
    upstream = a.upstream or f"127.0.0.1:{a.fake_upstream_port}"
    config = RUN / "envoy.yaml"
    config.write_text(render.render(
        a.listen_port, a.admin_port, upstream, str(REPO / render.DEFAULT_WASM), plugin,
        a.extra_label, env_vars=env, decompress_responses=a.decompress_responses,
        webhook_urls_extra=[f"http://127.0.0.1:{a.webhook_port}/"]))

    ports = [a.listen_port, a.admin_port] + ([] if a.upstream else [a.fake_upstream_port, a.webhook_port])
    busy = [p for p in ports if not _port_free(p)]
    if busy:
        sys.exit(f"port(s) {busy} already in use on 127.0.0.1: stop what holds them, or pick others "
                 f"(LISTEN_PORT=..., ADMIN_PORT=..., FAKE_UPSTREAM_PORT=..., WEBHOOK_PORT=...)")

    if not a.upstream:
        for name, script, port in (("fake_upstream", "fake_upstream.py", a.fake_upstream_port),
                                   ("webhook_receiver", "webhook_receiver.py", a.webhook_port)):
            pid = _spawn(name, [sys.executable, str(E2E / script), "--port", str(port), "-v"], script)
            _wait_port(port, pid, name)

    pid = _spawn("envoy", [render.envoy_binary(), "-c", str(config), "--concurrency", str(a.concurrency),
                           "--log-level", "warn", "--component-log-level", "wasm:info",
                           "--disable-hot-restart"], str(config))
    try:
        render.wait_ready(a.admin_port, 30, alive=lambda: _alive(pid))
    except (RuntimeError, TimeoutError) as e:
        down()
        sys.exit(f"Envoy failed to start ({e}); {RUN / 'envoy.log'}:\n{_tail(RUN / 'envoy.log')}")
    monitoring_lines = monitoring_up(a)
    said = filter_log_lines(RUN / "envoy.log")
    said_lines = "The filter says:\n" + "".join(f"  {line}\n" for line in said) if said else ""

    p, ap = a.listen_port, a.admin_port
    chat = '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
    stream = ('{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},'
              '"messages":[{"role":"user","content":"hi"}]}')
    print(f"""
Envoy with llm-telemetry is up: 127.0.0.1:{p} -> {upstream}   (admin 127.0.0.1:{ap})
Plugin configuration: {source}
Logs, pids and the rendered config: {RUN}/   Stop with: make envoy-down
{said_lines}
  curl -s 127.0.0.1:{p}/v1/chat/completions -H 'content-type: application/json' -H 'authorization: Bearer sk-demo' -d '{chat}'
  curl -sN 127.0.0.1:{p}/v1/chat/completions -H 'content-type: application/json' -H 'authorization: Bearer sk-demo' -d '{stream}'
  curl -s 127.0.0.1:{ap}/stats/prometheus | grep litellm_
""" + monitoring_lines + ("  make demo-traffic   # a minute of mixed traffic: streams, errors, slow and hanging requests\n"
                          if not a.upstream else ""))


def main() -> None:
    global RUN
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up")
    u.add_argument("--listen-port", type=int, default=10000)
    u.add_argument("--admin-port", type=int, default=9901)
    u.add_argument("--upstream", default="", help="host:port or https://host[:port] (default: the fake upstream)")
    src = u.add_mutually_exclusive_group()
    src.add_argument("--litellm-config", default="")
    src.add_argument("--plugin-config", default="")
    u.add_argument("--extra-label", action="append", default=[])
    u.add_argument("--concurrency", type=int, default=2)
    u.add_argument("--decompress-responses", action="store_true")
    u.add_argument("--prometheus-port", type=int, default=9090, help="0: no Prometheus")
    u.add_argument("--alertmanager-port", type=int, default=9093, help="0: no Alertmanager")
    u.add_argument("--demo-overlay", action="store_true", help="merge DEMO_OVERLAY into the plugin config")
    u.add_argument("--fake-upstream-port", type=int, default=FAKE_UPSTREAM_PORT)
    u.add_argument("--webhook-port", type=int, default=WEBHOOK_PORT)
    d = sub.add_parser("down")
    for p in (u, d):
        p.add_argument("--run-dir", default=str(RUN), help="pids, logs and rendered configs (default .run)")
    a = ap.parse_args()
    RUN = Path(a.run_dir).resolve()
    if a.cmd == "up":
        up(a)
    else:
        down()


if __name__ == "__main__":
    main()
