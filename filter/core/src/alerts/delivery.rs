//! Delivery of the leader's alerts: per-destination batches (identical texts squashed, as
//! LiteLLM's batching does), the `queue_max_events` bound, callouts handed out and settled,
//! retries with backoff, lost callbacks, and the per-type counters of all of it.
//!
//! Pure, like the engine that owns it: the host performs the callouts it is handed and reports
//! back; times are Unix milliseconds passed in.

use std::collections::VecDeque;

use hashbrown::HashMap;
use serde::Serialize;

use super::callout::CalloutResult;
use super::config::AlertingConfig;
use super::route::Destination;
use super::types::AlertType;

/// Extra wait beyond the callout timeout before a callout with no callback counts as failed.
const CALLBACK_GRACE_MS: u64 = 5_000;

/// One HTTP POST for the host to dispatch from the root context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Where to (its `Debug` hides the secret path).
    pub destination: Destination,
    /// JSON body: `{"text":"..."}` for Slack-compatible webhooks, LiteLLM's event JSON for the
    /// generic webhook.
    pub body: String,
    /// The alert type (for the host's counters and logs).
    pub alert_type: AlertType,
    /// 1 for the first attempt, then 2, 3, ... on retries.
    pub attempt: u32,
    /// Identifies this body across retries; pass it back to [`super::AlertEngine::on_delivery_result`].
    pub id: u64,
}

impl Outgoing {
    /// Headers for `dispatch_http_call`.
    pub fn headers(&self) -> [(&str, &str); 7] {
        self.destination.headers()
    }
}

/// What [`super::AlertEngine::on_delivery_result`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// 2xx: delivered.
    Sent,
    /// Failed and will be handed out again by `on_tick` at or after `at_ms`.
    Retrying {
        /// Earliest retry time (Unix ms).
        at_ms: u64,
    },
    /// Failed and given up (non-retryable status or retries exhausted).
    Dropped,
    /// May have been delivered (timed out, connection closed under it): not resent.
    Unconfirmed,
    /// Not an id in flight (already settled, or never handed out).
    Unknown,
}

/// Counters for one alert type. `queued` and `deduplicated` count alerts; `sent`, `failed`,
/// `retried`, `unconfirmed` count HTTP attempts of bodies; `dropped` counts alerts or bodies
/// given up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TypeCounters {
    /// Alerts accepted for a destination (one per destination).
    pub queued: u64,
    /// Bodies delivered (2xx).
    pub sent: u64,
    /// Failed attempts (non-2xx or no response).
    pub failed: u64,
    /// Retries scheduled.
    pub retried: u64,
    /// Given up: retries exhausted, non-retryable status, or pushed out of a full queue.
    pub dropped: u64,
    /// Alerts folded into an identical one (batch collapse, budget/failed-tracking TTL).
    pub deduplicated: u64,
    /// Attempts whose fate is unknown (timed out, connection closed after the request was
    /// written): maybe delivered, never resent.
    pub unconfirmed: u64,
}

impl TypeCounters {
    /// `(outcome label, value)` pairs, for the host's `outcome` label.
    pub fn outcomes(&self) -> [(&'static str, u64); 7] {
        [
            ("queued", self.queued),
            ("sent", self.sent),
            ("failed", self.failed),
            ("retried", self.retried),
            ("dropped", self.dropped),
            ("deduplicated", self.deduplicated),
            ("unconfirmed", self.unconfirmed),
        ]
    }

    fn is_zero(&self) -> bool {
        *self == TypeCounters::default()
    }

    fn minus(&self, o: &TypeCounters) -> TypeCounters {
        TypeCounters {
            queued: self.queued.saturating_sub(o.queued),
            sent: self.sent.saturating_sub(o.sent),
            failed: self.failed.saturating_sub(o.failed),
            retried: self.retried.saturating_sub(o.retried),
            dropped: self.dropped.saturating_sub(o.dropped),
            deduplicated: self.deduplicated.saturating_sub(o.deduplicated),
            unconfirmed: self.unconfirmed.saturating_sub(o.unconfirmed),
        }
    }
}

/// Per-type delivery counters since the engine started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertStats {
    per_type: [TypeCounters; AlertType::COUNT],
    // Never used: `AlertType::index` is always in range; this only spares an indexing panic path.
    spare: TypeCounters,
}

impl AlertStats {
    /// Counters of `t`.
    pub fn get(&self, t: AlertType) -> TypeCounters {
        self.per_type.get(t.index()).copied().unwrap_or_default()
    }

    /// Sum over all types.
    pub fn total(&self) -> TypeCounters {
        self.per_type
            .iter()
            .fold(TypeCounters::default(), |a, c| TypeCounters {
                queued: a.queued + c.queued,
                sent: a.sent + c.sent,
                failed: a.failed + c.failed,
                retried: a.retried + c.retried,
                dropped: a.dropped + c.dropped,
                deduplicated: a.deduplicated + c.deduplicated,
                unconfirmed: a.unconfirmed + c.unconfirmed,
            })
    }

    /// Counters of `t`, to count in.
    pub(super) fn at(&mut self, t: AlertType) -> &mut TypeCounters {
        match self.per_type.get_mut(t.index()) {
            Some(c) => c,
            None => &mut self.spare,
        }
    }
}

struct Pending {
    seq: u64,
    at_ms: u64,
    alert_type: AlertType,
    text: String,
}

struct Waiting {
    seq: u64,
    due_ms: u64,
    out: Outgoing,
}

struct InFlight {
    seq: u64,
    sent_ms: u64,
    out: Outgoing,
}

#[derive(Serialize)]
struct SlackBody<'a> {
    text: &'a str,
}

/// The batches, the queue and the callouts in flight of every destination.
pub struct Delivery {
    batches: Vec<VecDeque<Pending>>,
    waiting: Vec<Waiting>,
    in_flight: HashMap<u64, InFlight>,
    next_seq: u64,
    next_id: u64,
    stats: AlertStats,
    reported: AlertStats,
}

impl Delivery {
    /// Delivery to `cfg`'s destinations.
    pub fn new(cfg: &AlertingConfig) -> Delivery {
        Delivery {
            batches: (0..cfg.destinations().len())
                .map(|_| VecDeque::new())
                .collect(),
            waiting: Vec::new(),
            in_flight: HashMap::new(),
            next_seq: 0,
            next_id: 1,
            stats: AlertStats::default(),
            reported: AlertStats::default(),
        }
    }

    /// Counters since start.
    pub fn stats(&self) -> &AlertStats {
        &self.stats
    }

    /// Counters of `t`, for the rules to count what they fold or drop before delivery.
    pub(super) fn count(&mut self, t: AlertType) -> &mut TypeCounters {
        self.stats.at(t)
    }

    /// Non-zero counter increments since the previous call, for adding to Envoy counters.
    pub fn take_stats_delta(&mut self) -> Vec<(AlertType, TypeCounters)> {
        let mut out = Vec::new();
        for t in AlertType::ALL {
            let d = self.stats.get(t).minus(&self.reported.get(t));
            if !d.is_zero() {
                out.push((t, d));
            }
        }
        self.reported = self.stats.clone();
        out
    }

    /// Alerts and bodies waiting (batched, due or awaiting retry), not counting in-flight ones.
    pub fn pending_len(&self) -> usize {
        self.batches.iter().map(VecDeque::len).sum::<usize>() + self.waiting.len()
    }

    /// Callouts handed out and not yet settled.
    pub fn in_flight_len(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether callout `id` is handed out and not yet settled (answered, or given up as lost).
    pub fn is_in_flight(&self, id: u64) -> bool {
        self.in_flight.contains_key(&id)
    }

    /// Queues a formatted Slack-format alert `text` for every destination of its type.
    pub fn enqueue(&mut self, cfg: &AlertingConfig, t: AlertType, text: &str, now_ms: u64) {
        let routes = cfg.route_indices(t);
        if routes.is_empty() {
            // Slack is on but this type has no destination (the config's warnings say so).
            if cfg.slack {
                self.stats.at(t).dropped += 1;
            }
            return;
        }
        for &idx in routes {
            let seq = self.bump_seq();
            if !self.admit(cfg, seq) {
                self.stats.at(t).dropped += 1;
                continue;
            }
            self.stats.at(t).queued += 1;
            let full = match self.batches.get_mut(idx) {
                Some(b) => {
                    b.push_back(Pending {
                        seq,
                        at_ms: now_ms,
                        alert_type: t,
                        text: text.to_owned(),
                    });
                    b.len() >= cfg.args.batch_max_alerts
                }
                None => false,
            };
            if full {
                self.flush_batch(cfg, idx, now_ms);
            }
        }
    }

    /// Queues a body that is not batched (the generic webhook sends budget events at once).
    pub fn enqueue_direct(
        &mut self,
        cfg: &AlertingConfig,
        idx: usize,
        t: AlertType,
        body: String,
        now_ms: u64,
    ) {
        let Some(destination) = cfg.destinations().get(idx).cloned() else {
            return;
        };
        let seq = self.bump_seq();
        if !self.admit(cfg, seq) {
            self.stats.at(t).dropped += 1;
            return;
        }
        self.stats.at(t).queued += 1;
        let id = self.bump_id();
        self.waiting.push(Waiting {
            seq,
            due_ms: now_ms,
            out: Outgoing {
                destination,
                body,
                alert_type: t,
                attempt: 1,
                id,
            },
        });
    }

    /// Flushes due batches, settles lost callouts, and returns the callouts to dispatch now,
    /// oldest first.
    pub fn on_tick(&mut self, cfg: &AlertingConfig, now_ms: u64) -> Vec<Outgoing> {
        self.expire_lost_callouts(cfg, now_ms);
        let interval = cfg.args.batch_interval_ms;
        for i in 0..self.batches.len() {
            let due = self
                .batches
                .get(i)
                .and_then(|b| b.front())
                .is_some_and(|p| now_ms.saturating_sub(p.at_ms) >= interval);
            if due {
                self.flush_batch(cfg, i, now_ms);
            }
        }
        let mut due: Vec<Waiting> = Vec::new();
        let mut rest: Vec<Waiting> = Vec::with_capacity(self.waiting.len());
        for w in self.waiting.drain(..) {
            if w.due_ms <= now_ms {
                due.push(w)
            } else {
                rest.push(w)
            }
        }
        self.waiting = rest;
        due.sort_by_key(|w| w.seq);
        let mut out = Vec::with_capacity(due.len());
        for w in due {
            out.push(w.out.clone());
            self.in_flight.insert(
                w.out.id,
                InFlight {
                    seq: w.seq,
                    sent_ms: now_ms,
                    out: w.out,
                },
            );
        }
        out
    }

    /// Settles callout `id` the receiver answered with `status`; 0 stands for a callout that
    /// never reached it (see [`Delivery::on_callout_result`]).
    pub fn on_delivery_result(
        &mut self,
        cfg: &AlertingConfig,
        id: u64,
        status: u16,
        now_ms: u64,
    ) -> DeliveryOutcome {
        let result = match status {
            0 => CalloutResult::NotSent,
            s => CalloutResult::Answered(s),
        };
        self.on_callout_result(cfg, id, result, now_ms)
    }

    /// Settles callout `id`. 2xx is success. A 5xx or 429 answer and a callout that never left
    /// are retried after `retry_backoff_seconds[attempt - 1]` (the last value repeats) up to
    /// `max_retries` times; other answers are dropped. One that may have arrived is not resent (a
    /// webhook has no idempotency key: a second copy is a second page) and counts `unconfirmed`.
    pub fn on_callout_result(
        &mut self,
        cfg: &AlertingConfig,
        id: u64,
        result: CalloutResult,
        now_ms: u64,
    ) -> DeliveryOutcome {
        let Some(f) = self.in_flight.remove(&id) else {
            return DeliveryOutcome::Unknown;
        };
        let t = f.out.alert_type;
        let retryable = match result {
            CalloutResult::Answered(s) if (200..300).contains(&s) => {
                self.stats.at(t).sent += 1;
                return DeliveryOutcome::Sent;
            }
            CalloutResult::Unconfirmed => {
                self.stats.at(t).unconfirmed += 1;
                return DeliveryOutcome::Unconfirmed;
            }
            CalloutResult::Answered(s) => s == 429 || s >= 500,
            CalloutResult::NotSent => true,
        };
        self.stats.at(t).failed += 1;
        if !retryable || f.out.attempt > cfg.args.max_retries {
            self.stats.at(t).dropped += 1;
            return DeliveryOutcome::Dropped;
        }
        let backoff = &cfg.args.retry_backoff_ms;
        let step = (f.out.attempt as usize)
            .saturating_sub(1)
            .min(backoff.len().saturating_sub(1));
        let at_ms = now_ms.saturating_add(backoff.get(step).copied().unwrap_or(1_000));
        if !self.admit(cfg, f.seq) {
            self.stats.at(t).dropped += 1;
            return DeliveryOutcome::Dropped;
        }
        self.stats.at(t).retried += 1;
        let mut out = f.out;
        out.attempt += 1;
        self.waiting.push(Waiting {
            seq: f.seq,
            due_ms: at_ms,
            out,
        });
        DeliveryOutcome::Retrying { at_ms }
    }

    /// Turns destination `idx`'s batch into bodies: identical texts become one body prefixed
    /// `[Num Alerts: N]\n\n` (LiteLLM's squash), in order of first occurrence.
    fn flush_batch(&mut self, cfg: &AlertingConfig, idx: usize, now_ms: u64) {
        let Some(destination) = cfg.destinations().get(idx).cloned() else {
            return;
        };
        let items: Vec<Pending> = match self.batches.get_mut(idx) {
            Some(b) => b.drain(..).collect(),
            None => return,
        };
        let mut groups: Vec<(Pending, u64)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for p in items {
            match index.get(&p.text) {
                Some(&g) => {
                    if let Some(group) = groups.get_mut(g) {
                        group.1 += 1;
                    }
                }
                None => {
                    index.insert(p.text.clone(), groups.len());
                    groups.push((p, 1));
                }
            }
        }
        for (p, count) in groups {
            let text = if count > 1 {
                self.stats.at(p.alert_type).deduplicated += count - 1;
                format!("[Num Alerts: {count}]\n\n{}", p.text)
            } else {
                p.text
            };
            let body = serde_json::to_string(&SlackBody { text: &text }).unwrap_or_default();
            let id = self.bump_id();
            self.waiting.push(Waiting {
                seq: p.seq,
                due_ms: now_ms,
                out: Outgoing {
                    destination: destination.clone(),
                    body,
                    alert_type: p.alert_type,
                    attempt: 1,
                    id,
                },
            });
        }
    }

    /// Makes room for an item of sequence `seq` under `queue_max_events` by dropping the oldest
    /// waiting item; false when the newcomer is itself the oldest (then it is the one dropped).
    fn admit(&mut self, cfg: &AlertingConfig, seq: u64) -> bool {
        while self.pending_len() >= cfg.args.queue_max_events {
            let oldest_batch = self
                .batches
                .iter()
                .enumerate()
                .filter_map(|(i, b)| b.front().map(|p| (p.seq, i)))
                .min();
            let oldest_waiting = self
                .waiting
                .iter()
                .enumerate()
                .map(|(i, w)| (w.seq, i))
                .min();
            let from_batch = match (oldest_batch, oldest_waiting) {
                (Some(b), Some(w)) => b.0 < w.0,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return true,
            };
            let oldest_seq = if from_batch {
                oldest_batch.map(|b| b.0)
            } else {
                oldest_waiting.map(|w| w.0)
            };
            if oldest_seq.is_some_and(|s| s > seq) {
                return false;
            }
            let dropped_type = if from_batch {
                oldest_batch.and_then(|(_, bi)| self.pop_batch_front(bi))
            } else {
                oldest_waiting.map(|(_, wi)| self.waiting.swap_remove(wi).out.alert_type)
            };
            match dropped_type {
                Some(t) => self.stats.at(t).dropped += 1,
                None => return true,
            }
        }
        true
    }

    fn pop_batch_front(&mut self, i: usize) -> Option<AlertType> {
        self.batches
            .get_mut(i)
            .and_then(VecDeque::pop_front)
            .map(|p| p.alert_type)
    }

    /// A callout whose callback never came (the host lost it) may have been delivered.
    fn expire_lost_callouts(&mut self, cfg: &AlertingConfig, now_ms: u64) {
        let limit = cfg
            .args
            .callout_timeout_ms
            .saturating_add(CALLBACK_GRACE_MS);
        let lost: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| now_ms.saturating_sub(f.sent_ms) >= limit)
            .map(|(id, _)| *id)
            .collect();
        for id in lost {
            self.on_callout_result(cfg, id, CalloutResult::Unconfirmed, now_ms);
        }
    }

    fn bump_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn bump_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}
