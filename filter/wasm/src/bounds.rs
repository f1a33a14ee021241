//! Limits shared by every VM of the plugin (one per worker), kept in Envoy's shared data and
//! updated with compare-and-swap: the budget of new stat definitions per second, and the
//! cardinality bounds. Per VM they would grow with `--concurrency`.
//!
//! Every call here is a host call (~8,300 instructions when it returns data), paid only when
//! something is new: a flush with stats to define, a label value or a label set this VM has not
//! seen. When the host cannot say (an error, endless CAS contention), this VM's own bounds decide.

use crate::abi;
use llm_telemetry_core::metrics::{Admission, LARGEST_FAMILY_PARTS};

/// Attempts at one compare-and-swap before giving up for now.
const CAS_ATTEMPTS: usize = 16;

/// A shared-data entry holding a decimal number (0 when missing or unreadable), with its CAS.
fn read_number(key: &str) -> Result<(u64, u32), abi::HostError> {
    Ok(match abi::get_shared_data(key)? {
        Some((v, cas)) => (parse(&v), cas),
        None => (0, 0),
    })
}

fn parse(bytes: &[u8]) -> u64 {
    core::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Creates `key` as `0` when missing, so that later writes are all compare-and-swaps (Envoy
/// creates a missing key whatever the CAS: two VMs creating it at once would both win).
fn ensure(key: &str) {
    if let Ok(None) = abi::get_shared_data(key) {
        let _ = abi::set_shared_data(key, b"0", 0);
    }
}

/// The budget of new Envoy stats per second, one for every worker.
pub struct StatBudget {
    key: &'static str,
    per_second: usize,
    /// Most taken in one flush: the second's budget spread over the flushes of a second, so one
    /// flush holds its worker for a slice of it.
    per_flush: usize,
}

impl StatBudget {
    /// `per_second` new stats in all; a VM flushing every `flush_ms` takes at most its share of
    /// a second per flush (never less than a whole histogram).
    pub fn new(per_second: usize, flush_ms: u64) -> StatBudget {
        let key = "llm_telemetry.stat_budget";
        ensure(key);
        let share =
            per_second.saturating_mul(usize::try_from(flush_ms).unwrap_or(usize::MAX)) / 1000;
        StatBudget {
            key,
            per_second,
            per_flush: share.clamp(LARGEST_FAMILY_PARTS.min(per_second), per_second),
        }
    }

    /// Takes up to `want` definitions from this second's budget (entry `<second>:<used>`).
    pub fn claim(&self, want: usize, now_ms: u64) -> usize {
        let want = want.min(self.per_flush);
        let second = now_ms / 1000;
        for _ in 0..CAS_ATTEMPTS {
            let (value, cas) = match abi::get_shared_data(self.key) {
                Ok(Some(entry)) => entry,
                Ok(None) => (Vec::new(), 0),
                // The host cannot say: this flush's share, as a VM alone would take it.
                Err(_) => return want,
            };
            let text = core::str::from_utf8(&value).unwrap_or("");
            let used = match text.split_once(':') {
                Some((s, u)) if s.parse::<u64>() == Ok(second) => u.parse().unwrap_or(usize::MAX),
                _ => 0,
            };
            let take = want.min(self.per_second.saturating_sub(used));
            if take == 0 {
                return 0;
            }
            let next = format!("{second}:{}", used + take);
            if abi::set_shared_data(self.key, next.as_bytes(), cas).is_ok() {
                return take;
            }
        }
        0
    }
}

/// Cardinality bounds counted across every VM: a counter per label and one for label sets, and
/// a marker per admitted value or label set, so a value admitted by one worker costs the others
/// nothing. Entries are scoped by the plugin configuration and bounded by the bounds themselves.
pub struct SharedBounds {
    prefix: String,
}

impl SharedBounds {
    /// Bounds for a configuration (`scope`: its fingerprint) with `labels` label keys.
    pub fn new(scope: &str, labels: usize) -> SharedBounds {
        let prefix = format!("llm_telemetry.bounds.{scope}");
        for label in 0..labels {
            ensure(&format!("{prefix}.v{label}"));
        }
        ensure(&format!("{prefix}.s"));
        SharedBounds { prefix }
    }

    /// Admits what `marker` names, taking one of `max` slots of `counter` unless another VM
    /// already did.
    fn admit(&self, marker: &str, counter: &str, max: usize) -> bool {
        match abi::get_shared_data(marker) {
            Ok(Some(_)) => return true,
            Ok(None) => {}
            Err(_) => return true,
        }
        let max = u64::try_from(max).unwrap_or(u64::MAX);
        for _ in 0..CAS_ATTEMPTS {
            let Ok((n, cas)) = read_number(counter) else {
                return true;
            };
            if n >= max {
                return false;
            }
            if abi::set_shared_data(counter, (n + 1).to_string().as_bytes(), cas).is_ok() {
                let _ = abi::set_shared_data(marker, b"", 0);
                return true;
            }
        }
        true
    }
}

impl Admission for SharedBounds {
    fn admit_value(&mut self, label: usize, value: &str, max: usize) -> bool {
        let counter = format!("{}.v{label}", self.prefix);
        self.admit(&format!("{counter}={value}"), &counter, max)
    }

    fn admit_series(&mut self, key: u64, max: usize) -> bool {
        let counter = format!("{}.s", self.prefix);
        self.admit(&format!("{counter}.{key:016x}"), &counter, max)
    }
}
