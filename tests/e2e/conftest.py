"""pytest fixtures for the end-to-end tests: a real Envoy loading build/llm_telemetry.wasm in front
of the fake OpenAI upstream, with a webhook receiver for alerts. Helpers live in harness.py."""

from __future__ import annotations

import os

import pytest

from fake_upstream import fake_upstream as make_fake_upstream
from harness import EnvoyFactory, wait_until, wasm_path
from webhook_receiver import webhook_receiver as make_webhook_receiver

import monitoring  # envoy/monitoring.py (harness puts envoy/ on sys.path)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so fixtures know at teardown whether the test failed."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture(scope="session")
def fake_upstream():
    """The fake OpenAI upstream (session-wide; its recorded requests are cleared before each test)."""
    server = make_fake_upstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def webhook():
    """The webhook receiver (session-wide; cleared and back to normal mode before each test).

    Its cluster is `webhook_127_0_0_1_<webhook.port>`; point the plugin config at `webhook.url + path`.
    """
    server = make_webhook_receiver().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh_recorders(fake_upstream, webhook):
    fake_upstream.clear()
    webhook.clear()
    with webhook.lock:
        webhook.mode = {}


@pytest.fixture
def start_envoy(request, fake_upstream, webhook, tmp_path_factory):
    """Factory: start_envoy(plugin_config, extra_label_keys=(), env_vars={}, concurrency=1, ...) -> Envoy.

    Each Envoy is validated, started on free ports and stopped after the test; a failed test prints
    the logs of the Envoys it started. `start_envoy.validate(plugin_config)` -> (accepted, output)
    checks a config without starting anything.
    """
    wasm_path()  # fail early and clearly when `make build` has not run
    factory = EnvoyFactory(upstream=f"127.0.0.1:{fake_upstream.port}", webhook_port=webhook.port,
                           tmp_root=tmp_path_factory.mktemp("envoy"))
    yield factory
    factory.stop_all()
    failed = any(getattr(getattr(request.node, f"rep_{w}", None), "failed", False) for w in ("setup", "call"))
    if failed and factory.started:
        print(factory.logs())


@pytest.fixture
def prometheus_for(request, tmp_path_factory):
    """Factory: prometheus_for(envoy, ...) starts a real Prometheus (Debian package) scraping that
    Envoy's admin /stats/prometheus every second, with envoy/prometheus/'s rules evaluated every
    second; it returns once Prometheus has scraped Envoy. Always stopped; its log is printed when
    the test fails. Without the binary the test is skipped locally, but fails in CI (`make deps`
    must have installed it)."""
    if monitoring.binary("prometheus") is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus is not installed but CI is set: `make deps` must install it")
        pytest.skip("prometheus binary not found (run `make deps`, which installs the Debian package)")
    started: list[monitoring.Prometheus] = []

    def start(envoy, scrape_interval: str = "1s", rule_interval: str | None = "1s") -> monitoring.Prometheus:
        workdir = tmp_path_factory.mktemp("prometheus")
        prom = monitoring.Prometheus(workdir, [envoy.admin_port], scrape_interval, rule_interval)
        started.append(prom)
        prom.start()
        wait_until(prom.targets_up, 30, lambda: f"Prometheus scraping Envoy:\n{prom.log()}")
        return prom

    yield start
    for p in started:
        p.stop()
    failed = any(getattr(getattr(request.node, f"rep_{w}", None), "failed", False) for w in ("setup", "call"))
    if failed:
        for p in started:
            print(f"===== Prometheus log ({p.workdir}) =====\n{p.log()}")
