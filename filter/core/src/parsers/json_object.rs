//! Reads a small, complete JSON value that a scanner already captured (a provider's `usage`
//! object, an `error`): its object members, array elements, token counts and plain strings,
//! borrowing from the captured text and allocating nothing.
//!
//! Why not `serde_json`: usage objects are read on every response, and typed deserialization
//! (visitors, field matching) is a measurable part of the per-request cost inside Envoy. The
//! captured text is small (bounded by `max_capture_bytes`) and already framed, so a walk over
//! its top level is all that is needed. The walk checks what it crosses: brackets must match
//! (up to 64 levels), strings must close, members need `"key": value` and commas. Keys are
//! compared raw (a key containing an escape never equals a plain name, as in
//! [`crate::json_scan`]). Strings with escapes are decoded with `serde_json` only on the rare
//! paths that need their text (error messages).

/// JSON insignificant whitespace (RFC 8259 section 2).
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Index of the first non-whitespace byte of `bytes` at or after `i`.
fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).copied().is_some_and(is_ws) {
        i += 1;
    }
    i
}

/// End (exclusive) of the string whose opening quote is at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        match bytes.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            // RFC 8259: control characters must be escaped.
            c if *c < 0x20 => return None,
            _ => i += 1,
        }
    }
}

/// End (exclusive) of the JSON value starting at `start` (no leading whitespace).
fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    match bytes.get(start)? {
        b'"' => string_end(bytes, start),
        b'{' | b'[' => {
            // Bracket kinds on a 64-level bitstack (bit set = object).
            let mut kinds = 0u64;
            let mut depth = 0u32;
            let mut i = start;
            loop {
                match bytes.get(i)? {
                    b'"' => {
                        i = string_end(bytes, i)?;
                        continue;
                    }
                    b @ (b'{' | b'[') => {
                        if depth >= 64 {
                            return None;
                        }
                        let bit = 1u64 << depth;
                        kinds = if *b == b'{' {
                            kinds | bit
                        } else {
                            kinds & !bit
                        };
                        depth += 1;
                    }
                    b @ (b'}' | b']') => {
                        depth = depth.checked_sub(1)?;
                        let is_obj = kinds & (1u64 << depth) != 0;
                        if is_obj != (*b == b'}') {
                            return None;
                        }
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let rest = bytes.get(start..)?;
            let len = rest
                .iter()
                .position(|&c| matches!(c, b',' | b'}' | b']') || is_ws(c))
                .unwrap_or(rest.len());
            let token = rest.get(..len)?;
            let ok = matches!(token, b"true" | b"false" | b"null") || is_number(token);
            ok.then_some(start + len)
        }
    }
}

/// Whether `t` is a JSON number (RFC 8259 section 6).
fn is_number(t: &[u8]) -> bool {
    let mut i = usize::from(t.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let from = *i;
        while t.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - from
    };
    match t.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if t.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(t.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(t.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == t.len()
}

/// The members of a JSON object, in order. See [`members`].
#[derive(Clone, Debug)]
pub struct Members<'a> {
    bytes: &'a [u8],
    at: usize,
    first: bool,
    done: bool,
    malformed: bool,
}

/// Iterates the members of the JSON object `raw` as (raw key between its quotes, raw value),
/// or `None` when `raw` is not an object. Iteration stops at the first syntax error, which
/// [`Members::is_malformed`] then reports.
pub fn members(raw: &[u8]) -> Option<Members<'_>> {
    let at = skip_ws(raw, 0);
    (raw.get(at) == Some(&b'{')).then_some(Members {
        bytes: raw,
        at: at + 1,
        first: true,
        done: false,
        malformed: false,
    })
}

impl Members<'_> {
    /// Whether iteration stopped at a syntax error (the members seen before it were read).
    pub fn is_malformed(&self) -> bool {
        self.malformed
    }

    fn fail<T>(&mut self) -> Option<T> {
        self.malformed = true;
        self.done = true;
        None
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let b = self.bytes;
        let mut i = skip_ws(b, self.at);
        if b.get(i) == Some(&b'}') && self.first {
            self.done = true;
            return None;
        }
        if !self.first {
            match b.get(i) {
                Some(b',') => i = skip_ws(b, i + 1),
                Some(b'}') => {
                    self.done = true;
                    return None;
                }
                _ => return self.fail(),
            }
        }
        self.first = false;
        if b.get(i) != Some(&b'"') {
            return self.fail();
        }
        let Some(key_end) = string_end(b, i) else {
            return self.fail();
        };
        let key = b.get(i + 1..key_end - 1).unwrap_or_default();
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return self.fail();
        }
        i = skip_ws(b, i + 1);
        let Some(end) = value_end(b, i) else {
            return self.fail();
        };
        self.at = end;
        Some((key, b.get(i..end).unwrap_or_default()))
    }
}

/// The elements of a JSON array, in order. See [`elements`].
#[derive(Clone, Debug)]
pub struct Elements<'a> {
    bytes: &'a [u8],
    at: usize,
    first: bool,
    done: bool,
    malformed: bool,
}

/// Iterates the elements of the JSON array `raw` (raw text of each), or `None` when `raw` is
/// not an array. Iteration stops at the first syntax error ([`Elements::is_malformed`]).
pub fn elements(raw: &[u8]) -> Option<Elements<'_>> {
    let at = skip_ws(raw, 0);
    (raw.get(at) == Some(&b'[')).then_some(Elements {
        bytes: raw,
        at: at + 1,
        first: true,
        done: false,
        malformed: false,
    })
}

impl Elements<'_> {
    /// Whether iteration stopped at a syntax error.
    pub fn is_malformed(&self) -> bool {
        self.malformed
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let b = self.bytes;
        let mut i = skip_ws(b, self.at);
        let closing = b.get(i) == Some(&b']');
        if closing && self.first {
            self.done = true;
            return None;
        }
        if !self.first {
            match b.get(i) {
                Some(b',') => i = skip_ws(b, i + 1),
                Some(b']') => {
                    self.done = true;
                    return None;
                }
                _ => {
                    self.malformed = true;
                    self.done = true;
                    return None;
                }
            }
        }
        self.first = false;
        let Some(end) = value_end(b, i) else {
            self.malformed = true;
            self.done = true;
            return None;
        };
        self.at = end;
        Some(b.get(i..end).unwrap_or_default())
    }
}

/// A token count as providers send it: a non-negative integer, or a non-negative finite number
/// (truncated, as `int()` does), below 2^64. Negative numbers, larger ones, strings, booleans,
/// `null`, objects and arrays are no count: a count that cannot be read contributes nothing
/// rather than failing the whole usage object (or adding an absurd number to a counter).
pub fn count(value: &[u8]) -> Option<u64> {
    let t = value.trim_ascii();
    if !is_number(t) {
        return None;
    }
    if t.first() == Some(&b'-') {
        // A negative zero (`-0`, `-0.0e5`) is zero; any other negative number is no count.
        let v: f64 = core::str::from_utf8(t).ok()?.parse().ok()?;
        return (v == 0.0).then_some(0);
    }
    if t.iter().all(u8::is_ascii_digit) {
        let mut n = 0u64;
        for &d in t {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        }
        return Some(n);
    }
    let v: f64 = core::str::from_utf8(t).ok()?.parse().ok()?;
    // 2^64: a count beyond u64 is no count, like one that is not a number.
    const LIMIT: f64 = 18_446_744_073_709_551_616.0;
    (v.is_finite() && (0.0..LIMIT).contains(&v)).then_some(v as u64)
}

/// The contents of a JSON string value that has no escapes (`"text_delta"` → `text_delta`);
/// `None` for anything else. Enough for the type names and codes providers send.
pub fn plain_str(value: &[u8]) -> Option<&[u8]> {
    let inner = value
        .trim_ascii()
        .strip_prefix(b"\"")?
        .strip_suffix(b"\"")?;
    (!inner.contains(&b'\\') && !inner.contains(&b'"')).then_some(inner)
}

/// The text of a JSON string value, escapes decoded (`serde_json`: for the rare paths that need
/// it, such as error messages); `None` for anything else.
pub fn string(value: &[u8]) -> Option<String> {
    if let Some(plain) = plain_str(value) {
        return core::str::from_utf8(plain).ok().map(str::to_owned);
    }
    serde_json::from_slice::<String>(value).ok()
}

/// The raw value of member `key` of the object `raw` (first occurrence).
pub fn member<'a>(raw: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    members(raw)?.find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// Whether `value` is JSON `null`.
pub fn is_null(value: &[u8]) -> bool {
    value.trim_ascii() == b"null"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(raw: &[u8]) -> (Vec<(String, String)>, bool) {
        let mut m = members(raw).unwrap();
        let v: Vec<(String, String)> = m
            .by_ref()
            .map(|(k, v)| {
                (
                    String::from_utf8(k.to_vec()).unwrap(),
                    String::from_utf8(v.to_vec()).unwrap(),
                )
            })
            .collect();
        (v, m.is_malformed())
    }

    #[test]
    fn members_of_a_usage_object() {
        let raw = br#" { "input_tokens" : 25, "cache_creation":{"ephemeral_5m_input_tokens":1,"x":[1,{"]":"}"}]},
            "service_tier":"standard","n":null,"f":-1.5e2,"t":true,"s":"a\"b" } "#;
        let (m, bad) = all(raw);
        assert!(!bad);
        let keys: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "input_tokens",
                "cache_creation",
                "service_tier",
                "n",
                "f",
                "t",
                "s"
            ]
        );
        assert_eq!(m[0].1, "25");
        assert_eq!(
            m[1].1,
            r#"{"ephemeral_5m_input_tokens":1,"x":[1,{"]":"}"}]}"#
        );
        assert_eq!(m[6].1, r#""a\"b""#);
        assert_eq!(member(raw, b"service_tier"), Some(&br#""standard""#[..]));
        assert_eq!(member(raw, b"absent"), None);
        assert_eq!(all(b"{}"), (vec![], false));
        assert!(members(b"[1]").is_none() && members(b"null").is_none() && members(b"").is_none());
    }

    #[test]
    fn syntax_errors_stop_the_walk() {
        for bad in [
            &br#"{"a":1,}"#[..],
            br#"{"a" 1}"#,
            br#"{"a":1 "b":2}"#,
            br#"{a:1}"#,
            br#"{"a":[1}"#,
            br#"{"a":{"b":1]}"#,
            br#"{"a":tru}"#,
            br#"{"a":01}"#,
            br#"{"a":"x"#,
            br#"{"a":1"#,
            b"{\"a\":\"\x01\"}",
        ] {
            let (_, malformed) = all(bad);
            assert!(malformed, "{}", String::from_utf8_lossy(bad));
        }
        let (seen, malformed) = all(br#"{"a":1,"b":x}"#);
        assert_eq!((seen.len(), malformed), (1, true));
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(65), "]".repeat(65));
        assert!(all(deep.as_bytes()).1, "deeper than 64 levels");
    }

    #[test]
    fn elements_of_an_array() {
        let raw = br#"[ {"modality":"TEXT","tokenCount":9} , {"modality":"AUDIO","tokenCount":4},"s",[],3 ]"#;
        let mut e = elements(raw).unwrap();
        let v: Vec<&[u8]> = e.by_ref().collect();
        assert!(!e.is_malformed());
        assert_eq!(v.len(), 5);
        assert_eq!(v[1], br#"{"modality":"AUDIO","tokenCount":4}"#);
        assert_eq!(elements(b"[]").unwrap().count(), 0);
        let mut bad = elements(b"[1 2]").unwrap();
        assert_eq!(bad.by_ref().count(), 1);
        assert!(bad.is_malformed());
        assert!(elements(b"{}").is_none());
    }

    #[test]
    fn counts_as_providers_send_them() {
        assert_eq!(count(b"25"), Some(25));
        assert_eq!(count(b" 0 "), Some(0));
        assert_eq!(count(b"3.0"), Some(3));
        assert_eq!(count(b"7.9"), Some(7));
        assert_eq!(count(b"1e3"), Some(1000));
        assert_eq!(count(b"-0"), Some(0));
        assert_eq!(count(b"-0.0"), Some(0));
        assert_eq!(count(b"-0e5"), Some(0));
        assert_eq!(count(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(count(b"18446744073709551616"), None, "beyond u64");
        assert_eq!(count(b"1.9e19"), None);
        assert_eq!(count(b"1e400"), None, "not finite");
        for none in [
            &b"-1"[..],
            b"-2.5",
            b"null",
            b"true",
            b"\"7\"",
            b"{}",
            b"[1]",
            b"",
            b"01",
            b"1.",
            b"inf",
            b"NaN",
        ] {
            assert_eq!(count(none), None, "{}", String::from_utf8_lossy(none));
        }
    }

    #[test]
    fn strings() {
        assert_eq!(
            plain_str(br#""rate_limit_error""#),
            Some(&b"rate_limit_error"[..])
        );
        assert_eq!(plain_str(br#""a\"b""#), None);
        assert_eq!(plain_str(b"12"), None);
        assert_eq!(string(br#""a\"b\u00e9""#).as_deref(), Some("a\"bé"));
        assert_eq!(string(br#""Overloaded""#).as_deref(), Some("Overloaded"));
        assert_eq!(string(b"null"), None);
        assert!(is_null(b" null ") && !is_null(b"0"));
    }
}
