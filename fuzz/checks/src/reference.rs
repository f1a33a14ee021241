//! serde_json-based references shared by the JSON scanner, key spotter and exchange checks.
//!
//! serde_json is the judge of what is JSON. Its `IgnoredAny` reading has the same documented
//! leniency as the scanner (string contents are not checked for UTF-8, `\u` surrogates are not
//! paired, numbers are syntax only, no depth limit), so the verdicts must agree exactly once the
//! scanner's own bound (512 levels) is accounted for. Values are read back as `RawValue`s, i.e.
//! exactly as they appeared, and object members in document order with duplicates kept (a
//! `serde_json::Value` would keep the last duplicate and sort the keys).

use core::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Deepest nesting the scanner accepts (`json_scan`'s documented bound).
pub const SCANNER_MAX_DEPTH: usize = 512;

/// Whether `doc` is one JSON value (with surrounding whitespace only), as serde_json reads it.
pub fn is_json(doc: &[u8]) -> bool {
    serde_json::from_slice::<IgnoredAny>(doc).is_ok()
}

/// Deepest bracket nesting of `doc`, brackets inside strings not counted (exact for JSON).
pub fn nesting_depth(doc: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut esc) = (0usize, 0usize, false, false);
    for &b in doc {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// The scanner's verdict, as it must be: serde_json's, and at most 512 levels deep.
pub fn scanner_accepts(doc: &[u8]) -> bool {
    is_json(doc) && nesting_depth(doc) <= SCANNER_MAX_DEPTH
}

/// An object key: its raw text when it has no escape sequence (`None` when it has one: the
/// parsers compare raw bytes, so an escaped key never matches a wanted name).
pub type Key<'a> = Option<&'a [u8]>;

/// A JSON value, members in document order, leaves as their raw text.
#[derive(Debug)]
pub enum Node<'a> {
    Object(&'a str, Vec<(Key<'a>, Node<'a>)>),
    Array(&'a str, Vec<Node<'a>>),
    /// A string, number, `true`, `false` or `null`, as written.
    Leaf(&'a str),
}

impl<'a> Node<'a> {
    /// The raw text of this value, exactly as it appeared in the document.
    pub fn raw(&self) -> &'a str {
        match self {
            Node::Object(r, _) | Node::Array(r, _) | Node::Leaf(r) => r,
        }
    }
}

/// Reads `doc` into a [`Node`] tree; `None` if serde_json refuses it (not JSON, or not UTF-8:
/// raw text is only available as `str`) or it nests deeper than 512 levels (the tree is built
/// recursively).
pub fn tree(doc: &[u8]) -> Option<Node<'_>> {
    if nesting_depth(doc) > SCANNER_MAX_DEPTH {
        return None;
    }
    let raw: &RawValue = serde_json::from_slice(doc).ok()?;
    node(raw.get())
}

fn node(raw: &str) -> Option<Node<'_>> {
    match raw.as_bytes().first()? {
        b'{' => {
            let mut de = serde_json::Deserializer::from_str(raw);
            let members = de.deserialize_map(Members).ok()?;
            let members = members
                .into_iter()
                .map(|(k, v)| node(v.get()).map(|n| (k, n)))
                .collect::<Option<Vec<_>>>()?;
            Some(Node::Object(raw, members))
        }
        b'[' => {
            let mut de = serde_json::Deserializer::from_str(raw);
            let items = de.deserialize_seq(Items).ok()?;
            let items = items
                .into_iter()
                .map(|v| node(v.get()))
                .collect::<Option<Vec<_>>>()?;
            Some(Node::Array(raw, items))
        }
        _ => Some(Node::Leaf(raw)),
    }
}

/// An object's members in order: (raw key if unescaped, raw value).
struct Members;

impl<'de> Visitor<'de> for Members {
    type Value = Vec<(Key<'de>, &'de RawValue)>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(key) = map.next_key_seed(RawKey)? {
            out.push((key, map.next_value::<&RawValue>()?));
        }
        Ok(out)
    }
}

/// An array's items in order.
struct Items;

impl<'de> Visitor<'de> for Items {
    type Value = Vec<&'de RawValue>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<&RawValue>()? {
            out.push(v);
        }
        Ok(out)
    }
}

/// A key as bytes: borrowed straight from the input when it has no escape, owned (unescaped,
/// so not comparable with raw bytes) otherwise.
struct RawKey;

impl<'de> DeserializeSeed<'de> for RawKey {
    type Value = Key<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_bytes(self)
    }
}

impl<'de> Visitor<'de> for RawKey {
    type Value = Key<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(v.as_bytes()))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
}
