#!/usr/bin/env python3
"""`make bench`: what llm-telemetry costs Envoy per request, in instructions and (indicatively) in time.

Run through tests/bench/run.sh (it builds the filters and finds the tools). Method, from
/work/shared/ENVOY-FACTS.md "Cost": hardware counters are not available on these machines, so the
measure is instructions counted by valgrind. Each configuration's Envoy runs with
`--concurrency 1` under `valgrind --tool=callgrind` (no cache or branch simulation; it counts
the same instructions as cachegrind's `Ir`, and `callgrind_control --dump` reads them out at
any moment, so one Envoy start serves every phase of a configuration):

    start, warm up, dump                       (start-up and V8 compilation: discarded)
    N1 JSON requests, dump -> I1, t1           N2 JSON requests, dump -> I2, t2
    N1 SSE requests,  dump -> I3, t3           N2 SSE requests,  dump -> I4, t4
    settle, dump; idle for T seconds, dump     -> c, instructions per second with no traffic

    instructions/request = (I2 - I1 - c * (t2 - t1)) / (N2 - N1)

The difference cancels what every phase pays once (the admin stats read that checks the request
count, connection set-up); `c` removes what Envoy (stats flush) and the filter (its tick) spend
per second rather than per request, which otherwise scales with valgrind's slowness. Request
counts come from Envoy's own `http.llm.downstream_rq_completed`, not from the client.

The upstream is a second, native Envoy answering with `direct_response` (never a Python server):
tests/fixtures/chat_completion.json, or a generated ~30 KB SSE stream of ~200
chat.completion.chunk events ending with a usage chunk and `data: [DONE]`.

Configurations (one bootstrap, rendered by envoy/render.py, differing only in the Wasm filter):
  a  bare Envoy (router only)
  b  a do-nothing Rust proxy-wasm filter (tests/bench/noop-filter)
  r  the reading floor: the same filter built with `--features read`, reading both header maps
     and every body chunk (what an LLM telemetry filter cannot do without) and nothing else
  c  build/llm_telemetry.wasm with `{}`        (measured twice: the spread is the repeatability)
  d  build/llm_telemetry.wasm with examples/config.json

Then, natively, wrk against the four side by side (req/s and proxy CPU per request): indicative
only on a noisy 2-core machine; compare within one run.

Where the instructions go: the Envoy binary is stripped and V8's JIT code has no symbols, so the
N2 dumps are split by code region (Envoy C++, tcmalloc, JIT code, libc) and at the Wasm/host
boundary (callback entries, calls out of JIT code); tests/bench/core-profile then replays the
same exchanges through llm_telemetry_core natively with symbols, for function names.

Traps this avoids: bursts of stat creation (each new Envoy stat runs every stats_tags regex,
~10 M instructions) when a new label combination appears mid-run, which is why the upstream
buffers the request before answering; Envoy's timed stats flush (replaced by a flush on each
admin read, one per phase); `make build` swapping the module mid-run (private copies).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "envoy"))
import render  # noqa: E402  (envoy/render.py: the one source of Envoy configs)

import h2_stream  # noqa: E402  (tests/bench/h2_stream.py: the one-event-per-chunk upstream)

BENCH_DIR = Path(__file__).resolve().parent
FIXTURES = REPO / "tests" / "fixtures"
PATH = "/v1/chat/completions"
API_KEY = "sk-demo"  # examples/config.json knows its hash (key alias demo-key, team-a, alice)
CLK_TCK = os.sysconf("SC_CLK_TCK")

REQUESTS = {
    "json": {"model": "gpt-4o", "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Say hello in French."}]},
    # stream_options.include_usage already set: the filter has nothing to add to the body.
    "sse": {"model": "gpt-4o", "stream": True, "stream_options": {"include_usage": True}, "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Tell me a long story."}]},
}
REQUESTS["sse_chunked"] = REQUESTS["sse"]
# sse_chunked: the same stream from tests/bench/h2_stream.py, one event per HTTP/2 DATA frame,
# hence one body callback per event, as real LLM servers deliver it.
WORKLOADS = ("json", "sse", "sse_chunked")
# wrk runs the first two only: a Python upstream cannot keep up with it.
WRK_WORKLOADS = ("json", "sse")


def counts(args, workload: str) -> tuple[int, int]:
    """N1, N2 of a workload: a chunked stream costs ~200 callbacks, so it gets fewer requests."""
    if workload == "sse_chunked":
        return args.chunked_n1, args.chunked_n2
    return args.n1, args.n2


@dataclass
class Config:
    key: str
    title: str
    wasm: Path | None
    plugin_config: dict | None = None


@dataclass
class Phase:
    ir: int
    seconds: float
    requests: int


@dataclass
class ValgrindResult:
    config: Config
    run: int
    per_request: dict = field(default_factory=dict)      # workload -> instructions/request
    uncorrected: dict = field(default_factory=dict)      # workload -> without the idle correction
    idle_rate: float = 0.0                               # instructions/s with no traffic
    phases: dict = field(default_factory=dict)
    objects: dict = field(default_factory=dict)          # workload -> {category: Ir/request in N2}
    startup_s: float = 0.0
    rps: dict = field(default_factory=dict)              # workload -> req/s under valgrind (N2)
    metric_requests: int | None = None                   # what the filter counted, when it is ours
    metric_output_tokens: int | None = None
    sent: int = 0
    top_functions: dict = field(default_factory=dict)    # workload -> {object:function: Ir/request}
    stat_counts: list = field(default_factory=list)      # Envoy stats after warm-up and each phase
    boundary: dict = field(default_factory=dict)         # workload -> Wasm/host crossings per request


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- bodies ---------------------------------------------------------------------------------------

def sse_body(events: int = 200) -> bytes:
    """An OpenAI chat.completion.chunk stream of `events` events (~30 KB for 200): a role chunk,
    one token per content chunk, a finish chunk, the usage chunk (stream_options.include_usage)
    and `data: [DONE]`."""
    # A short id keeps 200 events near 30 KB (OpenAI's own chunks carry more fields).
    head = {"id": "chatcmpl-b1", "object": "chat.completion.chunk", "created": 1741570283, "model": "gpt-4o"}

    def event(choices, usage=None) -> bytes:
        body = {**head, "choices": choices}
        if usage:
            body["usage"] = usage
        return b"data: " + json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"

    def delta(d, finish=None):
        return [{"index": 0, "delta": d, "finish_reason": finish}]

    tokens = [" Once", " upon", " a", " time", ",", " in", " a", " caf\u00e9", " by", " the", " sea", ",",
              " a", " small", " robot", " \U0001F916", " learned", " to", " write", " stories", "."]
    n_content = events - 3
    usage = {"prompt_tokens": 23, "completion_tokens": n_content, "total_tokens": 23 + n_content,
             "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
             "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                           "accepted_prediction_tokens": 0,
                                           "rejected_prediction_tokens": 0}}
    return (event(delta({"role": "assistant", "content": "", "refusal": None}))
            + b"".join(event(delta({"content": tokens[i % len(tokens)]})) for i in range(n_content))
            + event(delta({}, "stop"))
            + event([], usage) + b"data: [DONE]\n\n")


# --- Envoy processes ------------------------------------------------------------------------------

class Envoy:
    """One Envoy (optionally under valgrind). Listener and admin bind port 0; the real ports are
    read back from the admin API, so concurrent runs (tests, other benches) never collide."""

    def __init__(self, name: str, config: dict, workdir: Path, concurrency: int = 1,
                 wrapper: list[str] | None = None):
        self.name = name
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / f"{name}.yaml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False, width=100))
        self.admin_path = workdir / f"{name}.admin"
        self.log_path = workdir / f"{name}.log"
        self.concurrency = concurrency
        self.wrapper = wrapper or []
        self.proc: subprocess.Popen | None = None
        self.admin_port = 0
        self.port = 0

    def start(self, timeout: float) -> "Envoy":
        self.admin_path.unlink(missing_ok=True)
        cmd = [*self.wrapper, render.envoy_binary(), "-c", str(self.config_path),
               "--concurrency", str(self.concurrency), "--log-level", "warn",
               "--admin-address-path", str(self.admin_path), "--disable-hot-restart"]
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: Envoy exited ({self.proc.returncode}); see {self.log_path}:\n"
                                   + self.log_path.read_text()[-3000:])
            if self.admin_path.is_file() and self.admin_path.read_text().strip():
                self.admin_port = int(self.admin_path.read_text().strip().rsplit(":", 1)[1])
                try:
                    render.wait_ready(self.admin_port, timeout=max(1.0, deadline - time.monotonic()),
                                      alive=lambda: self.proc.poll() is None)
                    break
                except TimeoutError:
                    pass
            time.sleep(0.2)
        else:
            self.stop()
            raise TimeoutError(f"{self.name}: Envoy not ready after {timeout:.0f}s; see {self.log_path}")
        listeners = json.loads(self.admin("/listeners?format=json"))
        self.port = listeners["listener_statuses"][0]["local_address"]["socket_address"]["port_value"]
        return self

    def admin(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}", timeout=120) as r:
            return r.read().decode()

    def counter(self, name: str) -> int:
        text = self.admin("/stats?filter=" + urllib.parse.quote(f"^{re.escape(name)}$"))
        m = re.search(r":\s*(\d+)", text)
        return int(m.group(1)) if m else 0

    def cpu_seconds(self) -> float:
        """utime + stime of the Envoy process (for native runs)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def upstream_config(json_body: Path, sse_body_path: Path) -> dict:
    """The upstream: a plain Envoy answering every POST from a file (x-bench-workload: sse picks
    the stream)."""
    def route(workload: str | None, body: Path, ctype: str) -> dict:
        match: dict = {"prefix": "/"}
        if workload:
            match["headers"] = [{"name": "x-bench-workload", "string_match": {"exact": workload}}]
        return {"match": match,
                "direct_response": {"status": 200, "body": {"filename": str(body)}},
                "response_headers_to_add": [{"header": {"key": "content-type", "value": ctype}}]}

    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "upstream",
        "route_config": {
            # direct_response bodies are capped at 4 KB unless raised.
            "max_direct_response_body_size_bytes": 1 << 20,
            "virtual_hosts": [{"name": "upstream", "domains": ["*"], "routes": [
                route("sse", sse_body_path, "text/event-stream"),
                route(None, json_body, "application/json"),
            ]}],
        },
        "http_filters": [
            # Answer only once the whole request is in, as a real API does: direct_response alone
            # answers on the headers, and a slow proxy (valgrind) then sometimes ends the exchange
            # before its filter has read the request body (no model: new label values, new stats).
            {"name": "envoy.filters.http.buffer", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
                "max_request_bytes": 1 << 20}},
            {"name": "envoy.filters.http.router", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}},
        ],
    }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {"listeners": [{
            "name": "upstream",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": hcm}]}],
        }]},
    }


def proxy_config(cfg: Config, upstream_port: int, chunked_port: int = 0) -> dict:
    """The proxy bootstrap from envoy/render.py's render(), listener and admin on port 0; bare
    Envoy loses the Wasm filter, the do-nothing filter takes its place otherwise. With
    `chunked_port`, `x-bench-workload: sse_chunked` goes to the HTTP/2 streaming upstream there."""
    text = render.render(listen_port=0, admin_port=0, upstream=f"127.0.0.1:{upstream_port}",
                         wasm_path=str(cfg.wasm or REPO / render.DEFAULT_WASM),
                         plugin_config=cfg.plugin_config or {})
    boot = yaml.safe_load(text)
    hcm = boot["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    if cfg.wasm is None:
        hcm["http_filters"] = [f for f in hcm["http_filters"] if f["name"] != "llm_telemetry"]
    if chunked_port:
        clusters = boot["static_resources"]["clusters"]
        main = next(c for c in clusters if c["name"] == "llm_upstream")
        chunked = json.loads(json.dumps(main))
        chunked["name"] = chunked["load_assignment"]["cluster_name"] = "llm_upstream_chunked"
        chunked["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"][
            "socket_address"].update(address="127.0.0.1", port_value=chunked_port)
        chunked.pop("transport_socket", None)
        chunked["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}}}}
        clusters.append(chunked)
        routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
        route = json.loads(json.dumps(routes[0]))
        route["match"]["headers"] = [{"name": "x-bench-workload", "string_match": {"exact": "sse_chunked"}}]
        route["route"]["cluster"] = "llm_upstream_chunked"
        routes.insert(0, route)
    # Envoy's stats flush is per second, not per request: without a timer it runs once per admin
    # stats read, which every phase does exactly once (the difference cancels it).
    boot.pop("stats_flush_interval", None)
    boot["stats_flush_on_admin"] = True
    return boot


# --- the client -----------------------------------------------------------------------------------

class Client:
    """Sequential POSTs on one keep-alive connection; every response checked."""

    def __init__(self, port: int, timeout: float = 600.0):
        self.port = port
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None
        self.bodies = {w: json.dumps(REQUESTS[w]).encode() for w in WORKLOADS}

    def send(self, workload: str, n: int) -> None:
        headers = {"content-type": "application/json", "authorization": f"Bearer {API_KEY}",
                   "user-agent": "llm-telemetry-bench", "x-bench-workload": workload}
        for _ in range(n):
            for attempt in (0, 1):
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                try:
                    self.conn.request("POST", PATH, self.bodies[workload], headers)
                    resp = self.conn.getresponse()
                    data = resp.read()
                    break
                except (http.client.HTTPException, ConnectionError) as e:
                    self.conn.close()
                    self.conn = None
                    if attempt:
                        raise RuntimeError(f"request failed twice: {e!r}") from e
            if resp.status != 200:
                raise RuntimeError(f"{workload}: HTTP {resp.status}: {data[:200]!r}")
            if workload == "sse" and not data.endswith(b"data: [DONE]\n\n"):
                raise RuntimeError(f"sse: truncated stream ({len(data)} bytes)")

    def close(self) -> None:
        if self.conn:
            self.conn.close()
            self.conn = None


# --- callgrind ------------------------------------------------------------------------------------

def callgrind_totals(path: Path) -> int:
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError(f"{path}: no totals line")


_NAME = re.compile(r"^\((\d+)\)(?: (.*))?$")


def callgrind_parse(path: Path) -> tuple[dict, dict]:
    """From a callgrind dump: self cost (Ir) per (object, function) — every cost line that is not
    the inclusive cost of a call — and the calls: (caller, callee) -> [count, inclusive Ir]."""
    names: dict[tuple[str, str], str] = {}

    def name(kind: str, value: str) -> str:
        m = _NAME.match(value)
        if not m:
            return value
        if m.group(2) is not None:
            names[(kind, m.group(1))] = m.group(2)
            return m.group(2)
        return names.get((kind, m.group(1)), value)

    selfcost: dict[tuple[str, str], int] = {}
    edges: dict[tuple, list] = {}
    ob = fn = cob = cfn = ""
    pending_calls = None
    with open(path, errors="replace") as f:
        for line in f:
            c = line[:1]
            if c.isdigit() or c in "+-*":
                parts = line.split()
                if len(parts) < 2:
                    continue
                if pending_calls is not None:
                    e = edges.setdefault(((ob, fn), (cob or ob, cfn)), [0, 0])
                    e[0] += pending_calls
                    e[1] += int(parts[1])
                    pending_calls = None
                    cob = ""
                    continue
                selfcost[(ob, fn)] = selfcost.get((ob, fn), 0) + int(parts[1])
                continue
            key, _, value = line.rstrip("\n").partition("=")
            if key == "ob":
                ob = name("ob", value)
            elif key == "fn":
                fn = name("fn", value)
            elif key == "cob":
                cob = name("ob", value)
            elif key == "cfn":
                cfn = name("fn", value)
            elif key in ("fl", "fi", "fe", "cfi", "cfl"):
                name("fl", value)
            elif key == "calls":
                pending_calls = int(value.split()[0])
    return selfcost, edges


def callgrind_self_by_function(path: Path) -> dict[tuple[str, str], int]:
    return callgrind_parse(path)[0]


def elf_sections(binary: str) -> dict[str, tuple[int, int]]:
    """Section name -> (address, size) from `readelf -SW` (empty when readelf is missing)."""
    try:
        text = subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    out = {}
    for m in re.finditer(r"\]\s+(\S+)\s+\S+\s+([0-9a-f]{16})\s+[0-9a-f]+\s+([0-9a-f]+)", text):
        out[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16))
    return out


class Layout:
    """Where the Envoy binary is mapped in the valgrind process, to name the code regions that
    callgrind cannot attribute (the binary is stripped): tcmalloc lives in its own `google_malloc`
    section, which callgrind reports without an object."""

    def __init__(self, pid: int):
        binary = render.envoy_binary()
        self.real = real = os.path.realpath(binary)
        self.base = None
        self.lo = self.hi = 0
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            parts = line.split(None, 5)
            if len(parts) > 5 and os.path.realpath(parts[5]) == real:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                if self.base is None and int(parts[2], 16) == 0:
                    self.base = lo
                self.lo = min(self.lo or lo, lo)
                self.hi = max(self.hi, hi)
        secs = elf_sections(binary)
        self.malloc = []
        if self.base is not None:
            for name in ("google_malloc", "malloc_hook"):
                if name in secs:
                    addr, size = secs[name]
                    self.malloc.append((self.base + addr, self.base + addr + size))

    def category(self, obj: str, fn: str) -> str:
        if obj and os.path.realpath(obj) == self.real:
            return ENVOY_CPP
        if "libc.so" in obj:
            return "libc mem*/str*" if ("mem" in fn or "str" in fn) else "libc other"
        if obj in ("", "???"):
            m = re.search(r"0x([0-9a-f]+)", fn)
            if m:
                addr = int(m.group(1), 16)
                if any(lo <= addr < hi for lo, hi in self.malloc):
                    return "tcmalloc (malloc/free)"
                if self.lo <= addr < self.hi:
                    return ENVOY_CPP
                return "JIT code (Wasm functions, V8 stubs)"
        return "other (" + (Path(obj).name or "???") + ")"


ENVOY_CPP = "Envoy C++ (HTTP, Wasm host ABI, V8 runtime)"


def count_stats(envoy: Envoy) -> int:
    """How many stats Envoy holds (a filter defining new stats in steady state shows here)."""
    return len(envoy.admin("/stats").splitlines())


def stat_sum(envoy: Envoy, metric: str) -> int:
    """The sum of every series of one of the filter's counters."""
    text = envoy.admin("/stats?usedonly&filter=" + urllib.parse.quote(f"^wasmcustom\\.{metric}[;:]"))
    return sum(int(v) for v in re.findall(r":\s*(\d+)\s*$", text, re.M))


# --- one configuration under valgrind -------------------------------------------------------------

def valgrind_run(cfg: Config, run: int, upstream_port: int, chunked_port: int, args, outdir: Path) -> ValgrindResult:
    label = f"{cfg.key}{run}"
    work = outdir / f"vg-{label}"
    cg_out = work / "callgrind.out"
    wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg_out}",
               "--cache-sim=no", "--branch-sim=no", "--dump-instr=no", "--dump-line=no",
               "--collect-jumps=no"]
    envoy = Envoy(f"proxy-{label}", proxy_config(cfg, upstream_port, chunked_port), work, 1, wrapper)
    res = ValgrindResult(cfg, run)
    t0 = time.monotonic()
    log(f"valgrind {label} ({cfg.title}): starting")
    envoy.start(timeout=args.start_timeout)
    res.startup_s = time.monotonic() - t0
    vg_pid = envoy.proc.pid
    dumps = 0

    def dump() -> tuple[int, float]:
        nonlocal dumps
        subprocess.run(["callgrind_control", "--dump", str(vg_pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        dumps += 1
        path = Path(f"{cg_out}.{dumps}")
        # The file appears when valgrind has handled the request; wait until it is complete.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if path.is_file():
                try:
                    return callgrind_totals(path), time.monotonic()
                except (RuntimeError, ValueError, IndexError):
                    pass
            time.sleep(0.05)
        raise TimeoutError(f"{label}: callgrind dump {path} did not appear")

    client = Client(envoy.port)
    stat = "http.llm.downstream_rq_completed"
    try:
        log(f"valgrind {label}: ready after {res.startup_s:.0f}s; warm-up")
        for w in WORKLOADS:
            warmup = args.warmup if w != "sse_chunked" else max(5, args.warmup // 10)
            client.send(w, warmup)
            res.sent += warmup
        # The first metric flush of every series, V8 tier-up and lazy compilation happen here.
        time.sleep(2.5)
        _, t_prev = dump()
        layout = Layout(vg_pid)
        # Every phase holds the same admin reads: the stat count read after the previous dump,
        # and the request counter before and after.
        res.stat_counts.append(count_stats(envoy))
        for w in WORKLOADS:
            for n in counts(args, w):
                before = envoy.counter(stat)
                t_start = time.monotonic()
                client.send(w, n)
                elapsed = time.monotonic() - t_start
                done = envoy.counter(stat) - before
                ir, t = dump()
                res.phases[(w, n)] = Phase(ir, t - t_prev, done)
                res.rps[(w, n)] = n / elapsed
                t_prev = t
                res.sent += n
                res.stat_counts.append(count_stats(envoy))
                if done != n:
                    raise RuntimeError(f"{label}: {w}: sent {n} requests, Envoy completed {done}")
        client.close()
        time.sleep(2.5)          # the filter's last flush of the traffic's metrics
        _, t_prev = dump()
        time.sleep(args.idle)
        idle_ir, t = dump()
        res.idle_rate = idle_ir / (t - t_prev)
        if cfg.key in ("c", "d", "x"):
            res.metric_requests = stat_sum(envoy, "litellm_proxy_total_requests_metric_total")
            res.metric_output_tokens = stat_sum(envoy, "litellm_output_tokens_metric_total")
        (work / "stats-final.txt").write_text(envoy.admin("/stats"))
    finally:
        client.close()
        envoy.stop()
    for w in WORKLOADS:
        a, b = (res.phases[(w, n)] for n in counts(args, w))
        dn = b.requests - a.requests
        res.uncorrected[w] = (b.ir - a.ir) / dn
        res.per_request[w] = (b.ir - a.ir - res.idle_rate * (b.seconds - a.seconds)) / dn
    # Where the N2 phases' instructions go (self cost per category, per request).
    index = {(w, n): i for i, (w, n) in enumerate(((w, n) for w in WORKLOADS for n in counts(args, w)), start=2)}
    for w in WORKLOADS:
        n2 = counts(args, w)[1]
        by_cat: dict[str, float] = {}
        top: dict[str, float] = {}
        per_fn, edges = callgrind_parse(Path(f"{cg_out}.{index[(w, n2)]}"))
        # The Wasm/host boundary: calls from JIT code into Envoy (host ABI functions, through
        # V8's wrappers) and from Envoy into JIT code (the filter's callbacks).
        jit = "JIT code (Wasm functions, V8 stubs)"
        host = [0, 0]
        entries = [0, 0]
        for (caller, callee), (count, incl) in edges.items():
            a_jit = layout.category(*caller) == jit
            b_jit = layout.category(*callee) == jit
            if a_jit and not b_jit:
                host[0] += count
                host[1] += incl
            elif b_jit and not a_jit:
                entries[0] += count
                entries[1] += incl
        res.boundary[w] = {"host_calls": host[0] / n2, "host_ir": host[1] / n2,
                           "wasm_entries": entries[0] / n2, "wasm_ir": entries[1] / n2}
        for (obj, fn), ir in per_fn.items():
            cat = layout.category(obj, fn)
            by_cat[cat] = by_cat.get(cat, 0) + ir / n2
            top[f"{Path(obj).name or '???'}:{fn}"] = ir / n2
        res.objects[w] = by_cat
        res.top_functions[w] = top
    log(f"valgrind {label}: done: " + ", ".join(f"{w} {res.per_request[w]:,.0f} Ir/req" for w in WORKLOADS)
        + f", idle {res.idle_rate:,.0f} Ir/s")
    return res


# --- the core natively, with symbols -------------------------------------------------------------

def core_profile(binary: Path, configs: dict[str, Config], bodies: dict[str, tuple[Path, Path]],
                 outdir: Path, n1: int = 100, n2: int = 300) -> dict:
    """llm_telemetry_core driven natively (tests/bench/core-profile) through the same exchanges,
    under callgrind: instructions per exchange by function name, which the Wasm JIT code lacks.
    (config, workload) -> (Ir/exchange, [(function, Ir/exchange)] by self cost)."""
    work = outdir / "core-profile"
    work.mkdir(exist_ok=True)
    out = {}
    for key in ("c", "d"):
        cfg_file = work / f"plugin-{key}.json"
        cfg_file.write_text(json.dumps(configs[key].plugin_config or {}))
        for w in WORKLOADS:
            request, response = bodies[w]
            mode, chunk = {"json": ("json", "16384"), "sse": ("sse", "16384"), "sse_chunked": ("sse", "event")}[w]
            totals, per_fn = {}, {}
            for n in (n1, n2):
                dump = work / f"callgrind-{key}-{w}-{n}.out"
                subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={dump}",
                                "--toggle-collect=bench_core_profile::run", str(binary), mode, str(n),
                                str(cfg_file), str(request), str(response), chunk],
                               check=True, capture_output=True, timeout=600)
                totals[n] = callgrind_totals(dump)
                per_fn[n] = {}
                for (_, fn), ir in callgrind_self_by_function(dump).items():
                    per_fn[n][fn] = per_fn[n].get(fn, 0) + ir
            per = (totals[n2] - totals[n1]) / (n2 - n1)
            fns = {fn: (per_fn[n2].get(fn, 0) - per_fn[n1].get(fn, 0)) / (n2 - n1)
                   for fn in set(per_fn[n1]) | set(per_fn[n2])}
            out[(key, w)] = (per, sorted(fns.items(), key=lambda x: -x[1]))
    return out


def short_fn(name: str) -> str:
    name = re.sub(r"llm_telemetry_core::", "", name)
    name = re.sub(r"<(\S+) as [^<>]*>::", r"\1::", name)
    return name if len(name) <= 60 else name[:57] + "..."


# --- native throughput with wrk -------------------------------------------------------------------

def wrk_round(proxies: dict[str, Envoy], args, outdir: Path) -> dict:
    """One round: every configuration, every workload, wrk for args.wrk_seconds each."""
    lua = BENCH_DIR / "post.lua"
    out: dict = {}
    for w in WRK_WORKLOADS:
        body_file = outdir / f"request-{w}.json"
        body_file.write_text(json.dumps(REQUESTS[w]))
        env = {**os.environ, "BENCH_BODY_FILE": str(body_file), "BENCH_WORKLOAD": w, "BENCH_API_KEY": API_KEY}
        for key, envoy in proxies.items():
            url = f"http://127.0.0.1:{envoy.port}{PATH}"
            completed0 = envoy.counter("http.llm.downstream_rq_completed")
            cpu0 = envoy.cpu_seconds()
            r = subprocess.run(["wrk", "-t1", f"-c{args.wrk_connections}", f"-d{args.wrk_seconds}s",
                                "--timeout", "10s", "-s", str(lua), url],
                               env=env, capture_output=True, text=True, timeout=args.wrk_seconds + 60)
            cpu = envoy.cpu_seconds() - cpu0
            completed = envoy.counter("http.llm.downstream_rq_completed") - completed0
            m = re.search(r"Requests/sec:\s*([\d.]+)", r.stdout)
            if r.returncode != 0 or not m:
                raise RuntimeError(f"wrk failed on {key}/{w}: {r.stdout}{r.stderr}")
            bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", r.stdout)
            errors = re.search(r"Socket errors:.*", r.stdout)
            if bad:
                raise RuntimeError(f"wrk {key}/{w}: {bad.group(1)} non-2xx responses")
            out[(key, w)] = {"rps": float(m.group(1)), "cpu_us": 1e6 * cpu / max(1, completed),
                             "requests": completed, "errors": errors.group(0) if errors else ""}
    return out


def native_bench(configs: list[Config], upstream_port: int, args, outdir: Path) -> tuple[dict, dict]:
    proxies: dict[str, Envoy] = {}
    try:
        for cfg in configs:
            proxies[cfg.key] = Envoy(f"native-{cfg.key}", proxy_config(cfg, upstream_port),
                                     outdir / "native", 1).start(timeout=60)
        # Warm up each (V8 lazy compilation, connection pools) before measuring.
        for envoy in proxies.values():
            c = Client(envoy.port)
            for w in WRK_WORKLOADS:
                c.send(w, 50)
            c.close()
        rounds = []
        for i in range(args.wrk_rounds):
            log(f"wrk round {i + 1}/{args.wrk_rounds}")
            rounds.append(wrk_round(proxies, args, outdir))
        rss = {k: e.rss_mb() for k, e in proxies.items()}
    finally:
        for e in proxies.values():
            e.stop()
    merged = {}
    for k in rounds[0]:
        merged[k] = {"rps": statistics.mean(r[k]["rps"] for r in rounds),
                     "rps_all": [r[k]["rps"] for r in rounds],
                     "cpu_us": statistics.mean(r[k]["cpu_us"] for r in rounds)}
    return merged, rss


# --- report ---------------------------------------------------------------------------------------

def fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def fmt_delta(x: float) -> str:
    return f"{x:+,.0f}"


def report(configs: dict[str, Config], results: list[ValgrindResult], native: dict | None, rss: dict | None,
           core: dict | None, args, sse_size: int, json_size: int, started: float) -> str:
    first = {}
    for r in results:
        first.setdefault(r.config.key, r)
    a, b = first.get("a"), first.get("b")
    lines = []
    p = lines.append
    p(f"# llm-telemetry bench ({time.strftime('%Y-%m-%d %H:%M')}, Envoy {args.envoy_version})")
    p("")
    p(f"Filter: build/llm_telemetry.wasm {args.wasm_info}; tree: {args.git_info}")
    p(f"Instructions per request: Envoy --concurrency 1 under callgrind, (I(N2) - I(N1) - idle) / (N2 - N1), "
      f"N1={args.n1}, N2={args.n2}, after {args.warmup} warm-up requests per workload.")
    p(f"Workloads: json = chat completion ({json_size} B response, application/json); "
      f"sse = stream of 200 chunk events ({sse_size:,} B, text/event-stream), usage chunk, [DONE].")
    p("")
    p("| config | workload | Ir/request | vs (a) bare | vs (b) noop | ratio vs (a) | ratio vs (b) "
      "| req/s (wrk) | req/s vs (a) | req/s vs (b) | CPU us/req |")
    p("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key, cfg in configs.items():
        r = first.get(key)
        if not r and not any((key, w) in (native or {}) for w in WORKLOADS):
            continue
        for w in WORKLOADS:
            ir = r.per_request[w] if r else None
            va = fmt_delta(ir - a.per_request[w]) if r and a and key != "a" else ""
            vb = fmt_delta(ir - b.per_request[w]) if r and b and key not in ("a", "b") else ""
            ratio = f"{ir / a.per_request[w]:.3f}" if r and a else ""
            ratio_b = f"{ir / b.per_request[w]:.3f}" if r and b and key != "a" else ""
            rps = rps_ratio = rps_ratio_b = cpu = ""
            if native and (key, w) in native:
                n = native[(key, w)]
                rps = f"{n['rps']:,.0f}"
                cpu = f"{n['cpu_us']:.0f}"
                if ("a", w) in native:
                    rps_ratio = f"{n['rps'] / native[('a', w)]['rps']:.3f}"
                if ("b", w) in native and key != "a":
                    rps_ratio_b = f"{n['rps'] / native[('b', w)]['rps']:.3f}"
            p(f"| {key} {cfg.title} | {w} | {fmt_int(ir) if r else ''} | {va} | {vb} | {ratio} | {ratio_b} "
              f"| {rps} | {rps_ratio} | {rps_ratio_b} | {cpu} |")
    p("")
    # Repeatability.
    reps = [r for r in results if r.config.key == "c"]
    if len(reps) > 1:
        p("Repeatability (configuration c measured in separate valgrind runs):")
        for w in WORKLOADS:
            vals = [r.per_request[w] for r in reps]
            spread = (max(vals) - min(vals)) / statistics.mean(vals) * 100
            above = [v - b.per_request[w] for v in vals] if b else []
            p(f"- {w}: " + " / ".join(fmt_int(v) for v in vals) + f" Ir/request: spread {spread:.2f}%"
              + (f"; above noop: " + " / ".join(fmt_int(v) for v in above) if above else ""))
        p("")
    # Targets (issue 8), and the reading floor beside them.
    c, rd = first.get("c"), first.get("r")
    if b and c:
        events = 201
        over = {w: c.per_request[w] - b.per_request[w] for w in WORKLOADS}
        per_event = (over["sse_chunked"] - over["json"]) / events
        size = args.wasm.stat().st_size
        p("Targets, c over the do-nothing filter (b):")
        p(f"- JSON request {fmt_delta(over['json'])} (target +100,000: "
          f"{'met' if over['json'] <= 100_000 else 'not met'})")
        p(f"- SSE event delivered one per chunk {fmt_delta(per_event)} (target +10,000: "
          f"{'met' if per_event <= 10_000 else 'not met'})")
        p(f"- .wasm {size:,} bytes (target 400,000: {'met' if size <= 400_000 else 'not met'})")
        if rd:
            r_over = {w: rd.per_request[w] - b.per_request[w] for w in WORKLOADS}
            r_event = (r_over["sse_chunked"] - r_over["json"]) / events
            p(f"- the reading floor (r) alone: JSON request {fmt_delta(r_over['json'])}, "
              f"SSE event one per chunk {fmt_delta(r_event)}; c over it: JSON "
              f"{fmt_delta(over['json'] - r_over['json'])}, per event {fmt_delta(per_event - r_event)}")
        x = first.get("x")
        if x:
            x_over = {w: x.per_request[w] - b.per_request[w] for w in WORKLOADS}
            x_event = (x_over["sse_chunked"] - x_over["json"]) / events
            alt = args.alt_wasm or args.wasm
            p(f"- x ({x.config.title}; {alt.stat().st_size:,} bytes) over b: JSON request "
              f"{fmt_delta(x_over['json'])}, SSE {fmt_delta(x_over['sse'])}, per event {fmt_delta(x_event)}; "
              f"x - c: JSON {fmt_delta(x_over['json'] - over['json'])}, SSE {fmt_delta(x_over['sse'] - over['sse'])}, "
              f"per event {fmt_delta(x_event - per_event)}")
        p("")
    # SSE vs JSON.
    p("Cost per KB of response body (sse - json, divided by the extra bytes):")
    extra_kb = (sse_size - json_size) / 1024
    for key in ("a", "b", "c", "d"):
        r = first.get(key)
        if r:
            d = r.per_request["sse"] - r.per_request["json"]
            extra = ""
            if b and key in ("c", "d"):
                filt = (r.per_request["sse"] - b.per_request["sse"]) - (r.per_request["json"] - b.per_request["json"])
                extra = f"; the filter's own share: {filt / extra_kb:,.0f} Ir/KB ({filt / 200:,.0f} Ir per SSE event)"
            p(f"- {key}: {d / extra_kb:,.0f} Ir/KB{extra}")
    p("")
    # Where instructions go.
    if b:
        p("Where the instructions go (self cost per request in the N2 phase, by code region; "
          "difference against (b)):")
        cats = sorted({c for r in first.values() for w in WORKLOADS for c in r.objects.get(w, {})})
        p("")
        p("| region | workload | " + " | ".join(f"{k}" for k in first) + " | c - b | d - b |")
        p("|---|---|" + "---:|" * (len(first) + 2))
        for cat in cats:
            for w in WORKLOADS:
                vals = {k: r.objects[w].get(cat, 0.0) for k, r in first.items()}
                if max(vals.values()) < 500:
                    continue
                cb = fmt_delta(vals["c"] - vals["b"]) if "c" in vals else ""
                db = fmt_delta(vals["d"] - vals["b"]) if "d" in vals else ""
                p(f"| {cat} | {w} | " + " | ".join(fmt_int(v) for v in vals.values()) + f" | {cb} | {db} |")
        p("")
        p("Wasm/host boundary per request (N2 phase; callgrind's call graph through JIT code is "
          "approximate): Envoy -> Wasm callback entries and their inclusive Ir (everything the "
          "filter does, host calls included); calls out of JIT code into the Envoy binary (proxy-wasm "
          "host functions, and V8's C helpers such as memory.copy/fill) and their inclusive Ir:")
        p("")
        p("| config | workload | Wasm entries | Ir inside Wasm callbacks | host calls | Ir inside host calls |")
        p("|---|---|---:|---:|---:|---:|")
        for key, r in first.items():
            for w in WORKLOADS:
                bd = r.boundary.get(w)
                if bd and key != "a":
                    p(f"| {key} | {w} | {bd['wasm_entries']:.1f} | {fmt_int(bd['wasm_ir'])} "
                      f"| {bd['host_calls']:.1f} | {fmt_int(bd['host_ir'])} |")
        p("")
        for key in ("c", "d"):
            r = first.get(key)
            if not r:
                continue
            for w in WORKLOADS:
                diffs = []
                base = b.top_functions.get(w, {})
                for fn, v in r.top_functions[w].items():
                    diffs.append((v - base.get(fn, 0.0), fn))
                diffs.sort(reverse=True)
                shown = [f"{fn} {fmt_delta(d)}" for d, fn in diffs[:5] if d > 300]
                if shown:
                    p(f"- top functions above (b), {key}/{w} (no symbols: ??? = JIT or tcmalloc): " + "; ".join(shown))
        p("")
    p("Fixed cost per phase, I(N1) - N1 x Ir/request (the admin stats read and the stats flush it "
      "triggers; about equal for both workloads unless something one-off, such as V8 compiling, fell "
      "into a phase, which then skews the result: raise the warm-up):")
    for r in results:
        fixed = {}
        for w in WORKLOADS:
            a1 = r.phases[(w, counts(args, w)[0])]
            fixed[w] = a1.ir - r.idle_rate * a1.seconds - r.per_request[w] * a1.requests
        # A one-off burst B in one phase moves the result by B / (N2 - N1).
        tol = 0.01 * min(r.per_request.values()) * (args.n2 - args.n1)
        flag = "  <-- CHECK: one-off cost in a phase?" if abs(fixed["json"] - fixed["sse"]) > tol else ""
        p(f"- {r.config.key}{r.run}: " + ", ".join(f"{w} {fmt_int(v)}" for w, v in fixed.items()) + flag)
    p("")
    if core:
        p("The core natively (tests/bench/core-profile: llm_telemetry_core on x86 with symbols, same "
          "exchanges, callgrind; the Wasm build runs the same code through V8 plus the host calls):")
        p("")
        p("| config | workload | core Ir/exchange (native) | filter above noop in Envoy | top functions (self Ir/exchange, share) |")
        p("|---|---|---:|---:|---|")
        for (key, w), (per, fns) in core.items():
            above = fmt_delta(first[key].per_request[w] - b.per_request[w]) if key in first and b else ""
            tops = ", ".join(f"{short_fn(fn)} {fmt_int(v)} ({100 * v / per:.0f}%)"
                             for fn, v in fns[:6] if per > 0 and v > 0.02 * per)
            p(f"| {key} | {w} | {fmt_int(per)} | {above} | {tops} |")
        p("")
    grown = [r for r in results if len(set(r.stat_counts)) > 1]
    if grown:
        p("WARNING: Envoy created stats during the measured phases in " + ", ".join(
            f"{r.config.key}{r.run}" for r in grown) + ": a new label combination mid-run (each new "
          "stat runs every stats_tags regex); those phases include that cost.")
    p("Envoy stats after warm-up and after each phase: " + "; ".join(
        f"{r.config.key}{r.run} " + " ".join(str(c) for c in r.stat_counts) for r in results))
    p("Idle cost (instructions/s with no traffic, subtracted per phase duration): "
      + ", ".join(f"{r.config.key}{r.run} {fmt_int(r.idle_rate)}" for r in results))
    p("Correction applied (Ir/request): " + ", ".join(
        f"{r.config.key}{r.run} " + "/".join(fmt_delta(r.per_request[w] - r.uncorrected[w]) for w in WORKLOADS)
        for r in results))
    p("Under valgrind (N2 phase, req/s): " + ", ".join(
        f"{r.config.key}{r.run} " + "/".join(f"{r.rps[(w, counts(args, w)[1])]:.0f}" for w in WORKLOADS) for r in results)
      + f"; start-up under valgrind: " + ", ".join(f"{r.config.key}{r.run} {r.startup_s:.0f}s" for r in results))
    for r in results:
        if r.metric_requests is not None:
            p(f"Filter check {r.config.key}{r.run}: litellm_proxy_total_requests_metric_total = "
              f"{r.metric_requests} for {r.sent} requests sent; output tokens {r.metric_output_tokens}")
    if native:
        p("")
        p(f"wrk: -t1 -c{args.wrk_connections}, {args.wrk_seconds}s per cell, {args.wrk_rounds} interleaved rounds "
          "(mean shown; per round: " + "; ".join(
              f"{k}/{w} " + "/".join(f"{x:,.0f}" for x in v["rps_all"]) for (k, w), v in native.items()) + ").")
        p("Time figures are indicative only: a noisy 2-core machine shared by wrk, the proxy and the "
          "upstream; compare ratios within this run, not absolute values across runs.")
        if rss:
            p("RSS after the wrk rounds (MB): " + ", ".join(f"{k} {v:.0f}" for k, v in rss.items()))
    p("")
    p(f"Total bench time: {(time.monotonic() - started) / 60:.1f} min")
    return "\n".join(lines) + "\n"


# --- main -----------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--noop-wasm", type=Path, required=True)
    ap.add_argument("--reader-wasm", type=Path, help="the reading floor (configuration r)")
    ap.add_argument("--wasm", type=Path, default=REPO / "build" / "llm_telemetry.wasm")
    ap.add_argument("--alt-wasm", type=Path, default=os.environ.get("BENCH_ALT_WASM") or None,
                    help="another build of ours, measured as configuration x in the same run "
                         "(an A/B of a build change; BENCH_ALT_WASM)")
    ap.add_argument("--alt-config", default=os.environ.get("BENCH_ALT_CONFIG") or None,
                    help="the plugin configuration (JSON) of configuration x, {} by default; with no "
                         "--alt-wasm, x is our build under it (an A/B of a setting; BENCH_ALT_CONFIG)")
    ap.add_argument("--out", type=Path, default=REPO / ".run" / "bench")
    ap.add_argument("--n1", type=int, default=int(os.environ.get("BENCH_N1", 200)))
    ap.add_argument("--n2", type=int, default=int(os.environ.get("BENCH_N2", 800)))
    ap.add_argument("--warmup", type=int, default=int(os.environ.get("BENCH_WARMUP", 100)))
    ap.add_argument("--chunked-n1", type=int, default=int(os.environ.get("BENCH_CHUNKED_N1", 20)),
                    help="N1 of the sse_chunked workload (one event per chunk: ~200 callbacks a request)")
    ap.add_argument("--chunked-n2", type=int, default=int(os.environ.get("BENCH_CHUNKED_N2", 60)))
    ap.add_argument("--idle", type=float, default=float(os.environ.get("BENCH_IDLE", 8)))
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("BENCH_JOBS", 2)),
                    help="valgrind Envoys at once (instruction counts do not depend on it)")
    ap.add_argument("--configs", default=os.environ.get("BENCH_CONFIGS", "a,b,r,c,d,c"),
                    help="valgrind runs in order; a key repeated is a repeat run")
    ap.add_argument("--start-timeout", type=float, default=600)
    ap.add_argument("--wrk-seconds", type=int, default=int(os.environ.get("BENCH_WRK_SECONDS", 5)))
    ap.add_argument("--wrk-rounds", type=int, default=int(os.environ.get("BENCH_WRK_ROUNDS", 2)))
    ap.add_argument("--wrk-connections", type=int, default=4)
    ap.add_argument("--no-wrk", action="store_true")
    ap.add_argument("--core-profile", type=Path, help="tests/bench/core-profile binary (optional)")
    ap.add_argument("--no-valgrind", action="store_true")
    args = ap.parse_args()
    if args.n2 <= args.n1 or args.chunked_n2 <= args.chunked_n1:
        ap.error("N2 must be larger than N1")
    started = time.monotonic()
    outdir = args.out / time.strftime("%Y%m%d-%H%M%S")
    outdir.mkdir(parents=True, exist_ok=True)
    version = subprocess.run([render.envoy_binary(), "--version"], capture_output=True, text=True).stdout
    m = re.search(r"/(\d+\.\d+\.\d+)/", version)
    args.envoy_version = m.group(1) if m else "?"

    # Private copies: `make build` elsewhere must not swap the module between two runs.
    for attr, name in (("wasm", "llm_telemetry.wasm"), ("noop_wasm", "noop_filter.wasm"),
                       ("reader_wasm", "reader_filter.wasm")):
        if getattr(args, attr) is None:
            continue
        copy_path = outdir / name
        shutil.copyfile(getattr(args, attr), copy_path)
        setattr(args, attr, copy_path)
    args.wasm_info = (f"{args.wasm.stat().st_size:,} B, sha256 "
                      + hashlib.sha256(args.wasm.read_bytes()).hexdigest()[:12])
    head = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "filter"],
                           capture_output=True, text=True).stdout.strip()
    args.git_info = head.stdout.strip()[:70] + (" (+ uncommitted changes under filter/)" if dirty else "")
    sse = sse_body()
    sse_path = outdir / "chat_stream_bench.sse"
    sse_path.write_bytes(sse)
    json_path = FIXTURES / "chat_completion.json"
    configs = {
        "a": Config("a", "bare", None),
        "b": Config("b", "noop wasm", args.noop_wasm),
        **({"r": Config("r", "reading floor", args.reader_wasm)} if args.reader_wasm else {}),
        "c": Config("c", "ours {}", args.wasm, {}),
        "d": Config("d", "ours example", args.wasm, json.loads((REPO / "examples" / "config.json").read_text())),
        **({"x": Config("x", "ours " + (args.alt_config or "{}" if len(args.alt_config or "{}") <= 60
                                         else f"{args.alt_config[:57]}...")
                            + (f", {args.alt_wasm.name}" if args.alt_wasm else ""),
                        args.alt_wasm or args.wasm, json.loads(args.alt_config or "{}"))}
           if args.alt_wasm or args.alt_config else {}),
    }
    log(f"output in {outdir}; SSE body {len(sse):,} bytes, {sse.count(b'data: ')} events")
    upstream = Envoy("upstream", upstream_config(json_path, sse_path), outdir, concurrency=2).start(timeout=60)
    chunked = h2_stream.H2StreamServer(sse)
    results: list[ValgrindResult] = []
    native = rss = None
    try:
        if not args.no_wrk and args.wrk_rounds > 0:
            native, rss = native_bench(list(configs.values()), upstream.port, args, outdir)
        if not args.no_valgrind:
            order = [k.strip() for k in args.configs.split(",") if k.strip()]
            seen: dict[str, int] = {}
            jobs = []
            for k in order:
                seen[k] = seen.get(k, 0) + 1
                jobs.append((configs[k], seen[k]))
            with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
                futures = [pool.submit(valgrind_run, cfg, run, upstream.port, chunked.port, args, outdir) for cfg, run in jobs]
                results = [f.result() for f in futures]
    finally:
        upstream.stop()
        chunked.close()
    core = None
    core_failed = False
    if args.core_profile and args.core_profile.is_file():
        log("core profile (native, callgrind)")
        bodies = {}
        for w in WORKLOADS:
            req = outdir / f"request-{w}.json"
            req.write_text(json.dumps(REQUESTS[w]))
            bodies[w] = (req, json_path if w == "json" else sse_path)
        try:
            core = core_profile(args.core_profile, configs, bodies, outdir)
        except (subprocess.SubprocessError, OSError, RuntimeError) as e:
            log(f"core profile FAILED: {e}")
            core_failed = True
    text = report(configs, results, native, rss, core, args, len(sse), json_path.stat().st_size, started)
    (outdir / "results.md").write_text(text)
    raw = [{"config": r.config.key, "run": r.run, "per_request": r.per_request, "uncorrected": r.uncorrected,
            "idle_rate": r.idle_rate, "startup_s": r.startup_s, "objects": r.objects,
            "phases": {f"{w}/{n}": vars(ph) for (w, n), ph in r.phases.items()}} for r in results]
    native_raw = {f"{k}/{w}": v for (k, w), v in (native or {}).items()}
    summary = headline(results, args, sse.count(b"data: "))
    (outdir / "results.json").write_text(json.dumps({**summary, "valgrind": raw, "wrk": native_raw, "rss_mb": rss},
                                                    indent=1))
    print(text)
    print(json.dumps(summary, indent=1))
    log(f"written {outdir / 'results.md'} and results.json")
    return 1 if core_failed else 0


def headline(results: list[ValgrindResult], args, events: int) -> dict:
    """The figures issue 8 sets targets for, from the first run of each configuration of this
    bench run: bare (a), do-nothing filter (b), ours with `{}` (c) and with the example (d).
    Per event of the chunked stream: (chunked stream - JSON request) over noop, divided by the
    stream's events, so the per-request part both pay (headers, metrics) is not spread over them."""
    first: dict[str, ValgrindResult] = {}
    for r in results:
        first.setdefault(r.config.key, r)
    out: dict = {"wasm_bytes": args.wasm.stat().st_size, "sse_events": events}
    for key, name in (("a", "bare"), ("b", "noop"), ("c", "ours"), ("d", "ours_example")):
        if key in first:
            out[f"{name}_instructions"] = {w: round(v) for w, v in first[key].per_request.items()}
    b = first.get("b")
    rd = first.get("r")
    if rd and b:
        over = {w: rd.per_request[w] - b.per_request[w] for w in WORKLOADS}
        out["reader_instructions"] = {w: round(v) for w, v in rd.per_request.items()}
        out["reader_json_instructions_over_noop"] = round(over["json"])
        out["reader_sse_chunked_instructions_over_noop_per_event"] = round(
            (over["sse_chunked"] - over["json"]) / events)
    for key, prefix in (("c", ""), ("d", "example_"), ("x", "alt_")):
        r = first.get(key)
        if not (r and b):
            continue
        over = {w: r.per_request[w] - b.per_request[w] for w in WORKLOADS}
        out[f"{prefix}json_instructions_over_noop"] = round(over["json"])
        out[f"{prefix}sse_instructions_over_noop"] = round(over["sse"])
        out[f"{prefix}sse_chunked_instructions_over_noop"] = round(over["sse_chunked"])
        out[f"{prefix}sse_chunked_instructions_over_noop_per_event"] = round(
            (over["sse_chunked"] - over["json"]) / events)
    c = first.get("c")
    if c and rd:
        over = {w: c.per_request[w] - rd.per_request[w] for w in WORKLOADS}
        out["json_instructions_over_reader"] = round(over["json"])
        out["sse_chunked_instructions_over_reader_per_event"] = round(
            (over["sse_chunked"] - over["json"]) / events)
    reps = [r for r in results if r.config.key == "c"]
    if len(reps) > 1:
        out["repeat_json_instructions_over_noop"] = [round(r.per_request["json"] - b.per_request["json"])
                                                     for r in reps] if b else []
    return out


if __name__ == "__main__":
    sys.exit(main())
