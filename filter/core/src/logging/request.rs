//! One request's part in logging, from its request headers to `on_log`: the call id, whether
//! its messages are logged, the bounded copies of its bodies, the model parameters, and at the
//! end the [`LogInput`] built from its [`Record`] and handed to [`Logging::on_finished`].
//!
//! The host adapter feeds it what it already reads (the request and response header maps it
//! fetched once, the body chunks it is handed) and never waits on it. Nothing here is created
//! for a request unless [`Logging`] has something to do (headers, a destination, filter state).

use serde_json::{Map, Value};

use super::capture::{BodyCapture, Captured, RedactionHeaders};
use super::headers::HeaderValues;
use super::payload::MODEL_PARAMETER_KEYS;
use super::{LogInput, Logging};
use crate::catalogue::Label;
use crate::config::Config;
use crate::exchange::{Headers, Record};
use crate::json_scan::{JsonScanner, ScanState};
use crate::labels::UNKNOWN;
use crate::metrics::Resolution;
use crate::spend::budget::Identity;
use crate::spend::cost::cost;
use crate::spend::prices::{lookup, Tier};

const PARAMS: usize = MODEL_PARAMETER_KEYS.len();

/// The request body paths read for the logs: the model parameters, then the prompt keys (read
/// only when messages are logged).
static REQUEST_LOG_PATHS: [&str; PARAMS + 3] = {
    let mut paths = [""; PARAMS + 3];
    let mut i = 0;
    while i < PARAMS {
        paths[i] = MODEL_PARAMETER_KEYS[i];
        i += 1;
    }
    paths[PARAMS] = "messages";
    paths[PARAMS + 1] = "input";
    paths[PARAMS + 2] = "prompt";
    paths
};

/// One request's logging state.
pub struct RequestLog {
    call_id: String,
    messages_logged: bool,
    traceparent: Option<String>,
    tracestate: Option<String>,
    /// The model parameters and, when logged, the prompt: a second scan of the request body,
    /// made only while logging is on (the exchange's scanner reads what metrics need).
    request: Option<JsonScanner>,
    /// The request body's first bytes, for a prompt too long for the scanner's bound.
    request_body: Option<BodyCapture>,
    response_body: Option<BodyCapture>,
    max_body_bytes: usize,
}

impl RequestLog {
    /// At request headers: the call id and the redaction decision. `h` is the request header
    /// map the adapter fetched.
    pub fn new(logging: &mut Logging, h: &dyn Headers) -> RequestLog {
        let call_id = logging.call_id(
            h.get("x-litellm-call-id").as_deref(),
            h.get("x-request-id").as_deref(),
        );
        let names = RedactionHeaders::NAMES.map(|n| h.get(n));
        let redaction = RedactionHeaders::read(|name| {
            RedactionHeaders::NAMES
                .iter()
                .position(|n| *n == name)
                .and_then(|i| names[i].as_deref())
        });
        let messages_logged = logging.messages_logged(redaction, false);
        let needed = logging.is_active();
        let max = logging.settings().max_logged_body_bytes;
        let capture = logging.body_capture(messages_logged);
        let paths: &'static [&'static str] = if capture.is_some() {
            &REQUEST_LOG_PATHS
        } else {
            &REQUEST_LOG_PATHS[..PARAMS]
        };
        RequestLog {
            call_id,
            messages_logged,
            traceparent: needed.then(|| h.get("traceparent")).flatten(),
            tracestate: needed.then(|| h.get("tracestate")).flatten(),
            request: needed.then(|| JsonScanner::new(paths, max.max(1024))),
            request_body: capture.clone(),
            response_body: capture,
            max_body_bytes: max,
        }
    }

    /// The call id the client is told and every log carries.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// A request body chunk, as it passes.
    pub fn on_request_body(&mut self, chunk: &[u8]) {
        if let Some(s) = &mut self.request {
            if s.feed(chunk) == ScanState::Malformed {
                self.request = None;
            }
        }
        if let Some(c) = &mut self.request_body {
            c.push(chunk);
        }
    }

    /// The response headers: a compressed body is not copied (its bytes are not text).
    pub fn on_response_headers(&mut self, h: &dyn Headers) {
        let encoded = h
            .get("content-encoding")
            .is_some_and(|v| !v.eq_ignore_ascii_case("identity"));
        if encoded {
            self.response_body = None;
        }
    }

    /// A response body chunk, as it passes (copied only up to the bound).
    pub fn on_response_body(&mut self, chunk: &[u8]) {
        if let Some(c) = &mut self.response_body {
            c.push(chunk);
        }
    }

    /// The `x-litellm-*` headers to add when the response headers leave, from what the record
    /// knows by then (the request has been read; the upstream's address is not known yet, so a
    /// group of several deployments names its first).
    pub fn response_headers(
        &self,
        logging: &Logging,
        rec: &Record,
        config: &Config,
    ) -> Vec<(&'static str, String)> {
        let dep = rec
            .requested_model
            .as_deref()
            .and_then(|m| config.find_deployment(m, None));
        let concrete = dep.filter(|d| !d.model_name.contains('*'));
        let group = match (concrete, dep) {
            (Some(d), _) => Some(d.model_name.as_str()),
            // A model the model_list does not know is not echoed back.
            (None, None) if !config.deployments.is_empty() => None,
            _ => rec.requested_model.as_deref(),
        };
        logging.response_headers(&HeaderValues {
            call_id: &self.call_id,
            model_id: dep.and_then(|d| d.model_id.as_deref()),
            deployment_model: concrete.map(|d| d.litellm_model.as_str()),
            api_base: dep.and_then(|d| d.api_base.as_deref()),
            model_group: group,
            key_max_budget: None,
        })
    }

    /// The request is over (`on_log`): encodes it for every destination and returns the
    /// filter-state entries to set.
    pub fn finish(
        self,
        logging: &mut Logging,
        rec: &Record,
        resolution: &Resolution,
        now_ms: u64,
    ) -> Vec<(&'static str, String)> {
        // Response headers only (LiteLLM's default): nothing is encoded, so nothing is priced
        // or parsed for it either.
        if !logging.is_active() {
            return Vec::new();
        }
        let mut scanner = self.request;
        if let Some(s) = &mut scanner {
            if s.finish() != ScanState::Complete {
                scanner = None;
            }
        }
        let params: Vec<(&str, &[u8])> = scanner
            .as_ref()
            .map(|s| {
                MODEL_PARAMETER_KEYS
                    .iter()
                    .enumerate()
                    .filter_map(|(i, k)| Some((*k, s.captured(i)?)))
                    .collect()
            })
            .unwrap_or_default();
        let prompt = scanner
            .as_ref()
            .and_then(|s| (PARAMS..PARAMS + 3).find_map(|i| s.captured(i).map(Captured::whole)));
        // A prompt longer than the bound: the first bytes of the body, marked as cut.
        let messages = prompt
            .filter(|p| p.bytes.len() <= self.max_body_bytes)
            .or_else(|| self.request_body.as_ref().map(BodyCapture::captured));
        let response = self.response_body.as_ref().map(BodyCapture::captured);
        let metadata: Option<Map<String, Value>> = rec
            .metadata
            .as_deref()
            .and_then(|m| serde_json::from_slice(m).ok());
        let dep = resolution.deployment;
        let labels = &resolution.labels;
        let known = |l: Label| Some(labels.get(l)).filter(|v| *v != UNKNOWN && !v.is_empty());
        let provider = known(Label::ApiProvider);
        let litellm_model_name = known(Label::LitellmModelName);
        let requested = rec.requested_model.as_deref();
        let model_with_prefix = match (dep, litellm_model_name, provider) {
            (Some(d), _, _) if !d.litellm_model.contains('*') => d.litellm_model.clone(),
            (_, Some(m), Some(p)) => format!("{p}/{m}"),
            _ => requested.unwrap_or_default().to_owned(),
        };
        let priced = match (rec.usage.as_ref(), litellm_model_name) {
            (Some(u), Some(m)) => lookup(m, provider).map(|t| {
                let tier = rec
                    .service_tier
                    .as_deref()
                    .map_or(Tier::Standard, Tier::from_service_tier);
                (t.key, cost(u, &t.rates, tier))
            }),
            _ => None,
        };
        let failed = !rec.succeeded();
        let input = LogInput {
            call_id: &self.call_id,
            response_id: rec.response_id.as_deref(),
            traceparent: self.traceparent.as_deref(),
            tracestate: self.tracestate.as_deref(),
            api: rec.api,
            route: &rec.route,
            stream: rec.stream,
            requested_model: requested,
            model_parameters: &params,
            metadata: metadata.as_ref(),
            user_agent: rec.caller.user_agent.as_deref(),
            requester_ip: rec.caller.client_ip.as_deref(),
            identity: Identity {
                hashed_api_key: known(Label::HashedApiKey),
                key_alias: known(Label::ApiKeyAlias),
                user_id: known(Label::User),
                user_email: known(Label::UserEmail),
                team_id: known(Label::Team),
                team_alias: known(Label::TeamAlias),
                org_id: known(Label::OrgId),
                org_alias: known(Label::OrgAlias),
                end_user: rec
                    .caller
                    .identity
                    .end_user
                    .as_deref()
                    .or(rec.end_user.as_deref()),
                provider,
            },
            spend: Default::default(),
            model: &model_with_prefix,
            litellm_model_name,
            model_group: known(Label::ModelGroup),
            model_id: known(Label::ModelId),
            api_base: known(Label::ApiBase).unwrap_or(""),
            model_map_key: priced.as_ref().map(|(k, _)| k.as_str()),
            status: rec.outcome_status(),
            response_model: rec.response_model.as_deref(),
            usage: rec.usage,
            // Spend's price when it priced the request (the deployment's own prices first):
            // the log and `litellm_spend_metric` say one figure.
            cost: resolution.cost.or(priced.as_ref().map(|(_, c)| *c)),
            requested_service_tier: None,
            served_service_tier: rec.service_tier.as_deref(),
            rate_limits: rec.rate_limits,
            rate_limit_reset_requests: rec.rate_limit_reset_requests.as_deref(),
            rate_limit_reset_tokens: rec.rate_limit_reset_tokens.as_deref(),
            provider_request_id: rec.provider_request_id.as_deref(),
            error_message: rec.error_message.as_deref().filter(|_| failed),
            // `Openai.RateLimitError` → `RateLimitError`, as LiteLLM's exception carries it.
            error_class: known(Label::ExceptionClass)
                .map(|c| c.rsplit('.').next().unwrap_or(c))
                .filter(|_| failed),
            start_ns: rec.started_ns,
            first_byte_ns: rec.first_byte_ns,
            end_ns: rec.end_ns,
            messages_logged: self.messages_logged,
            messages,
            response,
        };
        logging.on_finished(&input, now_ms)
    }
}
