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
    /// Only key `.0` is still wanted: jump straight to its quoted name, found by its rarest
    /// byte, without looking at any other string.
    Hunt(u8),
    /// Nothing is wanted any more.
    Idle,
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
    /// Bit `n` set when some wanted key is `n` bytes long.
    key_lengths: u64,
    /// The last bytes of the previous fragment while hunting, to find a name split across
    /// fragments.
    tail: [u8; MAX_KEY + 2],
    tail_len: usize,
    /// The byte before `tail`, and the last byte of the previous fragment: a quote right after a
    /// backslash is escaped, so a name found there is inside a key such as `"a\"usage"`.
    before_tail: u8,
    last_byte: u8,
    /// Per key, the index of its rarest byte (what hunting searches for).
    pivots: Vec<usize>,
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
            key_lengths: keys
                .iter()
                .filter(|k| k.len() < 64)
                .fold(0, |bits, k| bits | 1u64 << k.len()),
            tail: [0; MAX_KEY + 2],
            tail_len: 0,
            before_tail: 0,
            last_byte: 0,
            pivots: keys.iter().map(|k| rarest(k)).collect(),
        }
    }

    /// Starts a new text; keeps the capture buffers' capacity.
    pub fn reset(&mut self) {
        self.reset_wanting(|_| true);
    }

    /// Starts a new text looking only for the keys `wanted(i)` accepts (a value already known
    /// from an earlier event need not be copied again).
    pub fn reset_wanting(&mut self, wanted: impl Fn(usize) -> bool) {
        self.state = State::Scan;
        self.name_len = 0;
        self.values.iter_mut().for_each(Vec::clear);
        for (i, d) in self.done.iter_mut().enumerate() {
            *d = !wanted(i);
        }
        self.overflowed.iter_mut().for_each(|o| *o = false);
        self.tail_len = 0;
        self.last_byte = 0;
        self.state = self.resume();
    }

    /// Before the first byte of a text: look for key `i` too.
    pub fn also_want(&mut self, i: usize) {
        if let Some(d) = self.done.get_mut(i) {
            *d = false;
        }
        self.state = self.resume();
    }

    /// The state between values: hunt when one key is left, idle when none.
    fn resume(&self) -> State {
        let mut wanted = self.done.iter().enumerate().filter(|(_, d)| !**d);
        match (wanted.next(), wanted.next()) {
            (None, _) => State::Idle,
            (Some((k, _)), None) => u8::try_from(k).map_or(State::Scan, State::Hunt),
            _ => State::Scan,
        }
    }

    /// The captured value of key `i` (raw JSON text), once complete; never `null`.
    pub fn value(&self, i: usize) -> Option<&[u8]> {
        match (self.done.get(i), self.values.get(i)) {
            (Some(true), Some(v))
                if !v.is_empty() && !self.overflowed.get(i).copied().unwrap_or(true) =>
            {
                Some(v)
            }
            _ => None,
        }
    }

    /// Feeds the next fragment of the text.
    pub fn feed(&mut self, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() {
            i = match self.state {
                State::Idle => bytes.len(),
                State::Hunt(key) => self.hunt(bytes, i, key),
                State::Scan => match find(&bytes[i..], b'"') {
                    Some(at) => {
                        self.state = State::Name;
                        self.name_len = 0;
                        i + at + 1
                    }
                    None => bytes.len(),
                },
                State::Skip { escaped } => self.skip_string(bytes, i, escaped),
                State::Name => self.name_bytes(bytes, i),
                State::AfterKey(key) => {
                    let b = bytes[i];
                    if b == b':' {
                        self.state = State::Value(key);
                        i + 1
                    } else if is_space(b) {
                        i + 1
                    } else {
                        // A string value that happens to read like a key: not one.
                        self.state = self.resume();
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
                        self.state = self.resume();
                    }
                    i + end
                }
            };
        }
        if let Some(&b) = bytes.last() {
            self.last_byte = b;
        }
    }

    /// Inside a string that may be a wanted key: find its end within the next `MAX_KEY` bytes
    /// at once, and compare the whole name (most strings in a chunk are short keys and values).
    fn name_bytes(&mut self, bytes: &[u8], i: usize) -> usize {
        let rest = bytes.get(i..).unwrap_or_default();
        let room = MAX_KEY - self.name_len;
        let window = rest.get(..rest.len().min(room + 1)).unwrap_or_default();
        match find2(window, b'"', b'\\') {
            Some(at) if window.get(at) == Some(&b'"') => {
                let part = window.get(..at).unwrap_or_default();
                let key = if self.name_len == 0 {
                    self.key_index(part)
                } else {
                    let end = self.name_len + part.len();
                    self.name[self.name_len..end].copy_from_slice(part);
                    self.key_index(&self.name[..end])
                };
                self.state = match key {
                    Some(k) if !self.done.get(k).copied().unwrap_or(true) => {
                        State::AfterKey(u8::try_from(k).unwrap_or(u8::MAX))
                    }
                    _ => State::Scan,
                };
                i + at + 1
            }
            // An escape, or longer than any wanted key: a plain string to skip.
            Some(at) => {
                self.state = State::Skip { escaped: false };
                i + at
            }
            None if window.len() > room => {
                self.state = State::Skip { escaped: false };
                i + room
            }
            // The fragment ends inside the name: keep what there is for the next one.
            None => {
                let end = self.name_len + window.len();
                self.name[self.name_len..end].copy_from_slice(window);
                self.name_len = end;
                bytes.len()
            }
        }
    }

    /// Looks for `"key"` only. A raw `"key"` can only be a name or a string value (inside a
    /// string every quote is escaped); `AfterKey` then requires the `:` of a name.
    fn hunt(&mut self, bytes: &[u8], i: usize, key: u8) -> usize {
        let Some(name) = self.keys.get(usize::from(key)).copied() else {
            return bytes.len();
        };
        let n = name.len() + 2; // with its quotes
        let quoted = |w: &[u8]| {
            w.len() == n
                && w.first() == Some(&b'"')
                && w.last() == Some(&b'"')
                && w.get(1..n - 1) == Some(name)
        };
        let pivot = self.pivots.get(usize::from(key)).copied().unwrap_or(0);
        let pivot_byte = name.get(pivot).copied().unwrap_or(b'"');
        let rest = bytes.get(i..).unwrap_or_default();
        // A name split across earlier fragments and this one (tiny copies: only when the last
        // fragment ended inside a possible name).
        let tail_len = self.tail_len;
        let take = rest.len().min(n - 1);
        let mut joined_buf = [0u8; 2 * (MAX_KEY + 2)];
        let joined: &[u8] = if tail_len == 0 {
            rest.get(..take).unwrap_or_default()
        } else {
            joined_buf[..tail_len].copy_from_slice(&self.tail[..tail_len]);
            joined_buf[tail_len..tail_len + take].copy_from_slice(&rest[..take]);
            &joined_buf[..tail_len + take]
        };
        // The byte before `rest[0]`, and before `joined[0]`.
        let before_rest = if i > 0 { bytes[i - 1] } else { self.last_byte };
        let before_joined = if tail_len > 0 {
            self.before_tail
        } else {
            before_rest
        };
        let unescaped = |before: u8| before != b'\\';
        for start in 0..tail_len {
            let before = if start > 0 {
                joined[start - 1]
            } else {
                before_joined
            };
            if start + n > tail_len
                && joined.get(start..start + n).is_some_and(quoted)
                && unescaped(before)
            {
                self.tail_len = 0;
                self.state = State::AfterKey(key);
                return i + start + n - tail_len;
            }
        }
        let mut from = 0;
        while let Some(at) = find(rest.get(from..).unwrap_or_default(), pivot_byte) {
            let p = from + at;
            from = p + 1;
            let Some(start) = p.checked_sub(pivot + 1) else {
                continue;
            };
            let before = if start > 0 {
                rest[start - 1]
            } else {
                before_rest
            };
            if rest.get(start..start + n).is_some_and(quoted) && unescaped(before) {
                // The tail is of the bytes before this name: joined to later ones it would
                // make up names that are not in the text.
                self.tail_len = 0;
                self.state = State::AfterKey(key);
                return i + start + n;
            }
        }
        // Keep the last bytes seen (of earlier fragments too when this one is short): a name
        // may start there, but only if they hold a quote (most events end in `null}` or `]}`).
        let keep = joined.len().min(n - 1);
        let (last, before) = if rest.len() > take {
            (rest.get(rest.len() - keep..), rest[rest.len() - keep - 1])
        } else {
            let at = joined.len() - keep;
            let before = if at > 0 {
                joined[at - 1]
            } else {
                before_joined
            };
            (joined.get(at..), before)
        };
        let last = last.unwrap_or_default();
        if find(last, b'"').is_none() {
            self.tail_len = 0;
            return bytes.len();
        }
        let mut tail = [0u8; MAX_KEY + 2];
        tail[..last.len()].copy_from_slice(last);
        self.tail = tail;
        self.tail_len = last.len();
        self.before_tail = before;
        bytes.len()
    }

    fn key_index(&self, name: &[u8]) -> Option<usize> {
        // Most strings in an event are other keys and short values: rule them out by length
        // before comparing bytes.
        if name.len() >= 64 || self.key_lengths & (1u64 << name.len()) == 0 {
            return None;
        }
        self.keys.iter().position(|k| *k == name)
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
                self.state = self.resume();
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
            self.state = self.resume();
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
            self.state = self.resume();
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

/// The byte of `name` least likely in JSON text (by English letter frequency): the one to search
/// for when hunting a single name.
fn rarest(name: &[u8]) -> usize {
    const BY_FREQUENCY: &[u8] = b"etaoinsrhldcumfpgwybvkxjqz";
    let rank = |b: &u8| {
        BY_FREQUENCY
            .iter()
            .position(|c| c == b)
            .unwrap_or(BY_FREQUENCY.len())
    };
    name.iter()
        .enumerate()
        .max_by_key(|(_, b)| rank(b))
        .map_or(0, |(i, _)| i)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

#[cfg(test)]
#[path = "../tests/spot.rs"]
mod tests;
