//! Alert types and levels in LiteLLM's vocabulary.

use serde::{Deserialize, Serialize};

/// Every alert type name LiteLLM accepts in `alert_types` and `alert_to_webhook_url`.
///
/// The filter produces only the types it can observe from traffic (see [`AlertType::observable`]);
/// the others are accepted in configuration (so a LiteLLM config loads unchanged) and reported as
/// ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertType {
    /// An upstream call failed (5xx, 429, 408, connection failure).
    LlmExceptions,
    /// A response took longer than `alerting_threshold`.
    LlmTooSlow,
    /// A request is still unfinished after `alerting_threshold`.
    LlmRequestsHanging,
    /// Budget crossed / threshold crossed / soft budget crossed.
    BudgetAlerts,
    /// Weekly/monthly spend per team and tag (needs LiteLLM's database: not observable).
    SpendReports,
    /// Spend could not be computed for a request (e.g. no price known for the model).
    FailedTrackingSpend,
    /// Database read/write failures (no database here: not observable).
    DbExceptions,
    /// Periodic report: slowest deployments and deployments with most failures.
    DailyReports,
    /// A deployment was put into cooldown (here: reached the major outage threshold).
    CooldownDeployment,
    /// A model was added through `/model/new` (not observable).
    NewModelAdded,
    /// Deprecated models in the router's model list (not observable).
    ModelDeprecationWarnings,
    /// Errors on one deployment within `outage_alert_ttl`.
    OutageAlerts,
    /// Errors across several models of one provider region within `region_outage_alert_ttl`.
    RegionOutageAlerts,
    /// Weekly fallback statistics (not observable).
    FallbackReports,
    /// Management event (not observable).
    NewVirtualKeyCreated,
    /// Management event (not observable).
    VirtualKeyUpdated,
    /// Management event (not observable).
    VirtualKeyDeleted,
    /// Management event (not observable).
    NewTeamCreated,
    /// Management event (not observable).
    TeamUpdated,
    /// Management event (not observable).
    TeamDeleted,
    /// Management event (not observable).
    NewInternalUserCreated,
    /// Management event (not observable).
    InternalUserUpdated,
    /// Management event (not observable).
    InternalUserDeleted,
}

impl AlertType {
    /// All types, in LiteLLM's declaration order; `ALL[t.index()] == t`.
    pub const ALL: [AlertType; 23] = [
        AlertType::LlmExceptions,
        AlertType::LlmTooSlow,
        AlertType::LlmRequestsHanging,
        AlertType::BudgetAlerts,
        AlertType::SpendReports,
        AlertType::FailedTrackingSpend,
        AlertType::DbExceptions,
        AlertType::DailyReports,
        AlertType::CooldownDeployment,
        AlertType::NewModelAdded,
        AlertType::ModelDeprecationWarnings,
        AlertType::OutageAlerts,
        AlertType::RegionOutageAlerts,
        AlertType::FallbackReports,
        AlertType::NewVirtualKeyCreated,
        AlertType::VirtualKeyUpdated,
        AlertType::VirtualKeyDeleted,
        AlertType::NewTeamCreated,
        AlertType::TeamUpdated,
        AlertType::TeamDeleted,
        AlertType::NewInternalUserCreated,
        AlertType::InternalUserUpdated,
        AlertType::InternalUserDeleted,
    ];

    /// Number of alert types (size of per-type tables).
    pub const COUNT: usize = Self::ALL.len();

    /// LiteLLM's name, e.g. `llm_exceptions`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertType::LlmExceptions => "llm_exceptions",
            AlertType::LlmTooSlow => "llm_too_slow",
            AlertType::LlmRequestsHanging => "llm_requests_hanging",
            AlertType::BudgetAlerts => "budget_alerts",
            AlertType::SpendReports => "spend_reports",
            AlertType::FailedTrackingSpend => "failed_tracking_spend",
            AlertType::DbExceptions => "db_exceptions",
            AlertType::DailyReports => "daily_reports",
            AlertType::CooldownDeployment => "cooldown_deployment",
            AlertType::NewModelAdded => "new_model_added",
            AlertType::ModelDeprecationWarnings => "model_deprecation_warnings",
            AlertType::OutageAlerts => "outage_alerts",
            AlertType::RegionOutageAlerts => "region_outage_alerts",
            AlertType::FallbackReports => "fallback_reports",
            AlertType::NewVirtualKeyCreated => "new_virtual_key_created",
            AlertType::VirtualKeyUpdated => "virtual_key_updated",
            AlertType::VirtualKeyDeleted => "virtual_key_deleted",
            AlertType::NewTeamCreated => "new_team_created",
            AlertType::TeamUpdated => "team_updated",
            AlertType::TeamDeleted => "team_deleted",
            AlertType::NewInternalUserCreated => "new_internal_user_created",
            AlertType::InternalUserUpdated => "internal_user_updated",
            AlertType::InternalUserDeleted => "internal_user_deleted",
        }
    }

    /// The type named `name` (LiteLLM's spelling), if any.
    pub fn from_name(name: &str) -> Option<AlertType> {
        Self::ALL.iter().copied().find(|t| t.as_str() == name)
    }

    /// Position in [`AlertType::ALL`], for per-type tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the filter can produce this alert from what it sees (traffic, timing, prices).
    pub fn observable(self) -> bool {
        matches!(
            self,
            AlertType::LlmExceptions
                | AlertType::LlmTooSlow
                | AlertType::LlmRequestsHanging
                | AlertType::BudgetAlerts
                | AlertType::FailedTrackingSpend
                | AlertType::DailyReports
                | AlertType::CooldownDeployment
                | AlertType::OutageAlerts
                | AlertType::RegionOutageAlerts
        )
    }

    /// On when `alert_types` is not configured: LiteLLM's `DEFAULT_ALERT_TYPES` (everything but
    /// the management events).
    pub fn default_on(self) -> bool {
        self.index() <= AlertType::FallbackReports.index()
    }
}

/// Severity shown as ``Level: `High` `` in the alert text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Informational (slow responses, reports, cooldowns).
    Low,
    /// Calls might fail (hanging requests, minor outages).
    Medium,
    /// Calls are failing (exceptions, major outages, budgets).
    High,
}

impl Level {
    /// LiteLLM's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "Low",
            Level::Medium => "Medium",
            Level::High => "High",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_index_matches_position() {
        for (i, t) in AlertType::ALL.iter().enumerate() {
            assert_eq!(t.index(), i);
            assert_eq!(AlertType::from_name(t.as_str()), Some(*t));
            // serde uses the same spelling (the event queue carries these).
            assert_eq!(
                serde_json::to_string(t).unwrap(),
                format!("\"{}\"", t.as_str())
            );
        }
        assert_eq!(AlertType::from_name("llm_exception"), None);
    }

    #[test]
    fn defaults_exclude_management_events_only() {
        let on: Vec<&str> = AlertType::ALL
            .iter()
            .filter(|t| t.default_on())
            .map(|t| t.as_str())
            .collect();
        assert_eq!(on.len(), 14);
        assert!(on.contains(&"fallback_reports"));
        assert!(!on.contains(&"new_virtual_key_created"));
    }
}
