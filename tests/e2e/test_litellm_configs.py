"""`make envoy-up LITELLM_CONFIG=x.yaml` for every LiteLLM config in tests/e2e/litellm_configs/.

Each file is a config LiteLLM itself starts with (written from LiteLLM's documented options), run
the way `make envoy-up` runs it: `envoy/demo.py up --litellm-config FILE` (the conversion by
envoy/litellm_config.py, the bootstrap by envoy/render.py, the fake upstream and the webhook
receiver), in an environment without SLACK_WEBHOOK_URL, WEBHOOK_URL or any variable the files
reference. Every one must start and count a request; the file's header says what to send and
what must follow:

    # key: sk-...          the caller's key (Bearer), default sk-e2e-caller
    # model: NAME          the requested model, default gpt-4o
    # header: name: value  a request header (repeatable), e.g. x-fake-status: 500
    # expect: LINE         an exact /stats/prometheus sample line (repeatable); FAKE_UPSTREAM
                           stands for the fake upstream's address (its port is picked per run)
    # says: LINE           an exact line of what the demo prints the filter said at start (repeatable)
    # logs: TEXT           text the filter logs later, once (e.g. when an alert finds nobody)

Files under broken/ are not YAML: the demo must refuse them in one line naming the file, line and
column (`# error:` gives it with FILE for the path), exit status 1, before starting anything.

Ports are picked free per config (LISTEN_PORT, ADMIN_PORT, FAKE_UPSTREAM_PORT, WEBHOOK_PORT) and
each run has its own RUN_DIR, so this runs beside other worktrees and a demo.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness import REPO, wait_until, wasm_path
import render

CONFIGS = REPO / "tests" / "e2e" / "litellm_configs"
DEMO = REPO / "envoy" / "demo.py"


def header(path: Path) -> dict[str, list[str]]:
    """The `# name: value` directives at the top of a config file."""
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        name, sep, value = line[1:].strip().partition(": ")
        if sep and name in ("key", "model", "header", "expect", "says", "logs", "error"):
            out.setdefault(name, []).append(value)
    return out


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def clean_env() -> dict[str, str]:
    """What the demo runs with: no webhook variable, none of the files' variables."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/"),
            "ENVOY_BIN": render.envoy_binary()}


class Demo:
    """`envoy/demo.py up` on free ports, in its own run directory; `down()` stops what it started."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.port, self.admin_port, self.upstream_port, self.webhook_port = free_ports(4)

    def up(self, config: Path) -> subprocess.CompletedProcess:
        cmd = [sys.executable, str(DEMO), "up", "--litellm-config", str(config),
               "--listen-port", str(self.port), "--admin-port", str(self.admin_port),
               "--fake-upstream-port", str(self.upstream_port), "--webhook-port", str(self.webhook_port),
               "--prometheus-port", "0", "--alertmanager-port", "0", "--run-dir", str(self.run_dir)]
        return subprocess.run(cmd, capture_output=True, text=True, env=clean_env(), cwd=REPO, timeout=120)

    def down(self) -> None:
        subprocess.run([sys.executable, str(DEMO), "down", "--run-dir", str(self.run_dir)],
                       capture_output=True, env=clean_env(), cwd=REPO, timeout=60)

    def chat(self, model: str, key: str, headers: dict) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]})
            conn.request("POST", "/v1/chat/completions", body=body, headers={
                "content-type": "application/json", "authorization": f"Bearer {key}",
                "user-agent": "litellm-configs-e2e", **headers})
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()

    def prometheus(self) -> list[str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10)
        try:
            conn.request("GET", "/stats/prometheus")
            return conn.getresponse().read().decode().splitlines()
        finally:
            conn.close()

    def log(self) -> str:
        path = self.run_dir / "envoy.log"
        return path.read_text(errors="replace") if path.exists() else ""


def said(banner: str) -> list[str]:
    """The lines the demo printed under "The filter says:"."""
    lines = banner.splitlines()
    if "The filter says:" not in lines:
        return []
    out = []
    for line in lines[lines.index("The filter says:") + 1:]:
        if not line.startswith("  ["):
            break
        out.append(line[2:])
    return out


VALID = sorted(CONFIGS.glob("*.yaml"))
BROKEN = sorted((CONFIGS / "broken").glob("*.yaml"))


def test_the_directory_covers_the_cases():
    assert len(VALID) >= 15, VALID
    assert BROKEN
    for path in VALID:
        assert header(path).get("expect"), f"{path.name}: no `# expect:` line"


@pytest.mark.parametrize("config", VALID, ids=[p.stem for p in VALID])
def test_demo_starts_and_counts_a_request(config, tmp_path):
    wasm_path()
    spec = header(config)
    demo = Demo(tmp_path / "run")
    try:
        run = demo.up(config)
        assert run.returncode == 0, f"{config.name} did not start:\n{run.stdout}\n{run.stderr}"
        assert "Traceback" not in run.stderr, run.stderr
        banner = said(run.stdout)
        for line in spec.get("says", []):
            assert line in banner, f"{config.name}: {line!r} not said; the filter said:\n" + "\n".join(banner)
        headers = dict(h.split(": ", 1) for h in spec.get("header", []))
        status = demo.chat(spec.get("model", ["gpt-4o"])[0], spec.get("key", ["sk-e2e-caller"])[0], headers)
        assert status == int(headers.get("x-fake-status", 200))
        want = [line.replace("FAKE_UPSTREAM", f"127.0.0.1:{demo.upstream_port}") for line in spec["expect"]]

        def counted():
            got = demo.prometheus()
            return got if all(line in got for line in want) else None

        wait_until(counted, 20, lambda: f"{config.name}: {want} in\n" + "\n".join(
            ln for ln in demo.prometheus() if ln.startswith(("litellm_deployment_total", "llm_telemetry_"))))
        for text in spec.get("logs", []):
            wait_until(lambda: text in demo.log(), 30, lambda: f"{config.name}: {text!r} in the Envoy log")
            assert demo.log().count(text) == 1, demo.log()
    except AssertionError:
        print(f"===== {config.name}: Envoy log =====\n{demo.log()}")
        raise
    finally:
        demo.down()


@pytest.mark.parametrize("config", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_yaml_is_one_line_naming_file_line_and_column(config, tmp_path):
    [want] = header(config)["error"]
    demo = Demo(tmp_path / "run")
    try:
        run = demo.up(config)
    finally:
        demo.down()
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr == want.replace("FILE", str(config)) + "\n"
    assert not (tmp_path / "run" / "envoy.pid").exists()


def test_make_envoy_up_with_broken_yaml_prints_the_one_line(tmp_path):
    """The same through make, as a user types it (make adds its own `Error 1` line)."""
    [config] = BROKEN[:1]
    [want] = header(config)["error"]
    demo = Demo(tmp_path / "run")
    env = {**clean_env(), "MAKEFLAGS": ""}
    try:
        run = subprocess.run(
            ["make", "envoy-up", f"LITELLM_CONFIG={config}", f"LISTEN_PORT={demo.port}",
             f"ADMIN_PORT={demo.admin_port}", f"FAKE_UPSTREAM_PORT={demo.upstream_port}",
             f"WEBHOOK_PORT={demo.webhook_port}", "PROMETHEUS_PORT=0", "ALERTMANAGER_PORT=0",
             f"RUN_DIR={demo.run_dir}"], capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    finally:
        demo.down()
    assert run.returncode != 0
    # Beside cargo's and make's own lines, ours: once, whole.
    assert run.stderr.splitlines().count(want.replace("FILE", str(config))) == 1, run.stderr
    assert "Traceback" not in run.stderr + run.stdout
