#!/usr/bin/env python3
"""Records the Slack texts LiteLLM sends for each scenario of alert_scenarios.py into
tests/fixtures/litellm_alerts.json, the reference test_alert_parity.py holds the filter to.

Needs a LiteLLM proxy (not installed by `make test`; the fixture is committed):
    python3 -m venv /tmp/litellm-venv && /tmp/litellm-venv/bin/pip install 'litellm[proxy]==1.106.2'
    .venv/bin/python tests/e2e/record_litellm_alerts.py --litellm /tmp/litellm-venv/bin/litellm

Each scenario starts its own LiteLLM proxy (config from the scenario, SLACK_WEBHOOK_URL at the
webhook receiver, the fake upstream as every deployment's api_base), sends the scenario's requests,
waits for the expected number of alerts and stores them with the timestamp and the upstream's
address masked.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from alert_scenarios import API_BASE_MARK, MESSAGES, SCENARIOS, litellm_config  # noqa: E402
from fake_upstream import fake_upstream  # noqa: E402
from webhook_receiver import webhook_receiver  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "litellm_alerts.json"
HOOK_PATH = "/hooks/T0000/B0000/RECORDER"


def mask_timestamp(text: str) -> str:
    return re.sub(r"Timestamp: `\d\d:\d\d:\d\d`", "Timestamp: `HH:MM:SS`", text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port: int, body: dict) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        e.read()
        return e.code


def record(litellm: str, name: str, upstream, hook) -> list[str]:
    config, requests, n_alerts = SCENARIOS[name]
    api_base = f"{upstream.url}/v1"
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "config.yaml"
        cfg.write_text(json.dumps(litellm_config(name, api_base)))  # JSON is YAML
        env = {**os.environ, "SLACK_WEBHOOK_URL": hook.url + HOOK_PATH,
               "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true"}
        log = open(Path(d) / "litellm.log", "w")
        proc = subprocess.Popen([litellm, "--config", str(cfg), "--port", str(port)], env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health/liveliness", timeout=2).read()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit(f"{name}: LiteLLM did not start:\n{(Path(d) / 'litellm.log').read_text()}")
                    time.sleep(0.5)
            hook.clear()
            threads = []
            for group, extra in requests:
                t = threading.Thread(target=post, args=(port, {"model": group, "messages": MESSAGES, **extra}))
                t.start()
                t.join()  # in order: the outage thresholds count them one by one
                threads.append(t)
            deadline = time.monotonic() + 60
            while True:
                got = [r for r in hook.take_records() if r["path"] == HOOK_PATH]
                if len(got) >= n_alerts:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"{name}: {len(got)} of {n_alerts} alerts arrived")
                time.sleep(0.2)
            time.sleep(3)  # a wrong extra alert would arrive by now
            got = [r for r in hook.take_records() if r["path"] == HOOK_PATH]
            texts = [json.loads(r["body"])["text"] for r in got]
            return [mask_timestamp(t).replace(api_base, API_BASE_MARK) for t in texts]
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--litellm", required=True, help="the `litellm` proxy CLI (LiteLLM 1.106.2)")
    ap.add_argument("--only", nargs="*", help="scenarios to record (default: all)")
    args = ap.parse_args()
    version = subprocess.run([str(Path(args.litellm).parent / "python"), "-c",
                              "import importlib.metadata as m; print(m.version('litellm'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    data["litellm_version"] = version
    data.setdefault("scenarios", {})
    upstream, hook = fake_upstream().start(), webhook_receiver().start()
    try:
        for name in args.only or SCENARIOS:
            data["scenarios"][name] = record(args.litellm, name, upstream, hook)
            print(f"{name}: {len(data['scenarios'][name])} alert(s)")
    finally:
        upstream.stop()
        hook.stop()
    OUT.write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
