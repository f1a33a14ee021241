//! What each alert says: LiteLLM 1.106.2's texts, byte for byte (`tests/e2e/test_alert_parity.py`
//! holds them to a recording of LiteLLM itself). Pure functions of the facts an alert is about;
//! the rules in [`super::engine`] decide when one is sent, [`super::delivery`] sends it.

use super::escape::mrkdwn as md;
use super::event::{HangingFacts, RequestFacts};
use super::text::{hhmmss_utc, litellm_exception, py_float, py_round};
use super::types::{AlertType, Level};
use crate::health::Cooldown;

/// ``LLM API call failed: `{exception}` `` with LiteLLM's exception text inside the
/// backticks: the class-and-provider wrapper, the router's "No fallback was attempted." line
/// when a deployment served the request, then the debug lines (key and team, Model, API Base,
/// Messages unless redacted, model_group, deployment) unless the rate-limit branch left them
/// out. Envoy does not retry for the filter: LiteLLM's "LiteLLM Retried: N times" never
/// appears (README, differences from LiteLLM).
pub fn exception(f: &RequestFacts, redact_messages: bool) -> String {
    let (exception, debug) = litellm_exception(f.status, &f.provider, f.error_message.as_deref());
    let mut text = format!("LLM API call failed: `{}", md(&exception));
    if f.routed && !f.model_group.is_empty() {
        text.push_str(&format!(
            "\n\nLiteLLM: model group '{}' failed with the error above. No fallback was attempted.",
            md(&f.model_group)
        ));
    }
    if debug {
        text.push_str(&key_and_team(
            f.key_alias.as_deref(),
            f.team_alias.as_deref(),
        ));
        text.push_str(&format!("\nModel: {}", md(&f.litellm_model)));
        if !f.api_base.is_empty() {
            text.push_str(&format!("\nAPI Base: `{}`", md(&f.api_base)));
        }
        if let Some(m) = f.messages_preview.as_deref().filter(|_| !redact_messages) {
            text.push_str(&format!("\nMessages: `{}`", md(m)));
        }
        if !f.model_group.is_empty() {
            text.push_str(&format!("\nmodel_group: `{}`\n", md(&f.model_group)));
        }
        if f.routed {
            text.push_str(&format!("\ndeployment: `{}`\n", md(&f.litellm_model)));
        }
    }
    text.push('`');
    text
}

/// `llm_too_slow`: the latency against the threshold, model, API base and messages.
pub fn too_slow(f: &RequestFacts, redact_messages: bool, threshold_text: &str) -> String {
    let secs = py_round(f.latency_ms as f64 / 1000.0, 2);
    let mut info = format!(
        "{}\nRequest Model: `{}`\nAPI Base: `{}`",
        key_and_team(f.key_alias.as_deref(), f.team_alias.as_deref()),
        md(&f.model),
        md(&logged_api_base(&f.provider, &f.api_base))
    );
    // LiteLLM always has the line: `str(messages)[:100]` ("None" without any), or why not.
    let messages = if redact_messages {
        "Message not logged. litellm.redact_messages_in_exceptions=True"
    } else {
        f.messages_preview.as_deref().unwrap_or("None")
    };
    info.push_str(&format!("\nMessages: `{}`", md(messages)));
    format!(
        "`Responses are slow - {secs}s response time > Alerting threshold: {threshold_text}s`{info}"
    )
}

/// `llm_requests_hanging`: LiteLLM registers the request before routing, so its API base is
/// always `None`.
pub fn hanging(h: &HangingFacts, threshold_text: &str) -> String {
    format!(
        "`Requests are hanging - {}s+ request time`\nRequest Model: `{}`\nAPI Base: `None`\nKey Alias: `{}`\nTeam Alias: `{}`",
        threshold_text,
        md(&h.requested_model),
        md(h.key_alias.as_deref().unwrap_or("")),
        md(h.team_alias.as_deref().unwrap_or("")),
    )
}

/// `failed_tracking_spend`.
pub fn failed_tracking(error_message: &str) -> String {
    format!("Failed Tracking Cost for {}", md(error_message))
}

/// `cooldown_deployment`: LiteLLM 1.106.2 defines the type but sends nothing for it; the
/// filter tells which of LiteLLM's router rules cooled the deployment down, and for how long.
pub fn cooled_down(deployment: &[String; 4], c: &Cooldown) -> String {
    let [model, _, api_base, _] = deployment;
    format!(
        "`Deployment cooled down - {}`\nModel: `{}`\nAPI Base: `{}`\nmodel_group: `{}`\nException Status Code: `{}`\nCooldown Time: `{}s`",
        md(&c.reason),
        md(model),
        md(or_none(api_base)),
        md(&c.model_group),
        c.status,
        py_float(c.cooldown_ms as f64 / 1000.0),
    )
}

/// The Slack-format text LiteLLM sends: type, level and time, the message, the alerting
/// metadata and the proxy URL.
pub fn slack_alert(
    t: AlertType,
    level: Level,
    message: &str,
    metadata: &[(String, String)],
    proxy_base_url: Option<&str>,
    now_ms: u64,
) -> String {
    let mut s = if t == AlertType::DailyReports {
        // LiteLLM sends reports without Level/Timestamp.
        format!("Alert type: `{}`{message}", t.as_str())
    } else {
        format!(
            "Alert type: `{}`\nLevel: `{}`\nTimestamp: `{}`\n\nMessage: {message}",
            t.as_str(),
            level.as_str(),
            hhmmss_utc(now_ms)
        )
    };
    for (k, v) in metadata {
        let (k, v) = (md(k), md(v));
        s.push_str(&format!("\n\n*Alerting Metadata*: \n{k}: `{v}`\n\n"));
    }
    if let Some(u) = proxy_base_url {
        let u = md(u);
        s.push_str(&format!("\n\nProxy URL: `{u}`"));
    }
    s
}

/// The API base as LiteLLM's success logging has it: the OpenAI SDK's client (OpenAI-compatible
/// deployments) keeps its `base_url` with a trailing `/`; `None` when unknown.
pub fn logged_api_base(provider: &str, api_base: &str) -> String {
    if api_base.is_empty() {
        return "None".to_string();
    }
    if provider == "openai" && !api_base.ends_with('/') {
        return format!("{api_base}/");
    }
    api_base.to_string()
}

pub fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "None"
    } else {
        s
    }
}

/// One deployment's day, for the daily report.
#[derive(Default)]
pub struct ReportRow {
    pub litellm_model: String,
    pub api_base: String,
    pub failures: u64,
    pub successes: u64,
    pub latency_sum_ms: u64,
}

/// LiteLLM's `_add_key_name_and_team_to_alert`: only when the key has an alias.
pub fn key_and_team(key_alias: Option<&str>, team_alias: Option<&str>) -> String {
    match key_alias {
        Some(k) => format!(
            "\n\nKey Name: `{}`\nTeam: `{}`",
            md(k),
            md(team_alias.unwrap_or("None"))
        ),
        None => String::new(),
    }
}

/// LiteLLM's `_outage_alert_msg_factory`, byte for byte.
pub fn outage(
    kind: &str,
    key: &str,
    key_val: &str,
    provider: &str,
    api_base: Option<&str>,
    errors: &str,
    last_check: &str,
) -> String {
    let (key_val, provider) = (md(key_val), md(provider));
    let mut headers = format!("\n*{key} Name:* `{key_val}`\n*Provider:* `{provider}`\n");
    if let Some(b) = api_base {
        headers.push_str(&format!("*API Base:* `{}`\n", md(b)));
    }
    format!(
        "\n\n\n*⚠️ {kind} Service Outage*\n\n{headers}\n\n*Errors:*\n{}\n\n*Last Check:* `{last_check}s ago`\n\n\n",
        errors
    )
}

/// LiteLLM's daily report layout; "slowest" ranks by average response time of successful
/// requests (LiteLLM ranks a sum of per-output-token latencies, which the event does not carry).
/// `None` when nothing happened since the last report (LiteLLM sends nothing then).
pub fn daily_report(rows: &[ReportRow], now_ms: u64, next_ms: u64) -> Option<String> {
    if rows.iter().all(|r| r.failures == 0 && r.successes == 0) {
        return None;
    }
    let mut failed: Vec<&ReportRow> = rows.iter().filter(|r| r.failures > 0).collect();
    // Stable sorts: ties keep first-seen order, as Python's sorted() keeps the router's order.
    failed.sort_by_key(|r| core::cmp::Reverse(r.failures));
    let avg = |r: &ReportRow| r.latency_sum_ms as f64 / 1000.0 / r.successes.max(1) as f64;
    let mut slow: Vec<&ReportRow> = rows
        .iter()
        .filter(|r| r.successes > 0 && r.latency_sum_ms > 0)
        .collect();
    slow.sort_by(|a, b| {
        avg(b)
            .partial_cmp(&avg(a))
            .unwrap_or(core::cmp::Ordering::Equal)
    });
    let mut m = format!(
        "\n\nTime: `{}`s\nHere are today's key metrics 📈: \n\n",
        py_float(now_ms as f64 / 1000.0)
    );
    m.push_str("\n\n*❗️ Top Deployments with Most Failed Requests:*\n\n");
    if failed.is_empty() {
        m.push_str("\tNone\n");
    }
    for (i, r) in failed.iter().take(5).enumerate() {
        m.push_str(&format!(
            "\t{}. Deployment: `{}`, Failed Requests: `{}`,  API Base: `{}`\n",
            i + 1,
            md(&r.litellm_model),
            r.failures,
            md(&r.api_base)
        ));
    }
    m.push_str("\n\n*😅 Top Slowest Deployments:*\n\n");
    if slow.is_empty() {
        m.push_str("\tNone\n");
    }
    for (i, r) in slow.iter().take(5).enumerate() {
        m.push_str(&format!(
            "\t{}. Deployment: `{}`, Average Latency: `{}s`,  API Base: `{}`\n\n",
            i + 1,
            md(&r.litellm_model),
            py_round(avg(r), 3),
            md(&r.api_base)
        ));
    }
    m.push_str(&format!(
        "\n\nNext Run is at: `{}`s",
        py_float(next_ms as f64 / 1000.0)
    ));
    Some(m)
}
