"""Hostile traffic end to end: what a client (or a broken upstream) controls cannot forge a label,
spoof an alert, hide a failure or break Envoy's own metrics. Exact /stats/prometheus lines and
exact webhook bodies, as in test_metrics.py and test_alerts.py (whose helpers are reused)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

from test_metrics import (FAST, FLUSH_MS, USAGE_CHAT, Expected, chat, ctx_for, expect_failure,
                          expect_success, filter_lines, parse_sample, wait_state)


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
        header("llm_exceptions", "High") + "LLM API call failed: `litellm.InternalServerError: InternalServerError: "
        f"OpenAIException - {ERR_TEXT}\nModel: x-&lt;!channel&gt;\n"
        f"API Base: `{api_base}`\nMessages: `[{{'role': 'user', 'content': 'hi &lt;https://evil|Okta&gt;'}}]`\n"
        "model_group: `x-&lt;!channel&gt;`\n`"
        "\n\n*Alerting Metadata*: \nrunbook: `'\\n*Level:* 'Low' @\u2060here`\n\n")


# --- failures look like failures ------------------------------------------------------------------

BROKEN_CASES = [
    # (what, request body, fake-upstream headers)
    ("json reset mid-body", chat(), {"x-fake-break": "reset"}),
    ("json content-length longer than the body", chat(), {"x-fake-break": "length-long"}),
    ("json content-length shorter than the body", chat(), {"x-fake-break": "length-short"}),
    ("json chunked encoding cut inside a chunk", chat(), {"x-fake-break": "chunked"}),
    ("stream reset mid-event", chat(stream=True, stream_options={"include_usage": True}),
     {"x-fake-break": "reset:700"}),
    ("stream chunked encoding cut", chat(stream=True, stream_options={"include_usage": True}),
     {"x-fake-break": "chunked:700"}),
]


def test_an_upstream_that_breaks_the_body_is_a_failed_request(start_envoy, fake_upstream):
    """Reset, a content-length that disagrees with the body, chunked encoding cut short: the
    client got a 200 and a body it cannot use. Each is one failed request with LiteLLM's class for
    a broken upstream connection and one unreadable reason; nothing lands in the success families."""
    envoy = start_envoy(FAST)
    for what, body, headers in BROKEN_CASES:
        try:
            status, _, _ = envoy.request("POST", "/v1/chat/completions", body, headers, timeout=10)
            assert status == 200, what
        except (http.client.IncompleteRead, ConnectionError):
            pass  # the client sees the break too (all but the short content-length)
    # Every body broke after the model was named (the first event of a stream is 328 bytes).
    ctx = ctx_for(fake_upstream.port, "gpt-4o", "gpt-4o-2024-08-06")
    exp = expect_failure(Expected(), ctx, 200, "Openai.APIConnectionError", n=len(BROKEN_CASES))
    exp.own("llm_telemetry_unreadable_bodies_total", {"reason": "response_incomplete",
                                                      "route": "/v1/chat/completions"}, len(BROKEN_CASES))
    wait_state(envoy, exp)


def test_garbage_inside_a_stream_is_counted_and_the_stream_still_served(start_envoy, fake_upstream):
    envoy = start_envoy(FAST)
    body = chat(stream=True, stream_options={"include_usage": True})
    status, _, data = envoy.request("POST", "/v1/chat/completions", body, {"x-fake-garbage": "20000"})
    assert status == 200 and data.endswith(b"data: [DONE]\n\n") and len(data) > 20000
    ctx = ctx_for(fake_upstream.port, "gpt-4o", "gpt-4o-2024-08-06", service_tier="default")
    exp = expect_success(Expected(), ctx, dict(USAGE_CHAT, cached=0, reasoning=0), stream=True)
    exp.own("llm_telemetry_unreadable_bodies_total", {"reason": "response_malformed_sse",
                                                      "route": "/v1/chat/completions"}, 1)
    wait_state(envoy, exp)


# --- alert delivery: Envoy's own metrics stay intact ------------------------------------------------

def test_a_webhook_on_127_0_0_1_leaves_envoys_cluster_metrics_intact(start_envoy, webhook):
    """Envoy's cluster_name extractor ends a cluster name at the first dot: the webhook cluster
    is named without dots, so its stats keep one `envoy_cluster_name` and the usual metric names."""
    from test_alerts import SECRET_PATH, wait_texts

    cfg = {"general_settings": {"alerting": ["slack"], "alert_types": ["llm_exceptions"],
                                "alerting_args": {"batch_interval_seconds": 1}}}
    envoy = start_envoy(cfg, env_vars={"SLACK_WEBHOOK_URL": webhook.url + SECRET_PATH})
    status, _, _ = envoy.request("POST", "/v1/chat/completions", chat(), {"x-fake-status": "500"})
    assert status == 500
    wait_texts(webhook, 1)
    name = f"webhook_127_0_0_1_{webhook.port}"
    line = f'envoy_cluster_upstream_rq_total{{envoy_cluster_name="{name}"}} 1'
    text = envoy.wait_for_line(line)
    cluster_lines = [ln for ln in text.splitlines() if ln.startswith("envoy_cluster_")]
    broken = [ln for ln in cluster_lines if "0_0_1" in ln.split("{")[0] or 'envoy_cluster_name="webhook_127"' in ln]
    assert not broken, "\n".join(broken)
    assert sum(f'envoy_cluster_name="{name}"' in ln for ln in cluster_lines) > 20


def test_webhook_clusters_override_still_routes_alerts(start_envoy, webhook):
    """`general_settings.webhook_clusters` names the operator's own cluster (Istio's
    `outbound|443||host`, ...): render.py generates none for that host, alerts go to the named one."""
    from test_alerts import SECRET_PATH, wait_texts

    cfg = {"general_settings": {"alerting": ["slack"], "alert_types": ["llm_exceptions"],
                                "alerting_args": {"batch_interval_seconds": 1},
                                "webhook_clusters": {f"127.0.0.1:{webhook.port}": "operators.sink"}}}
    envoy = start_envoy(cfg, env_vars={"SLACK_WEBHOOK_URL": webhook.url + SECRET_PATH},
                        clusters_extra=[("operators.sink", "127.0.0.1", webhook.port, False)])
    clusters = envoy.admin_get("/clusters")
    assert f"webhook_127_0_0_1_{webhook.port}" not in clusters and "operators.sink::" in clusters
    status, _, _ = envoy.request("POST", "/v1/chat/completions", chat(), {"x-fake-status": "500"})
    assert status == 500
    assert len(wait_texts(webhook, 1)) == 1


# --- exact accounting under --concurrency 2 with mixed traffic and clients hanging up -------------

def _hang_up_after_first_chunk(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/v1/chat/completions", json.dumps(chat(stream=True, stream_options={"include_usage": True})),
                 {"content-type": "application/json", "x-fake-chunk-delay-ms": "200"})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.read1(65536).startswith(b"data: ")
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()


def _hang_up_before_any_response(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        body = json.dumps(chat()).encode()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                  b"x-fake-delay-ms: 600\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        time.sleep(0.2)  # the request is with the upstream, which answers after 600 ms


def test_every_request_counted_once_over_two_workers_with_mixed_traffic_and_hang_ups(start_envoy):
    envoy = start_envoy(FAST, concurrency=2)
    stream = chat(stream=True, stream_options={"include_usage": True})
    plain = [
        (chat(), {}), (chat(), {}), (chat(), {"x-fake-gzip": "1"}), (chat(), {}),
        (stream, {}), (stream, {"x-fake-chunk-size": "7"}),
        (chat(), {"x-fake-status": "429"}), (chat(), {"x-fake-status": "500"}),
        (chat(), {"x-fake-break": "reset"}), (stream, {"x-fake-break": "reset:700"}),
        (stream, {"x-fake-garbage": "5000"}),
    ] + [(chat(f"client-model-{i}"), {}) for i in range(4)]
    plain = plain * 2
    hang_ups = [_hang_up_after_first_chunk] * 3 + [_hang_up_before_any_response] * 3
    errors: list[BaseException] = []

    def send(body, headers):
        try:
            envoy.request("POST", "/v1/chat/completions", body, headers, timeout=20)
        except (http.client.IncompleteRead, ConnectionError):
            pass  # the broken upstreams
        except BaseException as e:  # noqa: BLE001 - re-raised below
            errors.append(e)

    def hang_up(fn):
        try:
            fn(envoy.port)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=send, args=c) for c in plain]
    threads += [threading.Thread(target=hang_up, args=(f,)) for f in hang_ups]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    n = len(plain) + len(hang_ups)
    failed = 2 * 4 + 3  # 429, 500 and two broken bodies per round; three clients gone before any answer

    def totals(text):
        sums: dict[str, float] = {}
        for ln in filter_lines(text):
            name, labels, value = parse_sample(ln)
            sums[name] = sums.get(name, 0) + float(value)
            if name == "litellm_proxy_total_requests_metric_total":
                key = f"status={labels['status_code']}"
                sums[key] = sums.get(key, 0) + float(value)
        return sums

    # Usage from each whole response: 4 JSON + 2 streams + 2 garbage-laden streams + 4 new models,
    # twice; the hung-up streams were cut before their usage chunk.
    expected = {
        "litellm_proxy_total_requests_metric_total": n,
        "litellm_proxy_failed_requests_metric_total": failed,
        "litellm_deployment_success_responses_total": n - failed,
        "litellm_requests_metric_total": n - failed,
        "status=499": 3,  # a client gone before any answer
        "status=429": 2,
        "status=500": 2,
        "litellm_request_total_latency_metric_count": n - failed,
        "litellm_total_tokens_metric_total": 2 * (4 * 29 + 3 * 29 + 4 * 29),
    }

    def counted(text):
        t = totals(text)
        return {k: t.get(k) for k in expected}

    # The new label sets' stats are defined under the per-second budget, family by family: the
    # totals are complete once every family's definitions are through, whatever the machine's pace.
    envoy.wait_for(lambda text: counted(text) == expected, timeout=60,
                   what=f"every family complete: {expected}")
    time.sleep(4 * FLUSH_MS / 1000)
    assert counted(envoy.prometheus()) == expected, "nothing counted twice after the totals settled"
    assert envoy_requests(envoy) == n


def envoy_requests(envoy) -> int:
    """Envoy's own count of requests on the LLM listener."""
    for ln in envoy.admin_get("/stats?filter=^http.llm.downstream_rq_total$").splitlines():
        return int(ln.rsplit(" ", 1)[1])
    return 0


# --- secrets -------------------------------------------------------------------------------------

def test_the_filter_logs_no_secret_even_where_envoy_does(start_envoy, webhook, monkeypatch):
    """At debug level Envoy itself prints request headers (the API key) and callout paths (the
    webhook's secret): README says so. The filter's own lines never carry either, and a webhook
    URL passed through `host_env_keys` stays out of /config_dump."""
    secret_path, key = "/hooks/T0/B0/HOSTSECRETxyz", "sk-DEBUGSECRET-e2e"
    monkeypatch.setenv("SLACK_WEBHOOK_URL", webhook.url + secret_path)  # Envoy inherits it
    cfg = {"general_settings": {"alerting": ["slack"], "alert_types": ["llm_exceptions"],
                                "alerting_args": {"batch_interval_seconds": 1}}}
    envoy = start_envoy(cfg, host_env_keys=["SLACK_WEBHOOK_URL"], log_level="debug")
    status, _, _ = envoy.request("POST", "/v1/chat/completions", chat(),
                                 {"authorization": f"Bearer {key}", "x-fake-status": "500"})
    assert status == 500
    from test_alerts import wait_texts
    assert len(wait_texts(webhook, 1, path=secret_path)) == 1
    assert "HOSTSECRET" not in envoy.admin_get("/config_dump")
    envoy.stop()
    log = envoy.log().splitlines()
    ours = [ln for ln in log if "llm-telemetry" in ln]
    assert ours, "the filter logged nothing"
    assert not [ln for ln in ours if key in ln or "HOSTSECRET" in ln]
    # What README warns about: Envoy's own debug lines (http, router) do show both.
    assert any(key in ln for ln in log) and any("HOSTSECRET" in ln for ln in log)
