//! Incremental JSON scanner: validates one JSON document fed in arbitrary chunks and captures
//! the raw text of the values found at a few configured object-key paths.
//!
//! Why not `serde_json`: response bodies arrive from Envoy one chunk at a time and can be large
//! (embeddings, long completions). Buffering them just to read `usage` would cost memory
//! proportional to the body on every stream. This scanner keeps a fixed amount of state (a
//! 512-level bracket bitstack and a capture arena bounded by [`JsonScanner::new`]'s limit and reused across documents) and copies
//! only the bytes of the captured values. The captured raw text is small and can then be decoded
//! with `serde_json` by the caller.
//!
//! Split points are arbitrary: inside a key, a string, an escape such as `\u00e9`, a number, a
//! multi-byte UTF-8 character or a literal (`tr` | `ue`). All state needed to resume lives in the
//! scanner; nothing is re-scanned.
//!
//! Deliberate limits (documented so callers are not surprised):
//! - Keys are compared as raw bytes. A key that contains any escape sequence never matches a path
//!   (OpenAI never escapes its key names; unescaping would need a per-key buffer).
//! - Paths are matched through objects only: `usage` inside an array element does not match.
//! - Strings are not checked for valid UTF-8 and `\u` surrogates are not paired: the scanner
//!   treats string contents as opaque bytes, which is what lets its inner loop look only for `"`,
//!   `\` and control characters. Captured text decoded later by `serde_json` is fully checked.

use std::cell::RefCell;
use std::rc::Rc;

/// Result of feeding bytes to (or finishing) a [`JsonScanner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanState {
    /// The document is valid so far but the root value has not ended yet.
    InProgress,
    /// One whole JSON value has been seen, followed by nothing but whitespace.
    Complete,
    /// The input is not JSON (or nests deeper than the bound). Sticky until [`JsonScanner::reset`].
    Malformed,
}

/// The capture arena's first reservation (bounded by nothing else: 512 bytes per exchange).
const FIRST_ARENA_BYTES: usize = 512;
/// Deepest nesting accepted. Bounds the bracket stack to 512 bits; deeper input is Malformed.
const MAX_DEPTH: usize = 512;
/// Path segments are tracked in `u64` bitmasks, one bit per path.
const MAX_PATHS: usize = 64;
/// Paths are at most three object keys deep (`response.usage` style); deeper paths never match.
const MAX_SEGMENTS: usize = 3;

/// The bit of [`JsonScanner::active_depths`] for captures starting at `depth`.
#[inline(always)]
fn depth_bit(depth: usize) -> u64 {
    1u64 << depth.min(63)
}

/// JSON insignificant whitespace (RFC 8259 section 2): space, tab, LF, CR. Nothing else.
#[inline(always)]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Where the scanner is in the grammar. One byte of state; everything else resumable lives in
/// plain fields so a chunk boundary can fall anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    /// A value must come next (document start, after `:`, after `,` in an array).
    Value,
    /// Just after `[`: a value or `]`.
    ValueOrClose,
    /// Just after `{`: a key or `}`.
    KeyOrClose,
    /// After `,` in an object: a key must come next.
    Key,
    /// After a key: `:` must come next.
    Colon,
    /// After a value inside a container: `,` or the matching close bracket.
    After,
    /// The root value ended: only whitespace may follow.
    Done,
    /// Inside a string (key or value, see `in_key`).
    Str,
    /// Just after a backslash inside a string.
    StrEsc,
    /// Inside `\uXXXX`: this many hex digits still to come.
    StrHex(u8),
    /// Inside `true`, `false` or `null` (see `lit`, `lit_pos`).
    Lit,
    /// After `-`: a digit must follow.
    NumMinus,
    /// After a leading `0`: no more integer digits allowed (RFC 8259 forbids leading zeros).
    NumZero,
    /// In integer digits.
    NumInt,
    /// After `.`: a digit must follow.
    NumDot,
    /// In fraction digits.
    NumFrac,
    /// After `e`/`E`: sign or digit.
    NumE,
    /// After the exponent sign: a digit must follow.
    NumESign,
    /// In exponent digits.
    NumExp,
    /// Sticky error.
    Malformed,
}

/// Lifecycle of one path's capture. A path captures its FIRST occurrence only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotStatus {
    /// Not seen yet.
    Idle,
    /// The value is being copied into the arena.
    Active,
    /// The whole value is in `arena[start..start + len]`.
    Complete,
    /// The value was larger than `max_capture_bytes` (or the value is gone for good).
    Overflowed,
}

/// Capture bookkeeping for one path: a window into the shared arena.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Arena offset of the value's first byte.
    start: usize,
    /// Length of the value once complete.
    len: usize,
    /// Container depth at which the value started; it is complete when a value ends at this depth.
    depth: usize,
    /// Where the capture is in its lifecycle.
    status: SlotStatus,
}

/// A slot before its path is seen (also the state after `reset`).
const IDLE_SLOT: Slot = Slot {
    start: 0,
    len: 0,
    depth: 0,
    status: SlotStatus::Idle,
};

/// Incremental, allocation-free (after [`JsonScanner::new`]) JSON validator and value capturer.
///
/// Feed one document with [`feed`](Self::feed) in chunks of any size, call
/// [`finish`](Self::finish) at end of input, read captures with [`captured`](Self::captured),
/// then [`reset`](Self::reset) for the next document (capacity is kept).
#[derive(Debug, Clone)]
pub struct JsonScanner {
    /// The paths, split into segments: built once per list of paths and thread (VM).
    table: Rc<PathTable>,
    /// Largest value, in bytes, a path may capture.
    max_capture: usize,
    /// Single capture arena, grown on demand and reused across documents. Captures of nested paths (`response` and
    /// `response.usage`) share bytes: the inner one is a window inside the outer one.
    arena: Vec<u8>,
    /// Hard bound on `arena.len()`. Each path captures at most
    /// once per document and at most `max_capture` bytes are written on its behalf, so
    /// `paths * max_capture` always suffices; the check is defence in depth.
    arena_limit: usize,
    /// One capture slot per path, same index as `paths`.
    slots: Vec<Slot>,
    /// Number of slots in `Active`: zero on the hot path, which then skips all capture work.
    active: usize,
    /// Bit `d` set while a capture that started at depth `d` (< 64) may be active: most values
    /// end where no capture does, and this answers that without looking at the slots. Deeper
    /// starts set bit 63, which then always looks.
    active_depths: u64,
    /// Index in the current chunk from which bytes still have to be copied to the arena.
    span_from: usize,

    /// Grammar position; survives chunk boundaries.
    state: St,
    /// Whether the current string is an object key (matched against paths) or a value.
    in_key: bool,
    /// The literal being matched (`true`, `false` or `null`).
    lit: &'static [u8],
    /// How many bytes of `lit` have matched (it may be split across chunks).
    lit_pos: usize,
    /// Current container depth (0 = at root level).
    depth: usize,
    /// Bitstack of open containers, bit set = object. 8 x 64 = `MAX_DEPTH` bits, fixed size.
    kinds: [u64; MAX_DEPTH / 64],
    /// `obj_mask[d]`: paths whose first `d - 1` segments lead to the object open at depth `d`.
    obj_mask: [u64; MAX_SEGMENTS + 1],
    /// Paths still matching the key being read, and how many key bytes were compared.
    key_cand: u64,
    /// Raw key bytes compared so far against the candidates' segments.
    key_pos: usize,
    /// Set when a key ends: paths that end at this key (capture the value) and paths that
    /// continue below it (if the value is an object). Consumed by the next value start.
    pending_full: u64,
    /// See `pending_full`.
    pending_prefix: u64,

    /// Bytes fed since the last reset: the base offset of the next chunk.
    bytes_seen: u64,
    /// Absolute offset of the `}` closing a root object, once seen.
    root_close: Option<u64>,
}

/// A list of paths prepared for matching. Every request scans with the same few lists, so each
/// is built once per thread (a Wasm VM has one) and shared.
#[derive(Debug)]
struct PathTable {
    /// Per path: its key segments (raw bytes, compared against raw key bytes) and how many.
    segs: Vec<([&'static [u8]; MAX_SEGMENTS], usize)>,
    /// `len_eq[d]`: paths with exactly `d` segments (a key at object depth `d` completes them).
    len_eq: [u64; MAX_SEGMENTS + 1],
    /// `len_ge[d]`: paths with at least `d` segments (a key at object depth `d` may match them).
    len_ge: [u64; MAX_SEGMENTS + 1],
    /// Paths that can match at all (valid syntax, within the limits).
    valid: u64,
}

/// Path lists are `'static` constants: a handful per program, so a bounded list keyed by the
/// slice's address finds them.
const CACHED_TABLES: usize = 16;

thread_local! {
    static TABLES: RefCell<Vec<(usize, usize, Rc<PathTable>)>> = const { RefCell::new(Vec::new()) };
}

impl PathTable {
    /// The table of `paths`, from the thread's cache when it was built before.
    fn of(paths: &'static [&'static str]) -> Rc<PathTable> {
        let key = (paths.as_ptr() as usize, paths.len());
        let cached = TABLES.with(|t| {
            t.try_borrow().ok().and_then(|t| {
                t.iter()
                    .find(|(p, n, _)| (*p, *n) == key)
                    .map(|(_, _, table)| table.clone())
            })
        });
        if let Some(table) = cached {
            return table;
        }
        let table = Rc::new(PathTable::build(paths));
        TABLES.with(|t| {
            if let Ok(mut t) = t.try_borrow_mut() {
                if t.len() < CACHED_TABLES {
                    t.push((key.0, key.1, table.clone()));
                }
            }
        });
        table
    }

    fn build(paths: &'static [&'static str]) -> PathTable {
        let n = paths.len().min(MAX_PATHS);
        let mut segs = Vec::with_capacity(n);
        let mut len_eq = [0u64; MAX_SEGMENTS + 1];
        let mut len_ge = [0u64; MAX_SEGMENTS + 1];
        let mut valid = 0u64;
        for (i, path) in paths.iter().take(n).enumerate() {
            let mut parts: [&'static [u8]; MAX_SEGMENTS] = [&[]; MAX_SEGMENTS];
            let mut count = 0usize;
            let mut ok = true;
            for part in path.split('.') {
                match parts.get_mut(count) {
                    Some(slot) if !part.is_empty() => *slot = part.as_bytes(),
                    _ => ok = false,
                }
                count += 1;
            }
            if ok && (1..=MAX_SEGMENTS).contains(&count) {
                let bit = 1u64 << i;
                valid |= bit;
                for (d, (eq, ge)) in len_eq.iter_mut().zip(len_ge.iter_mut()).enumerate() {
                    if d == count {
                        *eq |= bit;
                    }
                    if d >= 1 && d <= count {
                        *ge |= bit;
                    }
                }
                segs.push((parts, count));
            } else {
                segs.push((parts, 0));
            }
        }
        PathTable {
            segs,
            len_eq,
            len_ge,
            valid,
        }
    }
}

impl JsonScanner {
    /// Creates a scanner for `paths`: dotted object-key paths from the root, e.g.
    /// `["model", "usage", "response.usage", "error"]`; up to 3 levels; object keys only.
    ///
    /// Path `i` is read back with `captured(i)`. Paths with an empty segment, more than three
    /// segments, or beyond the 64th never match. The capture arena (valid paths x
    /// `max_capture_bytes` bytes: each path captures at most once per document) bounds the
    /// memory; it grows only as values are captured, and an allocation failure makes the
    /// captures report overflow instead of aborting.
    #[must_use]
    pub fn new(paths: &'static [&'static str], max_capture_bytes: usize) -> Self {
        let table = PathTable::of(paths);
        let n = table.segs.len();
        let valid_count = table.valid.count_ones() as usize;
        // The arena grows on demand up to its limit: most documents capture a few hundred bytes,
        // and reserving the worst case up front would cost every request megabytes.
        let arena = Vec::new();
        let arena_limit = valid_count.saturating_mul(max_capture_bytes);
        JsonScanner {
            table,
            max_capture: max_capture_bytes,
            arena,
            arena_limit,
            slots: vec![IDLE_SLOT; n],
            active: 0,
            active_depths: 0,
            span_from: 0,
            state: St::Value,
            in_key: false,
            lit: b"",
            lit_pos: 0,
            depth: 0,
            kinds: [0; MAX_DEPTH / 64],
            obj_mask: [0; MAX_SEGMENTS + 1],
            key_cand: 0,
            key_pos: 0,
            pending_full: 0,
            pending_prefix: 0,
            bytes_seen: 0,
            root_close: None,
        }
    }

    /// Prepares for a new document. Keeps the arena and slot capacity: no allocation.
    pub fn reset(&mut self) {
        self.arena.clear();
        for slot in self.slots.iter_mut() {
            *slot = IDLE_SLOT;
        }
        self.active = 0;
        self.active_depths = 0;
        self.span_from = 0;
        self.state = St::Value;
        self.in_key = false;
        self.lit = b"";
        self.lit_pos = 0;
        self.depth = 0;
        self.kinds = [0; MAX_DEPTH / 64];
        self.obj_mask = [0; MAX_SEGMENTS + 1];
        self.key_cand = 0;
        self.key_pos = 0;
        self.pending_full = 0;
        self.pending_prefix = 0;
        self.bytes_seen = 0;
        self.root_close = None;
    }

    /// Scans the next chunk of the document.
    ///
    /// Returns `Malformed` as soon as the input cannot be JSON (sticky), `Complete` once the
    /// root value has ended (later chunks may only contain whitespace, else `Malformed`), and
    /// `InProgress` otherwise. A root number such as `42` only completes at the next whitespace
    /// byte or at [`finish`](Self::finish), since more digits could follow.
    pub fn feed(&mut self, bytes: &[u8]) -> ScanState {
        let base = self.bytes_seen;
        self.bytes_seen = self.bytes_seen.saturating_add(bytes.len() as u64);
        if self.state == St::Malformed {
            return ScanState::Malformed;
        }
        self.span_from = 0;
        let n = bytes.len();
        let mut i = 0usize;
        while let Some(&b) = bytes.get(i) {
            match self.state {
                St::Str => {
                    // Hot loop: string contents are most of an LLM body. Look only for the
                    // three byte classes that matter; copy nothing (captures copy whole spans).
                    let rest = bytes.get(i..).unwrap_or_default();
                    let j = crate::bytes::find_json_escape(rest).map_or(n, |k| i + k);
                    if self.in_key && self.key_cand != 0 {
                        self.match_key_span(bytes.get(i..j).unwrap_or_default());
                    }
                    i = j;
                    match bytes.get(i) {
                        None => {}
                        Some(b'"') => {
                            i += 1;
                            if self.in_key {
                                self.end_key();
                                self.state = St::Colon;
                            } else {
                                self.value_done(bytes, i);
                            }
                        }
                        Some(b'\\') => {
                            i += 1;
                            // Keys with escapes never match: comparing them would need the
                            // unescaped key in a buffer, and OpenAI never escapes key names.
                            if self.in_key {
                                self.key_cand = 0;
                            }
                            self.state = St::StrEsc;
                        }
                        // RFC 8259: control characters U+0000..U+001F must be escaped.
                        Some(_) => return self.malformed(),
                    }
                }
                St::Value
                | St::ValueOrClose
                | St::KeyOrClose
                | St::Key
                | St::Colon
                | St::After
                | St::Done => {
                    if is_ws(b) {
                        // Pretty-printed bodies have runs of indentation: skip them in one go.
                        i += 1;
                        while bytes.get(i).is_some_and(|&c| is_ws(c)) {
                            i += 1;
                        }
                        continue;
                    }
                    if !self.structural(bytes, i, b, base) {
                        return ScanState::Malformed;
                    }
                    i += 1;
                }
                St::StrEsc => {
                    match b {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                            self.state = St::Str
                        }
                        b'u' => self.state = St::StrHex(4),
                        _ => return self.malformed(),
                    }
                    i += 1;
                }
                St::StrHex(left) => {
                    if !b.is_ascii_hexdigit() {
                        return self.malformed();
                    }
                    self.state = if left <= 1 {
                        St::Str
                    } else {
                        St::StrHex(left - 1)
                    };
                    i += 1;
                }
                St::Lit => {
                    if self.lit.get(self.lit_pos) != Some(&b) {
                        return self.malformed();
                    }
                    self.lit_pos += 1;
                    i += 1;
                    if self.lit_pos >= self.lit.len() {
                        self.value_done(bytes, i);
                    }
                }
                St::NumMinus => {
                    self.state = match b {
                        b'0' => St::NumZero,
                        b'1'..=b'9' => St::NumInt,
                        _ => return self.malformed(),
                    };
                    i += 1;
                }
                St::NumDot | St::NumESign => {
                    if !b.is_ascii_digit() {
                        return self.malformed();
                    }
                    self.state = if self.state == St::NumDot {
                        St::NumFrac
                    } else {
                        St::NumExp
                    };
                    i += 1;
                }
                St::NumE => {
                    self.state = match b {
                        b'+' | b'-' => St::NumESign,
                        b'0'..=b'9' => St::NumExp,
                        _ => return self.malformed(),
                    };
                    i += 1;
                }
                St::NumZero | St::NumInt | St::NumFrac | St::NumExp => {
                    if b.is_ascii_digit() {
                        if self.state == St::NumZero {
                            // `01`: leading zeros are not JSON.
                            return self.malformed();
                        }
                        i += 1;
                        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                            i += 1;
                        }
                        continue;
                    }
                    match (self.state, b) {
                        (St::NumZero | St::NumInt, b'.') => self.state = St::NumDot,
                        (St::NumZero | St::NumInt | St::NumFrac, b'e' | b'E') => {
                            self.state = St::NumE
                        }
                        _ => {
                            // A number has no terminator of its own: the first byte that cannot
                            // continue it ends it, and is then read again as structure.
                            self.value_done(bytes, i);
                            continue;
                        }
                    }
                    i += 1;
                }
                St::Malformed => return ScanState::Malformed,
            }
        }
        if self.active > 0 {
            let from = self.span_from;
            self.flush(bytes.get(from..).unwrap_or_default());
        }
        self.span_from = 0;
        self.scan_state()
    }

    /// Declares end of input. `Complete` iff exactly one whole JSON value (of any type) was
    /// seen; anything else (no value, truncated value, earlier error) is `Malformed`, and the
    /// scanner stays Malformed until [`reset`](Self::reset).
    pub fn finish(&mut self) -> ScanState {
        match self.state {
            St::Done => ScanState::Complete,
            // A root number ends with the input: `42` is a whole document.
            St::NumZero | St::NumInt | St::NumFrac | St::NumExp if self.depth == 0 => {
                self.state = St::Done;
                ScanState::Complete
            }
            _ => self.malformed(),
        }
    }

    /// Raw JSON text of the first value found at `paths[path_index]`, exactly as it appeared
    /// (`{"prompt_tokens":1}`, `"gpt-4o"` with its quotes, `null`), once that value is complete.
    /// `None` if the path was not seen (yet), its value was larger than `max_capture_bytes`,
    /// or `path_index` is out of range. Captures completed before a later syntax error remain
    /// readable: check the scan state before trusting them.
    #[must_use]
    pub fn captured(&self, path_index: usize) -> Option<&[u8]> {
        let slot = self.slots.get(path_index)?;
        if slot.status != SlotStatus::Complete {
            return None;
        }
        self.arena
            .get(slot.start..slot.start.checked_add(slot.len)?)
    }

    /// Whether the value at `paths[path_index]` was present but longer than `max_capture_bytes`.
    #[must_use]
    pub fn capture_overflowed(&self, path_index: usize) -> bool {
        self.slots
            .get(path_index)
            .is_some_and(|s| s.status == SlotStatus::Overflowed)
    }

    /// Absolute offset (from the start of the document, counting every byte fed) of the `}`
    /// that closed a root object; `None` if the root is not an object or has not closed yet.
    #[must_use]
    pub fn root_close_offset(&self) -> Option<u64> {
        self.root_close
    }

    /// Total bytes passed to [`feed`](Self::feed) since the last reset.
    #[must_use]
    pub fn bytes_seen(&self) -> u64 {
        self.bytes_seen
    }

    /// The public view of the grammar state.
    #[inline(always)]
    fn scan_state(&self) -> ScanState {
        match self.state {
            St::Done => ScanState::Complete,
            St::Malformed => ScanState::Malformed,
            _ => ScanState::InProgress,
        }
    }

    /// Enters the sticky error state.
    fn malformed(&mut self) -> ScanState {
        self.state = St::Malformed;
        ScanState::Malformed
    }

    /// Handles one non-whitespace byte between tokens. Returns false on a syntax error (the
    /// state is then Malformed). `i` is the byte's index in `bytes`, `base` the chunk's offset.
    fn structural(&mut self, bytes: &[u8], i: usize, b: u8, base: u64) -> bool {
        match (self.state, b) {
            (St::ValueOrClose, b']') | (St::KeyOrClose, b'}') | (St::After, b']' | b'}') => {
                self.close(bytes, i, b, base)
            }
            (St::Value | St::ValueOrClose, _) => self.start_value(bytes, i, b),
            (St::KeyOrClose | St::Key, b'"') => {
                self.in_key = true;
                self.key_pos = 0;
                // Only objects reached through matching keys, at most 3 deep, can match.
                self.key_cand = match self.obj_mask.get(self.depth) {
                    Some(mask) if self.depth >= 1 => {
                        mask & self.table.len_ge.get(self.depth).copied().unwrap_or(0)
                    }
                    _ => 0,
                };
                self.state = St::Str;
                true
            }
            (St::Colon, b':') => {
                self.state = St::Value;
                true
            }
            (St::After, b',') => {
                self.state = if self.top_is_object() {
                    St::Key
                } else {
                    St::Value
                };
                true
            }
            _ => {
                self.state = St::Malformed;
                false
            }
        }
    }

    /// First byte of a value. Starts captures for paths that ended at the preceding key.
    fn start_value(&mut self, bytes: &[u8], i: usize, b: u8) -> bool {
        if self.pending_full != 0 {
            self.start_captures(bytes, i);
        }
        let prefix = self.pending_prefix;
        self.pending_prefix = 0;
        self.state = match b {
            b'"' => {
                self.in_key = false;
                St::Str
            }
            b'{' => {
                if !self.push(true) {
                    return false;
                }
                // The root object is where every path starts; below it, only paths whose
                // earlier segments matched the keys leading here stay alive.
                let mask = if self.depth == 1 {
                    self.table.valid
                } else {
                    prefix
                };
                if let Some(m) = self.obj_mask.get_mut(self.depth) {
                    *m = mask;
                }
                St::KeyOrClose
            }
            b'[' => {
                if !self.push(false) {
                    return false;
                }
                St::ValueOrClose
            }
            b't' | b'f' | b'n' => {
                self.lit = match b {
                    b't' => b"true",
                    b'f' => b"false",
                    _ => b"null",
                };
                self.lit_pos = 1;
                St::Lit
            }
            b'-' => St::NumMinus,
            b'0' => St::NumZero,
            b'1'..=b'9' => St::NumInt,
            // Anything else (`<html>`, a bare word, a stray bracket) cannot start a value.
            _ => St::Malformed,
        };
        self.state != St::Malformed
    }

    /// `}` or `]` at `bytes[i]`: must match the innermost open container.
    fn close(&mut self, bytes: &[u8], i: usize, b: u8, base: u64) -> bool {
        let is_obj = b == b'}';
        if self.depth == 0 || self.top_is_object() != is_obj {
            self.state = St::Malformed;
            return false;
        }
        self.depth -= 1;
        if self.depth == 0 && is_obj {
            self.root_close = Some(base.saturating_add(i as u64));
        }
        self.value_done(bytes, i + 1);
        true
    }

    /// A value ended just before `bytes[end]`, at the current depth.
    #[inline(always)]
    fn value_done(&mut self, bytes: &[u8], end: usize) {
        // Most values end where no capture started: answered here, without the call.
        if self.active > 0 && self.active_depths & depth_bit(self.depth) != 0 {
            self.end_captures(bytes, end);
        }
        self.state = if self.depth == 0 { St::Done } else { St::After };
    }

    /// Opens a container; false (Malformed) beyond `MAX_DEPTH`, which bounds memory.
    fn push(&mut self, is_obj: bool) -> bool {
        if self.depth >= MAX_DEPTH {
            // Sticky like every other error: the next chunk must not carry on from here.
            self.state = St::Malformed;
            return false;
        }
        let bit = 1u64 << (self.depth % 64);
        if let Some(word) = self.kinds.get_mut(self.depth / 64) {
            if is_obj {
                *word |= bit;
            } else {
                *word &= !bit;
            }
        }
        self.depth += 1;
        true
    }

    /// Whether the innermost open container is an object (false at root level).
    #[inline(always)]
    fn top_is_object(&self) -> bool {
        let Some(d) = self.depth.checked_sub(1) else {
            return false;
        };
        self.kinds
            .get(d / 64)
            .is_some_and(|w| w & (1u64 << (d % 64)) != 0)
    }

    /// Path `path`'s segment for a key in the object open at the current depth.
    #[inline(always)]
    fn segment(&self, path: usize) -> Option<&'static [u8]> {
        let (parts, _) = self.table.segs.get(path)?;
        parts.get(self.depth.saturating_sub(1)).copied()
    }

    /// Compares the next raw bytes of the current key against each candidate path's segment.
    fn match_key_span(&mut self, span: &[u8]) {
        let from = self.key_pos;
        let to = from.saturating_add(span.len());
        let mut m = self.key_cand;
        while m != 0 {
            let p = m.trailing_zeros() as usize;
            m &= m - 1;
            let same = self
                .segment(p)
                .and_then(|seg| seg.get(from..to))
                .is_some_and(|s| s == span);
            if !same {
                self.key_cand &= !(1u64 << p);
            }
        }
        self.key_pos = to;
    }

    /// The closing quote of a key: keep candidates whose segment has exactly the key's length,
    /// and split them into "value is the target" and "target is further down".
    fn end_key(&mut self) {
        let mut m = self.key_cand;
        while m != 0 {
            let p = m.trailing_zeros() as usize;
            m &= m - 1;
            let whole = self.segment(p).is_some_and(|seg| seg.len() == self.key_pos);
            if !whole {
                self.key_cand &= !(1u64 << p);
            }
        }
        let eq = self.table.len_eq.get(self.depth).copied().unwrap_or(0);
        self.pending_full = self.key_cand & eq;
        self.pending_prefix = self.key_cand & !eq;
        self.key_cand = 0;
    }

    /// A value whose key completed one or more paths starts at `bytes[i]`.
    fn start_captures(&mut self, bytes: &[u8], i: usize) {
        if self.active > 0 {
            let from = self.span_from;
            self.flush(bytes.get(from..i).unwrap_or_default());
        }
        self.span_from = i;
        let head = self.arena.len();
        let mut m = self.pending_full;
        self.pending_full = 0;
        while m != 0 {
            let p = m.trailing_zeros() as usize;
            m &= m - 1;
            if let Some(slot) = self.slots.get_mut(p) {
                // First occurrence only: a later duplicate key leaves the capture alone.
                if slot.status == SlotStatus::Idle {
                    *slot = Slot {
                        start: head,
                        len: 0,
                        depth: self.depth,
                        status: SlotStatus::Active,
                    };
                    self.active += 1;
                    self.active_depths |= depth_bit(self.depth);
                }
            }
        }
    }

    /// A value ended at the current depth just before `bytes[end]`: complete the captures
    /// that started at this depth.
    fn end_captures(&mut self, bytes: &[u8], end: usize) {
        let depth = self.depth;
        if self.active_depths & depth_bit(depth) == 0 {
            return;
        }
        let ending = |s: &Slot| s.status == SlotStatus::Active && s.depth == depth;
        if !self.slots.iter().any(ending) {
            if depth < 63 {
                self.active_depths &= !depth_bit(depth);
            }
            return;
        }
        let from = self.span_from;
        self.flush(bytes.get(from..end).unwrap_or_default());
        self.span_from = end;
        let head = self.arena.len();
        for slot in self.slots.iter_mut() {
            if ending(slot) {
                slot.status = SlotStatus::Complete;
                slot.len = head.saturating_sub(slot.start);
                self.active = self.active.saturating_sub(1);
            }
        }
        if depth < 63 {
            self.active_depths &= !depth_bit(depth);
        }
    }

    /// Appends `span` (bytes belonging to every active capture) to the arena, once.
    fn flush(&mut self, span: &[u8]) {
        if span.is_empty() || self.active == 0 {
            return;
        }
        let head = self.arena.len();
        for slot in self.slots.iter_mut() {
            if slot.status == SlotStatus::Active
                && head.saturating_sub(slot.start).saturating_add(span.len()) > self.max_capture
            {
                // Too big: give up on this path for this document (first occurrence only) and
                // stop spending arena on it. Inner captures still being read keep going.
                slot.status = SlotStatus::Overflowed;
                self.active -= 1;
            }
        }
        if self.active == 0 {
            return;
        }
        // The first capture reserves what a typical document's captures take in all (a usage
        // object, a model, an id), rather than doubling up to it from 8 bytes.
        let want = span
            .len()
            .max(FIRST_ARENA_BYTES.saturating_sub(self.arena.capacity()));
        if head.saturating_add(span.len()) > self.arena_limit
            || self.arena.try_reserve(want).is_err()
        {
            // Past the limit (unreachable by the accounting in `arena_limit`'s doc) or out of
            // memory: give up these captures rather than abort the VM.
            for slot in self.slots.iter_mut() {
                if slot.status == SlotStatus::Active {
                    slot.status = SlotStatus::Overflowed;
                }
            }
            self.active = 0;
            return;
        }
        self.arena.extend_from_slice(span);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATHS: &[&str] = &["model", "usage", "error", "response.usage"];
    const CAP: usize = 4096;

    fn fixture(name: &str) -> &'static [u8] {
        match name {
            "chat_completion.json" => {
                include_bytes!("../../../../tests/fixtures/chat_completion.json")
            }
            "completion.json" => include_bytes!("../../../../tests/fixtures/completion.json"),
            "embeddings.json" => include_bytes!("../../../../tests/fixtures/embeddings.json"),
            "responses.json" => include_bytes!("../../../../tests/fixtures/responses.json"),
            "error_429.json" => include_bytes!("../../../../tests/fixtures/error_429.json"),
            "error_500.json" => include_bytes!("../../../../tests/fixtures/error_500.json"),
            "malformed.json" => include_bytes!("../../../../tests/fixtures/malformed.json"),
            "responses_stream.sse" => {
                include_bytes!("../../../../tests/fixtures/responses_stream.sse")
            }
            other => panic!("unknown fixture {other}"),
        }
    }

    const VALID_FIXTURES: &[&str] = &[
        "chat_completion.json",
        "completion.json",
        "embeddings.json",
        "responses.json",
        "error_429.json",
        "error_500.json",
    ];

    /// Everything observable after scanning a document.
    #[derive(Debug, PartialEq, Eq)]
    struct Outcome {
        fed: ScanState,
        finished: ScanState,
        caps: Vec<Option<Vec<u8>>>,
        overflow: Vec<bool>,
        root_close: Option<u64>,
        seen: u64,
    }

    /// Feeds `doc` cut at the (sorted) `cuts`, then finishes.
    fn run_with(s: &mut JsonScanner, n_paths: usize, doc: &[u8], cuts: &[usize]) -> Outcome {
        s.reset();
        let mut fed = ScanState::InProgress;
        let mut from = 0;
        for &c in cuts.iter().chain(std::iter::once(&doc.len())) {
            fed = s.feed(&doc[from..c]);
            from = c;
        }
        let finished = s.finish();
        Outcome {
            fed,
            finished,
            caps: (0..n_paths)
                .map(|i| s.captured(i).map(<[u8]>::to_vec))
                .collect(),
            overflow: (0..n_paths).map(|i| s.capture_overflowed(i)).collect(),
            root_close: s.root_close_offset(),
            seen: s.bytes_seen(),
        }
    }

    fn run(doc: &[u8], cuts: &[usize]) -> Outcome {
        run_with(&mut JsonScanner::new(PATHS, CAP), PATHS.len(), doc, cuts)
    }

    fn cap(doc: &[u8], path: usize) -> Option<Vec<u8>> {
        run(doc, &[]).caps[path].clone()
    }

    fn state(doc: &[u8]) -> ScanState {
        let mut s = JsonScanner::new(PATHS, CAP);
        s.feed(doc);
        s.finish()
    }

    fn last_close(doc: &[u8]) -> u64 {
        doc.iter().rposition(|&b| b == b'}').unwrap() as u64
    }

    #[test]
    fn fixtures_whole_bytewise_and_every_split_agree() {
        let mut s = JsonScanner::new(PATHS, CAP);
        for name in VALID_FIXTURES {
            let doc = fixture(name);
            let whole = run_with(&mut s, PATHS.len(), doc, &[]);
            assert_eq!(whole.fed, ScanState::Complete, "{name}");
            assert_eq!(whole.finished, ScanState::Complete, "{name}");
            assert_eq!(whole.root_close, Some(last_close(doc)), "{name}");
            assert_eq!(whole.seen, doc.len() as u64);
            let bytewise: Vec<usize> = (1..doc.len()).collect();
            assert_eq!(
                run_with(&mut s, PATHS.len(), doc, &bytewise),
                whole,
                "{name} bytewise"
            );
            for a in 0..=doc.len() {
                assert_eq!(
                    run_with(&mut s, PATHS.len(), doc, &[a]),
                    whole,
                    "{name} split at {a}"
                );
            }
            if doc.len() <= 450 {
                for a in 0..=doc.len() {
                    for b in a..=doc.len() {
                        assert_eq!(
                            run_with(&mut s, PATHS.len(), doc, &[a, b]),
                            whole,
                            "{name} split at {a},{b}"
                        );
                    }
                }
            }
        }
    }

    /// Captures agree with serde_json's view of the same document, for every fixture and path.
    #[test]
    fn captures_match_serde_json() {
        for name in VALID_FIXTURES {
            let doc = fixture(name);
            let value: serde_json::Value = serde_json::from_slice(doc).unwrap();
            let out = run(doc, &[]);
            for (i, path) in PATHS.iter().enumerate() {
                let pointer = format!("/{}", path.replace('.', "/"));
                let expected = value.pointer(&pointer);
                let got = out.caps[i]
                    .as_ref()
                    .map(|raw| serde_json::from_slice::<serde_json::Value>(raw).unwrap());
                assert_eq!(got.as_ref(), expected, "{name} {path}");
            }
        }
    }

    #[test]
    fn chat_completion_exact_captures() {
        let doc = fixture("chat_completion.json");
        let out = run(doc, &[]);
        assert_eq!(out.caps[0].as_deref(), Some(&b"\"gpt-4o-2024-08-06\""[..]));
        let usage = r#"{
    "prompt_tokens": 19,
    "completion_tokens": 10,
    "total_tokens": 29,
    "prompt_tokens_details": {
      "cached_tokens": 3,
      "audio_tokens": 0
    },
    "completion_tokens_details": {
      "reasoning_tokens": 2,
      "audio_tokens": 0,
      "accepted_prediction_tokens": 0,
      "rejected_prediction_tokens": 0
    }
  }"#;
        assert_eq!(out.caps[1].as_deref(), Some(usage.as_bytes()));
        assert_eq!(out.caps[2], None);
        assert_eq!(out.caps[3], None);
        assert_eq!(out.overflow, vec![false; 4]);
        // The fixture ends with "}\n".
        assert_eq!(out.root_close, Some(doc.len() as u64 - 2));
    }

    #[test]
    fn other_fixtures_exact_captures() {
        let completion = fixture("completion.json");
        assert_eq!(cap(completion, 0).unwrap(), b"\"gpt-3.5-turbo-instruct\"");
        assert_eq!(
            cap(completion, 1).unwrap(),
            b"{\n    \"prompt_tokens\": 5,\n    \"completion_tokens\": 7,\n    \"total_tokens\": 12\n  }"
        );
        let embeddings = fixture("embeddings.json");
        assert_eq!(cap(embeddings, 0).unwrap(), b"\"text-embedding-3-small\"");
        assert_eq!(
            cap(embeddings, 1).unwrap(),
            b"{\n    \"prompt_tokens\": 8,\n    \"total_tokens\": 8\n  }"
        );
        let responses = fixture("responses.json");
        let out = run(responses, &[]);
        assert_eq!(out.caps[0].as_deref(), Some(&b"\"gpt-4o-2024-08-06\""[..]));
        assert_eq!(
            out.caps[1].as_deref(),
            Some(
                &b"{\n    \"input_tokens\": 36,\n    \"input_tokens_details\": {\n      \"cached_tokens\": 4\n    },\n    \"output_tokens\": 87,\n    \"output_tokens_details\": {\n      \"reasoning_tokens\": 5\n    },\n    \"total_tokens\": 123\n  }"[..]
            )
        );
        assert_eq!(out.caps[2].as_deref(), Some(&b"null"[..]));
        assert_eq!(out.caps[3], None, "top-level usage is not response.usage");

        let e429 = fixture("error_429.json");
        let err = cap(e429, 2).unwrap();
        assert!(err.starts_with(b"{\n        \"message\": \"Rate limit reached for gpt-4o "));
        assert!(err.ends_with(b"\"code\": \"rate_limit_exceeded\"\n    }"));
        assert_eq!(cap(e429, 0), None);
        assert_eq!(cap(e429, 1), None);
        assert_eq!(
            cap(fixture("error_500.json"), 2).unwrap(),
            b"{\n    \"message\": \"The server had an error while processing your request. Sorry about that!\",\n    \"type\": \"server_error\",\n    \"param\": null,\n    \"code\": \"server_error\"\n  }"
        );
    }

    /// `response.usage` from the Responses stream's `response.completed` event, and the
    /// `"usage":null` of the earlier `response.created` event.
    #[test]
    fn response_usage_from_stream_events() {
        let stream = fixture("responses_stream.sse");
        let datas: Vec<&[u8]> = stream
            .split(|&b| b == b'\n')
            .filter_map(|l| l.strip_prefix(b"data: "))
            .collect();
        let created = run(datas[0], &[]);
        assert_eq!(created.finished, ScanState::Complete);
        assert_eq!(created.caps[3].as_deref(), Some(&b"null"[..]));
        let completed = run(datas.last().unwrap(), &[]);
        assert_eq!(completed.finished, ScanState::Complete);
        assert_eq!(
            completed.caps[3].as_deref(),
            Some(&br#"{"input_tokens":36,"input_tokens_details":{"cached_tokens":4},"output_tokens":87,"output_tokens_details":{"reasoning_tokens":5},"total_tokens":123}"#[..])
        );
        assert_eq!(
            completed.caps[0], None,
            "model is under response, not at the root"
        );
        assert_eq!(completed.caps[1], None);
    }

    /// A path and a path below it are captured at the same time, sharing arena bytes.
    #[test]
    fn nested_paths_capture_together() {
        const NESTED: &[&str] = &["response", "response.usage", "response.usage.total_tokens"];
        let doc = br#"{"type":"x","response":{"id":"r","usage":{"input_tokens":36,"total_tokens":123},"z":[1]}}"#;
        let mut s = JsonScanner::new(NESTED, 256);
        let whole = run_with(&mut s, 3, doc, &[]);
        assert_eq!(
            whole.caps[0].as_deref(),
            Some(&br#"{"id":"r","usage":{"input_tokens":36,"total_tokens":123},"z":[1]}"#[..])
        );
        assert_eq!(
            whole.caps[1].as_deref(),
            Some(&br#"{"input_tokens":36,"total_tokens":123}"#[..])
        );
        assert_eq!(whole.caps[2].as_deref(), Some(&b"123"[..]));
        for a in 0..=doc.len() {
            for b in a..=doc.len() {
                assert_eq!(run_with(&mut s, 3, doc, &[a, b]), whole, "split {a},{b}");
            }
        }
        // The outer value overflows, the inner ones still fit.
        let mut small = JsonScanner::new(NESTED, 40);
        let out = run_with(&mut small, 3, doc, &[]);
        assert_eq!(out.caps[0], None);
        assert!(out.overflow[0]);
        assert_eq!(
            out.caps[1].as_deref(),
            Some(&br#"{"input_tokens":36,"total_tokens":123}"#[..])
        );
        assert_eq!(out.caps[2].as_deref(), Some(&b"123"[..]));
        for a in 0..=doc.len() {
            assert_eq!(run_with(&mut small, 3, doc, &[a]), out, "split {a}");
        }
    }

    #[test]
    fn awkward_splits_everywhere() {
        // Literals, escapes, \u escapes, raw multi-byte UTF-8, exponents, empty containers.
        let doc = "{\"a\":[true,false,null,-0.5e+10,1E-2,0,\"\\u00e9\\\"\\\\\\/\\b\\f\\n\\r\\t\",\"é😊\",{},[]],\"model\":\"x\\u00e9😊\",\"usage\":{\"n\":-12.5e3},\"error\":false}";
        let doc = doc.as_bytes();
        let whole = run(doc, &[]);
        assert_eq!(whole.finished, ScanState::Complete);
        assert_eq!(whole.caps[0].as_deref(), Some("\"x\\u00e9😊\"".as_bytes()));
        assert_eq!(whole.caps[1].as_deref(), Some(&b"{\"n\":-12.5e3}"[..]));
        assert_eq!(whole.caps[2].as_deref(), Some(&b"false"[..]));
        let mut s = JsonScanner::new(PATHS, CAP);
        for a in 0..=doc.len() {
            for b in a..=doc.len() {
                assert_eq!(run_with(&mut s, 4, doc, &[a, b]), whole, "split {a},{b}");
            }
        }
    }

    #[test]
    fn scalar_captures_end_at_the_right_byte() {
        let doc = br#"{"usage":12,"model":"m","error":null}"#;
        let out = run(doc, &[]);
        assert_eq!(out.caps[1].as_deref(), Some(&b"12"[..]));
        assert_eq!(out.caps[0].as_deref(), Some(&b"\"m\""[..]));
        assert_eq!(out.caps[2].as_deref(), Some(&b"null"[..]));
        // Whitespace around values is not part of the capture.
        let doc = b"{ \"usage\" :\n 12 \n, \"model\" : \"m\" }";
        let out = run(doc, &[]);
        assert_eq!(out.caps[1].as_deref(), Some(&b"12"[..]));
        assert_eq!(out.caps[0].as_deref(), Some(&b"\"m\""[..]));
    }

    #[test]
    fn captures_only_once_complete() {
        let mut s = JsonScanner::new(PATHS, CAP);
        assert_eq!(s.feed(br#"{"usage":{"a":1"#), ScanState::InProgress);
        assert_eq!(s.captured(1), None);
        s.feed(b"}");
        assert_eq!(s.captured(1), Some(&br#"{"a":1}"#[..]));
        // A number is only complete once something follows it.
        let mut s = JsonScanner::new(PATHS, CAP);
        s.feed(br#"{"usage":12"#);
        assert_eq!(s.captured(1), None);
        s.feed(b"3}");
        assert_eq!(s.captured(1), Some(&b"123"[..]));
    }

    #[test]
    fn root_scalars_and_containers() {
        for ok in [
            &b"0"[..],
            b"-0",
            b"42",
            b"-0.5e+10",
            b"1E2",
            b"\"x\"",
            b"true",
            b"null",
            b"[]",
            b"{}",
            b" [ [ [ ] ] ] ",
            b"{\"a\":[1,{\"b\":null}]}",
            b"\"\\u00e9\\n\\\"\\\\\\/\"",
            b"\n{}\n",
        ] {
            assert_eq!(
                state(ok),
                ScanState::Complete,
                "{:?}",
                String::from_utf8_lossy(ok)
            );
        }
        let mut s = JsonScanner::new(PATHS, CAP);
        assert_eq!(
            s.feed(b"42"),
            ScanState::InProgress,
            "more digits could follow"
        );
        assert_eq!(s.finish(), ScanState::Complete);
        s.reset();
        assert_eq!(s.feed(b"42 "), ScanState::Complete);
        assert_eq!(s.root_close_offset(), None, "not an object");
        s.reset();
        assert_eq!(s.feed(b"[1]"), ScanState::Complete);
        assert_eq!(s.root_close_offset(), None, "array, not object");
        s.reset();
        assert_eq!(s.feed(b"  {\"a\":{}}"), ScanState::Complete);
        assert_eq!(s.root_close_offset(), Some(9));
    }

    #[test]
    fn root_close_offset_counts_all_chunks() {
        let mut s = JsonScanner::new(PATHS, CAP);
        s.feed(b"{\"a\":");
        s.feed(b" {}");
        assert_eq!(s.root_close_offset(), None);
        assert_eq!(s.feed(b" }\n"), ScanState::Complete);
        assert_eq!(s.root_close_offset(), Some(9));
        assert_eq!(s.bytes_seen(), 11);
    }

    #[test]
    fn malformed_inputs() {
        for bad in [
            &b""[..],
            b"   ",
            b"{\"a\":tru}",
            b"{\"a\":trUe}",
            b"nul",
            b"truex",
            b"{\"a\" 1}",
            b"{\"a\":1 \"b\":2}",
            b"[1 2]",
            b"[1,2}",
            b"{\"a\":1]",
            b"]",
            b"}",
            b"{\"a\":\"x\x01\"}",
            b"\"tab\there\"",
            b"\"\\x\"",
            b"\"\\u12g4\"",
            b"\"\\u12\"",
            b"{} x",
            b"{}{}",
            b"[] 1",
            b"<html><body><h1>502 Bad Gateway</h1></body></html>",
            b"upstream connect error",
            b"01",
            b"1.",
            b"-",
            b"1e",
            b"1e+",
            b".5",
            b"+1",
            b"-a",
            b"1.e3",
            b"[1,]",
            b"{\"a\":1,}",
            b"{,}",
            b"{\"a\"}",
            b"{1:2}",
            b"{\"a\":}",
            b"\"abc",
            b"{\"a\":\"b",
            b"[",
            b"{",
            b"\xef\xbb\xbf{}",
            b"'a'",
            b"NaN",
            b"Infinity",
            b"{\"a\"::1}",
            b"[,1]",
        ] {
            assert_eq!(
                state(bad),
                ScanState::Malformed,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn malformed_is_sticky_and_trailing_garbage_detected() {
        let mut s = JsonScanner::new(PATHS, CAP);
        assert_eq!(s.feed(b"{\"model\":\"m\"}"), ScanState::Complete);
        assert_eq!(s.feed(b" \r\n\t"), ScanState::Complete);
        assert_eq!(s.feed(b" x"), ScanState::Malformed);
        assert_eq!(s.feed(b" "), ScanState::Malformed);
        assert_eq!(s.finish(), ScanState::Malformed);
        s.reset();
        assert_eq!(s.feed(b"{}"), ScanState::Complete);
        assert_eq!(s.finish(), ScanState::Complete);
    }

    #[test]
    fn truncated_documents_never_complete() {
        let doc = fixture("malformed.json");
        let out = run(doc, &[]);
        assert_eq!(out.fed, ScanState::InProgress);
        assert_eq!(out.finished, ScanState::Malformed);
        assert_eq!(out.caps[0].as_deref(), Some(&b"\"gpt-4o-2024-08-06\""[..]));
        assert_eq!(out.caps[1], None);
        // Every strict prefix of every fixture that stops before the root's '}' is incomplete.
        let mut s = JsonScanner::new(PATHS, CAP);
        for name in VALID_FIXTURES {
            let doc = fixture(name);
            let close = last_close(doc) as usize;
            for end in 0..=close {
                let out = run_with(&mut s, 4, &doc[..end], &[]);
                assert_eq!(out.fed, ScanState::InProgress, "{name} prefix {end}");
                assert_eq!(out.finished, ScanState::Malformed, "{name} prefix {end}");
            }
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(state(ok.as_bytes()), ScanState::Complete);
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(state(deep.as_bytes()), ScanState::Malformed);
        let deep_obj = format!(
            "{}1{}",
            "{\"a\":".repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(state(deep_obj.as_bytes()), ScanState::Malformed);
        // Mixed kinds across the 64-bit words of the bitstack are tracked correctly.
        let mixed = format!(
            "{}1{}",
            "[{\"a\":".repeat(MAX_DEPTH / 2),
            "}]".repeat(MAX_DEPTH / 2)
        );
        assert_eq!(state(mixed.as_bytes()), ScanState::Complete);
        let wrong = format!("{}1{}}}", "[{\"a\":".repeat(100), "}]".repeat(99));
        assert_eq!(state(wrong.as_bytes()), ScanState::Malformed);
    }

    /// Found by fuzzing: the chunk that went one level too deep said Malformed, but the next
    /// chunk carried on parsing, so a split document could end up Complete.
    #[test]
    fn too_deep_stays_malformed_in_later_chunks() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        for cut in [MAX_DEPTH + 1, MAX_DEPTH + 2, deep.len() - 1] {
            let (a, b) = deep.as_bytes().split_at(cut);
            let mut s = JsonScanner::new(PATHS, CAP);
            assert_eq!(s.feed(a), ScanState::Malformed, "cut at {cut}");
            assert_eq!(s.feed(b), ScanState::Malformed, "cut at {cut}");
            assert_eq!(s.finish(), ScanState::Malformed, "cut at {cut}");
        }
    }

    #[test]
    fn keys_inside_arrays_or_other_objects_do_not_match() {
        let doc =
            br#"{"choices":[{"usage":{"x":1},"model":"no"}],"data":{"usage":2},"model":"yes"}"#;
        let out = run(doc, &[]);
        assert_eq!(out.caps[1], None);
        assert_eq!(out.caps[0].as_deref(), Some(&b"\"yes\""[..]));
        assert_eq!(cap(br#"[{"usage":1}]"#, 1), None);
        assert_eq!(cap(br#"{"response":[{"usage":1}]}"#, 3), None);
        assert_eq!(cap(br#"{"response":{"x":{"usage":1}}}"#, 3), None);
        // Prefixes and extensions of a key are different keys.
        assert_eq!(
            cap(br#"{"usag":1,"usages":2,"Usage":3,"usage":4}"#, 1).unwrap(),
            b"4"
        );
        assert_eq!(
            cap(br#"{"responses":{"usage":1},"response":{"usage":2}}"#, 3).unwrap(),
            b"2"
        );
    }

    #[test]
    fn usage_text_inside_strings_is_not_a_key() {
        let doc = br#"{"content":"\"usage\":{\"a\":1}","x":"usage","usage":7}"#;
        assert_eq!(cap(doc, 1).unwrap(), b"7");
        assert_eq!(cap(br#"{"content":"\"usage\":{\"a\":1}"}"#, 1), None);
        // Documented limit: a key spelled with an escape never matches.
        assert_eq!(cap(br#"{"us\u0061ge":1}"#, 1), None);
        assert_eq!(cap(br#"{"usage\n":1}"#, 1), None);
    }

    #[test]
    fn first_occurrence_wins() {
        assert_eq!(
            cap(br#"{"usage":null,"usage":{"a":1}}"#, 1).unwrap(),
            b"null"
        );
    }

    #[test]
    fn capture_over_cap_is_none_and_overflowed() {
        let doc = br#"{"usage":{"prompt_tokens":100},"model":"abc"}"#;
        let mut s = JsonScanner::new(PATHS, 10);
        let out = run_with(&mut s, 4, doc, &[]);
        assert_eq!(
            out.finished,
            ScanState::Complete,
            "overflow is not an error"
        );
        assert_eq!(out.caps[1], None);
        assert!(out.overflow[1]);
        assert_eq!(out.caps[0].as_deref(), Some(&b"\"abc\""[..]));
        assert!(!out.overflow[0]);
        assert!(!out.overflow[2], "absent is not overflowed");
        for a in 0..=doc.len() {
            assert_eq!(run_with(&mut s, 4, doc, &[a]), out, "split {a}");
        }
        // Exactly at the cap fits.
        let exact = br#"{"usage":{"prompt_tokens":100}}"#;
        let mut s = JsonScanner::new(PATHS, 21);
        assert_eq!(
            run_with(&mut s, 4, exact, &[]).caps[1].as_deref(),
            Some(&br#"{"prompt_tokens":100}"#[..])
        );
        let mut s = JsonScanner::new(PATHS, 20);
        assert!(run_with(&mut s, 4, exact, &[]).overflow[1]);
        // Once grown for a set of documents, the arena is reused: scanning them again allocates
        // nothing, and it never holds more than its limit.
        let mut s = JsonScanner::new(PATHS, 64);
        for name in VALID_FIXTURES {
            run_with(&mut s, 4, fixture(name), &[]);
        }
        let before = s.arena.capacity();
        for name in VALID_FIXTURES {
            run_with(&mut s, 4, fixture(name), &[]);
            assert!(s.arena.len() <= s.arena_limit);
        }
        assert_eq!(s.arena.capacity(), before);
    }

    #[test]
    fn invalid_paths_never_match() {
        const ODD: &[&str] = &["", "a..b", "a.b.c.d", ".usage", "usage."];
        let mut s = JsonScanner::new(ODD, 64);
        s.feed(br#"{"":1,"a":{"":{"b":2}},"usage":3}"#);
        assert_eq!(s.finish(), ScanState::Complete);
        for i in 0..ODD.len() + 1 {
            assert_eq!(s.captured(i), None);
        }
    }

    /// Tiny deterministic PRNG so the differential test needs no extra dependency.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Random mutations of valid documents: the scanner accepts exactly what serde_json
    /// accepts, and a random three-way split never changes the outcome.
    #[test]
    fn differential_against_serde_json() {
        const ALPHABET: &[u8] = b"{}[]\":,\\ 0123456789aeEl.-+tnufr\x01\n\t/bx";
        let seeds: Vec<&[u8]> = VALID_FIXTURES
            .iter()
            .map(|n| fixture(n))
            .chain([
                &br#"{"a":[true,false,null,-1.5e3,"\u00e9\n"],"model":"m","usage":{"n":1}}"#[..],
                b"[1,2,{\"x\":{}}]",
                b"\"s\"",
                b"-0.25",
            ])
            .collect();
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut s = JsonScanner::new(PATHS, CAP);
        let mut disagreements = Vec::new();
        let (mut valid, mut invalid) = (0, 0);
        for _ in 0..20_000 {
            let mut doc = seeds[rng.below(seeds.len())].to_vec();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(doc.len() + 1);
                match rng.below(5) {
                    0 if at < doc.len() => {
                        doc.remove(at);
                    }
                    1 => doc.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
                    2 if at < doc.len() => doc[at] = ALPHABET[rng.below(ALPHABET.len())],
                    3 => doc.truncate(at),
                    _ => {
                        let end = (at + rng.below(8)).min(doc.len());
                        let dup = doc[at..end].to_vec();
                        doc.splice(at..at, dup);
                    }
                }
            }
            let expected = serde_json::from_slice::<serde::de::IgnoredAny>(&doc).is_ok();
            let whole = run_with(&mut s, 4, &doc, &[]);
            if (whole.finished == ScanState::Complete) != expected {
                disagreements.push(String::from_utf8_lossy(&doc).into_owned());
            }
            if expected {
                valid += 1;
            } else {
                invalid += 1;
            }
            let mut cuts = [rng.below(doc.len() + 1), rng.below(doc.len() + 1)];
            cuts.sort_unstable();
            assert_eq!(run_with(&mut s, 4, &doc, &cuts), whole);
        }
        assert!(
            disagreements.is_empty(),
            "{} disagreements, e.g. {:?}",
            disagreements.len(),
            disagreements.first()
        );
        assert!(
            valid > 1000 && invalid > 1000,
            "valid {valid} invalid {invalid}"
        );
    }
}
