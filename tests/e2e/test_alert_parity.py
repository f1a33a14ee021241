"""Each alert type's text equals LiteLLM 1.106.2's for the same event.

tests/fixtures/litellm_alerts.json holds what LiteLLM sent to a webhook receiver for each scenario
of alert_scenarios.py (recorded by record_litellm_alerts.py against the same fake upstream). Here
the same config and the same requests go through a real Envoy with the filter; the texts that reach
the receiver must be those, byte for byte, once the clock-dependent values are masked: the alert
time, the measured slowness and the outage's "Last Check" age.
"""

from __future__ import annotations

import json
import re
import threading

import pytest

from alert_scenarios import API_BASE_MARK, MESSAGES, SCENARIOS, litellm_config, upstream_headers
from harness import FIXTURES_DIR
from test_alerts import SECRET_PATH, posts, settle, wait_texts

API_BASE = "http://127.0.0.1:18080/v1"
RECORDED = json.loads((FIXTURES_DIR / "litellm_alerts.json").read_text())


def mask(text: str) -> str:
    text = re.sub(r"Timestamp: `\d\d:\d\d:\d\d`", "Timestamp: `HH:MM:SS`", text)
    text = re.sub(r"Responses are slow - [0-9.]+s response time", "Responses are slow - Ns response time", text)
    return re.sub(r"\*Last Check:\* `[0-9.]+s ago`", "*Last Check:* `Ns ago`", text)


def recorded(name: str) -> list[str]:
    return [mask(t.replace(API_BASE_MARK, API_BASE)) for t in RECORDED["scenarios"][name]]


def test_the_recording_is_litellm_1_106_2_and_covers_every_scenario():
    assert RECORDED["litellm_version"] == "1.106.2"
    assert sorted(RECORDED["scenarios"]) == sorted(SCENARIOS)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_alert_text_equals_litellms(name, start_envoy, webhook):
    config = litellm_config(name, API_BASE)
    _, requests, n_alerts = SCENARIOS[name]
    envoy = start_envoy(config, env_vars={"SLACK_WEBHOOK_URL": webhook.url + SECRET_PATH})
    threads = []
    for group, extra in requests:
        body = {"model": group, "messages": MESSAGES, **extra}
        t = threading.Thread(target=envoy.request,
                             args=("POST", "/v1/chat/completions", body, upstream_headers(config, group)),
                             kwargs={"timeout": 30})
        t.start()
        if name != "llm_requests_hanging":
            t.join()  # in order, as the recorder sent them
        threads.append(t)
    wait_texts(webhook, n_alerts, timeout=30)
    for t in threads:
        t.join(30)
    settle()
    got = [mask(r["json"]["text"]) for r in posts(webhook)]
    # The same texts, each once; not in order: each body is its own callout, and two callouts in
    # flight at once (the minor then the major outage alert) may reach the receiver either way.
    assert sorted(got) == sorted(recorded(name))
