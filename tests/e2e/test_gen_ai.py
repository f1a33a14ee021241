"""End to end: `telemetry_settings.metric_names: both` in real Envoy. Per provider, JSON and
streamed, the OpenTelemetry gen_ai families (named as an OpenTelemetry Prometheus exporter names
them) appear beside LiteLLM's, LiteLLM's series stay exactly what they are with the default
vocabulary, and each `gen_ai_client_token_usage_sum{gen_ai_token_type=...}` equals the LiteLLM
family counting the same tokens.

The bootstrap gets the gen_ai labels' `stats_tags` (`envoy/stats-tags.yaml` `gen_ai_stats_tags`)
because envoy/render.py sees `metric_names` in the plugin config: the exact lines below, with
their labels, prove it.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

import pytest

from harness import EnvoyFactory, wait_until
from test_metrics import (FLUSH_MS, MESSAGES, USAGE_CHAT, ctx_for, expect_failure, expect_success,
                          parse_sample, wait_state)
from test_providers import (ANTHROPIC_JSON, ANTHROPIC_SSE, BEDROCK_CONVERSE, BEDROCK_CONVERSE_STREAM,
                            GEMINI_JSON, GEMINI_REQUEST, GEMINI_STREAM, SIGV4, anthropic_body, bedrock_ctx,
                            caller, gemini_ctx, scope)

__all__ = ["caller"]  # the fixture, imported for pytest

BOTH = {"telemetry_settings": {"metrics_flush_interval_ms": FLUSH_MS, "metric_names": "both"}}

# gen_ai token type -> the key of test_metrics' usage dicts, and LiteLLM's family for the same tokens.
TOKEN_TYPES = {
    "input": ("input", "litellm_input_tokens_metric_total"),
    "output": ("output", "litellm_output_tokens_metric_total"),
    "cached_input": ("cached", "litellm_input_cached_tokens_metric_total"),
    "cache_creation_input": ("cache_creation", "litellm_input_cache_creation_tokens_metric_total"),
    "reasoning": ("reasoning", "litellm_output_reasoning_tokens_metric_total"),
}
# Input and output are recorded on every success (LiteLLM's dense families); the others when reported.
DENSE = ("input", "output")
STREAM_FAMILIES = ("gen_ai_server_time_to_first_token_seconds", "gen_ai_server_time_per_output_token_seconds")


@pytest.fixture(scope="module")
def envoy(fake_upstream, webhook, tmp_path_factory):
    factory = EnvoyFactory(upstream=f"127.0.0.1:{fake_upstream.port}", webhook_port=webhook.port,
                           tmp_root=tmp_path_factory.mktemp("gen-ai-envoy"))
    try:
        yield factory(BOTH)
    finally:
        factory.stop_all()


@dataclass
class GenAi:
    """What one request must add to the gen_ai families."""
    operation: str
    provider: str
    request_model: str
    response_model: str | None
    usage: dict | None = None
    stream: bool = False
    error_type: str | None = None

    def attributes(self) -> dict:
        out = {"gen_ai_operation_name": self.operation, "gen_ai_provider_name": self.provider,
               "gen_ai_request_model": self.request_model}
        if self.response_model is not None:
            out["gen_ai_response_model"] = self.response_model
        return out

    def lines(self) -> set[str]:
        """The exact non-bucket lines, with each latency sum (the only varying value) as `<µs>`."""
        base = self.attributes()
        out = set()
        if self.usage is not None:
            for token_type, (key, _) in TOKEN_TYPES.items():
                if self.usage[key] > 0 or token_type in DENSE:
                    labels = fmt_labels(dict(base, gen_ai_token_type=token_type))
                    out.add(f"gen_ai_client_token_usage_count{{{labels}}} 1")
                    out.add(f'gen_ai_client_token_usage_bucket{{{inf(labels)}}} 1')
                    out.add(f"gen_ai_client_token_usage_sum{{{labels}}} {self.usage[key]}")
        duration = dict(base, error_type=self.error_type) if self.error_type else base
        out.add(f"gen_ai_client_operation_duration_seconds_count{{{fmt_labels(duration)}}} 1")
        out.add(f"gen_ai_client_operation_duration_seconds_bucket{{{inf(fmt_labels(duration))}}} 1")
        out.add(f"gen_ai_client_operation_duration_seconds_sum_microseconds{{{fmt_labels(duration)}}} <µs>")
        if self.stream:
            for fam in STREAM_FAMILIES:
                out.add(f"{fam}_count{{{fmt_labels(base)}}} 1")
                out.add(f"{fam}_bucket{{{inf(fmt_labels(base))}}} 1")
                out.add(f"{fam}_sum_microseconds{{{fmt_labels(base)}}} <µs>")
        return out


def fmt_labels(labels: dict) -> str:
    return ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))


def inf(labels: str) -> str:
    """The labels of a histogram's `le="+Inf"` bucket (Envoy prints `le` after the others)."""
    return labels + ',le="+Inf"'


def gen_ai_lines(text: str, request_model: str) -> set[str]:
    """The gen_ai sample lines of one request model: buckets other than `le="+Inf"` left out,
    latency sums masked."""
    out = set()
    for ln in text.splitlines():
        if not ln.startswith("gen_ai_") or f'gen_ai_request_model="{request_model}"' not in ln:
            continue
        name, labels, _ = parse_sample(ln)
        if name.endswith("_bucket") and labels["le"] != "+Inf":
            continue
        if name.endswith("_sum_microseconds"):
            ln = re.sub(r" \d+$", " <µs>", ln)
        out.add(ln)
    return out


def litellm_sum(text: str, sample: str, requested_model: str) -> int:
    total = 0
    for ln in text.splitlines():
        if ln.startswith(sample + "{"):
            _, labels, value = parse_sample(ln)
            if labels.get("requested_model") == requested_model:
                total += int(float(value))
    return total


def gen_ai_sum(text: str, token_type: str, request_model: str) -> int:
    total = 0
    for ln in text.splitlines():
        if ln.startswith("gen_ai_client_token_usage_sum{"):
            _, labels, value = parse_sample(ln)
            if labels.get("gen_ai_request_model") == request_model and labels.get("gen_ai_token_type") == token_type:
                total += int(float(value))
    return total


def check(envoy, litellm_expected, gen_ai: GenAi) -> None:
    """LiteLLM's series exactly as with the default vocabulary, the gen_ai lines exactly, and each
    token type's gen_ai sum equal to LiteLLM's counter for it."""
    text = wait_state(envoy, litellm_expected)
    # A new series' stats are defined under the new-stats budget, a family at a time: poll.
    deadline = time.monotonic() + 10
    while gen_ai_lines(text, gen_ai.request_model) != gen_ai.lines() and time.monotonic() < deadline:
        time.sleep(0.1)
        text = envoy.prometheus()
    assert gen_ai_lines(text, gen_ai.request_model) == gen_ai.lines()
    for token_type, (_, litellm_family) in TOKEN_TYPES.items():
        assert gen_ai_sum(text, token_type, gen_ai.request_model) == litellm_sum(text, litellm_family, gen_ai.request_model), \
            token_type


# --- OpenAI-style ---------------------------------------------------------------------------------

def test_openai_chat_json(envoy, fake_upstream, caller):
    status, _, _ = envoy.request("POST", "/v1/chat/completions", {"model": caller.model, "messages": MESSAGES},
                                 {"authorization": f"Bearer {caller.key}"})
    assert status == 200
    ctx = ctx_for(fake_upstream.port, caller.model, "gpt-4o-2024-08-06", service_tier="default",
                  hashed_api_key=caller.hash)
    check(envoy, expect_success(scope(caller), ctx, USAGE_CHAT),
          GenAi("chat", "openai", caller.model, "gpt-4o-2024-08-06", USAGE_CHAT))


def test_openai_chat_stream(envoy, fake_upstream, caller):
    status, _, _ = envoy.stream("/v1/chat/completions",
                                {"model": caller.model, "messages": MESSAGES, "stream": True,
                                 "stream_options": {"include_usage": True}},
                                {"authorization": f"Bearer {caller.key}"})
    assert status == 200
    usage = dict(USAGE_CHAT, cached=0, reasoning=0)  # the stream fixture's usage chunk
    ctx = ctx_for(fake_upstream.port, caller.model, "gpt-4o-2024-08-06", service_tier="default",
                  hashed_api_key=caller.hash)
    check(envoy, expect_success(scope(caller), ctx, usage, stream=True),
          GenAi("chat", "openai", caller.model, "gpt-4o-2024-08-06", usage, stream=True))


def test_openai_failure_has_error_type_and_no_tokens(envoy, fake_upstream, caller):
    status, _, _ = envoy.request("POST", "/v1/chat/completions", {"model": caller.model, "messages": MESSAGES},
                                 {"authorization": f"Bearer {caller.key}", "x-fake-status": "429",
                                  "x-fake-fixture": "error_429.json"})
    assert status == 429
    ctx = ctx_for(fake_upstream.port, caller.model, hashed_api_key=caller.hash)
    # error.type is LiteLLM's exception class without its provider prefix.
    check(envoy, expect_failure(scope(caller), ctx, 429, "Openai.RateLimitError"),
          GenAi("chat", "openai", caller.model, None, error_type="RateLimitError"))


# --- Anthropic, Gemini, Bedrock -------------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_anthropic(envoy, fake_upstream, caller, stream):
    body = anthropic_body(caller.model, stream=stream)
    if stream:
        status, _, _ = envoy.stream("/v1/messages", body, {"x-api-key": caller.key})
    else:
        status, _, _ = envoy.request("POST", "/v1/messages", body, {"x-api-key": caller.key})
    assert status == 200
    usage = ANTHROPIC_SSE if stream else ANTHROPIC_JSON
    ctx = ctx_for(fake_upstream.port, caller.model, "claude-sonnet-4-20250514", route="/v1/messages",
                  api_provider="anthropic", hashed_api_key=caller.hash, service_tier="standard")
    # Anthropic's input is LiteLLM's prompt tokens: input + cache read + cache creation.
    check(envoy, expect_success(scope(caller), ctx, usage, stream=stream),
          GenAi("chat", "anthropic", caller.model, "claude-sonnet-4-20250514", usage, stream=stream))


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_gemini(envoy, fake_upstream, caller, stream):
    route = f"/v1beta/models/{caller.model}:{'streamGenerateContent' if stream else 'generateContent'}"
    headers = {"x-goog-api-key": caller.key}
    if stream:
        status, _, _ = envoy.stream(route + "?alt=sse", GEMINI_REQUEST, headers)
    else:
        status, _, _ = envoy.request("POST", route, GEMINI_REQUEST, headers)
    assert status == 200
    usage = GEMINI_STREAM if stream else GEMINI_JSON
    ctx = gemini_ctx(fake_upstream.port, caller, route)
    check(envoy, expect_success(scope(caller), ctx, usage, stream=stream),
          GenAi("generate_content", "gcp.gemini", caller.model, "gemini-2.5-flash", usage, stream=stream))


@pytest.mark.parametrize("stream", [False, True], ids=["converse", "converse-stream"])
def test_bedrock(envoy, fake_upstream, caller, stream):
    route = f"/model/{caller.model}:0/{'converse-stream' if stream else 'converse'}"
    headers = {"authorization": SIGV4.format(key=caller.access_key_id, sig="f" * 64),
               "x-amz-date": "20250101T000000Z"}
    if stream:
        status, _, _ = envoy.stream(route, {"messages": []}, headers)
    else:
        status, _, _ = envoy.request("POST", route, {"messages": []}, headers)
    assert status == 200
    usage = BEDROCK_CONVERSE_STREAM if stream else BEDROCK_CONVERSE
    ctx = bedrock_ctx(fake_upstream.port, caller, route)
    # Converse responses name no model: no gen_ai.response.model (LiteLLM labels `model` with the path's).
    check(envoy, expect_success(scope(caller, bedrock=True), ctx, usage, stream=stream),
          GenAi("chat", "aws.bedrock", caller.model + ":0", None, usage, stream=stream))


# --- in Prometheus --------------------------------------------------------------------------------

def test_prometheus_reads_gen_ai_series_and_rules_rebuild_seconds(start_envoy, prometheus_for):
    """A real Prometheus scraping an Envoy with `metric_names: both`: the gen_ai series arrive with
    the OpenTelemetry attribute names as labels, the shipped recording rules rebuild
    `gen_ai_client_operation_duration_seconds_sum` in seconds, and the token sums agree with
    LiteLLM's counters there too."""
    envoy = start_envoy(BOTH)
    for model in ("m-prom-1", "m-prom-2"):
        status, _, _ = envoy.request("POST", "/v1/chat/completions", {"model": model, "messages": MESSAGES},
                                     {"authorization": "Bearer sk-gen-ai-prom"})
        assert status == 200
    envoy.wait_for(lambda t: t.count("gen_ai_client_operation_duration_seconds_sum_microseconds{") == 2,
                   what="both duration sums")
    prom = prometheus_for(envoy)

    def query(q, n):
        return wait_until(lambda: (r := prom.query(q)) and len(r) == n and r, 30,
                          lambda: f"{q} in Prometheus:\n{prom.log()}")

    [usage] = query('gen_ai_client_token_usage_sum{gen_ai_request_model="m-prom-1",gen_ai_token_type="input"}', 1)
    labels = {k: v for k, v in usage["metric"].items() if k not in ("job", "instance")}
    assert labels == {"__name__": "gen_ai_client_token_usage_sum", "gen_ai_operation_name": "chat",
                      "gen_ai_provider_name": "openai", "gen_ai_request_model": "m-prom-1",
                      "gen_ai_response_model": "gpt-4o-2024-08-06", "gen_ai_token_type": "input"}
    assert float(usage["value"][1]) == USAGE_CHAT["input"]

    for token_type, (key, litellm_family) in TOKEN_TYPES.items():
        if USAGE_CHAT[key] == 0:  # no series on either side (LiteLLM's detail families are sparse)
            assert prom.query(f'gen_ai_client_token_usage_sum{{gen_ai_token_type="{token_type}"}}') == []
            continue
        [gen_ai] = query(f'sum(gen_ai_client_token_usage_sum{{gen_ai_token_type="{token_type}"}})', 1)
        [litellm] = query(f"sum({litellm_family})", 1)
        assert float(gen_ai["value"][1]) == float(litellm["value"][1]) == 2 * USAGE_CHAT[key], token_type

    rule = query("gen_ai_client_operation_duration_seconds_sum", 2)
    raw = {r["metric"]["gen_ai_request_model"]: float(r["value"][1])
           for r in query("gen_ai_client_operation_duration_seconds_sum_microseconds", 2)}
    for r in rule:
        model = r["metric"]["gen_ai_request_model"]
        assert raw[model] > 0
        assert math.isclose(float(r["value"][1]), raw[model] / 1e6, rel_tol=1e-12)
