"""End to end with a real Prometheus scraping the test Envoy's /stats/prometheus.

Proves that what Envoy exposes is read by Prometheus as LiteLLM's series (names, label names and
values), that LiteLLM's histogram queries work on the bucket series, and that the recording rules
of envoy/prometheus-rules.yaml rebuild `<histogram>_sum` in seconds from `_sum_microseconds`.

Needs the `prometheus` binary (Debian package, installed by `make deps`). Without it the test is
skipped locally, but fails in CI (the CI environment variable set), where `make deps` must have
installed it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from harness import REPO, wait_until

RULES = REPO / "envoy" / "prometheus-rules.yaml"
FLUSH_MS = 100

# LiteLLM's labels of litellm_total_tokens_metric (spec/litellm-metric-catalogue.md).
TOTAL_TOKENS_LABELS = ("end_user hashed_api_key api_key_alias model team team_alias user user_email requested_model "
                       "model_id api_provider org_id org_alias").split()


def prometheus_binary() -> str:
    found = shutil.which("prometheus") or ("/usr/bin/prometheus" if os.path.exists("/usr/bin/prometheus") else None)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("prometheus is not installed but CI is set: `make deps` must install it (apt package prometheus)")
    pytest.skip("prometheus binary not found (run `make deps`, which installs the Debian package)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    def __init__(self, binary: str, workdir: Path, scrape_port: int):
        self.binary, self.workdir, self.scrape_port = binary, workdir, scrape_port
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.log_path = workdir / "prometheus.log"

    def start(self, attempts: int = 3) -> "Prometheus":
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [{
                "job_name": "envoy",
                "metrics_path": "/stats/prometheus",
                "static_configs": [{"targets": [f"127.0.0.1:{self.scrape_port}"]}],
            }],
        }
        config_path = self.workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        for attempt in range(attempts):  # the free port may be taken between probe and bind
            self.port = free_port()
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(
                    [self.binary, f"--config.file={config_path}",
                     f"--storage.tsdb.path={self.workdir / f'data{attempt}'}",
                     f"--web.listen-address=127.0.0.1:{self.port}",
                     "--log.level=warn"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_until(self._ready, 30, lambda: f"Prometheus ready on {self.port}:\n{self.log()}", interval=0.2)
                return self
            except AssertionError:
                if self.proc.poll() is None or attempt == attempts - 1:
                    self.stop()
                    raise
        return self

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def query(self, promql: str) -> list[dict]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as r:
            doc = json.load(r)
        assert doc["status"] == "success", doc
        return doc["data"]["result"]

    def targets_up(self) -> bool:
        return any(s["value"][1] == "1" for s in self.query('up{job="envoy"}'))


@pytest.fixture
def prometheus_for(tmp_path):
    """Factory: prometheus_for(envoy) starts a Prometheus scraping that Envoy; always stopped."""
    binary = prometheus_binary()
    started: list[Prometheus] = []

    def start(envoy) -> Prometheus:
        p = Prometheus(binary, tmp_path, envoy.admin_port)
        started.append(p)
        return p.start()

    yield start
    for p in started:
        p.stop()


def test_prometheus_reads_litellm_series_and_rules_rebuild_sums(start_envoy, fake_upstream, prometheus_for):
    envoy = start_envoy({"telemetry_settings": {"metrics_flush_interval_ms": FLUSH_MS}})
    key, ua = "sk-prometheus-e2e", "prom-e2e/1"
    status, _, _ = envoy.request("POST", "/v1/chat/completions",
                                 {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
                                 {"authorization": f"Bearer {key}", "user-agent": ua})
    assert status == 200
    envoy.wait_for(lambda t: "litellm_request_total_latency_metric_sum_microseconds{" in t, what="latency sum")
    prom = prometheus_for(envoy)
    wait_until(prom.targets_up, 30, lambda: f"Prometheus scraping Envoy:\n{prom.log()}")

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
