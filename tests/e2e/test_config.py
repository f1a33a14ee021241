"""End to end: how a real Envoy treats the plugin configuration.

- An invalid configuration is refused when the plugin loads (`envoy --mode validate` fails, and so
  does starting Envoy), and Envoy's log names the offending field with the filter's exact message.
- LiteLLM settings a filter cannot use are accepted and logged once, by key name only.
- Secrets (the master key, API keys, values of ignored settings) appear nowhere in Envoy's log or
  stats.
- `prometheus_metrics_config` selects the families and labels that are emitted.
"""

from __future__ import annotations

import hashlib
import time
import pytest
import yaml

from harness import Envoy, validate_config, wasm_path

FLUSH_MS = 100
PREFIX = "llm-telemetry: invalid plugin configuration: "

# (plugin config, the exact error config.rs reports). Messages copied from the filter's contract
# (filter/core/src/config.rs): the JSON path, a colon, what is wrong.
INVALID = [
    pytest.param({"telemetry_settings": {"max_series_per_metric": 0}},
                 "telemetry_settings.max_series_per_metric: expected a positive integer, got number 0",
                 id="max_series_per_metric-zero"),
    pytest.param({"telemetry_settings": {"metrics_flush_interval_ms": 1.5}},
                 "telemetry_settings.metrics_flush_interval_ms: expected a positive integer, got number 1.5",
                 id="flush-interval-float"),
    pytest.param({"litellm_settings": {"custom_prometheus_tags": ["prod", 3]}},
                 "litellm_settings.custom_prometheus_tags[1]: expected a string, got number 3",
                 id="custom_prometheus_tags-wrong-type"),
    pytest.param({"litellm_settings": {"custom_prometheus_tags": "prod"}},
                 "litellm_settings.custom_prometheus_tags: expected a list, got string",
                 id="custom_prometheus_tags-not-a-list"),
    pytest.param({"litellm_settings": {"custom_prometheus_metadata_labels": ["user"]}},
                 'litellm_settings.custom_prometheus_metadata_labels[0]: label "user" is already a LiteLLM label',
                 id="metadata-label-clash"),
    pytest.param({"telemetry_settings": {"max_capture": 1}},
                 "telemetry_settings.max_capture: unknown key; expected one of keys, identity_headers, "
                 "inject_stream_usage, max_capture_bytes, max_series_per_metric, "
                 "max_values_per_label, max_label_value_bytes, metrics_flush_interval_ms, max_tracked_keys, "
                 "max_new_stats_per_second, teams, users, end_users, enforce_budgets, max_budget_holders",
                 id="unknown-telemetry-key"),
    pytest.param({"litellm_settings": {"prometheus_metrics_config": [
                     {"group": "g", "metrics": ["litellm_requests_metric", "litellm_bogus"]}]}},
                 "litellm_settings.prometheus_metrics_config[0].metrics[1]: unknown LiteLLM metric",
                 id="unknown-metric"),
    pytest.param({"litellm_settings": {"prometheus_metrics_config": [
                     {"group": "g", "metrics": ["litellm_deployment_state"], "include_labels": ["api_base", "team"]}]}},
                 'litellm_settings.prometheus_metrics_config[0].include_labels[1]: "team" is not a label of '
                 "litellm_deployment_state",
                 id="include-label-not-of-metric"),
    pytest.param({"telemetry_settings": {"identity_headers": {"user": "x user"}}},
                 'telemetry_settings.identity_headers.user: "x user" is not a valid HTTP header name',
                 id="identity-header-name"),
    pytest.param({"model_list": [{"model_name": "m", "litellm_params": {}}]},
                 "model_list[0].litellm_params.model: required key is missing",
                 id="model_list-without-model"),
    pytest.param({"general_settings": {"master_key": "os.environ/E2E_UNSET_MASTER_KEY"}},
                 "general_settings.master_key: environment variable E2E_UNSET_MASTER_KEY is not set",
                 id="master-key-env-unset"),
    pytest.param("{not json",
                 None,  # serde's own wording follows "config: invalid JSON: "
                 id="not-json"),
]


def _render_raw(start_envoy, plugin_config) -> str:
    """A bootstrap whose plugin configuration is `plugin_config` (a str is sent verbatim)."""
    if not isinstance(plugin_config, str):
        return start_envoy.render(plugin_config)
    doc = yaml.safe_load(start_envoy.render({}))
    hcm = doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    [wasm] = [f for f in hcm["http_filters"] if f["name"] == "llm_telemetry"]
    wasm["typed_config"]["config"]["configuration"]["value"] = plugin_config
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.mark.parametrize("plugin_config, message", INVALID)
def test_invalid_config_is_refused_at_load_naming_the_field(start_envoy, tmp_path, plugin_config, message):
    config_text = _render_raw(start_envoy, plugin_config)
    path = tmp_path / "envoy.yaml"
    path.write_text(config_text)
    ok, output = validate_config(path)
    assert not ok, f"Envoy accepted an invalid plugin config:\n{output}"
    want = PREFIX + (message if message is not None else "config: invalid JSON: ")
    assert want in output, f"expected {want!r} in Envoy's output:\n{output}"
    if message is not None:
        # The line ends with the message: nothing (no value) appended after it.
        [line] = [ln for ln in output.splitlines() if PREFIX in ln]
        assert line.endswith(want), line


def test_invalid_config_also_stops_envoy_from_starting(start_envoy, tmp_path):
    """Not only `--mode validate`: a real start fails too, with the same log line."""
    text = start_envoy.render({"telemetry_settings": {"max_series_per_metric": 0}})
    envoy = Envoy(text, tmp_path)
    try:
        with pytest.raises(RuntimeError):
            envoy.start(timeout=30)
        assert envoy.proc.wait(10) != 0
        log = envoy.log()
        assert PREFIX + "telemetry_settings.max_series_per_metric: expected a positive integer, got number 0" in log, log
    finally:
        envoy.stop()


def _alerts_linked() -> bool:
    """Whether the built filter validates alerting settings (their error text is only linked in
    once the host adapter uses the alerts module)."""
    return b"unknown alert type" in wasm_path().read_bytes()


def test_unknown_alert_type_is_refused(start_envoy, webhook):
    if not _alerts_linked():
        pytest.skip("alerting is not wired into build/llm_telemetry.wasm: alert settings are not validated yet")
    ok, output = start_envoy.validate({
        "environment_variables": {"SLACK_WEBHOOK_URL": webhook.url + "/slack"},
        "general_settings": {"alerting": ["slack"], "alert_types": ["llm_exceptions", "llm_exception"]},
    })
    assert not ok, output
    assert PREFIX + 'general_settings.alert_types[1]: unknown alert type "llm_exception"' in output, output


IGNORED_CFG = {
    "litellm_settings": {"callbacks": ["prometheus"], "drop_params": True, "cache": True,
                         "prometheus_metrics_config": [
                             {"group": "g", "metrics": ["litellm_total_users", "litellm_requests_metric"]}]},
    "general_settings": {"database_url": "postgresql://llm:pg-password-e2e@db:5432/litellm",
                         "store_model_in_db": True},
    "router_settings": {"routing_strategy": "simple-shuffle", "num_retries": 2},
    "guardrails": [],
    "telemetry_settings": {"metrics_flush_interval_ms": FLUSH_MS},
}
IGNORED_LINE = (
    "llm-telemetry: ignoring LiteLLM settings a filter cannot use: "
    "litellm_settings.prometheus_metrics_config[0].metrics[0] (litellm_total_users), "
    "litellm_settings.cache, litellm_settings.callbacks, litellm_settings.drop_params, "
    "general_settings.database_url, general_settings.store_model_in_db, "
    "guardrails, router_settings.num_retries, router_settings.routing_strategy")


def _ignored_lines(envoy) -> list[str]:
    """The filter's "ignoring" log lines, read after Envoy stopped (its log file is then complete)."""
    envoy.stop()
    return [ln for ln in envoy.log().splitlines() if "ignoring LiteLLM settings" in ln]


def test_litellm_settings_a_filter_cannot_use_are_accepted_and_logged(start_envoy):
    envoy = start_envoy(IGNORED_CFG)
    # Traffic flows and is counted; the one supported metric of the filter group is emitted.
    status, _, _ = envoy.request("POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": "x"})
    assert status == 200
    text = envoy.wait_for(lambda t: t if "litellm_requests_metric_total{" in t else None, what="litellm_requests_metric")
    assert [ln.split("{")[0] for ln in text.splitlines() if ln.startswith("litellm_")] == ["litellm_requests_metric_total"]
    lines = _ignored_lines(envoy)
    assert lines, envoy.log()
    # Keys by name, in the order the filter reads the sections; never a value.
    for ln in lines:
        assert ln.endswith(IGNORED_LINE), ln
    log = envoy.log()
    assert "pg-password-e2e" not in log
    assert "[error]" not in log and "[critical]" not in log, log


def test_ignored_litellm_settings_are_logged_once(start_envoy):
    envoy = start_envoy(IGNORED_CFG, concurrency=2)
    status, _, _ = envoy.request("POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": "x"})
    assert status == 200
    lines = _ignored_lines(envoy)
    assert len(lines) == 1, "\n".join(lines)


def test_keys_never_appear_in_envoy_log_or_stats(start_envoy, fake_upstream):
    master, listed, unlisted = "sk-master-e2e-0123456789", "sk-listed-e2e-abcdef", "sk-unlisted-e2e-zyxwvu"
    cfg = {
        "environment_variables": {"E2E_LISTED_KEY": listed},
        "general_settings": {"master_key": master},
        "telemetry_settings": {"metrics_flush_interval_ms": FLUSH_MS,
                               "keys": [{"api_key": "os.environ/E2E_LISTED_KEY", "key_alias": "listed"}]},
    }
    envoy = start_envoy(cfg)
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    sent = [
        ({"authorization": f"Bearer {master}"}, {}),
        ({"authorization": f"Bearer {listed}"}, {"x-fake-status": "500"}),
        ({"api-key": unlisted}, {"x-fake-fixture": "malformed.json"}),
        ({"x-api-key": unlisted}, {"x-fake-status": "429", "x-fake-ratelimit": "remaining_requests=0"}),
    ]
    for auth, extra in sent:
        envoy.request("POST", "/v1/chat/completions", chat, {**auth, **extra})
    envoy.stream("/v1/chat/completions", dict(chat, stream=True), {"authorization": f"Bearer {listed}"})
    # Also a config refused for a raw key in the wrong place: the error must not quote it.
    ok, output = start_envoy.validate({"telemetry_settings": {"keys": [unlisted]}})
    assert not ok and PREFIX + "telemetry_settings.keys[0]: expected an object, got string" in output, output
    assert unlisted not in output

    hashed = {k: hashlib.sha256(k.encode()).hexdigest() for k in (listed, unlisted)}

    def counted(text):
        return text if (text.count('hashed_api_key="litellm_proxy_master_key"') and hashed[listed] in text
                        and hashed[unlisted] in text and 'api_key_alias="listed"' in text) else None

    prom = envoy.wait_for(counted, what="the three callers' series")
    texts = {"/stats/prometheus": prom, "/stats": envoy.admin_get("/stats")}
    envoy.stop()  # the log file is complete once Envoy has exited
    texts["Envoy log"] = envoy.log()
    assert "llm-telemetry" in texts["Envoy log"] or "[warning]" in texts["Envoy log"], "empty Envoy log"
    for where, text in texts.items():
        for key in (master, listed, unlisted):
            assert key not in text, f"raw key {key} found in {where}"
        # The master key is labelled by name, never by its hash either.
        assert hashlib.sha256(master.encode()).hexdigest() not in text, where


def test_prometheus_metrics_config_selects_families_and_labels(start_envoy):
    cfg = {
        "litellm_settings": {
            "custom_prometheus_metadata_labels": ["metadata.app"],
            "prometheus_metrics_config": [
                {"group": "tokens", "metrics": ["litellm_total_tokens_metric"],
                 "include_labels": ["model", "requested_model", "metadata_app"]},
                {"group": "requests", "metrics": ["litellm_proxy_total_requests_metric"],
                 "include_labels": ["status_code", "route"]},
            ],
        },
        "telemetry_settings": {"metrics_flush_interval_ms": FLUSH_MS},
    }
    envoy = start_envoy(cfg)
    for status in ("200", "500"):
        envoy.request("POST", "/v1/chat/completions",
                      {"model": "gpt-4o", "messages": [], "metadata": {"app": "crm"}}, {"x-fake-status": status})
    want = {
        'litellm_total_tokens_metric_total{metadata_app="crm",model="gpt-4o-2024-08-06",requested_model="gpt-4o"} 29',
        'litellm_proxy_total_requests_metric_total{route="/v1/chat/completions",status_code="200"} 1',
        'litellm_proxy_total_requests_metric_total{route="/v1/chat/completions",status_code="500"} 1',
    }

    def exact(text):
        got = {ln for ln in text.splitlines() if ln.startswith("litellm_")}
        return text if got == want else None

    envoy.wait_for(exact, what=f"exactly {sorted(want)}")
    time.sleep(4 * FLUSH_MS / 1000)
    assert exact(envoy.prometheus())
