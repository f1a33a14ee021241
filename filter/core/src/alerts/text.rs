//! Small formatting helpers that make texts come out as LiteLLM (Python) writes them.

/// Python's `repr(float)`: shortest round-trip digits, at least one decimal (`2.0`), exponent
/// form below 1e-4 and from 1e16 (`1e-05`, `1.5e+16`). Rust's `{}` already gives the shortest
/// round-trip digits; only the decimal point and exponent spelling differ.
pub fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "inf".to_string()
        } else {
            "-inf".to_string()
        };
    }
    let a = x.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        // Rust `{:e}` gives `1.5e-7`; Python writes `1.5e-07` and `1e+16`.
        let s = format!("{x:e}");
        return match s.split_once('e') {
            Some((mantissa, exp)) => {
                let (sign, digits) = match exp.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', exp),
                };
                let pad = if digits.len() < 2 { "0" } else { "" };
                format!("{mantissa}e{sign}{pad}{digits}")
            }
            None => s,
        };
    }
    let s = format!("{x}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

/// Python's `repr(round(x, ndigits))`: rounding of the exact binary value, ties to even, which
/// is also what Rust's `{:.N}` does; trailing zeros then go as in Python's repr.
pub fn py_round(x: f64, ndigits: usize) -> String {
    let fixed = format!("{x:.ndigits$}");
    let back: f64 = fixed.parse().unwrap_or(x);
    py_float(back)
}

/// The text of the exception LiteLLM 1.106 raises for an upstream answer, as `str(exception)`
/// shows it in `llm_exceptions` alerts: `litellm.<Class>: <Prefix><Provider>Exception - <message>`
/// (`_map_openai_compatible_exception`: the status picks the class; a message about a rate limit
/// is a `RateLimitError` whatever the status). Also whether LiteLLM attaches its debug lines
/// (`litellm_debug_info`): the rate-limit branch raises without them. `status` 0 is no answer
/// (LiteLLM's `APIConnectionError`, the OpenAI SDK's "Connection error.").
pub fn litellm_exception(status: u16, provider: &str, message: Option<&str>) -> (String, bool) {
    let provider_exception = match provider {
        "" | "openai" => "OpenAIException".to_string(),
        p => {
            let mut c = p.chars();
            match c.next() {
                Some(first) => format!("{}{}Exception", first.to_uppercase(), c.as_str()),
                None => "OpenAIException".to_string(),
            }
        }
    };
    let message = match message {
        Some(m) if !m.is_empty() => m.to_string(),
        _ if status == 0 => "Connection error.".to_string(),
        // The OpenAI SDK's `APIStatusError` text when the body holds no `error.message`.
        _ => format!("Error code: {status}"),
    };
    if status == 429 || is_rate_limit_text(&message) {
        let text =
            format!("litellm.RateLimitError: RateLimitError: {provider_exception} - {message}");
        return (text, false);
    }
    let (class, prefix) = match status {
        0 => ("APIConnectionError", "APIConnectionError: "),
        400 | 422 => ("BadRequestError", ""),
        401 => ("AuthenticationError", "AuthenticationError: "),
        404 => ("NotFoundError", "NotFoundError: "),
        408 | 504 => ("Timeout", "Timeout Error: "),
        500 => ("InternalServerError", "InternalServerError: "),
        502 => ("BadGatewayError", "BadGatewayError: "),
        503 => ("ServiceUnavailableError", "ServiceUnavailableError: "),
        _ => ("APIError", "APIError: "),
    };
    let text = format!("litellm.{class}: {prefix}{provider_exception} - {message}");
    (text, true)
}

/// LiteLLM's `is_error_str_rate_limit` phrase test: `rate[\s_-]*limit`, case-insensitive.
fn is_rate_limit_text(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let b = lower.as_bytes();
    let mut from = 0;
    while let Some(at) = lower.get(from..).and_then(|r| r.find("rate")) {
        let mut i = from + at + 4;
        while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r' | b'_' | b'-')) {
            i += 1;
        }
        if lower.get(i..i + 5) == Some("limit") {
            return true;
        }
        from = from + at + 4;
    }
    false
}

/// `HH:MM:SS` (UTC) of a Unix time in milliseconds, as in the alert header.
pub fn hhmmss_utc(now_ms: u64) -> String {
    let s = (now_ms / 1000) % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// The first `max` characters (not bytes) of `s`, never splitting a character.
pub fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => s.get(..at).unwrap_or(s),
        None => s,
    }
}

/// The first 100 characters of Python's `str(messages)`, as LiteLLM shows them in alerts
/// (`[{'role': 'user', 'content': 'Hi'}]`). Workers call this on the raw JSON text of the
/// request's `messages` (or `input`) value when messages are not redacted.
///
/// Works on the raw text rather than a `serde_json::Value` because Python keeps the keys in
/// request order while `serde_json`'s map sorts them; it stops after 100 characters, so a huge
/// prompt costs no more than a small one. Malformed JSON ends the preview where it breaks.
pub fn messages_preview(raw_json: &str) -> String {
    const MAX: usize = 100;
    let mut out = String::new();
    let mut chars = 0usize;
    let b = raw_json.as_bytes();
    let mut i = 0usize;
    let push = |out: &mut String, chars: &mut usize, s: &str| {
        for c in s.chars() {
            if *chars >= MAX {
                return;
            }
            out.push(c);
            *chars += 1;
        }
    };
    while i < b.len() && chars < MAX {
        match b.get(i).copied().unwrap_or(b' ') {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'{' | b'}' | b'[' | b']' => {
                push(&mut out, &mut chars, raw_json.get(i..i + 1).unwrap_or(""));
                i += 1;
            }
            b',' => {
                push(&mut out, &mut chars, ", ");
                i += 1;
            }
            b':' => {
                push(&mut out, &mut chars, ": ");
                i += 1;
            }
            b'"' => match json_string_end(b, i) {
                Some((end, has_single, has_double)) => {
                    let quote = if has_single && !has_double { '"' } else { '\'' };
                    let inner = raw_json.get(i + 1..end).unwrap_or("");
                    let mut q = [0u8; 4];
                    push(&mut out, &mut chars, quote.encode_utf8(&mut q));
                    for c in JsonUnescape::new(inner) {
                        if chars >= MAX {
                            break;
                        }
                        let esc: String;
                        let piece: &str = match c {
                            '\\' => "\\\\",
                            '\n' => "\\n",
                            '\r' => "\\r",
                            '\t' => "\\t",
                            c if c == quote => {
                                esc = format!("\\{c}");
                                &esc
                            }
                            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                                esc = format!("\\x{:02x}", c as u32);
                                &esc
                            }
                            c => {
                                esc = c.to_string();
                                &esc
                            }
                        };
                        push(&mut out, &mut chars, piece);
                    }
                    push(&mut out, &mut chars, quote.encode_utf8(&mut q));
                    i = end + 1;
                }
                None => break,
            },
            b't' if raw_json.get(i..i + 4) == Some("true") => {
                push(&mut out, &mut chars, "True");
                i += 4;
            }
            b'f' if raw_json.get(i..i + 5) == Some("false") => {
                push(&mut out, &mut chars, "False");
                i += 5;
            }
            b'n' if raw_json.get(i..i + 4) == Some("null") => {
                push(&mut out, &mut chars, "None");
                i += 4;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < b.len()
                    && matches!(
                        b.get(i),
                        Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                    )
                {
                    i += 1;
                }
                let num = raw_json.get(start..i).unwrap_or("");
                if num.contains(['.', 'e', 'E']) {
                    match num.parse::<f64>() {
                        Ok(x) => push(&mut out, &mut chars, &py_float(x)),
                        Err(_) => break,
                    }
                } else {
                    push(&mut out, &mut chars, num);
                }
            }
            _ => break,
        }
    }
    out
}

/// Index of the closing quote of the JSON string opening at `start`, and whether its decoded
/// text holds a `'` and a `"` (Python picks its quote from the whole string).
fn json_string_end(b: &[u8], start: usize) -> Option<(usize, bool, bool)> {
    let (mut single, mut double) = (false, false);
    let mut i = start + 1;
    while let Some(&c) = b.get(i) {
        match c {
            b'\\' => {
                if b.get(i + 1) == Some(&b'"') {
                    double = true;
                }
                i += 2;
            }
            b'"' => return Some((i, single, double)),
            b'\'' => {
                single = true;
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// Decodes JSON string escapes (`\n`, `\u00e9`, surrogate pairs) lazily.
struct JsonUnescape<'a> {
    rest: core::str::Chars<'a>,
}

impl<'a> JsonUnescape<'a> {
    fn new(s: &'a str) -> Self {
        JsonUnescape { rest: s.chars() }
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            v = v * 16 + self.rest.next()?.to_digit(16)?;
        }
        Some(v)
    }
}

impl Iterator for JsonUnescape<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        let c = self.rest.next()?;
        if c != '\\' {
            return Some(c);
        }
        Some(match self.rest.next()? {
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'u' => {
                let hi = self.hex4()?;
                if (0xD800..0xDC00).contains(&hi) {
                    // A high surrogate must be followed by `\uDC00`..`\uDFFF`.
                    let mut look = self.rest.clone();
                    if look.next() == Some('\\') && look.next() == Some('u') {
                        self.rest = look;
                        let lo = self.hex4()?;
                        char::from_u32(
                            0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF),
                        )
                        .unwrap_or('\u{fffd}')
                    } else {
                        '\u{fffd}'
                    }
                } else {
                    char::from_u32(hi).unwrap_or('\u{fffd}')
                }
            }
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_python_repr() {
        let cases = [
            (2.0, "2.0"),
            (0.0, "0.0"),
            (3.01, "3.01"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e16, "1e+16"),
            (123456789.123, "123456789.123"),
            (-2.5, "-2.5"),
            (1732364528.123, "1732364528.123"),
        ];
        for (x, want) in cases {
            assert_eq!(py_float(x), want, "{x}");
        }
    }

    #[test]
    fn rounding_matches_python_round() {
        // Values checked against CPython 3: round(x, 2).
        let cases = [
            (3.01, "3.01"),
            (3.0, "3.0"),
            (3.005, "3.0"),
            (3.015, "3.02"),
            (2.675, "2.67"),
            (0.125, "0.12"),
            (0.375, "0.38"),
            (12.5, "12.5"),
        ];
        for (x, want) in cases {
            assert_eq!(py_round(x, 2), want, "{x}");
        }
        assert_eq!(py_round(0.0, 4), "0.0");
        assert_eq!(py_round(1.23456, 4), "1.2346");
    }

    #[test]
    fn exceptions_are_worded_as_litellm_raises_them() {
        let msg = Some("The server had an error while processing your request. Sorry about that!");
        assert_eq!(
            litellm_exception(500, "openai", msg),
            ("litellm.InternalServerError: InternalServerError: OpenAIException - The server had an error while processing your request. Sorry about that!".to_string(), true)
        );
        let (t, debug) = litellm_exception(429, "openai", Some("Slow down"));
        assert_eq!(
            t,
            "litellm.RateLimitError: RateLimitError: OpenAIException - Slow down"
        );
        assert!(!debug, "the rate-limit branch raises without debug lines");
        let (t, debug) = litellm_exception(503, "openai", Some("Rate-Limit hit upstream"));
        assert!(
            t.starts_with("litellm.RateLimitError: RateLimitError:") && !debug,
            "{t}"
        );
        assert_eq!(
            litellm_exception(0, "openai", None).0,
            "litellm.APIConnectionError: APIConnectionError: OpenAIException - Connection error."
        );
        assert_eq!(
            litellm_exception(504, "anthropic", None).0,
            "litellm.Timeout: Timeout Error: AnthropicException - Error code: 504"
        );
        assert_eq!(
            litellm_exception(418, "", Some("teapot")).0,
            "litellm.APIError: APIError: OpenAIException - teapot"
        );
        assert_eq!(
            litellm_exception(400, "openai", Some("bad")).0,
            "litellm.BadRequestError: OpenAIException - bad"
        );
    }

    #[test]
    fn timestamps_are_utc_hh_mm_ss() {
        assert_eq!(hhmmss_utc(0), "00:00:00");
        // 2024-11-23T12:02:08.999Z
        assert_eq!(hhmmss_utc(1_732_363_328_999), "12:02:08");
        assert_eq!(hhmmss_utc(86_399_000), "23:59:59");
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(truncate_chars("📊📊📊", 1), "📊");
        assert_eq!(truncate_chars("ab", 5), "ab");
        assert_eq!(truncate_chars("", 0), "");
    }

    #[test]
    fn messages_preview_is_python_str_of_the_list() {
        let raw = r#"[{"role": "user", "content": "Hello, Claude gm!"}]"#;
        assert_eq!(
            messages_preview(raw),
            "[{'role': 'user', 'content': 'Hello, Claude gm!'}]"
        );
        // Key order is the request's (Python dicts keep insertion order), whitespace is Python's.
        let raw = r#"[ {"content":"hi","role":"user"} ]"#;
        assert_eq!(messages_preview(raw), "[{'content': 'hi', 'role': 'user'}]");
        let raw = r#"[{"c": "it's \"x\"\n", "n": null, "b": true, "f": 1.0, "g": false, "i": -3, "e": 1e2}]"#;
        assert_eq!(
            messages_preview(raw),
            "[{'c': 'it\\'s \"x\"\\n', 'n': None, 'b': True, 'f': 1.0, 'g': False, 'i': -3, 'e': 100.0}]"
        );
        let raw = r#"[{"content": "it's"}]"#;
        assert_eq!(messages_preview(raw), "[{'content': \"it's\"}]");
        let raw = r#"["caf\u00e9 \ud83d\ude00 \\ \t"]"#;
        assert_eq!(messages_preview(raw), "['café 😀 \\\\ \\t']");
    }

    #[test]
    fn messages_preview_stops_at_100_characters() {
        let raw = format!(
            r#"[{{"role": "user", "content": "{}"}}]"#,
            "é".repeat(100_000)
        );
        let p = messages_preview(&raw);
        assert_eq!(p.chars().count(), 100);
        assert!(p.starts_with("[{'role': 'user', 'content': 'ééé"));
        // Malformed input ends the preview instead of failing.
        assert_eq!(messages_preview(r#"[{"role": "us"#), "[{'role': ");
        assert_eq!(messages_preview("[1, @]"), "[1, ");
    }
}
