"""End to end: real Envoy + the filter + the fake OpenAI upstream, asserting the exact lines of
Envoy's /stats/prometheus.

Expected label sets are built here from LiteLLM's catalogue (the label names of every family, as
LiteLLM 1.106 declares them, copied below from the spec), never read back from the filter. After
each scenario the WHOLE exposition of the filter (every `litellm_*` and `llm_telemetry_*` sample)
must equal the expectation: counters and gauges line for line, histograms by label set, count and
shape (latency values vary, so bucket values are only checked to be cumulative).

Tests that need the whole exposition to themselves (the filter's own counters, a config of
their own) start their own Envoy; the others share one and compare only the series of their own
requests, told apart by an API key and a model name no other test uses. Metrics are flushed every
100 ms (`telemetry_settings.metrics_flush_interval_ms`); the tests poll until the expected state
appears, then check once more after a few flushes that nothing is counted twice.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import re
import socket
import threading
import time
from types import SimpleNamespace

import pytest

from harness import REPO, EnvoyFactory, fixture_bytes

FLUSH_MS = 100
FAST = {"telemetry_settings": {"metrics_flush_interval_ms": FLUSH_MS}}
MESSAGES = [{"role": "user", "content": "Say bonjour"}]

# --- LiteLLM's families (spec/litellm-metric-catalogue.md): kind and label names ----------------

_TOKENS = ("end_user hashed_api_key api_key_alias model team team_alias user user_email requested_model "
           "model_id api_provider org_id org_alias")
_TOKEN_DETAILS = ("end_user hashed_api_key api_key_alias model team team_alias user user_email "
                  "requested_model model_id api_provider")
_HEADROOM = "model_group api_provider api_base litellm_model_name hashed_api_key api_key_alias model_id"
_API_LATENCY = ("model_group model hashed_api_key api_key_alias team team_alias requested_model end_user user "
                "model_id api_provider service_tier org_id org_alias")
_DEPLOYMENT_RESPONSES = ("model_group requested_model litellm_model_name model_id api_base api_provider "
                         "hashed_api_key api_key_alias team team_alias client_ip user_agent")
_PROVIDER_CACHE = "model hashed_api_key api_key_alias team team_alias end_user user model_id api_provider"

FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {name: (kind, tuple(labels.split())) for name, kind, labels in [
    ("litellm_proxy_failed_requests_metric", "counter",
     "end_user hashed_api_key api_key_alias requested_model team team_alias user user_email exception_status "
     "exception_class route client_ip user_agent model_id api_provider org_id org_alias"),
    ("litellm_proxy_total_requests_metric", "counter",
     "end_user hashed_api_key api_key_alias requested_model team team_alias user status_code user_email route "
     "client_ip user_agent model_id api_provider org_id org_alias"),
    ("litellm_request_total_latency_metric", "histogram",
     "model_group end_user hashed_api_key api_key_alias requested_model team team_alias user model model_id "
     "api_provider service_tier org_id org_alias"),
    ("litellm_llm_api_latency_metric", "histogram", _API_LATENCY),
    ("litellm_llm_api_time_to_first_token_metric", "histogram", _API_LATENCY),
    ("litellm_total_tokens_metric", "counter", _TOKENS),
    ("litellm_input_tokens_metric", "counter", _TOKENS),
    ("litellm_output_tokens_metric", "counter", _TOKENS),
    ("litellm_input_cached_tokens_metric", "counter", _TOKEN_DETAILS),
    ("litellm_input_cache_creation_tokens_metric", "counter", _TOKEN_DETAILS),
    ("litellm_input_audio_tokens_metric", "counter", _TOKEN_DETAILS),
    ("litellm_output_reasoning_tokens_metric", "counter", _TOKEN_DETAILS),
    ("litellm_output_audio_tokens_metric", "counter", _TOKEN_DETAILS),
    ("litellm_remaining_requests_metric", "gauge", _HEADROOM),
    ("litellm_remaining_tokens_metric", "gauge", _HEADROOM),
    ("litellm_overhead_latency_metric", "histogram", _HEADROOM),
    ("litellm_deployment_state", "gauge", "litellm_model_name model_id api_base api_provider"),
    ("litellm_deployment_tpm_limit", "gauge", "model_group litellm_model_name model_id api_base api_provider"),
    ("litellm_deployment_rpm_limit", "gauge", "model_group litellm_model_name model_id api_base api_provider"),
    ("litellm_deployment_cooled_down", "counter", "litellm_model_name model_id api_base api_provider exception_status"),
    ("litellm_deployment_success_responses", "counter", _DEPLOYMENT_RESPONSES),
    ("litellm_deployment_failure_responses", "counter",
     "model_group requested_model litellm_model_name model_id api_base api_provider exception_status "
     "exception_class hashed_api_key api_key_alias team team_alias client_ip user_agent"),
    ("litellm_deployment_total_requests", "counter", _DEPLOYMENT_RESPONSES),
    ("litellm_deployment_latency_per_output_token", "histogram",
     "model_group litellm_model_name model_id api_base api_provider hashed_api_key api_key_alias team team_alias "
     "org_id org_alias"),
    ("litellm_llm_api_failed_requests_metric", "counter",
     "end_user hashed_api_key api_key_alias model team team_alias user model_id"),
    ("litellm_requests_metric", "counter",
     "end_user hashed_api_key api_key_alias model team team_alias user user_email client_ip user_agent "
     "requested_model model_id api_provider org_id org_alias"),
    ("litellm_provider_cache_read_input_tokens_metric", "counter", _PROVIDER_CACHE),
    ("litellm_provider_cache_creation_input_tokens_metric", "counter", _PROVIDER_CACHE),
]}

# LiteLLM's bucket bounds (`le` exactly as its Prometheus client prints them), then +Inf.
LATENCY_LE = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.0", "5.0", "10.0", "30.0",
              "60.0", "120.0", "300.0", "420.0", "600.0", "+Inf"]
PER_TOKEN_LE = ["0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1.0", "2.5", "5.0",
                "7.5", "10.0", "+Inf"]
HIST_PARTS = ("_bucket", "_count", "_sum_microseconds")
# The filter's own counters these tests account for (others, e.g. alert delivery, are not theirs).
OWN_FAMILIES = ("llm_telemetry_unreadable_bodies_total", "llm_telemetry_streams_without_usage_total",
                "llm_telemetry_stream_usage_injected_total", "llm_telemetry_label_values_folded_total",
                "llm_telemetry_series_folded_total")


def sha256_hex(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# --- exposition text ------------------------------------------------------------------------------

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


def esc(value: str) -> str:
    """A label value as the Prometheus text format writes it."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def fmt(name: str, labels: dict[str, str], value) -> str:
    """One exposition line, labels in alphabetical order (as LiteLLM's client prints them)."""
    body = ",".join(f'{k}="{esc(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{body}}} {value}" if labels else f"{name} {value}"


def parse_sample(line: str) -> tuple[str, dict[str, str], str]:
    m = _SAMPLE.match(line)
    assert m, f"not an exposition sample line: {line!r}"
    name, raw, value = m.groups()
    labels = {k: re.sub(r"\\(.)", lambda x: {"n": "\n"}.get(x.group(1), x.group(1)), v)
              for k, v in _LABEL.findall(raw or "")}
    return name, labels, value


# Spend and budget stats (integer units rebuilt into LiteLLM's series by recording rules): their
# values depend on prices, so tests/e2e/test_spend.py checks them.
SPEND_STATS = ("litellm_spend_metric_picodollars_total{",)


def filter_lines(text: str) -> list[str]:
    """Every sample line of LiteLLM's families, and of the filter's own counters in OWN_FAMILIES."""
    return [ln for ln in text.splitlines()
            if (ln.startswith("litellm_") and not ln.startswith(SPEND_STATS))
            or ln.startswith(tuple(f + "{" for f in OWN_FAMILIES))]


def histogram_of(name: str) -> tuple[str, str] | None:
    """(family, part) when `name` is a part of one of LiteLLM's histograms."""
    for part in HIST_PARTS:
        if name.endswith(part):
            family = name[: -len(part)]
            if FAMILIES.get(family, ("",))[0] == "histogram":
                return family, part
    return None


# --- expectations ---------------------------------------------------------------------------------

class Expected:
    """What the filter's whole exposition must be: counters/gauges by exact line, histograms by
    label set and observation count. Label values not given are LiteLLM's `None`."""

    def __init__(self, scope: tuple[str, ...] = ()):
        # With a scope, only the series carrying one of these label values (as rendered) are
        # compared: a test's own series on an Envoy other tests use too.
        self.scope = tuple(f'="{v}"' for v in scope)
        self.samples: dict[tuple[str, tuple], int] = {}   # (sample name, sorted labels) -> value
        self.gauges: set[tuple[str, tuple]] = set()
        self.histograms: dict[tuple[str, tuple], int] = {}  # (family, sorted labels) -> count

    @staticmethod
    def labels(family: str, ctx: dict) -> tuple:
        names = FAMILIES[family][1]
        out = {n: str(ctx.get(n, "None")) for n in names}
        out.update(ctx.get("_custom", {}))  # custom metadata/tag labels ride on every family
        return tuple(sorted(out.items()))

    def count(self, family: str, ctx: dict, delta: int = 1) -> "Expected":
        kind = FAMILIES[family][0]
        assert kind == "counter", family
        key = (family + "_total", self.labels(family, ctx))
        self.samples[key] = self.samples.get(key, 0) + delta
        return self

    def gauge(self, family: str, ctx: dict, value: int) -> "Expected":
        assert FAMILIES[family][0] == "gauge", family
        key = (family, self.labels(family, ctx))
        self.samples[key] = value
        return self

    def own(self, name: str, labels: dict, delta: int = 1) -> "Expected":
        key = (name, tuple(sorted(labels.items())))
        self.samples[key] = self.samples.get(key, 0) + delta
        return self

    def observe(self, family: str, ctx: dict, n: int = 1) -> "Expected":
        assert FAMILIES[family][0] == "histogram", family
        key = (family, self.labels(family, ctx))
        self.histograms[key] = self.histograms.get(key, 0) + n
        return self

    def lines(self) -> set[str]:
        return {fmt(name, dict(labels), value) for (name, labels), value in self.samples.items()}

    def check(self, text: str) -> None:
        """AssertionError (with a readable diff) unless the exposition is exactly as expected."""
        plain, hist = set(), {}
        for ln in filter_lines(text):
            if self.scope and not any(v in ln for v in self.scope):
                continue
            name, labels, value = parse_sample(ln)
            h = histogram_of(name)
            if h is None:
                plain.add(ln)
                continue
            family, part = h
            le = labels.pop("le", None)
            key = (family, tuple(sorted(labels.items())))
            series = hist.setdefault(key, {"buckets": {}, "count": None, "sum": None})
            if part == "_bucket":
                assert le is not None, ln
                assert le not in series["buckets"], f"duplicate bucket: {ln}"
                series["buckets"][le] = float(value)
            elif part == "_count":
                series["count"] = float(value)
            else:
                series["sum"] = float(value)
        want = self.lines()
        missing, extra = sorted(want - plain), sorted(plain - want)
        assert not missing and not extra, (
            "counter/gauge lines differ\n--- missing:\n" + "\n".join(missing) + "\n--- unexpected:\n" + "\n".join(extra))
        assert set(hist) == set(self.histograms), (
            "histogram label sets differ\n--- missing:\n"
            + "\n".join(f"{f} {dict(l)}" for f, l in sorted(set(self.histograms) - set(hist)))
            + "\n--- unexpected:\n" + "\n".join(f"{f} {dict(l)}" for f, l in sorted(set(hist) - set(self.histograms))))
        for (family, labels), series in hist.items():
            what = f"{family} {dict(labels)}"
            ladder = PER_TOKEN_LE if family == "litellm_deployment_latency_per_output_token" else LATENCY_LE
            assert sorted(series["buckets"]) == sorted(ladder), f"{what}: buckets {sorted(series['buckets'])}"
            values = [series["buckets"][le] for le in ladder]
            assert values == sorted(values), f"{what}: buckets not cumulative: {values}"
            want_count = self.histograms[(family, labels)]
            assert series["count"] == want_count, f"{what}: _count {series['count']}, expected {want_count}"
            assert values[-1] == want_count, f'{what}: le="+Inf" {values[-1]} != count {want_count}'
            assert series["sum"] is not None and series["sum"] >= 0, f"{what}: no _sum_microseconds"


def wait_state(envoy, expected: Expected, timeout: float = 10.0, settle: bool = True) -> str:
    """Poll /stats/prometheus until the filter's exposition is exactly `expected`; then, after a
    few more flushes, check again (a request counted twice would show up then). Returns the text."""
    deadline = time.monotonic() + timeout
    while True:
        text = envoy.prometheus()
        try:
            expected.check(text)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    if settle:
        time.sleep(4 * FLUSH_MS / 1000)
        text = envoy.prometheus()
        expected.check(text)
    return text


# --- what one request should produce (LiteLLM's accounting) ----------------------------------------

USAGE_CHAT = dict(total=29, input=19, output=10, cached=3, cache_creation=0, input_audio=0, reasoning=2,
                  output_audio=0)


def ctx_for(upstream_port: int, model: str, response_model: str | None = None, route: str = "/v1/chat/completions",
            base_path: str = "/v1", **labels) -> dict:
    """Label values of a request without a model_list: requested_model and model_group are the
    request's model, model the response's, litellm_model_name the request's."""
    ctx = {
        "requested_model": model, "model_group": model, "litellm_model_name": model,
        "model": response_model or model,
        "api_provider": "openai", "api_base": f"http://127.0.0.1:{upstream_port}{base_path}",
        "client_ip": "127.0.0.1", "route": route, "status_code": "200",
    }
    ctx.update(labels)
    return ctx


DENSE_TOKEN_FAMILIES = ("litellm_total_tokens_metric", "litellm_input_tokens_metric", "litellm_output_tokens_metric")


def expect_success(exp: Expected, ctx: dict, usage: dict | None, stream: bool = False, n: int = 1) -> Expected:
    for fam in ("litellm_proxy_total_requests_metric", "litellm_requests_metric",
                "litellm_deployment_success_responses", "litellm_deployment_total_requests"):
        exp.count(fam, ctx, n)
    if usage is not None:
        for fam, key in [("litellm_total_tokens_metric", "total"), ("litellm_input_tokens_metric", "input"),
                         ("litellm_output_tokens_metric", "output"),
                         ("litellm_input_cached_tokens_metric", "cached"),
                         ("litellm_input_cache_creation_tokens_metric", "cache_creation"),
                         ("litellm_input_audio_tokens_metric", "input_audio"),
                         ("litellm_output_reasoning_tokens_metric", "reasoning"),
                         ("litellm_output_audio_tokens_metric", "output_audio"),
                         ("litellm_provider_cache_read_input_tokens_metric", "cached"),
                         ("litellm_provider_cache_creation_input_tokens_metric", "cache_creation")]:
            # LiteLLM's detail families are sparse (total, input, output are not): no series at 0.
            if usage[key] > 0 or fam in DENSE_TOKEN_FAMILIES:
                exp.count(fam, ctx, usage[key] * n)
    for fam in ("litellm_request_total_latency_metric", "litellm_llm_api_latency_metric"):
        exp.observe(fam, ctx, n)
    if not stream:
        # LiteLLM has an overhead for non-streamed responses only.
        exp.observe("litellm_overhead_latency_metric", ctx, n)
    if stream:
        exp.observe("litellm_llm_api_time_to_first_token_metric", ctx, n)
    if usage is not None and usage["output"] > 0:
        exp.observe("litellm_deployment_latency_per_output_token", ctx, n)
    exp.gauge("litellm_deployment_state", state_ctx(ctx), 0)
    return exp


def state_ctx(ctx: dict) -> dict:
    """The labels of a deployment's state: LiteLLM sets it from the deployment alone, so custom
    metadata/tag labels are `None` on it (the filter's coordinator writes it the same way)."""
    return dict(ctx, _custom={k: "None" for k in ctx.get("_custom", {})})


def expect_failure(exp: Expected, ctx: dict, status: int, exception_class: str, n: int = 1,
                   state: int = 1, cooled_down: bool = False) -> Expected:
    fctx = dict(ctx, status_code=str(status), exception_status=str(status), exception_class=exception_class)
    for fam in ("litellm_proxy_total_requests_metric", "litellm_proxy_failed_requests_metric",
                "litellm_llm_api_failed_requests_metric", "litellm_deployment_failure_responses",
                "litellm_deployment_total_requests"):
        exp.count(fam, fctx, n)
    exp.gauge("litellm_deployment_state", state_ctx(fctx), state)
    if cooled_down:
        exp.count("litellm_deployment_cooled_down", state_ctx(fctx), 1)
    return exp


def chat(model="gpt-4o", **extra) -> dict:
    return {"model": model, "messages": MESSAGES, **extra}


# --- one Envoy shared by the tests that scope their assertions --------------------------------------

@pytest.fixture(scope="module")
def shared_envoy(fake_upstream, webhook, tmp_path_factory):
    """One Envoy with the default config (flush every 100 ms), for the tests below that check only
    the series of their own requests: each uses a key and a model name no other test uses, and
    every series of a request carries its key's hash or its model (deployment-level ones)."""
    factory = EnvoyFactory(upstream=f"127.0.0.1:{fake_upstream.port}", webhook_port=webhook.port,
                           tmp_root=tmp_path_factory.mktemp("shared-envoy"))
    try:
        yield factory(FAST)
    finally:
        factory.stop_all()


@pytest.fixture
def caller(request):
    """This test's own API key and model name (for the shared Envoy)."""
    tag = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name.removeprefix("test_")).strip("-")
    key = f"sk-e2e-{tag}"
    return SimpleNamespace(key=key, hash=sha256_hex(key), model=f"gpt-4o-{tag}",
                           auth={"authorization": f"Bearer {key}"})


# --- 1. non-streaming chat completion --------------------------------------------------------------

def test_chat_completion_counts_requests_tokens_deployment_and_latency(shared_envoy, fake_upstream, caller):
    envoy = shared_envoy
    ua = "OpenAI/Python 1.51.0"
    status, headers, body = envoy.request("POST", "/v1/chat/completions", chat("gpt-4o"),
                                          dict(caller.auth, **{"user-agent": ua}))
    assert status == 200, body
    assert body == fixture_bytes("chat_completion.json")
    ctx = ctx_for(fake_upstream.port, "gpt-4o", "gpt-4o-2024-08-06", hashed_api_key=caller.hash,
                  user_agent=ua, service_tier="default")
    exp = expect_success(Expected(scope=(caller.hash, "gpt-4o")), ctx, USAGE_CHAT)
    text = wait_state(envoy, exp)
    # The headline lines, spelled out (every series of the request was checked above).
    h = caller.hash
    assert (f'litellm_total_tokens_metric_total{{api_key_alias="None",api_provider="openai",end_user="None",'
            f'hashed_api_key="{h}",model="gpt-4o-2024-08-06",model_id="None",org_alias="None",org_id="None",'
            f'requested_model="gpt-4o",team="None",team_alias="None",user="None",user_email="None"}} 29'
            ) in text.splitlines()
    assert (f'litellm_proxy_total_requests_metric_total{{api_key_alias="None",api_provider="openai",'
            f'client_ip="127.0.0.1",end_user="None",hashed_api_key="{h}",model_id="None",org_alias="None",'
            f'org_id="None",requested_model="gpt-4o",route="/v1/chat/completions",status_code="200",team="None",'
            f'team_alias="None",user="None",user_agent="OpenAI/Python 1.51.0",user_email="None"}} 1'
            ) in text.splitlines()
    assert (f'litellm_deployment_state{{api_base="http://127.0.0.1:{fake_upstream.port}/v1",api_provider="openai",'
            f'litellm_model_name="gpt-4o",model_id="None"}} 0') in text.splitlines()
    assert caller.key not in text


# --- 2. streams in tiny pieces ---------------------------------------------------------------------

@pytest.mark.parametrize("chunk_size", [1, 7])
def test_stream_split_into_tiny_chunks_counts_tokens(shared_envoy, fake_upstream, caller, chunk_size):
    envoy = shared_envoy
    req = chat(caller.model, stream=True, stream_options={"include_usage": True})
    status, headers, chunks = envoy.stream("/v1/chat/completions", req,
                                           dict(caller.auth, **{"x-fake-chunk-size": str(chunk_size)}))
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert b"".join(chunks) == fixture_bytes("chat_stream_usage.sse")
    [seen] = fake_upstream.take_records()
    assert seen["json"] == req  # the client asked for usage: nothing to add
    ctx = ctx_for(fake_upstream.port, caller.model, "gpt-4o-2024-08-06", hashed_api_key=caller.hash,
                  service_tier="default")
    usage = dict(USAGE_CHAT, cached=0, reasoning=0)  # the stream fixture's usage chunk
    wait_state(envoy, expect_success(Expected(scope=(caller.hash, caller.model)), ctx, usage, stream=True))


# --- 3. streams without usage: stream_options injected, or not -----------------------------------

@pytest.mark.parametrize("request_chunk_size", [0, 5], ids=["content-length", "chunked-5-bytes"])
def test_stream_without_usage_gets_include_usage_injected(start_envoy, fake_upstream, request_chunk_size):
    envoy = start_envoy(FAST)
    req = chat(stream=True, temperature=0.5)
    status, _, chunks = envoy.stream("/v1/chat/completions", req, chunk_size=request_chunk_size)
    assert status == 200
    [seen] = fake_upstream.take_records()
    assert "rejected" not in seen, seen.get("rejected")
    assert seen["json"] is not None, f"upstream got invalid JSON: {seen['body']!r}"
    assert seen["json"]["stream_options"] == {"include_usage": True}
    assert {k: v for k, v in seen["json"].items() if k != "stream_options"} == req
    if "content-length" in seen["headers"]:
        assert int(seen["headers"]["content-length"]) == len(seen["body"].encode())
    # The upstream's answer (now with a usage chunk) reaches the client untouched.
    assert b"".join(chunks) == fixture_bytes("chat_stream_usage.sse")
    ctx = ctx_for(fake_upstream.port, "gpt-4o", "gpt-4o-2024-08-06", service_tier="default")
    exp = expect_success(Expected(), ctx, dict(USAGE_CHAT, cached=0, reasoning=0), stream=True)
    exp.own("llm_telemetry_stream_usage_injected_total", {"route": "/v1/chat/completions"}, 1)
    wait_state(envoy, exp)


def test_stream_without_usage_and_injection_off_counts_no_tokens(start_envoy, fake_upstream):
    envoy = start_envoy({"telemetry_settings": {"metrics_flush_interval_ms": FLUSH_MS, "inject_stream_usage": False}})
    req = chat(stream=True)
    status, _, chunks = envoy.stream("/v1/chat/completions", req)
    assert status == 200
    assert b"".join(chunks) == fixture_bytes("chat_stream_no_usage.sse")
    [seen] = fake_upstream.take_records()
    assert seen["json"] == req
    ctx = ctx_for(fake_upstream.port, "gpt-4o", "gpt-4o-2024-08-06", service_tier="default")
    exp = expect_success(Expected(), ctx, usage=None, stream=True)  # TTFT still recorded
    exp.own("llm_telemetry_streams_without_usage_total", {"route": "/v1/chat/completions"}, 1)
    wait_state(envoy, exp)


def test_stream_request_larger_than_envoys_buffer_limit_gets_usage_without_being_held(start_envoy,
                                                                                    fake_upstream):
    """A 2 MiB streaming request (twice Envoy's default 1 MiB buffer limit: holding it would
    answer 413) passes chunk by chunk; only the chunk with the closing brace gains the member."""
    envoy = start_envoy(FAST)
    req = chat(stream=True, messages=[{"role": "user", "content": "x" * (2 * 1024 * 1024)}])
    status, _, chunks = envoy.stream("/v1/chat/completions", req, chunk_size=16384)
    assert status == 200
    [seen] = fake_upstream.take_records()
    assert "rejected" not in seen, seen.get("rejected")
    assert seen["json"]["stream_options"] == {"include_usage": True}
    assert {k: v for k, v in seen["json"].items() if k != "stream_options"} == req
    assert b"".join(chunks) == fixture_bytes("chat_stream_usage.sse")
    ctx = ctx_for(fake_upstream.port, "gpt-4o", "gpt-4o-2024-08-06", service_tier="default")
    exp = expect_success(Expected(), ctx, dict(USAGE_CHAT, cached=0, reasoning=0), stream=True)
    exp.own("llm_telemetry_stream_usage_injected_total", {"route": "/v1/chat/completions"}, 1)
    wait_state(envoy, exp)


# --- 4. embeddings ---------------------------------------------------------------------------------

USAGE_EMBEDDINGS = dict(total=8, input=8, output=0, cached=0, cache_creation=0, input_audio=0, reasoning=0,
                        output_audio=0)


def test_embeddings(shared_envoy, fake_upstream, caller):
    envoy = shared_envoy
    model = caller.model.replace("gpt-4o", "text-embedding-3-small")
    status, _, body = envoy.request("POST", "/v1/embeddings", {"model": model, "input": "hi"},
                                    dict(caller.auth, **{"user-agent": "emb-client/2"}))
    assert status == 200
    assert body == fixture_bytes("embeddings.json")
    ctx = ctx_for(fake_upstream.port, model, "text-embedding-3-small", route="/v1/embeddings",
                  user_agent="emb-client/2", hashed_api_key=caller.hash)
    # No output tokens: no per-output-token latency; no service tier in the response.
    wait_state(envoy, expect_success(Expected(scope=(caller.hash, model)), ctx, USAGE_EMBEDDINGS))


# --- 5. Responses API --------------------------------------------------------------------------------

USAGE_RESPONSES = dict(total=123, input=36, output=87, cached=4, cache_creation=0, input_audio=0, reasoning=5,
                       output_audio=0)


def test_responses_api_non_streaming(shared_envoy, fake_upstream, caller):
    envoy = shared_envoy
    status, _, body = envoy.request("POST", "/v1/responses", {"model": caller.model, "input": "Tell me a story"},
                                    caller.auth)
    assert status == 200
    assert body == fixture_bytes("responses.json")
    ctx = ctx_for(fake_upstream.port, caller.model, "gpt-4o-2024-08-06", route="/v1/responses",
                  service_tier="default", hashed_api_key=caller.hash)
    wait_state(envoy, expect_success(Expected(scope=(caller.hash, caller.model)), ctx, USAGE_RESPONSES))


@pytest.mark.parametrize("chunk_size", [1, 50])
def test_responses_api_stream_usage_from_response_completed(shared_envoy, fake_upstream, caller, chunk_size):
    envoy = shared_envoy
    req = {"model": caller.model, "input": "Tell me a story", "stream": True}
    status, _, chunks = envoy.stream("/v1/responses", req, dict(caller.auth, **{"x-fake-chunk-size": str(chunk_size)}))
    assert status == 200
    assert b"".join(chunks) == fixture_bytes("responses_stream.sse")
    [seen] = fake_upstream.take_records()
    assert seen["json"] == req  # the Responses API always reports usage: the request is left alone
    ctx = ctx_for(fake_upstream.port, caller.model, "gpt-4o-2024-08-06", route="/v1/responses",
                  service_tier="default", hashed_api_key=caller.hash)
    wait_state(envoy, expect_success(Expected(scope=(caller.hash, caller.model)), ctx, USAGE_RESPONSES, stream=True))


# --- 6. gzip responses -----------------------------------------------------------------------------

def test_gzip_json_response_counted_and_passed_compressed(shared_envoy, fake_upstream, caller):
    envoy = shared_envoy
    status, headers, body = envoy.request("POST", "/v1/chat/completions", chat(caller.model),
                                          dict(caller.auth, **{"x-fake-gzip": "1"}))
    assert status == 200
    assert headers.get("content-encoding") == "gzip"
    assert body[:2] == b"\x1f\x8b", "the client did not get the gzip bytes"
    assert gzip.decompress(body) == fixture_bytes("chat_completion.json")
    ctx = ctx_for(fake_upstream.port, caller.model, "gpt-4o-2024-08-06", service_tier="default",
                  hashed_api_key=caller.hash)
    wait_state(envoy, expect_success(Expected(scope=(caller.hash, caller.model)), ctx, USAGE_CHAT))


@pytest.mark.parametrize("chunk_size", [1, 64])
def test_gzip_sse_response_counted_and_passed_compressed(shared_envoy, fake_upstream, caller, chunk_size):
    envoy = shared_envoy
    req = chat(caller.model, stream=True, stream_options={"include_usage": True})
    status, headers, chunks = envoy.stream("/v1/chat/completions", req,
                                           dict(caller.auth, **{"x-fake-gzip": "1",
                                                                "x-fake-chunk-size": str(chunk_size)}))
    assert status == 200
    assert headers.get("content-encoding") == "gzip"
    raw = b"".join(chunks)
    assert raw[:2] == b"\x1f\x8b"
    assert gzip.decompress(raw) == fixture_bytes("chat_stream_usage.sse")
    ctx = ctx_for(fake_upstream.port, caller.model, "gpt-4o-2024-08-06", service_tier="default",
                  hashed_api_key=caller.hash)
    wait_state(envoy, expect_success(Expected(scope=(caller.hash, caller.model)), ctx,
                                     dict(USAGE_CHAT, cached=0, reasoning=0), stream=True))


# --- 7, 8. upstream failures -----------------------------------------------------------------------

def test_rate_limited_429_counts_failure_headroom_and_outage(shared_envoy, fake_upstream, caller):
    envoy = shared_envoy
    auth = dict(caller.auth, **{"user-agent": "rl-client"})
    limits = "remaining_requests=0,remaining_tokens=1234,limit_requests=500,limit_tokens=30000"
    status, _, body = envoy.request("POST", "/v1/chat/completions", chat(caller.model),
                                    dict(auth, **{"x-fake-status": "429", "x-fake-ratelimit": limits}))
    assert status == 429
    assert body == fixture_bytes("error_429.json")
    ctx = ctx_for(fake_upstream.port, caller.model, hashed_api_key=caller.hash, user_agent="rl-client")
    exp = expect_failure(Expected(scope=(caller.hash, caller.model)), ctx, 429, "Openai.RateLimitError")
    # Written on the failure too, 0 included: the 429 is when an operator needs to see the 0.
    exp.gauge("litellm_remaining_requests_metric", ctx, 0)
    exp.gauge("litellm_remaining_tokens_metric", ctx, 1234)
    # The upstream's x-ratelimit-limit-* feed no limit gauge: LiteLLM shows configured limits
    # only, and this deployment has none (test_health.py has configured ones).
    text = wait_state(envoy, exp)
    assert (f'litellm_proxy_failed_requests_metric_total{{api_key_alias="None",api_provider="openai",'
            f'client_ip="127.0.0.1",end_user="None",exception_class="Openai.RateLimitError",exception_status="429",'
            f'hashed_api_key="{caller.hash}",model_id="None",org_alias="None",org_id="None",'
            f'requested_model="{caller.model}",route="/v1/chat/completions",team="None",team_alias="None",'
            f'user="None",user_agent="rl-client",user_email="None"}} 1') in text.splitlines()
    assert (f'litellm_remaining_requests_metric{{api_base="http://127.0.0.1:{fake_upstream.port}/v1",api_key_alias="None",'
            f'api_provider="openai",hashed_api_key="{caller.hash}",litellm_model_name="{caller.model}",'
            f'model_group="{caller.model}",model_id="None"}} 0') in text.splitlines()

    # A success on the same deployment sets its state back to 0 (headroom keeps its last value).
    status, _, _ = envoy.request("POST", "/v1/chat/completions", chat(caller.model), auth)
    assert status == 200
    ok = dict(ctx, model="gpt-4o-2024-08-06", service_tier="default")
    expect_success(exp, ok, USAGE_CHAT)  # deployment_state -> 0 (same deployment labels)
    wait_state(envoy, exp)


def test_internal_server_error_500(shared_envoy, fake_upstream, caller):
    envoy = shared_envoy
    fail = dict(caller.auth, **{"x-fake-status": "500"})
    status, _, body = envoy.request("POST", "/v1/chat/completions", chat(caller.model), fail)
    assert status == 500
    assert body == fixture_bytes("error_500.json")
    ctx = ctx_for(fake_upstream.port, caller.model, hashed_api_key=caller.hash)
    scope = (caller.hash, caller.model)
    text = wait_state(envoy, expect_failure(Expected(scope=scope), ctx, 500, "Openai.InternalServerError"))
    assert f'exception_class="Openai.InternalServerError",exception_status="500",hashed_api_key="{caller.hash}"' in text

    # Ten more: LiteLLM's router cools a deployment alone in its model group down on 5xx only
    # once every one of at least 1000 requests in a minute failed, so it stays a partial outage
    # (test_health.py has the cooldown rules).
    for _ in range(10):
        status, _, _ = envoy.request("POST", "/v1/chat/completions", chat(caller.model), fail)
        assert status == 500
    wait_state(envoy, expect_failure(Expected(scope=scope), ctx, 500, "Openai.InternalServerError", n=11))


# --- 9. malformed response body --------------------------------------------------------------------

def test_malformed_response_passes_through_and_is_counted_once(start_envoy, fake_upstream):
    envoy = start_envoy(FAST)
    status, _, body = envoy.request("POST", "/v1/chat/completions", chat(),
                                    {"x-fake-fixture": "malformed_syntax.json"})
    assert status == 200
    assert body == fixture_bytes("malformed_syntax.json")
    # The body names its model before the syntax error; nothing after it is read, so no token
    # lines. (A body cut short is a failed request: test_hostile.py.)
    ctx = ctx_for(fake_upstream.port, "gpt-4o", "gpt-4o-2024-08-06")
    exp = expect_success(Expected(), ctx, usage=None)
    exp.own("llm_telemetry_unreadable_bodies_total", {"reason": "response_malformed_json",
                                                      "route": "/v1/chat/completions"}, 1)
    text = wait_state(envoy, exp)
    assert "_tokens_metric" not in text


# --- 10. label values that Envoy's stat names would otherwise break --------------------------------

def test_model_names_with_separators_are_rendered_exactly(shared_envoy, fake_upstream, caller):
    envoy = shared_envoy
    requested = "acme/llama-3.1:8b;q4"
    returned = "acme/llama-3.1:8b;q4-0613"
    ua = "probe/1.0 (100%; x)."
    status, _, body = envoy.request("POST", "/v1/chat/completions", chat(requested),
                                    dict(caller.auth, **{"x-fake-model": returned, "user-agent": ua}))
    assert status == 200
    assert json.loads(body)["model"] == returned
    # `;` (the separator inside Envoy stat names), `%` and a final `.` are percent-encoded;
    # `/`, `.`, `:`, spaces and parentheses are kept.
    ctx = ctx_for(fake_upstream.port, "acme/llama-3.1:8b%3Bq4", "acme/llama-3.1:8b%3Bq4-0613",
                  user_agent="probe/1.0 (100%25%3B x)%2E", service_tier="default", hashed_api_key=caller.hash)
    exp = expect_success(Expected(scope=(caller.hash, "acme/llama-3.1:8b%3Bq4")), ctx, USAGE_CHAT)
    text = wait_state(envoy, exp)
    assert ('model="acme/llama-3.1:8b%3Bq4-0613"' in text and 'requested_model="acme/llama-3.1:8b%3Bq4"' in text
            and 'user_agent="probe/1.0 (100%25%3B x)%2E"' in text)


# --- 11. Azure deployment paths ------------------------------------------------------------------

def test_azure_deployment_path(shared_envoy, fake_upstream, caller):
    envoy = shared_envoy
    path = "/openai/deployments/my-dep/chat/completions?api-version=2024-06-01"
    status, _, body = envoy.request("POST", path, {"messages": MESSAGES}, {"api-key": caller.key})
    assert status == 200
    assert body == fixture_bytes("chat_completion.json")
    [seen] = fake_upstream.take_records()
    assert seen["path"] == path
    ctx = ctx_for(fake_upstream.port, "my-dep", "gpt-4o-2024-08-06", route="/openai/deployments/my-dep/chat/completions",
                  base_path="/openai/deployments/my-dep", api_provider="azure", hashed_api_key=caller.hash,
                  service_tier="default")
    wait_state(envoy, expect_success(Expected(scope=(caller.hash, "my-dep")), ctx, USAGE_CHAT))


# --- 12. every request counted exactly once ----------------------------------------------------

def test_every_request_is_counted_exactly_once(start_envoy):
    envoy = start_envoy(FAST, concurrency=2)
    stream_usage = chat(stream=True, stream_options={"include_usage": True})
    cases = [
        ("/v1/chat/completions", chat(), {}),
        ("/v1/chat/completions", chat(), {"x-fake-gzip": "1"}),
        ("/v1/chat/completions", stream_usage, {"x-fake-chunk-size": "5"}),
        ("/v1/chat/completions", chat(stream=True), {}),
        ("/v1/chat/completions", chat(), {"x-fake-status": "429"}),
        ("/v1/chat/completions", chat(), {"x-fake-status": "500"}),
        ("/v1/chat/completions", chat(), {"x-fake-status": "404"}),
        ("/v1/chat/completions", chat(), {"x-fake-fixture": "malformed_syntax.json"}),
        ("/v1/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "x"}, {}),
        ("/v1/embeddings", {"model": "text-embedding-3-small", "input": "x"}, {}),
        ("/v1/responses", {"model": "gpt-4o", "input": "x"}, {}),
        ("/v1/responses", {"model": "gpt-4o", "input": "x", "stream": True}, {}),
        ("/openai/deployments/d1/embeddings?api-version=1", {"input": "x"}, {}),
    ] * 2
    statuses: list[int] = []
    lock = threading.Lock()

    def send(path, body, headers):
        status, _, _ = envoy.request("POST", path, body, headers)
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=send, args=c) for c in cases]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(statuses) == len(cases)
    n = len(cases)
    ok = sum(1 for s in statuses if s < 400)

    def totals(text):
        sums = {}
        for ln in filter_lines(text):
            name, _, value = parse_sample(ln)
            sums[name] = sums.get(name, 0) + float(value)
        return sums

    # Tokens once per response that reported usage: chat 29 (plain, gzip, stream with usage, stream
    # with injected usage), completion 12, embeddings 8 (twice), responses 123 (plain and stream).
    expected = {
        "litellm_proxy_total_requests_metric_total": n,
        "litellm_deployment_total_requests_total": n,
        "litellm_requests_metric_total": ok,
        "litellm_deployment_success_responses_total": ok,
        "litellm_proxy_failed_requests_metric_total": n - ok,
        "litellm_request_total_latency_metric_count": ok,
        "litellm_total_tokens_metric_total": 2 * (4 * 29 + 12 + 2 * 8 + 2 * 123),
    }

    def counted(text):
        # New stats are defined at the filter's budget pace, family by family: wait for them all.
        t = totals(text)
        return {k: t.get(k) for k in expected}

    envoy.wait_for(lambda text: counted(text) == expected, timeout=60,
                   what=f"every family counting the {n} requests: {expected}")
    time.sleep(4 * FLUSH_MS / 1000)
    assert counted(envoy.prometheus()) == expected, "nothing counted twice after the totals settled"


def test_client_gone_mid_stream_is_counted_once(start_envoy, fake_upstream):
    """The client reads the first event and hangs up: the request is still counted, once, without
    tokens (the usage chunk never came), and the cut-off body is reported."""
    envoy = start_envoy(FAST)
    body = json.dumps(chat(stream=True, stream_options={"include_usage": True}))
    conn = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=10)
    conn.request("POST", "/v1/chat/completions", body,
                 {"content-type": "application/json", "x-fake-chunk-delay-ms": "300"})
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.read1(65536).startswith(b"data: ")
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    ctx = ctx_for(fake_upstream.port, "gpt-4o", "gpt-4o-2024-08-06", service_tier="default")
    exp = expect_success(Expected(), ctx, usage=None, stream=True)
    exp.own("llm_telemetry_streams_without_usage_total", {"route": "/v1/chat/completions"}, 1)
    exp.own("llm_telemetry_unreadable_bodies_total", {"reason": "response_incomplete",
                                                      "route": "/v1/chat/completions"}, 1)
    wait_state(envoy, exp)


# --- 13. model_list, key table, master key, custom labels ----------------------------------------

def example_config(fake_upstream, webhook) -> dict:
    """examples/config.json pointed at the test's fake upstream and webhook receiver."""
    cfg = json.loads((REPO / "examples" / "config.json").read_text())
    for d in cfg["model_list"]:
        base = d["litellm_params"].get("api_base", "")
        d["litellm_params"]["api_base"] = base.replace("127.0.0.1:18080", f"127.0.0.1:{fake_upstream.port}")
    hooks = json.dumps(cfg).replace("http://127.0.0.1:18081", webhook.url)
    cfg = json.loads(hooks)
    cfg.setdefault("telemetry_settings", {})["metrics_flush_interval_ms"] = FLUSH_MS
    return cfg


def test_model_list_key_table_master_key_and_custom_labels(start_envoy, fake_upstream, webhook):
    cfg = example_config(fake_upstream, webhook)
    assert cfg["general_settings"]["master_key"] == "sk-1234"
    [demo] = cfg["telemetry_settings"]["keys"]
    assert demo["hashed_api_key"] == sha256_hex("sk-demo")
    envoy = start_envoy(cfg)
    api_base = f"http://127.0.0.1:{fake_upstream.port}/v1"
    custom_none = {"metadata_app": "None", "tag_prod": "false", "tag_team_a": "false"}

    # A key from telemetry_settings.keys on a model_list model, with metadata and tags.
    status, _, _ = envoy.request(
        "POST", "/v1/chat/completions",
        chat("gpt-4o", user="customer-42", metadata={"app": "billing", "tags": ["prod", "unrelated"]}),
        {"authorization": "Bearer sk-demo", "user-agent": "demo-app/1"})
    assert status == 200
    demo_ctx = {
        "requested_model": "gpt-4o", "model_group": "gpt-4o", "model": "gpt-4o-2024-08-06",
        "litellm_model_name": "gpt-4o", "model_id": "gpt-4o-fake", "api_provider": "openai", "api_base": api_base,
        "hashed_api_key": sha256_hex("sk-demo"), "api_key_alias": "demo-key", "team": "team-a",
        "team_alias": "Team A", "user": "alice", "user_email": "alice@example.com",
        "end_user": "customer-42",  # enable_end_user_cost_tracking_prometheus_only: true
        "client_ip": "127.0.0.1", "user_agent": "demo-app/1", "route": "/v1/chat/completions",
        "status_code": "200", "service_tier": "default",
        "_custom": {"metadata_app": "billing", "tag_prod": "true", "tag_team_a": "false"},
    }
    exp = expect_success(Expected(), demo_ctx, USAGE_CHAT)
    exp.gauge("litellm_deployment_rpm_limit", demo_ctx, 500)      # litellm_params.rpm
    exp.gauge("litellm_deployment_tpm_limit", demo_ctx, 300000)   # litellm_params.tpm
    wait_state(envoy, exp)

    # The master key on a model the model_list does not know; an unlisted key on an embedding
    # model of the list, tagged team-a.
    status, _, _ = envoy.request("POST", "/v1/chat/completions", chat("not-in-the-list"),
                                 {"authorization": "Bearer sk-1234", "user-agent": "admin-cli"})
    assert status == 200
    status, _, _ = envoy.request("POST", "/v1/embeddings",
                                 {"model": "gpt-4o-mini", "input": "x", "metadata": {"tags": ["team-a"]}},
                                 {"authorization": "Bearer sk-unlisted", "user-agent": "emb"})
    assert status == 200
    master_ctx = {
        "requested_model": "other", "model": "gpt-4o-2024-08-06", "api_provider": "openai",
        "hashed_api_key": "litellm_proxy_master_key", "user": "default_user_id",
        "client_ip": "127.0.0.1", "user_agent": "admin-cli", "route": "/v1/chat/completions",
        "status_code": "200", "_custom": custom_none,
    }
    emb_ctx = {
        "requested_model": "gpt-4o-mini", "model": "text-embedding-3-small", "model_id": "gpt-4o-mini-fake",
        "api_provider": "openai", "hashed_api_key": sha256_hex("sk-unlisted"),
        "client_ip": "127.0.0.1", "user_agent": "emb", "route": "/v1/embeddings", "status_code": "200",
        "_custom": dict(custom_none, tag_team_a="true"),
    }
    want = Expected()
    for ctx, total in [(demo_ctx, 29), (master_ctx, 29), (emb_ctx, 8)]:
        want.count("litellm_proxy_total_requests_metric", ctx)
        want.count("litellm_total_tokens_metric", ctx, total)

    def check(text):
        lines = {ln for ln in filter_lines(text)
                 if ln.startswith(("litellm_proxy_total_requests_metric_total{", "litellm_total_tokens_metric_total{"))}
        return text if lines == want.lines() else None

    text = envoy.wait_for(check, what="proxy_total and total_tokens for the three callers")
    for raw in ("sk-demo", "sk-1234", "sk-unlisted"):
        assert f'"{raw}"' not in text and f"={raw}" not in text


def test_unknown_model_name_does_not_leak_into_any_label(start_envoy, fake_upstream, webhook):
    envoy = start_envoy(example_config(fake_upstream, webhook))
    status, _, _ = envoy.request("POST", "/v1/chat/completions", chat("client-invented-model-1"))
    assert status == 200
    # An upstream that does not know the model either answers an error without a model.
    status, _, _ = envoy.request("POST", "/v1/chat/completions", chat("client-invented-model-2"),
                                 {"x-fake-status": "404"})
    assert status == 404

    text = envoy.wait_for(lambda t: t if 'status_code="404"' in t and 'status_code="200"' in t else None,
                          what="both requests counted")
    assert 'requested_model="other"' in text
    leaked = [ln for ln in filter_lines(text) if "client-invented-model" in ln]
    assert not leaked, "\n".join(leaked)


# --- 14. cardinality bound --------------------------------------------------------------------

def test_label_values_past_the_bound_fold_into_overflow(start_envoy, fake_upstream):
    envoy = start_envoy({"telemetry_settings": {"metrics_flush_interval_ms": FLUSH_MS, "max_values_per_label": 2}})
    for i in range(1, 5):
        status, _, _ = envoy.request("POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": "x"},
                                     {"user-agent": f"agent-{i}"})
        assert status == 200
    base = ctx_for(fake_upstream.port, "text-embedding-3-small", route="/v1/embeddings")
    usage = USAGE_EMBEDDINGS
    exp = Expected()
    # Two distinct values per label are kept; agent-3 and agent-4 fold into one overflow series.
    for ua, n in [("agent-1", 1), ("agent-2", 1), ("__overflow__", 2)]:
        expect_success(exp, dict(base, user_agent=ua), usage, n=n)
    exp.own("llm_telemetry_label_values_folded_total", {"label": "user_agent"}, 2)
    wait_state(envoy, exp)


# --- 15. non-LLM traffic ------------------------------------------------------------------------

def test_non_llm_paths_are_not_counted(start_envoy, fake_upstream):
    envoy = start_envoy(FAST)
    for method, path in [("GET", "/v1/models"), ("GET", "/v1/chat/completions"), ("POST", "/v1/models"),
                         ("GET", "/healthz")]:
        envoy.request(method, path, {} if method == "POST" else None)
    assert len(fake_upstream.take_records()) == 4  # they did reach the upstream
    # Flushes keep their order: once a later LLM request shows, the earlier ones would have too.
    status, _, _ = envoy.request("POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": "x"})
    assert status == 200
    ctx = ctx_for(fake_upstream.port, "text-embedding-3-small", route="/v1/embeddings")
    usage = USAGE_EMBEDDINGS
    text = wait_state(envoy, expect_success(Expected(), ctx, usage))
    assert "/v1/models" not in text and "/healthz" not in text


# --- 16. upstream unreachable ---------------------------------------------------------------------

def test_unreachable_upstream_is_a_connection_error_not_the_upstreams_503(start_envoy):
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    envoy = start_envoy(FAST, upstream=f"127.0.0.1:{closed}")
    status, _, _ = envoy.request("POST", "/v1/chat/completions", chat("gpt-4o"))
    assert status == 503  # Envoy's own reply
    text = envoy.wait_for(lambda t: t if "litellm_proxy_failed_requests_metric_total{" in t else None,
                          what="the failure counted")
    failed = [ln for ln in envoy.prom_lines("litellm_proxy_failed_requests_metric_total", text)]
    assert len(failed) == 1 and failed[0].endswith(" 1"), failed
    assert 'exception_class="Openai.APIConnectionError",exception_status="503"' in failed[0]
