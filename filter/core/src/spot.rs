//! Spots a few object keys in a JSON text fed in fragments and captures their values, without
//! parsing the rest.
//!
//! Why not [`crate::json_scan::JsonScanner`] for streamed responses: a chat stream is hundreds of
//! small events (`{"id":…,"choices":[{"delta":{"content":"Hi"}}],"usage":null}`) and only one
//! of them carries usage. Validating every byte of every event cost ~13,000 instructions per event
//! inside Envoy. The spotter only looks at quotes: it jumps from one `"` to the next (eight bytes
//! at a time), compares the few bytes after an opening quote with the wanted keys, and copies
//! nothing but the wanted values. It does not validate the document; the values it captures are
//! parsed by their users, which is where a malformed value is noticed.
//!
//! A raw `"usage"` followed by `:` can only be a key: inside a JSON string every quote is
//! escaped, so string contents never produce it. Keys are matched at any depth, so the same
//! spotter reads chat chunks (`usage` at the top) and Responses API events (`response.usage`).

use crate::bytes::{find, find2};

/// The longest key the spotter can want; longer names are skipped as plain strings.
const MAX_KEY: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Between tokens, looking for the next `"`.
    Scan,
    /// Inside a string whose first bytes are collected in `name` (it may be a wanted key).
    Name,
    /// Inside a string that cannot be a wanted key: skipping to its closing quote.
    Skip { escaped: bool },
    /// After a wanted key's closing quote: expecting `:`.
    AfterKey(u8),
    /// After `:`: expecting the value of key `.0`.
    Value(u8),
    /// Copying an object/array value of key `key`.
    Nested {
        key: u8,
        depth: u32,
        in_string: bool,
        escaped: bool,
    },
    /// Copying a string value of key `key`.
    Str { key: u8, escaped: bool },
    /// Copying a literal/number value of key `key`.
    Scalar(u8),
}

/// Finds the first non-null value of each wanted key in one JSON text.
pub struct KeySpotter {
    keys: &'static [&'static [u8]],
    state: State,
    name: [u8; MAX_KEY],
    name_len: usize,
    /// Captured value text per key, bounded by `max_capture`.
    values: Vec<Vec<u8>>,
    /// Whether key `i` has its value already (first occurrence wins).
    done: Vec<bool>,
    overflowed: Vec<bool>,
    max_capture: usize,
}

impl KeySpotter {
    /// A spotter for `keys` (each at most 16 bytes, no quotes or backslashes), keeping values of
    /// at most `max_capture` bytes.
    pub fn new(keys: &'static [&'static [u8]], max_capture: usize) -> KeySpotter {
        KeySpotter {
            keys,
            state: State::Scan,
            name: [0; MAX_KEY],
            name_len: 0,
            values: keys.iter().map(|_| Vec::new()).collect(),
            done: vec![false; keys.len()],
            overflowed: vec![false; keys.len()],
            max_capture,
        }
    }

    /// Starts a new text; keeps the capture buffers' capacity.
    pub fn reset(&mut self) {
        self.state = State::Scan;
        self.name_len = 0;
        self.values.iter_mut().for_each(Vec::clear);
        self.done.iter_mut().for_each(|d| *d = false);
        self.overflowed.iter_mut().for_each(|o| *o = false);
    }

    /// The captured value of key `i` (raw JSON text), once complete; never `null`.
    pub fn value(&self, i: usize) -> Option<&[u8]> {
        match (self.done.get(i), self.values.get(i)) {
            (Some(true), Some(v)) if !self.overflowed.get(i).copied().unwrap_or(true) => Some(v),
            _ => None,
        }
    }

    /// Feeds the next fragment of the text.
    pub fn feed(&mut self, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() {
            i = match self.state {
                State::Scan => match find(&bytes[i..], b'"') {
                    Some(at) => {
                        self.state = State::Name;
                        self.name_len = 0;
                        i + at + 1
                    }
                    None => bytes.len(),
                },
                State::Skip { escaped } => self.skip_string(bytes, i, escaped),
                State::Name => self.name_byte(bytes, i),
                State::AfterKey(key) => {
                    let b = bytes[i];
                    if b == b':' {
                        self.state = State::Value(key);
                        i + 1
                    } else if is_space(b) {
                        i + 1
                    } else {
                        // A string value that happens to read like a key: not one.
                        self.state = State::Scan;
                        i
                    }
                }
                State::Value(key) => self.value_start(bytes, i, key),
                State::Nested {
                    key,
                    depth,
                    in_string,
                    escaped,
                } => self.nested(bytes, i, key, depth, in_string, escaped),
                State::Str { key, escaped } => self.string_value(bytes, i, key, escaped),
                State::Scalar(key) => {
                    let rest = &bytes[i..];
                    let end = rest
                        .iter()
                        .position(|&b| matches!(b, b',' | b'}' | b']') || is_space(b))
                        .unwrap_or(rest.len());
                    self.append(key, &rest[..end]);
                    if end < rest.len() {
                        self.finish_value(key);
                        self.state = State::Scan;
                    }
                    i + end
                }
            };
        }
    }

    fn name_byte(&mut self, bytes: &[u8], i: usize) -> usize {
        let b = bytes[i];
        if b == b'"' {
            let name = &self.name[..self.name_len];
            self.state = match self.keys.iter().position(|k| *k == name) {
                Some(k) if !self.done.get(k).copied().unwrap_or(true) => {
                    State::AfterKey(u8::try_from(k).unwrap_or(u8::MAX))
                }
                _ => State::Scan,
            };
            return i + 1;
        }
        if b == b'\\' || self.name_len == MAX_KEY {
            // Not a wanted key: skip the rest of this string.
            self.state = State::Skip { escaped: false };
            return i;
        }
        self.name[self.name_len] = b;
        self.name_len += 1;
        i + 1
    }

    fn skip_string(&mut self, bytes: &[u8], mut i: usize, mut escaped: bool) -> usize {
        if escaped {
            escaped = false;
            i += 1;
        }
        while i < bytes.len() {
            match find2(&bytes[i..], b'"', b'\\') {
                None => {
                    self.state = State::Skip { escaped };
                    return bytes.len();
                }
                Some(at) => {
                    let j = i + at;
                    if bytes[j] == b'"' {
                        self.state = State::Scan;
                        return j + 1;
                    }
                    // A backslash escapes the next byte, possibly in the next fragment.
                    if j + 1 >= bytes.len() {
                        self.state = State::Skip { escaped: true };
                        return bytes.len();
                    }
                    i = j + 2;
                }
            }
        }
        self.state = State::Skip { escaped: false };
        bytes.len()
    }

    fn value_start(&mut self, bytes: &[u8], i: usize, key: u8) -> usize {
        let b = bytes[i];
        if is_space(b) {
            return i + 1;
        }
        let k = usize::from(key);
        if let Some(v) = self.values.get_mut(k) {
            v.clear();
        }
        if let Some(o) = self.overflowed.get_mut(k) {
            *o = false;
        }
        match b {
            b'{' | b'[' => {
                self.append(key, &[b]);
                self.state = State::Nested {
                    key,
                    depth: 1,
                    in_string: false,
                    escaped: false,
                };
                i + 1
            }
            b'"' => {
                self.append(key, &[b]);
                self.state = State::Str {
                    key,
                    escaped: false,
                };
                i + 1
            }
            // null is "no value": keep looking for a later occurrence.
            b'n' => {
                self.state = State::Scan;
                i
            }
            _ => {
                self.state = State::Scalar(key);
                i
            }
        }
    }

    fn nested(
        &mut self,
        bytes: &[u8],
        start: usize,
        key: u8,
        mut depth: u32,
        mut in_string: bool,
        mut escaped: bool,
    ) -> usize {
        let mut end = bytes.len();
        for (j, &b) in bytes.iter().enumerate().skip(start) {
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        end = j + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        self.append(key, &bytes[start..end]);
        if depth == 0 {
            self.finish_value(key);
            self.state = State::Scan;
        } else {
            self.state = State::Nested {
                key,
                depth,
                in_string,
                escaped,
            };
        }
        end
    }

    fn string_value(&mut self, bytes: &[u8], start: usize, key: u8, mut escaped: bool) -> usize {
        let mut end = bytes.len();
        let mut closed = false;
        for (j, &b) in bytes.iter().enumerate().skip(start) {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                end = j + 1;
                closed = true;
                break;
            }
        }
        self.append(key, &bytes[start..end]);
        if closed {
            self.finish_value(key);
            self.state = State::Scan;
        } else {
            self.state = State::Str { key, escaped };
        }
        end
    }

    fn append(&mut self, key: u8, bytes: &[u8]) {
        let k = usize::from(key);
        let (Some(v), Some(o)) = (self.values.get_mut(k), self.overflowed.get_mut(k)) else {
            return;
        };
        if *o || v.len() + bytes.len() > self.max_capture {
            *o = true;
            v.clear();
            return;
        }
        v.extend_from_slice(bytes);
    }

    fn finish_value(&mut self, key: u8) {
        if let Some(d) = self.done.get_mut(usize::from(key)) {
            *d = true;
        }
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

#[cfg(test)]
#[path = "tests/spot.rs"]
mod tests;
