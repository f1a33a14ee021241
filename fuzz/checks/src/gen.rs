//! Random structured inputs for the stable replay: near-valid documents built from the
//! vocabulary the parsers care about (their keys, escapes, number forms, SSE line shapes,
//! compression options), then sometimes damaged. A fuzzer finds such inputs after a while; the
//! replay needs them within a second, from a fixed seed.

use crate::decode::gzip_member;
use crate::exchange;
use crate::split::Rng;

const KEYS: &[&str] = &[
    "model",
    "usage",
    "usage",
    "prompt_tokens",
    "input_tokens",
    "total_tokens",
    "response",
    "error",
    "message",
    "a",
    "b",
    "c",
    "stream",
    "stream_options",
    "service_tier",
    "choices",
    "abcdefghijklmnop",
    "abcdefghijklmnopq",
    r"mod\u0065l",
    r#"us\"age"#,
    r#"k\"usage"#,
    "",
];

const SCALARS: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "-1",
    "42",
    "12.5e3",
    "-0.0",
    "1E+2",
    r#""gpt-4o""#,
    r#""""#,
    r#""a\"b\\""#,
    r#""\u00e9\ud83d\ude00\ud800""#,
    "\"é😀\"",
    r#""usage""#,
    r#""\"usage\":1""#,
    r#""data: [DONE]\n\n""#,
];

const SPACE: &[&str] = &["", "", "", " ", "\n", "\t", "\r\n  "];

fn space(rng: &mut Rng, out: &mut Vec<u8>) {
    out.extend_from_slice(rng.pick(SPACE).as_bytes());
}

/// A random JSON value (valid unless a key or scalar from the vocabulary is not), at most
/// `depth` levels deep.
pub fn json(rng: &mut Rng, depth: usize, out: &mut Vec<u8>) {
    space(rng, out);
    match if depth == 0 { 2 } else { rng.below(5) } {
        0 => {
            out.push(b'{');
            for i in 0..rng.below(5) {
                if i > 0 {
                    out.push(b',');
                }
                space(rng, out);
                out.push(b'"');
                out.extend_from_slice(rng.pick(KEYS).as_bytes());
                out.push(b'"');
                space(rng, out);
                out.push(b':');
                json(rng, depth - 1, out);
            }
            space(rng, out);
            out.push(b'}');
        }
        1 => {
            out.push(b'[');
            for i in 0..rng.below(4) {
                if i > 0 {
                    out.push(b',');
                }
                json(rng, depth - 1, out);
            }
            out.push(b']');
        }
        _ => out.extend_from_slice(rng.pick(SCALARS).as_bytes()),
    }
    space(rng, out);
}

/// A random JSON object at the root.
pub fn json_object(rng: &mut Rng, depth: usize) -> Vec<u8> {
    loop {
        let mut out = Vec::new();
        json(rng, depth, &mut out);
        if out.trim_ascii_start().first() == Some(&b'{') || rng.one_in(8) {
            return out;
        }
    }
}

/// Sometimes damages `bytes`: a byte deleted, inserted, flipped or a tail cut or repeated.
pub fn damage(rng: &mut Rng, bytes: &mut Vec<u8>) {
    if bytes.is_empty() || !rng.one_in(3) {
        return;
    }
    let at = rng.below(bytes.len());
    match rng.below(5) {
        0 => {
            bytes.remove(at);
        }
        1 => bytes.insert(at, *rng.pick(b",:{}[]\"\\ 0anx\r\n\x1f")),
        2 => bytes[at] ^= 1 << rng.below(8),
        3 => bytes.truncate(at),
        _ => {
            let tail = bytes[at..].to_vec();
            bytes.extend_from_slice(&tail[..tail.len().min(16)]);
        }
    }
}

/// A random event stream: well-formed events carrying JSON, `[DONE]` variants, comments, other
/// fields and every line ending, or a free mix of SSE-significant pieces.
pub fn sse(rng: &mut Rng) -> Vec<u8> {
    const PIECES: &[&str] = &[
        "data:",
        "data: ",
        "data",
        "event:",
        "event: t",
        ":",
        " ",
        "\r",
        "\n",
        "\r\n",
        "id: 1",
        "retry: 10",
        "x",
        "é",
        "datax:",
        "\u{feff}",
        "[DONE]",
    ];
    const ENDS: &[&str] = &["\n", "\r", "\r\n"];
    let mut out = Vec::new();
    if rng.one_in(6) {
        out.extend_from_slice("\u{feff}".as_bytes());
    }
    if rng.one_in(4) {
        for _ in 0..rng.below(30) {
            out.extend_from_slice(rng.pick(PIECES).as_bytes());
        }
        return out;
    }
    let end = *rng.pick(ENDS);
    for _ in 0..rng.below(6) {
        match rng.below(6) {
            0 => out.extend_from_slice(format!(": keep-alive{end}").as_bytes()),
            1 => out.extend_from_slice(format!("event: response.completed{end}").as_bytes()),
            _ => {}
        }
        let data: Vec<u8> = match rng.below(8) {
            0 => b"[DONE]".to_vec(),
            1 => rng
                .pick(&[&b"[DONE]x"[..], b"[DONE] ", b"[DON", b""])
                .to_vec(),
            _ => json_object(rng, 3),
        };
        // Multi-line data: split the payload over several `data:` lines at a random point.
        let cut = if rng.one_in(4) {
            rng.below(data.len() + 1)
        } else {
            data.len()
        };
        for part in [&data[..cut], &data[cut..]] {
            if !part.is_empty() || cut == data.len() {
                out.extend_from_slice(b"data:");
                if rng.below(4) != 0 {
                    out.push(b' ');
                }
                out.extend(part.iter().filter(|b| **b != b'\n' && **b != b'\r'));
                out.extend_from_slice(end.as_bytes());
            }
            if cut == data.len() {
                break;
            }
        }
        out.extend_from_slice(end.as_bytes());
    }
    out
}

/// A decoder input: a plaintext for the check to compress (modes 2, 3), or a real compressed
/// body, sometimes damaged (modes 0, 1).
pub fn decode(rng: &mut Rng) -> Vec<u8> {
    let plain = if rng.one_in(2) {
        sse(rng)
    } else {
        json_object(rng, 4)
    };
    let mut plain = plain.repeat(1 + rng.below(3));
    if rng.one_in(10) {
        // Longer than the decoder's output window.
        plain = plain.repeat(40_000 / plain.len().max(1) + 1);
    }
    let options = rng.below(256) as u8;
    match rng.below(4) {
        m @ (2 | 3) => [&[m as u8][..], &[options], &plain].concat(),
        0 => {
            let mut body = gzip_member(&plain, rng.below(10) as u32, options);
            if rng.one_in(3) {
                body.extend_from_slice(&gzip_member(b"{}", 1, 0));
            }
            damage(rng, &mut body);
            [&[0u8][..], &body].concat()
        }
        _ => {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut z, &plain).unwrap_or_default();
            let mut body = z.finish().unwrap_or_default();
            if rng.one_in(2) {
                body.drain(..2);
                body.truncate(body.len().saturating_sub(4));
            }
            damage(rng, &mut body);
            [&[1u8][..], &body].concat()
        }
    }
}

/// A plugin configuration made of the parser's own vocabulary, values of every type.
pub fn config(rng: &mut Rng) -> Vec<u8> {
    const SECTIONS: &[&str] = &[
        "model_list",
        "litellm_settings",
        "general_settings",
        "telemetry_settings",
        "environment_variables",
        "router_settings",
        "callbacks",
    ];
    const CONFIG_KEYS: &[&str] = &[
        "model_name",
        "litellm_params",
        "model",
        "api_base",
        "custom_llm_provider",
        "model_info",
        "id",
        "rpm",
        "tpm",
        "region_name",
        "custom_prometheus_metadata_labels",
        "custom_prometheus_tags",
        "prometheus_emit_stream_label",
        "enable_end_user_cost_tracking_prometheus_only",
        "prometheus_metrics_config",
        "group",
        "metrics",
        "include_labels",
        "redact_messages_in_exceptions",
        "master_key",
        "alerting",
        "alerting_threshold",
        "alert_types",
        "alert_to_webhook_url",
        "alerting_args",
        "webhook_clusters",
        "keys",
        "api_key",
        "hashed_api_key",
        "key_alias",
        "team_id",
        "identity_headers",
        "team",
        "inject_stream_usage",
        "max_capture_bytes",
        "metrics_flush_interval_ms",
        "SLACK_WEBHOOK_URL",
        "EXTRA",
        "llm_exceptions",
        "outage_alerts",
        "a.b",
    ];
    const VALUES: &[&str] = &[
        "null",
        "true",
        "0",
        "3",
        "-1",
        "1.5",
        "18446744073709551616",
        r#""""#,
        r#""sk-secret-master-1234""#,
        r#""os.environ/EXY""#,
        r#""os.environ/NOPE""#,
        r#""os.environ/""#,
        r#""openai/gpt-4o""#,
        r#""http://127.0.0.1:18081/services/T0/B0/secret-token""#,
        r#""https://hooks.example.com/x""#,
        r#""metadata.app""#,
        r#""metadata..x""#,
        r#""prod""#,
        r#""x-team""#,
        r#""bad header""#,
        r#""slack""#,
        r#""webhook""#,
        r#""llm_exceptions""#,
        r#""litellm_requests_metric""#,
        r#""litellm_remaining_requests""#,
        r#""end_user""#,
        r#""0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef""#,
    ];
    fn value(rng: &mut Rng, depth: usize, out: &mut String) {
        match if depth == 0 { 2 } else { rng.below(4) } {
            0 => {
                out.push('{');
                for i in 0..rng.below(5) {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&format!("\"{}\":", rng.pick(CONFIG_KEYS)));
                    value(rng, depth - 1, out);
                }
                out.push('}');
            }
            1 => {
                out.push('[');
                for i in 0..rng.below(4) {
                    if i > 0 {
                        out.push(',');
                    }
                    value(rng, depth - 1, out);
                }
                out.push(']');
            }
            _ => out.push_str(rng.pick::<&str>(VALUES)),
        }
    }
    let mut out = String::from("{");
    for i in 0..rng.below(5) {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!("\"{}\":", rng.pick(SECTIONS)));
        value(rng, 4, &mut out);
    }
    out.push('}');
    let mut bytes = out.into_bytes();
    damage(rng, &mut bytes);
    bytes
}

/// A chat/completions/responses request body.
fn request(rng: &mut Rng) -> Vec<u8> {
    const MEMBERS: &[&str] = &[
        r#""model":"gpt-4o""#,
        r#""model":"m\u00e9""#,
        r#""stream":true"#,
        r#""stream":false"#,
        r#""stream_options":{"include_usage":false}"#,
        r#""stream_options":null"#,
        r#""messages":[{"role":"user","content":"hi \"there\""}]"#,
        r#""input":"Say hi""#,
        r#""user":"u-1""#,
        r#""metadata":{"app":"billing","tags":["prod"]}"#,
        r#""service_tier":"flex""#,
        r#""x":{"stream":true,"}":"{"}"#,
    ];
    let mut out = String::from("{");
    for i in 0..rng.below(6) {
        if i > 0 {
            out.push(',');
        }
        out.push_str(rng.pick::<&str>(SPACE));
        out.push_str(rng.pick::<&str>(MEMBERS));
    }
    out.push_str(rng.pick::<&str>(SPACE));
    out.push('}');
    let mut bytes = out.into_bytes();
    if rng.one_in(8) {
        bytes.clear();
    }
    damage(rng, &mut bytes);
    bytes
}

/// A response body event or document: chat chunk, Responses event, usage, error.
fn response_json(rng: &mut Rng) -> Vec<u8> {
    const DOCS: &[&str] = &[
        r#"{"id":"c1","model":"gpt-4o","choices":[{"delta":{"content":"usage"}}],"usage":null}"#,
        r#"{"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":3}}}"#,
        r#"{"type":"response.completed","response":{"model":"gpt-4o","service_tier":"default","usage":{"input_tokens":5,"output_tokens":7,"total_tokens":12}}}"#,
        r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#,
        r#"{"type":"error","error":{"message":"boom"}}"#,
        r#"{"usage":{"prompt_tokens":-1,"total_tokens":"x"}}"#,
        r#"{"k\"usage":{"prompt_tokens":1}}"#,
    ];
    if rng.one_in(3) {
        json_object(rng, 3)
    } else {
        rng.pick(DOCS).as_bytes().to_vec()
    }
}

/// An exchange input: flags, request, separator, response (JSON or SSE, per the flags).
pub fn exchange(rng: &mut Rng) -> Vec<u8> {
    let flags = rng.below(256) as u8;
    let request = request(rng);
    let mut response = if flags & 4 != 0 {
        let mut s = Vec::new();
        for _ in 0..rng.below(6) {
            s.extend_from_slice(b"data: ");
            s.extend_from_slice(&response_json(rng));
            s.extend_from_slice(b"\n\n");
        }
        match rng.below(5) {
            0 => s.extend_from_slice(b"data: [DONE]\n\n"),
            1 => s.extend_from_slice(b"data: [DONE]\n"),
            2 => s.extend_from_slice(&sse(rng)),
            _ => {}
        }
        s
    } else {
        response_json(rng)
    };
    damage(rng, &mut response);
    exchange::input(flags, &request, &response)
}

/// A random input for `target`.
pub fn input(target: &str, rng: &mut Rng) -> Vec<u8> {
    match target {
        "sse" => sse(rng),
        "json_scan" | "spot" => {
            let mut doc = json_object(rng, 5);
            damage(rng, &mut doc);
            doc
        }
        "decode" => decode(rng),
        "config" => config(rng),
        "exchange" => exchange(rng),
        "event_stream" => event_stream(rng),
        "json_array" => json_array(rng),
        "json_object" => {
            let mut doc = Vec::new();
            json(rng, 4, &mut doc);
            damage(rng, &mut doc);
            doc
        }
        "providers" => providers(rng),
        _ => Vec::new(),
    }
}

/// A random AWS event stream: messages with the headers the framer keeps, others, every value
/// type and sometimes a bad one; then sometimes a byte flipped, a prelude forged or the tail cut.
pub fn event_stream(rng: &mut Rng) -> Vec<u8> {
    use llm_telemetry_core::event_stream::encode::{header, message, HeaderValue};
    const NAMES: &[&str] = &[
        ":message-type",
        ":event-type",
        ":exception-type",
        ":error-code",
        ":error-message",
        ":content-type",
        ":date",
        "x",
        ":message-type-longer-than-kept",
    ];
    const TEXTS: &[&str] = &[
        "event",
        "exception",
        "chunk",
        "metadata",
        "",
        "throttlingException",
    ];
    let mut out = Vec::new();
    for _ in 0..rng.below(6) {
        let mut h = Vec::new();
        for _ in 0..rng.below(5) {
            let name = *rng.pick(NAMES);
            let v = match rng.below(9) {
                0 => HeaderValue::Bool(rng.one_in(2)),
                1 => HeaderValue::Byte(7),
                2 => HeaderValue::Short(-3),
                3 => HeaderValue::Int(1 << 20),
                4 => HeaderValue::Long(-1),
                5 => HeaderValue::Bytes(b"\x07\x00\x05event"),
                6 => HeaderValue::Timestamp(1_700_000_000_000),
                7 => HeaderValue::Uuid([9; 16]),
                _ => HeaderValue::Str(TEXTS[rng.below(TEXTS.len())]),
            };
            h.extend(header(name, &v));
        }
        if rng.one_in(12) {
            h.extend_from_slice(&[1, b'z', 10 + rng.below(200) as u8]);
        }
        let mut payload = Vec::new();
        if rng.one_in(2) {
            json(rng, 3, &mut payload);
        }
        let mut m = message(&h, &payload);
        match rng.below(10) {
            0 => {
                let at = rng.below(m.len());
                m[at] ^= 1 << rng.below(8);
            }
            1 => {
                // A prelude that passes its CRC but claims impossible lengths.
                let total = [0u32, 15, 17, u32::MAX][rng.below(4)];
                m[..4].copy_from_slice(&total.to_be_bytes());
                let crc = llm_telemetry_core::event_stream::crc32(&m[..8]);
                m[8..12].copy_from_slice(&crc.to_be_bytes());
            }
            _ => {}
        }
        out.extend(m);
    }
    if rng.one_in(5) {
        out.truncate(rng.below(out.len() + 1));
    }
    out
}

/// A random JSON array (elements from the JSON vocabulary, any separator spacing), sometimes
/// damaged or preceded by a BOM.
pub fn json_array(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    if rng.one_in(10) {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    space(rng, &mut out);
    out.push(b'[');
    for i in 0..rng.below(5) {
        if i > 0 {
            out.extend_from_slice(rng.pick(&[",", "\r\n,\r\n", " ,", ",\n"]).as_bytes());
        }
        json(rng, 3, &mut out);
    }
    out.push(b']');
    space(rng, &mut out);
    damage(rng, &mut out);
    out
}

/// A provider body for one of `providers::SETUPS` (its index first): Anthropic messages and
/// events, Gemini objects, arrays and events, Bedrock Converse bodies, event streams of Converse
/// events and of base64 chunks, with random counts; sometimes damaged.
pub fn providers(rng: &mut Rng) -> Vec<u8> {
    use llm_telemetry_core::event_stream::encode::string_message;
    let n = |rng: &mut Rng| ["0", "1", "7", "300", "null", "\"5\"", "-2", "2.5"][rng.below(8)];
    let anthropic_usage = |rng: &mut Rng| {
        format!(
            r#"{{"input_tokens":{},"output_tokens":{},"cache_read_input_tokens":{},"cache_creation_input_tokens":{},"output_tokens_details":{{"thinking_tokens":{}}}}}"#,
            n(rng),
            n(rng),
            n(rng),
            n(rng),
            n(rng)
        )
    };
    let anthropic_event = |rng: &mut Rng| {
        match rng.below(7) {
        0 => format!(r#"{{"type":"message_start","message":{{"model":"claude","usage":{}}}}}"#, anthropic_usage(rng)),
        1 => format!(r#"{{"type":"message_delta","delta":{{"stop_reason":"end_turn"}},"usage":{{"output_tokens":{}}}}}"#, n(rng)),
        2 => r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\"usage\":{}"}}"#.to_owned(),
        3 => r#"{"type": "ping"}"#.to_owned(),
        4 => r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#.to_owned(),
        5 => format!(r#"{{"usage":{},"type":"message_delta"}}"#, anthropic_usage(rng)),
        _ => format!(r#"{{"type":"message_stop","amazon-bedrock-invocationMetrics":{{"inputTokenCount":{},"outputTokenCount":{}}}}}"#, n(rng), n(rng)),
    }
    };
    let gemini_chunk = |rng: &mut Rng| {
        format!(
            r#"{{"candidates":[{{"content":{{"parts":[{{"text":"a"}}]}},"groundingMetadata":{{"webSearchQueries":[{}]}}}}],"usageMetadata":{{"promptTokenCount":{},"candidatesTokenCount":{},"totalTokenCount":{},"thoughtsTokenCount":{},"toolUsePromptTokenCount":{},"promptTokensDetails":[{{"modality":"AUDIO","tokenCount":{}}}]}},"modelVersion":"g"}}"#,
            ["", r#""q""#][rng.below(2)],
            n(rng),
            n(rng),
            n(rng),
            n(rng),
            n(rng),
            n(rng)
        )
    };
    let converse_usage = |rng: &mut Rng| {
        format!(
            r#"{{"inputTokens":{},"outputTokens":{},"totalTokens":{},"cacheReadInputTokens":{},"cacheWriteInputTokens":{}}}"#,
            n(rng),
            n(rng),
            n(rng),
            n(rng),
            n(rng)
        )
    };
    let setup = rng.below(8);
    let mut body = Vec::new();
    let events = rng.below(6);
    match setup {
        0 | 6 => body.extend(
            format!(
                r#"{{"type":"message","model":"claude","usage":{}}}"#,
                anthropic_usage(rng)
            )
            .bytes(),
        ),
        1 => {
            for _ in 0..events {
                body.extend(format!("data: {}\n\n", anthropic_event(rng)).bytes());
            }
        }
        2 => {
            body.push(b'[');
            for i in 0..events {
                if i > 0 {
                    body.extend_from_slice(b"\r\n,\r\n");
                }
                body.extend(gemini_chunk(rng).bytes());
            }
            body.push(b']');
        }
        3 => {
            for _ in 0..events {
                body.extend(format!("data: {}\r\n\r\n", gemini_chunk(rng)).bytes());
            }
        }
        4 => body.extend(
            format!(
                r#"{{"message":"Too many requests","usage":{}}}"#,
                converse_usage(rng)
            )
            .bytes(),
        ),
        5 => {
            for _ in 0..events {
                let (event, payload) = match rng.below(4) {
                    0 => (
                        "metadata",
                        format!(
                            r#"{{"usage":{},"metrics":{{"latencyMs":1}}}}"#,
                            converse_usage(rng)
                        ),
                    ),
                    1 => (
                        "messageStop",
                        format!(
                            r#"{{"stopReason":"end_turn","additionalModelResponseFields":{{"usage":{{"output_tokens_details":{{"thinking_tokens":{}}}}}}}}}"#,
                            n(rng)
                        ),
                    ),
                    2 => ("contentBlockDelta", r#"{"delta":{"text":"x"}}"#.to_owned()),
                    _ => ("", r#"{"message":"slow down"}"#.to_owned()),
                };
                let m = if event.is_empty() {
                    string_message(
                        &[
                            (":exception-type", "throttlingException"),
                            (":message-type", "exception"),
                        ],
                        payload.as_bytes(),
                    )
                } else {
                    string_message(
                        &[(":event-type", event), (":message-type", "event")],
                        payload.as_bytes(),
                    )
                };
                body.extend(m);
            }
        }
        _ => {
            for _ in 0..events {
                let inner = anthropic_event(rng);
                let payload = llm_telemetry_core::event_stream::encode::chunk_payload(
                    inner.as_bytes(),
                    "abc",
                );
                body.extend(string_message(
                    &[(":event-type", "chunk"), (":message-type", "event")],
                    payload.as_bytes(),
                ));
            }
        }
    }
    damage(rng, &mut body);
    [&[setup as u8][..], &body].concat()
}
