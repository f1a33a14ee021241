//! The two calls a request makes into spend and budgets, so the host adapter's wiring stays a
//! few lines: [`refusal`] before the request goes upstream, [`record`] once it has finished.

use super::budget::{
    alerts_after_spend, check, gauges, BudgetExceeded, BudgetGauges, HolderKind, Identity,
};
use super::cost::{cost, Cost};
use super::prices::{Rates, Tier};
use super::settings::SpendSettings;
use super::store::{read_spend, Added, PendingSpend, SharedStore};
use crate::alerts::budget::{BudgetAlertKind, CallInfo};
use crate::usage::Usage;

/// The first budget that refuses a request from `who` now, when `enforce_budgets` is on. A
/// holder whose spend cannot be read is never the reason for a refusal.
pub fn refusal<S: SharedStore + ?Sized>(
    settings: &SpendSettings,
    store: &S,
    who: &Identity,
    now_ms: i64,
) -> Option<BudgetExceeded> {
    if !settings.enforce_budgets {
        return None;
    }
    settings.holders(who).into_iter().find_map(|h| {
        let state = read_spend(store, &h.key, &h.budget.reset, now_ms).ok()?;
        check(h.kind, h.budget, Some(&state), who)
    })
}

/// What a finished request's cost did to one budget holder.
#[derive(Clone, Debug, PartialEq)]
pub struct HolderSpend {
    /// Whose budget.
    pub kind: HolderKind,
    /// The shared-data key.
    pub key: String,
    /// Written, kept pending, or lost (see [`Added`]).
    pub added: Added,
    /// The gauge values to set, when the write went through.
    pub gauges: Option<BudgetGauges>,
}

/// What a finished request's spend did.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SpendOutcome {
    /// Its cost; `None` when the model has no price (count it, and raise `failed_tracking_spend`).
    pub cost: Option<Cost>,
    /// Per budget holder of the request.
    pub holders: Vec<HolderSpend>,
    /// Budget alerts for the alert engine's `budget_event`, in order.
    pub alerts: Vec<(BudgetAlertKind, CallInfo)>,
}

/// Prices a finished request (`rates` `None`: no price known) and adds its cost to every budget
/// holder of `who`, once, shared by all workers.
#[allow(clippy::too_many_arguments)]
pub fn record<S: SharedStore + ?Sized>(
    settings: &SpendSettings,
    store: &mut S,
    pending: &mut PendingSpend,
    rates: Option<&Rates>,
    usage: &Usage,
    tier: Tier,
    who: &Identity,
    now_ms: i64,
) -> SpendOutcome {
    let Some(rates) = rates else {
        return SpendOutcome::default();
    };
    let c = cost(usage, rates, tier);
    let mut out = SpendOutcome {
        cost: Some(c),
        ..SpendOutcome::default()
    };
    if c.total() == 0 {
        // Nothing to add: no shared-data write for a free request.
        return out;
    }
    for h in settings.holders(who) {
        let added = pending.add(
            store,
            &h.key,
            c.total(),
            &h.budget.reset,
            now_ms,
            settings.max_budget_holders,
        );
        let mut g = None;
        if let Added::Written(update) = &added {
            g = Some(gauges(h.budget, &update.after));
            out.alerts
                .extend(alerts_after_spend(h.kind, h.budget, who, update, now_ms));
        }
        out.holders.push(HolderSpend {
            kind: h.kind,
            key: h.key,
            added,
            gauges: g,
        });
    }
    out
}

/// A holder's gauge values as every worker sees them now. Envoy gauges are one stat for all
/// workers, so a value set from a request's write ([`HolderSpend::gauges`]) can be overtaken by
/// another worker setting its older value a moment later; setting them from this on the tick
/// makes every worker converge on the shared spend. `None` when the entry cannot be read.
pub fn gauges_now<S: SharedStore + ?Sized>(
    store: &S,
    budget: &super::budget::Budget,
    key: &str,
    now_ms: i64,
) -> Option<BudgetGauges> {
    read_spend(store, key, &budget.reset, now_ms)
        .ok()
        .map(|state| gauges(budget, &state))
}

/// The `error_message` of a `failed_tracking_spend` alert for a model with no price: LiteLLM's
/// cost callback text (`Failed Tracking Cost for ` is the alert engine's prefix), without the
/// Python traceback LiteLLM appends.
pub fn failed_tracking_message(model: &str, provider: &str) -> String {
    format!(
        "Error in tracking cost callback - Cost tracking failed for model={model}.\nDebug info - This model isn't mapped yet. model={model}, custom_llm_provider={provider}. Add it here - https://github.com/BerriAI/litellm/blob/main/model_prices_and_context_window.json.\nAdd custom pricing - https://docs.litellm.ai/docs/proxy/custom_pricing\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::budget::evaluate;
    use crate::alerts::BudgetEvent;
    use crate::spend::prices::lookup;
    use crate::spend::settings::{parse, BudgetSpec};
    use crate::spend::store::fake::FakeStore;
    use serde_json::json;

    const KEY: &str = "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b";

    fn settings(enforce: bool) -> SpendSettings {
        let entry = json!({"max_budget": 0.0001, "soft_budget": 0.00005});
        let spec = BudgetSpec::parse(
            entry.as_object().unwrap(),
            "telemetry_settings.keys[0]",
            &mut Vec::new(),
        )
        .unwrap()
        .unwrap();
        let root = json!({"telemetry_settings": {"enforce_budgets": enforce,
            "teams": [{"team_id": "t1", "max_budget": 1}]}});
        parse(root.as_object().unwrap(), &[(KEY.to_owned(), spec)]).unwrap()
    }

    fn who() -> Identity<'static> {
        Identity {
            hashed_api_key: Some(KEY),
            team_id: Some("t1"),
            ..Identity::default()
        }
    }

    /// `record` of one chat-fixture request at gpt-4o-mini for `who()`.
    fn one_request(
        s: &SpendSettings,
        store: &mut FakeStore,
        pending: &mut PendingSpend,
        now: i64,
    ) -> SpendOutcome {
        let rates = lookup("gpt-4o-mini", Some("openai")).unwrap().rates;
        record(
            s,
            store,
            pending,
            Some(&rates),
            &usage(),
            Tier::Standard,
            &who(),
            now,
        )
    }

    /// gpt-4o-mini, 19 prompt tokens (3 cached) and 10 completion tokens: 8,625,000 pico-dollars.
    fn usage() -> Usage {
        Usage {
            input: 19,
            input_cached: 3,
            output: 10,
            total: 29,
            output_reasoning: 2,
            ..Usage::default()
        }
    }

    #[test]
    fn a_key_walked_past_its_budget_is_refused_once_enforced() {
        let s = settings(true);
        let mut store = FakeStore::default();
        let mut pending = PendingSpend::default();
        let now = 1_796_216_891_000;
        let mut events = Vec::new();
        let mut requests = 0;
        while refusal(&s, &store, &who(), now).is_none() {
            let out = one_request(&s, &mut store, &mut pending, now);
            assert_eq!(out.cost.unwrap().total(), 8_625_000);
            assert_eq!(out.holders.len(), 2, "the key and its team");
            events.extend(
                out.alerts
                    .iter()
                    .map(|(k, i)| (*k, evaluate(*k, i).unwrap().0)),
            );
            requests += 1;
        }
        // 0.0001 USD / 8.625e-06 per request: the 12th request reaches 0.0001035.
        assert_eq!(requests, 12);
        let e = refusal(&s, &store, &who(), now).unwrap();
        assert_eq!(e.kind, HolderKind::Key);
        assert_eq!(
            e.body(s.budget_exceeded_status),
            r#"{"error":{"message":"Budget has been exceeded! Key=key Current cost: 0.0001035, Max budget: 0.0001","type":"budget_exceeded","param":null,"code":"429"}}"#
        );
        let crossed: Vec<BudgetEvent> = events
            .iter()
            .filter(|(k, _)| *k == BudgetAlertKind::TokenBudget)
            .map(|e| e.1)
            .collect();
        assert_eq!(
            crossed,
            // 86.25% spent is ≤ 15% left; the next step, 94.875%, is still above 5% left.
            vec![
                BudgetEvent::SoftBudgetCrossed,
                BudgetEvent::ThresholdCrossed,
                BudgetEvent::BudgetCrossed
            ]
        );
        // Enforcement off: the same spend refuses nothing.
        assert_eq!(refusal(&settings(false), &store, &who(), now), None);
        // The shared state is unreadable: never refused.
        store.broken = Some(1);
        assert_eq!(refusal(&s, &store, &who(), now), None);
    }

    /// Through the real alert engine (Slack and the generic webhook): exactly one alert per event.
    #[test]
    fn the_walk_through_the_alert_engine_sends_each_event_once() {
        use crate::alerts::{parse_alerting, AlertEngine};
        let general = json!({"alerting": ["slack", "webhook"], "alert_types": ["budget_alerts"]});
        let env = |k: &str| match k {
            "SLACK_WEBHOOK_URL" => Some("http://127.0.0.1:1/slack".to_owned()),
            "WEBHOOK_URL" => Some("http://127.0.0.1:1/generic".to_owned()),
            _ => None,
        };
        let now = 1_796_216_891_000i64; // 2026-12-02T13:08:11Z
        let mut engine = AlertEngine::new(
            parse_alerting(general.as_object().unwrap(), &env).unwrap(),
            now as u64,
        );
        let s = settings(true);
        let (mut store, mut pending) = (FakeStore::default(), PendingSpend::default());
        let mut bodies = Vec::new();
        for i in 0..12 {
            let t = now + i * 1_000;
            let out = one_request(&s, &mut store, &mut pending, t);
            for (kind, info) in &out.alerts {
                engine.budget_event(*kind, info, t as u64);
            }
            for o in engine.on_tick(t as u64) {
                engine.on_delivery_result(o.id, 200, t as u64);
                bodies.push(o.body);
            }
        }
        for o in engine.on_tick(now as u64 + 60_000) {
            bodies.push(o.body);
        }
        let parsed: Vec<serde_json::Value> = bodies
            .iter()
            .map(|b| serde_json::from_str(b).unwrap())
            .collect();
        let events: Vec<&str> = parsed.iter().filter_map(|v| v["event"].as_str()).collect();
        assert_eq!(
            events,
            vec![
                "projected_limit_exceeded",
                "soft_budget_crossed",
                "threshold_crossed",
                "budget_crossed"
            ]
        );
        let slack: Vec<&str> = parsed.iter().filter_map(|v| v["text"].as_str()).collect();
        let firsts: Vec<&str> = slack
            .iter()
            .flat_map(|t| t.split("Alert type: ").skip(1))
            .map(|a| {
                a.split("\n\n*spend")
                    .next()
                    .unwrap()
                    .rsplit("Message: ")
                    .next()
                    .unwrap()
            })
            .collect();
        assert_eq!(
            firsts,
            vec![
                "Key Budget: Projected Limit Exceeded",
                "Key Budget: Total Soft Budget:`5e-05`",
                "Key Budget: Total Soft Budget:`5e-05`15% or less of budget remaining",
                "Key Budget: Total Soft Budget:`5e-05`Budget Crossed\n Total Budget:`0.0001`",
            ],
            "{slack:#?}"
        );
    }

    #[test]
    fn unpriced_and_free_requests() {
        let s = settings(true);
        let mut store = FakeStore::default();
        let mut pending = PendingSpend::default();
        let out = record(
            &s,
            &mut store,
            &mut pending,
            None,
            &usage(),
            Tier::Standard,
            &who(),
            0,
        );
        assert_eq!(out, SpendOutcome::default());
        let free = Rates::default();
        let out = record(
            &s,
            &mut store,
            &mut pending,
            Some(&free),
            &usage(),
            Tier::Standard,
            &who(),
            0,
        );
        assert_eq!((out.cost, out.holders.len()), (Some(Cost::default()), 0));
        assert!(store.entries.is_empty(), "no write for a free request");
        assert_eq!(
            failed_tracking_message("gpt-x", "openai"),
            "Error in tracking cost callback - Cost tracking failed for model=gpt-x.\nDebug info - This model isn't mapped yet. model=gpt-x, custom_llm_provider=openai. Add it here - https://github.com/BerriAI/litellm/blob/main/model_prices_and_context_window.json.\nAdd custom pricing - https://docs.litellm.ai/docs/proxy/custom_pricing\n"
        );
    }

    #[test]
    fn gauges_follow_the_shared_spend() {
        let s = settings(false);
        let mut store = FakeStore::default();
        let (mut p1, mut p2) = (PendingSpend::default(), PendingSpend::default());
        // Two workers, each with its own pending book, one shared store.
        one_request(&s, &mut store, &mut p1, 0);
        let out = one_request(&s, &mut store, &mut p2, 0);
        let key = &out.holders[0];
        assert_eq!(key.kind, HolderKind::Key);
        // The first worker's view on its next tick: the shared total, not its own write.
        let budget = &s.keys[KEY];
        assert_eq!(
            gauges_now(&store, budget, &key.key, 0).unwrap().spend_pico,
            17_250_000
        );
        store.broken = Some(1);
        assert_eq!(gauges_now(&store, budget, &key.key, 0), None);
        store.broken = None;
        assert_eq!(
            key.gauges,
            Some(BudgetGauges {
                max_budget_pico: Some(100_000_000),
                spend_pico: 17_250_000,
                reset_at_seconds: None
            })
        );
    }
}
