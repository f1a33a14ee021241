"""Smoke: with an empty config the filter is transparent — bodies pass byte for byte, streams stay
streamed — and the fake upstream saw exactly what the client sent."""

from harness import fixture_bytes

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
AUTH = {"authorization": "Bearer sk-demo"}


def test_chat_completion_passes_through_byte_identical(start_envoy, fake_upstream):
    envoy = start_envoy({})
    status, headers, body = envoy.request("POST", "/v1/chat/completions", CHAT, AUTH)
    assert status == 200, body
    assert headers["content-type"].startswith("application/json")
    assert body == fixture_bytes("chat_completion.json")
    [seen] = fake_upstream.take_records()
    assert seen["path"] == "/v1/chat/completions"
    assert seen["json"] == CHAT
    assert seen["headers"]["authorization"] == "Bearer sk-demo"


def test_chunked_request_body_reaches_upstream_intact(start_envoy, fake_upstream):
    envoy = start_envoy({})
    status, _, body = envoy.request("POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": "hi"},
                                    AUTH, chunk_size=7)
    assert status == 200, body
    assert body == fixture_bytes("embeddings.json")
    [seen] = fake_upstream.take_records()
    assert seen["json"] == {"model": "text-embedding-3-small", "input": "hi"}


def test_stream_arrives_in_several_chunks(start_envoy):
    envoy = start_envoy({})
    req = dict(CHAT, stream=True, stream_options={"include_usage": True})
    status, headers, chunks = envoy.stream("/v1/chat/completions", req,
                                           dict(AUTH, **{"x-fake-chunk-delay-ms": "30"}))
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert len(chunks) > 1, "the stream was buffered into one piece"
    assert b"".join(chunks) == fixture_bytes("chat_stream_usage.sse")


def test_upstream_errors_pass_through(start_envoy):
    envoy = start_envoy({})
    status, _, body = envoy.request("POST", "/v1/chat/completions", CHAT, dict(AUTH, **{"x-fake-status": "429"}))
    assert status == 429
    assert body == fixture_bytes("error_429.json")


def test_decompressor_variant_hands_client_the_inflated_stream(start_envoy):
    envoy = start_envoy({}, decompress_responses=True)
    req = dict(CHAT, stream=True, stream_options={"include_usage": True})
    status, headers, chunks = envoy.stream("/v1/chat/completions", req,
                                           dict(AUTH, **{"x-fake-gzip": "1", "x-fake-chunk-delay-ms": "30"}))
    assert status == 200
    assert "content-encoding" not in headers
    assert len(chunks) > 1
    assert b"".join(chunks) == fixture_bytes("chat_stream_usage.sse")


def test_invalid_plugin_config_is_reported_at_load(start_envoy):
    # Envoy stays up by default (test_config.py: pass through, or refuse when asked).
    ok, output = start_envoy.validate({"telemetry_settings": {"no_such_key": 1}})
    assert ok, output
    assert "invalid plugin configuration: telemetry_settings.no_such_key" in output
    ok, output = start_envoy.validate({"telemetry_settings": {"no_such_key": 1, "on_invalid_config": "refuse"}})
    assert not ok
    assert "telemetry_settings.no_such_key" in output
