//! The metric families spend and budgets add, as data for the metric catalogue: the Envoy stat
//! each is exported as (integers: Envoy stats hold nothing else), its labels in LiteLLM's
//! declaration order, and the LiteLLM series the shipped recording rules
//! (`envoy/prometheus/spend-rules.yaml`) rebuild from it.
//!
//! Spend is a counter in pico-dollars (`litellm_spend_metric_picodollars_total`, exact); the rule
//! divides by 1e12 into LiteLLM's `litellm_spend_metric_total` (USD). A remaining budget can be
//! negative and Envoy gauges are unsigned, so each holder exports two non-negative gauges — its
//! max budget and its spend in the current period, in pico-dollars — and the rule subtracts
//! them: `(max − spend) / 1e12`, LiteLLM's `max_budget - spend` exactly (+Inf without a max
//! budget, as LiteLLM). Remaining hours come from the period's end as a Unix time:
//! `(reset_at − time()) / 3600`, current at every evaluation (LiteLLM's value is frozen at its
//! last request).

use crate::catalogue::{Kind, Label};

/// A family the spend wiring emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpendFamily {
    /// The Envoy stat name, without the `_total` a counter gets (as `catalogue::Family::name`).
    pub name: &'static str,
    /// Counter or gauge.
    pub kind: Kind,
    /// Label keys in LiteLLM's declaration order.
    pub labels: &'static [Label],
    /// What the value is.
    pub value: &'static str,
}

/// One LiteLLM series a shipped recording rule rebuilds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordedSeries {
    /// LiteLLM's exposed name (counters with `_total`).
    pub litellm: &'static str,
    /// The PromQL of the recording rule.
    pub expr: &'static str,
}

use Label::*;

/// `litellm_spend_metric`'s labels (LiteLLM 1.106.2, default settings).
#[rustfmt::skip]
pub const SPEND_LABELS: &[Label] = &[EndUser, HashedApiKey, ApiKeyAlias, Model, Team, TeamAlias, User, UserEmail, ClientIp, UserAgent, RequestedModel, ModelId, ApiProvider, ServiceTier, OrgId, OrgAlias];
/// Labels of the key budget gauges.
pub const KEY_BUDGET_LABELS: &[Label] = &[HashedApiKey, ApiKeyAlias];
/// Labels of the team budget gauges.
pub const TEAM_BUDGET_LABELS: &[Label] = &[Team, TeamAlias];
/// Labels of the user budget gauges.
pub const USER_BUDGET_LABELS: &[Label] = &[User];
/// Labels of the end-user (customer) budget gauges.
pub const CUSTOMER_BUDGET_LABELS: &[Label] = &[EndUser];
/// Labels of the provider budget gauges.
pub const PROVIDER_BUDGET_LABELS: &[Label] = &[ApiProvider];

const fn family(
    name: &'static str,
    kind: Kind,
    labels: &'static [Label],
    value: &'static str,
) -> SpendFamily {
    SpendFamily {
        name,
        kind,
        labels,
        value,
    }
}

const MAX: &str = "max budget, pico-dollars";
const SPENT: &str = "spend in the current budget period, pico-dollars";
const RESET: &str = "end of the current budget period, Unix seconds";

/// Every family spend and budgets emit.
#[rustfmt::skip]
pub const FAMILIES: &[SpendFamily] = &[
    family("litellm_spend_metric_picodollars", Kind::Counter, SPEND_LABELS, "request cost, pico-dollars"),
    family("litellm_api_key_max_budget_metric_picodollars", Kind::Gauge, KEY_BUDGET_LABELS, MAX),
    family("litellm_api_key_budget_spend_metric_picodollars", Kind::Gauge, KEY_BUDGET_LABELS, SPENT),
    family("litellm_api_key_budget_reset_at_metric_seconds", Kind::Gauge, KEY_BUDGET_LABELS, RESET),
    family("litellm_team_max_budget_metric_picodollars", Kind::Gauge, TEAM_BUDGET_LABELS, MAX),
    family("litellm_team_budget_spend_metric_picodollars", Kind::Gauge, TEAM_BUDGET_LABELS, SPENT),
    family("litellm_team_budget_reset_at_metric_seconds", Kind::Gauge, TEAM_BUDGET_LABELS, RESET),
    family("litellm_user_max_budget_metric_picodollars", Kind::Gauge, USER_BUDGET_LABELS, MAX),
    family("litellm_user_budget_spend_metric_picodollars", Kind::Gauge, USER_BUDGET_LABELS, SPENT),
    family("litellm_user_budget_reset_at_metric_seconds", Kind::Gauge, USER_BUDGET_LABELS, RESET),
    family("litellm_customer_max_budget_metric_picodollars", Kind::Gauge, CUSTOMER_BUDGET_LABELS, MAX),
    family("litellm_customer_budget_spend_metric_picodollars", Kind::Gauge, CUSTOMER_BUDGET_LABELS, SPENT),
    family("litellm_customer_budget_reset_at_metric_seconds", Kind::Gauge, CUSTOMER_BUDGET_LABELS, RESET),
    family("litellm_provider_max_budget_metric_picodollars", Kind::Gauge, PROVIDER_BUDGET_LABELS, MAX),
    family("litellm_provider_budget_spend_metric_picodollars", Kind::Gauge, PROVIDER_BUDGET_LABELS, SPENT),
];

/// The LiteLLM series the shipped rules record, in the rules file's order.
#[rustfmt::skip]
pub const RECORDED: &[RecordedSeries] = &[
    RecordedSeries { litellm: "litellm_spend_metric_total", expr: "litellm_spend_metric_picodollars_total / 1e12" },
    RecordedSeries { litellm: "litellm_api_key_max_budget_metric", expr: "litellm_api_key_max_budget_metric_picodollars / 1e12" },
    RecordedSeries { litellm: "litellm_remaining_api_key_budget_metric", expr: "(litellm_api_key_max_budget_metric_picodollars - litellm_api_key_budget_spend_metric_picodollars) / 1e12 or litellm_api_key_budget_spend_metric_picodollars * 0 + Inf" },
    RecordedSeries { litellm: "litellm_api_key_budget_remaining_hours_metric", expr: "(litellm_api_key_budget_reset_at_metric_seconds - time()) / 3600" },
    RecordedSeries { litellm: "litellm_team_max_budget_metric", expr: "litellm_team_max_budget_metric_picodollars / 1e12" },
    RecordedSeries { litellm: "litellm_remaining_team_budget_metric", expr: "(litellm_team_max_budget_metric_picodollars - litellm_team_budget_spend_metric_picodollars) / 1e12 or litellm_team_budget_spend_metric_picodollars * 0 + Inf" },
    RecordedSeries { litellm: "litellm_team_budget_remaining_hours_metric", expr: "(litellm_team_budget_reset_at_metric_seconds - time()) / 3600" },
    RecordedSeries { litellm: "litellm_user_max_budget_metric", expr: "litellm_user_max_budget_metric_picodollars / 1e12" },
    RecordedSeries { litellm: "litellm_remaining_user_budget_metric", expr: "(litellm_user_max_budget_metric_picodollars - litellm_user_budget_spend_metric_picodollars) / 1e12 or litellm_user_budget_spend_metric_picodollars * 0 + Inf" },
    RecordedSeries { litellm: "litellm_user_budget_remaining_hours_metric", expr: "(litellm_user_budget_reset_at_metric_seconds - time()) / 3600" },
    RecordedSeries { litellm: "litellm_customer_max_budget_metric", expr: "litellm_customer_max_budget_metric_picodollars / 1e12" },
    RecordedSeries { litellm: "litellm_remaining_customer_budget_metric", expr: "(litellm_customer_max_budget_metric_picodollars - litellm_customer_budget_spend_metric_picodollars) / 1e12 or litellm_customer_budget_spend_metric_picodollars * 0 + Inf" },
    RecordedSeries { litellm: "litellm_customer_budget_remaining_hours_metric", expr: "(litellm_customer_budget_reset_at_metric_seconds - time()) / 3600" },
    RecordedSeries { litellm: "litellm_provider_remaining_budget_metric", expr: "(litellm_provider_max_budget_metric_picodollars - litellm_provider_budget_spend_metric_picodollars) / 1e12 or litellm_provider_budget_spend_metric_picodollars * 0 + Inf" },
];

/// The LiteLLM series (as `prometheus_metrics_config` names them, without `_total`) whose rule
/// reads the exported family `raw`: enabling any of them exports it.
pub fn feeds(raw: &str) -> impl Iterator<Item = &'static str> + '_ {
    let kind = FAMILIES.iter().find(|f| f.name == raw).map(|f| f.kind);
    RECORDED
        .iter()
        .filter(move |r| match kind {
            Some(Kind::Counter) => r.expr.contains(&*format!("{raw}_total")),
            Some(_) => r
                .expr
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .any(|w| w == raw),
            None => false,
        })
        .map(|r| r.litellm.strip_suffix("_total").unwrap_or(r.litellm))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::LITELLM_METRIC_NAMES;

    const RULES: &str = include_str!("../../../../envoy/prometheus/spend-rules.yaml");

    #[test]
    fn raw_families_are_enabled_by_the_series_they_feed() {
        let f = |raw| feeds(raw).collect::<Vec<_>>();
        assert_eq!(
            f("litellm_spend_metric_picodollars"),
            ["litellm_spend_metric"]
        );
        assert_eq!(
            f("litellm_api_key_max_budget_metric_picodollars"),
            [
                "litellm_api_key_max_budget_metric",
                "litellm_remaining_api_key_budget_metric"
            ]
        );
        assert_eq!(
            f("litellm_api_key_budget_spend_metric_picodollars"),
            ["litellm_remaining_api_key_budget_metric"]
        );
        assert_eq!(
            f("litellm_api_key_budget_reset_at_metric_seconds"),
            ["litellm_api_key_budget_remaining_hours_metric"]
        );
        assert_eq!(f("litellm_total_tokens_metric"), Vec::<&str>::new());
    }

    #[test]
    fn recorded_series_are_litellms_and_shipped() {
        let records: Vec<&str> = RULES
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- record: "))
            .collect();
        let exprs: Vec<&str> = RULES
            .lines()
            .filter_map(|l| l.trim().strip_prefix("expr: "))
            .collect();
        assert_eq!(
            records,
            RECORDED.iter().map(|r| r.litellm).collect::<Vec<_>>()
        );
        assert_eq!(exprs, RECORDED.iter().map(|r| r.expr).collect::<Vec<_>>());
        for r in RECORDED {
            let base = r.litellm.strip_suffix("_total").unwrap_or(r.litellm);
            assert!(LITELLM_METRIC_NAMES.contains(&base), "{}", r.litellm);
        }
    }

    #[test]
    fn every_raw_family_feeds_a_rule_and_no_raw_name_is_a_litellm_name() {
        for f in FAMILIES {
            let exposed = match f.kind {
                Kind::Counter => format!("{}_total", f.name),
                _ => f.name.to_owned(),
            };
            assert!(
                RECORDED.iter().any(|r| r.expr.contains(&exposed)),
                "{exposed} is used by no rule"
            );
            // A dashboard must never read pico-dollars as dollars.
            assert!(!LITELLM_METRIC_NAMES.contains(&f.name), "{}", f.name);
            assert!(
                f.name.ends_with("_picodollars") || f.name.ends_with("_seconds"),
                "{}",
                f.name
            );
        }
        let names: Vec<&str> = SPEND_LABELS.iter().map(|l| l.as_str()).collect();
        assert_eq!(
            names.join(", "),
            "end_user, hashed_api_key, api_key_alias, model, team, team_alias, user, user_email, client_ip, user_agent, requested_model, model_id, api_provider, service_tier, org_id, org_alias"
        );
    }
}
