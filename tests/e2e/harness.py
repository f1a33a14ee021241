"""Run a real Envoy with the llm-telemetry Wasm filter and talk to it (used by conftest.py).

`Envoy` wraps one Envoy process rendered by envoy/render.py: the listener and admin bind port 0 and
the real ports are read back from Envoy, so tests never race for ports.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "envoy"))
import render  # noqa: E402  (envoy/render.py: the one source of Envoy configs)

WASM_PATH = REPO / "build" / "llm_telemetry.wasm"
FIXTURES_DIR = REPO / "tests" / "fixtures"


def fixture_bytes(name: str) -> bytes:
    """The bytes of tests/fixtures/NAME (what the fake upstream serves)."""
    path = FIXTURES_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"missing fixture {path}")
    return path.read_bytes()


def wasm_path() -> Path:
    if not WASM_PATH.is_file():
        raise FileNotFoundError(f"{WASM_PATH.relative_to(REPO)} is missing: run `make build` first")
    return WASM_PATH


def validate_config(path: Path) -> tuple[bool, str]:
    """Run `envoy --mode validate -c path`: (accepted, Envoy's output)."""
    r = subprocess.run([render.envoy_binary(), "--mode", "validate", "-c", str(path), "--log-level", "warn"],
                       capture_output=True, text=True, timeout=60)
    return r.returncode == 0, r.stdout + r.stderr


class Envoy:
    """One running Envoy. Create through the `start_envoy` fixture, which also stops it."""

    def __init__(self, config_text: str, workdir: Path, concurrency: int = 1, log_level: str = "warn",
                 wasm_log_level: str = "info"):
        self.workdir = workdir
        self.config_path = workdir / "envoy.yaml"
        self.config_path.write_text(config_text)
        self.log_path = workdir / "envoy.log"
        self.admin_address_path = workdir / "admin_address"
        self.proc: subprocess.Popen | None = None
        self.concurrency = concurrency
        self.log_level = log_level
        self.wasm_log_level = wasm_log_level
        self.port = 0
        self.admin_port = 0

    # --- lifecycle ---------------------------------------------------------------------------

    def validate(self) -> None:
        """`envoy --mode validate` on the rendered config: a clear error before any start-up."""
        ok, output = validate_config(self.config_path)
        if not ok:
            raise RuntimeError(f"envoy --mode validate rejected {self.config_path}:\n{output}")

    def start(self, timeout: float = 30.0) -> "Envoy":
        cmd = [render.envoy_binary(), "-c", str(self.config_path),
               "--concurrency", str(self.concurrency),
               "--log-level", self.log_level, "--component-log-level", f"wasm:{self.wasm_log_level}",
               "--log-path", str(self.log_path),
               "--admin-address-path", str(self.admin_address_path),
               # Several Envoys may run at once (tests, `make envoy-up`): no shared memory region.
               "--disable-hot-restart",
               # The log reaches the file within a tick of being written (default: every 10 s).
               "--file-flush-interval-msec", "200"]
        with open(self.workdir / "envoy.stderr", "wb") as stderr:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=stderr)
        deadline = time.monotonic() + timeout
        while not self.admin_address_path.exists() or not self.admin_address_path.read_text().strip():
            if self.proc.poll() is not None:
                raise RuntimeError(f"Envoy exited with {self.proc.returncode} during start-up:\n{self.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"Envoy wrote no admin address in {timeout}s:\n{self.log()}")
            time.sleep(0.05)
        self.admin_port = int(self.admin_address_path.read_text().strip().rsplit(":", 1)[1])
        render.wait_ready(self.admin_port, max(1.0, deadline - time.monotonic()),
                          alive=lambda: self.proc.poll() is None)
        listeners = json.loads(self.admin_get("/listeners?format=json"))
        sock = listeners["listener_statuses"][0]["local_address"]["socket_address"]
        self.port = int(sock["port_value"])
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log(self) -> str:
        """Envoy's log (and anything it wrote to stderr)."""
        parts = []
        for p in (self.log_path, self.workdir / "envoy.stderr"):
            if p.exists() and p.stat().st_size:
                parts.append(p.read_text(errors="replace"))
        return "".join(parts)

    # --- traffic -----------------------------------------------------------------------------

    def _send(self, method: str, path: str, body, headers: dict | None, timeout: float, chunk_size: int = 0):
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("content-type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        if chunk_size and body:
            pieces = [body[i:i + chunk_size] for i in range(0, len(body), chunk_size)]
            conn.request(method, path, body=iter(pieces), headers=headers, encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=headers)
        return conn, conn.getresponse()

    def request(self, method: str, path: str, body=None, headers: dict | None = None,
                timeout: float = 30.0, chunk_size: int = 0) -> tuple[int, dict, bytes]:
        """One request through Envoy: (status, lower-cased headers, body bytes).

        body: bytes, str, or a dict/list sent as JSON. chunk_size > 0 sends it with
        Transfer-Encoding: chunked in pieces of that size.
        """
        conn, resp = self._send(method, path, body, headers, timeout, chunk_size)
        try:
            data = resp.read()
            return resp.status, _headers(resp), data
        finally:
            conn.close()

    def stream(self, path: str, body=None, headers: dict | None = None,
               timeout: float = 30.0, chunk_size: int = 0) -> tuple[int, dict, list[bytes]]:
        """POST and collect the response body piece by piece as it arrives (one entry per read)."""
        conn, resp = self._send("POST", path, body, headers, timeout, chunk_size)
        try:
            chunks = []
            while True:
                piece = resp.read1(65536)
                if not piece:
                    break
                chunks.append(piece)
            return resp.status, _headers(resp), chunks
        finally:
            conn.close()

    # --- admin and metrics -------------------------------------------------------------------

    def admin_get(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}", timeout=10) as r:
            return r.read().decode()

    def prometheus(self) -> str:
        return self.admin_get("/stats/prometheus")

    def stats_json(self) -> dict:
        return json.loads(self.admin_get("/stats?format=json"))

    def prom_lines(self, prefix: str = "litellm_", text: str | None = None) -> list[str]:
        """Sample lines (no # lines) of /stats/prometheus starting with `prefix`."""
        text = self.prometheus() if text is None else text
        return [ln for ln in text.splitlines() if ln.startswith(prefix) and not ln.startswith("#")]

    def value(self, series: str, text: str | None = None) -> float | None:
        """The value of one series, written as in the exposition (`name{a="b"}`), or None."""
        for ln in self.prom_lines(series, text):
            name, _, val = ln.rpartition(" ")
            if name == series:
                return float(val)
        return None

    def wait_for(self, predicate, timeout: float = 10.0, what: str = ""):
        """Poll /stats/prometheus until predicate(text) is truthy; return its value.

        The filter flushes its metrics on a 1 s tick: poll, never sleep-and-assert.
        """
        last = {"text": ""}

        def check():
            last["text"] = self.prometheus()
            return predicate(last["text"])

        def describe():
            lines = "\n".join(self.prom_lines("litellm_", last["text"])) or "(no litellm_ lines)"
            return f"{what or predicate}\nlitellm_ lines now:\n{lines}"

        return wait_until(check, timeout, describe)

    def wait_for_line(self, line: str, timeout: float = 10.0) -> str:
        """Wait until this exact sample line (e.g. 'litellm_x_total{model="m"} 1') appears."""
        return self.wait_for(lambda text: text if line in text.splitlines() else None,
                             timeout, what=repr(line))


def wait_until(check, timeout: float = 10.0, what="condition", interval: float = 0.1):
    """Call check() until it returns something truthy (returned); AssertionError after timeout.

    `what` is a string or a function giving one, used in the failure message.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what() if callable(what) else what}")
        time.sleep(interval)


def _headers(resp: http.client.HTTPResponse) -> dict:
    out: dict[str, str] = {}
    for k, v in resp.getheaders():
        k = k.lower()
        out[k] = f"{out[k]}, {v}" if k in out else v
    return out


_VALIDATED: set[str] = set()  # digests of configs `envoy --mode validate` accepted this session


class EnvoyFactory:
    """Renders, validates and starts Envoys for a test; `stop_all()` at teardown."""

    def __init__(self, upstream: str, webhook_port: int, tmp_root: Path):
        self.upstream = upstream
        self.webhook_port = webhook_port
        self.tmp_root = tmp_root
        self.started: list[Envoy] = []

    def render(self, plugin_config: dict | None = None, extra_label_keys=(), env_vars: dict | None = None,
               upstream: str | None = None, clusters_extra=(), decompress_responses: bool = False,
               host_env_keys=()) -> str:
        """The bootstrap a test Envoy runs: ports 0, the fake upstream, the webhook receiver's cluster."""
        return render.render(listen_port=0, admin_port=0, upstream=upstream or self.upstream,
                             wasm_path=str(wasm_path()), plugin_config=plugin_config or {},
                             extra_label_keys=extra_label_keys, clusters_extra=clusters_extra,
                             webhook_urls_extra=[f"http://127.0.0.1:{self.webhook_port}/"],
                             env_vars=env_vars or {}, decompress_responses=decompress_responses,
                             host_env_keys=host_env_keys)

    def validate(self, plugin_config: dict | None = None, **kw) -> tuple[bool, str]:
        """Whether Envoy accepts this plugin config (the filter checks it at load): (ok, output)."""
        path = Path(tempfile.mkdtemp(prefix="validate-", dir=self.tmp_root)) / "envoy.yaml"
        path.write_text(self.render(plugin_config, **kw))
        return validate_config(path)

    def __call__(self, plugin_config: dict | None = None, extra_label_keys=(), env_vars: dict | None = None,
                 concurrency: int = 1, upstream: str | None = None, clusters_extra=(),
                 decompress_responses: bool = False, host_env_keys=(), log_level: str = "warn",
                 wasm_log_level: str = "info") -> Envoy:
        text = self.render(plugin_config, extra_label_keys, env_vars, upstream, clusters_extra,
                           decompress_responses, host_env_keys)
        workdir = Path(tempfile.mkdtemp(prefix=f"envoy{len(self.started)}-", dir=self.tmp_root))
        envoy = Envoy(text, workdir, concurrency, log_level, wasm_log_level)
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest not in _VALIDATED:
            envoy.validate()
            _VALIDATED.add(digest)
        self.started.append(envoy)
        return envoy.start()

    def stop_all(self) -> None:
        for e in self.started:
            e.stop()

    def logs(self) -> str:
        return "\n".join(f"===== Envoy log ({e.workdir}) =====\n{e.log()}" for e in self.started)


