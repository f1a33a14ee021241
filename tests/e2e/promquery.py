"""PromQL facts for the e2e tests that evaluate dashboard queries on a real Prometheus: Prometheus
2.42's arithmetic (extrapolation, histogram_quantile) for expected values, reading Envoy's own
exposition, and waiting until Envoy and Prometheus agree (the two-phase method described in
test_litellm_dashboards.py)."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

from harness import wait_until


def extrapolated_increase(samples: list[tuple[int, float]], start_ms: int, end_ms: int) -> float | None:
    """increase() of one counter series over [start, end] as Prometheus 2.42 computes it
    (promql/functions.go extrapolatedRate): the first-to-last difference, extrapolated to the
    window's edges when the samples come close to them."""
    if len(samples) < 2:
        return None
    result, last = samples[-1][1] - samples[0][1], 0.0
    for _, v in samples:
        if v < last:
            result += last
        last = v
    to_start = (samples[0][0] - start_ms) / 1000
    to_end = (end_ms - samples[-1][0]) / 1000
    sampled = (samples[-1][0] - samples[0][0]) / 1000
    average = sampled / (len(samples) - 1)
    if result > 0 and samples[0][1] >= 0:
        to_start = min(to_start, sampled * (samples[0][1] / result))
    threshold = average * 1.1
    span = sampled + (to_start if to_start < threshold else average / 2) + (to_end if to_end < threshold else average / 2)
    return result * span / sampled


def bucket_quantile(q: float, buckets: dict[float, float]) -> float:
    """histogram_quantile() over cumulative bucket counts {upper bound: count} (Prometheus 2.42
    promql/quantile.go bucketQuantile)."""
    bounds = sorted(buckets)
    counts = [buckets[b] for b in bounds]
    assert bounds[-1] == math.inf and len(bounds) >= 2
    observations = counts[-1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = next((i for i in range(len(bounds) - 1) if counts[i] >= rank), len(bounds) - 1)
    if b == len(bounds) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, count = 0.0, counts[b]
    if b > 0:
        start, count, rank = bounds[b - 1], counts[b] - counts[b - 1], rank - counts[b - 1]
    return start + (bounds[b] - start) * (rank / count)


_SAMPLE = re.compile(r'^(\w+)\{(.*)\} (\S+)$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def envoy_samples(text: str, name: str) -> list[tuple[dict, float]]:
    out = []
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and m.group(1) == name:
            out.append((dict(_LABEL.findall(m.group(2))), float(m.group(3))))
    return out


def bucket_deltas(before: str, after: str, family: str) -> dict[float, float]:
    """Phase B's observations per `le`, summed over every series, from Envoy's own exposition."""
    out: dict[float, float] = {}
    for text, sign in ((after, 1), (before, -1)):
        for labels, v in envoy_samples(text, family + "_bucket"):
            le = math.inf if labels["le"] == "+Inf" else float(labels["le"])
            out[le] = out.get(le, 0.0) + sign * v
    return out


def total(text: str, name: str) -> float:
    return sum(v for _, v in envoy_samples(text, name))


@dataclass
class Snapshot:
    """Envoy's exposition once it stopped changing, and the first Prometheus scrape after it."""
    text: str
    scrape_ms: int
    extra: dict = field(default_factory=dict)


def _filter_lines(text: str) -> str:
    return "\n".join(ln for ln in text.splitlines() if ln.startswith(("litellm_", "llm_telemetry_")))


def settle(envoy, prom, requests_total: int, then_wait_s: float = 0.0, ready=lambda text: True) -> Snapshot:
    """Wait until Envoy shows `requests_total` requests (and `ready(exposition)`) and its exposition
    is stable, then until Prometheus scraped it after that (optionally a while longer, for the
    recording rules), and return the exposition with the timestamp of the latest scrape."""
    def stable():
        first = envoy.prometheus()
        if total(first, "litellm_proxy_total_requests_metric_total") != requests_total or not ready(first):
            return None
        time.sleep(0.4)  # several flushes (100 ms)
        second = envoy.prometheus()
        return second if _filter_lines(first) == _filter_lines(second) else None

    text = wait_until(stable, 20, f"Envoy counting {requests_total} requests, then stable")
    settled_ms = int(time.time() * 1000)

    def scraped_after(after_ms):
        def check():
            result = prom.query('timestamp(up{job="envoy"})')
            ms = round(float(result[0]["value"][1]) * 1000)
            return ms if ms > after_ms else None
        return check

    scrape_ms = wait_until(scraped_after(settled_ms), 10, "a Prometheus scrape after Envoy settled")
    if then_wait_s:
        time.sleep(then_wait_s)
        scrape_ms = wait_until(scraped_after(scrape_ms), 10, "a later Prometheus scrape")
    return Snapshot(text, scrape_ms)


def with_window(expr: str, window_ms: int) -> str:
    return re.sub(r"\[[^\]]+\]", f"[{window_ms}ms]", expr)


def project(result: list[dict], by: list[str]) -> dict:
    """{tuple of the `by` label values: value}; several series on one key is an error."""
    out = {}
    for r in result:
        key = tuple(r["metric"].get(label, "") for label in by)
        assert key not in out, f"two results for {key}: {result}"
        out[key] = float(r["value"][1])
    return out


def close_maps(got: dict, want: dict) -> bool:
    return got.keys() == want.keys() and all(
        math.isclose(got[k], want[k], rel_tol=1e-9, abs_tol=1e-9) for k in want)
