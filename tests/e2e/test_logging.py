"""Per-request logging end to end (issue 11): a real Envoy adds LiteLLM's `x-litellm-*` response
headers, POSTs StandardLoggingPayloads to a generic endpoint and OTLP/HTTP spans to a collector
(both the loopback receiver of webhook_receiver.py), and leaves filter state that the shipped
access-log snippet (envoy/access-log/file-json.yaml) writes one line per request from.

The filter sends from its root tick (one second): tests poll the receiver until the expected
bodies arrive, then assert on them; nothing is timed.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import tempfile
from pathlib import Path

import yaml

from harness import REPO, Envoy, fixture_bytes, wait_until

sys.path.insert(0, str(REPO / "envoy"))
import access_logs  # noqa: E402  (envoy/access_logs.py: the shipped access-log snippets)

OK_BODY = fixture_bytes("chat_completion.json")
OK_JSON = json.loads(OK_BODY)
STREAM_BODY = fixture_bytes("chat_stream_usage.sse")
ERR_BODY = fixture_bytes("error_500.json")
MODEL_LIST = [{
    "model_name": "gpt-4o",
    "litellm_params": {"model": "openai/gpt-4o", "api_base": "http://127.0.0.1:18080/v1"},
    "model_info": {"id": "deployment-gpt-4o-1"},
}]
# Small batches and no retries: every test sees its bodies within a tick or two.
FAST = {"flush_interval_seconds": 0.1, "max_retries": 0, "callout_timeout_ms": 1000}
SECRET_PROMPT = "purple-elephant-prompt-42"
RESPONSE_TEXT = OK_JSON["choices"][0]["message"]["content"]


def config(callbacks=(), litellm: dict | None = None, logging: dict | None = None) -> dict:
    return {
        "model_list": MODEL_LIST,
        "litellm_settings": {"callbacks": list(callbacks), **(litellm or {})},
        "telemetry_settings": {"metrics_flush_interval_ms": 200, "logging": {**FAST, **(logging or {})}},
    }


def chat(envoy, call_id: str, status: int = 200, stream: bool = False, content: str = "hi",
         extra_headers: dict | None = None) -> dict:
    """One chat completion; asserts the client got the upstream's normal answer, returns its headers."""
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": content}]}
    headers = {"x-request-id": call_id, **(extra_headers or {})}
    if stream:
        body["stream"] = True
    if status != 200:
        headers["x-fake-status"] = str(status)
    got, h, data = envoy.request("POST", "/v1/chat/completions", body, headers)
    assert got == status, data
    assert data == {200: STREAM_BODY if stream else OK_BODY, 500: ERR_BODY}[status]
    return h


def received(webhook, path: str) -> list:
    """The JSON bodies POSTed to `path` so far."""
    return [r["json"] for r in webhook.take_records() if r["path"] == path]


def payloads(webhook, path: str = "/log") -> list[dict]:
    """Every StandardLoggingPayload received (each body is a JSON list of them)."""
    return [p for body in received(webhook, path) for p in body]


def spans(webhook) -> list[dict]:
    return [s for body in received(webhook, "/v1/traces")
            for rs in body["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]


def attrs(span: dict) -> dict:
    """A span's attributes as {key: value}."""
    return {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}


def logs_lines(envoy) -> list[str]:
    return [ln for ln in envoy.prometheus().splitlines() if ln.startswith("llm_telemetry_logs_total")]


def test_headers_on_plain_and_streamed_responses(start_envoy):
    envoy = start_envoy(config())
    expected = {
        "x-litellm-model-id": "deployment-gpt-4o-1",
        "x-litellm-model-name": "openai/gpt-4o",
        "x-litellm-model-api-base": "http://127.0.0.1:18080/v1",
        "x-litellm-model-group": "gpt-4o",
        "x-litellm-version": "1.106.2",
    }
    for call_id, stream in (("plain-call-1", False), ("stream-call-1", True)):
        h = chat(envoy, call_id, stream=stream)
        got = {k: v for k, v in h.items() if k.startswith("x-litellm-")}
        assert got == {"x-litellm-call-id": call_id, **expected}, (stream, h)
    # Without a client id, the call id is Envoy's own x-request-id (a UUIDv4).
    _, h, _ = envoy.request("POST", "/v1/chat/completions",
                            {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        h["x-litellm-call-id"]), h
    # Off by a setting.
    off = start_envoy(config(logging={"response_headers": False}))
    h = chat(off, "plain-call-2")
    assert not [k for k in h if k.startswith("x-litellm-")], h


def test_generic_endpoint_gets_a_payload_per_request(start_envoy, webhook):
    envoy = start_envoy(config(["generic_api"]), env_vars={"GENERIC_LOGGER_ENDPOINT": webhook.url + "/log"})
    seen = {
        "ok-1": chat(envoy, "ok-1")["x-litellm-call-id"],
        "stream-1": chat(envoy, "stream-1", stream=True)["x-litellm-call-id"],
        "fail-1": chat(envoy, "fail-1", status=500)["x-litellm-call-id"],
    }
    got = wait_until(lambda: (lambda p: p if len(p) >= 3 else None)(payloads(webhook)), 15,
                     lambda: f"3 payloads, got {payloads(webhook)}")
    assert len(got) == 3, got
    by_id = {p["litellm_call_id"]: p for p in got}
    assert set(by_id) == set(seen.values()) == set(seen)
    ok, stream, fail = by_id["ok-1"], by_id["stream-1"], by_id["fail-1"]
    for p in (ok, stream):
        assert (p["status"], p["prompt_tokens"], p["completion_tokens"], p["total_tokens"]) == \
            ("success", 19, 10, 29), p
        assert p["id"] == OK_JSON["id"]
        assert p["call_type"] == "acompletion"
        assert (p["model_group"], p["model_id"], p["custom_llm_provider"]) == \
            ("gpt-4o", "deployment-gpt-4o-1", "openai")
        assert p["messages"] == [{"role": "user", "content": "hi"}]
        assert p["error_str"] is None
    assert (stream["stream"], ok["stream"]) == (True, None)  # LiteLLM's null when not streamed
    assert ok["response"] == OK_JSON
    assert ok["model_parameters"] == {}
    assert stream["model_parameters"] == {"stream": True}
    assert fail["status"] == "failure"
    assert (fail["prompt_tokens"], fail["completion_tokens"], fail["total_tokens"]) == (0, 0, 0)
    assert fail["error_str"] == "The server had an error while processing your request. Sorry about that!"
    assert fail["error_information"]["error_code"] == "500"
    lines = logs_lines(envoy)
    assert 'llm_telemetry_logs_total{destination="generic_api",outcome="queued"} 3' in lines, lines


def test_otlp_receiver_gets_a_span_per_request(start_envoy, webhook):
    envoy = start_envoy(config(["otel"]), env_vars={"OTEL_ENDPOINT": webhook.url, "OTEL_SERVICE_NAME": "llm-e2e"})
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    chat(envoy, "span-1", extra_headers={"traceparent": f"00-{trace_id}-{parent}-01"})
    chat(envoy, "span-2", stream=True)
    chat(envoy, "span-3", status=500)
    got = wait_until(lambda: (lambda s: s if len(s) >= 3 else None)(spans(webhook)), 15,
                     lambda: f"3 spans, got {received(webhook, '/v1/traces')}")
    assert len(got) == 3
    by_id = {attrs(s)["litellm.call_id"]: s for s in got}
    assert set(by_id) == {"span-1", "span-2", "span-3"}
    joined = by_id["span-1"]
    assert (joined["traceId"], joined["parentSpanId"]) == (trace_id, parent)
    assert "parentSpanId" not in by_id["span-2"] or not by_id["span-2"]["parentSpanId"]
    a = attrs(joined)
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == ("19", "10"), a
    assert a["litellm.model_group"] == "gpt-4o"
    assert attrs(by_id["span-3"])["http.response.status_code"] == "500"
    body = received(webhook, "/v1/traces")[0]
    service = {x["key"]: x["value"] for x in body["resourceSpans"][0]["resource"]["attributes"]}
    assert service["service.name"] == {"stringValue": "llm-e2e"}


def start_with_access_log(start_envoy, plugin_config: dict, env_vars: dict | None = None) -> tuple[Envoy, Path]:
    """An Envoy whose connection manager carries the shipped file-json.yaml access log."""
    log_dir = Path(tempfile.mkdtemp(prefix="access-log-", dir=start_envoy.tmp_root))
    boot = yaml.safe_load(start_envoy.render(plugin_config, env_vars=env_vars))
    hcm = boot["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["access_log"] = access_logs.snippet("file-json.yaml", str(log_dir))
    workdir = Path(tempfile.mkdtemp(prefix="envoy-al-", dir=start_envoy.tmp_root))
    envoy = Envoy(yaml.safe_dump(boot, sort_keys=False), workdir)
    envoy.validate()
    start_envoy.started.append(envoy)
    return envoy.start(), log_dir / "llm-requests.log"


def test_an_access_log_line_per_request_from_the_shipped_config(start_envoy):
    envoy, path = start_with_access_log(start_envoy, config(logging={"filter_state": True}))
    chat(envoy, "al-1")
    chat(envoy, "al-2", stream=True)
    chat(envoy, "al-3", status=500)
    status, _, _ = envoy.request("GET", "/healthz")  # not an LLM request: no line
    lines = wait_until(lambda: (lambda ls: ls if len(ls) >= 3 else None)(
        path.read_text().splitlines() if path.exists() else []), 10, "3 access-log lines")
    entries = [json.loads(ln) for ln in lines]
    assert [e["litellm_call_id"] for e in entries] == ["al-1", "al-2", "al-3"]
    assert [e["x_request_id"] for e in entries] == ["al-1", "al-2", "al-3"]
    assert [e["status"] for e in entries] == ["success", "success", "failure"]
    assert [e["total_tokens"] for e in entries] == ["29", "29", "0"]
    assert [e["response_code"] for e in entries] == [200, 200, 500]
    assert entries[0]["model_group"] == "gpt-4o" and entries[0]["id"] == OK_JSON["id"]
    assert entries[2]["error_str"] == "The server had an error while processing your request. Sorry about that!"


def test_turn_off_message_logging_leaves_no_message_text_anywhere(start_envoy, webhook):
    cfg = config(["generic_api", "otel"], litellm={"turn_off_message_logging": True},
                 logging={"filter_state": True})
    env = {"GENERIC_LOGGER_ENDPOINT": webhook.url + "/log", "OTEL_ENDPOINT": webhook.url}
    envoy, path = start_with_access_log(start_envoy, cfg, env)
    chat(envoy, "quiet-1", content=SECRET_PROMPT)
    chat(envoy, "quiet-2", content=SECRET_PROMPT, stream=True)
    wait_until(lambda: len(payloads(webhook)) >= 2 and len(spans(webhook)) >= 2, 15, "payloads and spans")
    wait_until(lambda: path.exists() and len(path.read_text().splitlines()) >= 2, 10, "access-log lines")
    p = payloads(webhook)[0]
    assert p["messages"] == [{"role": "user", "content": "redacted-by-litellm"}]
    assert p["response"] == {"text": "redacted-by-litellm"}
    everything = "\n".join([r["body"] for r in webhook.take_records()] + [path.read_text(), envoy.log()])
    for text in (SECRET_PROMPT, "bonjour", "Bonjour", "très"):
        assert text not in everything, text


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_endpoint_down_or_slow_costs_requests_nothing(start_envoy, webhook):
    # Down: nothing listens. Every request is answered as usual; every record is dropped, counted.
    down = start_envoy(config(["generic_api"]),
                       env_vars={"GENERIC_LOGGER_ENDPOINT": f"http://127.0.0.1:{closed_port()}/log"})
    for i in range(10):
        chat(down, f"down-{i}", stream=i % 2 == 1)
    want = ['llm_telemetry_logs_total{destination="generic_api",outcome="dropped_retries_exhausted"} 10',
            'llm_telemetry_logs_total{destination="generic_api",outcome="queued"} 10']
    wait_until(lambda: all(w in logs_lines(down) for w in want), 15, lambda: f"{want} in {logs_lines(down)}")

    # Slow: the receiver answers after 3 s, past the callout timeout; the queue holds 2 records.
    with webhook.lock:
        webhook.mode = {"delay_ms": 3000}
    slow = start_envoy(config(["generic_api"], logging={
        "callout_timeout_ms": 200, "queue_max_records": 2, "batch_max_records": 1, "max_pending_bodies": 1}),
        env_vars={"GENERIC_LOGGER_ENDPOINT": webhook.url + "/log"})
    for i in range(10):
        chat(slow, f"slow-{i}")

    def settled():
        counts = {}
        for ln in logs_lines(slow):
            m = re.fullmatch(r'llm_telemetry_logs_total\{destination="generic_api",outcome="(\w+)"\} (\d+)', ln)
            if m:
                counts[m[1]] = int(m[2])
        dropped = sum(v for k, v in counts.items() if k.startswith("dropped_"))
        return counts if counts.get("queued") == 10 and dropped + counts.get("sent", 0) == 10 else None

    counts = wait_until(settled, 20, lambda: f"every record settled: {logs_lines(slow)}")
    assert counts.get("dropped_queue_full", 0) > 0, counts
    assert counts.get("sent", 0) == 0, counts
