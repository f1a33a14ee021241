//! The OpenTelemetry gen_ai semantic conventions' client and server metrics, as data, and how an
//! OpenTelemetry Prometheus exporter names them: the second vocabulary beside LiteLLM's
//! ([`crate::catalogue`]), for teams coming from Envoy AI Gateway or an OpenTelemetry pipeline.
//!
//! Facts (semantic-conventions `docs/gen-ai/gen-ai-metrics.md`, status Development):
//! `gen_ai.client.token.usage` (histogram, `{token}`), `gen_ai.client.operation.duration`
//! (histogram, `s`), `gen_ai.server.time_to_first_token` and
//! `gen_ai.server.time_per_output_token` (histograms, `s`), each with the explicit bucket
//! boundaries the conventions advise and the attributes they list. `gen_ai.token.type` has two
//! well-known values, `input` and `output`; the conventions allow custom values, and
//! `cached_input`, `cache_creation_input` and `reasoning` are Envoy AI Gateway's (proposed in
//! semantic-conventions issue 1959).
//!
//! Prometheus names (OpenTelemetry specification, `compatibility/prometheus_and_openmetrics.md`):
//! characters outside `[a-zA-Z0-9_:]` become `_` and runs of `_` collapse; the unit is converted
//! (`s` → `seconds`, `ms` → `milliseconds`, `By` → `bytes`, `foo/bar` → `foo_per_bar`) and
//! appended unless the name already ends with it, and a unit in braces (`{token}`) is dropped;
//! a histogram becomes `_bucket{le=…}`, `_sum` and `_count`; attribute keys follow the same
//! character rule (`gen_ai.token.type` → `gen_ai_token_type`). Bucket bounds are printed as the
//! Go exporter (client_golang, behind the OpenTelemetry Collector) prints them: shortest form,
//! exponent notation from 1e6 (`1.048576e+06`). Exporters also add `otel_scope_name` /
//! `otel_scope_version` labels by default (configurable off); the filter has no instrumentation
//! scope and does not invent one.
//!
//! The catalogue ([`crate::catalogue`], `GenAi*` families) emits these tables when
//! `telemetry_settings.metric_names` is `gen_ai` or `both`.

use crate::catalogue::{Bucket, FamilyId};
use crate::route::{Api, NativeApi};
use crate::usage::Usage;

/// Which metric names the filter emits (`telemetry_settings.metric_names`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Vocabulary {
    /// LiteLLM's families only (the default).
    #[default]
    Litellm,
    /// The gen_ai families only.
    Otel,
    /// Both, side by side.
    Both,
}

impl Vocabulary {
    /// The setting's value as configured: `litellm`, `gen_ai` (or its alias `otel`) or `both`.
    pub fn from_setting(value: &str) -> Option<Vocabulary> {
        Some(match value {
            "litellm" => Vocabulary::Litellm,
            "gen_ai" | "otel" => Vocabulary::Otel,
            "both" => Vocabulary::Both,
            _ => return None,
        })
    }

    /// Whether LiteLLM's families are emitted.
    pub fn litellm(self) -> bool {
        self != Vocabulary::Otel
    }

    /// Whether the gen_ai families are emitted.
    pub fn otel(self) -> bool {
        self != Vocabulary::Litellm
    }
}

/// An attribute of the gen_ai metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GenAiAttribute {
    /// `gen_ai.operation.name` (required): [`operation_name`].
    OperationName,
    /// `gen_ai.provider.name` (required): [`provider_name`] of LiteLLM's `api_provider`.
    ProviderName,
    /// `gen_ai.token.type` (required on token usage): [`TokenType`].
    TokenType,
    /// `gen_ai.request.model` (conditionally required): the model the request named.
    RequestModel,
    /// `gen_ai.response.model` (recommended): the model the provider reported.
    ResponseModel,
    /// `error.type` (conditionally required, failed operations): [`error_type`].
    ErrorType,
    /// `server.address` (recommended): the upstream's host.
    ServerAddress,
    /// `server.port` (conditionally required with `server.address`): the upstream's port.
    ServerPort,
}

impl GenAiAttribute {
    /// The semantic-convention key (`gen_ai.token.type`).
    pub const fn key(self) -> &'static str {
        match self {
            GenAiAttribute::OperationName => "gen_ai.operation.name",
            GenAiAttribute::ProviderName => "gen_ai.provider.name",
            GenAiAttribute::TokenType => "gen_ai.token.type",
            GenAiAttribute::RequestModel => "gen_ai.request.model",
            GenAiAttribute::ResponseModel => "gen_ai.response.model",
            GenAiAttribute::ErrorType => "error.type",
            GenAiAttribute::ServerAddress => "server.address",
            GenAiAttribute::ServerPort => "server.port",
        }
    }

    /// The Prometheus label the exporter makes of it (`gen_ai_token_type`).
    pub const fn label(self) -> &'static str {
        match self {
            GenAiAttribute::OperationName => "gen_ai_operation_name",
            GenAiAttribute::ProviderName => "gen_ai_provider_name",
            GenAiAttribute::TokenType => "gen_ai_token_type",
            GenAiAttribute::RequestModel => "gen_ai_request_model",
            GenAiAttribute::ResponseModel => "gen_ai_response_model",
            GenAiAttribute::ErrorType => "error_type",
            GenAiAttribute::ServerAddress => "server_address",
            GenAiAttribute::ServerPort => "server_port",
        }
    }
}

/// The gen_ai metrics the filter can observe. The discriminant indexes [`GEN_AI_FAMILIES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum GenAiMetric {
    ClientTokenUsage,
    ClientOperationDuration,
    ServerTimeToFirstToken,
    ServerTimePerOutputToken,
}

/// What one observation is measured in, and the integer the filter records it as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// Tokens, recorded as they are.
    Tokens,
    /// Seconds, recorded in microseconds (Envoy holds integers; see the README's "Fractional
    /// units": the sum is exported as `_sum_microseconds` and rebuilt by a recording rule).
    Seconds,
}

/// One gen_ai metric family.
#[derive(Debug)]
pub struct GenAiFamily {
    pub id: GenAiMetric,
    /// The semantic-convention name (`gen_ai.client.token.usage`).
    pub name: &'static str,
    /// Its UCUM unit (`{token}`, `s`).
    pub unit: &'static str,
    pub description: &'static str,
    pub measure: Measure,
    /// The Prometheus base name the exporter gives it (`gen_ai_client_token_usage`,
    /// `gen_ai_client_operation_duration_seconds`); series add `_bucket`, `_sum`, `_count`.
    pub prometheus_name: &'static str,
    /// The attributes the conventions list, in their order.
    pub attributes: &'static [GenAiAttribute],
    /// The advised explicit bucket boundaries (the implicit `+Inf` not listed).
    pub buckets: &'static [Bucket],
}

/// The Prometheus series suffixes of a histogram.
pub const HISTOGRAM_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

macro_rules! buckets {
    ($($le:literal => $bound:literal),* $(,)?) => { &[$(Bucket { le: $le, micros: $bound }),*] };
}

/// `gen_ai.client.token.usage`: [1, 4, 16, …, 67108864] tokens (powers of 4). The bounds of
/// these gen_ai tables are [`Bucket`]s: `le` as the exporter prints it and the bound in the
/// recorded integer unit (tokens here, microseconds for the seconds tables).
pub const TOKEN_BUCKETS: &[Bucket] = buckets![
    "1" => 1, "4" => 4, "16" => 16, "64" => 64, "256" => 256, "1024" => 1_024, "4096" => 4_096,
    "16384" => 16_384, "65536" => 65_536, "262144" => 262_144, "1.048576e+06" => 1_048_576,
    "4.194304e+06" => 4_194_304, "1.6777216e+07" => 16_777_216, "6.7108864e+07" => 67_108_864,
];

/// `gen_ai.client.operation.duration`: [0.01, 0.02, …, 81.92] s (doubling).
pub const DURATION_BUCKETS: &[Bucket] = buckets![
    "0.01" => 10_000, "0.02" => 20_000, "0.04" => 40_000, "0.08" => 80_000, "0.16" => 160_000,
    "0.32" => 320_000, "0.64" => 640_000, "1.28" => 1_280_000, "2.56" => 2_560_000,
    "5.12" => 5_120_000, "10.24" => 10_240_000, "20.48" => 20_480_000, "40.96" => 40_960_000,
    "81.92" => 81_920_000,
];

/// `gen_ai.server.time_to_first_token`: [0.001, …, 10.0] s.
pub const TIME_TO_FIRST_TOKEN_BUCKETS: &[Bucket] = buckets![
    "0.001" => 1_000, "0.005" => 5_000, "0.01" => 10_000, "0.02" => 20_000, "0.04" => 40_000,
    "0.06" => 60_000, "0.08" => 80_000, "0.1" => 100_000, "0.25" => 250_000, "0.5" => 500_000,
    "0.75" => 750_000, "1" => 1_000_000, "2.5" => 2_500_000, "5" => 5_000_000,
    "7.5" => 7_500_000, "10" => 10_000_000,
];

/// `gen_ai.server.time_per_output_token`: [0.01, …, 2.5] s.
pub const TIME_PER_OUTPUT_TOKEN_BUCKETS: &[Bucket] = buckets![
    "0.01" => 10_000, "0.025" => 25_000, "0.05" => 50_000, "0.075" => 75_000, "0.1" => 100_000,
    "0.15" => 150_000, "0.2" => 200_000, "0.3" => 300_000, "0.4" => 400_000, "0.5" => 500_000,
    "0.75" => 750_000, "1" => 1_000_000, "2.5" => 2_500_000,
];

use GenAiAttribute as A;

const TOKEN_ATTRIBUTES: &[GenAiAttribute] = &[
    A::OperationName,
    A::ProviderName,
    A::TokenType,
    A::RequestModel,
    A::ServerPort,
    A::ResponseModel,
    A::ServerAddress,
];
const DURATION_ATTRIBUTES: &[GenAiAttribute] = &[
    A::OperationName,
    A::ProviderName,
    A::ErrorType,
    A::RequestModel,
    A::ServerPort,
    A::ResponseModel,
    A::ServerAddress,
];
const SERVER_ATTRIBUTES: &[GenAiAttribute] = &[
    A::OperationName,
    A::ProviderName,
    A::RequestModel,
    A::ServerPort,
    A::ResponseModel,
    A::ServerAddress,
];

/// Every gen_ai family, indexed by [`GenAiMetric`].
pub const GEN_AI_FAMILIES: [GenAiFamily; 4] = [
    GenAiFamily {
        id: GenAiMetric::ClientTokenUsage,
        name: "gen_ai.client.token.usage",
        unit: "{token}",
        description: "Number of input and output tokens used.",
        measure: Measure::Tokens,
        prometheus_name: "gen_ai_client_token_usage",
        attributes: TOKEN_ATTRIBUTES,
        buckets: TOKEN_BUCKETS,
    },
    GenAiFamily {
        id: GenAiMetric::ClientOperationDuration,
        name: "gen_ai.client.operation.duration",
        unit: "s",
        description: "GenAI operation duration.",
        measure: Measure::Seconds,
        prometheus_name: "gen_ai_client_operation_duration_seconds",
        attributes: DURATION_ATTRIBUTES,
        buckets: DURATION_BUCKETS,
    },
    GenAiFamily {
        id: GenAiMetric::ServerTimeToFirstToken,
        name: "gen_ai.server.time_to_first_token",
        unit: "s",
        description: "Time to generate first token for successful responses.",
        measure: Measure::Seconds,
        prometheus_name: "gen_ai_server_time_to_first_token_seconds",
        attributes: SERVER_ATTRIBUTES,
        buckets: TIME_TO_FIRST_TOKEN_BUCKETS,
    },
    GenAiFamily {
        id: GenAiMetric::ServerTimePerOutputToken,
        name: "gen_ai.server.time_per_output_token",
        unit: "s",
        description:
            "Time per output token generated after the first token for successful responses.",
        measure: Measure::Seconds,
        prometheus_name: "gen_ai_server_time_per_output_token_seconds",
        attributes: SERVER_ATTRIBUTES,
        buckets: TIME_PER_OUTPUT_TOKEN_BUCKETS,
    },
];

impl GenAiMetric {
    /// The family's entry.
    pub const fn family(self) -> &'static GenAiFamily {
        &GEN_AI_FAMILIES[self as usize]
    }
}

/// A `gen_ai.token.type` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// `input`: LiteLLM's prompt tokens (cached and cache-written ones included, as billed).
    Input,
    /// `output`: completion tokens (reasoning included).
    Output,
    /// `cached_input`: input tokens read from the provider's cache.
    CachedInput,
    /// `cache_creation_input`: input tokens written to the provider's cache.
    CacheCreationInput,
    /// `reasoning`: output tokens spent reasoning.
    Reasoning,
}

impl TokenType {
    /// Every token type, in the order observations are recorded.
    pub const ALL: [TokenType; 5] = [
        TokenType::Input,
        TokenType::Output,
        TokenType::CachedInput,
        TokenType::CacheCreationInput,
        TokenType::Reasoning,
    ];

    /// The attribute value.
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenType::Input => "input",
            TokenType::Output => "output",
            TokenType::CachedInput => "cached_input",
            TokenType::CacheCreationInput => "cache_creation_input",
            TokenType::Reasoning => "reasoning",
        }
    }

    /// The LiteLLM family counting the same tokens: with `metric_names: both`, each type's
    /// `gen_ai_client_token_usage_sum` equals that family's counter.
    pub const fn litellm_family(self) -> FamilyId {
        match self {
            TokenType::Input => FamilyId::InputTokens,
            TokenType::Output => FamilyId::OutputTokens,
            TokenType::CachedInput => FamilyId::InputCachedTokens,
            TokenType::CacheCreationInput => FamilyId::InputCacheCreationTokens,
            TokenType::Reasoning => FamilyId::OutputReasoningTokens,
        }
    }

    /// The gen_ai token-usage family of this type (a fixed `gen_ai_token_type` label).
    pub const fn usage_family(self) -> FamilyId {
        match self {
            TokenType::Input => FamilyId::GenAiTokenUsageInput,
            TokenType::Output => FamilyId::GenAiTokenUsageOutput,
            TokenType::CachedInput => FamilyId::GenAiTokenUsageCachedInput,
            TokenType::CacheCreationInput => FamilyId::GenAiTokenUsageCacheCreationInput,
            TokenType::Reasoning => FamilyId::GenAiTokenUsageReasoning,
        }
    }

    /// This type's count in `u`.
    pub const fn of(self, u: &Usage) -> u64 {
        match self {
            TokenType::Input => u.input,
            TokenType::Output => u.output,
            TokenType::CachedInput => u.input_cached,
            TokenType::CacheCreationInput => u.input_cache_creation,
            TokenType::Reasoning => u.output_reasoning,
        }
    }
}

/// The `gen_ai.client.token.usage` observations of one response: `input` and `output` always
/// (the conventions' two types, recorded whenever usage is known, 0 included), the detail types
/// only when the provider reported some (a 0 there means "not reported" as often as "none").
pub fn token_observations(u: &Usage) -> impl Iterator<Item = (TokenType, u64)> + '_ {
    TokenType::ALL.into_iter().filter_map(move |t| {
        let n = t.of(u);
        let always = matches!(t, TokenType::Input | TokenType::Output);
        (always || n > 0).then_some((t, n))
    })
}

/// `gen_ai.provider.name` for LiteLLM's `api_provider`: the conventions' well-known value where
/// there is one (`bedrock` → `aws.bedrock`, `gemini` → `gcp.gemini`, `vertex_ai` →
/// `gcp.vertex_ai`, `azure` → `azure.ai.openai`, `mistral` → `mistral_ai`, ...), else LiteLLM's
/// name, which the conventions allow as a custom value (`together_ai`, `openrouter`, `ollama`,
/// `hosted_vllm`).
pub fn provider_name(api_provider: &str) -> &str {
    match api_provider {
        "openai" | "text-completion-openai" => "openai",
        "azure" | "azure_text" => "azure.ai.openai",
        "azure_ai" => "azure.ai.inference",
        "anthropic" | "anthropic_text" => "anthropic",
        "gemini" => "gcp.gemini",
        "vertex_ai" | "vertex_ai_beta" => "gcp.vertex_ai",
        "bedrock" | "bedrock_converse" => "aws.bedrock",
        "mistral" | "codestral" => "mistral_ai",
        "xai" => "x_ai",
        "watsonx" | "watsonx_text" => "ibm.watsonx.ai",
        "cohere" | "cohere_chat" => "cohere",
        "groq" => "groq",
        "deepseek" => "deepseek",
        "perplexity" => "perplexity",
        other => other,
    }
}

/// `gen_ai.operation.name` of a request: `chat` for chat completions, the Responses API,
/// Anthropic Messages and Bedrock (Converse and invoke, as Envoy AI Gateway reports them),
/// `text_completion`, `embeddings`, and `generate_content` for Gemini / Vertex AI.
pub fn operation_name(api: Option<Api>, native: Option<NativeApi>) -> &'static str {
    match (api, native) {
        (
            _,
            Some(NativeApi::GeminiGenerateContent | NativeApi::GeminiStreamGenerateContent { .. }),
        ) => "generate_content",
        (_, Some(_)) => "chat",
        (Some(Api::Completions), None) => "text_completion",
        (Some(Api::Embeddings), None) => "embeddings",
        (Some(Api::ChatCompletions | Api::Responses), None) | (None, None) => "chat",
    }
}

/// `error.type` of a failed request: LiteLLM's exception class without its provider prefix
/// (`Anthropic.RateLimitError` → `RateLimitError`), a fixed, low-cardinality set that names
/// the same failure for every provider; `_OTHER` (the conventions' fallback) when empty.
pub fn error_type(exception_class: &str) -> &str {
    let class = exception_class
        .rsplit_once('.')
        .map_or(exception_class, |(_, c)| c);
    if class.is_empty() {
        "_OTHER"
    } else {
        class
    }
}

/// `gen_ai.server.time_per_output_token` in microseconds: the time after the first token
/// divided by the tokens after the first, `(total − time to first token) / (output − 1)`, as
/// the conventions define it. Streams only (a JSON response has no first-token time), and only
/// with at least two output tokens.
pub fn time_per_output_token_us(
    total_us: u64,
    time_to_first_token_us: Option<u64>,
    output_tokens: u64,
) -> Option<u64> {
    let ttft = time_to_first_token_us?;
    let after_first = output_tokens.checked_sub(1).filter(|n| *n > 0)?;
    Some(total_us.saturating_sub(ttft) / after_first)
}

/// The Prometheus metric base name an OpenTelemetry exporter gives the metric `name` with UCUM
/// `unit` (see the module documentation; histograms then add [`HISTOGRAM_SUFFIXES`], counters
/// `_total`).
pub fn prometheus_metric_name(name: &str, unit: &str) -> String {
    let mut out = sanitize(name, true);
    let unit = prometheus_unit(unit);
    if !unit.is_empty() && !out.ends_with(&format!("_{unit}")) && out != unit {
        out.push('_');
        out.push_str(&unit);
    }
    out
}

/// The Prometheus label an OpenTelemetry exporter makes of an attribute key.
pub fn prometheus_label_name(key: &str) -> String {
    sanitize(key, false)
}

/// Characters outside the allowed set become `_`; runs of `_` collapse to one.
fn sanitize(name: &str, colon_allowed: bool) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, c) in name.chars().enumerate() {
        let ok = c.is_ascii_alphabetic()
            || c == '_'
            || (colon_allowed && c == ':')
            || (i > 0 && c.is_ascii_digit());
        let c = if ok { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out
}

/// The Prometheus unit word of a UCUM unit: braced annotations dropped, abbreviations spelt
/// out, `a/b` as `a_per_b`. (`1` → `ratio` applies to gauges only and is not needed here.)
fn prometheus_unit(unit: &str) -> String {
    let word = |u: &str| -> String {
        match u {
            "d" => "days".into(),
            "h" => "hours".into(),
            "min" => "minutes".into(),
            "s" => "seconds".into(),
            "ms" => "milliseconds".into(),
            "us" => "microseconds".into(),
            "ns" => "nanoseconds".into(),
            "By" => "bytes".into(),
            "KiBy" => "kibibytes".into(),
            "MiBy" => "mebibytes".into(),
            "GiBy" => "gibibytes".into(),
            "KBy" => "kilobytes".into(),
            "MBy" => "megabytes".into(),
            "GBy" => "gigabytes".into(),
            "m" => "meters".into(),
            "V" => "volts".into(),
            "A" => "amperes".into(),
            "J" => "joules".into(),
            "W" => "watts".into(),
            "g" => "grams".into(),
            "Cel" => "celsius".into(),
            "Hz" => "hertz".into(),
            "%" => "percent".into(),
            other => sanitize(other, false).trim_matches('_').to_owned(),
        }
    };
    // Drop `{…}` annotations.
    let mut bare = String::with_capacity(unit.len());
    let mut depth = 0u32;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => bare.push(c),
            _ => {}
        }
    }
    let bare = bare.trim();
    match bare.split_once('/') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() => {
            format!("{}_per_{}", word(a), per_word(b))
        }
        Some((a, _)) => word(a),
        None if bare.is_empty() => String::new(),
        None => word(bare),
    }
}

/// The singular of a unit after `per` (`s` → `second`), as the specification's examples write.
fn per_word(u: &str) -> String {
    match u {
        "d" => "day".into(),
        "h" => "hour".into(),
        "min" => "minute".into(),
        "s" => "second".into(),
        "m" => "meter".into(),
        "y" => "year".into(),
        "w" => "week".into(),
        "mo" => "month".into(),
        other => sanitize(other, false).trim_matches('_').to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_indexed_and_named_as_the_exporter_names_them() {
        for (i, f) in GEN_AI_FAMILIES.iter().enumerate() {
            assert_eq!(f.id as usize, i, "{}", f.name);
            assert_eq!(
                prometheus_metric_name(f.name, f.unit),
                f.prometheus_name,
                "{}",
                f.name
            );
            for a in f.attributes {
                assert_eq!(prometheus_label_name(a.key()), a.label());
            }
            assert_eq!(
                f.measure == Measure::Seconds,
                f.unit == "s",
                "{}: seconds are recorded in microseconds",
                f.name
            );
        }
        assert_eq!(
            GenAiMetric::ClientTokenUsage.family().prometheus_name,
            "gen_ai_client_token_usage"
        );
        let series: Vec<String> = HISTOGRAM_SUFFIXES
            .iter()
            .map(|s| {
                format!(
                    "{}{s}",
                    GenAiMetric::ClientTokenUsage.family().prometheus_name
                )
            })
            .collect();
        assert_eq!(
            series,
            [
                "gen_ai_client_token_usage_bucket",
                "gen_ai_client_token_usage_sum",
                "gen_ai_client_token_usage_count"
            ]
        );
    }

    #[test]
    fn exporter_naming_rules() {
        assert_eq!(
            prometheus_metric_name("http.server.request.duration", "s"),
            "http_server_request_duration_seconds"
        );
        assert_eq!(
            prometheus_metric_name("system.network.dropped", "{packets}"),
            "system_network_dropped"
        );
        assert_eq!(
            prometheus_metric_name("system.filesystem.usage", "By"),
            "system_filesystem_usage_bytes"
        );
        assert_eq!(
            prometheus_metric_name("request.latency_seconds", "s"),
            "request_latency_seconds"
        );
        assert_eq!(
            prometheus_metric_name("throughput", "By/s"),
            "throughput_bytes_per_second"
        );
        assert_eq!(
            prometheus_metric_name("queue..depth", "{item}/{batch}"),
            "queue_depth"
        );
        assert_eq!(
            prometheus_metric_name("odd-name", "packets"),
            "odd_name_packets"
        );
        assert_eq!(prometheus_metric_name("1st", ""), "_st");
        assert_eq!(
            prometheus_label_name("gen_ai.token.type"),
            "gen_ai_token_type"
        );
        assert_eq!(prometheus_label_name("a..b:c"), "a_b_c");
    }

    /// The advised boundaries, exactly, with `le` printed as Go's `strconv.FormatFloat(v, 'g',
    /// -1, 64)` does.
    #[test]
    fn buckets_are_the_advised_boundaries() {
        let advised: [(&[Bucket], &[f64]); 4] = [
            (
                TOKEN_BUCKETS,
                &[
                    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0,
                    1048576.0, 4194304.0, 16777216.0, 67108864.0,
                ],
            ),
            (
                DURATION_BUCKETS,
                &[
                    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                    40.96, 81.92,
                ],
            ),
            (
                TIME_TO_FIRST_TOKEN_BUCKETS,
                &[
                    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
                    5.0, 7.5, 10.0,
                ],
            ),
            (
                TIME_PER_OUTPUT_TOKEN_BUCKETS,
                &[
                    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
                ],
            ),
        ];
        let go_g = |v: f64| {
            // Shortest round-trip digits, exponent form from 1e6 (and below 1e-4).
            let exp = v.abs().log10().floor() as i32;
            if !(-4..6).contains(&exp) {
                let mantissa = v / 10f64.powi(exp);
                let m = format!("{mantissa}");
                format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
            } else {
                format!("{v}")
            }
        };
        for (table, bounds) in advised {
            assert_eq!(table.len(), bounds.len());
            let scale = if std::ptr::eq(table, TOKEN_BUCKETS) {
                1.0
            } else {
                1e6
            };
            for (b, v) in table.iter().zip(bounds) {
                assert_eq!(b.le, go_g(*v));
                assert_eq!(b.micros, (v * scale).round() as u64, "{}", b.le);
                let parsed: f64 = b.le.parse().unwrap();
                assert_eq!(parsed, *v);
            }
            assert!(table.windows(2).all(|w| w[0].micros < w[1].micros));
        }
    }

    #[test]
    fn token_observations_and_their_litellm_families() {
        let u = Usage {
            input: 3084,
            output: 87,
            total: 3171,
            input_cached: 2048,
            input_cache_creation: 1024,
            output_reasoning: 0,
            input_audio: 0,
            output_audio: 0,
        };
        let obs: Vec<(&str, u64)> = token_observations(&u)
            .map(|(t, n)| (t.as_str(), n))
            .collect();
        assert_eq!(
            obs,
            [
                ("input", 3084),
                ("output", 87),
                ("cached_input", 2048),
                ("cache_creation_input", 1024)
            ]
        );
        let zero = Usage::default();
        assert_eq!(
            token_observations(&zero).count(),
            2,
            "input and output are always recorded"
        );
        for t in TokenType::ALL {
            let f = t.litellm_family().family();
            assert!(
                f.name.starts_with("litellm_") && f.name.contains("tokens"),
                "{}",
                f.name
            );
        }
    }

    #[test]
    fn attribute_values() {
        for (litellm, otel) in [
            ("openai", "openai"),
            ("azure", "azure.ai.openai"),
            ("azure_ai", "azure.ai.inference"),
            ("anthropic", "anthropic"),
            ("gemini", "gcp.gemini"),
            ("vertex_ai", "gcp.vertex_ai"),
            ("bedrock", "aws.bedrock"),
            ("mistral", "mistral_ai"),
            ("groq", "groq"),
            ("deepseek", "deepseek"),
            ("xai", "x_ai"),
            ("together_ai", "together_ai"),
            ("openrouter", "openrouter"),
            ("ollama", "ollama"),
            ("hosted_vllm", "hosted_vllm"),
        ] {
            assert_eq!(provider_name(litellm), otel);
        }
        assert_eq!(operation_name(Some(Api::ChatCompletions), None), "chat");
        assert_eq!(operation_name(Some(Api::Responses), None), "chat");
        assert_eq!(
            operation_name(Some(Api::Completions), None),
            "text_completion"
        );
        assert_eq!(operation_name(Some(Api::Embeddings), None), "embeddings");
        assert_eq!(
            operation_name(None, Some(NativeApi::AnthropicMessages)),
            "chat"
        );
        assert_eq!(
            operation_name(
                None,
                Some(NativeApi::GeminiStreamGenerateContent { sse: true })
            ),
            "generate_content"
        );
        assert_eq!(
            operation_name(None, Some(NativeApi::BedrockInvokeStream)),
            "chat"
        );
        assert_eq!(error_type("Anthropic.RateLimitError"), "RateLimitError");
        assert_eq!(error_type("Vertex_ai.Timeout"), "Timeout");
        assert_eq!(error_type("APIConnectionError"), "APIConnectionError");
        assert_eq!(error_type(""), "_OTHER");
        assert_eq!(Vocabulary::from_setting("both"), Some(Vocabulary::Both));
        assert_eq!(Vocabulary::from_setting("LiteLLM"), None);
        assert!(Vocabulary::default().litellm() && !Vocabulary::default().otel());
        assert!(Vocabulary::Otel.otel() && !Vocabulary::Otel.litellm());
    }

    #[test]
    fn time_per_output_token() {
        assert_eq!(
            time_per_output_token_us(2_000_000, Some(500_000), 4),
            Some(500_000)
        );
        assert_eq!(
            time_per_output_token_us(2_000_000, None, 4),
            None,
            "not a stream"
        );
        assert_eq!(time_per_output_token_us(2_000_000, Some(500_000), 1), None);
        assert_eq!(time_per_output_token_us(2_000_000, Some(500_000), 0), None);
        assert_eq!(time_per_output_token_us(100, Some(500), 3), Some(0));
    }
}
