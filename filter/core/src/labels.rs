//! Label values and their encoding into Envoy stat names.
//!
//! Envoy stats carry no labels of their own: a label travels inside the stat name as
//! `;key=value` and the bootstrap's `stats_config.stats_tags` regex `(;key=([^;]*))` cuts it out
//! again (`envoy/stats-tags.yaml`). Verified on Envoy 1.40: dots, dashes, slashes, spaces, `=`,
//! `:`, UTF-8, `"` and `\` survive; only `;` (the separator) and a trailing `.` (Envoy drops it)
//! break. Those, `%` (so the escape is reversible) and control characters are percent-encoded.

/// What LiteLLM prints for a label whose value it does not know.
pub const UNKNOWN: &str = "None";

/// The value every label folds into once its cardinality bound is reached.
pub const OVERFLOW: &str = "__overflow__";

/// Appends `value` to `out` escaped for a stat name: `;`, `%`, control characters and a final
/// `.` become `%XX`. Everything else, UTF-8 included, is kept as it is.
pub fn escape_into(out: &mut String, value: &str) {
    let bytes = value.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let last_dot = b == b'.' && i + 1 == bytes.len();
        if b == b';' || b == b'%' || b < 0x20 || b == 0x7f || last_dot {
            out.push_str(&value[start..i]);
            push_percent(out, b);
            start = i + 1;
        }
    }
    out.push_str(&value[start..]);
}

fn push_percent(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0xf)]));
}

/// The longest prefix of `value` of at most `max` bytes that ends on a character boundary.
pub fn truncate_utf8(value: &str, max: usize) -> &str {
    if value.len() <= max {
        return value;
    }
    let mut end = max;
    while end > 0 && !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// Appends `;key=value` (escaped) to a stat name under construction.
pub fn push_label(out: &mut String, key: &str, value: &str) {
    out.push(';');
    out.push_str(key);
    out.push('=');
    escape_into(out, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(v: &str) -> String {
        let mut s = String::new();
        escape_into(&mut s, v);
        s
    }

    #[test]
    fn keeps_what_envoy_keeps() {
        for v in [
            "gpt-4o",
            "openai/gpt-4o",
            "a.b:c",
            "Team A",
            "x=y",
            "é🚀",
            "q\"uote\\",
        ] {
            assert_eq!(esc(v), v);
        }
    }

    #[test]
    fn escapes_only_what_breaks() {
        assert_eq!(esc("a;b"), "a%3Bb");
        assert_eq!(esc("100%"), "100%25");
        assert_eq!(esc("v1.2."), "v1.2%2E");
        assert_eq!(esc("line\nbreak\x7f"), "line%0Abreak%7F");
        assert_eq!(esc(""), "");
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate_utf8("héllo", 2), "h");
        assert_eq!(truncate_utf8("héllo", 3), "hé");
        assert_eq!(truncate_utf8("abc", 10), "abc");
    }

    #[test]
    fn label_is_separated_and_escaped() {
        let mut s = String::from("litellm_requests_metric_total");
        push_label(&mut s, "model", "m;x");
        assert_eq!(s, "litellm_requests_metric_total;model=m%3Bx");
    }
}
