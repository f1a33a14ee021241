#!/usr/bin/env python3
"""Webhook sink for the alerting e2e tests and `make envoy-up` (stdlib only).

Records every POST (path, headers, body, and the status it was answered with) and answers 200.
  GET /__received      the recorded POSTs as a JSON list
  DELETE /__received   clears them
  POST /__mode         sets how POSTs are answered from now on (replaces the previous mode):
                         {"status": 500}      answer with that status
                         {"delay_ms": 3000}   wait before answering
                         {"down": true}       read the request, then close the connection unanswered
                         {}                   back to normal (200 at once)
CLI: python tests/e2e/webhook_receiver.py --port 18081
"""

from __future__ import annotations

import json
import time

from fake_upstream import BadRequestBody, RecordingHandler, RecordingServer, serve_cli


class WebhookHandler(RecordingHandler):
    control_path = "/__received"

    def handle_request(self) -> None:
        try:
            body = self.read_body()
        except BadRequestBody as e:
            self.send_json(400, {"error": str(e)}, close=True)
            return
        if self.path.split("?", 1)[0] == "/__mode" and self.command == "POST":
            try:
                mode = json.loads(body or b"{}")
                assert isinstance(mode, dict)
            except (ValueError, AssertionError):
                self.send_json(400, {"error": "mode must be a JSON object"})
                return
            with self.server.lock:
                self.server.mode = mode
            self.send_json(200, {"mode": mode})
            return
        if self.command != "POST":
            self.send_json(405, {"error": "only POST is recorded"})
            return
        with self.server.lock:
            mode = dict(self.server.mode)
        if mode.get("down"):
            self.record(body, answered=None)
            self.close_connection = True
            return
        if mode.get("delay_ms"):
            time.sleep(int(mode["delay_ms"]) / 1000)
        status = int(mode.get("status", 200))
        self.record(body, answered=status)
        self.send_bytes(status, b"ok" if status < 400 else b"error", "text/plain")


def webhook_receiver(port: int = 0) -> RecordingServer:
    """A webhook sink bound to 127.0.0.1:port (0: any free port), not yet started."""
    return RecordingServer(WebhookHandler, port, mode={})


if __name__ == "__main__":
    serve_cli("webhook receiver", 18081, lambda a: webhook_receiver(a.port))
