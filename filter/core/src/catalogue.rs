//! LiteLLM's Prometheus metric families that a proxy filter can observe: names, types, label
//! keys in LiteLLM's declaration order, and histogram buckets. Facts from LiteLLM 1.106.2
//! (`../shared/spec`). Where names changed between releases the filter emits 1.106.2's
//! (`litellm_remaining_requests_metric`); the older names LiteLLM's published dashboards still
//! query are rebuilt by recording rules in the shipped Prometheus rules, not emitted twice.

/// Declares [`Label`], [`LABEL_COUNT`], [`ALL_LABELS`] and [`Label::as_str`] from one list, so
/// the variants, their order and their names cannot drift apart.
macro_rules! labels {
    ($($variant:ident => $name:literal,)*) => {
        /// One label key. The string form is the Prometheus label name LiteLLM uses.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Label {
            $($variant,)*
        }

        /// Every label in discriminant order (`ALL_LABELS[l as usize] == l`).
        pub const ALL_LABELS: &[Label] = &[$(Label::$variant, )*];

        impl Label {
            /// The Prometheus label name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Label::$variant => $name,)*
                }
            }
        }
    };
}

labels! {
    EndUser => "end_user",
    HashedApiKey => "hashed_api_key",
    ApiKeyAlias => "api_key_alias",
    RequestedModel => "requested_model",
    Team => "team",
    TeamAlias => "team_alias",
    User => "user",
    UserEmail => "user_email",
    ExceptionStatus => "exception_status",
    ExceptionClass => "exception_class",
    Route => "route",
    ClientIp => "client_ip",
    UserAgent => "user_agent",
    ModelId => "model_id",
    ApiProvider => "api_provider",
    OrgId => "org_id",
    OrgAlias => "org_alias",
    StatusCode => "status_code",
    ModelGroup => "model_group",
    Model => "model",
    ServiceTier => "service_tier",
    LitellmModelName => "litellm_model_name",
    ApiBase => "api_base",
    Stream => "stream",
    GenAiOperationName => "gen_ai_operation_name",
    GenAiProviderName => "gen_ai_provider_name",
    GenAiRequestModel => "gen_ai_request_model",
    GenAiResponseModel => "gen_ai_response_model",
    ErrorType => "error_type",
}

/// Number of [`Label`] variants: sizes per-request label arrays.
pub const LABEL_COUNT: usize = ALL_LABELS.len();

impl Label {
    /// The label with this Prometheus name.
    pub fn from_name(name: &str) -> Option<Label> {
        ALL_LABELS.iter().copied().find(|l| l.as_str() == name)
    }
}

/// Prometheus metric type as LiteLLM declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// The filter's own families, beside LiteLLM's: their one list. The core's and the adapter's
/// counters name them from here, and a test holds the README's "own metrics" table to [`own::ALL`].
pub mod own {
    use super::Kind;

    /// One of the filter's own families: its Envoy stat name and the label keys it carries.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct OwnFamily {
        pub name: &'static str,
        pub kind: Kind,
        pub labels: &'static [&'static str],
    }

    pub const UNREADABLE_BODIES: &str = "llm_telemetry_unreadable_bodies_total";
    pub const STREAMS_WITHOUT_USAGE: &str = "llm_telemetry_streams_without_usage_total";
    pub const STREAM_USAGE_INJECTED: &str = "llm_telemetry_stream_usage_injected_total";
    pub const LABEL_VALUES_FOLDED: &str = "llm_telemetry_label_values_folded_total";
    pub const SERIES_FOLDED: &str = "llm_telemetry_series_folded_total";
    pub const STAT_DEFINITIONS: &str = "llm_telemetry_stat_definitions_total";
    pub const STAT_DEFINITIONS_DEFERRED: &str = "llm_telemetry_stat_definitions_deferred_total";
    pub const STAT_DEFINITION_MICROSECONDS: &str =
        "llm_telemetry_stat_definition_microseconds_total";
    /// Gauge: 1 while the last plugin configuration received could not be used.
    pub const CONFIG_INVALID: &str = "llm_telemetry_config_invalid";
    /// Alerts queued, sent, failed, retried, dropped and deduplicated.
    pub const ALERTS: &str = "llm_telemetry_alerts_total";
    /// Worker events lost before reaching the alerting leader.
    pub const ALERT_EVENTS_DROPPED: &str = "llm_telemetry_alert_events_dropped_total";
    /// Deployment outcomes lost before reaching the health coordinator.
    pub const HEALTH_OUTCOMES_DROPPED: &str = "llm_telemetry_health_outcomes_dropped_total";
    /// Logging's delivery outcomes (those of `OutboxCounters::outcomes`).
    pub const LOGS: &str = "llm_telemetry_logs_total";
    /// Requests whose model has no price (spend not tracked).
    pub const SPEND_UNTRACKED: &str = "llm_telemetry_spend_untracked_requests_total";
    /// Costs neither written to shared data nor kept pending.
    pub const SPEND_LOST: &str = "llm_telemetry_spend_lost_total";

    const fn counter(name: &'static str, labels: &'static [&'static str]) -> OwnFamily {
        OwnFamily {
            name,
            kind: Kind::Counter,
            labels,
        }
    }

    /// Every one of them, in the README table's order.
    pub const ALL: [OwnFamily; 15] = [
        counter(UNREADABLE_BODIES, &["reason", "route"]),
        counter(STREAMS_WITHOUT_USAGE, &["route"]),
        counter(STREAM_USAGE_INJECTED, &["route"]),
        counter(LABEL_VALUES_FOLDED, &["label"]),
        counter(SERIES_FOLDED, &[]),
        counter(STAT_DEFINITIONS, &[]),
        counter(STAT_DEFINITION_MICROSECONDS, &[]),
        counter(STAT_DEFINITIONS_DEFERRED, &[]),
        counter(ALERTS, &["alert_type", "outcome"]),
        OwnFamily {
            name: CONFIG_INVALID,
            kind: Kind::Gauge,
            labels: &[],
        },
        counter(LOGS, &["destination", "outcome"]),
        counter(ALERT_EVENTS_DROPPED, &["reason"]),
        counter(HEALTH_OUTCOMES_DROPPED, &["reason"]),
        counter(SPEND_UNTRACKED, &[]),
        counter(SPEND_LOST, &[]),
    ];
}

/// The families this filter emits. The discriminant indexes [`FAMILIES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FamilyId {
    ProxyFailedRequests,
    ProxyTotalRequests,
    RequestTotalLatency,
    LlmApiLatency,
    TimeToFirstToken,
    TotalTokens,
    InputTokens,
    OutputTokens,
    InputCachedTokens,
    InputCacheCreationTokens,
    InputAudioTokens,
    OutputReasoningTokens,
    OutputAudioTokens,
    RemainingRequests,
    RemainingTokens,
    OverheadLatency,
    DeploymentState,
    DeploymentTpmLimit,
    DeploymentRpmLimit,
    DeploymentCooledDown,
    DeploymentSuccessResponses,
    DeploymentFailureResponses,
    DeploymentTotalRequests,
    DeploymentLatencyPerOutputToken,
    LlmApiFailedRequests,
    Requests,
    ProviderCacheReadInputTokens,
    ProviderCacheCreationInputTokens,
    // The OpenTelemetry gen_ai vocabulary (`telemetry_settings.metric_names`, see
    // [`crate::gen_ai`]): one token-usage family per `gen_ai.token.type`.
    GenAiTokenUsageInput,
    GenAiTokenUsageOutput,
    GenAiTokenUsageCachedInput,
    GenAiTokenUsageCacheCreationInput,
    GenAiTokenUsageReasoning,
    GenAiOperationDuration,
    GenAiTimeToFirstToken,
    GenAiTimePerOutputToken,
    // Spend and budgets, in `spend::families::FAMILIES` order: integer units, the shipped
    // recording rules rebuild LiteLLM's series from them.
    Spend,
    ApiKeyMaxBudget,
    ApiKeyBudgetSpend,
    ApiKeyBudgetResetAt,
    TeamMaxBudget,
    TeamBudgetSpend,
    TeamBudgetResetAt,
    UserMaxBudget,
    UserBudgetSpend,
    UserBudgetResetAt,
    CustomerMaxBudget,
    CustomerBudgetSpend,
    CustomerBudgetResetAt,
    ProviderMaxBudget,
    ProviderBudgetSpend,
}

/// Number of emitted families.
pub const FAMILY_COUNT: usize = FamilyId::ProviderBudgetSpend as usize + 1;

/// The first spend family: from here on, [`FAMILIES`] follows `spend::families::FAMILIES`.
pub const FIRST_SPEND_FAMILY: FamilyId = FamilyId::Spend;

/// A metric family: what LiteLLM calls it and which labels it carries.
#[derive(Debug)]
pub struct Family {
    pub id: FamilyId,
    /// LiteLLM's name, without the `_total` a counter gets in the exposition.
    pub name: &'static str,
    pub kind: Kind,
    /// Label keys in LiteLLM's declaration order.
    pub labels: &'static [Label],
    /// Upper bounds in seconds (the implicit `+Inf` is not listed); empty unless a histogram.
    pub buckets: &'static [Bucket],
    /// A label every series of the family carries with a fixed value (`gen_ai_token_type`).
    pub fixed_label: Option<(&'static str, &'static str)>,
    /// Whether a label whose value is unknown is left out of the name rather than written
    /// `None`: an OpenTelemetry exporter omits an attribute that was not set.
    pub omit_unknown: bool,
    /// The histogram sum's suffix: `_sum_microseconds` for seconds (Envoy holds integers; a
    /// recording rule rebuilds `_sum`), `_sum` for tokens (exact as it is).
    pub sum_suffix: &'static str,
}

/// A histogram bucket bound: the `le` text LiteLLM's client prints and the bound in microseconds,
/// the integer unit the filter measures in.
#[derive(Debug)]
pub struct Bucket {
    pub le: &'static str,
    pub micros: u64,
}

macro_rules! buckets {
    ($($le:literal => $us:literal),* $(,)?) => { &[$(Bucket { le: $le, micros: $us }),*] };
}

/// LiteLLM's `LATENCY_BUCKETS`, in seconds.
pub const LATENCY_BUCKETS: &[Bucket] = buckets![
    "0.005" => 5_000, "0.01" => 10_000, "0.025" => 25_000, "0.05" => 50_000, "0.1" => 100_000,
    "0.25" => 250_000, "0.5" => 500_000, "1.0" => 1_000_000, "2.0" => 2_000_000,
    "5.0" => 5_000_000, "10.0" => 10_000_000, "30.0" => 30_000_000, "60.0" => 60_000_000,
    "120.0" => 120_000_000, "300.0" => 300_000_000, "420.0" => 420_000_000,
    "600.0" => 600_000_000,
];

/// Buckets of `litellm_deployment_latency_per_output_token`, in seconds per token.
pub const PER_TOKEN_BUCKETS: &[Bucket] = buckets![
    "0.005" => 5_000, "0.01" => 10_000, "0.025" => 25_000, "0.05" => 50_000,
    "0.075" => 75_000, "0.1" => 100_000, "0.25" => 250_000, "0.5" => 500_000,
    "0.75" => 750_000, "1.0" => 1_000_000, "2.5" => 2_500_000, "5.0" => 5_000_000,
    "7.5" => 7_500_000, "10.0" => 10_000_000,
];

use Label::*;

#[rustfmt::skip]
const PROXY_FAILED: &[Label] = &[EndUser, HashedApiKey, ApiKeyAlias, RequestedModel, Team, TeamAlias, User, UserEmail, ExceptionStatus, ExceptionClass, Route, ClientIp, UserAgent, ModelId, ApiProvider, OrgId, OrgAlias];
#[rustfmt::skip]
const PROXY_TOTAL: &[Label] = &[EndUser, HashedApiKey, ApiKeyAlias, RequestedModel, Team, TeamAlias, User, StatusCode, UserEmail, Route, ClientIp, UserAgent, ModelId, ApiProvider, OrgId, OrgAlias];
#[rustfmt::skip]
const REQUEST_LATENCY: &[Label] = &[ModelGroup, EndUser, HashedApiKey, ApiKeyAlias, RequestedModel, Team, TeamAlias, User, Model, ModelId, ApiProvider, ServiceTier, OrgId, OrgAlias];
#[rustfmt::skip]
const API_LATENCY: &[Label] = &[ModelGroup, Model, HashedApiKey, ApiKeyAlias, Team, TeamAlias, RequestedModel, EndUser, User, ModelId, ApiProvider, ServiceTier, OrgId, OrgAlias];
#[rustfmt::skip]
const TOKENS: &[Label] = &[EndUser, HashedApiKey, ApiKeyAlias, Model, Team, TeamAlias, User, UserEmail, RequestedModel, ModelId, ApiProvider, OrgId, OrgAlias];
// LiteLLM's token-detail counters carry the token labels without the org pair.
const TOKEN_DETAILS: &[Label] = match TOKENS.split_at_checked(TOKENS.len() - 2) {
    Some((head, _)) => head,
    None => TOKENS,
};
#[rustfmt::skip]
const DEPLOYMENT_HEADROOM: &[Label] = &[ModelGroup, ApiProvider, ApiBase, LitellmModelName, HashedApiKey, ApiKeyAlias, ModelId];
#[rustfmt::skip]
const DEPLOYMENT_STATE: &[Label] = &[LitellmModelName, ModelId, ApiBase, ApiProvider];
#[rustfmt::skip]
const DEPLOYMENT_LIMIT: &[Label] = &[ModelGroup, LitellmModelName, ModelId, ApiBase, ApiProvider];
#[rustfmt::skip]
const DEPLOYMENT_COOLED: &[Label] = &[LitellmModelName, ModelId, ApiBase, ApiProvider, ExceptionStatus];
#[rustfmt::skip]
const DEPLOYMENT_RESPONSES: &[Label] = &[ModelGroup, RequestedModel, LitellmModelName, ModelId, ApiBase, ApiProvider, HashedApiKey, ApiKeyAlias, Team, TeamAlias, ClientIp, UserAgent];
#[rustfmt::skip]
const DEPLOYMENT_FAILURES: &[Label] = &[ModelGroup, RequestedModel, LitellmModelName, ModelId, ApiBase, ApiProvider, ExceptionStatus, ExceptionClass, HashedApiKey, ApiKeyAlias, Team, TeamAlias, ClientIp, UserAgent];
#[rustfmt::skip]
const PER_TOKEN_LATENCY: &[Label] = &[ModelGroup, LitellmModelName, ModelId, ApiBase, ApiProvider, HashedApiKey, ApiKeyAlias, Team, TeamAlias, OrgId, OrgAlias];
#[rustfmt::skip]
const LLM_API_FAILED: &[Label] = &[EndUser, HashedApiKey, ApiKeyAlias, Model, Team, TeamAlias, User, ModelId];
#[rustfmt::skip]
const REQUESTS: &[Label] = &[EndUser, HashedApiKey, ApiKeyAlias, Model, Team, TeamAlias, User, UserEmail, ClientIp, UserAgent, RequestedModel, ModelId, ApiProvider, OrgId, OrgAlias];
#[rustfmt::skip]
const PROVIDER_CACHE: &[Label] = &[Model, HashedApiKey, ApiKeyAlias, Team, TeamAlias, EndUser, User, ModelId, ApiProvider];

macro_rules! family {
    ($id:ident, $name:literal, $kind:ident, $labels:expr) => {
        family!($id, $name, $kind, $labels, &[])
    };
    ($id:ident, $name:literal, $kind:ident, $labels:expr, $buckets:expr) => {
        Family {
            id: FamilyId::$id,
            name: $name,
            kind: Kind::$kind,
            labels: $labels,
            buckets: $buckets,
            fixed_label: None,
            omit_unknown: false,
            sum_suffix: "_sum_microseconds",
        }
    };
}

/// A gen_ai histogram family ([`crate::gen_ai::GEN_AI_FAMILIES`] names and buckets).
macro_rules! gen_ai_family {
    ($id:ident, $metric:ident, $labels:expr, $fixed:expr, $sum:literal) => {
        Family {
            id: FamilyId::$id,
            name: GenAiMetric::$metric.family().prometheus_name,
            kind: Kind::Histogram,
            labels: $labels,
            buckets: GenAiMetric::$metric.family().buckets,
            fixed_label: $fixed,
            omit_unknown: true,
            sum_suffix: $sum,
        }
    };
}

/// A token-usage family for one `gen_ai.token.type`.
macro_rules! token_usage_family {
    ($id:ident, $token_type:ident) => {
        gen_ai_family!(
            $id,
            ClientTokenUsage,
            GEN_AI_TOKENS,
            Some((
                GenAiAttribute::TokenType.label(),
                TokenType::$token_type.as_str()
            )),
            "_sum"
        )
    };
}

use crate::gen_ai::{GenAiAttribute, GenAiMetric, TokenType};

// The gen_ai attributes a proxy fills (`server.address` / `server.port` are left out: the
// upstream is already `api_base`, and Envoy reports the IP it connected to).
#[rustfmt::skip]
const GEN_AI_TOKENS: &[Label] = &[GenAiOperationName, GenAiProviderName, GenAiRequestModel, GenAiResponseModel];
#[rustfmt::skip]
const GEN_AI_DURATION: &[Label] = &[GenAiOperationName, GenAiProviderName, ErrorType, GenAiRequestModel, GenAiResponseModel];

/// Every family the filter emits, indexed by [`FamilyId`].
pub const FAMILIES: [Family; FAMILY_COUNT] = [
    family!(
        ProxyFailedRequests,
        "litellm_proxy_failed_requests_metric",
        Counter,
        PROXY_FAILED
    ),
    family!(
        ProxyTotalRequests,
        "litellm_proxy_total_requests_metric",
        Counter,
        PROXY_TOTAL
    ),
    family!(
        RequestTotalLatency,
        "litellm_request_total_latency_metric",
        Histogram,
        REQUEST_LATENCY,
        LATENCY_BUCKETS
    ),
    family!(
        LlmApiLatency,
        "litellm_llm_api_latency_metric",
        Histogram,
        API_LATENCY,
        LATENCY_BUCKETS
    ),
    family!(
        TimeToFirstToken,
        "litellm_llm_api_time_to_first_token_metric",
        Histogram,
        API_LATENCY,
        LATENCY_BUCKETS
    ),
    family!(TotalTokens, "litellm_total_tokens_metric", Counter, TOKENS),
    family!(InputTokens, "litellm_input_tokens_metric", Counter, TOKENS),
    family!(
        OutputTokens,
        "litellm_output_tokens_metric",
        Counter,
        TOKENS
    ),
    family!(
        InputCachedTokens,
        "litellm_input_cached_tokens_metric",
        Counter,
        TOKEN_DETAILS
    ),
    family!(
        InputCacheCreationTokens,
        "litellm_input_cache_creation_tokens_metric",
        Counter,
        TOKEN_DETAILS
    ),
    family!(
        InputAudioTokens,
        "litellm_input_audio_tokens_metric",
        Counter,
        TOKEN_DETAILS
    ),
    family!(
        OutputReasoningTokens,
        "litellm_output_reasoning_tokens_metric",
        Counter,
        TOKEN_DETAILS
    ),
    family!(
        OutputAudioTokens,
        "litellm_output_audio_tokens_metric",
        Counter,
        TOKEN_DETAILS
    ),
    family!(
        RemainingRequests,
        "litellm_remaining_requests_metric",
        Gauge,
        DEPLOYMENT_HEADROOM
    ),
    family!(
        RemainingTokens,
        "litellm_remaining_tokens_metric",
        Gauge,
        DEPLOYMENT_HEADROOM
    ),
    family!(
        OverheadLatency,
        "litellm_overhead_latency_metric",
        Histogram,
        DEPLOYMENT_HEADROOM,
        LATENCY_BUCKETS
    ),
    family!(
        DeploymentState,
        "litellm_deployment_state",
        Gauge,
        DEPLOYMENT_STATE
    ),
    family!(
        DeploymentTpmLimit,
        "litellm_deployment_tpm_limit",
        Gauge,
        DEPLOYMENT_LIMIT
    ),
    family!(
        DeploymentRpmLimit,
        "litellm_deployment_rpm_limit",
        Gauge,
        DEPLOYMENT_LIMIT
    ),
    family!(
        DeploymentCooledDown,
        "litellm_deployment_cooled_down",
        Counter,
        DEPLOYMENT_COOLED
    ),
    family!(
        DeploymentSuccessResponses,
        "litellm_deployment_success_responses",
        Counter,
        DEPLOYMENT_RESPONSES
    ),
    family!(
        DeploymentFailureResponses,
        "litellm_deployment_failure_responses",
        Counter,
        DEPLOYMENT_FAILURES
    ),
    family!(
        DeploymentTotalRequests,
        "litellm_deployment_total_requests",
        Counter,
        DEPLOYMENT_RESPONSES
    ),
    family!(
        DeploymentLatencyPerOutputToken,
        "litellm_deployment_latency_per_output_token",
        Histogram,
        PER_TOKEN_LATENCY,
        PER_TOKEN_BUCKETS
    ),
    family!(
        LlmApiFailedRequests,
        "litellm_llm_api_failed_requests_metric",
        Counter,
        LLM_API_FAILED
    ),
    family!(Requests, "litellm_requests_metric", Counter, REQUESTS),
    family!(
        ProviderCacheReadInputTokens,
        "litellm_provider_cache_read_input_tokens_metric",
        Counter,
        PROVIDER_CACHE
    ),
    family!(
        ProviderCacheCreationInputTokens,
        "litellm_provider_cache_creation_input_tokens_metric",
        Counter,
        PROVIDER_CACHE
    ),
    token_usage_family!(GenAiTokenUsageInput, Input),
    token_usage_family!(GenAiTokenUsageOutput, Output),
    token_usage_family!(GenAiTokenUsageCachedInput, CachedInput),
    token_usage_family!(GenAiTokenUsageCacheCreationInput, CacheCreationInput),
    token_usage_family!(GenAiTokenUsageReasoning, Reasoning),
    gen_ai_family!(
        GenAiOperationDuration,
        ClientOperationDuration,
        GEN_AI_DURATION,
        None,
        "_sum_microseconds"
    ),
    gen_ai_family!(
        GenAiTimeToFirstToken,
        ServerTimeToFirstToken,
        GEN_AI_TOKENS,
        None,
        "_sum_microseconds"
    ),
    gen_ai_family!(
        GenAiTimePerOutputToken,
        ServerTimePerOutputToken,
        GEN_AI_TOKENS,
        None,
        "_sum_microseconds"
    ),
    spend_family(FamilyId::Spend),
    spend_family(FamilyId::ApiKeyMaxBudget),
    spend_family(FamilyId::ApiKeyBudgetSpend),
    spend_family(FamilyId::ApiKeyBudgetResetAt),
    spend_family(FamilyId::TeamMaxBudget),
    spend_family(FamilyId::TeamBudgetSpend),
    spend_family(FamilyId::TeamBudgetResetAt),
    spend_family(FamilyId::UserMaxBudget),
    spend_family(FamilyId::UserBudgetSpend),
    spend_family(FamilyId::UserBudgetResetAt),
    spend_family(FamilyId::CustomerMaxBudget),
    spend_family(FamilyId::CustomerBudgetSpend),
    spend_family(FamilyId::CustomerBudgetResetAt),
    spend_family(FamilyId::ProviderMaxBudget),
    spend_family(FamilyId::ProviderBudgetSpend),
];

/// A spend family's catalogue entry, from its definition in `spend::families`.
const fn spend_family(id: FamilyId) -> Family {
    let f = &crate::spend::families::FAMILIES[id as usize - FIRST_SPEND_FAMILY as usize];
    Family {
        id,
        name: f.name,
        kind: f.kind,
        labels: f.labels,
        buckets: &[],
        fixed_label: None,
        omit_unknown: false,
        sum_suffix: "_sum",
    }
}

impl FamilyId {
    /// The family's catalogue entry.
    pub fn family(self) -> &'static Family {
        &FAMILIES[self as usize]
    }
}

impl Family {
    /// Whether the family is one of the OpenTelemetry gen_ai vocabulary's (else LiteLLM's).
    pub const fn is_gen_ai(&self) -> bool {
        self.omit_unknown
    }
}

impl Label {
    /// Whether the label belongs to the gen_ai families (its `stats_tags` regex is needed only
    /// when they are emitted).
    pub const fn is_gen_ai(self) -> bool {
        matches!(
            self,
            Label::GenAiOperationName
                | Label::GenAiProviderName
                | Label::GenAiRequestModel
                | Label::GenAiResponseModel
                | Label::ErrorType
        )
    }
}

/// The emitted LiteLLM family with this LiteLLM name.
pub fn family_by_name(name: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.name == name && !f.is_gen_ai())
}

/// Every metric name LiteLLM 1.106 defines (including the release's `_metric` spellings), so a
/// LiteLLM `prometheus_metrics_config` that names one the filter cannot produce is accepted
/// (and logged as ignored) instead of refused.
pub const LITELLM_METRIC_NAMES: &[&str] = &[
    "litellm_proxy_failed_requests_metric",
    "litellm_proxy_total_requests_metric",
    "litellm_request_total_latency_metric",
    "litellm_llm_api_latency_metric",
    "litellm_llm_api_time_to_first_token_metric",
    "litellm_spend_metric",
    "litellm_total_tokens_metric",
    "litellm_input_tokens_metric",
    "litellm_output_tokens_metric",
    "litellm_input_cached_tokens_metric",
    "litellm_input_cache_creation_tokens_metric",
    "litellm_input_audio_tokens_metric",
    "litellm_output_reasoning_tokens_metric",
    "litellm_output_audio_tokens_metric",
    "litellm_video_duration_seconds_metric",
    "litellm_images_generated_metric",
    "litellm_remaining_team_budget_metric",
    "litellm_team_max_budget_metric",
    "litellm_team_budget_remaining_hours_metric",
    "litellm_team_members_metric",
    "litellm_remaining_org_budget_metric",
    "litellm_org_max_budget_metric",
    "litellm_org_budget_remaining_hours_metric",
    "litellm_remaining_api_key_budget_metric",
    "litellm_api_key_max_budget_metric",
    "litellm_api_key_budget_remaining_hours_metric",
    "litellm_remaining_user_budget_metric",
    "litellm_user_max_budget_metric",
    "litellm_user_budget_remaining_hours_metric",
    "litellm_remaining_customer_budget_metric",
    "litellm_customer_max_budget_metric",
    "litellm_customer_budget_remaining_hours_metric",
    "litellm_remaining_api_key_requests_for_model",
    "litellm_remaining_api_key_tokens_for_model",
    "litellm_api_key_rate_limit_allowed_metric",
    "litellm_api_key_rate_limit_used_metric",
    "litellm_team_rate_limit_allowed_metric",
    "litellm_team_rate_limit_used_metric",
    "litellm_project_model_rate_limit_allowed_metric",
    "litellm_project_model_rate_limit_used_metric",
    "litellm_remaining_requests",
    "litellm_remaining_tokens",
    "litellm_remaining_requests_metric",
    "litellm_remaining_tokens_metric",
    "litellm_overhead_latency_metric",
    "litellm_overhead_with_guardrails_latency_metric",
    "litellm_request_queue_time_seconds",
    "litellm_guardrail_latency_seconds",
    "litellm_guardrail_errors",
    "litellm_guardrail_requests",
    "litellm_provider_remaining_budget_metric",
    "litellm_deployment_state",
    "litellm_deployment_tpm_limit",
    "litellm_deployment_rpm_limit",
    "litellm_deployment_cooled_down",
    "litellm_deployment_success_responses",
    "litellm_deployment_failure_responses",
    "litellm_deployment_total_requests",
    "litellm_deployment_latency_per_output_token",
    "litellm_deployment_successful_fallbacks",
    "litellm_deployment_failed_fallbacks",
    "litellm_callback_logging_failures_metric",
    "litellm_llm_api_failed_requests_metric",
    "litellm_requests_metric",
    "litellm_zero_cost_requests",
    "litellm_spend_capture_rate",
    "litellm_cache_hits_metric",
    "litellm_cache_misses_metric",
    "litellm_cached_tokens_metric",
    "litellm_provider_cache_read_input_tokens_metric",
    "litellm_provider_cache_creation_input_tokens_metric",
    "litellm_total_users",
    "litellm_active_users",
    "litellm_teams_count",
];

/// Label keys of the filter's own metrics (`llm_telemetry_*`), beside LiteLLM's.
pub const OWN_LABELS: &[&str] = &["alert_type", "destination", "label", "outcome", "reason"];

/// Every label key that must have a `stats_tags` regex in Envoy's bootstrap (sorted): LiteLLM's,
/// the filter's own, and `le` for histogram buckets. Custom metadata/tag labels come on top.
pub fn stats_tag_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = ALL_LABELS
        .iter()
        .filter(|l| !l.is_gen_ai())
        .map(|l| l.as_str())
        .collect();
    keys.extend_from_slice(OWN_LABELS);
    keys.push("le");
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The label keys of the gen_ai families (sorted): their `stats_tags` regexes, added to the
/// bootstrap only when `telemetry_settings.metric_names` emits the gen_ai vocabulary (every
/// regex costs every new stat a run, see the metrics module).
pub fn gen_ai_stats_tag_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = ALL_LABELS
        .iter()
        .filter(|l| l.is_gen_ai())
        .map(|l| l.as_str())
        .collect();
    keys.push(GenAiAttribute::TokenType.label());
    keys.sort_unstable();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_indexed_by_their_id() {
        for (i, f) in FAMILIES.iter().enumerate() {
            assert_eq!(f.id as usize, i, "{}", f.name);
        }
        for (i, l) in ALL_LABELS.iter().enumerate() {
            assert_eq!(*l as usize, i);
        }
    }

    #[test]
    fn every_emitted_family_is_a_litellm_name() {
        for f in &FAMILIES {
            // Spend families are integer stats that recording rules turn into LiteLLM's series
            // (`spend::families` checks those); gen_ai families are OpenTelemetry's names.
            let spend = f.id as usize >= FIRST_SPEND_FAMILY as usize;
            assert_eq!(
                LITELLM_METRIC_NAMES.contains(&f.name),
                !f.is_gen_ai() && !spend,
                "{}",
                f.name
            );
            assert_eq!(
                f.kind == Kind::Histogram,
                !f.buckets.is_empty(),
                "{}",
                f.name
            );
        }
    }

    #[test]
    fn buckets_are_increasing_and_match_their_text() {
        for b in LATENCY_BUCKETS.iter().chain(PER_TOKEN_BUCKETS) {
            let secs: f64 = b.le.parse().unwrap();
            assert_eq!((secs * 1e6).round() as u64, b.micros);
        }
        assert!(LATENCY_BUCKETS
            .windows(2)
            .all(|w| w[0].micros < w[1].micros));
        assert!(PER_TOKEN_BUCKETS
            .windows(2)
            .all(|w| w[0].micros < w[1].micros));
    }

    /// `envoy/stats-tags.yaml` is shipped to operators; it must carry a regex for every key.
    #[test]
    fn shipped_stats_tags_cover_every_label_key() {
        let yaml = include_str!("../../../envoy/stats-tags.yaml");
        let (litellm, gen_ai) = yaml.split_once("\ngen_ai_stats_tags:").unwrap();
        let names = |part: &'static str| -> Vec<&'static str> {
            part.lines()
                .filter_map(|l| l.trim().strip_prefix("- tag_name: "))
                .collect()
        };
        assert_eq!(names(litellm), stats_tag_keys());
        assert_eq!(names(gen_ai), gen_ai_stats_tag_keys());
        for k in stats_tag_keys().into_iter().chain(gen_ai_stats_tag_keys()) {
            let regex = crate::labels::stats_tag_regex(k);
            assert!(yaml.contains(&format!("regex: '{regex}'")), "{k}");
        }
    }
}
