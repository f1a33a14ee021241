"""Alerting end to end: a real Envoy sends LiteLLM-style Slack alerts to the webhook receiver.

Every test polls the receiver's /__received until the expected bodies arrive (the filter batches on
a one-second clock), then asserts the exact bodies with the `Timestamp` value (and the few other
clock-dependent numbers) masked. Small thresholds and intervals keep the suite fast.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.request

from harness import fixture_bytes, wait_until

SECRET_PATH = "/hooks/T0000/B0000/SECRETxyz123"  # a Slack webhook path is the credential
API_BASE = "http://127.0.0.1:18080/v1"
OK_BODY = fixture_bytes("chat_completion.json")
ERR_BODY = fixture_bytes("error_500.json")
ERR_TEXT = "The server had an error while processing your request. Sorry about that!"


def deployment(group: str, model: str, region: str | None = None) -> dict:
    params = {"model": model, "api_base": API_BASE}
    if region:
        params["region_name"] = region
    return {"model_name": group, "litellm_params": params}


MODEL_LIST = [
    deployment("gpt-err500", "openai/fake-err500"),
    deployment("gpt-slow", "openai/fake-slow3"),
    deployment("eu-a", "openai/eu-model-a", "eu-west-1"),
    deployment("eu-b", "openai/eu-model-b", "eu-west-1"),
]


def plugin_config(alert_types: list[str], args: dict | None = None, threshold=1, general: dict | None = None,
                  litellm_settings: dict | None = None, telemetry: dict | None = None,
                  router: dict | None = None) -> dict:
    cfg = {
        "model_list": MODEL_LIST,
        "general_settings": {
            "alerting": ["slack"],
            "alerting_threshold": threshold,
            "alert_types": alert_types,
            "alerting_args": {"batch_interval_seconds": 1, **(args or {})},
            **(general or {}),
        },
    }
    if litellm_settings:
        cfg["litellm_settings"] = litellm_settings
    if telemetry:
        cfg["telemetry_settings"] = telemetry
    if router:
        cfg["router_settings"] = router
    return cfg


def start(start_envoy, webhook, *args, concurrency: int = 1, env: dict | None = None, **kw):
    """An Envoy alerting to the receiver through SLACK_WEBHOOK_URL (in the VM's environment)."""
    env_vars = {"SLACK_WEBHOOK_URL": webhook.url + SECRET_PATH, **(env or {})}
    return start_envoy(plugin_config(*args, **kw), env_vars=env_vars, concurrency=concurrency)


def chat(envoy, model: str, status: int = 200, delay_ms: int = 0, metadata: dict | None = None,
         headers: dict | None = None, content: str = "hi") -> None:
    """One chat completion through Envoy; asserts the client got the upstream's normal answer."""
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    if metadata is not None:
        body["metadata"] = metadata
    h = dict(headers or {})
    if status != 200:
        h["x-fake-status"] = str(status)
    if delay_ms:
        h["x-fake-delay-ms"] = str(delay_ms)
    got, _, data = envoy.request("POST", "/v1/chat/completions", body, h)
    assert got == status, data
    if status == 200:
        assert data == OK_BODY
    elif status == 500:
        assert data == ERR_BODY


def in_parallel(n: int, fn) -> None:
    errors: list[BaseException] = []

    def run(i):
        try:
            fn(i)
        except BaseException as e:  # noqa: BLE001 - re-raised in the test thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if errors:
        raise errors[0]


# --- the receiver -------------------------------------------------------------------------------

def mask(text: str) -> str:
    """Clock-dependent values replaced: the alert time, outage ages, measured latencies, report times."""
    text = re.sub(r"Timestamp: `\d\d:\d\d:\d\d`", "Timestamp: `HH:MM:SS`", text)
    text = re.sub(r"\*Last Check:\* `[0-9.]+s ago`", "*Last Check:* `Ns ago`", text)
    text = re.sub(r"Responses are slow - [0-9.]+s response time", "Responses are slow - Ns response time", text)
    text = re.sub(r"Average Latency: `[0-9.]+s`", "Average Latency: `Ns`", text)
    text = re.sub(r"(Time|Next Run is at): `[0-9.]+`s", r"\1: `T`s", text)
    return text


def posts(webhook, path: str = SECRET_PATH, answered=200) -> list[dict]:
    """POSTs the receiver recorded on `path` (answered with `answered`; "any" for all)."""
    return [r for r in webhook.take_records()
            if r["path"] == path and (answered == "any" or r.get("answered") == answered)]


def texts(webhook, path: str = SECRET_PATH) -> list[str]:
    """The masked `text` of every delivered alert on `path`, in arrival order."""
    out = []
    for r in posts(webhook, path):
        assert r["headers"]["content-type"] == "application/json"
        assert set(r["json"]) == {"text"}, r["body"]
        out.append(mask(r["json"]["text"]))
    return out


def wait_texts(webhook, n: int, path: str = SECRET_PATH, timeout: float = 20.0) -> list[str]:
    """Wait until at least n alerts arrived on `path`; return them all."""
    return wait_until(lambda: (lambda t: t if len(t) >= n else None)(texts(webhook, path)), timeout,
                      lambda: f"{n} alert(s) on {path}; received so far: {webhook.take_records()}")


def settle(seconds: float = 2.5) -> None:
    """Let a few batch intervals pass, so an extra (wrong) alert would have arrived."""
    time.sleep(seconds)


def set_mode(webhook, mode: dict) -> None:
    req = urllib.request.Request(webhook.url + "/__mode", data=json.dumps(mode).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200


def alerts_total(envoy, alert_type: str, outcome: str, text: str | None = None) -> float:
    return envoy.value(f'llm_telemetry_alerts_total{{alert_type="{alert_type}",outcome="{outcome}"}}', text) or 0


def wait_counter(envoy, alert_type: str, outcome: str, at_least: float, timeout: float = 20.0) -> str:
    return envoy.wait_for(lambda t: t if alerts_total(envoy, alert_type, outcome, t) >= at_least else None,
                          timeout, what=f"llm_telemetry_alerts_total {alert_type}/{outcome} >= {at_least}")


def header(alert_type: str, level: str) -> str:
    return f"Alert type: `{alert_type}`\nLevel: `{level}`\nTimestamp: `HH:MM:SS`\n\nMessage: "


def exception_text(messages: str | None = "[{'role': 'user', 'content': 'hi'}]") -> str:
    """LiteLLM 1.106.2's text for the 500 of `gpt-err500` (test_alert_parity.py holds the filter
    to the recording of it; here the variants: messages redacted, metadata, routing)."""
    t = (header("llm_exceptions", "High") + "LLM API call failed: `litellm.InternalServerError: InternalServerError: "
         f"OpenAIException - {ERR_TEXT}\n\nLiteLLM: model group 'gpt-err500' failed with the error above. "
         f"No fallback was attempted.\nModel: openai/fake-err500\nAPI Base: `{API_BASE}`")
    if messages is not None:
        t += f"\nMessages: `{messages}`"
    return t + "\nmodel_group: `gpt-err500`\n\ndeployment: `openai/fake-err500`\n`"


def outage_text(kind: str, level: str, name_line: str, errors: int, api_base: bool = True,
                alert_type: str = "outage_alerts") -> str:
    base = f"*API Base:* `{API_BASE}`\n" if api_base else ""
    return (header(alert_type, level) + f"\n\n\n*⚠️ {kind} Service Outage*\n\n\n{name_line}\n*Provider:* `openai`\n"
            f"{base}\n\n*Errors:*\n\nAPI Errors: {errors}\n\n\n*Last Check:* `Ns ago`\n\n\n")


def assert_no_secret(envoy) -> None:
    """The webhook URL (its path is the credential) is in neither Envoy's log nor its stats."""
    for where, text in (("log", envoy.log()), ("stats", envoy.admin_get("/stats")),
                        ("prometheus", envoy.prometheus())):
        assert "SECRETxyz123" not in text, f"webhook secret leaked into Envoy's {where}"


# --- alert types --------------------------------------------------------------------------------

def test_llm_exception_on_upstream_500_and_400_not_on_success(start_envoy, webhook):
    """LiteLLM 1.106.2 alerts an error the LLM API returned, a 400 included (its
    `litellm.BadRequestError`; recorded as `llm_exceptions_400` in tests/fixtures/litellm_alerts.json)."""
    envoy = start(start_envoy, webhook, ["llm_exceptions"])
    chat(envoy, "gpt-err500")
    chat(envoy, "gpt-err500", status=500)
    assert wait_texts(webhook, 1) == [exception_text()]
    chat(envoy, "gpt-err500", status=400)
    bad_request = (exception_text()
                   .replace("litellm.InternalServerError: InternalServerError: ", "litellm.BadRequestError: ")
                   .replace(ERR_TEXT, "fake upstream error 400"))
    wait_texts(webhook, 2)
    settle()
    assert texts(webhook) == [exception_text(), bad_request], "a success must not alert"
    text = wait_counter(envoy, "llm_exceptions", "sent", 2)
    assert alerts_total(envoy, "llm_exceptions", "queued", text) == 2
    assert alerts_total(envoy, "llm_exceptions", "sent", text) == 2
    assert_no_secret(envoy)


def test_alerting_metadata_is_appended(start_envoy, webhook):
    envoy = start(start_envoy, webhook, ["llm_exceptions"])
    chat(envoy, "gpt-err500", status=500, metadata={"alerting_metadata": {"runbook": "golden-rb-1", "oncall": "team-a"},
                                                   "tags": ["x"]})
    assert wait_texts(webhook, 1) == [
        exception_text() + "\n\n*Alerting Metadata*: \nrunbook: `golden-rb-1`\n\n"
        "\n\n*Alerting Metadata*: \noncall: `team-a`\n\n"
    ]


def test_too_slow_above_threshold_only(start_envoy, webhook):
    envoy = start(start_envoy, webhook, ["llm_too_slow"], threshold=1)
    chat(envoy, "gpt-slow")  # fast: no alert
    chat(envoy, "gpt-slow", delay_ms=1300, metadata={"alerting_metadata": {"runbook": "rb-slow"}})
    want = (header("llm_too_slow", "Low") + "`Responses are slow - Ns response time > Alerting threshold: 1s`\n"
            f"Request Model: `fake-slow3`\nAPI Base: `{API_BASE}/`\nMessages: `[{{'role': 'user', 'content': 'hi'}}]`"
            "\n\n*Alerting Metadata*: \nrunbook: `rb-slow`\n\n")
    assert wait_texts(webhook, 1) == [want]
    [raw] = posts(webhook)
    secs = float(re.search(r"slow - ([0-9.]+)s response", raw["json"]["text"]).group(1))
    assert secs > 1, secs
    settle()
    assert len(texts(webhook)) == 1


def test_hanging_request_alerted_exactly_once_while_in_flight(start_envoy, webhook):
    telemetry = {"keys": [{"api_key": "sk-team-key", "key_alias": "svc-key", "team_alias": "search-team"}]}
    envoy = start(start_envoy, webhook, ["llm_requests_hanging"], threshold=1, telemetry=telemetry)
    done = threading.Event()

    def slow():
        chat(envoy, "gpt-slow", delay_ms=6000, headers={"authorization": "Bearer sk-team-key"},
             metadata={"alerting_metadata": {"runbook": "rb-hang"}})
        done.set()

    t = threading.Thread(target=slow)
    t.start()
    want = (header("llm_requests_hanging", "Medium") + "`Requests are hanging - 1s+ request time`\n"
            "Request Model: `gpt-slow`\nAPI Base: `None`\nKey Alias: `svc-key`\nTeam Alias: `search-team`"
            "\n\n*Alerting Metadata*: \nrunbook: `rb-hang`\n\n")
    assert wait_texts(webhook, 1) == [want]
    assert not done.is_set(), "the alert must come while the request is still hanging"
    t.join(30)
    assert done.is_set()  # and the request itself completed normally
    chat(envoy, "gpt-slow")  # a quick one: never hanging
    settle(3)
    assert texts(webhook) == [want], "one alert per hanging request"


def test_outage_minor_once_major_once_and_cooldown(start_envoy, webhook):
    # The outage alerts count the alerting's window; the cooldown is the router's (allowed_fails 4:
    # the 5th failure within cooldown_time cools the deployment down, once for that cooldown).
    envoy = start(start_envoy, webhook, ["outage_alerts", "cooldown_deployment"],
                  args={"minor_outage_alert_threshold": 3, "major_outage_alert_threshold": 5, "outage_alert_ttl": 60},
                  router={"allowed_fails": 4, "cooldown_time": 30})
    for _ in range(7):
        chat(envoy, "gpt-err500", status=500)
    got = wait_texts(webhook, 3)
    settle()
    got = texts(webhook)
    name = "*Model Name:* `fake-err500`"
    cooldown = (header("cooldown_deployment", "Low") + "`Deployment cooled down - 5 failures, allowed_fails: 4`"
                f"\nModel: `fake-err500`\nAPI Base: `{API_BASE}`\n"
                "model_group: `gpt-err500`\nException Status Code: `500`\nCooldown Time: `30.0s`")
    assert sorted(got) == sorted([outage_text("Minor", "Medium", name, 3), outage_text("Major", "High", name, 5),
                                  cooldown])
    text = envoy.prometheus()
    assert alerts_total(envoy, "outage_alerts", "sent", text) == 2
    assert alerts_total(envoy, "cooldown_deployment", "sent", text) == 1


def test_region_outage_across_models_of_one_region(start_envoy, webhook):
    envoy = start(start_envoy, webhook, ["region_outage_alerts"],
                  args={"minor_outage_alert_threshold": 3, "major_outage_alert_threshold": 6})
    chat(envoy, "eu-a", status=500)
    chat(envoy, "eu-a", status=500)
    chat(envoy, "eu-a", status=400)  # a client error is not an outage
    chat(envoy, "eu-b", status=500)  # 3 errors over 2 models: minor
    minor = outage_text("Minor", "Medium", "*Region Name:* `eu-west-1`", 3, api_base=False,
                        alert_type="region_outage_alerts")
    assert wait_texts(webhook, 1) == [minor]
    for _ in range(3):
        chat(envoy, "eu-b", status=500)  # 6: major
    major = outage_text("Major", "High", "*Region Name:* `eu-west-1`", 6, api_base=False,
                        alert_type="region_outage_alerts")
    wait_texts(webhook, 2)
    settle()
    assert texts(webhook) == [minor, major]


def test_daily_report_aggregates_every_worker(start_envoy, webhook):
    # --concurrency 2: requests land on both workers; the one report counts them all. The first
    # report is due daily_report_frequency after the leader starts: the traffic is sent well
    # before, so one report covers it.
    envoy = start(start_envoy, webhook, ["daily_reports"], concurrency=2,
                  args={"daily_report_frequency": 8, "report_check_interval": 1})
    calls = [("gpt-err500", 500, 0)] * 6 + [("eu-b", 500, 0)] * 3 + [("eu-a", 200, 400)] * 2 + [("gpt-slow", 200, 0)] * 4
    in_parallel(len(calls), lambda i: chat(envoy, calls[i][0], status=calls[i][1], delay_ms=calls[i][2]))
    [report] = wait_texts(webhook, 1, timeout=30)
    assert report == (
        "Alert type: `daily_reports`\n\nTime: `T`s\nHere are today's key metrics 📈: \n\n"
        "\n\n*❗️ Top Deployments with Most Failed Requests:*\n\n"
        f"\t1. Deployment: `openai/fake-err500`, Failed Requests: `6`,  API Base: `{API_BASE}`\n"
        f"\t2. Deployment: `openai/eu-model-b`, Failed Requests: `3`,  API Base: `{API_BASE}`\n"
        "\n\n*😅 Top Slowest Deployments:*\n\n"
        f"\t1. Deployment: `openai/eu-model-a`, Average Latency: `Ns`,  API Base: `{API_BASE}`\n\n"
        f"\t2. Deployment: `openai/fake-slow3`, Average Latency: `Ns`,  API Base: `{API_BASE}`\n\n"
        "\n\nNext Run is at: `T`s"
    )
    raw = posts(webhook)[0]["json"]["text"]
    now, nxt = (float(x) for x in re.findall(r"(?:Time|Next Run is at): `([0-9.]+)`s", raw))
    assert abs(nxt - now - 8) < 0.01
    slowest = float(re.search(r"eu-model-a`, Average Latency: `([0-9.]+)s`", raw).group(1))
    assert slowest >= 0.4


# --- routing, redaction, batching ---------------------------------------------------------------

def test_one_type_routed_to_two_urls(start_envoy, webhook):
    hook_b = webhook.url + "/teams/SECRETxyz123b"
    envoy = start(start_envoy, webhook, ["llm_exceptions", "llm_too_slow"], env={"HOOK_B": hook_b},
                  general={"alert_to_webhook_url": {"llm_exceptions": [webhook.url + "/a/SECRETxyz123a",
                                                                       "os.environ/HOOK_B"]}})
    chat(envoy, "gpt-err500", status=500)
    chat(envoy, "gpt-slow", delay_ms=1200)
    assert wait_texts(webhook, 1, "/a/SECRETxyz123a") == [exception_text()]
    assert wait_texts(webhook, 1, "/teams/SECRETxyz123b") == [exception_text()]
    # Types without a route of their own still go to SLACK_WEBHOOK_URL.
    [slow] = wait_texts(webhook, 1)
    assert slow.startswith(header("llm_too_slow", "Low"))
    settle()
    assert len(texts(webhook, "/a/SECRETxyz123a")) == len(texts(webhook, "/teams/SECRETxyz123b")) == 1
    assert len(texts(webhook)) == 1
    assert_no_secret(envoy)


def test_redacted_messages_are_left_out(start_envoy, webhook):
    envoy = start(start_envoy, webhook, ["llm_exceptions", "llm_too_slow"],
                  litellm_settings={"redact_messages_in_exceptions": True})
    chat(envoy, "gpt-err500", status=500, content="my secret prompt")
    chat(envoy, "gpt-slow", delay_ms=1200, content="my secret prompt")
    got = wait_texts(webhook, 2)
    assert exception_text(messages=None) in got
    [slow] = [t for t in got if "llm_too_slow" in t]
    assert slow == (header("llm_too_slow", "Low") + "`Responses are slow - Ns response time > Alerting threshold: 1s`"
                    f"\nRequest Model: `fake-slow3`\nAPI Base: `{API_BASE}/`"
                    "\nMessages: `Message not logged. litellm.redact_messages_in_exceptions=True`")
    assert not any("secret prompt" in r["body"] for r in posts(webhook, answered="any"))


def test_identical_alerts_collapse_with_num_alerts(start_envoy, webhook):
    envoy = start(start_envoy, webhook, ["llm_exceptions"])
    in_parallel(6, lambda i: chat(envoy, "gpt-err500", status=500))
    # All six happen within a batch interval; should a tick fall between them they are two
    # batches, so the counts add up to six and at least one body is collapsed.
    counts = []

    def collected():
        got = texts(webhook)
        counts[:] = []
        for t in got:
            m = re.match(r"\[Num Alerts: (\d+)\]\n\n", t)
            assert (t[m.end():] if m else t) == exception_text()
            counts.append(int(m.group(1)) if m else 1)
        return sum(counts) == 6

    wait_until(collected, 20, lambda: f"6 alerts in all; counts {counts}")
    assert max(counts) >= 2 and len(counts) <= 2, counts
    text = wait_counter(envoy, "llm_exceptions", "sent", len(counts))
    assert alerts_total(envoy, "llm_exceptions", "queued", text) == 6
    assert alerts_total(envoy, "llm_exceptions", "deduplicated", text) == 6 - len(counts)


# --- delivery failures never touch traffic ------------------------------------------------------

def test_receiver_that_closes_without_answering_is_not_sent_twice(start_envoy, webhook):
    """The receiver reads the alert and closes the connection: it may have acted on it, and a
    webhook cannot tell a copy from a new alert. Counted `unconfirmed`, never resent; alerts after
    the receiver is back are sent."""
    envoy = start(start_envoy, webhook, ["llm_exceptions"],
                  args={"max_retries": 30, "retry_backoff_seconds": [0.5]})
    set_mode(webhook, {"down": True})
    chat(envoy, "gpt-err500", status=500)
    wait_until(lambda: posts(webhook, answered=None), 20, "an attempt while the receiver is down")
    wait_counter(envoy, "llm_exceptions", "unconfirmed", 1)
    for _ in range(10):
        chat(envoy, "gpt-slow")  # normal answers meanwhile
    set_mode(webhook, {})
    chat(envoy, "gpt-err500", status=500, metadata={"alerting_metadata": {"n": "2"}})
    assert wait_texts(webhook, 1) == [exception_text() + "\n\n*Alerting Metadata*: \nn: `2`\n\n"]
    text = wait_counter(envoy, "llm_exceptions", "sent", 1)
    settle()
    assert len(posts(webhook, answered="any")) == 2, "the unanswered alert was not sent again"
    assert [alerts_total(envoy, "llm_exceptions", o, text) for o in ("retried", "dropped", "unconfirmed")] == [0, 0, 1]
    assert_no_secret(envoy)


def test_receiver_slower_than_callout_timeout_is_not_sent_twice(start_envoy, webhook):
    envoy = start(start_envoy, webhook, ["llm_exceptions"],
                  args={"callout_timeout_ms": 300, "max_retries": 30, "retry_backoff_seconds": [0.5]})
    set_mode(webhook, {"delay_ms": 1500})
    chat(envoy, "gpt-err500", status=500)
    text = wait_counter(envoy, "llm_exceptions", "unconfirmed", 1)  # the callout timed out
    for _ in range(10):
        chat(envoy, "gpt-slow")
    settle()
    # The slow receiver got it once, late; the filter did not send it again.
    assert texts(webhook) == [exception_text()]
    text = envoy.prometheus()
    assert [alerts_total(envoy, "llm_exceptions", o, text) for o in ("sent", "failed", "retried", "dropped")] \
        == [0, 0, 0, 0]
    assert "may not have arrived" in envoy.log()
    assert_no_secret(envoy)


def test_unreachable_receiver_is_retried_then_dropped(start_envoy, webhook):
    """Nothing listens on the receiver's port: the alert never left, so it is safe to send again
    (Envoy retries the connection once itself, the filter with its backoff), then dropped."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    envoy = start(start_envoy, webhook, ["llm_exceptions"],
                  general={"alert_to_webhook_url": {"llm_exceptions": f"http://127.0.0.1:{closed}/hook"}},
                  args={"max_retries": 2, "retry_backoff_seconds": [0.2]})
    chat(envoy, "gpt-err500", status=500)
    text = wait_counter(envoy, "llm_exceptions", "dropped", 1)
    assert [alerts_total(envoy, "llm_exceptions", o, text) for o in ("failed", "retried", "unconfirmed", "sent")] \
        == [3, 2, 0, 0]
    retries = envoy.value(f'envoy_cluster_upstream_rq_retry{{envoy_cluster_name="webhook_127_0_0_1_{closed}"}}', text)
    assert retries == 3, "Envoy's own connect-failure retry, once per attempt"


def test_receiver_500_retried_then_dropped_or_sent(start_envoy, webhook):
    envoy = start(start_envoy, webhook, ["llm_exceptions"],
                  args={"max_retries": 2, "retry_backoff_seconds": [0.2]})
    set_mode(webhook, {"status": 500})
    chat(envoy, "gpt-err500", status=500)
    text = wait_counter(envoy, "llm_exceptions", "dropped", 1)
    assert [alerts_total(envoy, "llm_exceptions", o, text) for o in ("queued", "failed", "retried", "dropped", "sent")] \
        == [1, 3, 2, 1, 0]
    rejected = posts(webhook, answered=500)
    assert len(rejected) == 3 and {mask(r["json"]["text"]) for r in rejected} == {exception_text()}
    # A receiver that recovers within the retries gets the alert.
    webhook.clear()
    chat(envoy, "gpt-err500", status=500, metadata={"alerting_metadata": {"n": "2"}})
    wait_until(lambda: posts(webhook, answered=500), 20, "a first attempt answered 500")
    set_mode(webhook, {})
    assert wait_texts(webhook, 1) == [exception_text() + "\n\n*Alerting Metadata*: \nn: `2`\n\n"]
    text = wait_counter(envoy, "llm_exceptions", "sent", 1)
    assert alerts_total(envoy, "llm_exceptions", "dropped", text) == 1


def test_missing_cluster_is_logged_once_and_counted(start_envoy, webhook):
    port = webhook.port
    envoy = start(start_envoy, webhook, ["llm_exceptions"],
                  general={"webhook_clusters": {f"127.0.0.1:{port}": "no_such_cluster"}},
                  args={"max_retries": 2, "retry_backoff_seconds": [0.2]})
    chat(envoy, "gpt-err500", status=500)
    chat(envoy, "gpt-slow")
    text = wait_counter(envoy, "llm_exceptions", "dropped", 1)
    assert alerts_total(envoy, "llm_exceptions", "failed", text) == 3
    line = "cannot send alerts to destination `slack`"
    wait_until(lambda: line in envoy.log(), 20, "the missing cluster logged")
    settle(1)
    log = envoy.log()
    assert log.count(line) == 1, log
    assert "no_such_cluster" in log
    assert webhook.take_records() == []
    assert_no_secret(envoy)


def test_invalid_alerting_refuses_the_plugin_without_showing_the_url(start_envoy, webhook):
    ok, output = start_envoy.validate({
        "environment_variables": {"SLACK_WEBHOOK_URL": webhook.url + SECRET_PATH},
        "general_settings": {"alerting": ["slack"], "alert_to_webhook_url": {
            "llm_exceptions": [webhook.url + "/ok", "hooks.slack.com/services/SECRETxyz123"]}},
        "telemetry_settings": {"on_invalid_config": "refuse"},
    })
    assert not ok, output
    assert ("llm-telemetry: invalid plugin configuration: general_settings.alert_to_webhook_url.llm_exceptions[1]: "
            "not a valid webhook URL (missing http:// or https://)") in output, output
    assert "SECRETxyz123" not in output
    # LiteLLM starts without a Slack URL (each alert then fails when it fires): so does the filter,
    # saying which types have no destination (test_litellm_configs.py counts them dropped).
    ok, output = start_envoy.validate({"general_settings": {"alerting": ["slack"]}})
    assert ok, output
    assert ('general_settings.alerting[0]: "slack" has no destination for ') in output, output


# --- several workers ----------------------------------------------------------------------------

def test_one_leader_counts_outages_across_workers(start_envoy, webhook):
    """--concurrency 2: 4 VMs, errors spread over the workers; one leader sees them all and sends
    each alert once."""
    envoy = start(start_envoy, webhook, ["outage_alerts", "llm_exceptions"], concurrency=2,
                  args={"minor_outage_alert_threshold": 4, "major_outage_alert_threshold": 8})
    in_parallel(8, lambda i: chat(envoy, "gpt-err500", status=500))
    for _ in range(4):
        chat(envoy, "gpt-slow")

    def outages():
        got = [t for t in texts(webhook) if "outage_alerts" in t]
        return got if len(got) >= 2 else None

    wait_until(outages, 20, lambda: f"2 outage alerts; got {texts(webhook)}")
    settle()
    got = texts(webhook)
    name = "*Model Name:* `fake-err500`"
    assert sorted(t for t in got if "outage_alerts" in t) == sorted(
        [outage_text("Minor", "Medium", name, 4), outage_text("Major", "High", name, 8)])
    exceptions = [t for t in got if "llm_exceptions" in t]
    total = sum(int(m.group(1)) if (m := re.match(r"\[Num Alerts: (\d+)\]", t)) else 1 for t in exceptions)
    assert total == 8, exceptions
    assert envoy.log().count("this VM now sends the alerts") == 1
