"""The alert events replayed through LiteLLM (by record_litellm_alerts.py) and through Envoy + the
filter (by test_alert_parity.py): one LiteLLM config and one request sequence per scenario.

The fake upstream's behaviour (status, delay) rides on request headers. Through LiteLLM they are the
deployment's `extra_headers`; through Envoy the client sends them and Envoy forwards them. Both see
the same upstream answer for the same request, so both should alert alike.

`num_retries: 0`: LiteLLM's router retries twice by default and says so in the exception text;
Envoy retries only under a route's retry policy, and the filter never claims retries (README,
"Differences from LiteLLM").
"""

from __future__ import annotations

API_BASE_MARK = "{API_BASE}"  # the fake upstream's `.../v1`, different per run


def _deployment(group: str, model: str, headers: dict | None = None, region: str | None = None) -> dict:
    params: dict = {"model": model, "api_base": API_BASE_MARK, "api_key": "sk-fake-upstream"}
    if headers:
        params["extra_headers"] = headers
    if region:
        params["region_name"] = region
    return {"model_name": group, "litellm_params": params}


def _config(model_list: list, alert_types: list, args: dict | None = None, router: dict | None = None,
            litellm_settings: dict | None = None) -> dict:
    extra = {"litellm_settings": litellm_settings} if litellm_settings else {}
    return {
        **extra,
        "model_list": model_list,
        "router_settings": {"num_retries": 0, **(router or {})},
        "general_settings": {
            "alerting": ["slack"],
            "alerting_threshold": 1,
            "alert_types": alert_types,
            "alerting_args": {"batch_interval_seconds": 1, **(args or {})},
        },
    }


MESSAGES = [{"role": "user", "content": "hi"}]

# name -> (config, requests: [(model group, extra body fields)], alerts expected)
SCENARIOS: dict[str, tuple[dict, list, int]] = {
    "llm_exceptions_500": (
        _config([_deployment("gpt-err500", "openai/fake-err500", {"x-fake-status": "500"})], ["llm_exceptions"]),
        [("gpt-err500", {})], 1),
    "llm_exceptions_429": (
        _config([_deployment("gpt-err429", "openai/fake-err429", {"x-fake-status": "429"})], ["llm_exceptions"]),
        [("gpt-err429", {})], 1),
    "llm_exceptions_503": (
        _config([_deployment("gpt-err503", "openai/fake-err503", {"x-fake-status": "503"})], ["llm_exceptions"]),
        [("gpt-err503", {})], 1),
    "llm_exceptions_400": (
        _config([_deployment("gpt-err400", "openai/fake-err400", {"x-fake-status": "400"})], ["llm_exceptions"]),
        [("gpt-err400", {})], 1),
    "llm_exceptions_alerting_metadata": (
        _config([_deployment("gpt-err500", "openai/fake-err500", {"x-fake-status": "500"})], ["llm_exceptions"]),
        [("gpt-err500", {"metadata": {"alerting_metadata": {"runbook": "golden-rb-1"}}})], 1),
    "llm_too_slow": (
        _config([_deployment("gpt-slow", "openai/fake-slow3", {"x-fake-delay-ms": "1300"})], ["llm_too_slow"]),
        [("gpt-slow", {})], 1),
    "llm_too_slow_redacted": (
        _config([_deployment("gpt-slow", "openai/fake-slow3", {"x-fake-delay-ms": "1300"})], ["llm_too_slow"],
                litellm_settings={"redact_messages_in_exceptions": True}),
        [("gpt-slow", {})], 1),
    "llm_requests_hanging": (
        _config([_deployment("gpt-hang", "openai/fake-hang", {"x-fake-delay-ms": "4000"})], ["llm_requests_hanging"]),
        [("gpt-hang", {})], 1),
    "outage_alerts": (
        _config([_deployment("gpt-err500", "openai/fake-err500", {"x-fake-status": "500"})], ["outage_alerts"],
                args={"minor_outage_alert_threshold": 3, "major_outage_alert_threshold": 5}),
        [("gpt-err500", {})] * 5, 2),
}


def litellm_config(name: str, api_base: str) -> dict:
    """The scenario's config with the fake upstream's address filled in."""
    import json
    return json.loads(json.dumps(SCENARIOS[name][0]).replace(API_BASE_MARK, api_base))


def upstream_headers(config: dict, group: str) -> dict:
    """The headers LiteLLM would add for `group` (its deployment's `extra_headers`)."""
    for d in config["model_list"]:
        if d["model_name"] == group:
            return dict(d["litellm_params"].get("extra_headers") or {})
    return {}
