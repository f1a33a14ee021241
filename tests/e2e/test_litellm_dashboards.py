"""LiteLLM's published Grafana dashboards, panel by panel, on a real Prometheus.

tests/fixtures/litellm-dashboards.yaml lists every panel of the dashboards in LiteLLM's repository
(cookbook/litellm_proxy_server/grafana_dashboard/) with its query as published. Here a real
Prometheus (Debian package) scrapes a real Envoy running the filter, with envoy/prometheus/'s rules
loaded, while a known mix of traffic goes through Envoy; then every query of every panel whose
families the filter produces is evaluated and its result compared with what the traffic implies.

Exact numbers from rate(): a labelled series is born at its first increment and rate() only sees
increases between samples, so the mix is sent twice. Phase A (each call at least once) creates
every series; Prometheus scrapes it at T_base; phase B (the counts of MIX) follows and is scraped
at T_end. Each panel's query is evaluated at T_end with its range window (2m, 5m, 1h,
$__rate_interval in the dashboards) replaced by exactly T_end - T_base: the window then starts and
ends on a scrape of every scraped series, Prometheus does not extrapolate, and rate() × window is
exactly phase B's count. Series written by recording rules are sampled at rule-evaluation times
instead, so for the two panels that take rate()/increase() of one (average latency over the
recorded `_sum`; the older `litellm_total_tokens_total`), the expected value applies Prometheus
2.42's extrapolation to the recorded samples, whose first-to-last difference is checked to be
exactly phase B's. Latencies are real time: quantiles and averages are checked against the buckets
and sums the filter exported (read from Envoy), their counts against the traffic.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import yaml

from harness import REPO, fixture_bytes
from promquery import (bucket_deltas, bucket_quantile, close_maps, extrapolated_increase, project, settle,
                       total, with_window)

FIXTURE = REPO / "tests" / "fixtures" / "litellm-dashboards.yaml"
DASHBOARDS = yaml.safe_load(FIXTURE.read_text())

# --- the traffic --------------------------------------------------------------------------------

KEYS = {"a": ("sk-dashboards-a", "key-a", "team-a", "Team A", "alice"),
        "b": ("sk-dashboards-b", "key-b", "team-b", "Team B", "bob")}
# LiteLLM's exception_class for the statuses the mix uses (provider `openai`).
EXCEPTION_CLASS = {429: "Openai.RateLimitError", 500: "Openai.InternalServerError"}
MINI_REPORTED = "gpt-4o-mini-2024-07-18"


def _usage(name: str) -> dict:
    data = fixture_bytes(name)
    if name.endswith(".sse"):
        events = [json.loads(line[6:]) for line in data.decode().splitlines()
                  if line.startswith("data: {")]
        return next(e["usage"] for e in events if e.get("usage"))
    return json.loads(data)["usage"]


@dataclass(frozen=True)
class Call:
    """One kind of request of the mix, sent `a` times in phase A and `b` times in phase B."""
    key: str
    model: str
    kind: str = "chat"          # chat | stream | embeddings
    status: int = 200
    headers: tuple = ()
    a: int = 1
    b: int = 1

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def reported_model(self) -> str:
        """The `model` label: the provider's model in the response, else the deployment's."""
        if not self.ok:
            return self.model
        return dict(self.headers).get("x-fake-model") or {
            "embeddings": "text-embedding-3-small"}.get(self.kind, "gpt-4o-2024-08-06")

    @property
    def usage(self) -> dict:
        if not self.ok:
            return {}
        return _usage({"chat": "chat_completion.json", "stream": "chat_stream_usage.sse",
                       "embeddings": "embeddings.json"}[self.kind])

    def tokens(self, what: str) -> int:
        u = self.usage
        return {
            "total": u.get("total_tokens", 0),
            "input": u.get("prompt_tokens", 0),
            "output": u.get("completion_tokens", 0),
            "cached": (u.get("prompt_tokens_details") or {}).get("cached_tokens", 0),
            "reasoning": (u.get("completion_tokens_details") or {}).get("reasoning_tokens", 0),
            "audio_in": (u.get("prompt_tokens_details") or {}).get("audio_tokens", 0),
            "audio_out": (u.get("completion_tokens_details") or {}).get("audio_tokens", 0),
            "cache_creation": 0,
        }[what]

    def send(self, envoy) -> None:
        secret = KEYS[self.key][0]
        headers = {"authorization": f"Bearer {secret}", **dict(self.headers)}
        if self.status != 200:
            headers["x-fake-status"] = str(self.status)
        if self.kind == "embeddings":
            status, _, _ = envoy.request("POST", "/v1/embeddings", {"model": self.model, "input": "bonjour"}, headers)
        elif self.kind == "stream":
            status, _, _ = envoy.stream("/v1/chat/completions", {
                "model": self.model, "stream": True, "messages": [{"role": "user", "content": "bonjour"}]}, headers)
        else:
            status, _, _ = envoy.request("POST", "/v1/chat/completions", {
                "model": self.model, "messages": [{"role": "user", "content": "bonjour"}]}, headers)
        assert status == self.status, (self, status)


# Order matters within a phase: gpt-4o's 429s come before its successes (its deployment ends
# healthy), and each phase's ten 500s in a row put gpt-4o-flaky into complete outage (with
# router_settings.allowed_fails 5: cooled down once per phase; phase A's success makes it healthy
# again first).
MIX = [
    Call("b", "gpt-4o", status=429, b=2,
         headers=(("x-fake-ratelimit", "remaining_requests=0,remaining_tokens=0"),)),
    Call("a", "gpt-4o", b=3, headers=(("x-fake-ratelimit", "remaining_requests=42,remaining_tokens=9000"),)),
    Call("a", "gpt-4o-mini", kind="stream", b=2, headers=(("x-fake-model", MINI_REPORTED),)),
    Call("b", "text-embedding-3-small", kind="embeddings", b=1),
    Call("a", "gpt-4o-flaky", status=500, a=10, b=10),
    Call("a", "gpt-4o-flaky", a=1, b=0),
]


def plugin_config(upstream_port: int) -> dict:
    api_base = f"http://127.0.0.1:{upstream_port}/v1"

    def deployment(name: str, model_id: str, **params) -> dict:
        return {"model_name": name, "litellm_params": {"model": f"openai/{name}", "api_base": api_base, **params},
                "model_info": {"id": model_id}}

    return {
        "model_list": [deployment("gpt-4o", "gpt-4o-1", rpm=500, tpm=300000),
                       deployment("gpt-4o-mini", "gpt-4o-mini-1", tpm=200000),
                       deployment("text-embedding-3-small", "embed-1"),
                       deployment("gpt-4o-flaky", "flaky-1")],
        # LiteLLM's router cools a deployment alone in its group down on 5xx only after 1000
        # failures a minute, unless allowed_fails is set: then past that many within cooldown_time.
        "router_settings": {"allowed_fails": 5, "cooldown_time": 60},
        "telemetry_settings": {
            "metrics_flush_interval_ms": 100,
            "keys": [{"api_key": k, "key_alias": alias, "team_id": team, "team_alias": team_alias, "user_id": user}
                     for k, alias, team, team_alias, user in KEYS.values()],
        },
    }


# --- what each panel should show ----------------------------------------------------------------

def call_labels(c: Call, api_base: str) -> dict:
    """The labels a panel may group by, as the filter fills them for this call."""
    _, alias, _, team_alias, _ = KEYS[c.key]
    return {"status_code": str(c.status), "exception_class": EXCEPTION_CLASS.get(c.status, ""),
            "exception_status": str(c.status), "api_key_alias": alias, "team_alias": team_alias,
            "model": c.reported_model, "requested_model": c.model, "model_group": c.model,
            "litellm_model_name": c.model, "api_base": api_base, "api_provider": "openai"}


@dataclass
class Counted:
    """`sum(rate|increase(family[W])) by (labels)`: per call, whether it counts and how much."""
    amount: object              # Call -> int | None (None: the call is not in this family)
    per_second: bool = True     # rate() (divided by the window) or increase()


def requests(which=lambda c: True):
    return Counted(lambda c: 1 if which(c) else None)


# LiteLLM's detail-token families are sparse: a series only once its count is above 0.
SPARSE_TOKENS = ("cached", "cache_creation", "audio_in", "audio_out", "reasoning")


def tokens(what: str, per_second: bool = True):
    def amount(c):
        if not c.ok or (what in SPARSE_TOKENS and c.tokens(what) == 0):
            return None
        return c.tokens(what)
    return Counted(amount, per_second)


@dataclass
class Gauge:
    """The expected value per group, of an instant query over gauges, or (per_second) of a rate()
    whose count does not follow from single calls."""
    values: dict
    per_second: bool = False


@dataclass
class Quantile:
    """histogram_quantile(q, sum(rate(family_bucket[W])) by (le)) over this population."""
    family: str
    q: float
    population: object          # Call -> bool


@dataclass
class AverageLatency:
    """sum(rate(family_sum[W])) / sum(rate(family_count[W])) with _sum from the recording rule."""
    family: str


@dataclass
class RecordedIncrease:
    """sum(increase(recorded[W])) by (labels) over a recorded copy of a counter."""
    recorded: str
    amount: object


ok = lambda c: c.ok  # noqa: E731
stream_ok = lambda c: c.ok and c.kind == "stream"  # noqa: E731
not_stream_ok = lambda c: c.ok and c.kind != "stream"  # noqa: E731 - LiteLLM's overhead
with_output = lambda c: c.ok and c.tokens("output") > 0  # noqa: E731

V2, D1, ALL = "be059pwgrlg5cf", "rgRrHxESz", "litellm-all-prometheus-metrics"
Q3 = (0.5, 0.95, 0.99)


def _quantiles(family, population):
    return [Quantile(family, q, population) for q in Q3]


def expectations(api_base: str) -> dict:
    """(dashboard uid, panel id) -> one expectation per query of the panel."""
    headroom_requests = {("key-a",): 42, ("key-b",): 0}
    headroom_tokens = {("key-a",): 9000, ("key-b",): 0}
    return {
        (V2, 1): [requests()],
        (V2, 2): [requests(lambda c: not c.ok)],
        (V2, 5): [AverageLatency("litellm_request_total_latency_metric"),
                  Quantile("litellm_request_total_latency_metric", 0.5, ok)],
        (V2, 6): [Gauge(headroom_requests)],   # projected on api_key_alias, see `project`
        (V2, 8): [Gauge(headroom_tokens)],
        (V2, 9): [requests()],
        (V2, 10): [requests()],
        (D1, 2): [Counted(lambda c: 1 if c.ok else None, per_second=False)],
        (D1, 8): [Counted(lambda c: 1 if not c.ok else None, per_second=False)],
        (D1, 4): [RecordedIncrease("litellm_total_tokens_total", lambda c: c.tokens("total") if c.ok else None)],
        (ALL, 2): [requests()],
        (ALL, 3): [requests(lambda c: not c.ok)],
        (ALL, 4): [requests(ok)],
        (ALL, 5): [requests(lambda c: not c.ok)],
        (ALL, 12): _quantiles("litellm_request_total_latency_metric", ok),
        (ALL, 13): _quantiles("litellm_llm_api_latency_metric", ok),
        (ALL, 14): _quantiles("litellm_llm_api_time_to_first_token_metric", stream_ok),
        (ALL, 15): _quantiles("litellm_overhead_latency_metric", not_stream_ok),
        (ALL, 17): _quantiles("litellm_deployment_latency_per_output_token", with_output),
        (ALL, 20): [tokens("total")],
        (ALL, 21): [tokens("input")],
        (ALL, 22): [tokens("output")],
        (ALL, 23): [tokens("cached")],
        (ALL, 24): [tokens("cache_creation")],
        (ALL, 25): [tokens("audio_in")],
        (ALL, 26): [tokens("audio_out")],
        (ALL, 27): [tokens("reasoning")],
        (ALL, 34): [tokens("cached")],
        (ALL, 35): [tokens("cache_creation")],
        (ALL, 37): [Gauge({("gpt-4o", api_base): 0, ("gpt-4o-mini", api_base): 0,
                           ("text-embedding-3-small", api_base): 0, ("gpt-4o-flaky", api_base): 2})],
        (ALL, 38): [requests()],
        (ALL, 39): [requests(ok)],
        (ALL, 40): [requests(lambda c: not c.ok)],
        # Phase B's ten 500s in a row cooled gpt-4o-flaky down once.
        (ALL, 41): [Gauge({("gpt-4o-flaky", "500"): 1}, per_second=True)],
        (ALL, 44): [Gauge({("gpt-4o", api_base): 500})],
        (ALL, 45): [Gauge({("gpt-4o", api_base): 300000, ("gpt-4o-mini", api_base): 200000})],
        # The lowest headroom across keys: key-b's 429 answered remaining 0.
        (ALL, 46): [Gauge({("gpt-4o", "openai"): 0})],
        (ALL, 47): [Gauge({("gpt-4o", "openai"): 0})],
    }


# --- the fixture is what the dashboards' queries say -----------------------------------------------

def _needs(exprs: list[str]) -> dict:
    fams, labels, funcs, windows = [], [], [], []

    def add(lst, x):
        if x not in lst:
            lst.append(x)

    for e in exprs:
        for m in re.findall(r"\b(litellm_\w+)", e):
            add(fams, m)
        for group in re.findall(r"by \(([^)]*)\)", e):
            for label in (x.strip() for x in group.split(",")):
                add(labels, label)
        for selector in re.findall(r"\{([^}]*)\}", e):
            for label in re.findall(r"(\w+)\s*=", selector):
                add(labels, label)
        for f in re.findall(r"\b(\w+)\s*\(", e):
            if f != "by":
                add(funcs, f)
        for w in re.findall(r"\[([^\]]+)\]", e):
            add(windows, w)
    return {"families": fams, "labels": labels, "functions": funcs, "windows": windows}


def _panels(produced: bool | None = None):
    for d in DASHBOARDS["dashboards"]:
        for p in d["panels"]:
            if produced is None or p["produced"] == produced:
                yield d, p


def test_fixture_says_what_each_panel_query_needs():
    """families / labels / functions / windows of every panel are read off its query, and every
    panel the filter does not serve says why."""
    for d, p in _panels():
        assert {k: p[k] for k in ("families", "labels", "functions", "windows")} == _needs(p["exprs"]), \
            (d["title"], p["id"])
        assert p["produced"] or p.get("why_not"), (d["title"], p["id"])
        assert d["commit"] and re.fullmatch(r"[0-9a-f]{40}", d["commit"])


def test_every_produced_panel_has_an_expectation():
    want = expectations("api")
    for d, p in _panels(produced=True):
        assert len(want.get((d["uid"], p["id"]), [])) == len(p["exprs"]), (d["title"], p["id"], p["title"])
    produced = {(d["uid"], p["id"]) for d, p in _panels(produced=True)}
    assert set(want) == produced


# --- the run ---------------------------------------------------------------------------------------

def send_phase(envoy, phase: str) -> int:
    sent = 0
    for c in MIX:
        for _ in range(getattr(c, phase)):
            c.send(envoy)
            sent += 1
    return sent


def test_litellm_dashboards_panels_on_real_prometheus(start_envoy, fake_upstream, prometheus_for):
    envoy = start_envoy(plugin_config(fake_upstream.port))
    api_base = f"http://127.0.0.1:{fake_upstream.port}/v1"
    prom = prometheus_for(envoy)

    sent_a = send_phase(envoy, "a")
    base = settle(envoy, prom, sent_a)
    sent_b = send_phase(envoy, "b")
    # Rules evaluate every second: two seconds after the settled scrape, recorded series are current.
    end = settle(envoy, prom, sent_a + sent_b, then_wait_s=2.0)
    window_ms = end.scrape_ms - base.scrape_ms
    window_s = window_ms / 1000
    at = end.scrape_ms / 1000

    def recorded_samples(name: str) -> list[tuple[dict, list[tuple[int, float]]]]:
        out = []
        for series in prom.query(f"{name}[{window_ms}ms]", at=at):
            out.append((series["metric"], [(round(float(t) * 1000), float(v)) for t, v in series["values"]]))
        return out

    failures = []
    for d, p in _panels(produced=True):
        wants = expectations(api_base)[(d["uid"], p["id"])]
        by = [label for label in p["labels"] if label != "le"]
        for expr, want in zip(p["exprs"], wants):
            query = with_window(expr, window_ms)
            got = prom.query(query, at=at)
            where = f'{d["title"]} / panel {p["id"]} "{p["title"]}": {query}'
            if isinstance(want, Counted):
                expected: dict = {}
                for c in MIX:
                    amount = want.amount(c)
                    if amount is None:
                        continue
                    key = tuple(call_labels(c, api_base)[label] for label in by)
                    expected[key] = expected.get(key, 0) + amount * c.b
                scale = window_s if want.per_second else 1.0
                got_map = {k: v * scale for k, v in project(got, by).items()}
                if not close_maps(got_map, expected):
                    failures.append(f"{where}\n  got (x window) {got_map}\n  want {expected}")
            elif isinstance(want, Gauge):
                key_labels = by or ["api_key_alias"]   # topk(5, sort(...)) keeps every label
                scale = window_s if want.per_second else 1.0
                got_map = {k: v * scale for k, v in project(got, key_labels).items()}
                if not close_maps(got_map, want.values):
                    failures.append(f"{where}\n  got {got_map}\n  want {want.values}")
            elif isinstance(want, Quantile):
                deltas = bucket_deltas(base.text, end.text, want.family)
                observations = sum(c.b for c in MIX if want.population(c))
                expected_q = bucket_quantile(want.q, deltas)
                got_v = [float(r["value"][1]) for r in got]
                if deltas.get(math.inf) != observations or len(got_v) != 1 \
                        or not math.isclose(got_v[0], expected_q, rel_tol=1e-9):
                    failures.append(f"{where}\n  got {got_v}, want {expected_q} "
                                    f"({deltas.get(math.inf)} observations in Envoy's buckets, traffic {observations})")
                if want.family == "litellm_overhead_latency_metric":
                    # The filter never holds a request: every observation is 0, in the first bucket.
                    assert math.isclose(expected_q, 0.005 * want.q, rel_tol=1e-12), (where, deltas)
            elif isinstance(want, AverageLatency):
                # _count: scraped, exact over the window; _sum: recorded every second, extrapolated.
                count = total(end.text, want.family + "_count") - total(base.text, want.family + "_count")
                if count != sum(c.b for c in MIX if c.ok):
                    failures.append(f"{where}\n  {count} requests in _count, traffic {sum(c.b for c in MIX if c.ok)}")
                    continue
                recorded = recorded_samples(want.family + "_sum")
                increase = sum(extrapolated_increase(s, end.scrape_ms - window_ms, end.scrape_ms) or 0.0
                               for _, s in recorded)
                # The recorded _sum moved by exactly what the filter exported, in seconds.
                micros = (total(end.text, want.family + "_sum_microseconds")
                          - total(base.text, want.family + "_sum_microseconds"))
                moved = sum(s[-1][1] - s[0][1] for _, s in recorded)
                expected_avg = (increase / window_s) / (count / window_s)
                got_v = [float(r["value"][1]) for r in got]
                if not math.isclose(moved, micros / 1e6, rel_tol=1e-9) or len(got_v) != 1 \
                        or not math.isclose(got_v[0], expected_avg, rel_tol=1e-9):
                    failures.append(f"{where}\n  got {got_v}, want {expected_avg} (recorded _sum moved {moved} s, "
                                    f"the filter exported {micros} µs over {count} requests)")
            elif isinstance(want, RecordedIncrease):
                expected_moved: dict = {}
                for c in MIX:
                    amount = want.amount(c)
                    if amount is not None:
                        key = tuple(call_labels(c, api_base)[label] for label in by)
                        expected_moved[key] = expected_moved.get(key, 0) + amount * c.b
                moved: dict = {}
                extrapolated: dict = {}
                for metric, s in recorded_samples(want.recorded):
                    key = tuple(metric.get(label, "") for label in by)
                    moved[key] = moved.get(key, 0.0) + s[-1][1] - s[0][1]
                    extrapolated[key] = extrapolated.get(key, 0.0) + (
                        extrapolated_increase(s, end.scrape_ms - window_ms, end.scrape_ms) or 0.0)
                got_map = project(got, by)
                if not close_maps(moved, expected_moved) or not close_maps(got_map, extrapolated):
                    failures.append(f"{where}\n  got {got_map}, want {extrapolated} "
                                    f"(recorded series moved {moved}, traffic {expected_moved})")
            else:  # pragma: no cover
                raise AssertionError(want)
    assert not failures, "\n".join(failures)
