"""The fake upstream and the webhook receiver themselves (no Envoy): the e2e tests rely on them
rejecting a damaged request body and honouring their x-fake-* controls."""

import gzip
import http.client
import json
import socket
import zlib

from harness import fixture_bytes, wait_until


def call(server, method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def raw(server, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


CHAT = json.dumps({"model": "gpt-4o", "messages": []}).encode()


def test_routes_by_path_suffix(fake_upstream):
    for path, fixture in [("/v1/chat/completions", "chat_completion.json"),
                          ("/chat/completions", "chat_completion.json"),
                          ("/openai/deployments/d1/chat/completions?api-version=2024-06-01", "chat_completion.json"),
                          ("/v1/completions", "completion.json"),
                          ("/v1/embeddings", "embeddings.json"),
                          ("/v1/responses", "responses.json")]:
        status, _, body = call(fake_upstream, "POST", path, CHAT)
        assert (status, body) == (200, fixture_bytes(fixture)), path


def test_stream_choice_follows_request(fake_upstream):
    def stream(req):
        return call(fake_upstream, "POST", "/v1/chat/completions", json.dumps(req).encode())

    status, headers, body = stream({"stream": True})
    assert headers["content-type"] == "text/event-stream"
    assert body == fixture_bytes("chat_stream_no_usage.sse")
    assert stream({"stream": True, "stream_options": {"include_usage": True}})[2] == fixture_bytes("chat_stream_usage.sse")
    status, _, body = call(fake_upstream, "POST", "/v1/responses", b'{"stream": true}')
    assert body == fixture_bytes("responses_stream.sse")


def test_rejects_invalid_json_and_short_body(fake_upstream):
    status, _, body = call(fake_upstream, "POST", "/v1/chat/completions", b'{"model": "gpt-4o"')
    assert status == 400 and json.loads(body)["error"]["message"].startswith("fake upstream")
    reply = raw(fake_upstream, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Length: 100\r\n\r\n" + CHAT)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:100]
    assert [r.get("rejected") is not None for r in fake_upstream.take_records()] == [True, True]


def test_reads_chunked_request_body(fake_upstream):
    body = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (10, CHAT[:10], len(CHAT) - 10, CHAT[10:])
    reply = raw(fake_upstream, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                               b"Transfer-Encoding: chunked\r\n\r\n" + body)
    assert reply.startswith(b"HTTP/1.1 200")
    assert fake_upstream.take_records()[0]["body"] == CHAT.decode()


def test_controls(fake_upstream):
    status, _, body = call(fake_upstream, "POST", "/v1/chat/completions", CHAT, {"x-fake-status": "500"})
    assert (status, body) == (500, fixture_bytes("error_500.json"))
    status, _, body = call(fake_upstream, "POST", "/v1/chat/completions", CHAT, {"x-fake-status": "503"})
    assert status == 503 and "error" in json.loads(body)
    status, _, body = call(fake_upstream, "POST", "/v1/chat/completions", CHAT, {"x-fake-fixture": "malformed.json"})
    assert body == fixture_bytes("malformed.json")

    status, headers, body = call(fake_upstream, "POST", "/v1/chat/completions", CHAT,
                                 {"x-fake-ratelimit": "remaining_requests=0,limit_tokens=1000",
                                  "x-fake-model": "my-model", "x-fake-gzip": "1", "x-fake-chunk-size": "7"})
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-limit-tokens"] == "1000"
    assert headers["content-encoding"] == "gzip" and headers["transfer-encoding"] == "chunked"
    doc = json.loads(gzip.decompress(body))
    assert doc["model"] == "my-model"

    status, headers, body = call(fake_upstream, "POST", "/v1/chat/completions",
                                 b'{"stream": true}', {"x-fake-gzip": "1"})
    assert zlib.decompress(body, wbits=31) == fixture_bytes("chat_stream_no_usage.sse")


def test_request_log(fake_upstream):
    call(fake_upstream, "POST", "/v1/embeddings", CHAT, {"x-test": "1"})
    status, _, body = call(fake_upstream, "GET", "/__requests")
    [rec] = json.loads(body)
    assert rec["path"] == "/v1/embeddings" and rec["headers"]["x-test"] == "1"
    call(fake_upstream, "DELETE", "/__requests")
    assert fake_upstream.take_records() == []


def test_webhook_receiver_modes(webhook):
    assert call(webhook, "POST", "/slack", b'{"text": "hi"}')[0] == 200
    call(webhook, "POST", "/__mode", b'{"status": 500}')
    assert call(webhook, "POST", "/slack", b'{"text": "again"}')[0] == 500
    call(webhook, "POST", "/__mode", b'{"down": true}')
    try:
        call(webhook, "POST", "/slack", b"{}")
        raise AssertionError("a down receiver answered")
    except (http.client.RemoteDisconnected, ConnectionError):
        pass
    call(webhook, "POST", "/__mode", b"{}")
    status, _, body = call(webhook, "GET", "/__received")
    assert [(r["path"], r["answered"]) for r in json.loads(body)] == [("/slack", 200), ("/slack", 500), ("/slack", None)]
    assert wait_until(lambda: len(webhook.take_records()) == 3, 1)
