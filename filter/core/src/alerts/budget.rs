//! Budget alerts in LiteLLM's two shapes: the Slack text and the generic webhook JSON.
//!
//! Pure functions; the engine adds de-duplication per (event, id) for `budget_alert_ttl`.
//! The spend module (future) decides when to call them; this module decides what is said.

use serde::{Deserialize, Serialize};

use super::escape::{self, Format};
use super::text::py_float;

/// Which budget was checked (LiteLLM's `type` argument of `budget_alerts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetAlertKind {
    /// A virtual key's budget.
    TokenBudget,
    /// An internal user's budget.
    UserBudget,
    /// A key's or team's soft budget.
    SoftBudget,
    /// A key's max budget (alert-only variant).
    MaxBudgetAlert,
    /// A team's budget.
    TeamBudget,
    /// An organization's budget.
    OrganizationBudget,
    /// The whole proxy's budget.
    ProxyBudget,
    /// A key's projected spend exceeds its soft budget.
    ProjectedLimitExceeded,
    /// A project's budget.
    ProjectBudget,
}

impl BudgetAlertKind {
    /// The start of LiteLLM's `event_message`.
    pub fn event_message_prefix(self) -> &'static str {
        match self {
            BudgetAlertKind::ProxyBudget => "Proxy Budget: ",
            BudgetAlertKind::SoftBudget => "Soft Budget Crossed: ",
            BudgetAlertKind::UserBudget => "User Budget: ",
            BudgetAlertKind::TeamBudget => "Team Budget: ",
            BudgetAlertKind::OrganizationBudget => "Organization Budget: ",
            BudgetAlertKind::TokenBudget | BudgetAlertKind::MaxBudgetAlert => "Key Budget: ",
            BudgetAlertKind::ProjectedLimitExceeded => "Key Budget: Projected Limit Exceeded",
            BudgetAlertKind::ProjectBudget => "Project Budget: ",
        }
    }

    /// The id alerts are de-duplicated by, as LiteLLM's `get_id`.
    pub fn dedup_id(self, info: &CallInfo) -> String {
        let pick = |v: &Option<String>| v.clone().unwrap_or_else(|| "default_id".to_string());
        match self {
            BudgetAlertKind::ProxyBudget => "default_id".to_string(),
            BudgetAlertKind::SoftBudget if info.event_group == EventGroup::Team => {
                pick(&info.team_id)
            }
            BudgetAlertKind::UserBudget => pick(&info.user_id),
            BudgetAlertKind::TeamBudget => pick(&info.team_id),
            BudgetAlertKind::OrganizationBudget => pick(&info.organization_id),
            _ => pick(&info.token),
        }
    }
}

/// Who the budget belongs to (`event_group`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventGroup {
    /// An end user (`customer_id`).
    EndUser,
    /// An internal user.
    User,
    /// A virtual key.
    Key,
    /// A team.
    Team,
    /// An organization.
    Organization,
    /// The proxy as a whole.
    Proxy,
}

impl EventGroup {
    /// LiteLLM's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EventGroup::EndUser => "end_user",
            EventGroup::User => "user",
            EventGroup::Key => "key",
            EventGroup::Team => "team",
            EventGroup::Organization => "organization",
            EventGroup::Proxy => "proxy",
        }
    }
}

/// What happened (`event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetEvent {
    /// Spend recorded for a customer (generic webhook only).
    SpendTracked,
    /// Spend ≥ max budget.
    BudgetCrossed,
    /// ≤ 15% or ≤ 5% of the max budget left (one de-duplication key for both).
    ThresholdCrossed,
    /// Spend ≥ soft budget.
    SoftBudgetCrossed,
    /// Projected spend exceeds the soft budget.
    ProjectedLimitExceeded,
}

impl BudgetEvent {
    /// LiteLLM's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetEvent::SpendTracked => "spend_tracked",
            BudgetEvent::BudgetCrossed => "budget_crossed",
            BudgetEvent::ThresholdCrossed => "threshold_crossed",
            BudgetEvent::SoftBudgetCrossed => "soft_budget_crossed",
            BudgetEvent::ProjectedLimitExceeded => "projected_limit_exceeded",
        }
    }
}

/// LiteLLM's `CallInfo`: the budget holder and its numbers. Field order is LiteLLM's: it is the
/// order of the Slack lines and of the generic webhook JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallInfo {
    /// Current spend (USD).
    pub spend: f64,
    /// Max budget, if set.
    #[serde(default)]
    pub max_budget: Option<f64>,
    /// Soft budget, if set.
    #[serde(default)]
    pub soft_budget: Option<f64>,
    /// Hashed key (`hashed_api_key`), never the raw key.
    #[serde(default)]
    pub token: Option<String>,
    /// End user id.
    #[serde(default)]
    pub customer_id: Option<String>,
    /// Internal user id.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Team id.
    #[serde(default)]
    pub team_id: Option<String>,
    /// Team alias.
    #[serde(default)]
    pub team_alias: Option<String>,
    /// Organization id.
    #[serde(default)]
    pub organization_id: Option<String>,
    /// User email.
    #[serde(default)]
    pub user_email: Option<String>,
    /// Key alias.
    #[serde(default)]
    pub key_alias: Option<String>,
    /// When the soft budget is projected to be exceeded.
    #[serde(default)]
    pub projected_exceeded_date: Option<String>,
    /// Projected spend.
    #[serde(default)]
    pub projected_spend: Option<f64>,
    /// Whose budget.
    pub event_group: EventGroup,
    /// Extra recipients (email channel, carried for completeness).
    #[serde(default)]
    pub alert_emails: Option<Vec<String>>,
    /// Recipients of max-budget emails (carried for completeness).
    #[serde(default)]
    pub max_budget_alert_emails: Option<Vec<String>>,
}

/// Decides the event and its message as LiteLLM's `_get_event_and_event_message`: the soft
/// budget first, then the max budget (crossed, ≤ 5% left, ≤ 15% left). `None`: nothing to say.
pub fn evaluate(kind: BudgetAlertKind, info: &CallInfo) -> Option<(BudgetEvent, String)> {
    let mut event = (kind == BudgetAlertKind::ProjectedLimitExceeded)
        .then_some(BudgetEvent::ProjectedLimitExceeded);
    if info.max_budget.is_none() && info.soft_budget.is_none() {
        return None;
    }
    let mut message = kind.event_message_prefix().to_string();
    if let Some(soft) = info.soft_budget {
        if info.spend >= soft {
            event = Some(BudgetEvent::SoftBudgetCrossed);
            message.push_str(&format!("Total Soft Budget:`{}`", py_float(soft)));
        }
    }
    if let Some(max) = info.max_budget {
        let left = if max > 0.0 {
            (max - info.spend) / max
        } else {
            0.0
        };
        if info.spend >= max {
            event = Some(BudgetEvent::BudgetCrossed);
            message.push_str(&format!(
                "Budget Crossed\n Total Budget:`{}`",
                py_float(max)
            ));
        } else if left <= 0.05 {
            event = Some(BudgetEvent::ThresholdCrossed);
            message.push_str("5% or less of budget remaining");
        } else if left <= 0.15 {
            event = Some(BudgetEvent::ThresholdCrossed);
            message.push_str("15% or less of budget remaining");
        }
    }
    event.map(|e| (e, message))
}

/// The de-duplication key LiteLLM uses: `budget_alerts:{event}:{id}`.
pub fn dedup_key(event: BudgetEvent, kind: BudgetAlertKind, info: &CallInfo) -> String {
    format!("budget_alerts:{}:{}", event.as_str(), kind.dedup_id(info))
}

fn py_list(items: &[String]) -> String {
    let inner: Vec<String> = items
        .iter()
        .map(|s| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")))
        .collect();
    format!("[{}]", inner.join(", "))
}

/// The Slack message: `event_message`, a blank line, then one ``*field:* `value` `` line per set
/// field except `token` (LiteLLM's `_get_user_info_str`).
pub fn slack_message(event_message: &str, info: &CallInfo) -> String {
    let mut lines = String::new();
    let mut line = |k: &str, v: String| lines.push_str(&format!("*{k}:* `{v}`\n"));
    line("spend", py_float(info.spend));
    let strs: [(&str, &Option<String>); 8] = [
        ("customer_id", &info.customer_id),
        ("user_id", &info.user_id),
        ("team_id", &info.team_id),
        ("team_alias", &info.team_alias),
        ("organization_id", &info.organization_id),
        ("user_email", &info.user_email),
        ("key_alias", &info.key_alias),
        ("projected_exceeded_date", &info.projected_exceeded_date),
    ];
    if let Some(v) = info.max_budget {
        line("max_budget", py_float(v));
    }
    if let Some(v) = info.soft_budget {
        line("soft_budget", py_float(v));
    }
    for (k, v) in strs {
        if let Some(v) = v {
            line(k, escape::mrkdwn(v).into_owned());
        }
    }
    if let Some(v) = info.projected_spend {
        line("projected_spend", py_float(v));
    }
    line("event_group", info.event_group.as_str().to_string());
    if let Some(v) = &info.alert_emails {
        line("alert_emails", escape::mrkdwn(&py_list(v)).into_owned());
    }
    if let Some(v) = &info.max_budget_alert_emails {
        line(
            "max_budget_alert_emails",
            escape::mrkdwn(&py_list(v)).into_owned(),
        );
    }
    format!("{event_message}\n\n{lines}")
}

#[derive(Serialize)]
struct WebhookEvent<'a> {
    #[serde(flatten)]
    info: &'a CallInfo,
    event: BudgetEvent,
    event_message: &'a str,
}

/// The generic webhook body: compact JSON of every `CallInfo` field (unset ones as `null`), then
/// `event` and `event_message`, in LiteLLM's order.
pub fn webhook_json(info: &CallInfo, event: BudgetEvent, event_message: &str) -> String {
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(|s| escape::value(s, Format::Json).into_owned())
    };
    let list = |v: &Option<Vec<String>>| {
        v.as_ref().map(|l| {
            l.iter()
                .map(|s| escape::value(s, Format::Json).into_owned())
                .collect()
        })
    };
    // Ids, aliases and emails come from clients (end users) or identity headers.
    let info = CallInfo {
        token: text(&info.token),
        customer_id: text(&info.customer_id),
        user_id: text(&info.user_id),
        team_id: text(&info.team_id),
        team_alias: text(&info.team_alias),
        organization_id: text(&info.organization_id),
        user_email: text(&info.user_email),
        key_alias: text(&info.key_alias),
        projected_exceeded_date: text(&info.projected_exceeded_date),
        alert_emails: list(&info.alert_emails),
        max_budget_alert_emails: list(&info.max_budget_alert_emails),
        ..info.clone()
    };
    serde_json::to_string(&WebhookEvent {
        info: &info,
        event,
        event_message,
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(spend: f64, max: Option<f64>) -> CallInfo {
        CallInfo {
            spend,
            max_budget: max,
            soft_budget: None,
            token: Some("88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b".into()),
            customer_id: None,
            user_id: Some("default_user_id".into()),
            team_id: None,
            team_alias: None,
            organization_id: None,
            user_email: None,
            key_alias: None,
            projected_exceeded_date: None,
            projected_spend: None,
            event_group: EventGroup::Key,
            alert_emails: None,
            max_budget_alert_emails: None,
        }
    }

    #[test]
    fn budget_crossed_matches_litellm_text_and_json() {
        let info = user(1.0, Some(0.0));
        let (event, msg) = evaluate(BudgetAlertKind::UserBudget, &info).unwrap();
        assert_eq!(event, BudgetEvent::BudgetCrossed);
        assert_eq!(msg, "User Budget: Budget Crossed\n Total Budget:`0.0`");
        assert_eq!(
            slack_message(&msg, &info),
            "User Budget: Budget Crossed\n Total Budget:`0.0`\n\n*spend:* `1.0`\n*max_budget:* `0.0`\n*user_id:* `default_user_id`\n*event_group:* `key`\n"
        );
        assert_eq!(
            webhook_json(&info, event, &msg),
            concat!(
                r#"{"spend":1.0,"max_budget":0.0,"soft_budget":null,"#,
                r#""token":"88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b","#,
                r#""customer_id":null,"user_id":"default_user_id","team_id":null,"team_alias":null,"#,
                r#""organization_id":null,"user_email":null,"key_alias":null,"projected_exceeded_date":null,"#,
                r#""projected_spend":null,"event_group":"key","alert_emails":null,"max_budget_alert_emails":null,"#,
                r#""event":"budget_crossed","event_message":"User Budget: Budget Crossed\n Total Budget:`0.0`"}"#
            )
        );
        assert_eq!(
            dedup_key(event, BudgetAlertKind::UserBudget, &info),
            "budget_alerts:budget_crossed:default_user_id"
        );
    }

    #[test]
    fn thresholds_and_soft_budget() {
        let t = |spend, max| evaluate(BudgetAlertKind::TeamBudget, &user(spend, Some(max)));
        assert_eq!(
            t(96.0, 100.0),
            Some((
                BudgetEvent::ThresholdCrossed,
                "Team Budget: 5% or less of budget remaining".into()
            ))
        );
        assert_eq!(
            t(86.0, 100.0),
            Some((
                BudgetEvent::ThresholdCrossed,
                "Team Budget: 15% or less of budget remaining".into()
            ))
        );
        assert_eq!(t(50.0, 100.0), None);
        assert_eq!(
            evaluate(BudgetAlertKind::TeamBudget, &user(50.0, None)),
            None
        );
        let mut info = user(12.5, None);
        info.soft_budget = Some(10.0);
        info.event_group = EventGroup::Team;
        info.team_id = Some("t1".into());
        let (e, m) = evaluate(BudgetAlertKind::SoftBudget, &info).unwrap();
        assert_eq!(
            (e, m.as_str()),
            (
                BudgetEvent::SoftBudgetCrossed,
                "Soft Budget Crossed: Total Soft Budget:`10.0`"
            )
        );
        assert_eq!(
            dedup_key(e, BudgetAlertKind::SoftBudget, &info),
            "budget_alerts:soft_budget_crossed:t1"
        );
        // 5% and 15% share one key, as the spec says.
        let a = user(96.0, Some(100.0));
        assert_eq!(
            dedup_key(
                BudgetEvent::ThresholdCrossed,
                BudgetAlertKind::TokenBudget,
                &a
            ),
            format!(
                "budget_alerts:threshold_crossed:{}",
                a.token.clone().unwrap()
            )
        );
    }

    #[test]
    fn client_values_are_inert_in_both_shapes() {
        let mut info = user(1.0, Some(0.0));
        info.customer_id = Some("x-<!channel>\n*spend:* `0`".into());
        let (event, msg) = evaluate(BudgetAlertKind::UserBudget, &info).unwrap();
        assert!(slack_message(&msg, &info)
            .contains("*customer_id:* `x-&lt;!channel&gt;\\n*spend:* '0'`\n"));
        let json: serde_json::Value =
            serde_json::from_str(&webhook_json(&info, event, &msg)).unwrap();
        assert_eq!(json["customer_id"], "x-<!channel>\\n*spend:* `0`");
    }

    #[test]
    fn projected_limit_keeps_its_event_unless_budget_is_crossed() {
        let mut info = user(5.0, None);
        info.soft_budget = Some(100.0);
        info.projected_spend = Some(150.5);
        let (e, m) = evaluate(BudgetAlertKind::ProjectedLimitExceeded, &info).unwrap();
        assert_eq!(
            (e, m.as_str()),
            (
                BudgetEvent::ProjectedLimitExceeded,
                "Key Budget: Projected Limit Exceeded"
            )
        );
        assert!(slack_message(&m, &info).contains(
            "*soft_budget:* `100.0`\n*user_id:* `default_user_id`\n*projected_spend:* `150.5`\n"
        ));
        info.alert_emails = Some(vec!["a@b.c".into(), "it's@x".into()]);
        assert!(slack_message(&m, &info).ends_with("*alert_emails:* `['a@b.c', 'it\\'s@x']`\n"));
    }
}
