#!/usr/bin/env python3
"""`make demo-traffic`: a minute of mixed LLM traffic through the `make envoy-up` demo, then what it
produced: Prometheus's series (LiteLLM's, in seconds) and alerts, and the alerts the webhook
receiver got (the filter's LiteLLM-style ones and Alertmanager's).

    python envoy/demo_traffic.py [--listen-port 10000] [--prometheus-port 9090] [--webhook-port 18081]
                                 [--rounds 3]

The mix uses the fake upstream's knobs (tests/e2e/fake_upstream.py): several keys (the demo key
table's two, the master key, unknown ones), model groups (gpt-4o, gpt-4o-mini, an embedding, a
model outside the model_list), streams with and without usage, the Responses API, 429s with
`x-ratelimit-remaining-requests: 0`, a burst of 500s on gpt-4o-mini (an outage), a malformed body,
a gzip response, more user agents than the demo's label bound, one slow request and one stream that
hangs longer than the demo's alerting_threshold (5 s with `make envoy-up`'s overlay).
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

KEYS = ["sk-demo", "sk-demo-ops", "sk-1234", "sk-guest-1", "sk-guest-2"]
CHAT = [{"role": "user", "content": "Say bonjour"}]


class Client:
    def __init__(self, port: int):
        self.port = port
        self.statuses: dict[int, int] = {}
        self.lock = threading.Lock()

    def post(self, path: str, body: dict, key: str, headers: dict | None = None, timeout: float = 60) -> int:
        h = {"content-type": "application/json", "authorization": f"Bearer {key}", **(headers or {})}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("POST", path, body=json.dumps(body), headers=h)
            resp = conn.getresponse()
            resp.read()  # a stream is read to its end as it arrives
            status = resp.status
        except OSError as e:
            sys.exit(f"Envoy on 127.0.0.1:{self.port} did not answer ({e}): is `make envoy-up` running?")
        finally:
            conn.close()
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
        return status

    def chat(self, model: str, key: str, headers: dict | None = None, **extra) -> int:
        return self.post("/v1/chat/completions", {"model": model, "messages": CHAT, **extra}, key, headers)


def one_round(c: Client, n: int) -> None:
    for i, key in enumerate(KEYS):
        c.chat("gpt-4o" if i % 2 == 0 else "gpt-4o-mini", key,
               metadata={"app": "billing" if i % 2 else "search", "tags": ["prod"] if i < 2 else []})
    for key in KEYS[:3]:  # streams: the filter adds stream_options.include_usage, tokens are counted
        c.chat("gpt-4o-mini", key, stream=True)
    # A client that opted out of usage: a stream without usage (counted, tokens unknown).
    c.chat("gpt-4o", "sk-demo", stream=True, stream_options={"include_usage": False})
    c.post("/v1/responses", {"model": "gpt-4o", "input": "bonjour"}, "sk-demo-ops")
    c.post("/v1/responses", {"model": "gpt-4o", "input": "bonjour", "stream": True}, "sk-demo")
    c.post("/v1/embeddings", {"model": "gpt-4o-mini", "input": "bonjour"}, "sk-guest-1")
    c.chat("llama-3-70b", "sk-guest-2")                     # not in the model_list: requested_model "other"
    c.chat("gpt-4o", "sk-demo", {"x-fake-gzip": "1"})       # inflated inside the filter
    c.chat("gpt-4o", "sk-demo", {"x-fake-fixture": "malformed.json"})   # passed through, counted unreadable
    for _ in range(2):                                      # the provider's rate limit, headroom 0
        c.chat("gpt-4o", "sk-demo-ops", {"x-fake-status": "429",
                                         "x-fake-ratelimit": "remaining_requests=0,remaining_tokens=0"})
    c.chat("gpt-4o", "sk-demo", {"x-fake-ratelimit": "remaining_requests=480,remaining_tokens=290000"})
    for _ in range(12):                                     # gpt-4o-mini fails: minor, then major outage
        c.chat("gpt-4o-mini", "sk-demo-ops", {"x-fake-status": "500"})
    c.chat("gpt-4o-mini", "sk-demo-ops")                    # and recovers
    for i in range(12):                                     # past the demo's 30 values per label: folded
        c.chat("gpt-4o", "sk-guest-1", {"user-agent": f"demo-client/{n}.{i}"})


def summary(slack_body: dict) -> str:
    """The alert type and level of a Slack-format body (LiteLLM's text; Alertmanager's attachments)."""
    texts = [slack_body.get("text") or ""] + [att.get("text") or "" for att in slack_body.get("attachments") or []]
    lines = [ln.strip() for t in texts for ln in t.splitlines() if ln.strip()]
    wanted = [ln for ln in lines if ln.startswith(("[Num Alerts", "Alert type", "Level", "Message"))]
    title = [att.get("title") or "" for att in slack_body.get("attachments") or []]
    return " ".join([*(t for t in title if t), *wanted[:3]])[:120]


def get_json(url: str):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def prom(port: int, q: str) -> list:
    doc = get_json(f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q}))
    return (doc or {}).get("data", {}).get("result", []) if doc and doc.get("status") == "success" else []


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen-port", type=int, default=10000)
    ap.add_argument("--prometheus-port", type=int, default=9090)
    ap.add_argument("--webhook-port", type=int, default=18081)
    ap.add_argument("--alertmanager-port", type=int, default=9093)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pause", type=float, default=8.0, help="seconds between rounds (rate() needs two scrapes)")
    a = ap.parse_args()
    c = Client(a.listen_port)
    start = time.monotonic()

    # One request slower than the threshold, one stream open longer than it (hanging, then slow).
    slow = threading.Thread(target=c.chat, args=("gpt-4o", "sk-demo", {"x-fake-delay-ms": "7000"}))
    hanging = threading.Thread(target=c.chat, args=("gpt-4o-mini", "sk-demo-ops", {"x-fake-chunk-delay-ms": "1200"}),
                               kwargs={"stream": True})
    slow.start()
    hanging.start()
    for n in range(a.rounds):
        print(f"round {n + 1}/{a.rounds} ...", flush=True)
        one_round(c, n)
        if n + 1 < a.rounds:
            time.sleep(a.pause)
    slow.join()
    hanging.join()
    print(f"sent {sum(c.statuses.values())} requests in {time.monotonic() - start:.0f} s; statuses "
          + ", ".join(f"{k}: {v}" for k, v in sorted(c.statuses.items())))

    # What they produced.
    print("\nwaiting for the alerts (the filter batches for 5 s; Prometheus evaluates every 15 s) ...", flush=True)
    alertmanager = get_json(f"http://127.0.0.1:{a.alertmanager_port}/api/v2/status") is not None
    received: list = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        received = get_json(f"http://127.0.0.1:{a.webhook_port}/__received") or []
        paths = {r.get("path", "") for r in received}
        if any(p.startswith("/slack") for p in paths) and (
                not alertmanager or any(p.startswith("/alertmanager") for p in paths)):
            break
        time.sleep(2)
    print(f"\nwebhook receiver (http://127.0.0.1:{a.webhook_port}/__received): {len(received)} POSTs"
          + (" (/slack...: the filter's alerts; /alertmanager...: Prometheus's, through Alertmanager)"
             if alertmanager else ""))
    for r in received[-16:]:
        print(f"  {r.get('path', ''):34} {summary(r.get('json') or {})}")
    if a.prometheus_port:
        sums = prom(a.prometheus_port, "sum by (requested_model) (litellm_request_total_latency_metric_sum)")
        print(f"\nPrometheus (http://127.0.0.1:{a.prometheus_port}), recorded in seconds from the filter's microseconds:")
        for s in sums:
            print(f"  litellm_request_total_latency_metric_sum{{requested_model=\"{s['metric'].get('requested_model')}\"}}"
                  f" = {float(s['value'][1]):.3f} s")
        if not sums:
            print("  (litellm_request_total_latency_metric_sum not recorded yet: the rules run every 15 s)")
        # The rule manager's active alerts (the ALERTS series only starts after its first evaluations).
        doc = get_json(f"http://127.0.0.1:{a.prometheus_port}/api/v1/alerts") or {}
        for alert in (doc.get("data") or {}).get("alerts", []):
            m = alert["labels"]
            who = m.get("requested_model") or m.get("litellm_model_name") or m.get("model_group") or m.get("job", "")
            print(f"  alert {m.get('alertname')} ({alert.get('state')}) {who}: {alert['annotations'].get('summary', '')}")
        print(f"  try: http://127.0.0.1:{a.prometheus_port}/graph?g0.expr="
              + urllib.parse.quote("sum(rate(litellm_request_total_latency_metric_sum[1m]))"
                                   "/sum(rate(litellm_request_total_latency_metric_count[1m]))"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
