"""Hostile traffic end to end: what a client (or a broken upstream) controls cannot forge a label,
spoof an alert, hide a failure or break Envoy's own metrics. Exact /stats/prometheus lines and
exact webhook bodies, as in test_metrics.py and test_alerts.py (whose helpers are reused)."""

from __future__ import annotations

import json

from test_metrics import (FAST, USAGE_CHAT, Expected, chat, ctx_for, expect_success, filter_lines,
                          wait_state)


# --- no label can be forged through an Envoy tag extractor ------------------------------------------

def test_client_values_shaped_like_envoy_tags_add_no_label(start_envoy, fake_upstream):
    """`_rq_503` / `_rq_2xx` at the end of a stat name are Envoy's default response-code
    extractors: a client's User-Agent or metadata ending the name would add
    `envoy_response_code(_class)`. Every name ends with a fixed `;`, so nothing is added."""
    cfg = {**FAST, "litellm_settings": {"custom_prometheus_metadata_labels": ["metadata.app"]}}
    envoy = start_envoy(cfg)
    status, _, _ = envoy.request("POST", "/v1/chat/completions",
                                 chat(metadata={"app": "billing_rq_2xx"}), {"user-agent": "evil_rq_503"})
    assert status == 200
    ctx = ctx_for(fake_upstream.port, "gpt-4o", "gpt-4o-2024-08-06", service_tier="default",
                  user_agent="evil_rq_503", _custom={"metadata_app": "billing_rq_2xx"})
    text = wait_state(envoy, expect_success(Expected(), ctx, USAGE_CHAT))
    ours = [ln for ln in text.splitlines() if ln.startswith(("litellm_", "llm_telemetry_"))]
    assert ours and not [ln for ln in ours if "envoy_" in ln], "\n".join(ln for ln in ours if "envoy_" in ln)
    assert len(filter_lines(text)) > 0


# --- alert texts: client values cannot mention, link or add lines -------------------------------------

def test_model_named_like_a_slack_mention_raises_an_alert_without_one(start_envoy, fake_upstream, webhook):
    from test_alerts import ERR_TEXT, SECRET_PATH, header, wait_texts

    cfg = {"general_settings": {"alerting": ["slack"], "alert_types": ["llm_exceptions"],
                                "alerting_args": {"batch_interval_seconds": 1}}}
    envoy = start_envoy(cfg, env_vars={"SLACK_WEBHOOK_URL": webhook.url + SECRET_PATH})
    body = {"model": "x-<!channel>", "messages": [{"role": "user", "content": "hi <https://evil|Okta>"}],
            "metadata": {"alerting_metadata": {"runbook": "`\n*Level:* `Low` @here"}}}
    status, _, _ = envoy.request("POST", "/v1/chat/completions", body, {"x-fake-status": "500"})
    assert status == 500
    [text] = wait_texts(webhook, 1)
    api_base = f"http://127.0.0.1:{fake_upstream.port}/v1"
    assert text == (
        header("llm_exceptions", "High") + f"LLM API call failed: `{ERR_TEXT}`\nModel: x-&lt;!channel&gt;\n"
        f"API Base: `{api_base}`\nMessages: `[{{'role': 'user', 'content': 'hi &lt;https://evil|Okta&gt;'}}]`\n"
        "model_group: `x-&lt;!channel&gt;`\n"
        "\n\n*Alerting Metadata*: \nrunbook: `'\\n*Level:* 'Low' @\u2060here`\n\n")
