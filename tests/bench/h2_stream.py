"""The bench's streaming upstream: an SSE body sent one event per HTTP/2 DATA frame.

Real LLM servers write one event per token, and the proxy then gets one body callback per event;
a `direct_response` Envoy sends the whole body at once (1-2 callbacks). Over HTTP/1.1 the events
of a fast local server coalesce in the proxy's socket reads, however they were written; over
HTTP/2 Envoy hands each DATA frame on as its own body chunk, so the count is deterministic.

A minimal cleartext HTTP/2 server (prior knowledge, as Envoy's `http2_protocol_options` cluster
speaks it): it answers every request, once its END_STREAM arrives, with `:status 200`,
`content-type: text/event-stream` and one DATA frame per event. It reads nothing of the request
but its framing, so it needs no HPACK decoder; flow control is left to the peer's large windows
(Envoy's defaults are 256 MiB, replenished as it reads) and its own window is opened wide.
"""

from __future__ import annotations

import socket
import struct
import threading

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
MAX_FRAME = 16384


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def hpack_literal(index: int, value: bytes) -> bytes:
    """A header field "literal without indexing, indexed name" (RFC 7541 6.2.2), no Huffman."""
    assert index < 15 + 128 and len(value) < 127
    name = bytes([index]) if index < 15 else bytes([0x0F, index - 15])
    return name + bytes([len(value)]) + value


# :status 200 is static entry 8 (indexed field 0x88); content-type is static entry 31.
RESPONSE_HEADERS = b"\x88" + hpack_literal(31, b"text/event-stream")


def split_events(body: bytes) -> list[bytes]:
    """`data: ...\\n\\n` events, each with its blank line."""
    parts = body.split(b"\n\n")
    events = [p + b"\n\n" for p in parts[:-1]]
    if parts[-1]:
        events.append(parts[-1])
    return events


class H2StreamServer:
    """Serves `body` (an SSE stream) on 127.0.0.1, an ephemeral port, in daemon threads."""

    def __init__(self, body: bytes):
        self.events = split_events(body)
        assert all(len(e) <= MAX_FRAME for e in self.events)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.closed = True
        self.sock.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = conn.makefile("rb")
        try:
            if f.read(len(PREFACE)) != PREFACE:
                return
            conn.sendall(frame(SETTINGS, 0, 0) + frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", (1 << 31) - 1 - 65535)))
            while True:
                head = f.read(9)
                if len(head) < 9:
                    return
                length = int.from_bytes(head[:3], "big")
                kind, flags = head[3], head[4]
                stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
                payload = f.read(length)
                if kind == SETTINGS and not flags & ACK:
                    conn.sendall(frame(SETTINGS, ACK, 0))
                elif kind == PING and not flags & ACK:
                    conn.sendall(frame(PING, ACK, 0, payload))
                elif kind == GOAWAY:
                    return
                elif kind == DATA and length:
                    # Give the connection window back (the stream's ends with the request).
                    conn.sendall(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", length)))
                if kind in (HEADERS, DATA) and flags & END_STREAM:
                    self._respond(conn, stream)
        except OSError:
            return
        finally:
            f.close()
            conn.close()

    def _respond(self, conn: socket.socket, stream: int) -> None:
        conn.sendall(frame(HEADERS, END_HEADERS, stream, RESPONSE_HEADERS))
        last = len(self.events) - 1
        for i, event in enumerate(self.events):
            conn.sendall(frame(DATA, END_STREAM if i == last else 0, stream, event))
