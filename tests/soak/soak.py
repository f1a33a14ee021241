#!/usr/bin/env python3
"""`make soak`: a hostile flood through a real Envoy while a canary request's latency is measured.

A real Envoy (`--concurrency 2`) runs the built filter with the default configuration in front
of a second, native Envoy answering `direct_response` with tests/fixtures/chat_completion.json
(no Python server in the request path). Then:

  1. canary, quiet:  a request every 20 ms on its own connection, with one model and one key whose
                     stats are already defined, for BASELINE_S seconds: its latency without flood;
  2. canary, flood:  the same canary while wrk sends SOAK_REQUESTS (20,000) requests, each with a
                     model name and an API key never seen before (tests/soak/flood.lua);
  3. accounting:     once the flood is over, the filter's `litellm_proxy_total_requests_metric_total`
                     summed over its series must equal Envoy's own count of requests.

Each new Envoy stat runs every `stats_tags` regex on the worker that defines it (~1 ms here): an
unbounded flood of new names would hold a worker for minutes. The figures are the canary's
latency during the flood as a ratio of its latency without it, measured in the same run (the
machine is shared: absolute figures drift), plus what the filter reports about its definitions.
Nothing here is a pass/fail timing assertion; the run exits non-zero only when a request was lost
or counted twice.

    .venv/bin/python tests/soak/soak.py [--requests N] [--budget N] [--json FILE]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from harness import Envoy, render, wait_until, wasm_path  # noqa: E402

SOAK_DIR = Path(__file__).resolve().parent
FIXTURE = REPO / "tests" / "fixtures" / "chat_completion.json"
PATH = "/v1/chat/completions"
CANARY_EVERY_S = 0.02
BASELINE_S = 10.0
CANARY_BODY = json.dumps({"model": "canary-model", "messages": [{"role": "user", "content": "hi"}]})
CANARY_HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-canary",
                  "user-agent": "soak-canary"}


def upstream_bootstrap() -> str:
    """A native Envoy answering every request with the chat completion fixture, once the whole
    request is in (as a real API does)."""
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "upstream",
        "route_config": {"virtual_hosts": [{"name": "upstream", "domains": ["*"], "routes": [{
            "match": {"prefix": "/"},
            "direct_response": {"status": 200, "body": {"filename": str(FIXTURE)}},
            "response_headers_to_add": [{"header": {"key": "content-type", "value": "application/json"}}],
        }]}]},
        "http_filters": [
            {"name": "envoy.filters.http.buffer", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
                "max_request_bytes": 1 << 20}},
            {"name": "envoy.filters.http.router", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}},
        ],
    }
    return yaml.safe_dump({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {"listeners": [{
            "name": "upstream",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": hcm}]}],
        }]},
    })


class Canary(threading.Thread):
    """Sends the canary request every CANARY_EVERY_S on one keep-alive connection and records
    (start time, seconds waited) of each; a broken connection is reopened (its wait counted)."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port = port
        self.samples: list[tuple[float, float]] = []
        self.errors = 0
        self.stop_at = float("inf")

    def run(self) -> None:
        conn = None
        while time.monotonic() < self.stop_at:
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                conn.request("POST", PATH, CANARY_BODY, CANARY_HEADERS)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    self.errors += 1
            except (OSError, http.client.HTTPException):
                self.errors += 1
                conn = None
            waited = time.monotonic() - t0
            self.samples.append((t0, waited))
            time.sleep(max(0.0, CANARY_EVERY_S - waited))

    def between(self, start: float, end: float) -> list[float]:
        return [w for t, w in self.samples if start <= t < end]


def summary(waits: list[float]) -> dict:
    waits = sorted(waits)
    if not waits:
        return {"n": 0}
    return {"n": len(waits), "p50_ms": 1000 * statistics.median(waits),
            "p99_ms": 1000 * waits[min(len(waits) - 1, int(0.99 * len(waits)))],
            "max_ms": 1000 * waits[-1]}


def own_counter(text: str, name: str) -> float:
    total = 0.0
    for ln in text.splitlines():
        if ln.startswith(name + "{") or ln.startswith(name + " "):
            total += float(ln.rsplit(" ", 1)[1])
    return total


def envoy_counter(envoy: Envoy, name: str) -> int:
    text = envoy.admin_get("/stats?filter=" + re.escape(name) + "$")
    m = re.search(r":\s*(\d+)", text)
    return int(m.group(1)) if m else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=int(os.environ.get("SOAK_REQUESTS", "20000")))
    ap.add_argument("--budget", type=int, default=None,
                    help="telemetry_settings.max_new_stats_per_second (default: the filter's)")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--json", type=Path, default=REPO / ".run" / "soak" / "result.json")
    a = ap.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="soak-", dir=os.environ.get("TMPDIR")))
    plugin = {} if a.budget is None else {"telemetry_settings": {"max_new_stats_per_second": a.budget}}
    for part in ("upstream", "proxy"):
        (workdir / part).mkdir()
    upstream = Envoy(upstream_bootstrap(), workdir / "upstream", concurrency=1).start()
    proxy_text = render.render(listen_port=0, admin_port=0, upstream=f"127.0.0.1:{upstream.port}",
                               wasm_path=str(wasm_path()), plugin_config=plugin)
    proxy = Envoy(proxy_text, workdir / "proxy", concurrency=2).start()
    result: dict = {"requests": a.requests, "budget": a.budget or "default", "workdir": str(workdir)}
    try:
        canary = Canary(proxy.port)
        canary.start()
        # The canary's own series must be defined before its quiet baseline starts.
        wait_until(lambda: 'requested_model="canary-model"' in proxy.prometheus(), 60, "the canary's series")
        time.sleep(2)
        quiet_start = time.monotonic()
        time.sleep(BASELINE_S)
        quiet_end = time.monotonic()

        threads = 2
        env = dict(os.environ, SOAK_PER_THREAD=str(a.requests // threads))
        cmd = ["wrk", f"-t{threads}", f"-c{a.connections}", "-d600s", "--timeout", "60s",
               "-s", str(SOAK_DIR / "flood.lua"), f"http://127.0.0.1:{proxy.port}"]
        print(f"flood: {' '.join(cmd)}", flush=True)
        before = envoy_counter(proxy, "http.llm.downstream_rq_total")
        canary_before = len(canary.samples)
        flood_start = time.monotonic()
        wrk = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # wrk's threads stop sending at their share, but wrk itself waits out its duration: stop
        # it (SIGINT: it prints its summary) once Envoy has answered the whole flood.
        while wrk.poll() is None:
            flood_done = envoy_counter(proxy, "http.llm.downstream_rq_completed") - before \
                - (len(canary.samples) - canary_before)
            if flood_done >= a.requests:
                wrk.send_signal(signal.SIGINT)
                break
            time.sleep(0.1)
        flood_end = time.monotonic()
        out, _ = wrk.communicate(timeout=60)
        # The flood's cost comes mostly after it: its stats are defined at the budget's pace.
        # The canary keeps going until the filter has stopped defining stats for 3 s.
        def settled(state={"n": -1, "since": time.monotonic()}):
            n = own_counter(proxy.prometheus(), "llm_telemetry_stat_definitions_total")
            if n != state["n"]:
                state["n"], state["since"] = n, time.monotonic()
            return time.monotonic() - state["since"] >= 3.0
        wait_until(settled, 900, "the filter to finish defining stats", interval=0.5)
        drained = time.monotonic()
        canary.stop_at = drained
        canary.join(60)
        result["wrk"] = out.strip().splitlines()

        quiet = summary(canary.between(quiet_start, quiet_end))
        flood = summary(canary.between(flood_start, drained))
        result["canary_quiet"], result["canary_flood"] = quiet, flood
        result["canary_errors"] = canary.errors
        if quiet.get("n") and flood.get("n"):
            result["ratio_p50"] = flood["p50_ms"] / quiet["p50_ms"]
            result["ratio_p99"] = flood["p99_ms"] / quiet["p99_ms"]
            result["ratio_max_to_quiet_p50"] = flood["max_ms"] / quiet["p50_ms"]
        result["flood_seconds"] = flood_end - flood_start
        result["until_defined_seconds"] = drained - flood_start

        # Exact accounting: every request Envoy saw is counted once. New series wait for the
        # definition budget (or fold into __overflow__): give them time to appear.
        def counted():
            sent = envoy_counter(proxy, "http.llm.downstream_rq_total")
            total = own_counter(proxy.prometheus(), "litellm_proxy_total_requests_metric_total")
            return (sent, total) if total == sent else None

        try:
            sent, total = wait_until(counted, 300, "every request counted", interval=1.0)
            result["accounting"] = {"envoy_requests": sent, "counted": total, "exact": True}
        except AssertionError:
            sent = envoy_counter(proxy, "http.llm.downstream_rq_total")
            total = own_counter(proxy.prometheus(), "litellm_proxy_total_requests_metric_total")
            result["accounting"] = {"envoy_requests": sent, "counted": total, "exact": False}
        text = proxy.prometheus()
        defined = own_counter(text, "llm_telemetry_stat_definitions_total")
        micros = own_counter(text, "llm_telemetry_stat_definition_microseconds_total")
        result["definitions"] = {
            "defined": defined,
            "microseconds_per_definition": micros / defined if defined else None,
            "deferred": own_counter(text, "llm_telemetry_stat_definitions_deferred_total"),
            "series_folded": own_counter(text, "llm_telemetry_series_folded_total"),
            "label_values_folded": own_counter(text, "llm_telemetry_label_values_folded_total"),
            "envoy_stats": len(proxy.admin_get("/stats").splitlines()),
        }
    finally:
        proxy.stop()
        upstream.stop()

    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(result, indent=2) + "\n")
    report(result)
    return 0 if result.get("accounting", {}).get("exact") and not result.get("canary_errors") else 1


def report(r: dict) -> None:
    q, f, d, acc = r["canary_quiet"], r["canary_flood"], r["definitions"], r["accounting"]
    print(f"\nflood: {r['requests']} requests with new models and keys in {r['flood_seconds']:.1f} s "
          f"(budget: {r['budget']} new stats/s); the filter had defined its stats "
          f"{r['until_defined_seconds']:.1f} s after the flood began")
    for line in r["wrk"]:
        if "Requests/sec" in line or "requests in" in line or "Latency" in line:
            print(f"  wrk: {line.strip()}")
    print(f"canary without flood: n={q['n']} p50 {q['p50_ms']:.1f} ms, p99 {q['p99_ms']:.1f} ms, max {q['max_ms']:.1f} ms")
    print(f"canary during flood and until its stats were defined:  n={f['n']} p50 {f['p50_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms, max {f['max_ms']:.1f} ms"
          f"  (errors: {r['canary_errors']})")
    print(f"ratio (flood / quiet): p50 {r['ratio_p50']:.2f}x, p99 {r['ratio_p99']:.2f}x, "
          f"max vs quiet p50 {r['ratio_max_to_quiet_p50']:.1f}x")
    per = d["microseconds_per_definition"]
    print(f"stat definitions: {d['defined']:.0f} ({per:.0f} µs each, measured by the filter), "
          f"{d['deferred']:.0f} waited for the budget, {d['series_folded']:.0f} requests folded into "
          f"__overflow__, {d['label_values_folded']:.0f} label values folded; Envoy holds {d['envoy_stats']} stats")
    print(f"accounting: Envoy saw {acc['envoy_requests']} requests, the filter counted {acc['counted']:.0f}: "
          + ("exact" if acc["exact"] else "MISMATCH"))
    print(f"canary's longest wait during the flood: {f['max_ms'] / 1000:.3f} s "
          + ("(under a second)" if f["max_ms"] < 1000 else "(MORE THAN A SECOND)"))


if __name__ == "__main__":
    sys.exit(main())
