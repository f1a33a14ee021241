//! A small JSON writer that appends to one reusable `String`.
//!
//! Logging runs once per request, and a `serde_json::Value` tree of a ~60-field payload would
//! allocate per field; `#[derive(Serialize)]` structs would need an owned copy of every value.
//! Writing straight into a buffer the caller keeps between requests costs no allocation once
//! the buffer has grown (floats aside: they go through [`py_float`], a few per payload).
//!
//! Output is compact (no whitespace). Numbers follow Python's `repr` so values read as LiteLLM
//! prints them (`2.85e-05`, `1796216891.123456`).

use crate::alerts::text::py_float;

/// Appends `s` as a JSON string literal: `"`, `\` and control characters escaped (`\n`, `\r`,
/// `\t`, `\b`, `\f`, else `\u00XX`), everything else as it is (UTF-8 is valid JSON text).
pub fn push_string(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // Every byte matched above is ASCII, so `i` is a character boundary.
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            push_u_escape(out, b);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn push_u_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\u00");
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0xf)]));
}

/// Appends an unsigned integer.
pub fn push_u64(out: &mut String, v: u64) {
    // `fmt::Write` into a `String` cannot fail.
    let _ = std::fmt::Write::write_fmt(out, format_args!("{v}"));
}

/// Appends a float as Python's `repr` writes it; `null` for NaN and infinities (not JSON).
pub fn push_f64(out: &mut String, v: f64) {
    if v.is_finite() {
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
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_value(out, item);
            }
            out.push(']');
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

/// An object being written: keys and values, with the commas placed.
pub struct Obj<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    /// Opens `{`.
    pub fn begin(out: &'a mut String) -> Obj<'a> {
        out.push('{');
        Obj { out, first: true }
    }

    /// Writes `"key":` and returns the buffer for the value.
    pub fn key(&mut self, key: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        push_string(self.out, key);
        self.out.push(':');
        self.out
    }

    /// `"key":"value"`.
    pub fn str(&mut self, key: &str, v: &str) {
        push_string(self.key(key), v);
    }

    /// `"key":"value"` or `"key":null`.
    pub fn opt_str(&mut self, key: &str, v: Option<&str>) {
        match v {
            Some(s) => self.str(key, s),
            None => self.null(key),
        }
    }

    /// `"key":123`.
    pub fn u64(&mut self, key: &str, v: u64) {
        push_u64(self.key(key), v);
    }

    /// `"key":1.5` (Python's repr).
    pub fn f64(&mut self, key: &str, v: f64) {
        push_f64(self.key(key), v);
    }

    /// `"key":1.5` or `"key":null`.
    pub fn opt_f64(&mut self, key: &str, v: Option<f64>) {
        match v {
            Some(x) => self.f64(key, x),
            None => self.null(key),
        }
    }

    /// `"key":true`.
    pub fn bool(&mut self, key: &str, v: bool) {
        self.key(key).push_str(if v { "true" } else { "false" });
    }

    /// `"key":null`.
    pub fn null(&mut self, key: &str) {
        self.key(key).push_str("null");
    }

    /// `"key":<raw JSON>` (or `null` when `raw` is not valid JSON).
    pub fn raw(&mut self, key: &str, raw: &[u8]) {
        push_raw_or_null(self.key(key), raw);
    }

    /// Closes `}`.
    pub fn end(self) {
        self.out.push('}');
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
        out.push('[');
        StrArray { out, first: true }
    }

    /// Appends one string.
    pub fn push(&mut self, s: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        push_string(self.out, s);
    }

    /// Closes `]`.
    pub fn end(self) {
        self.out.push(']');
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
        o.str("a", "x");
        o.opt_str("b", None);
        o.u64("c", 3);
        {
            let mut inner = Obj::begin(o.key("d"));
            inner.bool("e", true);
            inner.raw("f", br#" {"g":[1,2]} "#);
            inner.raw("bad", b"{\"unterminated\":");
            inner.end();
        }
        {
            let mut a = StrArray::begin(o.key("h"));
            a.push("i");
            a.push("j");
            a.end();
        }
        o.opt_f64("k", Some(0.5));
        o.end();
        assert_eq!(
            out,
            r#"{"a":"x","b":null,"c":3,"d":{"e":true,"f":{"g":[1,2]},"bad":null},"h":["i","j"],"k":0.5}"#
        );
    }
}
