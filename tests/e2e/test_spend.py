"""Spend and budgets end to end: a real Envoy with two workers prices every request, adds its cost
to one shared spend per key (Envoy shared data, compare-and-swap), exports it as integer stats
that the shipped rules (envoy/prometheus/spend-rules.yaml) turn into LiteLLM's USD series in a
real Prometheus, sends LiteLLM's budget alerts, and refuses a key over its budget before the
upstream sees the request.

Expected spends are computed here from the fixture's usage and the configured prices, never read
back from the filter.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time

from harness import fixture_bytes, wait_until
from promquery import envoy_samples

OK_BODY = fixture_bytes("chat_completion.json")
USAGE = json.loads(OK_BODY)["usage"]
PICO = 10**12
SLACK_PATH = "/hooks/T0000/B0000/SECRETspend1"
GENERIC_PATH = "/generic/SECRETspend2"
FLUSH_MS = 100


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def priced(group: str, model: str, input_usd: float | None, output_usd: float | None) -> dict:
    params: dict = {"model": model}
    if input_usd is not None:
        params["input_cost_per_token"] = input_usd
    if output_usd is not None:
        params["output_cost_per_token"] = output_usd
    return {"model_name": group, "litellm_params": params}


def cost_pico(input_pico: int, output_pico: int) -> int:
    """LiteLLM's cost of the fixture's usage for a model with only input and output prices:
    cached prompt tokens and reasoning tokens bill at those rates, so prompt × input +
    completion × output."""
    return USAGE["prompt_tokens"] * input_pico + USAGE["completion_tokens"] * output_pico


def chat(envoy, key: str, model: str = "priced") -> tuple[int, bytes]:
    status, _, data = envoy.request("POST", "/v1/chat/completions",
                                    {"model": model, "messages": [{"role": "user", "content": "hi"}]},
                                    {"authorization": f"Bearer {key}"})
    return status, data


def by_key(text: str, name: str) -> dict[str, float]:
    """Sum of a family's samples per hashed_api_key."""
    out: dict[str, float] = {}
    for labels, v in envoy_samples(text, name):
        k = labels.get("hashed_api_key", "")
        out[k] = out.get(k, 0.0) + v
    return out


def test_concurrent_burst_over_two_workers_gives_each_key_its_exact_spend(start_envoy, prometheus_for):
    keys = {f"sk-spend-{i}": n for i, n in enumerate((23, 31, 17, 9))}
    per_request = cost_pico(1_000_000, 2_000_000)  # 1e-6 and 2e-6 USD per token
    team_keys = ("sk-spend-0", "sk-spend-1")
    config = {
        "model_list": [priced("priced", "openai/spend-test-model", 0.000001, 0.000002)],
        "telemetry_settings": {
            "metrics_flush_interval_ms": FLUSH_MS,
            "keys": [{"api_key": k, "key_alias": f"alias-{k[-1]}", "max_budget": 1000,
                      **({"team_id": "t-shared"} if k in team_keys else {})} for k in keys],
            "teams": [{"team_id": "t-shared", "max_budget": 5}],
        },
    }
    envoy = start_envoy(config, concurrency=2)
    jobs = [k for k, n in keys.items() for _ in range(n)]
    lock = threading.Lock()
    statuses: list[int] = []

    def worker():
        while True:
            with lock:
                if not jobs:
                    return
                k = jobs.pop()
            status, data = chat(envoy, k)
            assert data == OK_BODY
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert statuses == [200] * sum(keys.values())
    # Both workers served connections (each request is a connection of its own).
    served = [int(v) for line in envoy.admin_get("/stats?filter=worker_.\\.downstream_cx_total").splitlines()
              if line.startswith("listener.") and (v := line.rpartition(": ")[2]).isdigit()]
    assert len(served) == 2 and all(n > 0 for n in served), served

    want = {sha(k): float(n * per_request) for k, n in keys.items()}
    team_want = float(sum(keys[k] for k in team_keys) * per_request)

    def exact(text):
        spend = by_key(text, "litellm_spend_metric_picodollars_total")
        gauge = by_key(text, "litellm_api_key_budget_spend_metric_picodollars")
        team = [v for labels, v in envoy_samples(text, "litellm_team_budget_spend_metric_picodollars")
                if labels.get("team") == "t-shared"]
        return spend == want and gauge == want and team == [team_want]

    text = envoy.wait_for(lambda t: t if exact(t) else None, 20, "spend counter and gauges per key")
    assert by_key(text, "litellm_api_key_max_budget_metric_picodollars") == {h: 1000.0 * PICO for h in want}

    # Through a real Prometheus and the shipped rules: LiteLLM's series, in USD.
    prom = prometheus_for(envoy)

    def usd(q: str) -> dict[str, float] | None:
        got = {r["metric"].get("hashed_api_key", ""): float(r["value"][1]) for r in prom.query(q)}
        return got if set(got) == set(want) else None

    spend = wait_until(lambda: usd("sum by (hashed_api_key) (litellm_spend_metric_total)"), 30,
                       lambda: f"litellm_spend_metric_total in Prometheus:\n{prom.log()}")
    remaining = wait_until(lambda: usd("litellm_remaining_api_key_budget_metric"), 30, "remaining budget")
    max_budget = wait_until(lambda: usd("litellm_api_key_max_budget_metric"), 30, "max budget")
    for h, pico in want.items():
        assert math.isclose(spend[h], pico / PICO, rel_tol=1e-12), (h, spend[h], pico)
        assert math.isclose(remaining[h], 1000 - pico / PICO, rel_tol=1e-12), (h, remaining[h])
        assert max_budget[h] == 1000.0
    [team] = wait_until(lambda: prom.query('litellm_remaining_team_budget_metric{team="t-shared"}'), 30, "team")
    assert math.isclose(float(team["value"][1]), 5 - team_want / PICO, rel_tol=1e-12)


def budget_config(webhook, enforce: bool) -> tuple[dict, dict]:
    config = {
        # 1e-6 USD per prompt and completion token: 29 tokens, 2.9e-05 USD per request.
        "model_list": [priced("priced", "openai/spend-test-model", 0.000001, 0.000001)],
        "general_settings": {"alerting": ["slack", "webhook"], "alert_types": ["budget_alerts"],
                             "alerting_args": {"batch_interval_seconds": 1}},
        "telemetry_settings": {
            "metrics_flush_interval_ms": FLUSH_MS,
            "enforce_budgets": enforce,
            "keys": [{"api_key": "sk-walker", "key_alias": "walker", "max_budget": 0.0001, "soft_budget": 0.00005}],
        },
    }
    env = {"SLACK_WEBHOOK_URL": webhook.url + SLACK_PATH, "WEBHOOK_URL": webhook.url + GENERIC_PATH}
    return config, env


def received(webhook, path: str) -> list[dict]:
    return [r for r in webhook.take_records() if r["path"] == path]


def test_key_walked_past_soft_and_max_budget_alerts_once_each_then_is_refused(start_envoy, webhook, fake_upstream):
    config, env = budget_config(webhook, enforce=True)
    envoy = start_envoy(config, env_vars=env, concurrency=2)
    hashed = sha("sk-walker")
    # 2.9e-05, 5.8e-05 (soft budget crossed), 8.7e-05 (13% left), 0.000116 (over the max budget).
    for _ in range(4):
        assert chat(envoy, "sk-walker") == (200, OK_BODY)

    def events():
        got = [r["json"]["event"] for r in received(webhook, GENERIC_PATH)]
        return got if "budget_crossed" in got else None

    wait_until(events, 20, lambda: f"the budget_crossed webhook; got {webhook.take_records()}")
    # The next request is refused by the filter: the upstream never sees it.
    upstream_before = len(fake_upstream.take_records())
    status, body = chat(envoy, "sk-walker")
    assert status == 429
    assert json.loads(body) == {"error": {
        "message": "Budget has been exceeded! Key=walker Current cost: 0.000116, Max budget: 0.0001",
        "type": "budget_exceeded", "param": None, "code": "429"}}
    assert len(fake_upstream.take_records()) == upstream_before == 4
    # Counted as LiteLLM counts a refusal: a failed proxy request, BudgetExceededError.
    envoy.wait_for(lambda t: any(labels.get("exception_class") == "BudgetExceededError"
                                 and labels.get("exception_status") == "429" and v == 1
                                 for labels, v in envoy_samples(t, "litellm_proxy_failed_requests_metric_total")),
                   what="the refusal in litellm_proxy_failed_requests_metric_total")

    # Slack: each event once (the batch interval is 1 s; let a few pass before counting).
    def slack():
        texts = [r["json"]["text"] for r in received(webhook, SLACK_PATH)]
        return texts if sum("Budget Crossed" in t for t in texts) >= 1 else None

    wait_until(slack, 20, lambda: f"the budget_crossed Slack alert; got {webhook.take_records()}")
    time.sleep(2.5)  # a few batch intervals: an extra (wrong) alert would have arrived
    texts = [r["json"]["text"] for r in received(webhook, SLACK_PATH)]
    messages = [t.split("\n\nMessage: ", 1)[1] for t in texts]
    info = "*max_budget:* `0.0001`\n*soft_budget:* `5e-05`\n*key_alias:* `walker`\n*event_group:* `key`\n"
    soft = "Key Budget: Total Soft Budget:`5e-05`\n\n*spend:* `5.8e-05`\n" + info
    threshold = "Key Budget: Total Soft Budget:`5e-05`15% or less of budget remaining\n\n*spend:* `8.7e-05`\n" + info
    crossed = ("Key Budget: Total Soft Budget:`5e-05`Budget Crossed\n Total Budget:`0.0001`\n\n"
               "*spend:* `0.000116`\n" + info)
    for want in (soft, threshold, crossed):
        assert messages.count(want) == 1, (want, messages)
    assert all(t.startswith("Alert type: `budget_alerts`\nLevel: `High`\nTimestamp: `") for t in texts)

    # The generic webhook: LiteLLM's JSON, fields in LiteLLM's order, one per event.
    bodies = [r["body"] for r in received(webhook, GENERIC_PATH)]
    events_sent = [json.loads(b)["event"] for b in bodies]
    for event in ("soft_budget_crossed", "threshold_crossed", "budget_crossed"):
        assert events_sent.count(event) == 1, events_sent
    assert set(events_sent) <= {"projected_limit_exceeded", "soft_budget_crossed", "threshold_crossed",
                                "budget_crossed"}
    [crossed_body] = [b for b in bodies if json.loads(b)["event"] == "budget_crossed"]
    assert crossed_body == (
        '{"spend":0.000116,"max_budget":0.0001,"soft_budget":0.00005,"token":"' + hashed + '",'
        '"customer_id":null,"user_id":null,"team_id":null,"team_alias":null,"organization_id":null,'
        '"user_email":null,"key_alias":"walker","projected_exceeded_date":null,"projected_spend":null,'
        '"event_group":"key","alert_emails":null,"max_budget_alert_emails":null,"event":"budget_crossed",'
        '"event_message":"Key Budget: Total Soft Budget:`5e-05`Budget Crossed\\n Total Budget:`0.0001`"}')


def test_without_enforcement_the_key_over_budget_goes_on(start_envoy, webhook):
    config, env = budget_config(webhook, enforce=False)
    envoy = start_envoy(config, env_vars=env)
    for _ in range(5):
        assert chat(envoy, "sk-walker") == (200, OK_BODY)


def test_model_without_price_is_counted_and_alerted_once_traffic_untouched(start_envoy, webhook, fake_upstream):
    config = {
        "model_list": [priced("unpriced", "openai/no-such-priced-model", None, None)],
        "general_settings": {"alerting": ["slack"], "alert_types": ["failed_tracking_spend"],
                             "alerting_args": {"batch_interval_seconds": 1}},
        "telemetry_settings": {"metrics_flush_interval_ms": FLUSH_MS},
    }
    envoy = start_envoy(config, env_vars={"SLACK_WEBHOOK_URL": webhook.url + SLACK_PATH})
    for _ in range(3):
        assert chat(envoy, "sk-unpriced", "unpriced") == (200, OK_BODY)
    assert len(fake_upstream.take_records()) == 3
    envoy.wait_for_line("llm_telemetry_spend_untracked_requests_total{} 3")
    tokens = lambda t: sum(v for _, v in envoy_samples(t, "litellm_total_tokens_metric_total"))  # noqa: E731
    text = envoy.wait_for(lambda t: t if tokens(t) == 3 * USAGE["total_tokens"] else None, what="tokens")
    assert "litellm_spend_metric_picodollars_total" not in text

    def alerts():
        got = [r["json"]["text"] for r in received(webhook, SLACK_PATH)]
        return got or None

    wait_until(alerts, 20, "the failed_tracking_spend alert")
    time.sleep(2.5)  # a few batch intervals: an extra (wrong) alert would have arrived
    [text] = [r["json"]["text"] for r in received(webhook, SLACK_PATH)]
    assert text.startswith("Alert type: `failed_tracking_spend`\nLevel: `High`\nTimestamp: `")
    # LiteLLM's cost-callback text; the alert engine shows its line breaks as `\n` (the message
    # carries a client's model name, which must not add lines of its own to the alert).
    assert text.split("\n\nMessage: ", 1)[1] == (
        "Failed Tracking Cost for Error in tracking cost callback - Cost tracking failed for "
        "model=no-such-priced-model.\\nDebug info - This model isn't mapped yet. model=no-such-priced-model, "
        "custom_llm_provider=openai. Add it here - "
        "https://github.com/BerriAI/litellm/blob/main/model_prices_and_context_window.json.\\n"
        "Add custom pricing - https://docs.litellm.ai/docs/proxy/custom_pricing\\n")
