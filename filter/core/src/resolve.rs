//! One finished request worked out once: its deployment, its identity and every label value,
//! for every reader of it (the metrics, the alert facts, the request log). Pure, allocation-light
//! (values are borrowed from the record and the configuration, or static, or shared from small
//! caches), and run on every request.

use crate::catalogue::{Label, LABEL_COUNT};
use crate::config::{Config, Deployment, IdentityFields};
use crate::exchange::Record;
use crate::identity::{KeyHasher, MASTER_KEY_LABEL, MASTER_KEY_USER};
use crate::labels::{truncate_utf8, UNKNOWN};
use crate::providers::detect_provider;
use crate::route::NativeApi;
use crate::spend::budget::Identity;
use crate::spend::cost::Cost;
use std::rc::Rc;

/// One label value of a request. Resolving runs on every request, so values are borrowed from
/// the record or the configuration, or are static (`None`, `openai`, `True`, `200`); the few
/// that have to be built (`api_base` from the upstream, exception classes) come shared from the
/// small caches of [`LabelCache`]. The common request allocates no label value at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelValue<'a> {
    /// A constant (`None`, `True`, `openai`, `200`): interning recognises it by its address.
    Static(&'static str),
    Borrowed(&'a str),
    Shared(Rc<str>),
    /// Boxed rather than a `String`: the enum stays three words, and a request moves 24+ of them.
    Owned(Box<str>),
}

impl std::ops::Deref for LabelValue<'_> {
    type Target = str;
    #[inline(always)]
    fn deref(&self) -> &str {
        match self {
            LabelValue::Static(s) => s,
            LabelValue::Borrowed(s) => s,
            LabelValue::Shared(s) => s,
            LabelValue::Owned(s) => s,
        }
    }
}

impl LabelValue<'_> {
    /// Cuts the value to at most `max` bytes, on a character boundary.
    pub(crate) fn truncate(&mut self, max: usize) {
        match self {
            LabelValue::Static(s) => *s = truncate_utf8(s, max),
            LabelValue::Borrowed(s) => *s = truncate_utf8(s, max),
            LabelValue::Owned(s) => *s = truncate_utf8(s, max).into(),
            LabelValue::Shared(s) => {
                let cut = truncate_utf8(s, max).into();
                *self = LabelValue::Owned(cut);
            }
        }
    }
}

/// A finished request worked out once ([`Metrics::resolve`]): what every reader of it shares.
pub struct Resolution<'a> {
    /// The `model_list` deployment that served it, if any.
    pub deployment: Option<&'a Deployment>,
    /// Who sent it.
    pub requester: Requester<'a>,
    /// Its label values, whole.
    pub labels: LabelValues<'a>,
    /// Its price, once spend priced it: the `litellm_spend_metric` increment and the logged
    /// `response_cost`, one figure.
    pub cost: Option<Cost>,
}

/// Who sent a request: the key's hash, then for each field a trusted header over the key
/// table. The one place that rule is written: the labels and the budgets both read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requester<'a> {
    /// SHA-256 hex of the key (never the key).
    pub hashed_api_key: Option<Rc<str>>,
    /// The rest, in the form the budgets take (its key hash and provider unset: those come with
    /// [`Requester::identity`]). The end user is the trusted header's, else the body's `user`
    /// (known once the body was read).
    pub fields: Identity<'a>,
}

impl<'a> Requester<'a> {
    /// Who sent `rec`, as far as it has been read.
    pub fn of(rec: &'a Record, config: &'a Config, hasher: &mut KeyHasher) -> Requester<'a> {
        let caller = &rec.caller;
        let headers = &caller.identity;
        let hashed = caller.api_key.as_deref().map(|k| hasher.hash(k));
        let key_info = hashed.as_ref().and_then(|h| config.keys.get(&**h));
        let pick = |field: fn(&IdentityFields) -> &Option<String>| {
            field(headers)
                .as_deref()
                .or_else(|| key_info.and_then(|k| field(k).as_deref()))
        };
        let fields = Identity {
            hashed_api_key: None,
            key_alias: pick(|f| &f.api_key_alias),
            user_id: pick(|f| &f.user),
            user_email: pick(|f| &f.user_email),
            team_id: pick(|f| &f.team),
            team_alias: pick(|f| &f.team_alias),
            org_id: pick(|f| &f.org_id),
            org_alias: pick(|f| &f.org_alias),
            end_user: headers.end_user.as_deref().or(rec.end_user.as_deref()),
            provider: None,
        };
        Requester {
            hashed_api_key: hashed,
            fields,
        }
    }

    /// The form the budget decisions take, with the deployment's provider.
    pub fn identity<'b>(&'b self, provider: Option<&'b str>) -> Identity<'b> {
        Identity {
            hashed_api_key: self.hashed_api_key.as_deref(),
            provider,
            ..self.fields
        }
    }
}

/// Label values of one request, before interning, in [`Label`] order, then the custom labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelValues<'a> {
    pub values: [LabelValue<'a>; LABEL_COUNT],
    /// `custom_prometheus_metadata_labels` then `custom_prometheus_tags`, in config order.
    pub custom: Vec<LabelValue<'a>>,
}

impl<'a> LabelValues<'a> {
    /// Every label `None`, no custom label.
    pub(crate) fn unknown() -> Self {
        LabelValues {
            values: [const { LabelValue::Static(UNKNOWN) }; LABEL_COUNT],
            custom: Vec::new(),
        }
    }
    /// The value of `label`.
    pub fn get(&self, label: Label) -> &str {
        &self.values[label as usize]
    }
    /// The value at `index` of the interners' order: the [`Label`]s, then the custom labels.
    pub(crate) fn at(&self, index: usize) -> &str {
        self.values
            .get(index)
            .or_else(|| self.custom.get(index.checked_sub(LABEL_COUNT)?))
            .map_or(UNKNOWN, |v| v)
    }
    #[inline(always)]
    pub(crate) fn set(&mut self, label: Label, value: LabelValue<'a>) {
        self.values[label as usize] = value;
    }
    #[inline(always)]
    pub(crate) fn borrow(&mut self, label: Label, value: &'a str) {
        self.set(label, LabelValue::Borrowed(value));
    }
    #[inline(always)]
    pub(crate) fn fixed(&mut self, label: Label, value: &'static str) {
        self.set(label, LabelValue::Static(value));
    }
}

/// `status.to_string()` without allocating: the three ASCII digits of every status from 100 to
/// 599, built at compile time.
static STATUS_TEXT: [[u8; 3]; 500] = {
    let mut table = [[0u8; 3]; 500];
    let mut i = 0;
    while i < 500 {
        let n = i + 100;
        table[i] = [
            b'0' + (n / 100) as u8,
            b'0' + (n / 10 % 10) as u8,
            b'0' + (n % 10) as u8,
        ];
        i += 1;
    }
    table
};

/// The decimal text of an HTTP status (`0` when no response came).
fn status_text(status: u16) -> LabelValue<'static> {
    let digits = usize::from(status)
        .checked_sub(100)
        .and_then(|i| STATUS_TEXT.get(i))
        .and_then(|d| std::str::from_utf8(d).ok());
    match (status, digits) {
        (_, Some(d)) => LabelValue::Static(d),
        (0, None) => LabelValue::Static("0"),
        (_, None) => LabelValue::Owned(status.to_string().into()),
    }
}

/// Entries kept per [`LabelCache`] table: a VM talks to a handful of upstreams and sees a
/// handful of error classes; past this the oldest entry is replaced (a miss only rebuilds).
const CACHE_ENTRIES: usize = 8;

/// `api_base` and the provider LiteLLM would name for one upstream without a `model_list` entry.
struct UpstreamLabels {
    host: Box<str>,
    base_path: Box<str>,
    /// Anthropic's `/v1` and OpenAI's `/v1` share a host and base path in a gateway.
    native: Option<NativeApi>,
    api_base: Rc<str>,
    provider: &'static str,
}

/// One `Provider.Class` exception label.
struct ExceptionLabel {
    provider: Box<str>,
    class: &'static str,
    text: Rc<str>,
}

/// The label values that would otherwise be formatted on every request, per VM and bounded.
#[derive(Default)]
pub struct LabelCache {
    upstreams: Vec<UpstreamLabels>,
    next_upstream: usize,
    exceptions: Vec<ExceptionLabel>,
    next_exception: usize,
}

/// Adds `entry` to a bounded cache table, replacing the oldest once full.
fn cache_put<T>(table: &mut Vec<T>, next: &mut usize, entry: T) {
    if table.len() < CACHE_ENTRIES {
        table.push(entry);
    } else if let Some(slot) = table.get_mut(*next % CACHE_ENTRIES) {
        *slot = entry;
        *next = (*next + 1) % CACHE_ENTRIES;
    }
}

impl LabelCache {
    /// `api_base` (`http[s]://host/base_path`) and provider ([`detect_provider`], from the
    /// host and the request's path) of an upstream.
    fn upstream(&mut self, host: &str, rec: &Record) -> (Rc<str>, &'static str) {
        let base_path = rec.base_path.as_str();
        let hit = self
            .upstreams
            .iter()
            .find(|u| *u.host == *host && *u.base_path == *base_path && u.native == rec.native);
        if let Some(u) = hit {
            return (u.api_base.clone(), u.provider);
        }
        let scheme = if host.ends_with(":443") {
            "https://"
        } else {
            "http://"
        };
        let mut api_base = String::with_capacity(scheme.len() + host.len() + base_path.len());
        api_base.push_str(scheme);
        api_base.push_str(host);
        api_base.push_str(base_path);
        let entry = UpstreamLabels {
            host: host.into(),
            base_path: base_path.into(),
            native: rec.native,
            api_base: api_base.into(),
            provider: detect_provider(host, &rec.route),
        };
        let out = (entry.api_base.clone(), entry.provider);
        cache_put(&mut self.upstreams, &mut self.next_upstream, entry);
        out
    }

    /// `Provider.Class` for `provider` and one of LiteLLM's error classes.
    fn exception(&mut self, provider: &str, class: &'static str) -> Rc<str> {
        let hit = self
            .exceptions
            .iter()
            .find(|e| e.class == class && *e.provider == *provider);
        if let Some(e) = hit {
            return e.text.clone();
        }
        let text: Rc<str> = exception_class_named(provider, class).into();
        let entry = ExceptionLabel {
            provider: provider.into(),
            class,
            text: text.clone(),
        };
        cache_put(&mut self.exceptions, &mut self.next_exception, entry);
        text
    }
}

/// LiteLLM's exception class for an HTTP status (`Openai.RateLimitError`): the provider with its
/// first letter upper-cased, a dot, the class LiteLLM maps the status to.
pub fn exception_class(provider: &str, status: u16) -> String {
    exception_class_named(provider, status_class(status))
}

/// LiteLLM's error class for an HTTP status.
fn status_class(status: u16) -> &'static str {
    match status {
        0 => "APIConnectionError",
        400 => "BadRequestError",
        401 => "AuthenticationError",
        403 => "PermissionDeniedError",
        404 => "NotFoundError",
        408 => "Timeout",
        409 => "ConflictError",
        413 => "RequestEntityTooLargeError",
        422 => "UnprocessableEntityError",
        429 => "RateLimitError",
        500 => "InternalServerError",
        502 => "BadGatewayError",
        503 => "ServiceUnavailableError",
        504 => "Timeout",
        _ => "APIError",
    }
}

/// `Provider.Class`, the provider's first letter upper-cased.
fn exception_class_named(provider: &str, class: &str) -> String {
    let mut chars = provider.chars();
    let mut out = String::with_capacity(provider.len() + class.len() + 1);
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
        out.push_str(chars.as_str());
    }
    out.push('.');
    out.push_str(class);
    out
}

/// Resolves a record's labels the way LiteLLM would fill them. `deployment` is the `model_list`
/// entry the request matched, if any.
pub fn resolve_labels<'a>(
    rec: &'a Record,
    config: &'a Config,
    deployment: Option<&'a Deployment>,
    hasher: &mut KeyHasher,
    max_value_bytes: usize,
) -> LabelValues<'a> {
    let mut v = LabelValues::unknown();
    let mut cache = LabelCache::default();
    let requester = Requester::of(rec, config, hasher);
    resolve_into(
        &mut v,
        rec,
        config,
        deployment,
        &requester,
        max_value_bytes,
        &mut cache,
    );
    v
}

/// [`resolve_labels`] into `v` (fresh from [`LabelValues::unknown`]), with the VM's
/// [`LabelCache`]. Filled in place: the values are a few hundred bytes, better not moved.
pub(crate) fn resolve_into<'a>(
    v: &mut LabelValues<'a>,
    rec: &'a Record,
    config: &'a Config,
    deployment: Option<&'a Deployment>,
    requester: &Requester<'a>,
    max_value_bytes: usize,
    cache: &mut LabelCache,
) {
    use LabelValue::{Borrowed, Owned, Shared, Static};
    let caller = &rec.caller;
    let is_master = match (&requester.hashed_api_key, &config.master_key_sha256) {
        (Some(h), Some(m)) => **h == **m,
        _ => false,
    };
    if is_master {
        v.fixed(Label::HashedApiKey, MASTER_KEY_LABEL);
        v.fixed(Label::User, MASTER_KEY_USER);
    } else if let Some(h) = &requester.hashed_api_key {
        v.set(Label::HashedApiKey, Shared(h.clone()));
    }
    let who = &requester.fields;
    let fields = [
        (Label::ApiKeyAlias, who.key_alias),
        (Label::Team, who.team_id),
        (Label::TeamAlias, who.team_alias),
        (Label::User, who.user_id),
        (Label::UserEmail, who.user_email),
        (Label::OrgId, who.org_id),
        (Label::OrgAlias, who.org_alias),
    ];
    for (label, value) in fields {
        if let Some(value) = value {
            v.borrow(label, value);
        }
    }
    // LiteLLM reports end users only when explicitly enabled (cardinality).
    if config.end_user_tracking {
        if let Some(eu) = who.end_user {
            v.borrow(Label::EndUser, eu);
        }
    }
    if let Some(ip) = &caller.client_ip {
        v.borrow(Label::ClientIp, ip);
    }
    if let Some(ua) = &caller.user_agent {
        v.borrow(Label::UserAgent, ua);
    }
    v.borrow(Label::Route, &rec.route);
    v.set(Label::StatusCode, status_text(rec.status));
    if let Some(tier) = &rec.service_tier {
        v.borrow(Label::ServiceTier, tier);
    }
    v.fixed(Label::Stream, if rec.stream { "True" } else { "False" });

    // Models. With a model_list, a model it does not know is "other", as LiteLLM counts it, in
    // every label a client could otherwise grow without bound; without one, the requested model
    // is kept.
    let unknown_model = deployment.is_none() && !config.deployments.is_empty();
    let requested = match rec.requested_model.as_deref() {
        Some(_) if unknown_model => Some("other"),
        r => r,
    };
    let group = match deployment {
        Some(d) if !d.model_name.contains('*') => Some(d.model_name.as_str()),
        _ => requested,
    };
    if let Some(g) = group {
        v.borrow(Label::RequestedModel, g);
        v.borrow(Label::ModelGroup, g);
    }
    let deployment_model = deployment
        .filter(|d| !d.model.contains('*'))
        .map(|d| d.model.as_str());
    // The provider's own answer is not the client's to choose: kept even for unknown models.
    let model = rec
        .response_model
        .as_deref()
        .or(deployment_model)
        .or(requested);
    if let Some(m) = model {
        v.borrow(Label::Model, m);
    }
    if let Some(m) = deployment_model.or(requested).or(model) {
        v.borrow(Label::LitellmModelName, m);
    }
    if let Some(id) = deployment.and_then(|d| d.model_id.as_deref()) {
        v.borrow(Label::ModelId, id);
    }
    let upstream_host = rec.upstream_address.as_deref();
    let provider = match deployment {
        Some(d) => Borrowed(d.provider.as_str()),
        None if rec.azure_deployment.is_some() => Static("azure"),
        None => Static(match upstream_host {
            Some(h) => cache.upstream(h, rec).1,
            None => detect_provider("", &rec.route),
        }),
    };
    match deployment.and_then(|d| d.api_base.as_deref()) {
        Some(b) => v.borrow(Label::ApiBase, b),
        None => {
            if let Some(h) = upstream_host {
                v.set(Label::ApiBase, Shared(cache.upstream(h, rec).0));
            }
        }
    }
    let mut failure_class = None;
    if !rec.succeeded() {
        v.set(Label::ExceptionStatus, status_text(rec.status));
        let class = rec
            .local_failure_class
            .or_else(|| rec.provider_exception_class(&provider))
            .unwrap_or_else(|| status_class(rec.status));
        failure_class = Some(class);
        if class == crate::spend::budget::EXCEPTION_CLASS {
            // LiteLLM names a budget refusal without a provider.
            v.fixed(Label::ExceptionClass, crate::spend::budget::EXCEPTION_CLASS);
        } else {
            v.set(
                Label::ExceptionClass,
                Shared(cache.exception(&provider, class)),
            );
        }
    }
    if config.metric_names.otel() {
        gen_ai_labels(v, rec, requested, &provider, failure_class);
    }
    v.set(Label::ApiProvider, provider);

    // Custom labels from the request's metadata and tags.
    let custom_count = config.metadata_labels.len() + config.tag_labels.len();
    if custom_count > 0 {
        v.custom.reserve_exact(custom_count);
        let metadata: Option<serde_json::Value> = rec
            .metadata
            .as_deref()
            .and_then(|m| serde_json::from_slice(m).ok());
        for ml in &config.metadata_labels {
            let mut cur = metadata.as_ref();
            for part in &ml.path {
                cur = cur.and_then(|c| c.get(part));
            }
            v.custom.push(match cur.and_then(|c| c.as_str()) {
                Some(s) => Owned(s.into()),
                None => Static(UNKNOWN),
            });
        }
        if !config.tag_labels.is_empty() {
            let tags: Vec<&str> = metadata
                .as_ref()
                .and_then(|m| m.get("tags"))
                .and_then(|t| t.as_array())
                .map(|a| a.iter().filter_map(|t| t.as_str()).collect())
                .unwrap_or_default();
            for tl in &config.tag_labels {
                let hit = tags.iter().any(|t| tl.matches(t));
                v.custom.push(Static(if hit { "true" } else { "false" }));
            }
        }
    }
    for value in v.values.iter_mut().chain(v.custom.iter_mut()) {
        if value.len() > max_value_bytes {
            value.truncate(max_value_bytes);
        }
    }
}

/// The gen_ai attributes of a record (`telemetry_settings.metric_names` `gen_ai` / `both`): the
/// operation, the provider's conventional name, the model requested (as `requested_model`, so
/// bounded the same way) and reported, and `error.type` (LiteLLM's class without its provider
/// prefix) on failures. Unknown ones stay `None`, which the gen_ai families leave out.
fn gen_ai_labels<'a>(
    v: &mut LabelValues<'a>,
    rec: &'a Record,
    requested: Option<&'a str>,
    provider: &LabelValue<'a>,
    failure_class: Option<&'static str>,
) {
    use crate::gen_ai::{operation_name, provider_name};
    v.fixed(
        Label::GenAiOperationName,
        operation_name(rec.api, rec.native),
    );
    let name = match provider {
        LabelValue::Static(p) => LabelValue::Static(provider_name(p)),
        LabelValue::Borrowed(p) => LabelValue::Borrowed(provider_name(p)),
        other => LabelValue::Owned(provider_name(other).into()),
    };
    v.set(Label::GenAiProviderName, name);
    if let Some(m) = requested {
        v.borrow(Label::GenAiRequestModel, m);
    }
    if let Some(m) = rec.response_model.as_deref() {
        v.borrow(Label::GenAiResponseModel, m);
    }
    if let Some(class) = failure_class {
        v.fixed(Label::ErrorType, crate::gen_ai::error_type(class));
    }
}
