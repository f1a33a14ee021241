//! An outbox: encoded records queued in the VM, batched into HTTP POST bodies, handed to the
//! host to send from the root context, retried with backoff, dropped and counted when they
//! cannot go.
//!
//! Why this shape: Envoy completes an HTTP callout only when it is dispatched from a root
//! context (a callout from a request's context loses its callback when the request ends), so
//! records made in `on_log` wait here until the root context's tick. Nothing on the request path
//! waits for the network: [`Outbox::push`] only appends, and a destination that is down or slow
//! fills the bounded queue, whose oldest records are then dropped and counted.
//!
//! Pure: the host passes the time in and performs the callouts it is handed, so tests drive it
//! with a fake clock. Logging's destinations use it (one outbox per destination per VM); the
//! alert engine (`alerts/engine.rs`) predates it and keeps its own batching, which this could
//! replace later (its collapse of identical alert texts is the only part it would keep).

use std::collections::VecDeque;

/// Extra wait beyond the callout timeout before a callout whose callback never came counts as
/// failed (the host lost it).
const CALLBACK_GRACE_MS: u64 = 5_000;
/// Longest backoff between retries, whatever the attempt.
const MAX_BACKOFF_MS: u64 = 300_000;

/// How records are joined into one POST body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `[r1,r2,...]`: LiteLLM's default `json_array` (and Datadog's logs intake).
    JsonArray,
    /// `r1\nr2...`: LiteLLM's `ndjson` log format.
    Ndjson,
    /// One record per POST: LiteLLM's `single` log format.
    Single,
    /// `head r1,r2,... tail`: records inside a fixed envelope (OTLP's `resourceSpans`).
    Enclosed {
        /// Written before the first record.
        head: String,
        /// Written after the last record.
        tail: String,
    },
}

impl Framing {
    fn overhead(&self) -> usize {
        match self {
            Framing::JsonArray => 2,
            Framing::Ndjson | Framing::Single => 0,
            Framing::Enclosed { head, tail } => head.len() + tail.len(),
        }
    }

    fn separator(&self) -> &'static str {
        match self {
            Framing::Ndjson => "\n",
            _ => ",",
        }
    }
}

/// Sizes and timings of one outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxLimits {
    /// Most records in one body (LiteLLM's `DEFAULT_BATCH_SIZE`, 512).
    pub batch_max_records: usize,
    /// Most bytes in one body.
    pub batch_max_bytes: usize,
    /// A queued record waits at most this long before its batch goes (LiteLLM's
    /// `DEFAULT_FLUSH_INTERVAL_SECONDS`, 5 s).
    pub flush_interval_ms: u64,
    /// Most records waiting to be batched; past it the oldest are dropped.
    pub queue_max_records: usize,
    /// Most bytes waiting to be batched; past it the oldest are dropped.
    pub queue_max_bytes: usize,
    /// Most bodies in flight or waiting for a retry at once. A slow destination then holds at
    /// most this many bodies, and new records wait in (and overflow from) the queue.
    pub max_pending_bodies: usize,
    /// Retries after the first attempt (5xx, 429 or no response).
    pub max_retries: u32,
    /// Wait before the first retry; doubled for each further one (LiteLLM's `retry_delay`).
    pub retry_delay_ms: u64,
    /// The callout timeout the host uses (a callback that never comes counts as failed after
    /// it, plus a grace period).
    pub callout_timeout_ms: u64,
}

impl Default for OutboxLimits {
    fn default() -> Self {
        OutboxLimits {
            batch_max_records: 512,
            batch_max_bytes: 1 << 20,
            flush_interval_ms: 5_000,
            queue_max_records: 10_000,
            queue_max_bytes: 8 << 20,
            max_pending_bodies: 4,
            max_retries: 3,
            retry_delay_ms: 1_000,
            callout_timeout_ms: 5_000,
        }
    }
}

/// Record counts by outcome, since the outbox started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxCounters {
    /// Records accepted into the queue.
    pub queued: u64,
    /// Records delivered (their body got a 2xx).
    pub sent: u64,
    /// Records dropped because the queue was full (the oldest go first).
    pub dropped_queue_full: u64,
    /// Records dropped because one alone is larger than a body may be.
    pub dropped_too_large: u64,
    /// Records dropped because the destination refused their body (a 4xx other than 429).
    pub dropped_rejected: u64,
    /// Records dropped after their body's last retry failed.
    pub dropped_retries_exhausted: u64,
    /// Failed attempts (bodies, not records).
    pub failed_attempts: u64,
    /// Retries scheduled (bodies).
    pub retries: u64,
}

impl OutboxCounters {
    /// `(outcome label, value)` pairs for a counter family.
    pub fn outcomes(&self) -> [(&'static str, u64); 8] {
        [
            ("queued", self.queued),
            ("sent", self.sent),
            ("dropped_queue_full", self.dropped_queue_full),
            ("dropped_too_large", self.dropped_too_large),
            ("dropped_rejected", self.dropped_rejected),
            ("dropped_retries_exhausted", self.dropped_retries_exhausted),
            ("failed_attempts", self.failed_attempts),
            ("retries", self.retries),
        ]
    }

    /// All records dropped, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full
            + self.dropped_too_large
            + self.dropped_rejected
            + self.dropped_retries_exhausted
    }

    fn minus(&self, o: &OutboxCounters) -> OutboxCounters {
        OutboxCounters {
            queued: self.queued.saturating_sub(o.queued),
            sent: self.sent.saturating_sub(o.sent),
            dropped_queue_full: self.dropped_queue_full.saturating_sub(o.dropped_queue_full),
            dropped_too_large: self.dropped_too_large.saturating_sub(o.dropped_too_large),
            dropped_rejected: self.dropped_rejected.saturating_sub(o.dropped_rejected),
            dropped_retries_exhausted: self
                .dropped_retries_exhausted
                .saturating_sub(o.dropped_retries_exhausted),
            failed_attempts: self.failed_attempts.saturating_sub(o.failed_attempts),
            retries: self.retries.saturating_sub(o.retries),
        }
    }
}

/// What [`Outbox::on_result`] decided about a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// 2xx: its records are delivered.
    Sent,
    /// Failed; handed out again by [`Outbox::on_tick`] at or after `at_ms`.
    Retrying {
        /// Earliest retry (Unix ms).
        at_ms: u64,
    },
    /// Given up: its records are dropped and counted.
    Dropped,
    /// Not a body in flight (already settled, or never handed out).
    Unknown,
}

struct Body {
    id: u64,
    text: String,
    records: u64,
    /// Attempts made so far (0 before the first).
    attempts: u32,
    /// Waiting: when it may go. In flight: when it went.
    at_ms: u64,
    in_flight: bool,
}

/// One destination's queue, bodies and counters.
pub struct Outbox {
    limits: OutboxLimits,
    framing: Framing,
    queue: VecDeque<(u64, String)>,
    queue_bytes: usize,
    bodies: Vec<Body>,
    next_id: u64,
    counters: OutboxCounters,
    reported: OutboxCounters,
}

impl Outbox {
    /// An empty outbox.
    pub fn new(limits: OutboxLimits, framing: Framing) -> Outbox {
        Outbox {
            limits,
            framing,
            queue: VecDeque::new(),
            queue_bytes: 0,
            bodies: Vec::new(),
            next_id: 1,
            counters: OutboxCounters::default(),
            reported: OutboxCounters::default(),
        }
    }

    /// The limits in use.
    pub fn limits(&self) -> &OutboxLimits {
        &self.limits
    }

    /// Queues one encoded record made at `now_ms`. Never waits: when the queue is full its
    /// oldest records make room (counted); a record larger than a body may be is dropped
    /// (counted). Returns whether the record was queued.
    pub fn push(&mut self, record: String, now_ms: u64) -> bool {
        if record.len() + self.framing.overhead() > self.limits.batch_max_bytes {
            self.counters.dropped_too_large += 1;
            return false;
        }
        while !self.queue.is_empty()
            && (self.queue.len() >= self.limits.queue_max_records
                || self.queue_bytes + record.len() > self.limits.queue_max_bytes)
        {
            if let Some((_, old)) = self.queue.pop_front() {
                self.queue_bytes -= old.len();
                self.counters.dropped_queue_full += 1;
            }
        }
        if self.queue_bytes + record.len() > self.limits.queue_max_bytes
            || self.limits.queue_max_records == 0
        {
            self.counters.dropped_queue_full += 1;
            return false;
        }
        self.queue_bytes += record.len();
        self.queue.push_back((now_ms, record));
        self.counters.queued += 1;
        true
    }

    /// Runs the timers and returns the ids of the bodies to send now, oldest first; read each
    /// with [`Outbox::body`], dispatch it, and report its outcome to [`Outbox::on_result`] (a
    /// dispatch the host refuses at once is status 0). Call from the root context's tick.
    pub fn on_tick(&mut self, now_ms: u64) -> Vec<u64> {
        self.expire_lost(now_ms);
        while self.flush_due(now_ms) && self.bodies.len() < self.max_bodies() {
            self.form_body(now_ms);
        }
        let mut due: Vec<u64> = Vec::new();
        for b in &mut self.bodies {
            if !b.in_flight && b.at_ms <= now_ms {
                b.in_flight = true;
                b.attempts += 1;
                b.at_ms = now_ms;
                due.push(b.id);
            }
        }
        due
    }

    /// Whether body `id` was handed out by [`Outbox::on_tick`] and not settled since (nor
    /// timed out as lost).
    pub fn is_in_flight(&self, id: u64) -> bool {
        self.bodies.iter().any(|b| b.id == id && b.in_flight)
    }

    /// The text of body `id`, while it is pending.
    pub fn body(&self, id: u64) -> Option<&str> {
        self.bodies
            .iter()
            .find(|b| b.id == id)
            .map(|b| b.text.as_str())
    }

    /// Settles body `id` with the HTTP `status` of its callout (0: no response — connection
    /// failure, timeout, refused dispatch). 2xx delivers it; 5xx, 429 and 0 retry after
    /// `retry_delay_ms × 2^(retry − 1)` up to `max_retries` times; anything else drops it.
    pub fn on_result(&mut self, id: u64, status: u16, now_ms: u64) -> Settled {
        let Some(pos) = self.bodies.iter().position(|b| b.id == id && b.in_flight) else {
            return Settled::Unknown;
        };
        if (200..300).contains(&status) {
            let b = self.bodies.remove(pos);
            self.counters.sent += b.records;
            return Settled::Sent;
        }
        self.counters.failed_attempts += 1;
        let retryable = status == 0 || status == 429 || status >= 500;
        let b = &mut self.bodies[pos];
        if !retryable || b.attempts > self.limits.max_retries {
            let b = self.bodies.remove(pos);
            if retryable {
                self.counters.dropped_retries_exhausted += b.records;
            } else {
                self.counters.dropped_rejected += b.records;
            }
            return Settled::Dropped;
        }
        let shift = b.attempts.saturating_sub(1).min(20);
        let backoff = self
            .limits
            .retry_delay_ms
            .saturating_mul(1u64 << shift)
            .min(MAX_BACKOFF_MS);
        b.in_flight = false;
        b.at_ms = now_ms.saturating_add(backoff);
        self.counters.retries += 1;
        Settled::Retrying { at_ms: b.at_ms }
    }

    /// Counters since start.
    pub fn counters(&self) -> &OutboxCounters {
        &self.counters
    }

    /// Counter increments since the previous call, for adding to Envoy counters.
    pub fn take_counters_delta(&mut self) -> OutboxCounters {
        let d = self.counters.minus(&self.reported);
        self.reported = self.counters;
        d
    }

    /// Records waiting to be batched.
    pub fn queued_records(&self) -> usize {
        self.queue.len()
    }

    /// Bodies in flight or waiting for a retry.
    pub fn pending_bodies(&self) -> usize {
        self.bodies.len()
    }

    fn flush_due(&self, now_ms: u64) -> bool {
        let Some((oldest, _)) = self.queue.front() else {
            return false;
        };
        self.queue.len() >= self.batch_records()
            || self.queue_bytes + self.framing.overhead() >= self.limits.batch_max_bytes
            || now_ms.saturating_sub(*oldest) >= self.limits.flush_interval_ms
    }

    /// Bodies pending at once. One record per body (`single`) would cap throughput at
    /// `max_pending_bodies` records per tick, so there a batch's worth go at once, as LiteLLM
    /// sends a `single` batch's records in parallel.
    fn max_bodies(&self) -> usize {
        if self.framing == Framing::Single {
            self.limits
                .max_pending_bodies
                .max(self.limits.batch_max_records)
        } else {
            self.limits.max_pending_bodies
        }
    }

    fn batch_records(&self) -> usize {
        if self.framing == Framing::Single {
            1
        } else {
            self.limits.batch_max_records.max(1)
        }
    }

    /// Moves as many queued records as one body holds into a new body, due now.
    fn form_body(&mut self, now_ms: u64) {
        let max_records = self.batch_records();
        let sep = self.framing.separator();
        let mut text = String::new();
        let mut records = 0u64;
        let mut len = self.framing.overhead();
        while let Some((_, r)) = self.queue.front() {
            let add = r.len() + if records > 0 { sep.len() } else { 0 };
            if records as usize >= max_records
                || (records > 0 && len + add > self.limits.batch_max_bytes)
            {
                break;
            }
            let Some((_, r)) = self.queue.pop_front() else {
                break;
            };
            self.queue_bytes -= r.len();
            if records == 0 {
                text.reserve(len + r.len());
                match &self.framing {
                    Framing::JsonArray => text.push('['),
                    Framing::Enclosed { head, .. } => text.push_str(head),
                    Framing::Ndjson | Framing::Single => {}
                }
            } else {
                text.push_str(sep);
            }
            text.push_str(&r);
            len += add;
            records += 1;
        }
        if records == 0 {
            return;
        }
        match &self.framing {
            Framing::JsonArray => text.push(']'),
            Framing::Enclosed { tail, .. } => text.push_str(tail),
            Framing::Ndjson | Framing::Single => {}
        }
        let id = self.next_id;
        self.next_id += 1;
        self.bodies.push(Body {
            id,
            text,
            records,
            attempts: 0,
            at_ms: now_ms,
            in_flight: false,
        });
    }

    /// A callout whose callback never came counts as "no response".
    fn expire_lost(&mut self, now_ms: u64) {
        let limit = self
            .limits
            .callout_timeout_ms
            .saturating_add(CALLBACK_GRACE_MS);
        let lost: Vec<u64> = self
            .bodies
            .iter()
            .filter(|b| b.in_flight && now_ms.saturating_sub(b.at_ms) >= limit)
            .map(|b| b.id)
            .collect();
        for id in lost {
            self.on_result(id, 0, now_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> OutboxLimits {
        OutboxLimits {
            batch_max_records: 3,
            batch_max_bytes: 64,
            flush_interval_ms: 5_000,
            queue_max_records: 5,
            queue_max_bytes: 1_000,
            max_pending_bodies: 2,
            max_retries: 2,
            retry_delay_ms: 1_000,
            callout_timeout_ms: 5_000,
        }
    }

    fn bodies(o: &mut Outbox, now: u64) -> Vec<String> {
        o.on_tick(now)
            .into_iter()
            .map(|id| o.body(id).unwrap().to_owned())
            .collect()
    }

    #[test]
    fn a_body_is_in_flight_from_its_dispatch_until_settled_or_lost() {
        let mut o = Outbox::new(limits(), Framing::Ndjson);
        assert!(o.push("a".into(), 0));
        let [id] = o.on_tick(5_000)[..] else {
            panic!("one body due")
        };
        assert!(o.is_in_flight(id));
        // A 503: waiting for its retry, not in flight.
        assert_eq!(
            o.on_result(id, 503, 5_100),
            Settled::Retrying { at_ms: 6_100 }
        );
        assert!(!o.is_in_flight(id));
        assert_eq!(o.on_tick(6_100), [id]);
        assert!(o.is_in_flight(id));
        // Its answer never comes: lost after the timeout and the grace, then retried.
        assert!(o.on_tick(6_100 + 5_000 + CALLBACK_GRACE_MS - 1).is_empty());
        assert!(o.is_in_flight(id));
        assert!(o.on_tick(6_100 + 5_000 + CALLBACK_GRACE_MS).is_empty());
        assert!(!o.is_in_flight(id));
        assert_eq!(o.pending_bodies(), 1);
        // Delivered: gone.
        let at = 6_100 + 5_000 + CALLBACK_GRACE_MS + 2_000;
        assert_eq!(o.on_tick(at), [id]);
        assert_eq!(o.on_result(id, 200, at), Settled::Sent);
        assert!(!o.is_in_flight(id));
        assert!(!o.is_in_flight(id + 1));
    }

    #[test]
    fn records_wait_for_the_flush_interval_then_go_as_one_json_array() {
        let mut o = Outbox::new(limits(), Framing::JsonArray);
        assert!(o.push(r#"{"a":1}"#.into(), 1_000));
        assert!(o.push(r#"{"b":2}"#.into(), 2_000));
        assert!(bodies(&mut o, 5_999).is_empty());
        assert_eq!(bodies(&mut o, 6_000), [r#"[{"a":1},{"b":2}]"#]);
        assert_eq!(o.queued_records(), 0);
        assert_eq!(o.pending_bodies(), 1);
    }

    #[test]
    fn a_full_batch_goes_at_the_next_tick_without_waiting() {
        let mut o = Outbox::new(limits(), Framing::JsonArray);
        for i in 0..4 {
            o.push(format!("{i}"), 1_000);
        }
        // 3 records per body; the 4th waits for the interval.
        assert_eq!(bodies(&mut o, 1_001), ["[0,1,2]"]);
        assert_eq!(bodies(&mut o, 5_999), Vec::<String>::new());
        assert_eq!(bodies(&mut o, 6_000), ["[3]"]);
    }

    #[test]
    fn bodies_respect_the_byte_bound() {
        let mut o = Outbox::new(limits(), Framing::JsonArray);
        let r = "x".repeat(30);
        o.push(format!("\"{r}\""), 0);
        o.push(format!("\"{r}\""), 0);
        // 2 + 32 + 1 + 32 > 64: a body's worth of bytes is queued, so one goes now, holding
        // one record; the other waits for the interval.
        assert_eq!(bodies(&mut o, 0), [format!("[\"{r}\"]")]);
        assert_eq!(bodies(&mut o, 5_000), [format!("[\"{r}\"]")]);
        assert!(!o.push("y".repeat(63), 0), "63 + [] > 64");
        assert_eq!(o.counters().dropped_too_large, 1);
    }

    #[test]
    fn framings() {
        let mut nd = Outbox::new(limits(), Framing::Ndjson);
        nd.push("{}".into(), 0);
        nd.push("[]".into(), 0);
        assert_eq!(bodies(&mut nd, 5_000), ["{}\n[]"]);

        let mut single = Outbox::new(limits(), Framing::Single);
        for r in ["1", "2", "3", "4"] {
            single.push(r.into(), 0);
        }
        // One record per body, a batch's worth (3) at once though only 2 bodies may pend
        // otherwise.
        assert_eq!(bodies(&mut single, 0), ["1", "2", "3"]);

        let mut enc = Outbox::new(
            limits(),
            Framing::Enclosed {
                head: "{\"spans\":[".into(),
                tail: "]}".into(),
            },
        );
        enc.push("{\"s\":1}".into(), 0);
        enc.push("{\"s\":2}".into(), 0);
        assert_eq!(bodies(&mut enc, 5_000), [r#"{"spans":[{"s":1},{"s":2}]}"#]);
    }

    #[test]
    fn a_full_queue_drops_its_oldest_records_and_counts_them() {
        let mut o = Outbox::new(limits(), Framing::JsonArray);
        for i in 0..7 {
            assert!(o.push(format!("{i}"), 0));
        }
        assert_eq!(o.queued_records(), 5);
        assert_eq!(o.counters().dropped_queue_full, 2);
        assert_eq!(bodies(&mut o, 0), ["[2,3,4]"]);
        assert_eq!(bodies(&mut o, 5_000), ["[5,6]"]);
        // Bytes bound as well.
        let mut b = Outbox::new(
            OutboxLimits {
                queue_max_bytes: 10,
                ..limits()
            },
            Framing::JsonArray,
        );
        b.push("aaaa".into(), 0);
        b.push("bbbb".into(), 0);
        b.push("cccc".into(), 0);
        assert_eq!(b.counters().dropped_queue_full, 1);
        assert_eq!(bodies(&mut b, 5_000), ["[bbbb,cccc]"]);
    }

    #[test]
    fn failures_retry_with_exponential_backoff_then_drop() {
        let mut o = Outbox::new(limits(), Framing::JsonArray);
        o.push("1".into(), 0);
        o.push("2".into(), 0);
        let id = o.on_tick(5_000)[0];
        assert_eq!(
            o.on_result(id, 503, 5_100),
            Settled::Retrying { at_ms: 6_100 }
        );
        assert!(o.on_tick(6_099).is_empty());
        assert_eq!(o.on_tick(6_100), [id]);
        assert_eq!(
            o.on_result(id, 0, 6_200),
            Settled::Retrying { at_ms: 8_200 }
        );
        assert_eq!(o.on_tick(8_200), [id]);
        assert_eq!(o.on_result(id, 429, 8_300), Settled::Dropped);
        let c = *o.counters();
        assert_eq!(
            (c.failed_attempts, c.retries, c.dropped_retries_exhausted),
            (3, 2, 2)
        );
        assert_eq!(o.on_result(id, 200, 8_400), Settled::Unknown);
    }

    #[test]
    fn success_counts_records_and_a_4xx_is_not_retried() {
        let mut o = Outbox::new(limits(), Framing::JsonArray);
        o.push("1".into(), 0);
        o.push("2".into(), 0);
        let id = o.on_tick(5_000)[0];
        assert_eq!(o.on_result(id, 202, 5_001), Settled::Sent);
        assert_eq!(o.counters().sent, 2);
        o.push("3".into(), 6_000);
        let id = o.on_tick(11_000)[0];
        assert_eq!(o.on_result(id, 400, 11_001), Settled::Dropped);
        assert_eq!(o.counters().dropped_rejected, 1);
        assert_eq!(o.pending_bodies(), 0);
    }

    #[test]
    fn a_slow_destination_holds_few_bodies_and_the_queue_overflows_instead() {
        let mut o = Outbox::new(limits(), Framing::JsonArray);
        for i in 0..12 {
            o.push(format!("{i}"), 0);
        }
        // The queue keeps 5 (7 dropped on the way): a full body and, once the interval has
        // passed, the rest.
        assert_eq!(o.on_tick(5_000).len(), 2);
        assert_eq!(o.pending_bodies(), 2);
        for i in 12..20 {
            o.push(format!("{i}"), 6_000);
        }
        assert!(
            o.on_tick(12_000).is_empty(),
            "nothing new while 2 are in flight"
        );
        // No callback within timeout + grace: both count as failed and retry.
        assert!(o.on_tick(15_000).is_empty());
        assert_eq!(o.counters().failed_attempts, 2);
        assert_eq!(o.on_tick(16_000).len(), 2);
        let c = *o.counters();
        assert_eq!(c.queued, 20);
        assert_eq!(c.dropped_queue_full, 7 + 3);
        assert_eq!(o.queued_records(), 5);
    }

    #[test]
    fn counter_deltas() {
        let mut o = Outbox::new(limits(), Framing::JsonArray);
        o.push("1".into(), 0);
        assert_eq!(o.take_counters_delta().queued, 1);
        assert_eq!(o.take_counters_delta(), OutboxCounters::default());
        let names: Vec<&str> = o.counters().outcomes().iter().map(|(n, _)| *n).collect();
        assert_eq!(names.len(), 8);
    }
}
