//! Reading JSON values with errors that name the path (and never a secret's value).

use serde_json::{Map, Value};

use super::ConfigError;

pub(super) fn err(path: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// `number 3`, `boolean true`, `string`, `array`, ... (string contents are never shown: a
/// misplaced value may be a secret).
pub(super) fn describe(v: &Value, secret: bool) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) if !secret => format!("boolean {b}"),
        Value::Bool(_) => "boolean".to_owned(),
        Value::Number(n) if !secret => format!("number {n}"),
        Value::Number(_) => "number".to_owned(),
        Value::String(_) => "string".to_owned(),
        Value::Array(_) => "array".to_owned(),
        Value::Object(_) => "object".to_owned(),
    }
}

pub(super) fn type_err(path: &str, expected: &str, v: &Value) -> ConfigError {
    err(
        path,
        format!("expected {expected}, got {}", describe(v, false)),
    )
}

pub(super) fn key_path(parent: &str, key: &str) -> String {
    format!("{parent}.{key}")
}

pub(super) fn index_path(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

pub(super) fn obj<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, ConfigError> {
    v.as_object().ok_or_else(|| type_err(path, "an object", v))
}

/// An object, or `null` read as empty.
pub(super) fn obj_or_null<'a>(
    v: &'a Value,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, ConfigError> {
    match v {
        Value::Null => Ok(None),
        _ => obj(v, path).map(Some),
    }
}

pub(super) fn array<'a>(v: &'a Value, path: &str) -> Result<&'a [Value], ConfigError> {
    match v {
        Value::Null => Ok(&[]),
        Value::Array(a) => Ok(a),
        _ => Err(type_err(path, "a list", v)),
    }
}

pub(super) fn boolean(v: &Value, path: &str, default: bool) -> Result<bool, ConfigError> {
    match v {
        Value::Null => Ok(default),
        Value::Bool(b) => Ok(*b),
        _ => Err(type_err(path, "a boolean", v)),
    }
}

pub(super) fn string<'a>(v: &'a Value, path: &str) -> Result<&'a str, ConfigError> {
    v.as_str().ok_or_else(|| type_err(path, "a string", v))
}

pub(super) fn string_list(v: &Value, path: &str) -> Result<Vec<String>, ConfigError> {
    array(v, path)?
        .iter()
        .enumerate()
        .map(|(i, s)| string(s, &index_path(path, i)).map(str::to_owned))
        .collect()
}

pub(super) fn non_negative(v: &Value, path: &str) -> Result<Option<u64>, ConfigError> {
    match v {
        Value::Null => Ok(None),
        _ => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| type_err(path, "a non-negative integer", v)),
    }
}

pub(super) fn positive(v: &Value, path: &str) -> Result<u64, ConfigError> {
    match v.as_u64() {
        Some(n) if n > 0 => Ok(n),
        _ => Err(type_err(path, "a positive integer", v)),
    }
}

pub(super) fn positive_usize(v: &Value, path: &str) -> Result<usize, ConfigError> {
    let n = positive(v, path)?;
    usize::try_from(n).map_err(|_| err(path, format!("must be at most {}", usize::MAX)))
}
