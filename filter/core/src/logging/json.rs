//! A small JSON writer that appends to one reusable `String`.
//!
//! Logging runs once per request, and a `serde_json::Value` tree of a ~60-field payload would
//! allocate per field; `#[derive(Serialize)]` structs would need an owned copy of every value.
//! Writing straight into a buffer the caller keeps between requests costs no allocation once
//! the buffer has grown (the few costs and durations aside: they go through [`py_float`]).
//!
//! Output is compact (no whitespace). Numbers follow Python's `repr` so values read as LiteLLM
//! prints them (`2.85e-05`, `1796216891.123456`). Costs matter: this runs for every logged
//! request, so strings are scanned eight bytes at a time and integers and timestamps are
//! written without `fmt`.

// `push_str("x")` on purpose: `String::push(char)` is not inlined and encodes UTF-8 each call
// (measured: a seventh of a payload's instructions went there).
#![allow(clippy::single_char_add_str)]

use crate::alerts::text::py_float;
use crate::bytes::find_json_escape;

/// Appends `s` as a JSON string literal: `"`, `\` and control characters escaped (`\n`, `\r`,
/// `\t`, `\b`, `\f`, else `\u00XX`), everything else as it is (UTF-8 is valid JSON text).
/// Runs that need no escape are found eight bytes at a time and copied whole.
pub fn push_string(out: &mut String, s: &str) {
    out.push_str("\"");
    let mut rest = s;
    while let Some(i) = find_json_escape(rest.as_bytes()) {
        // The byte found is ASCII, so `i` and `i + 1` are character boundaries.
        out.push_str(&rest[..i]);
        let b = rest.as_bytes()[i];
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => push_u_escape(out, b),
        }
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
    out.push_str("\"");
}

fn push_u_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let esc = [
        b'\\',
        b'u',
        b'0',
        b'0',
        HEX[usize::from(b >> 4)],
        HEX[usize::from(b & 0xf)],
    ];
    push_ascii(out, &esc);
}

/// Appends ASCII bytes (digits, hex): one copy, no per-character `String::push`, which is not
/// inlined and costs ~20 instructions a character.
fn push_ascii(out: &mut String, ascii: &[u8]) {
    out.push_str(std::str::from_utf8(ascii).unwrap_or(""));
}

/// Appends an unsigned integer (digits written by hand: `fmt` costs ~1,000 instructions a call).
pub fn push_u64(out: &mut String, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    push_ascii(out, &digits[i..]);
}

/// Appends a Unix time given in microseconds as float seconds, exactly as Python's
/// `repr(datetime.timestamp())` prints it (`1796216891.000123`, `1796216891.5`, `1796216891.0`):
/// from 1e9 seconds on (2001), a double has room for every microsecond, so the shortest decimal
/// that round-trips is the seconds and the microseconds without trailing zeros. Earlier times
/// (tests, a broken clock) go through [`push_f64`].
pub fn push_unix_micros(out: &mut String, micros: u64) {
    let secs = micros / 1_000_000;
    if !(1_000_000_000..10_000_000_000).contains(&secs) {
        push_f64(out, micros as f64 / 1e6);
        return;
    }
    push_u64(out, secs);
    out.push_str(".");
    let mut frac = micros % 1_000_000;
    if frac == 0 {
        out.push_str("0");
        return;
    }
    let mut width = 6;
    while frac.is_multiple_of(10) {
        frac /= 10;
        width -= 1;
    }
    let mut digits = [b'0'; 6];
    for d in digits[..width].iter_mut().rev() {
        *d = b'0' + (frac % 10) as u8;
        frac /= 10;
    }
    push_ascii(out, &digits[..width]);
}

/// Appends pico-dollars as USD, the text Python's `repr` gives the nearest double (what LiteLLM
/// prints for a cost): below 1e15 pico-dollars an amount has at most 15 significant digits, so
/// that shortest round-trip decimal is the amount itself without trailing zeros, in Python's
/// notation (exponent form below 1e-4: `4.125e-05`; `0.0001`, `1.5`). Written from the integer,
/// no float formatting; larger amounts go through [`push_f64`].
pub fn push_pico_usd(out: &mut String, pico: u64) {
    const DIGITS_LIMIT: u64 = 1_000_000_000_000_000;
    if pico == 0 {
        out.push_str("0.0");
        return;
    }
    if pico >= DIGITS_LIMIT {
        push_f64(out, pico as f64 / 1e12);
        return;
    }
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = pico;
    while v > 0 {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let all = &buf[i..];
    // Decimal exponent of the first digit: pico has 12 fractional digits.
    let exp = all.len() as i32 - 1 - 12;
    let mut end = all.len();
    while end > 1 && all[end - 1] == b'0' {
        end -= 1;
    }
    let digits = &all[..end];
    if exp < -4 {
        push_ascii(out, &digits[..1]);
        if digits.len() > 1 {
            out.push_str(".");
            push_ascii(out, &digits[1..]);
        }
        out.push_str("e-");
        let e = exp.unsigned_abs();
        push_ascii(out, &[b'0' + (e / 10) as u8, b'0' + (e % 10) as u8]);
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push_str("0");
        }
        push_ascii(out, digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() > int_len {
            push_ascii(out, &digits[..int_len]);
            out.push_str(".");
            push_ascii(out, &digits[int_len..]);
        } else {
            push_ascii(out, digits);
            for _ in digits.len()..int_len {
                out.push_str("0");
            }
            out.push_str(".0");
        }
    }
}

/// [`push_pico_usd`] into a new string (header and filter-state values).
pub fn pico_usd_text(pico: u64) -> String {
    let mut s = String::with_capacity(24);
    push_pico_usd(&mut s, pico);
    s
}

/// Appends a float as Python's `repr` writes it; `null` for NaN and infinities (not JSON).
pub fn push_f64(out: &mut String, v: f64) {
    if v == 0.0 {
        // The common case (`saved_cache_cost`, `tool_usage_cost`), without `fmt`.
        out.push_str("0.0");
    } else if v.is_finite() {
        out.push_str(&py_float(v));
    } else {
        out.push_str("null");
    }
}

/// Whether `raw` is one complete JSON value (whitespace around it allowed). Raw values from the
/// body scanner are complete by construction; checking again keeps one bad capture from
/// corrupting a whole batch of payloads.
pub fn is_json_value(raw: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(raw).is_ok()
}

/// Appends `raw` verbatim when it is valid JSON, else `null`.
pub fn push_raw_or_null(out: &mut String, raw: &[u8]) {
    match std::str::from_utf8(raw) {
        Ok(text) if is_json_value(raw) => out.push_str(text.trim()),
        _ => out.push_str("null"),
    }
}

/// Appends a parsed JSON value (the request's `metadata` and its members), compactly.
pub fn push_value(out: &mut String, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // `Number`'s `Display` is its JSON text.
        Value::Number(n) => {
            let _ = std::fmt::Write::write_fmt(out, format_args!("{n}"));
        }
        Value::String(s) => push_string(out, s),
        Value::Array(items) => {
            out.push_str("[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(",");
                }
                push_value(out, item);
            }
            out.push_str("]");
        }
        Value::Object(m) => {
            let mut o = Obj::begin(out);
            for (k, item) in m {
                push_value(o.key(k), item);
            }
            o.end();
        }
    }
}

/// A field name of the encoders and its JSON prefix `,"name":`, built at compile time by
/// [`key!`] so writing a field is one copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    /// The name (`user_api_key_hash`).
    pub name: &'static str,
    /// `,"name":` (the comma dropped for an object's first field).
    pub json: &'static str,
}

/// A [`Key`] for a literal field name (plain ASCII: nothing to escape).
macro_rules! key {
    ($name:literal) => {
        $crate::logging::json::Key {
            name: $name,
            json: concat!(",\"", $name, "\":"),
        }
    };
}
pub(crate) use key;

/// An object being written: keys and values, with the commas placed.
pub struct Obj<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    /// Opens `{`.
    pub fn begin(out: &'a mut String) -> Obj<'a> {
        out.push_str("{");
        Obj { out, first: true }
    }

    /// Writes `"name":` for one of the encoders' own fields and returns the buffer for the value.
    pub fn field(&mut self, key: Key) -> &mut String {
        // One copy: every field costs it, and a payload has ~150.
        self.out
            .push_str(if self.first { &key.json[1..] } else { key.json });
        self.first = false;
        self.out
    }

    /// Writes `"key":` for any key (escaped: keys from the request's `metadata`) and returns
    /// the buffer for the value.
    pub fn key(&mut self, key: &str) -> &mut String {
        if !self.first {
            self.out.push_str(",");
        }
        self.first = false;
        push_string(self.out, key);
        self.out.push_str(":");
        self.out
    }

    /// `"key":"value"`.
    pub fn str(&mut self, key: Key, v: &str) {
        push_string(self.field(key), v);
    }

    /// `"key":"value"` or `"key":null`.
    pub fn opt_str(&mut self, key: Key, v: Option<&str>) {
        match v {
            Some(s) => self.str(key, s),
            None => self.null(key),
        }
    }

    /// `"key":123`.
    pub fn u64(&mut self, key: Key, v: u64) {
        push_u64(self.field(key), v);
    }

    /// `"key":1.5` (Python's repr).
    pub fn f64(&mut self, key: Key, v: f64) {
        push_f64(self.field(key), v);
    }

    /// `"key":1.5` or `"key":null`.
    pub fn opt_f64(&mut self, key: Key, v: Option<f64>) {
        match v {
            Some(x) => self.f64(key, x),
            None => self.null(key),
        }
    }

    /// `"key":true`.
    pub fn bool(&mut self, key: Key, v: bool) {
        self.field(key).push_str(if v { "true" } else { "false" });
    }

    /// `"key":null`.
    pub fn null(&mut self, key: Key) {
        self.field(key).push_str("null");
    }

    /// `"key":<raw JSON>` (or `null` when `raw` is not valid JSON).
    pub fn raw(&mut self, key: Key, raw: &[u8]) {
        push_raw_or_null(self.field(key), raw);
    }

    /// Closes `}`.
    pub fn end(self) {
        self.out.push_str("}");
    }
}

/// An array of strings being written.
pub struct StrArray<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> StrArray<'a> {
    /// Opens `[`.
    pub fn begin(out: &'a mut String) -> StrArray<'a> {
        out.push_str("[");
        StrArray { out, first: true }
    }

    /// Appends one string.
    pub fn push(&mut self, s: &str) {
        if !self.first {
            self.out.push_str(",");
        }
        self.first = false;
        push_string(self.out, s);
    }

    /// Closes `]`.
    pub fn end(self) {
        self.out.push_str("]");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(s: &str) -> String {
        let mut out = String::new();
        push_string(&mut out, s);
        out
    }

    #[test]
    fn strings_are_escaped_as_json_requires() {
        assert_eq!(string("plain"), r#""plain""#);
        assert_eq!(string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(string("l1\nl2\r\t\u{8}\u{c}"), r#""l1\nl2\r\t\b\f""#);
        assert_eq!(string("\u{0}\u{1f}\u{7f}"), "\"\\u0000\\u001f\u{7f}\"");
        assert_eq!(string("héllo ✓ 😀"), "\"héllo ✓ 😀\"");
        assert_eq!(string(""), r#""""#);
        // Every escape round-trips through a real JSON parser.
        let all: String = (0u8..0x80).map(char::from).collect::<String>() + "é😀";
        let back: String = serde_json::from_str(&string(&all)).unwrap();
        assert_eq!(back, all);
    }

    #[test]
    fn pico_dollars_as_python_prints_the_usd_float() {
        let mut samples: Vec<u64> = vec![
            1,
            9,
            10,
            171_875,
            28_500_000,
            99_999_999,
            100_000_000,
            100_000_001,
            141_250_000,
            1_000_000_000_000,
            1_500_000_000_000,
            12_345_678_900_000,
            999_999_999_999_999,
            1_000_000_000_000_000,
            u64::MAX,
        ];
        // A spread of magnitudes and digit patterns (an LCG: reproducible).
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let magnitude = 10u64.pow(((x >> 59) % 16) as u32);
            samples.push((x >> 11) % (magnitude * 10) / (1 + (x >> 60) % 7));
        }
        for p in samples {
            let mut out = String::new();
            push_pico_usd(&mut out, p);
            let mut want = String::new();
            push_f64(&mut want, p as f64 / 1e12);
            assert_eq!(out, want, "{p}");
        }
    }

    #[test]
    fn unix_times_as_python_prints_timestamps() {
        for (micros, want) in [
            (1_796_216_891_000_123u64, "1796216891.000123"),
            (1_796_216_891_500_000, "1796216891.5"),
            (1_796_216_891_000_000, "1796216891.0"),
            (1_796_216_891_120_000, "1796216891.12"),
            (1_000_000_000_000_001, "1000000000.000001"),
            (1_500_000, "1.5"),
        ] {
            let mut out = String::new();
            push_unix_micros(&mut out, micros);
            assert_eq!(out, want);
            // The same text as Python's repr of the float (what py_float writes).
            assert_eq!(out, py_float(micros as f64 / 1e6));
        }
        // Every microsecond of a sample of seconds agrees with the float's shortest repr.
        for micros in (1_796_216_891_000_000u64..1_796_216_891_000_000 + 2_000_000).step_by(997) {
            let mut out = String::new();
            push_unix_micros(&mut out, micros);
            assert_eq!(out, py_float(micros as f64 / 1e6), "{micros}");
        }
    }

    #[test]
    fn numbers_as_python_prints_them() {
        let mut out = String::new();
        push_f64(&mut out, 2.85e-05);
        out.push(' ');
        push_f64(&mut out, 1_796_216_891.123_456);
        out.push(' ');
        push_f64(&mut out, 0.0);
        out.push(' ');
        push_f64(&mut out, f64::NAN);
        out.push(' ');
        push_u64(&mut out, u64::MAX);
        assert_eq!(
            out,
            "2.85e-05 1796216891.123456 0.0 null 18446744073709551615"
        );
    }

    #[test]
    fn parsed_values_are_written_back_compactly() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{ "a" : [1, 2.5, -3, true, null], "b\n": {"c": "d\"e"} }"#)
                .unwrap();
        let mut out = String::new();
        push_value(&mut out, &v);
        assert_eq!(out, r#"{"a":[1,2.5,-3,true,null],"b\n":{"c":"d\"e"}}"#);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap(), v);
    }

    #[test]
    fn objects_place_commas_and_nest() {
        let mut out = String::new();
        let mut o = Obj::begin(&mut out);
        o.str(key!("a"), "x");
        o.opt_str(key!("b"), None);
        o.u64(key!("c"), 3);
        {
            let mut inner = Obj::begin(o.key("d"));
            inner.bool(key!("e"), true);
            inner.raw(key!("f"), br#" {"g":[1,2]} "#);
            inner.raw(key!("bad"), b"{\"unterminated\":");
            inner.end();
        }
        {
            let mut a = StrArray::begin(o.key("h"));
            a.push("i");
            a.push("j");
            a.end();
        }
        o.opt_f64(key!("k"), Some(0.5));
        o.end();
        assert_eq!(
            out,
            r#"{"a":"x","b":null,"c":3,"d":{"e":true,"f":{"g":[1,2]},"bad":null},"h":["i","j"],"k":0.5}"#
        );
    }
}
