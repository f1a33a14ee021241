//! Label values and their encoding into Envoy stat names.
//!
//! Envoy stats carry no labels of their own: a label travels inside the stat name as
//! `;key=value` and the bootstrap's `stats_config.stats_tags` regex for `key` cuts it out again
//! (`envoy/stats-tags.yaml`). Verified on Envoy 1.40: dots, dashes, slashes, spaces, `=`,
//! `:`, UTF-8, `"` and `\` survive; only `;` (the separator) and a trailing `.` (Envoy drops it)
//! break. Those, `%` (so the escape is reversible) and control characters are percent-encoded.
//!
//! **No label can be forged through a tag extractor.** Envoy runs every extractor on the whole
//! stat name, and its default `envoy.response_code` (`_rq(_(\d{3}))$`) and
//! `envoy.response_code_class` (`_rq_((\d))xx$`) are anchored only at the end: a name ending in a
//! client's value (`user_agent=evil_rq_503`) would gain `envoy_response_code="503"`. So a name
//! with labels always ends with a fixed [`LABELS_END`], which the regex of whichever label comes
//! last consumes (`(;key=([^;]*)(?:;$)?)`, see [`stats_tag_regex`]). Every other default extractor
//! of Envoy 1.40 (`source/common/config/well_known_names.cc`) is anchored at the start on a first
//! token other than `wasmcustom` (`cluster.`, `listener.`, `http.`, `vhost.`, `mongo.`, `redis.`,
//! `sds.`, `^(?:listener|cluster)\.` for TLS, `^(?:listener…|server|…)\.worker_`, ...), or
//! compares whole dot-separated tokens with a literal second token (`$.rbac.**`,
//! `$.http_local_rate_limit.**`): our second token, even when a value holds dots, starts with the
//! family name. Our own regexes need `;key=`, and a value never contains `;`.

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

/// What ends the labels of every stat name that has labels: no client value is ever last.
pub const LABELS_END: char = ';';

/// The `stats_tags` regex that cuts label `key` out of a stat name: group 1 is removed, group 2
/// is the value; the [`LABELS_END`] after the last label goes with it.
pub fn stats_tag_regex(key: &str) -> String {
    format!("(;{key}=([^;]*)(?:;$)?)")
}

/// Closes a stat name under construction: [`LABELS_END`] when it has labels (a family name never
/// contains `;`), nothing otherwise.
pub fn end_labels(out: &mut String) {
    if out.contains(';') {
        out.push(LABELS_END);
    }
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
        end_labels(&mut s);
        assert_eq!(s, "litellm_requests_metric_total;model=m%3Bx;");
        let mut bare = String::from("llm_telemetry_series_folded_total");
        end_labels(&mut bare);
        assert_eq!(bare, "llm_telemetry_series_folded_total");
    }

    #[test]
    fn no_client_value_ends_a_name() {
        // Envoy's default response-code extractors match the end of the name.
        for value in ["evil_rq_503", "billing_rq_2xx", "x.", "a_rq_200"] {
            let mut s = String::from("litellm_deployment_success_responses_total");
            push_label(&mut s, "user_agent", value);
            end_labels(&mut s);
            assert!(s.ends_with(LABELS_END), "{s}");
            assert!(!s.ends_with(value), "{s}");
        }
        assert_eq!(stats_tag_regex("model"), "(;model=([^;]*)(?:;$)?)");
    }
}
