//! From finished exchanges to Envoy stats, aggregated per VM.
//!
//! Every host call costs hundreds of instructions, and one request touches ~20 families (a
//! histogram being ~20 cumulative bucket counters), so updates are not sent to Envoy one by one:
//! each request adds into in-memory slots of its *series* (one per distinct label set), and the
//! host adapter flushes the dirty slots on its tick. A request then costs a few hash lookups and
//! integer adds; the host calls are paid once per series per flush.
//!
//! Label values are interned per label key (bounded: new values past the bound fold into
//! [`OVERFLOW`]) and a series is identified by its interned ids, so finding it hashes a few
//! integers. The number of series is bounded too: past it, requests land in the all-overflow
//! series. Both foldings are counted.
//!
//! Histograms are LiteLLM's own series: `<name>_bucket{le="0.005"}` … `{le="+Inf"}` as
//! cumulative counters with LiteLLM's boundaries in seconds, `<name>_count`, and the sum as an
//! integer counter `<name>_sum_microseconds` (Envoy stats hold only integers);
//! `envoy/prometheus-rules.yaml` rebuilds `<name>_sum` in seconds.
//!
//! **New stats cost time, not just memory.** Envoy runs every `stats_tags` regex (std::regex) on a
//! stat's name when it is first defined, on the thread that defines it: ~11 M instructions per
//! stat with the shipped tags, and a request waiting on that worker waits for it all. So the flush
//! defines at most a budget of new stats ([`Metrics::flush_budgeted`]; the adapter shares one
//! budget per second among every worker through Envoy's shared data, in slices of a tenth of a
//! second); what does not fit waits, its counts kept, for a later flush. A VM that already has
//! [`MAX_DEFINITION_WAIT_S`] seconds of budget waiting folds new label sets into the overflow
//! series instead (counted), so a flood of new names never builds a queue that would delay the
//! series that come after it. And the cardinality bounds themselves can be counted across all
//! workers ([`Admission`]) rather than per VM, so `--concurrency` does not multiply them.

use crate::catalogue::{Family, FamilyId, Kind, Label, ALL_LABELS, FAMILIES, LABEL_COUNT};
use crate::config::Config;
use crate::exchange::Record;
use crate::health::{HealthUpdate, Outcome};
use crate::identity::KeyHasher;
use crate::labels::{end_labels, push_label, OVERFLOW, UNKNOWN};
/// What a request resolves to (defined in [`crate::resolve`]).
pub use crate::resolve::{
    exception_class, resolve_labels, LabelCache, LabelValue, LabelValues, Resolution,
};
use crate::resolve::{resolve_into, Requester};
use hashbrown::HashMap;
use std::rc::Rc;

/// What the host does with the metrics: define a stat by its full encoded name, add to a counter,
/// set a gauge. Implemented over proxy-wasm in the adapter, and by a recorder in tests.
pub trait StatSink {
    /// Defines (or finds) the stat; `None` when the host refuses.
    fn define(&mut self, kind: Kind, name: &str) -> Option<u32>;
    fn add(&mut self, id: u32, delta: u64);
    fn set(&mut self, id: u32, value: u64);
}

/// Where the cardinality bounds are counted. Consulted only for a value or a label set this VM
/// has not seen yet; this VM's own bounds apply in any case.
pub trait Admission {
    /// Whether label number `label` (the interners' order) may take the new value `value`,
    /// at most `max` values in all: false folds it into [`OVERFLOW`].
    fn admit_value(&mut self, label: usize, value: &str, max: usize) -> bool;
    /// Whether a new label set, `key` its hash, may become one of at most `max` series.
    fn admit_series(&mut self, key: u64, max: usize) -> bool;
}

/// Bounds per VM only: every value and series within this VM's own bounds is admitted.
pub struct PerVm;

impl Admission for PerVm {
    fn admit_value(&mut self, _: usize, _: &str, _: usize) -> bool {
        true
    }
    fn admit_series(&mut self, _: u64, _: usize) -> bool {
        true
    }
}

/// One counter (or histogram part) of one series: the pending delta and the host's id.
#[derive(Clone, Copy)]
struct Slot {
    pending: u64,
    id: u32,
    touched: bool,
    /// Its definition had to wait for the budget (counted once).
    deferred: bool,
}

const UNDEFINED: u32 = u32::MAX;

/// In a request's per-label ids: the value was folded into [`OVERFLOW`] because its label is
/// full. (The series itself then carries id 0.)
const FOLDED: u32 = u32::MAX;

impl Slot {
    const EMPTY: Slot = Slot {
        pending: 0,
        id: UNDEFINED,
        touched: false,
        deferred: false,
    };
}

/// A distinct label set: its interned values and the slots of every counter family.
struct Series {
    values: Box<[u32]>,
    slots: Box<[Slot]>,
    dirty: bool,
}

/// Per label key, the distinct values seen, bounded. Id 0 is always [`OVERFLOW`].
struct Interner {
    ids: HashMap<Rc<str>, u32>,
    values: Vec<Rc<str>>,
    /// The id interned last: consecutive requests mostly repeat a label's value, and comparing
    /// with it is cheaper than hashing the value.
    last: u32,
    /// The value `last` was interned from, when it can be recognised by its address alone.
    last_input: LastInput,
    /// Values the [`Admission`] refused (bounded): refused for good, since the bound is full and
    /// bounds never shrink, so they are not asked about again.
    refused: hashbrown::HashSet<Box<str>>,
}

/// A label value that is the same text whenever it is at the same address: a constant, or
/// memory that an `Rc` held here keeps alive (so no other text can be there meanwhile).
enum LastInput {
    None,
    Static(&'static str),
    Shared(Rc<str>),
}

impl LastInput {
    fn of(value: &LabelValue) -> LastInput {
        match value {
            LabelValue::Static(s) => LastInput::Static(s),
            LabelValue::Shared(s) => LastInput::Shared(s.clone()),
            _ => LastInput::None,
        }
    }

    /// True when `value` is this very input (false says nothing).
    fn is(&self, value: &LabelValue) -> bool {
        match (self, value) {
            // Address and length: the same constant text.
            (LastInput::Static(a), LabelValue::Static(b)) => std::ptr::eq(*a, *b),
            (LastInput::Shared(a), LabelValue::Shared(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Interner {
    fn new() -> Interner {
        let overflow: Rc<str> = Rc::from(OVERFLOW);
        let mut ids = HashMap::new();
        ids.insert(overflow.clone(), 0);
        Interner {
            ids,
            values: vec![overflow],
            last: 0,
            last_input: LastInput::None,
            refused: hashbrown::HashSet::new(),
        }
    }

    /// The id of `value`, or `None` when the bound is reached (the caller folds it). A value new
    /// to this VM is first put to `admission` as label number `label`.
    fn intern(
        &mut self,
        input: &LabelValue,
        max: usize,
        label: usize,
        admission: &mut dyn Admission,
    ) -> Option<u32> {
        if self.last_input.is(input) {
            return Some(self.last);
        }
        let value: &str = input;
        let last = self.values.get(self.last as usize);
        if last.is_some_and(|v| **v == *value) {
            self.last_input = LastInput::of(input);
            return Some(self.last);
        }
        let id = match self.ids.get(value) {
            Some(id) => *id,
            None => {
                if self.values.len() > max || self.refused.contains(value) {
                    return None;
                }
                if !admission.admit_value(label, value, max) {
                    if self.refused.len() < max {
                        self.refused.insert(value.into());
                    }
                    return None;
                }
                let id = u32::try_from(self.values.len()).ok()?;
                let v: Rc<str> = Rc::from(value);
                self.ids.insert(v.clone(), id);
                self.values.push(v);
                id
            }
        };
        self.last = id;
        self.last_input = LastInput::of(input);
        Some(id)
    }

    fn value(&self, id: u32) -> &str {
        self.values.get(id as usize).map_or(OVERFLOW, |v| v)
    }
}

/// A gauge: its latest value, waiting for the next flush.
struct Gauge {
    family: FamilyId,
    key: GaugeKey,
    value: u64,
    id: u32,
    dirty: bool,
    /// Its definition had to wait for the budget (counted once).
    deferred: bool,
}

/// What identifies a gauge. Its stat name is a function of the family and the values of the
/// labels in that name, so those values' interned ids identify it without building the name on
/// every request; the name is built once, when the stat is defined. A value folded by its
/// label's bound has no id but still goes into the gauge's name as it is (gauges are bounded
/// by their own count): such gauges are keyed by their name. Never both: a folded value is
/// never interned later, so no id key names the same stat as a name key.
enum GaugeKey {
    /// The family's id, then the ids of the labels of its name, in name order.
    Ids(Rc<[u32]>),
    Name(Rc<str>),
}

/// The labels that identify a deployment.
const DEPLOYMENT_LABELS: [Label; 4] = [
    Label::LitellmModelName,
    Label::ModelId,
    Label::ApiBase,
    Label::ApiProvider,
];

/// The filter's own families (defined in [`crate::catalogue::own`]).
pub use crate::catalogue::own;

/// What one [`Metrics::flush_budgeted`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Stats defined in the host.
    pub defined: usize,
    /// Stats still waiting for a budget.
    pub waiting: usize,
}

/// Seconds of the definition budget a VM lets wait before it folds new label sets into the
/// overflow series: a new series waits at most about this long for its stats.
pub const MAX_DEFINITION_WAIT_S: usize = 10;

/// Parts of the largest family: a flush budget must fit it, since a family's parts are defined
/// together (a histogram is never half there).
pub const LARGEST_FAMILY_PARTS: usize = {
    let mut max = 1;
    let mut i = 0;
    while i < FAMILIES.len() {
        let n = match FAMILIES[i].kind {
            Kind::Histogram => FAMILIES[i].buckets.len() + 3,
            _ => 1,
        };
        if n > max {
            max = n;
        }
        i += 1;
    }
    max
};

/// The per-VM metric state.
pub struct Metrics {
    interners: Vec<Interner>,
    series_index: HashMap<Box<[u32]>, u32>,
    series: Vec<Series>,
    /// The series of the last request: the next one is usually the same.
    last_series: u32,
    /// Series with updates since the last flush.
    dirty: Vec<u32>,
    /// First slot of each family in a series' slots (`None`: gauge or disabled).
    offsets: [Option<u32>; FAMILIES.len()],
    slot_count: usize,
    gauges: Vec<Gauge>,
    gauge_ids: HashMap<Rc<[u32]>, u32>,
    gauge_names: HashMap<Rc<str>, u32>,
    /// Per family, the gauge the last request wrote.
    last_gauge: [u32; FAMILIES.len()],
    own: HashMap<String, Slot>,
    hasher: KeyHasher,
    cache: LabelCache,
    /// The current request's series key: its interned ids, folded values as 0.
    scratch: Vec<u32>,
    /// The current request's interned ids, folded values as [`FOLDED`].
    label_ids: Vec<u32>,
    /// The key of the gauge being written.
    gauge_key: Vec<u32>,
    name: String,
    custom_names: Vec<String>,
    /// Per family: whether `prometheus_metrics_config` lets it out.
    enabled: [bool; FAMILIES.len()],
    /// Per family: the labels of its stat names (those `prometheus_metrics_config` keeps) in
    /// LiteLLM's declaration order, then the stream label and the custom labels, as indexes in
    /// the interners' order.
    name_labels: Vec<Box<[usize]>>,
    max_series: usize,
    max_values: usize,
    max_value_bytes: usize,
    /// Where the bounds are counted (this VM alone unless the host says otherwise).
    admission: Box<dyn Admission>,
    /// Label sets the admission refused, mapped to the overflow series in `series_index`.
    refused_series: usize,
    /// Series a budgeted flush left waiting (kept to reuse its allocation).
    waiting_series: Vec<u32>,
    /// Definitions waiting for the budget: what the last flush left, plus what new series and
    /// gauges have added since (a new series counts every part of every family it has).
    backlog: usize,
    /// Past this backlog, new label sets fold into the overflow series.
    max_backlog: usize,
}

fn slots_of(f: &Family) -> usize {
    match f.kind {
        // Every bucket, +Inf, _count, _sum_microseconds.
        Kind::Histogram => f.buckets.len() + 3,
        _ => 1,
    }
}

/// The labels of a family's stat names, as indexes in the interners' order (see
/// [`Metrics::name_labels`]).
fn name_labels(
    f: &Family,
    include: Option<&[String]>,
    emit_stream_label: bool,
    custom_names: &[String],
) -> Box<[usize]> {
    if f.is_gen_ai() {
        // The gen_ai vocabulary's own attributes only: LiteLLM's settings (label filters, the
        // stream label, custom labels) shape LiteLLM's families.
        return f.labels.iter().map(|l| *l as usize).collect();
    }
    let kept = |name: &str| include.is_none_or(|inc| inc.iter().any(|i| i == name));
    let mut out = Vec::new();
    for l in f.labels {
        if kept(l.as_str()) {
            out.push(*l as usize);
        }
    }
    if f.id == FamilyId::ProxyTotalRequests && emit_stream_label && kept("stream") {
        out.push(Label::Stream as usize);
    }
    for (i, name) in custom_names.iter().enumerate() {
        if kept(name) {
            out.push(LABEL_COUNT + i);
        }
    }
    out.into_boxed_slice()
}

impl Metrics {
    /// Metric state for `config`: families disabled by `prometheus_metrics_config` get no slots.
    pub fn new(config: &Config) -> Metrics {
        let custom_names: Vec<String> = config
            .metadata_labels
            .iter()
            .map(|m| m.label.clone())
            .chain(config.tag_labels.iter().map(|t| t.label.clone()))
            .collect();
        let mut offsets = [None; FAMILIES.len()];
        let mut enabled = [true; FAMILIES.len()];
        let mut labels = Vec::with_capacity(FAMILIES.len());
        let mut next = 0usize;
        for f in &FAMILIES {
            let mf = config.metric_filter.as_ref();
            // A spend family is exported when a LiteLLM series its recording rule feeds is on.
            enabled[f.id as usize] = if f.is_gen_ai() {
                config.metric_names.otel()
            } else if f.id as usize >= crate::catalogue::FIRST_SPEND_FAMILY as usize {
                mf.is_none_or(|mf| {
                    mf.enabled(f.name)
                        || crate::spend::families::feeds(f.name).any(|n| mf.enabled(n))
                })
            } else {
                config.metric_names.litellm() && mf.is_none_or(|mf| mf.enabled(f.name))
            };
            labels.push(name_labels(
                f,
                mf.and_then(|mf| mf.include_labels(f.name)),
                config.emit_stream_label,
                &custom_names,
            ));
            if f.kind != Kind::Gauge && enabled[f.id as usize] {
                offsets[f.id as usize] = u32::try_from(next).ok();
                next += slots_of(f);
            }
        }
        let limits = &config.limits;
        Metrics {
            interners: (0..LABEL_COUNT + custom_names.len())
                .map(|_| Interner::new())
                .collect(),
            series_index: HashMap::new(),
            series: Vec::new(),
            last_series: UNDEFINED,
            dirty: Vec::new(),
            offsets,
            slot_count: next,
            gauges: Vec::new(),
            gauge_ids: HashMap::new(),
            gauge_names: HashMap::new(),
            last_gauge: [UNDEFINED; FAMILIES.len()],
            own: HashMap::new(),
            hasher: KeyHasher::new(limits.max_tracked_keys),
            cache: LabelCache::default(),
            scratch: Vec::new(),
            label_ids: Vec::new(),
            gauge_key: Vec::new(),
            name: String::new(),
            custom_names,
            enabled,
            name_labels: labels,
            max_series: limits.max_series_per_metric,
            max_values: limits.max_values_per_label,
            max_value_bytes: limits.max_label_value_bytes,
            admission: Box::new(PerVm),
            refused_series: 0,
            waiting_series: Vec::new(),
            backlog: 0,
            max_backlog: limits
                .max_new_stats_per_second
                .saturating_mul(MAX_DEFINITION_WAIT_S),
        }
    }

    /// Label keys a label set has: LiteLLM's, then the custom ones.
    pub fn label_keys(&self) -> usize {
        self.interners.len()
    }

    /// Counts the cardinality bounds through `admission` (e.g. across every worker) instead of
    /// this VM alone.
    pub fn set_admission(&mut self, admission: Box<dyn Admission>) {
        self.admission = admission;
    }

    /// The VM's one cache of API-key hashes (SHA-256 is the dearest thing a request computes):
    /// spend, alerting and logging hash through it too.
    pub fn key_hasher(&mut self) -> &mut KeyHasher {
        &mut self.hasher
    }

    /// Records a finished exchange. Returns its outcome for the deployment health model
    /// ([`crate::health`]), which the coordinator turns into `litellm_deployment_state` and
    /// cooldowns; `None` when the client left before any answer (that says nothing about the
    /// deployment). `now_ns` is the finish time.
    pub fn record(&mut self, rec: &Record, config: &Config, now_ns: u64) -> Option<Outcome> {
        let resolution = self.resolve(rec, config);
        self.record_resolved(rec, &resolution, config, now_ns)
    }

    /// Works a finished request out once, for every reader of it (metrics, alerts, logs): its
    /// deployment and its label values, in full, through this VM's key hasher and caches.
    pub fn resolve<'a>(&mut self, rec: &'a Record, config: &'a Config) -> Resolution<'a> {
        let upstream_host = rec.upstream_address.as_deref();
        let deployment = rec
            .requested_model
            .as_deref()
            .and_then(|m| config.find_deployment(m, upstream_host));
        let requester = Requester::of(rec, config, &mut self.hasher);
        let mut labels = LabelValues::unknown();
        resolve_into(
            &mut labels,
            rec,
            config,
            deployment,
            &requester,
            usize::MAX,
            &mut self.cache,
        );
        Resolution {
            deployment,
            requester,
            labels,
            cost: None,
        }
    }

    /// [`Metrics::record`] of a request already [resolved](Metrics::resolve). Label values are
    /// cut to `max_label_value_bytes` here (alerts and logs read them whole).
    pub fn record_resolved(
        &mut self,
        rec: &Record,
        resolution: &Resolution,
        config: &Config,
        now_ns: u64,
    ) -> Option<Outcome> {
        let deployment = resolution.deployment;
        let max = self.max_value_bytes;
        let long = |v: &LabelValue| v.len() > max;
        let full = &resolution.labels;
        let cut;
        let labels = if full.values.iter().chain(&full.custom).any(long) {
            let mut c = full.clone();
            for v in c.values.iter_mut().chain(c.custom.iter_mut()) {
                if v.len() > max {
                    v.truncate(max);
                }
            }
            cut = c;
            &cut
        } else {
            full
        };
        let series = self.series_for(labels);
        // Every request updates its series (at least the total), so it is marked once here.
        self.touch(series);
        let ok = rec.succeeded();
        use FamilyId::*;
        self.count(series, ProxyTotalRequests, 1);
        if ok {
            self.count(series, Requests, 1);
            self.count(series, DeploymentSuccessResponses, 1);
            self.count(series, DeploymentTotalRequests, 1);
            if let Some(pico) = resolution.cost.map(|c| c.total()).filter(|c| *c > 0) {
                self.count(series, Spend, pico);
            }
            if let Some(u) = &rec.usage {
                self.count(series, TotalTokens, u.total);
                self.count(series, InputTokens, u.input);
                self.count(series, OutputTokens, u.output);
                // LiteLLM's detail families are sparse: a series only once its count is above 0
                // (`_inc_sparse_usage_counters`, and `> 0` for the provider-cache pair).
                for (family, n) in [
                    (InputCachedTokens, u.input_cached),
                    (InputCacheCreationTokens, u.input_cache_creation),
                    (InputAudioTokens, u.input_audio),
                    (OutputReasoningTokens, u.output_reasoning),
                    (OutputAudioTokens, u.output_audio),
                    (ProviderCacheReadInputTokens, u.input_cached),
                    (ProviderCacheCreationInputTokens, u.input_cache_creation),
                ] {
                    if n > 0 {
                        self.count(series, family, n);
                    }
                }
            }
            self.observe(series, RequestTotalLatency, rec.total_latency_us());
            self.observe(series, LlmApiLatency, rec.api_latency_us());
            // LiteLLM has `litellm_overhead_time_ms` in the response's hidden params only for a
            // non-streamed response: a stream is logged without it.
            if !rec.stream {
                self.observe(series, OverheadLatency, rec.overhead_us());
            }
            let ttft = rec.time_to_first_token_us();
            if let Some(t) = ttft {
                self.observe(series, TimeToFirstToken, t);
            }
            // LiteLLM divides the time to first token (streams) or the whole response time by
            // the output tokens.
            let latency = ttft.unwrap_or_else(|| rec.total_latency_us());
            let output = rec.usage.map_or(0, |u| u.output);
            if let Some(per_token) = latency.checked_div(output) {
                self.observe(series, DeploymentLatencyPerOutputToken, per_token);
            }
            if config.metric_names.otel() {
                if let Some(u) = &rec.usage {
                    for (t, n) in crate::gen_ai::token_observations(u) {
                        self.observe(series, t.usage_family(), n);
                    }
                }
                if let Some(t) = ttft {
                    self.observe(series, GenAiTimeToFirstToken, t);
                }
                let total = rec.total_latency_us();
                let per_token = crate::gen_ai::time_per_output_token_us(total, ttft, output);
                if let Some(t) = per_token {
                    self.observe(series, GenAiTimePerOutputToken, t);
                }
            }
        } else {
            self.count(series, ProxyFailedRequests, 1);
            self.count(series, LlmApiFailedRequests, 1);
            self.count(series, DeploymentFailureResponses, 1);
            self.count(series, DeploymentTotalRequests, 1);
        }
        // Every operation, failed ones with their `error.type`.
        self.observe(series, GenAiOperationDuration, rec.total_latency_us());
        let rl = &rec.rate_limits;
        // Written whatever the status and including 0: the 429 with 0 remaining is the moment
        // an operator most needs to see (LiteLLM drops it).
        if let Some(n) = rl.remaining_requests {
            self.gauge(RemainingRequests, labels, n);
        }
        if let Some(n) = rl.remaining_tokens {
            self.gauge(RemainingTokens, labels, n);
        }
        // The configured limits only, on a success, as LiteLLM's
        // `_set_deployment_tpm_rpm_limit_metrics` (the upstream's `x-ratelimit-limit-*` headers
        // say what the provider allows the key, not what the deployment is configured to take).
        if ok {
            if let Some(n) = deployment.and_then(|d| d.rpm) {
                self.gauge(DeploymentRpmLimit, labels, n);
            }
            if let Some(n) = deployment.and_then(|d| d.tpm) {
                self.gauge(DeploymentTpmLimit, labels, n);
            }
        }
        if rec.stream && rec.usage.is_none() && rec.status != 0 && ok {
            self.count_own(own::STREAMS_WITHOUT_USAGE, &[("route", &rec.route)], 1);
        }
        if rec.usage_injected {
            self.count_own(own::STREAM_USAGE_INJECTED, &[("route", &rec.route)], 1);
        }
        for p in &rec.problems {
            self.count_own(
                own::UNREADABLE_BODIES,
                &[("reason", p.as_str()), ("route", &rec.route)],
                1,
            );
        }
        if rec.client_left {
            return None;
        }
        let group_size = deployment.map_or(1, |d| {
            config
                .deployments
                .iter()
                .filter(|x| x.model_name == d.model_name)
                .count()
        });
        let class = labels.get(Label::ExceptionClass);
        Some(Outcome {
            deployment: DEPLOYMENT_LABELS.map(|l| labels.get(l).to_owned()),
            model_group: labels.get(Label::ModelGroup).to_owned(),
            group_size: u32::try_from(group_size).unwrap_or(u32::MAX),
            time_ms: now_ns / 1_000_000,
            status: if ok {
                0
            } else {
                labels.get(Label::ExceptionStatus).parse().unwrap_or(0)
            },
            class: if ok {
                String::new()
            } else {
                class.rsplit_once('.').map_or(class, |(_, c)| c).to_owned()
            },
            successes: u32::from(ok),
        })
    }

    /// Writes what the deployment health model decided: `litellm_deployment_state`, and
    /// `litellm_deployment_cooled_down` when a cooldown began (only the coordinator VM calls
    /// this; Envoy's stats are shared by every VM).
    pub fn record_health(&mut self, update: &HealthUpdate) {
        let status = update.cooldown.as_ref().map(|c| c.status.to_string());
        let mut labels = LabelValues::unknown();
        for (l, v) in DEPLOYMENT_LABELS.iter().zip(&update.deployment) {
            labels.borrow(*l, v);
        }
        if let Some(status) = &status {
            labels.borrow(Label::ExceptionStatus, status);
        }
        for v in labels.values.iter_mut() {
            v.truncate(self.max_value_bytes);
        }
        // Named from the values themselves, not interned: these stats carry no request's
        // other labels (custom ones are `None`, as LiteLLM sets them from the deployment alone),
        // and the model bounds the deployments.
        self.label_ids.clear();
        self.label_ids.resize(self.interners.len(), FOLDED);
        if status.is_some() && self.enabled[FamilyId::DeploymentCooledDown as usize] {
            let family = FamilyId::DeploymentCooledDown;
            let mut name = String::with_capacity(256);
            name.push_str(family.family().name);
            name.push_str("_total");
            self.push_labels(&mut name, family, |_, i| labels.at(i));
            end_labels(&mut name);
            if self.own.contains_key(name.as_str()) || self.own.len() < self.max_series {
                let slot = self.own.entry(name).or_insert(Slot::EMPTY);
                slot.pending += 1;
                slot.touched = true;
            } else {
                self.count_own(own::SERIES_FOLDED, &[], 1);
            }
        }
        self.gauge(FamilyId::DeploymentState, &labels, u64::from(update.state));
    }

    /// The series of a label set, folding values and series past their bounds. Leaves the
    /// request's interned ids in `label_ids` for its gauges and health.
    fn series_for(&mut self, labels: &LabelValues) -> u32 {
        let all = labels.values.iter().chain(labels.custom.iter());
        let n = all.clone().count().min(self.interners.len());
        let max_values = self.max_values;
        let mut folded = false;
        // Sized once and written in place: a push per label costs more than the interning.
        self.label_ids.resize(n, 0);
        let slots = self.interners.iter_mut().zip(self.label_ids.iter_mut());
        let admission = &mut *self.admission;
        for (label, (value, (interner, id))) in all.zip(slots).enumerate() {
            *id = interner
                .intern(value, max_values, label, admission)
                .unwrap_or(FOLDED);
            folded |= *id == FOLDED;
        }
        if folded {
            self.count_folded_values();
        }
        self.scratch.clear();
        let ids = self.label_ids.iter();
        self.scratch
            .extend(ids.map(|&id| if id == FOLDED { 0 } else { id }));
        // Consecutive requests mostly land in the same series.
        let last = self.series.get(self.last_series as usize);
        if last.is_some_and(|s| *s.values == *self.scratch) {
            return self.last_series;
        }
        let id = self.find_or_add_series();
        self.last_series = id;
        id
    }

    /// Counts the current request's folded label values, by label.
    fn count_folded_values(&mut self) {
        for i in 0..self.label_ids.len() {
            if self.label_ids.get(i) != Some(&FOLDED) {
                continue;
            }
            let key = ALL_LABELS
                .get(i)
                .map(|l| l.as_str().to_owned())
                .or_else(|| self.custom_names.get(i - LABEL_COUNT).cloned())
                .unwrap_or_default();
            self.count_own(own::LABEL_VALUES_FOLDED, &[("label", &key)], 1);
        }
    }

    /// The series of the ids in `scratch`, added when new (or the all-overflow series).
    fn find_or_add_series(&mut self) -> u32 {
        if let Some(&id) = self.series_index.get(self.scratch.as_slice()) {
            let refused = self.refused_series > 0
                && self
                    .series
                    .get(id as usize)
                    .is_some_and(|s| *s.values != *self.scratch);
            if refused {
                // A label set the admission refused: it lives in the overflow series.
                self.count_own(own::SERIES_FOLDED, &[], 1);
            }
            return id;
        }
        let overflow = self.scratch.iter().all(|&v| v == 0);
        // Too many definitions already waiting: a new label set would only lengthen the queue.
        let full =
            self.series.len() >= self.max_series || (!overflow && self.backlog >= self.max_backlog);
        let refused = !full
            && !overflow
            && !self
                .admission
                .admit_series(self.series_key(), self.max_series);
        if full || refused {
            self.count_own(own::SERIES_FOLDED, &[], 1);
            let key: Box<[u32]> = self.scratch.as_slice().into();
            self.scratch.iter_mut().for_each(|v| *v = 0);
            let id = match self.series_index.get(self.scratch.as_slice()) {
                Some(id) => *id,
                None => self.add_series(),
            };
            if refused && self.refused_series < self.max_series {
                // Refused for good (the bound is full): not asked about again.
                self.refused_series += 1;
                self.series_index.insert(key, id);
            }
            return id;
        }
        self.add_series()
    }

    /// A hash of the current label set's values (`scratch`), the same in every VM.
    fn series_key(&self) -> u64 {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for (i, &id) in self.scratch.iter().enumerate() {
            let value = self.interners.get(i).map_or(OVERFLOW, |int| int.value(id));
            for b in value.bytes().chain(std::iter::once(0xff)) {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        h
    }

    /// Adds the series of the ids in `scratch`.
    fn add_series(&mut self) -> u32 {
        self.backlog = self.backlog.saturating_add(self.slot_count);
        let id = u32::try_from(self.series.len()).unwrap_or(0);
        let key: Box<[u32]> = self.scratch.as_slice().into();
        self.series.push(Series {
            values: key.clone(),
            slots: vec![Slot::EMPTY; self.slot_count].into_boxed_slice(),
            dirty: false,
        });
        self.series_index.insert(key, id);
        id
    }

    /// Marks a series as having updates for the next flush.
    fn touch(&mut self, series: u32) {
        if let Some(s) = self.series.get_mut(series as usize) {
            if !s.dirty {
                s.dirty = true;
                self.dirty.push(series);
            }
        }
    }

    /// The slots of one family in a series (after [`Metrics::touch`]); `None` when disabled.
    #[inline(always)]
    fn slots(&mut self, series: u32, family: FamilyId, len: usize) -> Option<&mut [Slot]> {
        let base = self.offsets[family as usize]? as usize;
        let s = self.series.get_mut(series as usize)?;
        s.slots.get_mut(base..base + len)
    }

    fn count(&mut self, series: u32, family: FamilyId, delta: u64) {
        if let Some([slot]) = self.slots(series, family, 1) {
            slot.pending = slot.pending.saturating_add(delta);
            slot.touched = true;
        }
    }

    fn observe(&mut self, series: u32, family: FamilyId, micros: u64) {
        let buckets = family.family().buckets;
        let n = buckets.len();
        let Some(slots) = self.slots(series, family, n + 3) else {
            return;
        };
        let (bucket_slots, rest) = slots.split_at_mut(n);
        // Cumulative, as Prometheus histograms are: every bucket whose bound holds the value.
        for (slot, b) in bucket_slots.iter_mut().zip(buckets) {
            slot.pending += u64::from(micros <= b.micros);
        }
        // +Inf, _count, _sum_microseconds. `touched` marks the whole family for the flush,
        // which defines and sends every part of it: one part carrying it is enough.
        for (slot, add) in rest.iter_mut().zip([1, 1, micros]) {
            slot.pending = slot.pending.saturating_add(add);
            slot.touched = true;
        }
    }

    /// Sets a gauge of the current request (after [`Metrics::series_for`]).
    fn gauge(&mut self, family: FamilyId, labels: &LabelValues, value: u64) {
        if !self.enabled[family as usize] {
            return;
        }
        let mut key = std::mem::take(&mut self.gauge_key);
        key.clear();
        key.push(family as u32);
        let indexes = self.name_labels.get(family as usize).map_or(&[][..], |l| l);
        let ids = indexes
            .iter()
            .map(|&i| self.label_ids.get(i).copied().unwrap_or(FOLDED));
        key.extend(ids);
        let folded = key.contains(&FOLDED);
        let last = self.last_gauge[family as usize];
        let found = if folded {
            let mut name = std::mem::take(&mut self.name);
            name.clear();
            name.push_str(family.family().name);
            self.push_labels(&mut name, family, |_, i| labels.at(i));
            end_labels(&mut name);
            let found = self.gauge_names.get(name.as_str()).copied();
            self.name = name;
            found
        } else if self
            .gauges
            .get(last as usize)
            .is_some_and(|g| matches!(&g.key, GaugeKey::Ids(k) if k.as_ref() == key.as_slice()))
        {
            Some(last)
        } else {
            self.gauge_ids.get(key.as_slice()).copied()
        };
        match found {
            Some(i) => {
                if let Some(g) = self.gauges.get_mut(i as usize) {
                    g.value = value;
                    g.dirty = true;
                }
                self.last_gauge[family as usize] = i;
            }
            None if self.gauges.len() < self.max_series.saturating_mul(4)
                && self.backlog < self.max_backlog =>
            {
                self.backlog += 1;
                let i = u32::try_from(self.gauges.len()).unwrap_or(UNDEFINED);
                let key = if folded {
                    let name: Rc<str> = self.name.as_str().into();
                    self.gauge_names.insert(name.clone(), i);
                    GaugeKey::Name(name)
                } else {
                    let ids: Rc<[u32]> = key.as_slice().into();
                    self.gauge_ids.insert(ids.clone(), i);
                    GaugeKey::Ids(ids)
                };
                self.gauges.push(Gauge {
                    family,
                    key,
                    value,
                    id: UNDEFINED,
                    dirty: true,
                    deferred: false,
                });
                self.last_gauge[family as usize] = i;
            }
            None => self.count_own(own::SERIES_FOLDED, &[], 1),
        }
        self.gauge_key = key;
    }

    /// Sets a gauge that belongs to no request (the budget gauges, set from the shared spend on
    /// the tick): `values` are its labels, every other label `None`. Bounded like every gauge.
    pub fn set_gauge(&mut self, family: FamilyId, values: &[(Label, &str)], value: u64) {
        if !self.enabled[family as usize] {
            return;
        }
        let mut labels = LabelValues::unknown();
        for (label, v) in values {
            let mut v = LabelValue::Owned((*v).into());
            if v.len() > self.max_value_bytes {
                v.truncate(self.max_value_bytes);
            }
            labels.set(*label, v);
        }
        self.label_ids.clear();
        self.label_ids.resize(self.interners.len(), FOLDED);
        let indexes = self
            .name_labels
            .get(family as usize)
            .cloned()
            .unwrap_or_default();
        let admission = &mut *self.admission;
        for &i in indexes.iter() {
            let value = match labels.values.get(i) {
                Some(v) => v.clone(),
                None => LabelValue::Static(UNKNOWN),
            };
            if let (Some(interner), Some(id)) =
                (self.interners.get_mut(i), self.label_ids.get_mut(i))
            {
                *id = interner
                    .intern(&value, self.max_values, i, admission)
                    .unwrap_or(FOLDED);
            }
        }
        self.gauge(family, &labels, value);
    }

    /// Adds to one of the filter's own counters (`labels` as given, bounded like the rest).
    pub fn count_own_counter(&mut self, name: &str, labels: &[(&str, &str)], delta: u64) {
        self.count_own(name, labels, delta);
    }

    fn count_own(&mut self, name: &str, labels: &[(&str, &str)], delta: u64) {
        let mut full = std::mem::take(&mut self.name);
        full.clear();
        full.push_str(name);
        for (k, v) in labels {
            push_label(&mut full, k, v);
        }
        end_labels(&mut full);
        // `route` comes from the client's path: past the bound, label values fold too.
        if !self.own.contains_key(full.as_str()) && self.own.len() >= self.max_series {
            full.truncate(name.len());
            for (k, _) in labels {
                push_label(&mut full, k, OVERFLOW);
            }
            end_labels(&mut full);
        }
        // The name is allocated only for a counter seen for the first time.
        let slot = match self.own.get_mut(full.as_str()) {
            Some(slot) => slot,
            None => self.own.entry(full.clone()).or_insert(Slot::EMPTY),
        };
        slot.pending += delta;
        slot.touched = true;
        self.name = full;
    }

    /// Appends the family's labels (see [`Metrics::name_labels`]). `value` gives the value of
    /// the label at a position of that list, and its index in the interners' order.
    fn push_labels<'a>(
        &self,
        out: &mut String,
        family: FamilyId,
        value: impl Fn(usize, usize) -> &'a str,
    ) {
        let Some(indexes) = self.name_labels.get(family as usize) else {
            return;
        };
        let omit_unknown = family.family().omit_unknown;
        for (pos, &i) in indexes.iter().enumerate() {
            let key = ALL_LABELS.get(i).map(|l| l.as_str()).or_else(|| {
                self.custom_names
                    .get(i.checked_sub(LABEL_COUNT)?)
                    .map(String::as_str)
            });
            let v = value(pos, i);
            if omit_unknown && v == UNKNOWN {
                continue;
            }
            push_label(out, key.unwrap_or_default(), v);
        }
    }

    /// Sends every pending update to the host: defines stats seen for the first time (all the
    /// buckets of a histogram at once, so `histogram_quantile` sees the full ladder), adds
    /// counter deltas, sets gauges. No bound on new stats: see [`Metrics::flush_budgeted`].
    pub fn flush(&mut self, sink: &mut dyn StatSink) {
        self.flush_budgeted(sink, usize::MAX);
    }

    /// [`Metrics::flush`] defining at most `budget` new stats: the filter's own counters first,
    /// then series in the order they first had updates, then gauges. A family that does not fit
    /// waits whole, with everything after it (nothing jumps the queue), its counts kept for a
    /// later flush; every stat that had to wait is counted once in
    /// `llm_telemetry_stat_definitions_deferred_total`.
    pub fn flush_budgeted(&mut self, sink: &mut dyn StatSink, budget: usize) -> FlushReport {
        let mut left = budget;
        let mut report = FlushReport::default();
        let mut deferred = 0u64;
        for (name, slot) in self.own.iter_mut() {
            if !slot.touched {
                continue;
            }
            if slot.id == UNDEFINED {
                if left == 0 {
                    report.waiting += 1;
                    deferred += u64::from(!std::mem::replace(&mut slot.deferred, true));
                    continue;
                }
                left -= 1;
                match sink.define(Kind::Counter, name) {
                    Some(id) => {
                        slot.id = id;
                        report.defined += 1;
                    }
                    None => continue,
                }
            }
            sink.add(slot.id, slot.pending);
            slot.pending = 0;
            slot.touched = false;
        }
        let dirty = std::mem::take(&mut self.dirty);
        let mut waiting = std::mem::take(&mut self.waiting_series);
        waiting.clear();
        for &si in &dirty {
            let si = si as usize;
            let Some(series) = self.series.get_mut(si) else {
                continue;
            };
            series.dirty = false;
            let mut waits = false;
            for f in &FAMILIES {
                let Some(base) = self.offsets[f.id as usize].map(|o| o as usize) else {
                    continue;
                };
                let n = slots_of(f);
                let Some(slots) = self.series[si].slots.get_mut(base..base + n) else {
                    continue;
                };
                if !slots.iter().any(|x| x.touched) {
                    continue;
                }
                let undefined = slots.iter().filter(|x| x.id == UNDEFINED).count();
                if undefined > left {
                    waits = true;
                    left = 0;
                    report.waiting += undefined;
                    for x in slots.iter_mut().filter(|x| x.id == UNDEFINED) {
                        deferred += u64::from(!std::mem::replace(&mut x.deferred, true));
                    }
                    continue;
                }
                left -= undefined;
                for part in 0..n {
                    let slot = self.series[si].slots[base + part];
                    let id = if slot.id == UNDEFINED {
                        let name = self.series_stat_name(si, f, part);
                        match sink.define(Kind::Counter, &name) {
                            Some(id) => {
                                self.series[si].slots[base + part].id = id;
                                report.defined += 1;
                                id
                            }
                            None => continue,
                        }
                    } else {
                        slot.id
                    };
                    if slot.pending > 0 || slot.id == UNDEFINED {
                        sink.add(id, slot.pending);
                    }
                    let s = &mut self.series[si].slots[base + part];
                    s.pending = 0;
                    s.touched = false;
                }
            }
            if waits {
                if let Some(series) = self.series.get_mut(si) {
                    series.dirty = true;
                }
                waiting.push(si as u32);
            }
        }
        // Series still waiting go first next time: they were dirty before anything touched now.
        self.dirty = dirty;
        self.dirty.clear();
        self.dirty.extend_from_slice(&waiting);
        self.waiting_series = waiting;
        for gi in 0..self.gauges.len() {
            let Some(g) = self.gauges.get(gi) else { break };
            if !g.dirty {
                continue;
            }
            let id = if g.id == UNDEFINED {
                if left == 0 {
                    report.waiting += 1;
                    if let Some(g) = self.gauges.get_mut(gi) {
                        deferred += u64::from(!std::mem::replace(&mut g.deferred, true));
                    }
                    continue;
                }
                left -= 1;
                let name = self.gauge_stat_name(g);
                match sink.define(Kind::Gauge, &name) {
                    Some(id) => {
                        report.defined += 1;
                        id
                    }
                    None => continue,
                }
            } else {
                g.id
            };
            if let Some(g) = self.gauges.get_mut(gi) {
                g.id = id;
                sink.set(id, g.value);
                g.dirty = false;
            }
        }
        if deferred > 0 {
            self.count_own(own::STAT_DEFINITIONS_DEFERRED, &[], deferred);
        }
        self.backlog = report.waiting;
        report
    }

    /// Whether definitions are waiting for the budget (the host then flushes sooner).
    pub fn has_backlog(&self) -> bool {
        self.backlog > 0
    }

    /// Stats the next flush would define, were there no budget (the host asks for that much).
    pub fn pending_definitions(&self) -> usize {
        let own = self
            .own
            .values()
            .filter(|s| s.touched && s.id == UNDEFINED)
            .count();
        let gauges = self
            .gauges
            .iter()
            .filter(|g| g.dirty && g.id == UNDEFINED)
            .count();
        let mut series = 0;
        for s in self
            .dirty
            .iter()
            .filter_map(|&si| self.series.get(si as usize))
        {
            for f in &FAMILIES {
                let Some(base) = self.offsets[f.id as usize].map(|o| o as usize) else {
                    continue;
                };
                // A family is flushed whole once any part is touched (a histogram marks a few).
                if let Some(slots) = s.slots.get(base..base + slots_of(f)) {
                    if slots.iter().any(|x| x.touched) {
                        series += slots.iter().filter(|x| x.id == UNDEFINED).count();
                    }
                }
            }
        }
        own + gauges + series
    }

    /// Counts stats the host defined and the time that took (the filter's own counters).
    pub fn note_definitions(&mut self, defined: usize, micros: u64) {
        if defined > 0 {
            self.count_own(own::STAT_DEFINITIONS, &[], defined as u64);
            self.count_own(own::STAT_DEFINITION_MICROSECONDS, &[], micros);
        }
    }

    /// The encoded stat name of a gauge.
    fn gauge_stat_name(&self, g: &Gauge) -> String {
        match &g.key {
            GaugeKey::Name(name) => name.to_string(),
            GaugeKey::Ids(key) => {
                let mut name = String::with_capacity(256);
                name.push_str(g.family.family().name);
                // The key starts with the family; the label ids follow in name order.
                let ids = key.get(1..).unwrap_or_default();
                self.push_labels(&mut name, g.family, |pos, i| {
                    let id = ids.get(pos).copied().unwrap_or(0);
                    self.interners.get(i).map_or(OVERFLOW, |int| int.value(id))
                });
                end_labels(&mut name);
                name
            }
        }
    }

    /// The encoded stat name of one part of one family in series `si`: counters get `_total`;
    /// histogram parts are the buckets, `+Inf`, `_count` and `_sum_microseconds`.
    fn series_stat_name(&self, si: usize, f: &Family, part: usize) -> String {
        let mut name = String::with_capacity(256);
        name.push_str(f.name);
        let n = f.buckets.len();
        let le = match f.kind {
            Kind::Histogram if part < n => {
                name.push_str("_bucket");
                f.buckets.get(part).map(|b| b.le)
            }
            Kind::Histogram if part == n => {
                name.push_str("_bucket");
                Some("+Inf")
            }
            Kind::Histogram if part == n + 1 => {
                name.push_str("_count");
                None
            }
            Kind::Histogram => {
                name.push_str(f.sum_suffix);
                None
            }
            _ => {
                name.push_str("_total");
                None
            }
        };
        let Some(series) = self.series.get(si) else {
            end_labels(&mut name);
            return name;
        };
        self.push_labels(&mut name, f.id, |_, i| {
            let id = series.values.get(i).copied().unwrap_or(0);
            self.interners.get(i).map_or(OVERFLOW, |int| int.value(id))
        });
        if let Some((k, v)) = f.fixed_label {
            push_label(&mut name, k, v);
        }
        if let Some(le) = le {
            push_label(&mut name, "le", le);
        }
        end_labels(&mut name);
        name
    }
}
