//! OpenTelemetry: one span per request, encoded as OTLP/HTTP JSON (`ExportTraceServiceRequest`),
//! with the attributes LiteLLM 1.106.2's `opentelemetry.py` sets on its `litellm_request` span
//! and the gen_ai semantic-convention ones.
//!
//! OTLP/JSON rules followed (opentelemetry-proto's JSON mapping): `traceId` / `spanId` are
//! lowercase hex (not base64), 64-bit integers — the times in `*UnixNano` and `intValue` — are
//! decimal strings, enums (`kind`, `status.code`) are integers, attribute values are typed
//! (`stringValue`, `intValue`, `doubleValue`, `boolValue`).
//!
//! Trace context: a valid W3C `traceparent` on the request makes the span a child of the
//! caller's span in the caller's trace (its `tracestate` is kept); else the trace and span ids
//! are new. An unsampled parent (`flags` 00) means no span, as LiteLLM's SDK does with its
//! default parent-based sampler.

// `push_str("x")` on purpose: `String::push(char)` is not inlined and encodes UTF-8 each call
// (measured: a seventh of a payload's instructions went there).
#![allow(clippy::single_char_add_str)]

use serde_json::{Map, Value};

use super::call_id::{push_hex, IdGenerator};
use super::input::LogInput;
use super::json::{key, push_f64, push_pico_usd, push_string, push_u64, push_value, Obj};
use super::payload::{
    cost_breakdown, metadata_fields, push_hidden_params, push_object, push_usage_object,
    total_tokens, MetadataField,
};
use crate::outbox::Framing;

/// LiteLLM's span name (`LITELLM_REQUEST_SPAN_NAME`); `metadata.generation_name` replaces it.
pub const SPAN_NAME: &str = "litellm_request";
/// `SPAN_KIND_INTERNAL`: what LiteLLM's default (non-semconv-opt-in) mode creates.
const SPAN_KIND_INTERNAL: u8 = 1;
/// `STATUS_CODE_OK` / `STATUS_CODE_ERROR`.
const STATUS_OK: u8 = 1;
const STATUS_ERROR: u8 = 2;
/// Longest `tracestate` passed on (W3C's limit).
const MAX_TRACESTATE_LEN: usize = 512;

/// A parsed W3C `traceparent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    /// The caller's trace.
    pub trace_id: [u8; 16],
    /// The caller's span: the parent of ours.
    pub parent_span_id: [u8; 8],
    /// The `sampled` flag.
    pub sampled: bool,
}

fn hex_nibble(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Lowercase hex into `out` (W3C forbids uppercase); false on any other character.
fn decode_hex(text: &[u8], out: &mut [u8]) -> bool {
    if text.len() != out.len() * 2 {
        return false;
    }
    for (i, o) in out.iter_mut().enumerate() {
        match (hex_nibble(text[2 * i]), hex_nibble(text[2 * i + 1])) {
            (Some(h), Some(l)) => *o = (h << 4) | l,
            _ => return false,
        }
    }
    true
}

/// Parses `traceparent` per W3C Trace Context: `version-traceid-parentid-flags`, lowercase hex,
/// version `ff` invalid, version `00` exactly 55 characters, a later version possibly longer
/// (what follows must start with `-`), all-zero ids invalid. `None` for anything else: the span
/// then starts a new trace.
pub fn parse_traceparent(header: &str) -> Option<TraceParent> {
    let b = header.trim().as_bytes();
    if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return None;
    }
    let mut version = [0u8; 1];
    if !decode_hex(&b[0..2], &mut version) || version[0] == 0xff {
        return None;
    }
    if (version[0] == 0 && b.len() != 55) || (b.len() > 55 && b[55] != b'-') {
        return None;
    }
    let mut trace_id = [0u8; 16];
    let mut parent_span_id = [0u8; 8];
    let mut flags = [0u8; 1];
    if !decode_hex(&b[3..35], &mut trace_id)
        || !decode_hex(&b[36..52], &mut parent_span_id)
        || !decode_hex(&b[53..55], &mut flags)
        || trace_id == [0; 16]
        || parent_span_id == [0; 8]
    {
        return None;
    }
    Some(TraceParent {
        trace_id,
        parent_span_id,
        sampled: flags[0] & 1 == 1,
    })
}

/// The ids of a request's span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanIds<'a> {
    /// The trace (the caller's, or new).
    pub trace_id: [u8; 16],
    /// Ours.
    pub span_id: [u8; 8],
    /// The caller's span, when there is one.
    pub parent_span_id: Option<[u8; 8]>,
    /// The caller's `tracestate`, passed on.
    pub trace_state: Option<&'a str>,
    /// Whether the span is recorded (false: the caller's trace is not sampled).
    pub sampled: bool,
}

impl<'a> SpanIds<'a> {
    /// Ids for `input`'s span: joins its `traceparent`'s trace when valid, else a new trace.
    pub fn for_request(input: &LogInput<'a>, gen: &mut IdGenerator) -> SpanIds<'a> {
        let span_id = gen.span_id();
        match input.traceparent.and_then(parse_traceparent) {
            Some(tp) => SpanIds {
                trace_id: tp.trace_id,
                span_id,
                parent_span_id: Some(tp.parent_span_id),
                trace_state: input
                    .tracestate
                    .map(str::trim)
                    .filter(|s| !s.is_empty() && s.len() <= MAX_TRACESTATE_LEN),
                sampled: tp.sampled,
            },
            None => SpanIds {
                trace_id: gen.trace_id(),
                span_id,
                parent_span_id: None,
                trace_state: None,
                sampled: true,
            },
        }
    }
}

/// The resource and instrumentation scope every span of a destination carries (LiteLLM's
/// `OTEL_SERVICE_NAME`, `OTEL_ENVIRONMENT_NAME`, `OTEL_MODEL_ID`, `OTEL_TRACER_NAME`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtelResource {
    /// `service.name` (default `litellm`).
    pub service_name: String,
    /// `deployment.environment` (default `production`).
    pub environment: String,
    /// `model_id` (default: the service name).
    pub model_id: String,
    /// The scope name (default `litellm`).
    pub tracer_name: String,
}

impl Default for OtelResource {
    fn default() -> Self {
        OtelResource {
            service_name: "litellm".into(),
            environment: "production".into(),
            model_id: "litellm".into(),
            tracer_name: "litellm".into(),
        }
    }
}

impl OtelResource {
    /// The `ExportTraceServiceRequest` envelope around a batch of spans.
    pub fn framing(&self) -> Framing {
        let mut head = String::from(r#"{"resourceSpans":[{"resource":{"attributes":"#);
        let mut a = Attrs::begin(&mut head);
        a.str("service.name", &self.service_name);
        a.str("deployment.environment", &self.environment);
        a.str("model_id", &self.model_id);
        a.end();
        head.push_str(r#"},"scopeSpans":[{"scope":{"name":"#);
        push_string(&mut head, &self.tracer_name);
        head.push_str(r#"},"spans":["#);
        Framing::Enclosed {
            head,
            tail: "]}]}]}".into(),
        }
    }
}

/// Span switches from the configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpanOptions {
    /// Leave `metadata.user_api_key_*` attributes out.
    pub redact_user_api_key_info: bool,
}

/// An OTLP attribute list being written. Attribute names are the encoder's own (static,
/// plain ASCII), so they are copied without escaping.
struct Attrs<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Attrs<'a> {
    fn begin(out: &'a mut String) -> Attrs<'a> {
        out.push_str("[");
        Attrs { out, first: true }
    }

    /// `{"key":"<prefix><key>","value":{"<kind>":` — the caller writes the value and
    /// [`Attrs::close`]s.
    fn open(&mut self, prefix: &'static str, key: &'static str, kind: &'static str) -> &mut String {
        self.out.push_str(if self.first {
            r#"{"key":""#
        } else {
            r#",{"key":""#
        });
        self.first = false;
        self.out.push_str(prefix);
        self.out.push_str(key);
        self.out.push_str(r#"","value":{""#);
        self.out.push_str(kind);
        self.out.push_str("\":");
        self.out
    }

    fn close(&mut self) {
        self.out.push_str("}}");
    }

    fn str_in(&mut self, prefix: &'static str, key: &'static str, v: &str) {
        push_string(self.open(prefix, key, "stringValue"), v);
        self.close();
    }

    fn str(&mut self, key: &'static str, v: &str) {
        self.str_in("", key, v);
    }

    fn opt_str(&mut self, key: &'static str, v: Option<&str>) {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            self.str(key, v);
        }
    }

    fn int(&mut self, key: &'static str, v: i64) {
        let out = self.open("", key, "intValue");
        out.push_str(if v < 0 { "\"-" } else { "\"" });
        push_u64(out, v.unsigned_abs());
        out.push_str("\"");
        self.close();
    }

    fn double_in(&mut self, prefix: &'static str, key: &'static str, v: f64) {
        if v.is_finite() {
            push_f64(self.open(prefix, key, "doubleValue"), v);
            self.close();
        }
    }

    fn double(&mut self, key: &'static str, v: f64) {
        self.double_in("", key, v);
    }

    /// A JSON number from the request body as an int or double attribute (strings and other
    /// values are skipped: LiteLLM only sets these when they are truthy numbers).
    fn number(&mut self, key: &'static str, raw: &[u8]) {
        if let Ok(Value::Number(n)) = serde_json::from_slice::<Value>(raw) {
            if let Some(i) = n.as_i64() {
                if i != 0 {
                    self.int(key, i);
                }
            } else if let Some(f) = n.as_f64() {
                if f != 0.0 {
                    self.double(key, f);
                }
            }
        }
    }

    fn end(self) {
        self.out.push_str("]");
    }
}

/// A model parameter's raw value.
fn param<'a>(input: &LogInput<'a>, key: &str) -> Option<&'a [u8]> {
    input
        .model_parameters
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
}

/// A model parameter that is a JSON string.
fn param_str(input: &LogInput, key: &str) -> Option<String> {
    param(input, key).and_then(|raw| serde_json::from_slice::<String>(raw).ok())
}

/// Appends the span of `input` (one element of the envelope's `spans`).
pub fn encode_span(input: &LogInput, ids: &SpanIds, opts: &SpanOptions, out: &mut String) {
    let hex = |bytes: &[u8]| {
        let mut h = String::with_capacity(32);
        push_hex(&mut h, bytes);
        h
    };
    let mut o = Obj::begin(out);
    o.str(key!("traceId"), &hex(&ids.trace_id));
    o.str(key!("spanId"), &hex(&ids.span_id));
    if let Some(p) = ids.parent_span_id {
        o.str(key!("parentSpanId"), &hex(&p));
    }
    if let Some(ts) = ids.trace_state {
        o.str(key!("traceState"), ts);
    }
    o.str(
        key!("name"),
        input.metadata_str("generation_name").unwrap_or(SPAN_NAME),
    );
    o.u64(key!("kind"), u64::from(SPAN_KIND_INTERNAL));
    for (k, ns) in [
        (key!("startTimeUnixNano"), input.start_ns),
        (key!("endTimeUnixNano"), input.end_ns.max(input.start_ns)),
    ] {
        let v = o.field(k);
        v.push_str("\"");
        push_u64(v, ns);
        v.push_str("\"");
    }
    write_attributes(o.field(key!("attributes")), input, opts);
    {
        let mut s = Obj::begin(o.field(key!("status")));
        s.u64(
            key!("code"),
            u64::from(if input.succeeded() {
                STATUS_OK
            } else {
                STATUS_ERROR
            }),
        );
        s.end();
    }
    o.end();
}

fn write_attributes(out: &mut String, input: &LogInput, opts: &SpanOptions) {
    let mut a = Attrs::begin(out);
    // LiteLLM: one `metadata.<key>` per StandardLoggingMetadata field (null ones skipped here).
    let mut scratch = String::new();
    const M: &str = "metadata.";
    metadata_fields(input, opts.redact_user_api_key_info, &mut |field| {
        let key = field.key().name;
        match field {
            MetadataField::Null(_) | MetadataField::Usage(_, None) => {}
            MetadataField::Str(_, v) => a.str_in(M, key, v),
            MetadataField::Float(_, v) => a.double_in(M, key, v),
            MetadataField::Json(_, v) => {
                scratch.clear();
                push_value(&mut scratch, v);
                a.str_in(M, key, &scratch);
            }
            MetadataField::Object(_, m) => {
                scratch.clear();
                push_object(&mut scratch, m);
                a.str_in(M, key, &scratch);
            }
            MetadataField::Usage(_, Some(u)) => {
                scratch.clear();
                push_usage_object(&mut scratch, Some(u));
                a.str_in(M, key, &scratch);
            }
        }
    });
    scratch.clear();
    push_hidden_params(&mut scratch, input);
    a.str("hidden_params", &scratch);
    a.opt_str("http.route", Some(input.route));
    a.opt_str("litellm.model_group", input.model_group);
    a.opt_str(
        "litellm.provider.model",
        input.litellm_model_name.or(Some(input.model)),
    );
    // LiteLLM: one `gen_ai.cost.<key>` per non-null `cost_breakdown` entry.
    if let Some(amounts) = cost_breakdown(input) {
        for (k, pico) in amounts {
            push_pico_usd(a.open("gen_ai.cost.", k.name, "doubleValue"), pico);
            a.close();
        }
        a.opt_str("gen_ai.cost.service_tier", input.service_tier());
    }
    a.opt_str(
        "gen_ai.request.model",
        input.litellm_model_name.or(input.requested_model),
    );
    a.str("llm.request.type", input.call_type());
    let provider = input.provider().unwrap_or("Unknown");
    a.str("gen_ai.system", provider);
    a.str("gen_ai.provider.name", provider);
    a.str("gen_ai.operation.name", input.operation_name());
    for (param_key, attr) in [
        ("max_tokens", "gen_ai.request.max_tokens"),
        ("temperature", "gen_ai.request.temperature"),
        ("top_p", "gen_ai.request.top_p"),
        ("frequency_penalty", "gen_ai.request.frequency_penalty"),
        ("presence_penalty", "gen_ai.request.presence_penalty"),
        ("top_k", "gen_ai.request.top_k"),
        ("seed", "gen_ai.request.seed"),
    ] {
        if let Some(raw) = param(input, param_key) {
            a.number(attr, raw);
        }
    }
    // Python's `str(bool)`, as LiteLLM writes it.
    a.str(
        "llm.is_streaming",
        if input.stream { "True" } else { "False" },
    );
    if let Some(user) = param_str(input, "user") {
        a.opt_str("llm.user", Some(&user));
    }
    a.str("gen_ai.response.id", input.payload_id());
    a.str("litellm.call_id", input.call_id);
    a.opt_str("gen_ai.response.model", input.response_model);
    a.opt_str(
        "gen_ai.openai.request.service_tier",
        input.requested_service_tier,
    );
    a.opt_str(
        "gen_ai.openai.response.service_tier",
        input.served_service_tier,
    );
    if let Some(u) = &input.usage {
        a.int("gen_ai.usage.total_tokens", to_i64(total_tokens(u)));
        a.int("gen_ai.usage.output_tokens", to_i64(u.output));
        a.int("gen_ai.usage.input_tokens", to_i64(u.input));
        if u.input_cached > 0 {
            a.int(
                "gen_ai.usage.cache_read.input_tokens",
                to_i64(u.input_cached),
            );
        }
        if u.input_cache_creation > 0 {
            a.int(
                "gen_ai.usage.cache_creation.input_tokens",
                to_i64(u.input_cache_creation),
            );
        }
    }
    if input.messages_logged {
        write_content(&mut a, input, &mut scratch);
    }
    if input.status != 0 {
        a.int("http.response.status_code", i64::from(input.status));
    }
    if let Some(error) = input.error_text() {
        let code = if input.status == 0 { 500 } else { input.status };
        a.str("error.code", &code.to_string());
        if input.status == 0 {
            a.int("http.response.status_code", 500);
        }
        a.opt_str("error.type", input.error_class);
        a.str("error.message", &error);
        a.opt_str("error.llm_provider", input.provider());
    }
    a.end();
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `gen_ai.input.messages` / `gen_ai.output.messages` in the semantic conventions' parts
/// format (as LiteLLM transforms them), and `gen_ai.response.finish_reasons`. A body that is not
/// whole JSON goes as its text.
fn write_content(a: &mut Attrs, input: &LogInput, scratch: &mut String) {
    if let Some(m) = &input.messages {
        scratch.clear();
        match parse_whole(m) {
            Some(v) => push_value(scratch, &input_messages(v)),
            None => m.push_text(scratch),
        }
        a.str("gen_ai.input.messages", &json_text(scratch));
    }
    // A failure's body is an error, not output (LiteLLM has no response then).
    if let Some(r) = input.response.as_ref().filter(|_| input.succeeded()) {
        scratch.clear();
        let parsed = parse_whole(r);
        let choices = parsed
            .as_ref()
            .and_then(|v| v.get("choices"))
            .and_then(Value::as_array);
        match choices {
            Some(choices) => {
                push_value(scratch, &output_messages(choices));
                a.str("gen_ai.output.messages", scratch);
                let reasons: Vec<Value> = choices
                    .iter()
                    .filter_map(|c| c.get("finish_reason"))
                    .filter(|f| f.as_str().is_some_and(|s| !s.is_empty()))
                    .cloned()
                    .collect();
                if !reasons.is_empty() {
                    scratch.clear();
                    push_value(scratch, &Value::Array(reasons));
                    a.str("gen_ai.response.finish_reasons", scratch);
                }
            }
            None => {
                match &parsed {
                    Some(v) => push_value(scratch, v),
                    None => r.push_text(scratch),
                }
                a.str("gen_ai.output.messages", &json_text(scratch));
            }
        }
    }
}

/// A JSON string literal's content (`"abc"` → `abc`); anything else as it is.
fn json_text(s: &str) -> String {
    if s.starts_with('"') {
        serde_json::from_str::<String>(s).unwrap_or_else(|_| s.to_owned())
    } else {
        s.to_owned()
    }
}

fn parse_whole(c: &super::capture::Captured) -> Option<Value> {
    if c.truncated() {
        return None;
    }
    serde_json::from_slice(c.bytes).ok()
}

/// OpenAI messages → `[{"role", "parts": [{"type": "text", "content"}]}]`; a bare prompt string
/// → one user message.
fn input_messages(v: Value) -> Value {
    match v {
        Value::String(s) => Value::Array(vec![message_parts("user", Value::String(s), None)]),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|m| match m {
                    Value::Object(obj) => {
                        let role = obj.get("role").and_then(Value::as_str).unwrap_or("user");
                        let content = obj.get("content").cloned().unwrap_or(Value::Null);
                        message_parts(role, content, Some(&obj))
                    }
                    Value::String(s) => message_parts("user", Value::String(s), None),
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

fn message_parts(role: &str, content: Value, msg: Option<&Map<String, Value>>) -> Value {
    let parts: Vec<Value> = match content {
        Value::String(s) => vec![text_part(s)],
        Value::Array(items) => items
            .into_iter()
            .map(|p| match p {
                Value::Object(_) => p,
                Value::String(s) => text_part(s),
                other => text_part(other.to_string()),
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut out = Map::new();
    out.insert("role".into(), Value::String(role.to_owned()));
    out.insert("parts".into(), Value::Array(parts));
    if let Some(msg) = msg {
        for k in ["id", "tool_calls", "tool_call_id"] {
            if let Some(v) = msg.get(k) {
                out.insert(k.into(), v.clone());
            }
        }
    }
    Value::Object(out)
}

fn text_part(s: String) -> Value {
    let mut p = Map::new();
    p.insert("type".into(), Value::String("text".into()));
    p.insert("content".into(), Value::String(s));
    Value::Object(p)
}

/// Response choices → output messages with their `finish_reason`.
fn output_messages(choices: &[Value]) -> Value {
    Value::Array(
        choices
            .iter()
            .map(|c| {
                let msg = c.get("message").and_then(Value::as_object);
                let role = msg
                    .and_then(|m| m.get("role"))
                    .and_then(Value::as_str)
                    .unwrap_or("assistant");
                let content = msg
                    .and_then(|m| m.get("content"))
                    .cloned()
                    .unwrap_or(Value::Null);
                let mut m = message_parts(role, content, msg);
                if let (Value::Object(o), Some(fr)) = (&mut m, c.get("finish_reason")) {
                    if fr.as_str().is_some_and(|s| !s.is_empty()) {
                        o.insert("finish_reason".into(), fr.clone());
                    }
                }
                m
            })
            .collect(),
    )
}
