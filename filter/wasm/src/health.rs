//! One deployment health for the whole proxy, around the pure model of
//! `llm_telemetry_core::health` (whose module docs give LiteLLM's rules).
//!
//! Envoy runs one VM per worker, each seeing only its own requests; LiteLLM's router counts
//! every request of a deployment. So:
//! - every VM keeps its finished requests' outcomes (consecutive successes of a deployment as
//!   one) and, on each tick, pushes them as one JSON array onto a shared queue;
//! - one VM, elected like the alert leader (a shared-data entry written with compare-and-swap,
//!   see `llm_telemetry_core::alerts::leader`), drains the queue, applies the outcomes in time
//!   order to its [`HealthModel`], and writes `litellm_deployment_state` and
//!   `litellm_deployment_cooled_down` through its metrics (Envoy's stats are shared by every VM);
//! - the cooldowns it finds are handed to alerting, whose leader sends `cooldown_deployment`.
//!
//! This runs whether or not alerting is on. A VM that cannot register the queue applies its
//! own outcomes (its counts are then its own).

use crate::abi;
use crate::alerting::vm_uid;
use llm_telemetry_core::alerts::leader;
use llm_telemetry_core::catalogue::own;
use llm_telemetry_core::health::{CooldownSettings, HealthModel, HealthUpdate, Outcome};
use llm_telemetry_core::metrics::Metrics;

/// Most outcomes a VM keeps between two ticks; beyond, they are dropped (counted).
const MAX_PENDING: usize = 4_096;
/// Most queue items the coordinator reads per tick (a tick's worth from many VMs).
const MAX_ITEMS_PER_TICK: usize = 1_024;
/// Outcomes lost before reaching the coordinator, per `reason` (the filter's own family).
const OUTCOMES_DROPPED: &str = own::HEALTH_OUTCOMES_DROPPED;

/// One VM's part in the proxy's deployment health.
pub struct Health {
    queue: Option<u32>,
    leader_key: String,
    uid: String,
    settings: CooldownSettings,
    /// `Some` while this VM is the coordinator (or has no queue).
    model: Option<HealthModel>,
    pending: Vec<Outcome>,
    dropped_pending: u64,
    reported_model_drops: u64,
    metric_ids: Vec<(String, u32)>,
}

impl Health {
    /// The health of the configuration whose fingerprint is `scope`.
    pub fn new(scope: &str, settings: CooldownSettings) -> Health {
        let prefix = format!("llm_telemetry.health.{scope}");
        let queue = match abi::register_shared_queue(&prefix) {
            Ok(q) => Some(q),
            Err(e) => {
                log::warn!(
                    "llm-telemetry: cannot register the deployment health queue ({e:?}): this VM's deployment state counts its own requests only"
                );
                None
            }
        };
        let leader_key = format!("{prefix}.leader");
        if let Ok(None) = abi::get_shared_data(&leader_key) {
            let _ = abi::set_shared_data(&leader_key, b"", 0);
        }
        let model = queue.is_none().then(|| HealthModel::new(settings.clone()));
        Health {
            queue,
            leader_key,
            uid: vm_uid(&prefix),
            settings,
            model,
            pending: Vec::new(),
            dropped_pending: 0,
            reported_model_drops: 0,
            metric_ids: Vec::new(),
        }
    }

    /// Keeps a finished request's outcome for the next tick.
    pub fn note(&mut self, outcome: Outcome) {
        if let Some(last) = self.pending.last_mut() {
            if last.ok() && outcome.ok() && last.deployment == outcome.deployment {
                last.successes = last.successes.saturating_add(outcome.successes);
                last.time_ms = last.time_ms.max(outcome.time_ms);
                return;
            }
        }
        if self.pending.len() >= MAX_PENDING {
            self.dropped_pending += 1;
            return;
        }
        self.pending.push(outcome);
    }

    /// Root tick: hands this VM's outcomes on and, on the coordinator, applies everyone's.
    /// Returns the updates that began a cooldown (for alerting).
    pub fn on_tick(&mut self, now_ms: u64, metrics: &mut Metrics) -> Vec<HealthUpdate> {
        if self.dropped_pending > 0 {
            let n = std::mem::take(&mut self.dropped_pending);
            self.count(&format!("{OUTCOMES_DROPPED};reason=vm_buffer_full;"), n);
        }
        let Some(queue) = self.queue else {
            let outcomes = std::mem::take(&mut self.pending);
            return self.apply(outcomes, metrics);
        };
        if !self.pending.is_empty() {
            let body = serde_json::to_vec(&self.pending).unwrap_or_default();
            if abi::enqueue_shared_queue(queue, &body).is_err() {
                let n = self.pending.len() as u64;
                self.count(&format!("{OUTCOMES_DROPPED};reason=enqueue_failed;"), n);
            }
            self.pending.clear();
        }
        self.elect(now_ms);
        if self.model.is_none() {
            return Vec::new();
        }
        let mut outcomes = Vec::new();
        let mut unreadable = 0u64;
        for _ in 0..MAX_ITEMS_PER_TICK {
            match abi::dequeue_shared_queue(queue) {
                Ok(Some(item)) => match serde_json::from_slice::<Vec<Outcome>>(&item) {
                    Ok(batch) => outcomes.extend(batch.into_iter().take(MAX_PENDING)),
                    Err(_) => unreadable += 1,
                },
                _ => break,
            }
        }
        if unreadable > 0 {
            self.count(
                &format!("{OUTCOMES_DROPPED};reason=unreadable;"),
                unreadable,
            );
        }
        // Workers' batches interleave in time: the rules count in the order things happened.
        outcomes.sort_by_key(|o| o.time_ms);
        self.apply(outcomes, metrics)
    }

    fn apply(&mut self, outcomes: Vec<Outcome>, metrics: &mut Metrics) -> Vec<HealthUpdate> {
        let Some(model) = self.model.as_mut() else {
            return Vec::new();
        };
        let mut cooldowns = Vec::new();
        for o in &outcomes {
            if let Some(u) = model.apply(o) {
                metrics.record_health(&u);
                if u.cooldown.is_some() {
                    cooldowns.push(u);
                }
            }
        }
        let drops = model.dropped();
        if drops > self.reported_model_drops {
            let n = drops - self.reported_model_drops;
            self.reported_model_drops = drops;
            self.count(
                &format!("{OUTCOMES_DROPPED};reason=too_many_deployments;"),
                n,
            );
        }
        cooldowns
    }

    /// Claims, keeps or gives up the coordinator's role for this tick.
    fn elect(&mut self, now_ms: u64) {
        let claim = leader::claim(&self.uid, now_ms);
        let coordinator = match abi::get_shared_data(&self.leader_key) {
            Ok(Some((value, cas))) => {
                leader::may_claim(&value, &self.uid, now_ms)
                    && abi::set_shared_data(&self.leader_key, claim.as_bytes(), cas).is_ok()
            }
            Ok(None) => abi::set_shared_data(&self.leader_key, claim.as_bytes(), 0).is_ok(),
            Err(_) => self.model.is_some(),
        };
        match (coordinator, self.model.is_some()) {
            (true, false) => self.model = Some(HealthModel::new(self.settings.clone())),
            (false, true) => self.model = None,
            _ => {}
        }
    }

    fn count(&mut self, name: &str, n: u64) {
        let id = match self.metric_ids.iter().find(|(k, _)| k == name) {
            Some((_, id)) => Some(*id),
            None => {
                let id = abi::define_metric(abi::METRIC_COUNTER, name);
                if let Some(id) = id {
                    self.metric_ids.push((name.to_owned(), id));
                }
                id
            }
        };
        if let Some(id) = id {
            abi::increment_metric(id, i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}
