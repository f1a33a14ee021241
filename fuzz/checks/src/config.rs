//! `config::parse` (the alerting settings compiled in it), as the host runs it in
//! `on_configure`.
//!
//! Properties, for any bytes:
//! - the outcome is a function of the JSON value only: the same document re-serialized compact
//!   or pretty-printed gives the same configuration or the same error (path and message);
//! - an error's path names a place in the document: `config`, or a path whose parent exists (the
//!   last step may be the missing required key), or `env.NAME`, a variable the alerting settings
//!   read;
//! - no secret leaves: the master key, key-table `api_key`s, `environment_variables` values and
//!   webhook URLs (and their paths, the credential of a Slack webhook) appear in no error message,
//!   no warning and in no `Debug` output of the parsed configuration.

use llm_telemetry_core::config::{parse, Loaded};
use serde_json::Value;

/// The process environment the check runs with: variables whose name starts with `E` are set.
fn env(name: &str) -> Option<String> {
    name.starts_with('E')
        .then(|| format!("env-value-of-{name}"))
}

/// What configuring with `json` gives: the parse error, or the configuration and what the
/// alerting settings compile to.
type Outcome = Result<(Loaded, String), String>;

fn configure(json: &[u8]) -> Outcome {
    let loaded = parse(json, &env).map_err(|e| format!("{e}"))?;
    let alerting = format!("{:?}", loaded.config.alerting);
    Ok((loaded, alerting))
}

/// Whether two outcomes are the same configuration (field by field: the hash maps' `Debug`
/// order is not stable).
fn same(a: &Outcome, b: &Outcome) -> bool {
    match (a, b) {
        (Err(a), Err(b)) => a == b,
        (Ok((a, alert_a)), Ok((b, alert_b))) => {
            let (x, y) = (&a.config, &b.config);
            a.ignored == b.ignored
                && a.warnings == b.warnings
                && alert_a == alert_b
                && x.deployments == y.deployments
                && x.master_key_sha256 == y.master_key_sha256
                && x.end_user_tracking == y.end_user_tracking
                && x.metadata_labels == y.metadata_labels
                && x.tag_labels == y.tag_labels
                && x.emit_stream_label == y.emit_stream_label
                && x.metric_filter == y.metric_filter
                && x.keys == y.keys
                && x.identity_headers == y.identity_headers
                && x.limits == y.limits
                && x.inject_stream_usage == y.inject_stream_usage
                && x.alerting_general_settings == y.alerting_general_settings
                && x.environment_variables == y.environment_variables
        }
        _ => false,
    }
}

/// Every text output of an outcome an operator may see: error messages and `Debug` output.
fn outputs(o: &Outcome) -> String {
    match o {
        Err(e) => e.clone(),
        Ok((loaded, alerting)) => format!(
            "{:?}\n{:?}\n{:?}\n{alerting}",
            loaded.config, loaded.ignored, loaded.warnings
        ),
    }
}

/// Splits an error path (`a.b[2].c`) into its steps.
fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, indexes) = part.split_once('[').map_or((part, ""), |(n, i)| (n, i));
        out.push(Step::Key(name));
        for i in indexes.split('[') {
            if let Some(n) = i.strip_suffix(']').and_then(|n| n.parse().ok()) {
                out.push(Step::Index(n));
            }
        }
    }
    out
}

enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Whether the parent of `path` exists in `doc`. Paths through keys that contain `.` or `[`
/// cannot be split back unambiguously: those are not judged.
fn parent_exists(doc: &Value, path: &str) -> bool {
    if path == "config" {
        return true;
    }
    let all = steps(path);
    let Some((_, parent)) = all.split_last() else {
        return false;
    };
    let mut at = doc;
    for step in parent {
        let next = match step {
            Step::Key(k) => at.get(*k),
            Step::Index(i) => at.get(*i),
        };
        match next {
            Some(v) => at = v,
            None => return false,
        }
    }
    true
}

/// Keys anywhere in `doc` that would make a path ambiguous.
fn has_ambiguous_keys(doc: &Value) -> bool {
    match doc {
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| k.contains(['.', '[', ']', ' ']) || has_ambiguous_keys(v)),
        Value::Array(a) => a.iter().any(has_ambiguous_keys),
        _ => false,
    }
}

/// Every key and string value of `doc`, and the text of every number.
fn texts(doc: &Value, out: &mut Vec<String>) {
    match doc {
        Value::Object(m) => {
            for (k, v) in m {
                out.push(k.clone());
                texts(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| texts(v, out)),
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Bool(_) | Value::Null => {}
    }
}

/// Where the secrets of `doc` are: JSON pointers to strings that must never be printed.
fn secret_pointers(doc: &Value) -> Vec<String> {
    let mut out = vec!["/general_settings/master_key".to_owned()];
    if let Some(Value::Array(keys)) = doc.pointer("/telemetry_settings/keys") {
        out.extend((0..keys.len()).map(|i| format!("/telemetry_settings/keys/{i}/api_key")));
    }
    for section in [
        "/environment_variables",
        "/general_settings/alert_to_webhook_url",
    ] {
        if let Some(Value::Object(m)) = doc.pointer(section) {
            let escape = |k: &str| k.replace('~', "~0").replace('/', "~1");
            out.extend(m.keys().map(|k| format!("{section}/{}", escape(k))));
        }
    }
    out.retain(|p| matches!(doc.pointer(p), Some(Value::String(_))));
    out
}

/// `secret` with every letter and digit moved on by one (`a`→`b`, `z`→`a`, `9`→`0`): the same
/// shape (length, URL structure), different text.
fn shifted(secret: &str) -> String {
    secret
        .chars()
        .map(|c| match c {
            'z' => 'a',
            'Z' => 'A',
            '9' => '0',
            c if c.is_ascii_alphanumeric() => char::from(c as u8 + 1),
            c => c,
        })
        .collect()
}

/// The texts a secret at `pointer` must not show up as: the string, and for a URL its path
/// (the credential of a Slack webhook).
fn secret_texts(secret: &str) -> Vec<&str> {
    let mut out = vec![secret];
    if let Some(path) = secret
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
    {
        out.push(path);
    }
    out
}

/// The config parser's properties on `data` (see the module documentation).
pub fn check(data: &[u8]) {
    let outcome = configure(data);
    assert!(same(&configure(data), &outcome), "parse is deterministic");
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for text in [serde_json::to_vec(&doc), serde_json::to_vec_pretty(&doc)] {
        let text = text.unwrap_or_default();
        if serde_json::from_slice::<Value>(&text).ok().as_ref() != Some(&doc) {
            // serde_json's own float reading does not round-trip every number text.
            continue;
        }
        assert!(
            same(&configure(&text), &outcome),
            "re-serialized, the document configures differently: {:?} vs {:?}",
            configure(&text).err(),
            outcome.as_ref().err()
        );
    }
    if let Err(e) = &outcome {
        let path = e.split(": ").next().unwrap_or_default();
        // `env.NAME`: a variable the alerting settings read (`SLACK_WEBHOOK_URL`, `WEBHOOK_URL`),
        // from the document's `environment_variables` or the VM's environment, named as such.
        let variable = path
            .strip_prefix("env.")
            .is_some_and(|name| !name.is_empty() && !name.contains('.'));
        assert!(
            has_ambiguous_keys(&doc) || variable || parent_exists(&doc, path),
            "error path {path:?} is not in the document: {e}"
        );
    }
    // A secret leaks when it is printed more often than once it is replaced by another text of
    // the same shape (which tells a leak from a coincidence: a secret that happens to be a word
    // of a message). Judged only for secrets long enough and found nowhere else in the document.
    let printed = outputs(&outcome);
    let mut all = Vec::new();
    texts(&doc, &mut all);
    for pointer in secret_pointers(&doc) {
        let Some(Value::String(secret)) = doc.pointer(&pointer) else {
            continue;
        };
        if secret.starts_with("os.environ/") {
            continue;
        }
        let mut replaced = doc.clone();
        if let Some(v) = replaced.pointer_mut(&pointer) {
            *v = Value::String(shifted(secret));
        }
        let printed_replaced = outputs(&configure(
            &serde_json::to_vec(&replaced).unwrap_or_default(),
        ));
        for text in secret_texts(secret) {
            let elsewhere = all.iter().filter(|t| t.contains(text)).count() > 1;
            if text.len() < 8 || elsewhere {
                continue;
            }
            assert!(
                printed.matches(text).count() <= printed_replaced.matches(text).count(),
                "secret {text:?} at {pointer} printed: {printed}"
            );
        }
    }
}
