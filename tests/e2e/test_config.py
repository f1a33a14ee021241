"""End to end: how a real Envoy treats the plugin configuration.

- An invalid configuration never takes Envoy down by default: at bootstrap and on an xDS (ECDS)
  update the filter passes traffic through untouched, logs the error naming the field with the
  filter's exact message, and sets `llm_telemetry_config_invalid` to 1 (0 again once a valid one
  arrives). `telemetry_settings.on_invalid_config: refuse` makes Envoy refuse it instead: the
  bootstrap does not start (`envoy --mode validate` fails), an ECDS update is rejected and the
  last good configuration keeps counting.
- LiteLLM settings a filter cannot use are accepted and logged once, by key name only.
- Secrets (the master key, API keys, values of ignored settings) appear nowhere in Envoy's log or
  stats.
- `prometheus_metrics_config` selects the families and labels that are emitted.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest
import yaml

from harness import Envoy, fixture_bytes, validate_config, wait_until, wasm_path

FLUSH_MS = 100
PREFIX = "llm-telemetry: invalid plugin configuration: "

# (plugin config, the exact error config.rs reports). Messages copied from the filter's contract
# (filter/core/src/config/): the JSON path, a colon, what is wrong.
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
                 "inject_stream_usage, on_invalid_config, max_capture_bytes, max_series_per_metric, "
                 "max_values_per_label, max_label_value_bytes, metrics_flush_interval_ms, max_tracked_keys, "
                 "max_new_stats_per_second, metric_names, logging, teams, users, end_users, enforce_budgets, max_budget_holders",
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
    pytest.param({"telemetry_settings": {"on_invalid_config": "refuze"}},
                 'telemetry_settings.on_invalid_config: unknown value "refuze"; expected one of pass_through, refuse',
                 id="on_invalid_config-unknown"),
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


PASS_THROUGH = "; traffic passes through untouched, without telemetry, until a valid one arrives"
REFUSED = "; refused (telemetry_settings.on_invalid_config: refuse)"


def _error_line(output: str) -> str:
    [line] = [ln for ln in output.splitlines() if PREFIX in ln]
    return line


def _refusing(plugin_config):
    """The same configuration asking Envoy to refuse it (text that is not JSON cannot ask)."""
    if isinstance(plugin_config, str):
        return plugin_config
    out = dict(plugin_config)
    out["telemetry_settings"] = {**plugin_config.get("telemetry_settings", {}), "on_invalid_config": "refuse"}
    return out


@pytest.mark.parametrize("plugin_config, message", INVALID)
def test_invalid_config_is_reported_naming_the_field_and_envoy_accepts_it(start_envoy, tmp_path, plugin_config,
                                                                          message):
    path = tmp_path / "envoy.yaml"
    path.write_text(_render_raw(start_envoy, plugin_config))
    ok, output = validate_config(path)
    assert ok, f"Envoy refused a configuration the filter should pass through:\n{output}"
    line = _error_line(output)
    if message is None:
        assert PREFIX + "config: invalid JSON: " in line and line.endswith(PASS_THROUGH), line
    else:
        # The line ends with the message and what happens: no value appended.
        assert line.endswith(PREFIX + message + PASS_THROUGH), line


@pytest.mark.parametrize("plugin_config, message", [p for p in INVALID if p.id != "not-json"])
def test_invalid_config_is_refused_when_on_invalid_config_says_refuse(start_envoy, tmp_path, plugin_config,
                                                                      message):
    path = tmp_path / "envoy.yaml"
    path.write_text(_render_raw(start_envoy, _refusing(plugin_config)))
    ok, output = validate_config(path)
    if plugin_config.get("telemetry_settings", {}).get("on_invalid_config") == "refuze":
        # A misspelt policy cannot ask for anything: it is reported, and the default applies.
        assert ok, output
        return
    assert not ok, f"Envoy accepted an invalid plugin config with on_invalid_config: refuse:\n{output}"
    assert _error_line(output).endswith(PREFIX + message + REFUSED), output


def test_invalid_config_at_bootstrap_passes_traffic_through_untouched(start_envoy, tmp_path, fake_upstream):
    text = start_envoy.render({"telemetry_settings": {"max_series_per_metric": 0}})
    envoy = Envoy(text, tmp_path)
    start_envoy.started.append(envoy)
    envoy.start(timeout=30)
    chat = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    status, _, chunks = envoy.stream("/v1/chat/completions", chat)
    assert status == 200
    # Untouched: no stream_options added to the request, the response as the upstream sent it.
    assert json.loads(fake_upstream.take_records()[-1]["body"]) == chat
    assert b"".join(chunks) == fixture_bytes("chat_stream_no_usage.sse")
    envoy.wait_for_line("llm_telemetry_config_invalid{} 1")
    assert envoy.prom_lines("litellm_") == []
    envoy.stop()
    want = PREFIX + "telemetry_settings.max_series_per_metric: expected a positive integer, got number 0" + PASS_THROUGH
    lines = [ln for ln in envoy.log().splitlines() if PREFIX in ln]
    assert len(lines) == 1 and lines[0].endswith(want), envoy.log()


def test_invalid_config_with_refuse_stops_envoy_from_starting(start_envoy, tmp_path):
    """Not only `--mode validate`: a real start fails too, with the same log line."""
    text = start_envoy.render({"telemetry_settings": {"max_series_per_metric": 0, "on_invalid_config": "refuse"}})
    envoy = Envoy(text, tmp_path)
    try:
        with pytest.raises(RuntimeError):
            envoy.start(timeout=30)
        assert envoy.proc.wait(10) != 0
        log = envoy.log()
        assert (PREFIX + "telemetry_settings.max_series_per_metric: expected a positive integer, got number 0"
                + REFUSED) in log, log
    finally:
        envoy.stop()


# --- ECDS: the filter's configuration from a file Envoy watches ------------------------------------

def _ecds_bootstrap(start_envoy, discovery_file: Path) -> str:
    """A bootstrap whose llm_telemetry filter comes through ECDS from `discovery_file` (a
    DiscoveryResponse Envoy re-reads when a file is moved into its directory)."""
    doc = yaml.safe_load(start_envoy.render({}))
    doc["node"] = {"id": "e2e", "cluster": "e2e"}  # xDS subscriptions need a node
    hcm = doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    i = next(i for i, f in enumerate(hcm["http_filters"]) if f["name"] == "llm_telemetry")
    hcm["http_filters"][i] = {"name": "llm_telemetry", "config_discovery": {
        "config_source": {"path_config_source": {"path": str(discovery_file),
                                                 "watched_directory": {"path": str(discovery_file.parent)}},
                          "resource_api_version": "V3"},
        "type_urls": ["type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"]}}
    return yaml.safe_dump(doc, sort_keys=False)


def _publish(start_envoy, discovery_file: Path, plugin_config: dict, version: int) -> None:
    """Writes the filter config as an ECDS resource, atomically (a rename, as Envoy wants)."""
    doc = yaml.safe_load(start_envoy.render(plugin_config))
    hcm = doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    [wasm] = [f for f in hcm["http_filters"] if f["name"] == "llm_telemetry"]
    response = {"version_info": str(version), "resources": [{
        "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
        "name": "llm_telemetry", "typed_config": wasm["typed_config"]}]}
    tmp = discovery_file.with_suffix(f".{version}.tmp")
    tmp.write_text(yaml.safe_dump(response, sort_keys=False))
    os.rename(tmp, discovery_file)


def test_invalid_ecds_update_passes_through_then_a_valid_one_counts_again(start_envoy, tmp_path):
    ecds = tmp_path / "ecds"
    ecds.mkdir()
    discovery = ecds / "llm_telemetry.yaml"
    good = {"telemetry_settings": {"metrics_flush_interval_ms": FLUSH_MS}}
    bad = {"telemetry_settings": {"metrics_flush_interval_ms": FLUSH_MS, "max_capture_bytes": 0}}
    _publish(start_envoy, discovery, good, 1)
    envoy = Envoy(_ecds_bootstrap(start_envoy, discovery), tmp_path)
    start_envoy.started.append(envoy)
    envoy.start(timeout=30)
    embed = {"model": "text-embedding-3-small", "input": "x"}
    series = 'litellm_proxy_total_requests_metric_total{'

    def total() -> float:
        return sum(float(ln.rsplit(" ", 1)[1]) for ln in envoy.prom_lines(series))

    assert envoy.request("POST", "/v1/embeddings", embed)[0] == 200
    envoy.wait_for(lambda t: t if total() == 1 else None, what="the first request counted")
    envoy.wait_for_line("llm_telemetry_config_invalid{} 0")

    _publish(start_envoy, discovery, bad, 2)
    envoy.wait_for_line("llm_telemetry_config_invalid{} 1", timeout=20)
    for _ in range(3):
        assert envoy.request("POST", "/v1/embeddings", embed)[0] == 200
    _publish(start_envoy, discovery, good, 3)
    envoy.wait_for_line("llm_telemetry_config_invalid{} 0", timeout=20)
    assert envoy.request("POST", "/v1/embeddings", embed)[0] == 200
    envoy.wait_for(lambda t: t if total() == 2 else None, what="counted again after the valid update")
    assert total() == 2, "requests under the invalid configuration were counted"
    assert PREFIX + "telemetry_settings.max_capture_bytes: expected a positive integer, got number 0" + PASS_THROUGH \
        in envoy.log()


def test_invalid_ecds_update_with_refuse_is_rejected_and_the_last_good_keeps_counting(start_envoy, tmp_path):
    ecds = tmp_path / "ecds"
    ecds.mkdir()
    discovery = ecds / "llm_telemetry.yaml"
    settings = {"metrics_flush_interval_ms": FLUSH_MS, "on_invalid_config": "refuse"}
    _publish(start_envoy, discovery, {"telemetry_settings": settings}, 1)
    envoy = Envoy(_ecds_bootstrap(start_envoy, discovery), tmp_path)
    start_envoy.started.append(envoy)
    envoy.start(timeout=30)
    _publish(start_envoy, discovery, {"telemetry_settings": {**settings, "max_capture_bytes": 0}}, 2)
    fail = "extension_config_discovery.http_filter.llm_telemetry.config_fail"
    wait_until(lambda: _counter(envoy, fail) == 1, 20, lambda: f"{fail} = 1: {envoy.log()}")
    for _ in range(2):
        assert envoy.request("POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": "x"})[0] == 200
    envoy.wait_for(lambda t: t if sum(float(ln.rsplit(" ", 1)[1]) for ln in envoy.prom_lines(
        "litellm_proxy_total_requests_metric_total{", t)) == 2 else None, what="both requests counted")
    assert PREFIX + "telemetry_settings.max_capture_bytes: expected a positive integer, got number 0" + REFUSED \
        in envoy.log()


def _counter(envoy, name: str) -> int | None:
    for ln in envoy.admin_get("/stats?filter=" + name.replace(".", "\\.") + "$").splitlines():
        key, _, value = ln.partition(": ")
        if key == name:
            return int(value)
    return None


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
        "telemetry_settings": {"on_invalid_config": "refuse"},
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
    "litellm_settings.cache, litellm_settings.drop_params, "
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
    # Also a config invalid for a raw key in the wrong place: the error must not quote it.
    ok, output = start_envoy.validate({"telemetry_settings": {"keys": [unlisted]}})
    assert PREFIX + "telemetry_settings.keys[0]: expected an object, got string" + PASS_THROUGH in output, output
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


def _version() -> str:
    """The workspace version, which the filter names when it starts."""
    text = (Path(__file__).resolve().parents[2] / "Cargo.toml").read_text()
    in_package = False
    for ln in text.splitlines():
        if ln.startswith("["):
            in_package = ln.strip() == "[workspace.package]"
        elif in_package and ln.startswith("version"):
            return ln.split("=", 1)[1].strip().strip('"')
    raise AssertionError("no [workspace.package] version in Cargo.toml")


def test_the_build_serving_a_configuration_is_logged_once(start_envoy):
    envoy = start_envoy({"telemetry_settings": {"metrics_flush_interval_ms": FLUSH_MS}}, concurrency=2)
    status, _, _ = envoy.request("POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": "x"})
    assert status == 200
    envoy.stop()
    started = [ln for ln in envoy.log().splitlines() if "configuration" in ln and " in use" in ln]
    assert len(started) == 1, "\n".join(started)
    head, _, fingerprint = started[0].partition(f"llm-telemetry {_version()}: configuration ")
    assert head and fingerprint.endswith(" in use"), started[0]
    assert len(fingerprint.removesuffix(" in use")) == 16, started[0]


VM_CONFIGURED = "llm-telemetry: VM configured: 0 deployments, alerting off, logging on, metrics flushed every 100 ms"


@pytest.mark.parametrize("wasm_level, shown", [("debug", True), ("info", False)])
def test_the_filter_logs_at_the_level_envoy_logs_wasm_at(start_envoy, wasm_level, shown):
    # The filter's debug line crosses into Envoy only when Envoy's `wasm` component is at debug.
    envoy = start_envoy({"telemetry_settings": {"metrics_flush_interval_ms": FLUSH_MS}}, wasm_log_level=wasm_level)
    status, _, _ = envoy.request("POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": "x"})
    assert status == 200
    envoy.stop()
    lines = [ln for ln in envoy.log().splitlines() if "VM configured" in ln]
    assert bool(lines) == shown, "\n".join(lines)
    assert all(ln.endswith(VM_CONFIGURED) for ln in lines), "\n".join(lines)
