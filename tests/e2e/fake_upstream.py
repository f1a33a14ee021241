#!/usr/bin/env python3
"""Fake OpenAI-compatible upstream for the e2e tests and `make envoy-up` (stdlib only).

Serves the recorded fixtures of tests/fixtures/ by path suffix (with or without /v1, and Azure's
/openai/deployments/{d}/...?api-version=...):

  chat/completions  chat_completion.json, or when the request has "stream": true,
                    chat_stream_usage.sse if stream_options.include_usage else chat_stream_no_usage.sse
  completions       completion.json
  embeddings        embeddings.json
  responses         responses.json, or responses_stream.sse when streaming

and the provider-native APIs (tests/fixtures/README.md lists what each fixture holds):

  v1/messages                          anthropic_message.json, or anthropic_stream.sse when streaming
  models/{m}:generateContent           gemini_generate.json
  models/{m}:streamGenerateContent     gemini_stream.json (a JSON array, sent a line per HTTP chunk),
                                       or gemini_stream.sse with ?alt=sse
  model/{id}/converse                  bedrock_converse.json
  model/{id}/converse-stream           bedrock_converse_stream.eventstream
  model/{id}/invoke                    bedrock_invoke_anthropic.json (+ its token-count headers)
  model/{id}/invoke-with-response-stream  bedrock_invoke_stream.eventstream

`.eventstream` fixtures go out as `application/vnd.amazon.eventstream`, one binary AWS
event-stream message per HTTP chunk.

A request body that is not JSON, or whose Content-Length disagrees with the bytes received, gets a
400 with an OpenAI error body: that is how the e2e tests prove a filter left the request intact.

Request headers that steer the answer:
  x-fake-status: N            answer with status N (429 and 500 serve error_429.json / error_500.json)
  x-fake-fixture: NAME        serve tests/fixtures/NAME instead
  x-fake-chunk-size: N        send the body as N-byte HTTP chunks, flushing each
                              (default: one HTTP chunk per SSE event; JSON whole, with content-length)
  x-fake-chunk-delay-ms: N    sleep between chunks (so the client sees them arrive separately)
  x-fake-gzip: 1              gzip the body (content-encoding: gzip); streamed bodies use one
                              gzip stream with a sync flush per chunk
  x-fake-delay-ms: N          wait before sending the headers
  x-fake-ratelimit: k=v,...   e.g. remaining_requests=0,limit_tokens=1000 -> x-ratelimit-remaining-requests: 0, ...
  x-fake-model: M             replace the fixture's model value with M
  x-fake-flip-byte: N         XOR body byte N with 0x55 (a corrupt event-stream message: its CRC fails)
  x-fake-header-NAME: V       send response header NAME: V (e.g. x-fake-header-anthropic-ratelimit-requests-remaining)
  x-fake-break: MODE[:N]      break the response after N body bytes (default: half the body):
                                reset        close with a TCP reset (SO_LINGER 0)
                                length-long  content-length larger than the bytes sent, then close
                                length-short content-length smaller than the body: the whole body is
                                             written, the client gets only the declared bytes
                                chunked      chunked encoding cut inside a chunk, then close
  x-fake-garbage: N           (SSE) insert N bytes of non-event garbage after the first event

Every request is recorded; GET /__requests lists them as JSON, DELETE /__requests clears them.

CLI: python tests/e2e/fake_upstream.py --port 18080 [--fixtures DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import socket
import struct
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES_DIR = Path(__file__).resolve().parents[1] / "fixtures"

# How long a request body may take to arrive in full: a Content-Length larger than the body sent
# would otherwise hang the request.
BODY_TIMEOUT_S = 2.0


class BadRequestBody(Exception):
    """The request body cannot be read as framed (chunked encoding or Content-Length)."""


class RecordingHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that reads (chunked or sized) bodies and records requests.

    Subclasses implement `handle_request(record)` and set `control_path` (GET lists the records,
    DELETE clears them). The server object carries `records` (a list) and `lock`.
    """

    protocol_version = "HTTP/1.1"
    control_path = "/__records"

    def log_message(self, format, *args):  # noqa: A002 - silence per-request stderr lines
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)

    # --- body and recording -------------------------------------------------------------------

    def read_body(self) -> bytes:
        """Read the whole request body, honouring Transfer-Encoding: chunked or Content-Length."""
        self.connection.settimeout(BODY_TIMEOUT_S)
        try:
            if "chunked" in self.headers.get("transfer-encoding", "").lower():
                return self._read_chunked()
            length = self.headers.get("content-length")
            if length is None:
                return b""
            try:
                n = int(length)
            except ValueError as e:
                raise BadRequestBody(f"invalid content-length {length!r}") from e
            body = self.rfile.read(n)
            if len(body) != n:
                raise BadRequestBody(f"content-length {n} but only {len(body)} bytes received")
            return body
        except (socket.timeout, TimeoutError) as e:
            raise BadRequestBody(
                f"body incomplete after {BODY_TIMEOUT_S}s (content-length {self.headers.get('content-length')})"
            ) from e
        finally:
            self.connection.settimeout(None)

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            line = self.rfile.readline(65537)
            if not line:
                raise BadRequestBody("connection closed inside a chunked body")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as e:
                raise BadRequestBody(f"bad chunk size line {line!r}") from e
            if size == 0:
                # Trailers (if any) end with an empty line.
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise BadRequestBody("connection closed inside a chunk")
            parts.append(chunk)
            self.rfile.readline(3)  # CRLF after the chunk data

    def record(self, body: bytes, **extra) -> dict:
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        headers: dict[str, str] = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = f"{headers[k]}, {v}" if k in headers else v
        rec = {
            "time": time.time(),
            "method": self.command,
            "path": self.path,
            "headers": headers,
            "body": body.decode("utf-8", "replace"),
            "json": parsed,
            **extra,
        }
        with self.server.lock:
            self.server.records.append(rec)
        return rec

    # --- responses -----------------------------------------------------------------------------

    def send_bytes(self, status: int, body: bytes, content_type: str = "application/json",
                   headers: dict | None = None, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if close:
            self.send_header("connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def send_json(self, status: int, obj, **kw) -> None:
        self.send_bytes(status, json.dumps(obj).encode(), "application/json", **kw)

    # --- dispatch ------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        if self.path.split("?", 1)[0] == self.control_path:
            if self.command == "GET":
                with self.server.lock:
                    self.send_json(200, list(self.server.records))
                return
            if self.command == "DELETE":
                self.read_body()
                with self.server.lock:
                    self.server.records.clear()
                self.send_json(200, {"cleared": True})
                return
        self.handle_request()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch

    def handle_request(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


def openai_error(message: str, err_type: str = "invalid_request_error", code=None) -> dict:
    return {"error": {"message": message, "type": err_type, "param": None, "code": code}}


def sse_events(data: bytes) -> list[bytes]:
    """Split an SSE body into events, each keeping its terminating blank line."""
    out, start = [], 0
    for m in re.finditer(rb"\r?\n\r?\n", data):
        out.append(data[start:m.end()])
        start = m.end()
    if start < len(data):
        out.append(data[start:])
    return out


def garbage_bytes(n: int) -> bytes:
    """n bytes that are no SSE event: lines of printable junk with no `data:` field."""
    line = b"#&<not an event> %$@!{][}\n"
    return (line * (n // len(line) + 1))[:n]


def replace_model(body: bytes, model: str) -> bytes:
    """Replace the fixture's model value (the first "model": "...") everywhere in the body."""
    m = re.search(rb'"model"\s*:\s*"((?:[^"\\]|\\.)*)"', body)
    if not m:
        return body
    new = json.dumps(model).encode()
    return body.replace(b'"' + m.group(1) + b'"', new)


# Headers a provider sends with a fixture (tests/fixtures/README.md).
FIXTURE_HEADERS = {
    "bedrock_invoke_anthropic.json": {"x-amzn-bedrock-input-token-count": "14",
                                      "x-amzn-bedrock-output-token-count": "12"},
    "bedrock_error_throttling.json": {
        "x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"},
}

EVENT_STREAM = "application/vnd.amazon.eventstream"


def event_stream_messages(data: bytes) -> list[bytes]:
    """Split an AWS event stream into its messages (each starts with its total length, big-endian)."""
    out, i = [], 0
    while i + 4 <= len(data):
        n = struct.unpack(">I", data[i:i + 4])[0]
        if n < 16:
            break
        out.append(data[i:i + n])
        i += n
    if i < len(data):
        out.append(data[i:])
    return out


def native_fixture(path: str, stream: bool) -> str | None:
    """The fixture of a provider-native path (Anthropic, Gemini / Vertex AI, Bedrock), or None."""
    p, _, query = path.partition("?")
    p = p.rstrip("/")
    if p.endswith("/v1/messages"):
        return "anthropic_stream.sse" if stream else "anthropic_message.json"
    if p.endswith(":generateContent"):
        return "gemini_generate.json"
    if p.endswith(":streamGenerateContent"):
        return "gemini_stream.sse" if "alt=sse" in query.split("&") else "gemini_stream.json"
    if "/model/" in p:
        for suffix, name in (("/converse-stream", "bedrock_converse_stream.eventstream"),
                             ("/converse", "bedrock_converse.json"),
                             ("/invoke-with-response-stream", "bedrock_invoke_stream.eventstream"),
                             ("/invoke", "bedrock_invoke_anthropic.json")):
            if p.endswith(suffix):
                return name
    return None


def route_fixture(path: str, request: dict | None) -> str | None:
    """The fixture a path (and request body) maps to, or None for an unknown route."""
    p = path.split("?", 1)[0].rstrip("/")
    req = request if isinstance(request, dict) else {}
    stream = req.get("stream") is True
    native = native_fixture(path, stream)
    if native:
        return native
    if p.endswith("/chat/completions"):
        if not stream:
            return "chat_completion.json"
        opts = req.get("stream_options")
        usage = isinstance(opts, dict) and opts.get("include_usage") is True
        return "chat_stream_usage.sse" if usage else "chat_stream_no_usage.sse"
    if p.endswith("/completions"):
        return "completion.json"
    if p.endswith("/embeddings"):
        return "embeddings.json"
    if p.endswith("/responses"):
        return "responses_stream.sse" if stream else "responses.json"
    return None


class FakeOpenAIHandler(RecordingHandler):
    control_path = "/__requests"

    def handle_request(self) -> None:
        try:
            body = self.read_body()
        except BadRequestBody as e:
            self.record(b"", rejected=str(e))
            self.send_json(400, openai_error(f"fake upstream: {e}"), close=True)
            return
        request = None
        if self.command in ("POST", "PUT", "PATCH") or body:
            try:
                request = json.loads(body)
            except ValueError as e:
                self.record(body, rejected=f"invalid JSON: {e}")
                self.send_json(400, openai_error(f"fake upstream: request body is not valid JSON: {e}"))
                return
        self.record(body)

        h = self.headers
        delay_ms = int(h.get("x-fake-delay-ms", "0") or 0)
        if delay_ms:
            time.sleep(delay_ms / 1000)

        status = int(h.get("x-fake-status", "200") or 200)
        fixture = h.get("x-fake-fixture")
        if not fixture:
            if status in (429, 500):
                fixture = f"error_{status}.json"
            elif status >= 400:
                self.send_json(status, openai_error(f"fake upstream error {status}", "api_error", status))
                return
            else:
                fixture = route_fixture(self.path, request)
        if fixture is None:
            self.send_json(404, openai_error(f"fake upstream: no route for {self.path}", "not_found"))
            return
        path = (self.server.fixtures_dir / fixture).resolve()
        if path.parent != self.server.fixtures_dir.resolve() or not path.is_file():
            self.send_json(500, openai_error(f"fake upstream: fixture {fixture!r} not found", "api_error"))
            return
        data = path.read_bytes()
        if h.get("x-fake-model"):
            data = replace_model(data, h["x-fake-model"])
        if h.get("x-fake-flip-byte"):
            i = int(h["x-fake-flip-byte"])
            data = data[:i] + bytes([data[i] ^ 0x55]) + data[i + 1:]
        sse = path.suffix == ".sse"
        event_stream = path.suffix == ".eventstream"
        json_array = data.lstrip().startswith(b"[")

        headers = dict(FIXTURE_HEADERS.get(fixture, {}))
        for k, v in h.items():
            if k.lower().startswith("x-fake-header-"):
                headers[k.lower()[len("x-fake-header-"):]] = v
        for item in filter(None, (s.strip() for s in h.get("x-fake-ratelimit", "").split(","))):
            k, _, v = item.partition("=")
            headers["x-ratelimit-" + k.strip().replace("_", "-")] = v.strip()
        use_gzip = h.get("x-fake-gzip", "") not in ("", "0", "false")
        if use_gzip:
            headers["content-encoding"] = "gzip"
        chunk_size = int(h.get("x-fake-chunk-size", "0") or 0)
        content_type = "text/event-stream" if sse else EVENT_STREAM if event_stream else "application/json"

        if h.get("x-fake-garbage") and sse:
            events = sse_events(data)
            garbage = garbage_bytes(int(h["x-fake-garbage"]))
            data = events[0] + garbage + b"".join(events[1:])
        if h.get("x-fake-break"):
            body_out = gzip.compress(data) if use_gzip else data
            self.send_broken(status, body_out, content_type, headers, h["x-fake-break"])
            return
        if chunk_size > 0:
            pieces = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)]
        elif sse:
            pieces = sse_events(data)
        elif event_stream:
            pieces = event_stream_messages(data)
        elif json_array:
            # A streamed JSON array (Gemini without alt=sse) arrives as the model writes it.
            pieces = data.splitlines(keepends=True)
        else:
            body_out = gzip.compress(data) if use_gzip else data
            self.send_bytes(status, body_out, content_type, headers)
            return
        if sse:
            headers["cache-control"] = "no-cache"
        self.send_chunked(status, pieces, content_type, headers, use_gzip,
                          int(h.get("x-fake-chunk-delay-ms", "0") or 0))

    def send_chunked(self, status, pieces, content_type, headers, use_gzip, delay_ms) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("transfer-encoding", "chunked")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()
        gz = zlib.compressobj(wbits=31) if use_gzip else None
        for i, piece in enumerate(pieces):
            if i and delay_ms:
                time.sleep(delay_ms / 1000)
            if gz is not None:
                piece = gz.compress(piece) + gz.flush(zlib.Z_SYNC_FLUSH)
            self._write_chunk(piece)
        if gz is not None:
            self._write_chunk(gz.flush(zlib.Z_FINISH))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def send_broken(self, status, body, content_type, headers, spec: str) -> None:
        """A response the upstream breaks mid-body (see `x-fake-break` in the module docs)."""
        mode, _, n = spec.partition(":")
        cut = int(n) if n else len(body) // 2
        self.send_response(status)
        self.send_header("content-type", content_type)
        for k, v in headers.items():
            self.send_header(k, v)
        if mode == "chunked":
            self.send_header("transfer-encoding", "chunked")
        elif mode == "length-short":
            self.send_header("content-length", str(cut))
        else:
            self.send_header("content-length", str(len(body)))
        self.end_headers()
        if mode == "chunked":
            # A whole chunk, then one that announces the rest of the body but stops at `cut`.
            self._write_chunk(body[:cut // 2])
            self.wfile.write(b"%x\r\n%s" % (len(body) - cut // 2, body[cut // 2:cut]))
        elif mode == "length-short":
            self.wfile.write(body)
        else:
            self.wfile.write(body[:cut])
        self.wfile.flush()
        if mode == "reset":
            # SO_LINGER with a zero timeout: closing sends a RST instead of a FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            self.connection.shutdown(socket.SHUT_WR)
        self.close_connection = True

    def _write_chunk(self, piece: bytes) -> None:
        if piece:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()


class RecordingServer(ThreadingHTTPServer):
    """A threading HTTP server holding the recorded requests; `start()` serves in a thread."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler, port: int = 0, host: str = "127.0.0.1", **attrs):
        super().__init__((host, port), handler)
        self.records: list[dict] = []
        self.lock = threading.Lock()
        self.verbose = False
        for k, v in attrs.items():
            setattr(self, k, v)

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up mid-response (as some tests do on purpose) is not an error."""
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "RecordingServer":
        threading.Thread(target=self.serve_forever, name=type(self).__name__, daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def take_records(self) -> list[dict]:
        with self.lock:
            return list(self.records)

    def clear(self) -> None:
        with self.lock:
            self.records.clear()


def fake_upstream(port: int = 0, fixtures_dir: Path = FIXTURES_DIR) -> RecordingServer:
    """A fake OpenAI upstream bound to 127.0.0.1:port (0: any free port), not yet started."""
    return RecordingServer(FakeOpenAIHandler, port, fixtures_dir=Path(fixtures_dir))


def serve_cli(description: str, default_port: int, make_server, add_args=None) -> None:
    """Command line shared by the fake servers (`--port`, `-v`): serve until interrupted."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--port", type=int, default=default_port)
    ap.add_argument("-v", "--verbose", action="store_true", help="log every request to stderr")
    if add_args:
        add_args(ap)
    args = ap.parse_args()
    server = make_server(args)
    server.verbose = args.verbose
    print(f"{description} listening on 127.0.0.1:{server.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    serve_cli("fake OpenAI upstream", 18080, lambda a: fake_upstream(a.port, a.fixtures),
              lambda ap: ap.add_argument("--fixtures", type=Path, default=FIXTURES_DIR))
