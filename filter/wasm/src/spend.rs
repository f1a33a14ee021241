//! Spend and budgets in the host: Envoy's shared data as the [`SharedStore`] every worker adds
//! its costs to (compare-and-swap through the raw ABI, so all workers see one spend per holder),
//! around the pure [`WorkerSpend`] of `llm_telemetry_core::spend`.
//!
//! Shared data has one namespace per `vm_id`: every VM of this plugin, on every worker and the
//! main thread, reads and writes the same `llm_telemetry.spend.<kind>.<id>` entries.

use crate::abi;
use crate::host::claim_once;
use llm_telemetry_core::alerts::AlertEvent;
use llm_telemetry_core::catalogue::own;
use llm_telemetry_core::config::Config;
use llm_telemetry_core::exchange::Record;
use llm_telemetry_core::metrics::{Metrics, Resolution};
use llm_telemetry_core::spend::store::{SetError, SharedStore, StoreError};
use llm_telemetry_core::spend::worker::WorkerSpend;

/// Requests whose model has no price (spend not tracked), beside the `failed_tracking_spend`
/// alert.
pub const UNTRACKED: &str = own::SPEND_UNTRACKED;
/// Costs neither written to shared data nor kept pending (holders full).
pub const LOST: &str = own::SPEND_LOST;

/// The proxy-wasm status of a CAS mismatch on `proxy_set_shared_data`.
const CAS_MISMATCH: u32 = 8;

/// Envoy's shared data.
pub struct HostStore;

impl SharedStore for HostStore {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
        abi::get_shared_data(key).map_err(|e| StoreError { status: e.0 })
    }

    fn set(&mut self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError> {
        abi::set_shared_data(key, value, cas).map_err(|e| match e.0 {
            CAS_MISMATCH => SetError::CasMismatch,
            status => SetError::Host(StoreError { status }),
        })
    }
}

/// One VM's spend.
pub struct Spend {
    worker: WorkerSpend,
}

/// An Envoy local reply: status and body.
pub type Refusal = (u16, String);

impl Spend {
    /// Spend for `config`; logs its settings' reservations once per configuration.
    pub fn configure(config: &Config, scope: &str) -> Spend {
        let warnings = &config.spend.warnings;
        if !warnings.is_empty() && claim_once(&format!("llm_telemetry.spend.{scope}.warned")) {
            for w in warnings {
                log::warn!("llm-telemetry: {w}");
            }
        }
        Spend {
            worker: WorkerSpend::new(),
        }
    }

    /// At request headers: the refusal to answer instead of forwarding, if a budget says so.
    pub fn refusal(
        &mut self,
        config: &Config,
        rec: &Record,
        metrics: &mut Metrics,
        now_ms: i64,
    ) -> Option<Refusal> {
        let hasher = metrics.key_hasher();
        self.worker
            .refusal(&config.spend, &HostStore, rec, config, hasher, now_ms)
    }

    /// At `on_log`, before the metrics see the record: prices it and adds its cost; the alerts
    /// go to the alert leader through `enqueue`.
    pub fn finished(
        &mut self,
        config: &Config,
        rec: &Record,
        resolution: &mut Resolution,
        metrics: &mut Metrics,
        now_ms: i64,
        mut enqueue: impl FnMut(&AlertEvent),
    ) {
        let done = self
            .worker
            .finished(&config.spend, &mut HostStore, rec, resolution, now_ms);
        resolution.cost = done.cost;
        let time_ms = u64::try_from(now_ms).unwrap_or(0);
        if let Some((model, error_message)) = done.untracked {
            metrics.count_own_counter(UNTRACKED, &[], 1);
            enqueue(&AlertEvent::FailedTrackingSpend {
                time_ms,
                model,
                error_message,
            });
        }
        if done.lost > 0 {
            metrics.count_own_counter(LOST, &[], done.lost as u64);
        }
        for (budget, info) in done.alerts {
            enqueue(&AlertEvent::Budget {
                time_ms,
                budget,
                info,
            });
        }
    }

    /// Root tick: pending costs retried, budget gauges set from the shared spend.
    pub fn on_tick(&mut self, config: &Config, metrics: &mut Metrics, now_ms: i64) {
        for (family, labels, value) in self.worker.tick(&config.spend, &mut HostStore, now_ms) {
            let labels: Vec<_> = labels.iter().map(|(l, v)| (*l, v.as_str())).collect();
            metrics.set_gauge(family, &labels, value);
        }
    }
}
