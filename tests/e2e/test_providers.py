"""End to end: provider-native traffic (Anthropic Messages, Gemini / Vertex AI, Bedrock) through
real Envoy and the filter, against the fake upstream serving the shared fixtures (JSON, SSE,
streamed JSON arrays, binary AWS event streams). Asserts the exact lines of /stats/prometheus:
LiteLLM's token families with LiteLLM's labels and `api_provider`, the exception classes, and
with `metric_names: both` the gen_ai families beside them.

The expected token counts are LiteLLM's arithmetic on the fixtures (tests/fixtures/README.md),
written out here, never read back from the filter: Anthropic's prompt tokens are input + cache
read + cache creation (LiteLLM's `AnthropicConfig.calculate_usage`), Gemini's output is
candidates + thoughts, Bedrock's input adds its cache reads and writes.
"""

from __future__ import annotations

import re
import struct
from types import SimpleNamespace

import pytest

from harness import EnvoyFactory, fixture_bytes
from test_metrics import (FAST, FLUSH_MS, Expected, ctx_for, expect_failure, expect_success,
                          sha256_hex, wait_state)

SIGV4 = ("AWS4-HMAC-SHA256 Credential={key}/20250101/us-east-1/bedrock/aws4_request, "
         "SignedHeaders=host;x-amz-date, Signature={sig}")


def usage(input, output, total=None, cached=0, cache_creation=0, reasoning=0, input_audio=0):  # noqa: A002
    return dict(total=input + output if total is None else total, input=input, output=output, cached=cached,
                cache_creation=cache_creation, input_audio=input_audio, reasoning=reasoning, output_audio=0)


# LiteLLM's accounting of each fixture.
ANTHROPIC_JSON = usage(12 + 2048 + 1024, 15, cached=2048, cache_creation=1024)
ANTHROPIC_SSE = usage(12 + 2048 + 1024, 87, cached=2048, cache_creation=1024)
GEMINI_JSON = usage(1043, 12 + 28, total=1083, cached=1024, reasoning=28, input_audio=16)
GEMINI_STREAM = usage(9, 12 + 28, total=49, reasoning=28)
BEDROCK_CONVERSE = usage(25 + 1024, 48, total=1097, cache_creation=1024)
BEDROCK_CONVERSE_STREAM = usage(21 + 512, 11, total=544, cached=512)
BEDROCK_INVOKE_STREAM = usage(14 + 2048 + 1024, 12, cached=2048, cache_creation=1024)


@pytest.fixture(scope="module")
def envoy(fake_upstream, webhook, tmp_path_factory):
    """One Envoy (flush every 100 ms) for the scenarios below; each uses its own key and model,
    and compares only the series carrying them."""
    factory = EnvoyFactory(upstream=f"127.0.0.1:{fake_upstream.port}", webhook_port=webhook.port,
                           tmp_root=tmp_path_factory.mktemp("providers-envoy"))
    try:
        yield factory(FAST)
    finally:
        factory.stop_all()


@pytest.fixture
def caller(request):
    tag = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name.removeprefix("test_")).strip("-").lower()
    key = f"key-{tag}"
    # An AWS access key id is letters and digits.
    access_key_id = "AKIA" + sha256_hex(tag)[:16].upper()
    return SimpleNamespace(key=key, hash=sha256_hex(key), model=f"model-{tag}", access_key_id=access_key_id,
                           access_key_hash=sha256_hex(access_key_id))


def scope(caller, bedrock: bool = False) -> Expected:
    if bedrock:
        # The model id is the path's, percent-decoded (`…%3A0` is `…:0`).
        return Expected(scope=(caller.access_key_hash, caller.model + ":0"))
    return Expected(scope=(caller.hash, caller.model))


# --- Anthropic Messages ---------------------------------------------------------------------------

def anthropic_body(model: str, stream: bool = False) -> dict:
    body = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "Bonjour"}]}
    if stream:
        body["stream"] = True
    return body


def test_anthropic_json_prompt_tokens_as_litellm_counts_them(envoy, fake_upstream, caller):
    status, _, body = envoy.request(
        "POST", "/v1/messages", anthropic_body(caller.model),
        {"x-api-key": caller.key, "anthropic-version": "2023-06-01",
         "x-fake-header-anthropic-ratelimit-requests-remaining": "7",
         "x-fake-header-anthropic-ratelimit-tokens-remaining": "39000"})
    assert status == 200
    assert body == fixture_bytes("anthropic_message.json")
    ctx = ctx_for(fake_upstream.port, caller.model, "claude-sonnet-4-20250514", route="/v1/messages",
                  api_provider="anthropic", hashed_api_key=caller.hash, service_tier="standard")
    exp = expect_success(scope(caller), ctx, ANTHROPIC_JSON)
    exp.gauge("litellm_remaining_requests_metric", ctx, 7)
    exp.gauge("litellm_remaining_tokens_metric", ctx, 39000)
    text = wait_state(envoy, exp)
    h = caller.hash
    token_labels = (f'api_key_alias="None",api_provider="anthropic",end_user="None",hashed_api_key="{h}",'
                    f'model="claude-sonnet-4-20250514",model_id="None",org_alias="None",org_id="None",'
                    f'requested_model="{caller.model}",team="None",team_alias="None",user="None",user_email="None"')
    lines = text.splitlines()
    assert f"litellm_input_tokens_metric_total{{{token_labels}}} 3084" in lines
    assert f"litellm_output_tokens_metric_total{{{token_labels}}} 15" in lines
    assert f"litellm_total_tokens_metric_total{{{token_labels}}} 3099" in lines
    assert caller.key not in text


def test_anthropic_stream_usage_from_message_start_and_delta(envoy, fake_upstream, caller):
    status, headers, chunks = envoy.stream("/v1/messages", anthropic_body(caller.model, stream=True),
                                           {"x-api-key": caller.key})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert b"".join(chunks) == fixture_bytes("anthropic_stream.sse")
    ctx = ctx_for(fake_upstream.port, caller.model, "claude-sonnet-4-20250514", route="/v1/messages",
                  api_provider="anthropic", hashed_api_key=caller.hash, service_tier="standard")
    wait_state(envoy, expect_success(scope(caller), ctx, ANTHROPIC_SSE, stream=True))


def test_anthropic_errors_get_litellm_exception_classes(envoy, fake_upstream, caller):
    status, _, _ = envoy.request("POST", "/v1/messages", anthropic_body(caller.model),
                                 {"x-api-key": caller.key, "x-fake-status": "429",
                                  "x-fake-fixture": "anthropic_error_429.json"})
    assert status == 429
    status, _, chunks = envoy.stream("/v1/messages", anthropic_body(caller.model, stream=True),
                                     {"x-api-key": caller.key, "x-fake-fixture": "anthropic_stream_error.sse"})
    assert status == 200
    assert b"".join(chunks) == fixture_bytes("anthropic_stream_error.sse")
    # The error body names no model: the request's.
    ctx = ctx_for(fake_upstream.port, caller.model, route="/v1/messages", api_provider="anthropic",
                  hashed_api_key=caller.hash)
    exp = scope(caller)
    expect_failure(exp, ctx, 429, "Anthropic.RateLimitError")
    # An `overloaded_error` event inside a 200 stream (after `message_start` named the model):
    # LiteLLM raises it, a failed request.
    # The 429 cooled the deployment down (filter/core/src/health.rs): state 2 for cooldown_time.
    expect_failure(exp, dict(ctx, model="claude-sonnet-4-20250514"), 200, "Anthropic.InternalServerError", state=2,
                   cooled_down=True)
    wait_state(envoy, exp)


# --- Gemini and Vertex AI -------------------------------------------------------------------------

GEMINI_REQUEST = {"contents": [{"role": "user", "parts": [{"text": "Bonjour"}]}]}


def gemini_ctx(port, caller, route, base_path="/v1beta", provider="gemini", **kw):
    return ctx_for(port, caller.model, "gemini-2.5-flash", route=route, base_path=base_path,
                   api_provider=provider, hashed_api_key=caller.hash, **kw)


def test_gemini_generate_content_model_from_the_path(envoy, fake_upstream, caller):
    route = f"/v1beta/models/{caller.model}:generateContent"
    status, _, body = envoy.request("POST", route, GEMINI_REQUEST, {"x-goog-api-key": caller.key})
    assert status == 200 and body == fixture_bytes("gemini_generate.json")
    ctx = gemini_ctx(fake_upstream.port, caller, route)
    wait_state(envoy, expect_success(scope(caller), ctx, GEMINI_JSON))


@pytest.mark.parametrize("alt_sse", [False, True], ids=["json-array", "alt-sse"])
def test_gemini_stream_generate_content(envoy, fake_upstream, caller, alt_sse):
    route = f"/v1beta/models/{caller.model}:streamGenerateContent"
    status, headers, chunks = envoy.stream(route + ("?alt=sse" if alt_sse else ""), GEMINI_REQUEST,
                                           {"x-goog-api-key": caller.key})
    assert status == 200
    fixture = "gemini_stream.sse" if alt_sse else "gemini_stream.json"
    assert b"".join(chunks) == fixture_bytes(fixture)
    ctx = gemini_ctx(fake_upstream.port, caller, route)
    wait_state(envoy, expect_success(scope(caller), ctx, GEMINI_STREAM, stream=True))


def test_vertex_ai_path_is_vertex_ai(envoy, fake_upstream, caller):
    base = "/v1/projects/p1/locations/europe-west4/publishers/google"
    route = f"{base}/models/{caller.model}:generateContent"
    status, _, _ = envoy.request("POST", route, GEMINI_REQUEST,
                                 {"authorization": f"Bearer {caller.key}"})
    assert status == 200
    ctx = gemini_ctx(fake_upstream.port, caller, route, base_path=base, provider="vertex_ai")
    wait_state(envoy, expect_success(scope(caller), ctx, GEMINI_JSON))


# --- Bedrock --------------------------------------------------------------------------------------

def bedrock_headers(caller, signature: str) -> dict:
    return {"authorization": SIGV4.format(key=caller.access_key_id, sig=signature),
            "x-amz-date": "20250101T000000Z"}


def bedrock_ctx(port, caller, route, response_model=None):
    # A `%` in a label value is written `%25` (labels.rs: it is the escape character).
    return ctx_for(port, caller.model + ":0", response_model, route=route.replace("%", "%25"), base_path="",
                   api_provider="bedrock", hashed_api_key=caller.access_key_hash)


def test_bedrock_converse_caller_is_the_access_key_id(envoy, fake_upstream, caller):
    route = f"/model/{caller.model}%3A0/converse"
    for sig in ("a" * 64, "b" * 64):  # a new signature per request: one caller all the same
        status, _, body = envoy.request("POST", route, {"messages": []}, bedrock_headers(caller, sig))
        assert status == 200 and body == fixture_bytes("bedrock_converse.json")
    ctx = bedrock_ctx(fake_upstream.port, caller, route)
    text = wait_state(envoy, expect_success(scope(caller, bedrock=True), ctx, BEDROCK_CONVERSE, n=2))
    assert "a" * 64 not in text and caller.access_key_id not in text


@pytest.mark.parametrize("operation", ["converse-stream", "invoke-with-response-stream"])
def test_bedrock_event_streams(envoy, fake_upstream, caller, operation):
    route = f"/model/{caller.model}:0/{operation}"
    status, headers, chunks = envoy.stream(route, {"messages": []}, bedrock_headers(caller, "c" * 64))
    assert status == 200
    assert headers["content-type"] == "application/vnd.amazon.eventstream"
    fixture = {"converse-stream": "bedrock_converse_stream.eventstream",
               "invoke-with-response-stream": "bedrock_invoke_stream.eventstream"}[operation]
    body = b"".join(chunks)
    assert body == fixture_bytes(fixture)
    assert struct.unpack(">I", body[:4])[0] < len(body), "several binary messages"
    if operation == "converse-stream":
        ctx, u = bedrock_ctx(fake_upstream.port, caller, route), BEDROCK_CONVERSE_STREAM
    else:
        ctx, u = bedrock_ctx(fake_upstream.port, caller, route, "claude-3-5-sonnet-20240620"), BEDROCK_INVOKE_STREAM
    wait_state(envoy, expect_success(scope(caller, bedrock=True), ctx, u, stream=True))


def test_bedrock_throttled_stream_is_a_rate_limit_error(envoy, fake_upstream, caller):
    route = f"/model/{caller.model}:0/converse-stream"
    status, _, chunks = envoy.stream(route, {"messages": []},
                                     dict(bedrock_headers(caller, "d" * 64),
                                          **{"x-fake-fixture": "bedrock_converse_stream_throttled.eventstream"}))
    assert status == 200
    assert b"".join(chunks) == fixture_bytes("bedrock_converse_stream_throttled.eventstream")
    ctx = bedrock_ctx(fake_upstream.port, caller, route)
    # A throttled stream is a rate-limit error: it cools the deployment down (state 2).
    wait_state(envoy, expect_failure(scope(caller, bedrock=True), ctx, 200, "Bedrock.RateLimitError", state=2,
                                     cooled_down=True))


def test_corrupt_event_stream_is_counted_and_passes_through(start_envoy):
    """A Bedrock stream with a message whose CRC fails reaches the client byte for byte and is
    counted under its own reason."""
    envoy = start_envoy(FAST)
    route = "/model/m-corrupt/converse-stream"
    status, _, chunks = envoy.stream(route, {"messages": []},
                                     {"authorization": SIGV4.format(key="AKIACORRUPT", sig="e" * 64),
                                      "x-fake-flip-byte": "20"})
    bad = bytearray(fixture_bytes("bedrock_converse_stream.eventstream"))
    bad[20] ^= 0x55
    assert status == 200 and b"".join(chunks) == bytes(bad)
    envoy.wait_for_line('llm_telemetry_unreadable_bodies_total{reason="response_malformed_event_stream",'
                        f'route="{route}"}} 1')
