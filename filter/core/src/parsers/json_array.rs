//! Incremental, zero-copy framer for a JSON array streamed element by element: Gemini's
//! `:streamGenerateContent` without `alt=sse` answers `[{...},\r\n{...}]`, one response object
//! per element, each sent as soon as it is generated.
//!
//! The framer checks only the array's own grammar (`[`, elements separated by `,`, `]`, JSON
//! whitespace) and finds where each element ends by tracking brackets and strings; it does not
//! validate an element's contents: that is the job of whatever the sink feeds them to
//! ([`crate::json_scan::JsonScanner`], which also catches mismatched brackets). Element bytes
//! are handed to an [`ElementSink`] as slices of the chunk being fed; the state between chunks is
//! a few scalars, so memory is constant whatever the element sizes.

use crate::bytes::find2;

/// Receives the elements framed by [`JsonArrayFramer`].
pub trait ElementSink {
    /// A piece of the current element, borrowed from the fed chunk: no copy.
    fn data(&mut self, fragment: &[u8]);
    /// The current element ended: every byte of it has been delivered.
    fn element_end(&mut self);
}

/// Result of feeding (or finishing) a [`JsonArrayFramer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArrayState {
    /// Valid so far; the array has not closed yet.
    InProgress,
    /// The array closed, followed by nothing but whitespace.
    Complete,
    /// Not a JSON array (sticky until [`JsonArrayFramer::reset`]).
    Malformed,
}

/// Where the framer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    /// Before the `[` (a UTF-8 BOM and whitespace may come first).
    Start,
    /// Just after `[`: an element or `]`.
    FirstOrClose,
    /// After `,`: an element must come.
    Element,
    /// Inside an object or array element (`depth` open brackets, string state below).
    Container,
    /// Inside a string element.
    StringElement,
    /// Inside a number or literal element.
    Scalar,
    /// After an element: `,` or `]`.
    After,
    /// The array closed: only whitespace may follow.
    Done,
    /// Sticky error.
    Malformed,
}

/// Incremental framer of one top-level JSON array. See the module documentation.
#[derive(Clone, Debug)]
pub struct JsonArrayFramer {
    state: St,
    /// Open brackets inside the current container element.
    depth: u32,
    /// Inside a string within the current element.
    in_string: bool,
    /// The previous byte was a backslash inside a string.
    escaped: bool,
    /// How many bytes of a leading UTF-8 BOM were matched (`usize::MAX`: whitespace came first,
    /// so no BOM may follow).
    bom: usize,
    /// Elements completed so far.
    elements: u32,
}

impl Default for JsonArrayFramer {
    fn default() -> Self {
        Self::new()
    }
}

/// JSON insignificant whitespace (RFC 8259 section 2).
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

impl JsonArrayFramer {
    /// A framer before the array's first byte.
    #[must_use]
    pub fn new() -> Self {
        JsonArrayFramer {
            state: St::Start,
            depth: 0,
            in_string: false,
            escaped: false,
            bom: 0,
            elements: 0,
        }
    }

    /// Back to the start of a new array.
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Elements completed so far.
    pub fn elements(&self) -> u32 {
        self.elements
    }

    /// Frames the next chunk.
    pub fn feed<S: ElementSink>(&mut self, chunk: &[u8], sink: &mut S) -> ArrayState {
        let mut i = 0;
        while let Some(&b) = chunk.get(i) {
            match self.state {
                St::Malformed => return ArrayState::Malformed,
                St::Start => {
                    // RFC 8259 8.1: a parser MAY ignore a byte order mark; only as the very
                    // first bytes (`self.bom` counts them; `usize::MAX` once anything else came).
                    if self.bom < BOM.len() && BOM.get(self.bom) == Some(&b) {
                        self.bom += 1;
                    } else if self.bom > 0 && self.bom < BOM.len() {
                        // Half a BOM.
                        return self.malformed();
                    } else if b == b'[' {
                        self.state = St::FirstOrClose;
                    } else if is_ws(b) {
                        self.bom = usize::MAX;
                    } else {
                        return self.malformed();
                    }
                    i += 1;
                }
                St::FirstOrClose | St::Element | St::After | St::Done if is_ws(b) => i += 1,
                St::FirstOrClose if b == b']' => {
                    self.state = St::Done;
                    i += 1;
                }
                St::FirstOrClose | St::Element => {
                    let start = i;
                    i += 1;
                    match b {
                        b'{' | b'[' => {
                            self.state = St::Container;
                            self.depth = 1;
                            self.in_string = false;
                            self.escaped = false;
                        }
                        b'"' => {
                            self.state = St::StringElement;
                            self.escaped = false;
                        }
                        b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => self.state = St::Scalar,
                        _ => return self.malformed(),
                    }
                    // The element's first byte, plus as much of it as this chunk holds.
                    let end = self.element_bytes(chunk, i);
                    sink.data(chunk.get(start..end).unwrap_or_default());
                    i = end;
                    self.maybe_end(sink);
                }
                St::Container | St::StringElement | St::Scalar => {
                    let end = self.element_bytes(chunk, i);
                    if end > i {
                        sink.data(chunk.get(i..end).unwrap_or_default());
                    }
                    i = end;
                    self.maybe_end(sink);
                }
                St::After => {
                    self.state = match b {
                        b',' => St::Element,
                        b']' => St::Done,
                        _ => return self.malformed(),
                    };
                    i += 1;
                }
                St::Done => return self.malformed(),
            }
        }
        self.state()
    }

    /// The current state.
    pub fn state(&self) -> ArrayState {
        match self.state {
            St::Done => ArrayState::Complete,
            St::Malformed => ArrayState::Malformed,
            _ => ArrayState::InProgress,
        }
    }

    /// End of input: `Complete` iff the array closed. A scalar element at the very end has no
    /// terminator of its own, but an array always does (`]`), so there is nothing to flush.
    /// Resets.
    pub fn finish(&mut self) -> ArrayState {
        let out = match self.state {
            St::Done => ArrayState::Complete,
            _ => ArrayState::Malformed,
        };
        self.reset();
        out
    }

    fn malformed(&mut self) -> ArrayState {
        self.state = St::Malformed;
        ArrayState::Malformed
    }

    /// Advances over the current element's bytes from `i`; returns where they stop in `chunk`
    /// (the element's end, or the chunk's). Sets `state` to `After` when the element ended.
    fn element_bytes(&mut self, chunk: &[u8], mut i: usize) -> usize {
        let n = chunk.len();
        match self.state {
            St::Scalar => {
                let rest = chunk.get(i..).unwrap_or_default();
                let end = rest
                    .iter()
                    .position(|&c| c == b',' || c == b']' || is_ws(c))
                    .map_or(n, |k| i + k);
                if end < n {
                    self.state = St::After;
                }
                end
            }
            St::StringElement => {
                let (end, closed) = self.string_bytes(chunk, i);
                if closed {
                    self.state = St::After;
                }
                end
            }
            St::Container => {
                while i < n {
                    if self.in_string {
                        let (end, closed) = self.string_bytes(chunk, i);
                        i = end;
                        self.in_string = !closed;
                        continue;
                    }
                    match chunk.get(i) {
                        Some(b'"') => self.in_string = true,
                        Some(b'{' | b'[') => self.depth = self.depth.saturating_add(1),
                        Some(b'}' | b']') => {
                            self.depth -= 1;
                            if self.depth == 0 {
                                self.state = St::After;
                                return i + 1;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                n
            }
            _ => i,
        }
    }

    /// Advances over string contents from `i` (the opening quote already read): returns where
    /// the scan stopped and whether the closing quote was reached. Most of an element is string
    /// contents: the scan jumps to the next quote or backslash eight bytes at a time.
    fn string_bytes(&mut self, chunk: &[u8], mut i: usize) -> (usize, bool) {
        let n = chunk.len();
        while i < n {
            if self.escaped {
                self.escaped = false;
                i += 1;
                continue;
            }
            let rest = chunk.get(i..).unwrap_or_default();
            match find2(rest, b'"', b'\\') {
                None => return (n, false),
                Some(k) => {
                    i += k + 1;
                    if chunk.get(i - 1) == Some(&b'"') {
                        return (i, true);
                    }
                    self.escaped = true;
                }
            }
        }
        (n, false)
    }

    /// Tells the sink when the element just framed has ended.
    fn maybe_end<S: ElementSink>(&mut self, sink: &mut S) {
        if self.state == St::After {
            self.elements = self.elements.saturating_add(1);
            sink.element_end();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{assert_split_invariant, pieces, Rng};

    const GEMINI: &[u8] = include_bytes!("../../../../tests/fixtures/gemini_stream.json");

    #[derive(Default)]
    struct Collect {
        elements: Vec<Vec<u8>>,
        open: Option<Vec<u8>>,
    }

    impl ElementSink for Collect {
        fn data(&mut self, f: &[u8]) {
            assert!(!f.is_empty());
            self.open.get_or_insert_with(Vec::new).extend_from_slice(f);
        }
        fn element_end(&mut self) {
            self.elements.push(self.open.take().unwrap());
        }
    }

    /// (elements, pending element bytes, state after the last feed, finish).
    type Outcome = (Vec<Vec<u8>>, Option<Vec<u8>>, ArrayState, ArrayState);

    fn run(chunks: &[&[u8]]) -> Outcome {
        let mut f = JsonArrayFramer::new();
        let mut sink = Collect::default();
        let mut state = ArrayState::InProgress;
        for c in chunks {
            state = f.feed(c, &mut sink);
        }
        (sink.elements, sink.open, state, f.finish())
    }

    fn whole(input: &[u8]) -> Outcome {
        run(&[input])
    }

    fn elements(input: &[u8]) -> Vec<Vec<u8>> {
        whole(input).0
    }

    #[test]
    fn gemini_fixture_whole_bytewise_and_every_split() {
        let out = assert_split_invariant("gemini_stream.json", GEMINI, 0, run);
        assert_eq!((out.2, out.3), (ArrayState::Complete, ArrayState::Complete));
        let parsed: Vec<serde_json::Value> = serde_json::from_slice(GEMINI).unwrap();
        assert_eq!(out.0.len(), parsed.len());
        for (e, v) in out.0.iter().zip(&parsed) {
            assert_eq!(&serde_json::from_slice::<serde_json::Value>(e).unwrap(), v);
        }
    }

    #[test]
    fn elements_of_every_kind() {
        let input = br#" [ {"a":[1,{"b":"]}\"["}]} , [[]],"s\"t]",-1.5e3,true,null ,false]  "#;
        let want: Vec<&[u8]> = vec![
            br#"{"a":[1,{"b":"]}\"["}]}"#,
            b"[[]]",
            br#""s\"t]""#,
            b"-1.5e3",
            b"true",
            b"null",
            b"false",
        ];
        let out = assert_split_invariant("kinds", input, usize::MAX, run);
        assert_eq!(out.0, want);
        assert_eq!(out.3, ArrayState::Complete);
        assert_eq!(elements(b"[]"), Vec::<Vec<u8>>::new());
        assert_eq!(whole(b"\xEF\xBB\xBF[1]").3, ArrayState::Complete);
        assert_eq!(whole(b"\r\n[\r\n{}\r\n]\r\n").0, vec![b"{}".to_vec()]);
    }

    #[test]
    fn not_an_array_is_malformed() {
        for bad in [
            &b"{}"[..],
            b"[1,]",
            b"[,1]",
            b"[1 2]",
            b"[1]]",
            b"[1] x",
            b"[x]",
            b"<html>",
            b"\xEF\xBB[1]",
            b" \xEF\xBB\xBF[1]",
            b"[{}{}]",
        ] {
            let out = whole(bad);
            assert_eq!(
                out.3,
                ArrayState::Malformed,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // Truncated arrays are not complete; the open element's bytes are void.
        let out = whole(b"[{\"a\":1},{\"b\"");
        assert_eq!(out.0, vec![b"{\"a\":1}".to_vec()]);
        assert_eq!(out.1, Some(b"{\"b\"".to_vec()));
        assert_eq!(
            (out.2, out.3),
            (ArrayState::InProgress, ArrayState::Malformed)
        );
        assert_eq!(whole(b"").3, ArrayState::Malformed);
    }

    /// Zero copy: fragments point into the chunk being fed.
    #[test]
    fn fragments_borrow_from_the_chunk() {
        struct Check(usize, usize, usize);
        impl ElementSink for Check {
            fn data(&mut self, f: &[u8]) {
                let p = f.as_ptr() as usize;
                assert!(p >= self.0 && p + f.len() <= self.1);
                self.2 += 1;
            }
            fn element_end(&mut self) {}
        }
        let mut f = JsonArrayFramer::new();
        let mut sink = Check(0, 0, 0);
        for chunk in GEMINI.chunks(64) {
            sink.0 = chunk.as_ptr() as usize;
            sink.1 = sink.0 + chunk.len();
            f.feed(chunk, &mut sink);
        }
        assert_eq!(f.finish(), ArrayState::Complete);
        assert!(sink.2 > 10);
    }

    /// Random arrays of serde_json-written values frame into exactly those values.
    #[test]
    fn differential_against_serde_json() {
        let mut rng = Rng(0xD1B5_4A32_D192_ED03);
        let atoms = [
            r#"{"usageMetadata":{"promptTokenCount":3}}"#,
            r#""a\"]}[{,""#,
            r#"[1,[2,[3]]]"#,
            "12",
            "-0.5",
            "true",
            "null",
            r#"{"k":"\\"}"#,
            r#"{"t":"é😊"}"#,
        ];
        let seps = [",", " ,", ",\r\n", "\n,\n"];
        for _ in 0..5_000 {
            let n = rng.below(5);
            let chosen: Vec<&str> = (0..n).map(|_| atoms[rng.below(atoms.len())]).collect();
            let mut text = String::from(["[", " [", "\r\n[\n"][rng.below(3)]);
            for (k, a) in chosen.iter().enumerate() {
                if k > 0 {
                    text.push_str(seps[rng.below(seps.len())]);
                }
                text.push_str(a);
            }
            text.push_str(["]", "\n]", "]\r\n"][rng.below(3)]);
            let input = text.as_bytes();
            let cuts = rng.cuts(input.len(), 5);
            let out = run(&pieces(input, &cuts));
            assert_eq!(out.3, ArrayState::Complete, "{text:?}");
            let got: Vec<serde_json::Value> = out
                .0
                .iter()
                .map(|e| serde_json::from_slice(e).unwrap())
                .collect();
            let want: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
            assert_eq!(got, want, "{text:?} cut at {cuts:?}");
        }
    }
}
