//! Budgets and the decisions LiteLLM makes about them, pure: who holds a budget, when a request
//! is refused, which budget alerts a spend update raises, the projected-spend alert, and the
//! values of the budget gauges. Facts from LiteLLM 1.106.2 (`proxy/auth/auth_checks.py`,
//! `proxy/auth/user_api_key_auth.py`, `router_strategy/budget_limiter.py`,
//! `integrations/SlackAlerting/slack_alerting.py`, `proxy/utils.py`, `integrations/prometheus.py`).
//!
//! Spend and budgets are pico-dollars; the alert payloads carry USD as LiteLLM's floats.
//!
//! | holder | refused when | alerts |
//! | --- | --- | --- |
//! | key | spend ≥ `max_budget` | `token_budget` (crossed, ≤ 15% / ≤ 5% left, soft budget), `soft_budget`, `projected_limit_exceeded` |
//! | team | spend > `max_budget` | `team_budget` once over |
//! | user | spend ≥ `max_budget` (team keys only with `apply_user_budget_to_team_keys`) | `user_budget` |
//! | end user | spend > `max_budget` | — |
//! | proxy | `max_budget` > 0 and spend > it | `proxy_budget` |
//! | provider | `budget_limit` > 0 and spend ≥ it | — |
//!
//! LiteLLM checks budgets before a call with the spend so far and alerts from that check; the
//! filter knows the new spend when a request finishes, so it raises an alert when a finished
//! request changes what LiteLLM's check would say (a new event or message), once, by the worker
//! whose update made the change. The alert engine's `budget_alert_ttl` de-duplication does the
//! rest, as in LiteLLM (the 15% and 5% alerts share one key).

use serde::Serialize;

use super::money::{pico_to_usd, PICO_PER_USD};
use super::period::{civil_from_days, day_start, days_in_month, iso_date, DAY_MS};
use super::store::{ResetPolicy, SpendState, SpendUpdate};
use crate::alerts::budget::{evaluate, BudgetAlertKind, BudgetEvent, CallInfo, EventGroup};
use crate::alerts::text::py_float;

/// Who a budget belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HolderKind {
    /// A virtual key (`hashed_api_key`).
    Key,
    /// A team (`team_id`).
    Team,
    /// An internal user (`user_id`).
    User,
    /// An end user / customer (the request's `user`).
    EndUser,
    /// An LLM provider (`api_provider`, `router_settings.provider_budget_config`).
    Provider,
    /// The whole proxy (`litellm_settings.max_budget`).
    Proxy,
}

impl HolderKind {
    /// Every kind, in the order LiteLLM checks them.
    pub const ALL: [HolderKind; 6] = [
        HolderKind::Key,
        HolderKind::Team,
        HolderKind::User,
        HolderKind::EndUser,
        HolderKind::Proxy,
        HolderKind::Provider,
    ];

    /// The name used in shared-data keys.
    pub const fn as_str(self) -> &'static str {
        match self {
            HolderKind::Key => "key",
            HolderKind::Team => "team",
            HolderKind::User => "user",
            HolderKind::EndUser => "end_user",
            HolderKind::Provider => "provider",
            HolderKind::Proxy => "proxy",
        }
    }
}

/// A budget as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    /// `max_budget` (`budget_limit` for providers), pico-dollars.
    pub max_budget: Option<u64>,
    /// `soft_budget` (keys), pico-dollars.
    pub soft_budget: Option<u64>,
    /// When spend goes back to 0.
    pub reset: ResetPolicy,
}

impl Budget {
    /// Whether anything about this budget needs spend tracked.
    pub fn is_set(&self) -> bool {
        self.max_budget.is_some() || self.soft_budget.is_some()
    }
}

/// The request's identity as the alert payloads and error messages name it (resolved once per
/// request by the caller; `None` where unknown).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Identity<'a> {
    /// SHA-256 hex of the key (`token` in LiteLLM's payloads; never the key).
    pub hashed_api_key: Option<&'a str>,
    /// `key_alias`.
    pub key_alias: Option<&'a str>,
    /// `user_id`.
    pub user_id: Option<&'a str>,
    /// `user_email`.
    pub user_email: Option<&'a str>,
    /// `team_id`.
    pub team_id: Option<&'a str>,
    /// `team_alias`.
    pub team_alias: Option<&'a str>,
    /// `org_id`.
    pub org_id: Option<&'a str>,
    /// `org_alias`.
    pub org_alias: Option<&'a str>,
    /// The end user id.
    pub end_user: Option<&'a str>,
    /// The provider (`api_provider`).
    pub provider: Option<&'a str>,
}

/// LiteLLM's `litellm_proxy_admin_name`, the `user_id` of proxy budget alerts.
pub const PROXY_ADMIN_NAME: &str = "default_user_id";

/// The `exception_class` LiteLLM's Prometheus metrics give a budget refusal (never provider
/// prefixed, for its dashboards' sake).
pub const EXCEPTION_CLASS: &str = "BudgetExceededError";

/// The status LiteLLM 1.106.2 answers a budget refusal with by default
/// (`litellm.budget_exceeded_status_code`; 429 before that release, and on request).
pub const LITELLM_DEFAULT_STATUS: u16 = 422;

/// A request refused for a budget.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetExceeded {
    /// Whose budget.
    pub kind: HolderKind,
    /// LiteLLM's message for it.
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorObject<'a>,
}

/// LiteLLM's `ProxyException.to_dict()`: OpenAI's error object, `code` a string.
#[derive(Serialize)]
struct ErrorObject<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: String,
}

impl BudgetExceeded {
    /// The response body LiteLLM sends: `{"error":{"message":...,"type":"budget_exceeded",
    /// "param":null,"code":"429"}}`, compact as Starlette's `JSONResponse` writes it.
    pub fn body(&self, status: u16) -> String {
        serde_json::to_string(&ErrorBody {
            error: ErrorObject {
                message: &self.message,
                kind: "budget_exceeded",
                param: None,
                code: status.to_string(),
            },
        })
        .unwrap_or_default()
    }
}

/// Whether `kind`'s budget refuses the request, given its spend now. `state` is `None` when the
/// spend is unknown (shared data unreadable, holder not tracked): never refused then.
pub fn check(
    kind: HolderKind,
    budget: &Budget,
    state: Option<&SpendState>,
    who: &Identity,
) -> Option<BudgetExceeded> {
    let max = budget.max_budget?;
    let spend = state?.spend;
    let over = match kind {
        HolderKind::Key | HolderKind::User => spend >= max,
        HolderKind::Team | HolderKind::EndUser => spend > max,
        HolderKind::Proxy => max > 0 && spend > max,
        // `if config.max_budget and current_spend >= config.max_budget`: 0 is no limit.
        HolderKind::Provider => max > 0 && spend >= max,
    };
    if !over {
        return None;
    }
    let (s, m) = (py_float(pico_to_usd(spend)), py_float(pico_to_usd(max)));
    let id = |v: Option<&str>| v.unwrap_or("None").to_owned();
    let message = match kind {
        // LiteLLM echoes the key's masked name only when it has one; the filter never keeps a
        // key, so it names the alias (or "key"), as LiteLLM does for a key without a name.
        HolderKind::Key => format!(
            "Budget has been exceeded! Key={} Current cost: {s}, Max budget: {m}",
            who.key_alias.filter(|a| !a.is_empty()).unwrap_or("key")
        ),
        HolderKind::Team => format!(
            "Budget has been exceeded! Team={} Current cost: {s}, Max budget: {m}",
            id(who.team_id)
        ),
        HolderKind::User => format!(
            "ExceededBudget: User={} over budget. Spend={s}, Budget={m}",
            id(who.user_id)
        ),
        HolderKind::EndUser => format!(
            "ExceededBudget: End User={} over budget. Spend={s}, Budget={m}",
            id(who.end_user)
        ),
        HolderKind::Proxy => {
            format!("Budget has been exceeded! Current cost: {s}, Max budget: {m}")
        }
        // The router's error when every deployment of the provider is over its budget.
        HolderKind::Provider => format!(
            "No deployments available - crossed budget: Exceeded budget for provider {}: {s} >= {m}\n",
            id(who.provider)
        ),
    };
    Some(BudgetExceeded { kind, message })
}

fn owned(v: Option<&str>) -> Option<String> {
    v.map(str::to_owned)
}

/// A payload with only `spend`, `max_budget` and `event_group` set.
fn bare_call_info(spend: u64, max_budget: Option<u64>, event_group: EventGroup) -> CallInfo {
    CallInfo {
        spend: pico_to_usd(spend),
        max_budget: max_budget.map(pico_to_usd),
        soft_budget: None,
        token: None,
        customer_id: None,
        user_id: None,
        team_id: None,
        team_alias: None,
        organization_id: None,
        user_email: None,
        key_alias: None,
        projected_exceeded_date: None,
        projected_spend: None,
        event_group,
        alert_emails: None,
        max_budget_alert_emails: None,
    }
}

/// The `CallInfo` LiteLLM builds for one alert type, at `spend` pico-dollars.
fn call_info(alert: BudgetAlertKind, budget: &Budget, who: &Identity, spend: u64) -> CallInfo {
    let usd = |v: Option<u64>| v.map(pico_to_usd);
    let mut info = bare_call_info(spend, budget.max_budget, EventGroup::Key);
    match alert {
        // `virtual_key_max_budget_check` (no team alias) and `virtual_key_soft_budget_check`.
        BudgetAlertKind::TokenBudget | BudgetAlertKind::SoftBudget => {
            info.soft_budget = usd(budget.soft_budget);
            info.token = owned(who.hashed_api_key);
            info.user_id = owned(who.user_id);
            info.team_id = owned(who.team_id);
            info.organization_id = owned(who.org_id);
            info.user_email = owned(who.user_email);
            info.key_alias = owned(who.key_alias);
            if alert == BudgetAlertKind::SoftBudget {
                info.team_alias = owned(who.team_alias);
            }
        }
        // `team_max_budget_check`: the requesting key's token and ids.
        BudgetAlertKind::TeamBudget => {
            info.token = owned(who.hashed_api_key);
            info.user_id = owned(who.user_id);
            info.team_id = owned(who.team_id);
            info.team_alias = owned(who.team_alias);
            info.organization_id = owned(who.org_id);
            info.event_group = EventGroup::Team;
        }
        // `_user_max_budget_check`.
        BudgetAlertKind::UserBudget => {
            info.user_id = owned(who.user_id);
            info.user_email = owned(who.user_email);
            info.event_group = EventGroup::User;
        }
        // `get_global_proxy_spend`.
        BudgetAlertKind::ProxyBudget => {
            info.token = owned(who.hashed_api_key);
            info.user_id = Some(PROXY_ADMIN_NAME.to_owned());
            info.team_id = owned(who.team_id);
            info.event_group = EventGroup::Proxy;
        }
        _ => {}
    }
    info
}

/// The budget alerts a spend update raises for `kind`'s `budget`: `(type, payload)` pairs for
/// the alert engine's `budget_event`, in LiteLLM's order (the key's `token_budget` before its
/// `soft_budget`, so a soft-budget event reads `Key Budget: ...` as LiteLLM's first task does).
pub fn alerts_after_spend(
    kind: HolderKind,
    budget: &Budget,
    who: &Identity,
    update: &SpendUpdate,
    now_ms: i64,
) -> Vec<(BudgetAlertKind, CallInfo)> {
    let (before, after) = (update.before, update.after.spend);
    let mut out = Vec::new();
    let mut consider = |alert: BudgetAlertKind, applies: &dyn Fn(u64) -> bool| {
        let said = |spend: u64| {
            applies(spend)
                .then(|| evaluate(alert, &call_info(alert, budget, who, spend)))
                .flatten()
        };
        let now = said(after);
        if now.is_some() && now != said(before) {
            out.push((alert, call_info(alert, budget, who, after)));
        }
    };
    let max = budget.max_budget;
    let soft = budget.soft_budget;
    match kind {
        HolderKind::Key => {
            if max.is_some() {
                consider(BudgetAlertKind::TokenBudget, &|_| true);
            }
            // `if valid_token.soft_budget and valid_token.spend >= valid_token.soft_budget`.
            if let Some(soft) = soft.filter(|s| *s > 0) {
                consider(BudgetAlertKind::SoftBudget, &|spend| spend >= soft);
            }
        }
        HolderKind::Team => {
            if let Some(max) = max {
                consider(BudgetAlertKind::TeamBudget, &|spend| spend > max);
            }
        }
        HolderKind::User => {
            if max.is_some() {
                consider(BudgetAlertKind::UserBudget, &|_| true);
            }
        }
        HolderKind::Proxy => {
            if max.is_some_and(|m| m > 0) {
                consider(BudgetAlertKind::ProxyBudget, &|_| true);
            }
        }
        HolderKind::EndUser | HolderKind::Provider => {}
    }
    if kind == HolderKind::Key {
        if let Some(soft) = soft {
            // LiteLLM evaluates this alert with the soft budget as `max_budget`, so once spend
            // nears or passes the soft budget it turns into `threshold_crossed` /
            // `budget_crossed` events that share (and use up) the de-duplication keys of the real
            // ones. The filter sends it only as what it is: a projection, before the soft budget.
            let said = |spend: u64| {
                let p = projected_over_soft(spend, soft, budget, update.after.reset_at_ms, now_ms)?;
                let info = projected_call_info(who, spend, soft, &p);
                let said = evaluate(BudgetAlertKind::ProjectedLimitExceeded, &info)?;
                (said.0 == BudgetEvent::ProjectedLimitExceeded).then_some((said, info))
            };
            if let Some((now, info)) = said(after) {
                if said(before).map(|(b, _)| b) != Some(now) {
                    out.push((BudgetAlertKind::ProjectedLimitExceeded, info));
                }
            }
        }
    }
    out
}

/// `_update_key_cache`'s payload: the soft budget stands in `max_budget`.
fn projected_call_info(who: &Identity, spend: u64, soft: u64, p: &Projection) -> CallInfo {
    CallInfo {
        token: Some(who.hashed_api_key.unwrap_or("").to_owned()),
        user_id: owned(who.user_id),
        key_alias: owned(who.key_alias),
        projected_exceeded_date: Some(p.exceeded_date.clone()),
        projected_spend: Some(p.spend),
        ..bare_call_info(spend, Some(soft), EventGroup::Key)
    }
}

/// Where spend is heading.
#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    /// Projected spend at the end of the period, USD.
    pub spend: f64,
    /// `YYYY-MM-DD` the soft budget is projected to be crossed.
    pub exceeded_date: String,
}

/// LiteLLM's `get_projected_spend_over_limit`: spend extrapolated to the end of the budget
/// period (or of the month, without a period), `Some` only when that exceeds the soft budget.
pub fn projected_over_soft(
    spend: u64,
    soft: u64,
    budget: &Budget,
    reset_at_ms: Option<i64>,
    now_ms: i64,
) -> Option<Projection> {
    let (spend_usd, soft_usd) = (pico_to_usd(spend), pico_to_usd(soft));
    let window = match (&budget.reset, reset_at_ms) {
        (ResetPolicy::Calendar { duration, .. }, Some(end))
        | (ResetPolicy::Rolling { duration }, Some(end)) => {
            let start = duration.window_start(end);
            (start < end).then_some((start, end))
        }
        _ => None,
    };
    let Some((start, end)) = window else {
        return project_to_month_end(spend_usd, soft_usd, now_ms);
    };
    if now_ms < start {
        return None;
    }
    let secs = |ms: i64| ms as f64 / 1000.0;
    // Never less than 1/24 of the window, so the first minutes do not extrapolate wildly.
    let elapsed = secs(now_ms - start).max(secs(end - start) / 24.0);
    let remaining = secs((end - now_ms).max(0));
    let rate = spend_usd / elapsed;
    let projected = spend_usd + rate * remaining;
    if projected <= soft_usd {
        return None;
    }
    let left = soft_usd - spend_usd;
    let date_ms = if rate <= 0.0 || left <= 0.0 {
        now_ms
    } else {
        let at = now_ms as f64 + left / rate * 1000.0;
        (at.min(end as f64)) as i64
    };
    Some(Projection {
        spend: projected,
        exceeded_date: iso_date(date_ms),
    })
}

/// `_project_to_month_end`: the month's daily average so far, over the days left.
fn project_to_month_end(spend: f64, soft: f64, now_ms: i64) -> Option<Projection> {
    let today = day_start(now_ms);
    let (y, m, d) = civil_from_days(today.div_euclid(DAY_MS));
    let remaining_days = f64::from(days_in_month(y, m) - d);
    let daily = spend / f64::from(d.saturating_sub(1).max(1));
    let projected = spend + daily * remaining_days;
    if projected <= soft {
        return None;
    }
    let left = soft - spend;
    let date_ms = if daily <= 0.0 || left <= 0.0 {
        today
    } else {
        // `date + timedelta(days=x)` keeps whole days.
        today + (left / daily).floor() as i64 * DAY_MS
    };
    Some(Projection {
        spend: projected,
        exceeded_date: iso_date(date_ms),
    })
}

/// The raw values behind one holder's LiteLLM budget gauges. Envoy gauges are unsigned
/// integers and a remaining budget can be negative, so the filter exports the two non-negative
/// parts and the shipped recording rules (`envoy/prometheus/spend-rules.yaml`) rebuild LiteLLM's
/// values: remaining = (max − spend) / 1e12, max = max / 1e12, hours = (reset_at − time()) / 3600.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetGauges {
    /// `..._max_budget_metric_picodollars`: only for a holder with a max budget.
    pub max_budget_pico: Option<u64>,
    /// `..._budget_spend_metric_picodollars`: spend in the current period.
    pub spend_pico: u64,
    /// `..._budget_reset_at_metric_seconds`: when the period ends (Unix seconds), if it does.
    pub reset_at_seconds: Option<u64>,
}

/// The gauge values of a holder whose spend is `state`.
pub fn gauges(budget: &Budget, state: &SpendState) -> BudgetGauges {
    BudgetGauges {
        max_budget_pico: budget.max_budget,
        spend_pico: state.spend,
        reset_at_seconds: state
            .reset_at_ms
            .and_then(|ms| u64::try_from(ms.div_euclid(1000)).ok()),
    }
}

/// LiteLLM's remaining budget in USD (`max_budget - spend`; `+inf` without a max budget).
pub fn remaining_usd(budget: &Budget, spend: u64) -> f64 {
    match budget.max_budget {
        Some(max) => super::money::pico_diff_usd(max, spend),
        None => f64::INFINITY,
    }
}

/// LiteLLM's `_get_remaining_hours_for_budget_reset`: hours until `reset_at_ms` (negative once
/// it has passed).
pub fn remaining_hours(reset_at_ms: i64, now_ms: i64) -> f64 {
    (reset_at_ms - now_ms) as f64 / 3_600_000.0
}

/// One dollar in pico-dollars, for callers converting USD limits.
pub const ONE_USD: u64 = PICO_PER_USD;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::budget::{dedup_key, slack_message, webhook_json};
    use crate::spend::period::{parse_datetime, BudgetDuration};
    use crate::spend::store::SpendState;

    const KEY_HASH: &str = "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b";

    fn who() -> Identity<'static> {
        Identity {
            hashed_api_key: Some(KEY_HASH),
            key_alias: Some("ci-key"),
            user_id: Some("u1"),
            team_id: Some("t1"),
            team_alias: Some("Team One"),
            ..Identity::default()
        }
    }

    fn key_budget() -> Budget {
        // max_budget: 0.0001, soft_budget: 0.00005 (the issue's walk).
        Budget {
            max_budget: Some(100_000_000),
            soft_budget: Some(50_000_000),
            reset: ResetPolicy::Never,
        }
    }

    fn update(before: u64, after: u64) -> SpendUpdate {
        SpendUpdate {
            before,
            after: SpendState {
                spend: after,
                reset_at_ms: None,
            },
            reset: false,
            replaced_unreadable: false,
        }
    }

    /// June 15th: the month-end projection of a key without a period is then predictable.
    fn mid_june() -> i64 {
        parse_datetime("2026-06-15T12:00:00Z").unwrap()
    }

    #[test]
    fn refusals_follow_litellm_comparisons() {
        let b = |max| Budget {
            max_budget: Some(max),
            soft_budget: None,
            reset: ResetPolicy::Never,
        };
        let st = |spend| SpendState {
            spend,
            reset_at_ms: None,
        };
        let w = who();
        // Keys and users: at the budget; teams and end users: above it.
        assert!(check(HolderKind::Key, &b(100), Some(&st(100)), &w).is_some());
        assert!(check(HolderKind::Key, &b(100), Some(&st(99)), &w).is_none());
        assert!(check(HolderKind::User, &b(100), Some(&st(100)), &w).is_some());
        assert!(check(HolderKind::Team, &b(100), Some(&st(100)), &w).is_none());
        assert!(check(HolderKind::Team, &b(100), Some(&st(101)), &w).is_some());
        assert!(check(HolderKind::EndUser, &b(100), Some(&st(101)), &w).is_some());
        // A key with max_budget 0 is refused at once; a provider or proxy limit of 0 is no limit.
        assert!(check(HolderKind::Key, &b(0), Some(&st(0)), &w).is_some());
        assert!(check(HolderKind::Provider, &b(0), Some(&st(5)), &w).is_none());
        assert!(check(HolderKind::Proxy, &b(0), Some(&st(5)), &w).is_none());
        assert!(check(HolderKind::Provider, &b(5), Some(&st(5)), &w).is_some());
        // Unknown spend or no max budget: never refused.
        assert!(check(HolderKind::Key, &b(0), None, &w).is_none());
        assert!(check(
            HolderKind::Key,
            &key_budget_without_max(),
            Some(&st(u64::MAX)),
            &w
        )
        .is_none());
    }

    fn key_budget_without_max() -> Budget {
        Budget {
            max_budget: None,
            soft_budget: Some(1),
            reset: ResetPolicy::Never,
        }
    }

    #[test]
    fn refusal_bodies_are_litellms() {
        let st = SpendState {
            spend: 100_300_000,
            reset_at_ms: None,
        };
        let e = check(HolderKind::Key, &key_budget(), Some(&st), &who()).unwrap();
        assert_eq!(
            e.body(429),
            r#"{"error":{"message":"Budget has been exceeded! Key=ci-key Current cost: 0.0001003, Max budget: 0.0001","type":"budget_exceeded","param":null,"code":"429"}}"#
        );
        let anon = Identity::default();
        let e = check(HolderKind::Key, &key_budget(), Some(&st), &anon).unwrap();
        assert!(e
            .message
            .starts_with("Budget has been exceeded! Key=key Current cost"));
        let b = Budget {
            max_budget: Some(ONE_USD),
            soft_budget: None,
            reset: ResetPolicy::Never,
        };
        let st = SpendState {
            spend: 2 * ONE_USD,
            reset_at_ms: None,
        };
        let msg = |kind| {
            check(
                kind,
                &b,
                Some(&st),
                &Identity {
                    end_user: Some("cust \"x\""),
                    provider: Some("openai"),
                    ..who()
                },
            )
            .unwrap()
            .message
        };
        assert_eq!(
            msg(HolderKind::Team),
            "Budget has been exceeded! Team=t1 Current cost: 2.0, Max budget: 1.0"
        );
        assert_eq!(
            msg(HolderKind::User),
            "ExceededBudget: User=u1 over budget. Spend=2.0, Budget=1.0"
        );
        assert_eq!(
            msg(HolderKind::EndUser),
            "ExceededBudget: End User=cust \"x\" over budget. Spend=2.0, Budget=1.0"
        );
        assert_eq!(
            msg(HolderKind::Proxy),
            "Budget has been exceeded! Current cost: 2.0, Max budget: 1.0"
        );
        assert_eq!(
            msg(HolderKind::Provider),
            "No deployments available - crossed budget: Exceeded budget for provider openai: 2.0 >= 1.0\n"
        );
        // An attacker-chosen end user id is JSON-escaped, never breaks the body.
        let e = check(
            HolderKind::EndUser,
            &b,
            Some(&st),
            &Identity {
                end_user: Some("a\"}\n"),
                ..who()
            },
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&e.body(422)).unwrap();
        assert_eq!(
            v["error"]["message"],
            "ExceededBudget: End User=a\"}\n over budget. Spend=2.0, Budget=1.0"
        );
        assert_eq!(v["error"]["code"], "422");
    }

    /// The issue's walk: spend crosses the soft budget, then 85%, 95%, then the max budget, one
    /// request at a time. Each step raises what LiteLLM's check would newly say; after the
    /// engine's de-duplication (one key per event and key) exactly one alert per event remains.
    #[test]
    fn walking_past_soft_threshold_and_max_budget() {
        let b = key_budget();
        let w = who();
        let steps: [(u64, u64); 6] = [
            (0, 40_000_000),           // 40%: the projection (mid-month) passes the soft budget
            (40_000_000, 60_000_000),  // soft budget crossed
            (60_000_000, 70_000_000),  // still only the soft budget: nothing new
            (70_000_000, 86_000_000),  // 14% left: threshold
            (86_000_000, 96_000_000),  // 4% left: threshold again (same de-duplication key)
            (96_000_000, 101_000_000), // budget crossed
        ];
        let mut said: Vec<Vec<(BudgetAlertKind, BudgetEvent, String)>> = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        for (before, after) in steps {
            let mut step = Vec::new();
            for (kind, info) in
                alerts_after_spend(HolderKind::Key, &b, &w, &update(before, after), mid_june())
            {
                let (event, message) = evaluate(kind, &info).unwrap();
                keys.push(dedup_key(event, kind, &info));
                step.push((kind, event, message));
            }
            said.push(step);
        }
        use BudgetAlertKind::{
            ProjectedLimitExceeded as Projected, SoftBudget as Soft, TokenBudget as Token,
        };
        use BudgetEvent::*;
        let s = |k, e, m: &str| (k, e, m.to_owned());
        assert_eq!(
            said,
            vec![
                vec![s(Projected, ProjectedLimitExceeded, "Key Budget: Projected Limit Exceeded")],
                vec![
                    s(Token, SoftBudgetCrossed, "Key Budget: Total Soft Budget:`5e-05`"),
                    s(Soft, SoftBudgetCrossed, "Soft Budget Crossed: Total Soft Budget:`5e-05`"),
                ],
                vec![],
                vec![
                    s(Token, ThresholdCrossed, "Key Budget: Total Soft Budget:`5e-05`15% or less of budget remaining"),
                    s(Soft, ThresholdCrossed, "Soft Budget Crossed: Total Soft Budget:`5e-05`15% or less of budget remaining"),
                ],
                vec![
                    s(Token, ThresholdCrossed, "Key Budget: Total Soft Budget:`5e-05`5% or less of budget remaining"),
                    s(Soft, ThresholdCrossed, "Soft Budget Crossed: Total Soft Budget:`5e-05`5% or less of budget remaining"),
                ],
                vec![
                    s(Token, BudgetCrossed, "Key Budget: Total Soft Budget:`5e-05`Budget Crossed\n Total Budget:`0.0001`"),
                    s(Soft, BudgetCrossed, "Soft Budget Crossed: Total Soft Budget:`5e-05`Budget Crossed\n Total Budget:`0.0001`"),
                ],
            ]
        );
        keys.sort_unstable();
        keys.dedup();
        let key = |e: &str| format!("budget_alerts:{e}:{KEY_HASH}");
        assert_eq!(
            keys,
            vec![
                key("budget_crossed"),
                key("projected_limit_exceeded"),
                key("soft_budget_crossed"),
                key("threshold_crossed")
            ]
        );
    }

    #[test]
    fn key_alert_payloads_as_litellm_sends_them() {
        let alerts = alerts_after_spend(
            HolderKind::Key,
            &key_budget(),
            &who(),
            &update(96_000_000, 100_000_000),
            mid_june(),
        );
        let (kind, info) = &alerts[0];
        assert_eq!(*kind, BudgetAlertKind::TokenBudget);
        let (event, message) = evaluate(*kind, info).unwrap();
        assert_eq!(
            slack_message(&message, info),
            "Key Budget: Total Soft Budget:`5e-05`Budget Crossed\n Total Budget:`0.0001`\n\n*spend:* `0.0001`\n*max_budget:* `0.0001`\n*soft_budget:* `5e-05`\n*user_id:* `u1`\n*team_id:* `t1`\n*key_alias:* `ci-key`\n*event_group:* `key`\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(&webhook_json(info, event, &message)).unwrap();
        assert_eq!(json["event"], "budget_crossed");
        assert_eq!(json["token"], KEY_HASH);
        assert_eq!(
            json["team_alias"],
            serde_json::Value::Null,
            "token_budget carries no team alias"
        );
        assert_eq!(
            alerts[1].1.team_alias.as_deref(),
            Some("Team One"),
            "soft_budget does"
        );
    }

    #[test]
    fn team_user_and_proxy_alerts() {
        let b = Budget {
            max_budget: Some(ONE_USD),
            soft_budget: None,
            reset: ResetPolicy::Never,
        };
        let w = who();
        // Teams alert only once over (strictly), with the key's token.
        assert!(alerts_after_spend(HolderKind::Team, &b, &w, &update(0, ONE_USD), 0).is_empty());
        let t = alerts_after_spend(HolderKind::Team, &b, &w, &update(ONE_USD, ONE_USD + 1), 0);
        assert_eq!(t.len(), 1);
        let (kind, info) = &t[0];
        assert_eq!(
            (*kind, info.event_group, info.token.as_deref()),
            (
                BudgetAlertKind::TeamBudget,
                EventGroup::Team,
                Some(KEY_HASH)
            )
        );
        assert_eq!(
            dedup_key(BudgetEvent::BudgetCrossed, *kind, info),
            "budget_alerts:budget_crossed:t1"
        );
        // Users: thresholds too; the payload has the user's id and email only.
        let u = alerts_after_spend(HolderKind::User, &b, &w, &update(0, ONE_USD * 9 / 10), 0);
        assert_eq!(u.len(), 1);
        let (event, message) = evaluate(u[0].0, &u[0].1).unwrap();
        assert_eq!(event, BudgetEvent::ThresholdCrossed);
        assert!(message.starts_with("User Budget: 15%"), "{message}");
        assert_eq!(
            (u[0].1.user_id.as_deref(), u[0].1.token.as_deref()),
            (Some("u1"), None)
        );
        // Proxy: user_id is LiteLLM's admin name.
        let p = alerts_after_spend(HolderKind::Proxy, &b, &w, &update(0, 2 * ONE_USD), 0);
        assert_eq!(p[0].1.user_id.as_deref(), Some(PROXY_ADMIN_NAME));
        assert_eq!(
            dedup_key(BudgetEvent::BudgetCrossed, p[0].0, &p[0].1),
            "budget_alerts:budget_crossed:default_id"
        );
        // End users and providers have no budget alerts in LiteLLM.
        assert!(
            alerts_after_spend(HolderKind::EndUser, &b, &w, &update(0, 2 * ONE_USD), 0).is_empty()
        );
        assert!(
            alerts_after_spend(HolderKind::Provider, &b, &w, &update(0, 2 * ONE_USD), 0).is_empty()
        );
        // A spend that changes nothing LiteLLM would say raises nothing.
        assert!(alerts_after_spend(HolderKind::User, &b, &w, &update(1, 2), 0).is_empty());
    }

    #[test]
    fn projections_within_a_period_and_to_month_end() {
        let d = BudgetDuration::parse("30d").unwrap();
        let b = Budget {
            max_budget: None,
            soft_budget: Some(10 * ONE_USD),
            reset: ResetPolicy::Calendar {
                duration: d,
                time_of_day_ms: 0,
                first_reset_ms: None,
            },
        };
        let end = parse_datetime("2027-01-01T00:00:00Z").unwrap();
        // 10 days into a 31-day December window with $5 spent: $0.5/day → $15.5 by the end; $10
        // is reached after 10 more days: 2026-12-21.
        let now = parse_datetime("2026-12-11T00:00:00Z").unwrap();
        let p = projected_over_soft(5 * ONE_USD, 10 * ONE_USD, &b, Some(end), now).unwrap();
        assert!((p.spend - 15.5).abs() < 1e-9, "{}", p.spend);
        assert_eq!(p.exceeded_date, "2026-12-21");
        // Under the soft budget at this pace: nothing.
        assert_eq!(
            projected_over_soft(3 * ONE_USD, 10 * ONE_USD, &b, Some(end), now),
            None
        );
        // Already over: today.
        let p = projected_over_soft(12 * ONE_USD, 10 * ONE_USD, &b, Some(end), now).unwrap();
        assert_eq!(p.exceeded_date, "2026-12-11");
        // Without a period: the month's daily average. June 15th, $7 over 14 days → $0.5/day,
        // 15 days left → $14.5; $10 after 6 more whole days: June 21st.
        let never = Budget {
            reset: ResetPolicy::Never,
            ..b
        };
        let p = projected_over_soft(7 * ONE_USD, 10 * ONE_USD, &never, None, mid_june()).unwrap();
        assert!((p.spend - 14.5).abs() < 1e-9);
        assert_eq!(p.exceeded_date, "2026-06-21");
    }

    #[test]
    fn gauge_values_rebuild_litellms() {
        let b = key_budget();
        let st = SpendState {
            spend: 130_000_000,
            reset_at_ms: Some(1_796_216_891_500),
        };
        let g = gauges(&b, &st);
        assert_eq!(
            g,
            BudgetGauges {
                max_budget_pico: Some(100_000_000),
                spend_pico: 130_000_000,
                reset_at_seconds: Some(1_796_216_891)
            }
        );
        // What the recording rule computes, and what LiteLLM shows: a negative remainder.
        assert_eq!(remaining_usd(&b, st.spend), -3e-05);
        assert_eq!(remaining_usd(&key_budget_without_max(), 5), f64::INFINITY);
        assert_eq!(remaining_hours(7_200_000 + 1_800_000, 0), 2.5);
        assert_eq!(remaining_hours(0, 1_800_000), -0.5);
    }
}
