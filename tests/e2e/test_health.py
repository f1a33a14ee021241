"""Deployment health end to end: `litellm_deployment_state`, `litellm_deployment_cooled_down` and the
cooldown alert follow LiteLLM 1.106.2's router rules (filter/core/src/health.rs) over the whole
proxy's requests, whichever worker served them; configured rpm/tpm limits become the limit gauges.
"""

from __future__ import annotations

import re

from harness import wait_until
from test_alerts import API_BASE, SECRET_PATH, chat, header, in_parallel, settle, texts, wait_texts

STATE = "litellm_deployment_state"
COOLED = "litellm_deployment_cooled_down_total"


def deployment(group: str, model: str, **params) -> dict:
    return {"model_name": group, "litellm_params": {"model": model, "api_base": API_BASE, **params}}


def config(router: dict, alert_types: list[str] | None = None, model_list: list | None = None) -> dict:
    cfg = {
        "model_list": model_list or [deployment("gpt-err500", "openai/fake-err500")],
        "router_settings": router,
        "telemetry_settings": {"metrics_flush_interval_ms": 100},
    }
    if alert_types is not None:
        cfg["general_settings"] = {"alerting": ["slack"], "alert_types": alert_types,
                                   "alerting_args": {"batch_interval_seconds": 1}}
    return cfg


def health_lines(envoy, model: str) -> dict[str, list[str]]:
    """The state and cooled-down sample lines of one litellm_model_name."""
    out = {STATE: [], COOLED: []}
    for ln in envoy.prometheus().splitlines():
        for family in out:
            if ln.startswith(family + "{") and f'litellm_model_name="{model}"' in ln:
                out[family].append(ln)
    return out


def labels(model: str, **extra) -> str:
    parts = {"api_base": API_BASE, "api_provider": "openai", "litellm_model_name": model, "model_id": "None", **extra}
    return ",".join(f'{k}="{v}"' for k, v in sorted(parts.items()))


def connections_per_worker(envoy) -> dict[str, int]:
    """Downstream connections each worker accepted on the traffic listener (Envoy's own stats)."""
    per = {}
    for s in envoy.stats_json()["stats"]:
        # The traffic listener binds port 0 (the admin listener has no per-worker stats).
        m = re.match(r"listener\.127\.0\.0\.1_0\.(worker_\d+)\.downstream_cx_total$", s.get("name", ""))
        if m:
            per[m.group(1)] = s["value"]
    return per


def wait_health(envoy, model: str, want: dict[str, list[str]]) -> None:
    wait_until(lambda: health_lines(envoy, model) == want, 15,
               lambda: f"health of {model}: {health_lines(envoy, model)}, want {want}")


def test_state_counts_failures_from_both_workers(start_envoy):
    # allowed_fails 11: the 12th failure within cooldown_time cools the deployment down. The first
    # 11 land on both workers, so neither worker alone ever sees 12: only the merged count does.
    envoy = start_envoy(config({"allowed_fails": 11, "cooldown_time": 60}), concurrency=2)
    in_parallel(11, lambda i: chat(envoy, "gpt-err500", status=500))
    per_worker = connections_per_worker(envoy)
    assert len(per_worker) == 2 and all(n >= 1 for n in per_worker.values()), per_worker
    settle(1.5)
    assert health_lines(envoy, "fake-err500") == {STATE: [f"{STATE}{{{labels('fake-err500')}}} 1"], COOLED: []}
    chat(envoy, "gpt-err500", status=500)
    wait_health(envoy, "fake-err500", {
        STATE: [f"{STATE}{{{labels('fake-err500')}}} 2"],
        COOLED: [f"{COOLED}{{{labels('fake-err500', exception_status='500')}}} 1"],
    })
    # Within the cooldown, more failures start no second cooldown; a success heals it.
    in_parallel(4, lambda i: chat(envoy, "gpt-err500", status=500))
    chat(envoy, "gpt-err500")
    wait_health(envoy, "fake-err500", {
        STATE: [f"{STATE}{{{labels('fake-err500')}}} 0"],
        COOLED: [f"{COOLED}{{{labels('fake-err500', exception_status='500')}}} 1"],
    })
    assert "llm_telemetry_health_outcomes_dropped_total" not in envoy.prometheus()


PAIR = [deployment("gpt-pair", "openai/fake-pair-a"), deployment("gpt-pair", "openai/fake-pair-b")]


def test_a_429_in_a_group_of_two_cools_down_and_is_alerted(start_envoy, webhook):
    # LiteLLM's base case: a rate-limited deployment with an alternative in its group cools down
    # at once, for the router's cooldown_time (default 5 s).
    envoy = start_envoy(config({}, ["cooldown_deployment"], PAIR),
                        env_vars={"SLACK_WEBHOOK_URL": webhook.url + SECRET_PATH})
    chat(envoy, "gpt-pair", status=429)
    wait_health(envoy, "fake-pair-a", {
        STATE: [f"{STATE}{{{labels('fake-pair-a')}}} 2"],
        COOLED: [f"{COOLED}{{{labels('fake-pair-a', exception_status='429')}}} 1"],
    })
    assert wait_texts(webhook, 1) == [
        header("cooldown_deployment", "Low")
        + "`Deployment cooled down - rate limited, and the model group has other deployments`\n"
        f"Model: `fake-pair-a`\nAPI Base: `{API_BASE}`\nmodel_group: `gpt-pair`\n"
        "Exception Status Code: `429`\nCooldown Time: `5.0s`"]


def test_disable_cooldowns_is_honoured(start_envoy, webhook):
    # The same 429s, 401s and 404s, each of which cools a deployment down at once otherwise: with
    # disable_cooldowns only LiteLLM's partial outage (1) remains, no cooldown is counted or alerted.
    envoy = start_envoy(config({"disable_cooldowns": True}, ["cooldown_deployment"], PAIR),
                        env_vars={"SLACK_WEBHOOK_URL": webhook.url + SECRET_PATH})
    for status in (429, 401, 404) * 3:
        chat(envoy, "gpt-pair", status=status)
    wait_health(envoy, "fake-pair-a", {STATE: [f"{STATE}{{{labels('fake-pair-a')}}} 1"], COOLED: []})
    settle()
    assert health_lines(envoy, "fake-pair-a") == {STATE: [f"{STATE}{{{labels('fake-pair-a')}}} 1"], COOLED: []}
    assert texts(webhook) == []
    assert 'alert_type="cooldown_deployment"' not in envoy.prometheus()
    log = envoy.log()
    assert "router_settings.disable_cooldowns" not in log, "honoured, not logged as ignored"


def test_limit_gauges_are_the_configured_limits(start_envoy):
    # LiteLLM 1.106.2 showed 1000 for `rpm: 1000` whose upstream said 5000; the upstream's limit
    # headers give no gauge to a deployment without configured limits.
    envoy = start_envoy(config({}, model_list=[deployment("gpt-limited", "openai/fake-limited", rpm=1000, tpm=90000),
                                               deployment("gpt-free", "openai/fake-free")]))
    limits = {"x-fake-ratelimit": "limit_requests=5000,limit_tokens=1,remaining_requests=7"}
    for model in ("gpt-limited", "gpt-free"):
        status, _, _ = envoy.request("POST", "/v1/chat/completions",
                                     {"model": model, "messages": [{"role": "user", "content": "hi"}]}, limits)
        assert status == 200

    def limit_lines():
        return sorted(ln for ln in envoy.prometheus().splitlines()
                      if ln.startswith(("litellm_deployment_rpm_limit{", "litellm_deployment_tpm_limit{")))

    base = labels("fake-limited", model_group="gpt-limited")
    want = [f"litellm_deployment_rpm_limit{{{base}}} 1000", f"litellm_deployment_tpm_limit{{{base}}} 90000"]
    wait_until(lambda: limit_lines() == want, 10, lambda: f"limit gauges: {limit_lines()}")
    # The remaining-* gauges do come from the headers, for both.
    remaining = [ln for ln in envoy.prometheus().splitlines() if ln.startswith("litellm_remaining_requests_metric{")]
    assert len(remaining) == 2 and all(ln.endswith(" 7") for ln in remaining), remaining
