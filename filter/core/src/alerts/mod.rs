//! LiteLLM-style alerting: rules, texts, batching, routing, delivery bookkeeping.
//!
//! # Design
//!
//! Envoy runs one Wasm VM per worker thread, and an HTTP callout only completes when dispatched
//! from a root context's `on_tick` (from an HTTP context the callback never fires). Outage
//! windows, de-duplication and daily reports must also count across all workers. So:
//!
//! 1. **Workers** turn every finished request into an [`AlertEvent`] (and, through their own
//!    [`HangingTracker`], every request still open after `alerting_threshold`) and push its
//!    compact JSON ([`AlertEvent::to_json`]) onto one Envoy shared queue.
//! 2. **One elected leader VM** drains the queue into an [`AlertEngine`]
//!    ([`AlertEvent::from_json`], [`AlertEngine::on_event`]), calls [`AlertEngine::on_tick`] every
//!    second, dispatches each returned [`Outgoing`] with `dispatch_http_call` to its
//!    [`Destination`] cluster, and reports each callback through
//!    [`AlertEngine::on_callout_result`] ([`callout::callout_result`] reads what Envoy's answer
//!    means): 5xx/429 answers and callouts that never left are retried with backoff; one that may
//!    have arrived (timed out, connection closed under it) is never resent, and counted
//!    `unconfirmed`.
//!
//! Everything here is pure: the host passes Unix milliseconds in, and tests drive the engine with
//! a fake clock. The host adapter owns the queue, the election and the callouts.
//!
//! # Texts
//!
//! Texts match LiteLLM 1.106's Slack alerts (``Alert type: `X`\nLevel: `L`\nTimestamp:
//! `HH:MM:SS`\n\nMessage: ...``, timestamps in UTC here), request `alerting_metadata` appended,
//! alerts batched per destination for `batch_interval_seconds` (or up to `batch_max_alerts`) with
//! identical texts collapsed under `[Num Alerts: N]`. Deliberate differences from LiteLLM, each
//! because LiteLLM's behaviour is a bug or cannot apply to a proxy filter:
//! - batching collapses only identical texts (LiteLLM squashes per URL and type and sends only
//!   the first text of a batch, losing the others);
//! - region outages are sent as `region_outage_alerts` (LiteLLM enables them by that name but
//!   sends them as `outage_alerts`, so `alert_types: [region_outage_alerts]` alone sends nothing);
//! - outage thresholds are checked from the first error on, and a major outage reached together
//!   with the minor threshold sends the major alert only;
//! - `cooldown_deployment` (a type LiteLLM 1.106.2 defines but never sends) fires when the
//!   deployment health model ([`crate::health`], LiteLLM's router rules) cools a deployment down:
//!   ``Deployment cooled down - {rule}`` with model, API base, group, status and cooldown time;
//! - the daily report ranks "slowest" by average response time (LiteLLM sums latency per output
//!   token, which needs data the event does not carry);
//! - with messages redacted the Messages lines are left out entirely;
//! - client-controlled values are escaped for Slack mrkdwn ([`escape`]: no mention, link, code-span
//!   break or extra line can be formed; LiteLLM writes them raw);
//! - a callout that may have arrived (timed out, connection closed under it) is not resent
//!   (LiteLLM's httpx client retries nothing either, but counts nothing: here it is `unconfirmed`).
//!
//! Webhook URLs are secrets: they appear only inside [`Destination::path`]/`authority` for the
//! callout, never in errors, `Debug` output or alert bodies; logs and metrics use
//! [`Destination::id`] and the cluster name.

/// Budget alert texts and generic webhook JSON.
pub mod budget;
/// What Envoy's answer to a callout says happened to the alert.
pub mod callout;
/// Configuration parsing and validation.
pub mod config;
/// Batching, the queue bound, callouts and their retries.
pub mod delivery;
/// The leader's engine: LiteLLM's alert rules.
pub mod engine;
/// Client-controlled values made inert for Slack mrkdwn and the generic webhook's JSON.
pub mod escape;
/// Events workers send to the leader.
pub mod event;
/// Worker side: alert facts read off an exchange's record.
pub mod facts;
/// Per-worker hanging-request detection.
pub mod hanging;
/// Which VM runs the engine.
pub mod leader;
/// What each alert says, in LiteLLM's words.
pub mod messages;
/// Webhook URL → Envoy cluster, authority, path.
pub mod route;
/// Python-compatible formatting helpers (float repr, rounding, timestamps, message previews).
pub mod text;
/// Alert types and levels.
pub mod types;

pub use budget::{BudgetAlertKind, BudgetEvent, CallInfo, EventGroup};
pub use callout::{callout_result, CalloutResult};
pub use config::{parse_alerting, AlertConfigError, AlertingArgs, AlertingConfig};
pub use engine::{region_of, AlertEngine, AlertStats, DeliveryOutcome, Outgoing, TypeCounters};
pub use event::{
    is_failure, is_outage_error, is_upstream_failure, AlertEvent, HangingFacts, RequestFacts,
};
pub use facts::{alerting_metadata, hanging_facts, request_facts};
pub use hanging::HangingTracker;
pub use route::{Destination, UrlError};
pub use text::messages_preview;
pub use types::{AlertType, Level};

#[cfg(test)]
mod engine_tests;
