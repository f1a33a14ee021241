"""End to end with a real Prometheus scraping the test Envoy's /stats/prometheus.

Proves that what Envoy exposes is read by Prometheus as LiteLLM's series (names, label names and
values), that LiteLLM's histogram queries work on the bucket series, and that the recording rules
of envoy/prometheus/recording-rules.yaml rebuild `<histogram>_sum` in seconds from `_sum_microseconds`.

Needs the `prometheus` binary (Debian package, installed by `make deps`). Without it the test is
skipped locally, but fails in CI (the CI environment variable set), where `make deps` must have
installed it.
"""

from __future__ import annotations

import hashlib
import math

from harness import wait_until

FLUSH_MS = 100

# LiteLLM's labels of litellm_total_tokens_metric (spec/litellm-metric-catalogue.md).
TOTAL_TOKENS_LABELS = ("end_user hashed_api_key api_key_alias model team team_alias user user_email requested_model "
                       "model_id api_provider org_id org_alias").split()


def test_prometheus_reads_litellm_series_and_rules_rebuild_sums(start_envoy, fake_upstream, prometheus_for):
    envoy = start_envoy({"telemetry_settings": {"metrics_flush_interval_ms": FLUSH_MS}})
    key, ua = "sk-prometheus-e2e", "prom-e2e/1"
    status, _, _ = envoy.request("POST", "/v1/chat/completions",
                                 {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
                                 {"authorization": f"Bearer {key}", "user-agent": ua})
    assert status == 200
    envoy.wait_for(lambda t: "litellm_request_total_latency_metric_sum_microseconds{" in t, what="latency sum")
    prom = prometheus_for(envoy)

    # The token counter as LiteLLM's: its label names exactly, values as LiteLLM fills them.
    tokens = wait_until(lambda: prom.query("litellm_total_tokens_metric_total"), 30,
                        lambda: f"litellm_total_tokens_metric_total in Prometheus:\n{prom.log()}")
    [series] = tokens
    labels = {k: v for k, v in series["metric"].items() if k not in ("__name__", "job", "instance")}
    expected = {name: "None" for name in TOTAL_TOKENS_LABELS}
    expected.update(hashed_api_key=hashlib.sha256(key.encode()).hexdigest(), model="gpt-4o-2024-08-06",
                    requested_model="gpt-4o", api_provider="openai")
    assert labels == expected
    assert series["metric"]["__name__"] == "litellm_total_tokens_metric_total"
    assert float(series["value"][1]) == 29

    # LiteLLM's dashboards' latency quantile works on the bucket series.
    q = "histogram_quantile(0.99, sum by (le) (litellm_request_total_latency_metric_bucket))"
    [p99] = wait_until(lambda: prom.query(q), 30, q)
    assert p99["metric"] == {}
    value = float(p99["value"][1])
    assert math.isfinite(value) and value > 0, p99

    # The recording rule's _sum (seconds) is the filter's _sum_microseconds / 1e6, per series.
    def sums():
        rule = prom.query("litellm_request_total_latency_metric_sum")
        raw = prom.query("litellm_request_total_latency_metric_sum_microseconds")
        return (rule, raw) if rule and raw else None

    rule, raw = wait_until(sums, 30, lambda: f"the recorded _sum series:\n{prom.log()}")
    assert len(rule) == len(raw) == 1
    strip = lambda m: {k: v for k, v in m.items() if k != "__name__"}  # noqa: E731
    assert strip(rule[0]["metric"]) == strip(raw[0]["metric"])
    micros = envoy.value(
        "litellm_request_total_latency_metric_sum_microseconds{" + _labels_text(raw[0]["metric"]) + "}")
    assert micros is not None and micros > 0
    assert float(raw[0]["value"][1]) == micros
    assert math.isclose(float(rule[0]["value"][1]), micros / 1e6, rel_tol=1e-12)


def _labels_text(metric: dict) -> str:
    """The label part of Envoy's exposition line for a Prometheus result (job/instance dropped)."""
    names = sorted(k for k in metric if k not in ("__name__", "job", "instance"))
    return ",".join(f'{k}="{metric[k]}"' for k in names)
