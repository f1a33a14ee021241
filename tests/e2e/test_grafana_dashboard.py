"""Our Grafana dashboard (envoy/grafana/llm-telemetry.json) on a real Prometheus: every query of
every panel evaluated against Prometheus scraping a real Envoy with the filter and the rules of
envoy/prometheus/, after a known mix (the two-phase method of test_litellm_dashboards.py: rate()
over exactly phase B's scrapes is exact; "since Envoy started" panels show both phases).
"""

from __future__ import annotations

import json
import math
import re

from harness import REPO
from promquery import bucket_deltas, bucket_quantile, close_maps, envoy_samples, project, settle, total, with_window

DASHBOARD = json.loads((REPO / "envoy" / "grafana" / "llm-telemetry.json").read_text())
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "bonjour"}]}
ROUTE = ("/v1/chat/completions",)


def plugin_config(webhook_url: str) -> dict:
    return {
        "general_settings": {"alerting": ["slack"], "alert_types": ["llm_exceptions"],
                             "alerting_args": {"batch_interval_seconds": 1}},
        "environment_variables": {"SLACK_WEBHOOK_URL": f"{webhook_url}/slack"},
        # Three user agents per VM, then __overflow__: the mix's ua-3..ua-5 fold.
        "telemetry_settings": {"metrics_flush_interval_ms": 100, "max_values_per_label": 3},
    }


def send_phase(envoy) -> int:
    """One phase of the mix; returns the number of requests."""
    sent = 0

    def post(body=CHAT, headers=None, stream=False):
        nonlocal sent
        h = {"user-agent": "ua-0", **(headers or {})}
        status = (envoy.stream("/v1/chat/completions", body, h) if stream
                  else envoy.request("POST", "/v1/chat/completions", body, h))[0]
        sent += 1
        return status

    for i in range(6):
        assert post(headers={"user-agent": f"ua-{i}"}) == 200
    assert post({**CHAT, "stream": True, "stream_options": {"include_usage": False}}, stream=True) == 200
    assert post({**CHAT, "stream": True}, stream=True) == 200
    assert post(headers={"x-fake-fixture": "malformed_syntax.json"}) == 200
    assert post(headers={"x-fake-status": "500"}) == 500
    assert post(headers={"x-fake-ratelimit": "remaining_requests=0,remaining_tokens=0"}) == 200
    return sent


def targets():
    for p in DASHBOARD["panels"]:
        for t in p.get("targets", []):
            yield p, t


def test_dashboard_is_importable_grafana_json():
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    assert [i["name"] for i in DASHBOARD["__inputs"]] == ["DS_PROMETHEUS"]
    for p, t in targets():
        assert p["datasource"]["uid"] == "${DS_PROMETHEUS}" and t["refId"] and t["expr"], p["title"]
        assert p["description"], p["title"]
    families = {m for _, t in targets() for m in re.findall(r"\b((?:litellm|llm_telemetry)_\w+)", t["expr"])}
    assert families >= {"llm_telemetry_streams_without_usage_total", "llm_telemetry_unreadable_bodies_total",
                        "llm_telemetry_label_values_folded_total", "llm_telemetry_series_folded_total",
                        "llm_telemetry_alerts_total", "llm_telemetry_alert_events_dropped_total"}


def test_dashboard_queries_on_real_prometheus(start_envoy, webhook, prometheus_for):
    envoy = start_envoy(plugin_config(webhook.url))
    prom = prometheus_for(envoy)

    def delivered(n):
        """The phase's alert has been sent (the leader batches for a second)."""
        return lambda text: total(text, "llm_telemetry_alerts_total") and all(
            v == n for labels, v in envoy_samples(text, "llm_telemetry_alerts_total")
            if labels["outcome"] in ("queued", "sent"))

    per_phase = send_phase(envoy)
    base = settle(envoy, prom, per_phase, ready=delivered(1))
    send_phase(envoy)
    end = settle(envoy, prom, 2 * per_phase, then_wait_s=2.0, ready=delivered(2))
    window_ms = end.scrape_ms - base.scrape_ms
    window_s, at = window_ms / 1000, end.scrape_ms / 1000

    def quantile(family, q):
        return {("gpt-4o",): bucket_quantile(q, bucket_deltas(base.text, end.text, family))}

    latency = bucket_deltas(base.text, end.text, "litellm_request_total_latency_metric")
    # (title, refId) -> (labels of the result, expected values, multiply the result by the window)
    expected = {
        ("Streams that ended without usage", "A"): (["route"], {ROUTE: 1}, True),
        ("Streams given include_usage by the filter", "A"): (["route"], {ROUTE: 1}, True),
        ("Bodies passed through unread", "A"): (["reason"], {("response_malformed_json",): 1}, True),
        ("Bodies unread since Envoy started", "A"): (["reason"], {("response_malformed_json",): 2}, False),
        ("Label values folded", "A"): (["label"], {("user_agent",): 3}, True),
        ("Requests folded into the all-__overflow__ series", "A"): ([], {}, True),   # no family bound reached
        ("Folded since Envoy started", "A"): (["label"], {("user_agent",): 6}, False),
        ("Folded since Envoy started", "B"): ([], {}, False),
        ("Alerts by type and outcome", "A"): (["alert_type", "outcome"], {
            ("llm_exceptions", "queued"): 1, ("llm_exceptions", "sent"): 1}, True),
        ("Alerts not delivered since Envoy started", "A"): ([], {}, False),
        ("Alerts not delivered since Envoy started", "B"): ([], {}, False),
        # Two 500s: below every fleet alert's threshold.
        ("Fleet alerts firing (envoy/prometheus/alerting-rules.yaml)", "A"): ([], {}, False),
        ("LLM API latency p95 by model group", "A"): (
            ["model_group"], quantile("litellm_llm_api_latency_metric", 0.95), False),
        ("Time to first token p95 by model group", "A"): (
            ["model_group"], quantile("litellm_llm_api_time_to_first_token_metric", 0.95), False),
        ("Request latency distribution", "A"): (
            ["le"], {("+Inf" if le == math.inf else str(le),): n for le, n in latency.items()}, True),
        ("Provider headroom: lowest remaining requests per model group", "A"): (["model_group"], {("gpt-4o",): 0}, False),
        # Recorded by alerting-rules.yaml: every series is younger than the 5-minute window, so the
        # recording takes them whole: 2 failures in 22 requests.
        ("Upstream failure ratio per model group (5m)", "A"): (["requested_model"], {("gpt-4o",): 2 / 22}, False),
        ("Outage errors per deployment (1m, all Envoys)", "A"): (["litellm_model_name"], {("gpt-4o",): 2}, False),
    }
    assert set(expected) == {(p["title"], t["refId"]) for p, t in targets()}, "every query has an expectation"
    assert total(end.text, "litellm_proxy_total_requests_metric_total") == 22

    failures = []
    for p, t in targets():
        labels, want, per_second = expected[(p["title"], t["refId"])]
        query = with_window(t["expr"], window_ms)
        got = prom.query(query, at=at)
        scale = window_s if per_second else 1.0
        got_map = {k: v * scale for k, v in project(got, labels).items()}
        if not close_maps(got_map, want):
            failures.append(f'{p["title"]} [{t["refId"]}]: {query}\n  got {got_map}\n  want {want}')
    assert not failures, "\n".join(failures)

