#!/usr/bin/env python3
"""`make envoy-up` / `make envoy-down`: a local Envoy with the filter, in the background.

    python envoy/demo.py up [--listen-port 10000] [--admin-port 9901] [--upstream U]
                            [--litellm-config config.yaml | --plugin-config config.json]
    python envoy/demo.py down

Without --upstream it also starts the fake OpenAI upstream (127.0.0.1:18080) and the webhook
receiver (127.0.0.1:18081). Pids, logs and the rendered config go to .run/. SLACK_WEBHOOK_URL and
WEBHOOK_URL, when set, reach the filter as in LiteLLM.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import render

REPO = render.REPO
RUN = REPO / ".run"
E2E = REPO / "tests" / "e2e"
FAKE_UPSTREAM_PORT, WEBHOOK_PORT = 18080, render.DEFAULT_WEBHOOK[1]


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
    sys.exit(f"{name} did not come up on port {port}; see .run/{name}.log:\n{_tail(RUN / f'{name}.log')}")


def _tail(path: Path, n: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.exists() else ""


def down() -> None:
    for name in ("envoy", "fake_upstream", "webhook_receiver"):
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


def up(a) -> None:
    down()
    RUN.mkdir(exist_ok=True)
    plugin = render.load_plugin_config(a.plugin_config, a.litellm_config)
    env = render.forwarded_env()
    upstream = a.upstream or f"127.0.0.1:{FAKE_UPSTREAM_PORT}"
    config = RUN / "envoy.yaml"
    config.write_text(render.render(
        a.listen_port, a.admin_port, upstream, str(REPO / render.DEFAULT_WASM), plugin,
        a.extra_label, env_vars=env, decompress_responses=a.decompress_responses))

    ports = [a.listen_port, a.admin_port] + ([] if a.upstream else [FAKE_UPSTREAM_PORT, WEBHOOK_PORT])
    busy = [p for p in ports if not _port_free(p)]
    if busy:
        sys.exit(f"port(s) {busy} already in use on 127.0.0.1: stop what holds them, "
                 f"or pick others (LISTEN_PORT=..., ADMIN_PORT=...)")

    if not a.upstream:
        for name, script, port in (("fake_upstream", "fake_upstream.py", FAKE_UPSTREAM_PORT),
                                   ("webhook_receiver", "webhook_receiver.py", WEBHOOK_PORT)):
            pid = _spawn(name, [sys.executable, str(E2E / script), "--port", str(port), "-v"], script)
            _wait_port(port, pid, name)

    pid = _spawn("envoy", [render.envoy_binary(), "-c", str(config), "--concurrency", str(a.concurrency),
                           "--log-level", "warn", "--component-log-level", "wasm:info",
                           "--disable-hot-restart"], str(config))
    try:
        render.wait_ready(a.admin_port, 30, alive=lambda: _alive(pid))
    except (RuntimeError, TimeoutError) as e:
        down()
        sys.exit(f"Envoy failed to start ({e}); .run/envoy.log:\n{_tail(RUN / 'envoy.log')}")

    p, ap = a.listen_port, a.admin_port
    chat = '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
    stream = ('{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},'
              '"messages":[{"role":"user","content":"hi"}]}')
    print(f"""
Envoy with llm-telemetry is up: 127.0.0.1:{p} -> {upstream}   (admin 127.0.0.1:{ap})
Logs, pids and the rendered config: .run/   Stop with: make envoy-down

  curl -s 127.0.0.1:{p}/v1/chat/completions -H 'content-type: application/json' -H 'authorization: Bearer sk-demo' -d '{chat}'
  curl -sN 127.0.0.1:{p}/v1/chat/completions -H 'content-type: application/json' -H 'authorization: Bearer sk-demo' -d '{stream}'
  curl -s 127.0.0.1:{ap}/stats/prometheus | grep litellm_
""")


def main() -> None:
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
    sub.add_parser("down")
    a = ap.parse_args()
    if a.cmd == "up":
        up(a)
    else:
        down()


if __name__ == "__main__":
    main()
