//! One VM's part in spend and budgets, host-free so the adapter (`filter/wasm/src/spend.rs`)
//! only supplies the shared-data store, the clock, and the metric and alert calls:
//!
//! - [`WorkerSpend::refusal`] at request headers: who the caller is as far as headers tell, and
//!   whether a budget refuses it (when enforcement is on);
//! - [`WorkerSpend::finished`] once per finished request: its price, its cost added to every
//!   budget holder in shared data, the budget alerts that changed, or why spend is unknown;
//! - [`WorkerSpend::tick`]: pending costs retried, and the budget gauges of the holders this VM
//!   has seen set from the shared spend, so every worker's gauge converges on one value.

use hashbrown::HashMap;

use super::budget::{Budget, HolderKind, Identity};
use super::cost::Cost;
use super::prices::{lookup, Rates, Tier};
use super::request::{failed_tracking_message, gauges_now, record, refusal};
use super::settings::SpendSettings;
use super::store::{PendingSpend, SharedStore};
use crate::alerts::budget::{BudgetAlertKind, CallInfo};
use crate::catalogue::{FamilyId, Label};
use crate::config::{Config, Deployment};
use crate::exchange::Record;
use crate::identity::KeyHasher;
use crate::resolve::{Requester, Resolution};

/// Holders whose gauges one VM keeps current at most; past it, new holders' gauges are set
/// only by the VMs that saw them first (their values stay right, they may lag a tick).
pub const MAX_GAUGE_HOLDERS: usize = 1_024;

/// The labels of `kind`'s budget gauges for this requester (`None`: the holder has no gauges,
/// as LiteLLM exports none for the proxy).
fn gauge_labels(who: &Identity, kind: HolderKind) -> Option<Vec<(Label, String)>> {
    let v = |s: Option<&str>| s.unwrap_or("None").to_owned();
    Some(match kind {
        HolderKind::Key => vec![
            (Label::HashedApiKey, v(who.hashed_api_key)),
            (Label::ApiKeyAlias, v(who.key_alias)),
        ],
        HolderKind::Team => vec![
            (Label::Team, v(who.team_id)),
            (Label::TeamAlias, v(who.team_alias)),
        ],
        HolderKind::User => vec![(Label::User, v(who.user_id))],
        HolderKind::EndUser => vec![(Label::EndUser, v(who.end_user))],
        HolderKind::Provider => vec![(Label::ApiProvider, v(who.provider))],
        HolderKind::Proxy => return None,
    })
}

/// The (max budget, spend, reset time) gauge families of a holder kind.
fn gauge_families(kind: HolderKind) -> Option<(FamilyId, FamilyId, Option<FamilyId>)> {
    use FamilyId::*;
    Some(match kind {
        HolderKind::Key => (
            ApiKeyMaxBudget,
            ApiKeyBudgetSpend,
            Some(ApiKeyBudgetResetAt),
        ),
        HolderKind::Team => (TeamMaxBudget, TeamBudgetSpend, Some(TeamBudgetResetAt)),
        HolderKind::User => (UserMaxBudget, UserBudgetSpend, Some(UserBudgetResetAt)),
        HolderKind::EndUser => (
            CustomerMaxBudget,
            CustomerBudgetSpend,
            Some(CustomerBudgetResetAt),
        ),
        // LiteLLM's provider budget gauge is the remaining budget only.
        HolderKind::Provider => (ProviderMaxBudget, ProviderBudgetSpend, None),
        HolderKind::Proxy => return None,
    })
}

/// One gauge value to set: family, labels, value.
pub type GaugeUpdate = (FamilyId, Vec<(Label, String)>, u64);

/// A holder whose gauges this VM keeps current.
#[derive(Clone, Debug)]
struct GaugeHolder {
    kind: HolderKind,
    labels: Vec<(Label, String)>,
    budget: Budget,
}

/// What a finished request's spend asks the host to do.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Finished {
    /// Spend could not be tracked: the `failed_tracking_spend` alert's model and message.
    pub untracked: Option<(String, String)>,
    /// Budget alerts for the alert engine, in order.
    pub alerts: Vec<(BudgetAlertKind, CallInfo)>,
    /// Costs neither written nor kept (holders full, or too many pending).
    pub lost: usize,
    /// The request's price, when it could be priced.
    pub cost: Option<Cost>,
}

/// One VM's spend state.
#[derive(Default)]
pub struct WorkerSpend {
    pending: PendingSpend,
    holders: HashMap<String, GaugeHolder>,
    /// The built-in table's answer per model name (a lookup tries up to six spellings of the
    /// name): a VM sees few models, each priced once. Cleared when full.
    table_rates: HashMap<Box<str>, Option<Rates>>,
}

/// Most model names whose table rates a VM keeps.
const MAX_CACHED_MODELS: usize = 256;

impl WorkerSpend {
    /// A VM's spend state, empty.
    pub fn new() -> WorkerSpend {
        WorkerSpend::default()
    }

    /// The rates of a finished request: its deployment's, else the built-in table's for the
    /// model the provider answered with, else for the model asked for.
    fn rates_of(&mut self, rec: &Record, deployment: Option<&Deployment>) -> Option<Rates> {
        let requested = rec.requested_model.as_deref();
        if let Some(d) = deployment {
            return d.rates_for(requested.unwrap_or(&d.model));
        }
        [rec.response_model.as_deref(), requested]
            .into_iter()
            .flatten()
            .find_map(|m| self.table_rates_of(m))
    }

    fn table_rates_of(&mut self, model: &str) -> Option<Rates> {
        if let Some(known) = self.table_rates.get(model) {
            return known.clone();
        }
        if self.table_rates.len() >= MAX_CACHED_MODELS {
            self.table_rates.clear();
        }
        let rates = lookup(model, None).map(|m| m.rates);
        self.table_rates.insert(model.into(), rates.clone());
        rates
    }

    /// LiteLLM's status and error body when a budget refuses the request whose headers are in
    /// `rec` (enforcement on; budgets readable). Only what headers tell counts here: the body's
    /// end user and the deployment's provider are not known yet.
    pub fn refusal<S: SharedStore + ?Sized>(
        &mut self,
        settings: &SpendSettings,
        store: &S,
        rec: &Record,
        config: &Config,
        hasher: &mut KeyHasher,
        now_ms: i64,
    ) -> Option<(u16, String)> {
        if !settings.may_refuse() {
            return None;
        }
        // At the request's headers: its body (and the end user it may name) is not read yet.
        let who = Requester::of(rec, config, hasher);
        let refused = refusal(settings, store, &who.identity(None), now_ms)?;
        let status = settings.budget_exceeded_status;
        Some((status, refused.body(status)))
    }

    /// Prices a finished request (its cost in [`Finished::cost`]) and adds the cost to
    /// its budget holders: the deployment and the requester are the resolution's.
    pub fn finished<S: SharedStore + ?Sized>(
        &mut self,
        settings: &SpendSettings,
        store: &mut S,
        rec: &Record,
        resolution: &Resolution,
        now_ms: i64,
    ) -> Finished {
        let mut out = Finished::default();
        if !rec.succeeded() {
            return out;
        }
        let Some(usage) = rec.usage else {
            return out;
        };
        let deployment = resolution.deployment;
        let rates = self.rates_of(rec, deployment);
        let Some(rates) = rates else {
            // The model LiteLLM would have priced: the deployment's, else the answer's.
            let model = deployment
                .filter(|d| !d.model.contains('*'))
                .map(|d| d.model.as_str())
                .or(rec.response_model.as_deref())
                .or(rec.requested_model.as_deref())
                .unwrap_or("None");
            let provider = deployment.map_or("openai", |d| d.provider.as_str());
            out.untracked = Some((model.to_owned(), failed_tracking_message(model, provider)));
            return out;
        };
        let tier = rec
            .service_tier
            .as_deref()
            .map_or(Tier::Standard, Tier::from_service_tier);
        let who = &resolution.requester;
        let provider = deployment.map(|d| d.provider.as_str());
        let identity = who.identity(provider);
        let spent = record(
            settings,
            store,
            &mut self.pending,
            Some(&rates),
            &usage,
            tier,
            &identity,
            now_ms,
        );
        out.cost = spent.cost;
        for h in &spent.holders {
            if matches!(h.added, super::store::Added::Lost(_)) {
                out.lost += 1;
            }
            if self.holders.contains_key(&h.key) || self.holders.len() >= MAX_GAUGE_HOLDERS {
                continue;
            }
            let budget = settings
                .holders(&identity)
                .into_iter()
                .find(|x| x.key == h.key);
            if let (Some(labels), Some(b)) = (gauge_labels(&identity, h.kind), budget) {
                self.holders.insert(
                    h.key.clone(),
                    GaugeHolder {
                        kind: h.kind,
                        labels,
                        budget: b.budget.clone(),
                    },
                );
            }
        }
        out.alerts = spent.alerts;
        out
    }

    /// Retries pending costs, then reads the shared spend of every holder this VM has seen:
    /// the gauge values to set now.
    pub fn tick<S: SharedStore + ?Sized>(
        &mut self,
        settings: &SpendSettings,
        store: &mut S,
        now_ms: i64,
    ) -> Vec<GaugeUpdate> {
        if !self.pending.is_empty() {
            let _ = self
                .pending
                .flush(store, now_ms, settings.max_budget_holders);
        }
        let mut out = Vec::new();
        for (key, h) in &self.holders {
            let (Some(g), Some((max_f, spend_f, reset_f))) = (
                gauges_now(store, &h.budget, key, now_ms),
                gauge_families(h.kind),
            ) else {
                continue;
            };
            if let Some(max) = g.max_budget_pico {
                out.push((max_f, h.labels.clone(), max));
            }
            out.push((spend_f, h.labels.clone(), g.spend_pico));
            if let (Some(f), Some(at)) = (reset_f, g.reset_at_seconds) {
                out.push((f, h.labels.clone(), at));
            }
        }
        out
    }

    /// Pico-dollars this VM holds pending (lost if the VM stops now).
    pub fn pending_pico(&self) -> u64 {
        self.pending.total()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use crate::exchange::Caller;
    use crate::spend::store::fake::FakeStore;
    use crate::usage::Usage;

    fn hasher() -> KeyHasher {
        KeyHasher::new(16)
    }

    const CONFIG: &str = r#"{
      "model_list": [
        {"model_name": "cheap", "litellm_params": {"model": "openai/gpt-4o-mini",
          "input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002}},
        {"model_name": "unpriced", "litellm_params": {"model": "openai/my-own-model"}}
      ],
      "telemetry_settings": {"enforce_budgets": true, "keys": [
        {"api_key": "sk-a", "key_alias": "a", "team_id": "t1", "max_budget": 0.00005, "soft_budget": 0.00002}
      ], "teams": [{"team_id": "t1", "team_alias": "T", "max_budget": 1}]}
    }"#;

    fn request(model: &str) -> Record {
        Record {
            requested_model: Some(model.to_owned()),
            status: 200,
            usage: Some(Usage {
                input: 10,
                output: 5,
                total: 15,
                ..Usage::default()
            }),
            caller: Caller {
                api_key: Some("sk-a".to_owned()),
                ..Caller::default()
            },
            ..Record::default()
        }
    }

    /// [`WorkerSpend::finished`] with the resolution the adapter hands it.
    fn finish(
        w: &mut WorkerSpend,
        store: &mut FakeStore,
        rec: &Record,
        config: &Config,
        now: i64,
    ) -> Finished {
        let resolution = crate::metrics::Metrics::new(config).resolve(rec, config);
        w.finished(&config.spend, store, rec, &resolution, now)
    }

    #[test]
    fn a_priced_request_is_counted_gauged_and_then_refused() {
        let config = parse(CONFIG.as_bytes(), &|_| None).unwrap().config;
        let s = &config.spend;
        let mut store = FakeStore::default();
        let mut w = WorkerSpend::new();
        let now = 1_796_216_891_000;
        let mut alerts = Vec::new();
        // 10 × 1e-6 + 5 × 2e-6 = 2e-5 USD per request: the third reaches 6e-5 ≥ 5e-5.
        for _ in 0..3 {
            assert_eq!(
                w.refusal(s, &store, &request("cheap"), &config, &mut hasher(), now),
                None
            );
            let rec = request("cheap");
            let f = finish(&mut w, &mut store, &rec, &config, now);
            assert_eq!(f.cost.map(Cost::total), Some(20_000_000));
            assert_eq!((f.untracked, f.lost), (None, 0));
            alerts.extend(f.alerts.into_iter().map(|(k, _)| k));
        }
        assert!(alerts.contains(&BudgetAlertKind::TokenBudget));
        let (status, body) = w
            .refusal(s, &store, &request("cheap"), &config, &mut hasher(), now)
            .unwrap();
        assert_eq!(status, 429);
        assert_eq!(
            body,
            r#"{"error":{"message":"Budget has been exceeded! Key=a Current cost: 6e-05, Max budget: 5e-05","type":"budget_exceeded","param":null,"code":"429"}}"#
        );
        let mut gauges = w.tick(s, &mut store, now);
        gauges.sort_by_key(|g| g.0 as u8);
        let hash = crate::identity::sha256_hex("sk-a");
        let key_labels = vec![
            (Label::HashedApiKey, hash),
            (Label::ApiKeyAlias, "a".to_owned()),
        ];
        let team_labels = vec![
            (Label::Team, "t1".to_owned()),
            (Label::TeamAlias, "None".to_owned()),
        ];
        assert_eq!(
            gauges,
            vec![
                (FamilyId::ApiKeyMaxBudget, key_labels.clone(), 50_000_000),
                (FamilyId::ApiKeyBudgetSpend, key_labels, 60_000_000),
                (
                    FamilyId::TeamMaxBudget,
                    team_labels.clone(),
                    1_000_000_000_000
                ),
                (FamilyId::TeamBudgetSpend, team_labels, 60_000_000),
            ]
        );
    }

    #[test]
    fn litellm_budget_and_price_keys_are_read_not_ignored() {
        let json = r#"{
          "model_list": [{"model_name": "m", "litellm_params": {"model": "openai/gpt-4o",
            "output_cost_per_token": "2e-6"}, "model_info": {"input_cost_per_token": 1e-6}}],
          "litellm_settings": {"max_budget": 10, "budget_duration": "30d",
            "max_end_user_budget": 0.5, "budget_exceeded_status_code": 422},
          "general_settings": {"apply_user_budget_to_team_keys": true},
          "router_settings": {"provider_budget_config": {"openai": {"budget_limit": 100, "time_period": "1d"}},
            "routing_strategy": "simple-shuffle"},
          "telemetry_settings": {"keys": [{"api_key": "sk-a", "max_budget": 1, "budget_duration": "1h"}],
            "users": [{"user_id": "u1", "max_budget": 2}], "end_users": [{"user_id": "e1", "max_budget": 3}]}
        }"#;
        let loaded = parse(json.as_bytes(), &|_| None).unwrap();
        assert_eq!(
            loaded.ignored,
            vec!["router_settings.routing_strategy".to_owned()]
        );
        let c = loaded.config;
        let s = &c.spend;
        assert_eq!(s.budget_exceeded_status, 422);
        assert!(s.apply_user_budget_to_team_keys);
        let hash = crate::identity::sha256_hex("sk-a");
        assert_eq!(s.keys[&hash].max_budget, Some(1_000_000_000_000));
        assert_eq!(s.users["u1"].max_budget, Some(2_000_000_000_000));
        assert_eq!(s.end_users["e1"].max_budget, Some(3_000_000_000_000));
        assert_eq!(
            s.default_end_user.as_ref().unwrap().max_budget,
            Some(500_000_000_000)
        );
        assert_eq!(
            s.proxy.as_ref().unwrap().max_budget,
            Some(10_000_000_000_000)
        );
        assert_eq!(s.providers["openai"].max_budget, Some(100_000_000_000_000));
        // The deployment's own prices over gpt-4o's: 1e-6 and 2e-6 USD per token.
        let r = c.deployments[0].rates.as_ref().unwrap();
        let mut rec = request("m");
        rec.caller.api_key = None;
        let mut w = WorkerSpend::new();
        let f = finish(&mut w, &mut FakeStore::default(), &rec, &c, 0);
        assert_eq!(
            f.cost.map(Cost::total),
            Some(10 * 1_000_000 + 5 * 2_000_000)
        );
        assert!(!r.is_empty());
    }

    #[test]
    fn unpriced_failed_and_usage_less_requests() {
        let config = parse(CONFIG.as_bytes(), &|_| None).unwrap().config;
        let mut store = FakeStore::default();
        let mut w = WorkerSpend::new();
        let rec = request("unpriced");
        let f = finish(&mut w, &mut store, &rec, &config, 0);
        let (model, message) = f.untracked.unwrap();
        assert_eq!(model, "my-own-model");
        assert!(message.starts_with(
            "Error in tracking cost callback - Cost tracking failed for model=my-own-model."
        ));
        assert_eq!(f.cost, None);
        let mut failed = request("cheap");
        failed.status = 500;
        assert_eq!(
            finish(&mut w, &mut store, &failed, &config, 0),
            Finished::default()
        );
        let mut no_usage = request("cheap");
        no_usage.usage = None;
        assert_eq!(
            finish(&mut w, &mut store, &no_usage, &config, 0),
            Finished::default()
        );
        assert!(store.entries.is_empty());
        // Without a model_list entry the built-in table prices the model.
        let table = request("gpt-4o-mini-2024-07-18");
        let f = finish(&mut w, &mut store, &table, &config, 0);
        assert_eq!(f.cost.map(Cost::total), Some(10 * 150_000 + 5 * 600_000));
    }
}
