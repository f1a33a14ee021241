//! Per-worker detection of hanging requests.
//!
//! Each worker VM knows only its own in-flight requests, so detection runs in every worker (on
//! its tick) and only the resulting [`HangingFacts`] travel to the leader. LiteLLM sleeps
//! `alerting_threshold` per request and then checks; here a FIFO of start times is scanned from
//! the oldest end each tick, so a tick costs O(requests that crossed the threshold), and memory is
//! bounded by `max_hanging_tracked` (the oldest entry is evicted and counted when full).

use std::collections::VecDeque;

use hashbrown::HashMap;

use super::config::AlertingConfig;
use super::event::HangingFacts;

struct Entry {
    generation: u64,
    start_ms: u64,
    facts: HangingFacts,
}

/// Tracks in-flight requests and reports each one still open after the threshold exactly once.
pub struct HangingTracker {
    threshold_ms: u64,
    max_tracked: usize,
    live: HashMap<u64, Entry>,
    // (request id, generation) in start order; entries of finished requests are skipped lazily
    // (finish is O(1)), and the queue is compacted when stale entries dominate.
    order: VecDeque<(u64, u64)>,
    next_generation: u64,
    evicted: u64,
}

impl HangingTracker {
    /// A tracker alerting after `threshold_ms` (≥ 1) and holding at most `max_tracked` requests.
    pub fn new(threshold_ms: u64, max_tracked: usize) -> Self {
        HangingTracker {
            threshold_ms: threshold_ms.max(1),
            max_tracked: max_tracked.max(1),
            live: HashMap::new(),
            order: VecDeque::new(),
            next_generation: 0,
            evicted: 0,
        }
    }

    /// A tracker using `alerting_threshold` and `alerting_args.max_hanging_tracked`.
    pub fn from_config(cfg: &AlertingConfig) -> Self {
        Self::new(
            cfg.alerting_threshold_ms().ceil() as u64,
            cfg.args.max_hanging_tracked,
        )
    }

    /// Starts tracking request `request_id` (a worker-local id, e.g. the HTTP context id).
    /// `facts.start_ms` is set to `start_ms`. Restarting a tracked id replaces it.
    pub fn start(&mut self, request_id: u64, start_ms: u64, mut facts: HangingFacts) {
        facts.start_ms = start_ms;
        facts.sanitize();
        if !self.live.contains_key(&request_id) {
            while self.live.len() >= self.max_tracked {
                if !self.evict_oldest() {
                    break;
                }
            }
        }
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        self.live.insert(
            request_id,
            Entry {
                generation,
                start_ms,
                facts,
            },
        );
        self.order.push_back((request_id, generation));
        self.compact_if_stale();
    }

    /// Stops tracking `request_id` (finished, failed or reset). Unknown ids are ignored, so
    /// calling it for an already-reported request is harmless.
    pub fn finish(&mut self, request_id: u64) {
        self.live.remove(&request_id);
        self.compact_if_stale();
    }

    /// Requests open for at least the threshold at `now_ms`, each returned once (then forgotten).
    /// `time_ms` of each is set to `now_ms`.
    pub fn tick(&mut self, now_ms: u64) -> Vec<HangingFacts> {
        let mut out = Vec::new();
        while let Some(&(id, generation)) = self.order.front() {
            let due = match self.live.get(&id) {
                Some(e) if e.generation == generation => {
                    if now_ms.saturating_sub(e.start_ms) >= self.threshold_ms {
                        true
                    } else {
                        // Start order: nothing behind this one is older.
                        break;
                    }
                }
                _ => false,
            };
            self.order.pop_front();
            if due {
                if let Some(mut e) = self.live.remove(&id) {
                    e.facts.time_ms = now_ms;
                    out.push(e.facts);
                }
            }
        }
        out
    }

    /// Requests currently tracked.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Requests dropped unreported because the tracker was full (since creation).
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    fn evict_oldest(&mut self) -> bool {
        while let Some((id, generation)) = self.order.pop_front() {
            if self
                .live
                .get(&id)
                .is_some_and(|e| e.generation == generation)
            {
                self.live.remove(&id);
                self.evicted += 1;
                return true;
            }
        }
        false
    }

    fn compact_if_stale(&mut self) {
        if self.order.len() > 2 * self.live.len() + 64 {
            let live = &self.live;
            self.order
                .retain(|(id, g)| live.get(id).is_some_and(|e| e.generation == *g));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(model: &str) -> HangingFacts {
        HangingFacts {
            time_ms: 0,
            start_ms: 0,
            requested_model: model.into(),
            key_alias: None,
            team_alias: None,
            alerting_metadata: vec![],
        }
    }

    fn models(v: &[HangingFacts]) -> Vec<&str> {
        v.iter().map(|f| f.requested_model.as_str()).collect()
    }

    #[test]
    fn reports_each_hanging_request_exactly_once() {
        let mut t = HangingTracker::new(2000, 100);
        t.start(1, 1_000, h("a"));
        t.start(2, 1_500, h("b"));
        assert!(t.tick(2_999).is_empty());
        let got = t.tick(3_000);
        assert_eq!(models(&got), vec!["a"]);
        assert_eq!((got[0].start_ms, got[0].time_ms), (1_000, 3_000));
        assert_eq!(models(&t.tick(3_600)), vec!["b"]);
        assert!(t.tick(10_000).is_empty());
        assert!(t.tick(20_000).is_empty());
        // Finishing after the alert is harmless.
        t.finish(1);
        assert!(t.is_empty());
    }

    #[test]
    fn requests_finishing_between_ticks_are_not_reported() {
        let mut t = HangingTracker::new(2000, 100);
        t.start(1, 0, h("a"));
        t.start(2, 10, h("b"));
        t.start(3, 20, h("c"));
        t.finish(2);
        t.finish(1);
        assert_eq!(models(&t.tick(5_000)), vec!["c"]);
        // An id reused for a new request is tracked afresh from its new start.
        t.start(1, 6_000, h("a2"));
        assert!(t.tick(7_000).is_empty());
        assert_eq!(models(&t.tick(8_000)), vec!["a2"]);
    }

    #[test]
    fn restart_of_a_tracked_id_replaces_it() {
        let mut t = HangingTracker::new(1000, 10);
        t.start(7, 0, h("old"));
        t.start(7, 5_000, h("new"));
        assert_eq!(t.len(), 1);
        assert!(t.tick(5_500).is_empty());
        assert_eq!(models(&t.tick(6_000)), vec!["new"]);
    }

    #[test]
    fn bounded_with_oldest_evicted_and_counted() {
        let mut t = HangingTracker::new(1000, 3);
        for i in 0..5u64 {
            t.start(i, i * 10, h(&format!("r{i}")));
        }
        assert_eq!(t.len(), 3);
        assert_eq!(t.evicted(), 2);
        assert_eq!(models(&t.tick(10_000)), vec!["r2", "r3", "r4"]);
    }

    #[test]
    fn stale_order_entries_are_compacted() {
        let mut t = HangingTracker::new(1000, 10_000);
        for i in 0..10_000u64 {
            t.start(i, i, h("x"));
            t.finish(i);
        }
        assert!(t.order.len() <= 64 + 1);
        assert!(t.tick(1_000_000).is_empty());
    }
}
