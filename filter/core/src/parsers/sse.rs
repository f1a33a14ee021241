//! Incremental, zero-copy Server-Sent Events framer following the WHATWG HTML "Interpreting an
//! event stream" rules (<https://html.spec.whatwg.org/multipage/server-sent-events.html>).
//!
//! Streaming LLM responses (`text/event-stream`) arrive as body chunks split at arbitrary
//! points. The framer never buffers a line: `data` field values are handed to an [`SseSink`] as
//! slices of the chunk being fed, and only a few bytes of state survive between chunks (a
//! field-name accumulator of at most 16 bytes, the event type truncated to 64 bytes, a pending-CR
//! flag and the BOM matcher). Memory is therefore constant whatever the event sizes.
//!
//! Because data is streamed, a sink sees an event's data BEFORE knowing whether the event will be
//! dispatched: only [`SseSink::dispatch`] confirms it. Data delivered after the last dispatch is
//! void when [`SseFramer::finish`] returns true.
//!
//! The spec decodes the stream as UTF-8 first; this framer works on bytes, which is equivalent
//! for everything it interprets (all delimiters are ASCII, and ASCII bytes never occur inside a
//! multi-byte UTF-8 sequence). Invalid UTF-8 is passed through untouched rather than replaced.

/// Receives the events framed by [`SseFramer`].
use crate::bytes::find_line_end;

pub trait SseSink {
    /// A piece of the current event's data field. Multiple `data:` lines are joined by "\n",
    /// delivered as its own fragment. Fragments borrow from the fed chunk: no copy.
    fn data(&mut self, fragment: &[u8]);
    /// Blank line ending an event that had at least one data line. event_type = the `event:`
    /// field value ("" if none), truncated to 64 bytes.
    fn dispatch(&mut self, event_type: &[u8]);
    /// A line whose field is none of the spec's (`data`, `event`, `id`, `retry`) and is not a
    /// comment: ignored, as the spec says, but worth counting (garbage inside a stream).
    fn unknown_field(&mut self) {}
}

/// Field names longer than this are not `data`/`event`, so they need not be stored.
const MAX_FIELD_NAME: usize = 16;
/// Event types are only used as labels; 64 bytes is plenty (`response.output_text.delta`).
const MAX_EVENT_TYPE: usize = 64;
/// UTF-8 encoding of U+FEFF.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// The field a line's value belongs to, as far as this framer cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// `data`: its value is streamed to the sink.
    Data,
    /// `event`: its value becomes the event type.
    Event,
    /// `id` and `retry`: ignored.
    Other,
    /// A field the spec does not define (garbage, or a name longer than any it does): ignored,
    /// and reported to [`SseSink::unknown_field`].
    Unknown,
}

/// Position within the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// Nothing of the line read yet.
    Start,
    /// Reading the field name (before the first colon).
    Name,
    /// A line starting with `:`.
    Comment,
    /// Just after the colon: one space may still have to be dropped, possibly in the next chunk.
    AfterColon(Field),
    /// Reading the field value.
    Value(Field),
}

/// Incremental WHATWG event-stream parser. See the module documentation.
#[derive(Debug, Clone)]
pub struct SseFramer {
    /// Position in the current line; survives chunk boundaries.
    line: Line,
    /// The previous byte was a CR that ended a line: an LF right after it (maybe in the next
    /// chunk) belongs to the same line ending.
    cr_pending: bool,
    /// Still at the start of the stream, looking for the optional BOM.
    bom_check: bool,
    /// How many BOM bytes have been matched so far (a chunk may end inside the BOM).
    bom_matched: usize,
    /// Field name read so far (a name may be split across chunks).
    name: [u8; MAX_FIELD_NAME],
    /// Bytes used in `name`.
    name_len: usize,
    /// The field name exceeded `MAX_FIELD_NAME`: it is an unknown field.
    name_overflow: bool,
    /// The event type buffer, truncated to `MAX_EVENT_TYPE` bytes.
    event: [u8; MAX_EVENT_TYPE],
    /// Bytes used in `event`.
    event_len: usize,
    /// The current event has at least one data line (the spec's "data buffer is not empty").
    data_seen: bool,
}

impl Default for SseFramer {
    fn default() -> Self {
        Self::new()
    }
}

impl SseFramer {
    /// Creates a framer at the start of a stream.
    #[must_use]
    pub fn new() -> Self {
        SseFramer {
            line: Line::Start,
            cr_pending: false,
            bom_check: true,
            bom_matched: 0,
            name: [0; MAX_FIELD_NAME],
            name_len: 0,
            name_overflow: false,
            event: [0; MAX_EVENT_TYPE],
            event_len: 0,
            data_seen: false,
        }
    }

    /// Back to the start of a new stream (BOM check re-armed, pending event dropped).
    pub fn reset(&mut self) {
        self.line = Line::Start;
        self.cr_pending = false;
        self.bom_check = true;
        self.bom_matched = 0;
        self.name_len = 0;
        self.name_overflow = false;
        self.event_len = 0;
        self.data_seen = false;
    }

    /// Frames the next chunk of the stream, calling `sink` for data fragments and dispatches.
    pub fn feed<S: SseSink>(&mut self, chunk: &[u8], sink: &mut S) {
        let mut input = chunk;
        if self.bom_check {
            // WHATWG: "One leading U+FEFF BYTE ORDER MARK character must be ignored if any are
            // present." Only at the very start of the stream, and it may be split over chunks.
            let mut k = 0;
            while let Some(&b) = input.get(k) {
                if BOM.get(self.bom_matched) == Some(&b) {
                    self.bom_matched += 1;
                    k += 1;
                    if self.bom_matched == BOM.len() {
                        self.bom_check = false;
                        self.bom_matched = 0;
                        break;
                    }
                } else {
                    // Not a BOM after all: the bytes held back are ordinary stream bytes. They
                    // are a prefix of the static BOM, so they can be replayed without a copy.
                    self.bom_check = false;
                    let held = BOM.get(..self.bom_matched).unwrap_or_default();
                    self.bom_matched = 0;
                    self.process(held, sink);
                    break;
                }
            }
            input = input.get(k..).unwrap_or_default();
        }
        self.process(input, sink);
    }

    /// End of stream. Per spec an unterminated event is NOT dispatched; returns true if such
    /// pending data was discarded (fragments delivered since the last dispatch are then void).
    ///
    /// WHATWG: "Once the end of the file is reached, any pending data must be discarded. (If the
    /// file ends in the middle of an event, before the final empty line, the incomplete event is
    /// not dispatched.)" The framer is reset, ready for a new stream.
    pub fn finish<S: SseSink>(&mut self, _sink: &mut S) -> bool {
        let discarded = self.data_seen;
        self.reset();
        discarded
    }

    /// Runs the line state machine over `input` (BOM already handled).
    fn process<S: SseSink>(&mut self, input: &[u8], sink: &mut S) {
        let n = input.len();
        let mut i = 0;
        while let Some(&b) = input.get(i) {
            // WHATWG: lines end with "a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF)
            // character pair, a single U+000A LINE FEED (LF) character not preceded by a
            // U+000D CARRIAGE RETURN (CR) character, or a single U+000D CARRIAGE RETURN (CR)
            // character not followed by a U+000A LINE FEED (LF) character". The line already
            // ended at the CR; an LF right after it (even at the start of the next chunk) is
            // part of the same line ending, not a blank line.
            if self.cr_pending {
                self.cr_pending = false;
                if b == b'\n' {
                    i += 1;
                    continue;
                }
            }
            match self.line {
                Line::Start => match b {
                    // WHATWG: "If the line is empty (a blank line): Dispatch the event".
                    b'\r' | b'\n' => {
                        self.dispatch(sink);
                        self.end_line(b);
                        i += 1;
                    }
                    // WHATWG: "If the line starts with a U+003A COLON character (:): Ignore the
                    // line."
                    b':' => {
                        self.line = Line::Comment;
                        i += 1;
                    }
                    _ => {
                        self.line = Line::Name;
                        self.name_len = 0;
                        self.name_overflow = false;
                    }
                },
                Line::Name => {
                    let rest = input.get(i..).unwrap_or_default();
                    let j = rest
                        .iter()
                        .position(|&c| c == b':' || c == b'\r' || c == b'\n')
                        .map_or(n, |k| i + k);
                    self.push_name(input.get(i..j).unwrap_or_default());
                    i = j;
                    match input.get(i) {
                        // WHATWG: "If the line contains a U+003A COLON character (:): Collect
                        // the characters on the line before the first U+003A COLON character
                        // (:), and let field be that string."
                        Some(b':') => {
                            let field = self.field();
                            self.begin_value(field, sink);
                            self.line = Line::AfterColon(field);
                            i += 1;
                        }
                        // WHATWG: "Otherwise, the string is not empty but does not contain a
                        // U+003A COLON character (:): Process the field using the whole line as
                        // the field name, and the empty string as the field value."
                        Some(&eol) => {
                            let field = self.field();
                            self.begin_value(field, sink);
                            self.end_line(eol);
                            i += 1;
                        }
                        None => {}
                    }
                }
                Line::AfterColon(field) => {
                    // WHATWG: "Collect the characters on the line after the first U+003A COLON
                    // character (:), and let value be that string. If value starts with a
                    // U+0020 SPACE character, remove it from value." One space only.
                    self.line = Line::Value(field);
                    if b == b' ' {
                        i += 1;
                    }
                }
                Line::Value(field) => {
                    let rest = input.get(i..).unwrap_or_default();
                    let j = find_line_end(rest).map_or(n, |k| i + k);
                    let value = input.get(i..j).unwrap_or_default();
                    match field {
                        // WHATWG: "If the field name is "data": Append the field value to the
                        // data buffer". Streamed straight from the chunk: no copy.
                        Field::Data if !value.is_empty() => sink.data(value),
                        // WHATWG: "If the field name is "event": Set the event type buffer to
                        // the field value." (reset in `begin_value`, appended here.)
                        Field::Event => self.push_event(value),
                        // WHATWG: "If the field name is "id" / "retry" ... Otherwise: The field
                        // is ignored." The telemetry filter needs neither.
                        _ => {}
                    }
                    i = j;
                    if let Some(&eol) = input.get(i) {
                        self.end_line(eol);
                        i += 1;
                    }
                }
                Line::Comment => {
                    let rest = input.get(i..).unwrap_or_default();
                    i = find_line_end(rest).map_or(n, |k| i + k);
                    if let Some(&eol) = input.get(i) {
                        self.end_line(eol);
                        i += 1;
                    }
                }
            }
        }
    }

    /// A line ended with `eol` (CR or LF).
    fn end_line(&mut self, eol: u8) {
        self.line = Line::Start;
        self.cr_pending = eol == b'\r';
    }

    /// Appends part of a field name, or flags it unknown once it outgrows `name`.
    fn push_name(&mut self, part: &[u8]) {
        if self.name_overflow || part.is_empty() {
            return;
        }
        let end = self.name_len.saturating_add(part.len());
        match self.name.get_mut(self.name_len..end) {
            Some(dst) => {
                dst.copy_from_slice(part);
                self.name_len = end;
            }
            // Longer than any field we act on: remember only that it is unknown.
            None => self.name_overflow = true,
        }
    }

    /// Classifies the completed field name (case-sensitive, as the spec says).
    fn field(&self) -> Field {
        if self.name_overflow {
            return Field::Unknown;
        }
        match self.name.get(..self.name_len) {
            Some(b"data") => Field::Data,
            Some(b"event") => Field::Event,
            Some(b"id" | b"retry") => Field::Other,
            _ => Field::Unknown,
        }
    }

    /// The field of the current line is known; its value (possibly empty) follows.
    fn begin_value<S: SseSink>(&mut self, field: Field, sink: &mut S) {
        match field {
            Field::Data => {
                // WHATWG appends value + LF per data line and strips the final LF at dispatch,
                // i.e. lines are joined by LF. Emitting the LF before every data line but the
                // first gives the same bytes without buffering.
                if self.data_seen {
                    sink.data(b"\n");
                }
                self.data_seen = true;
            }
            Field::Event => self.event_len = 0,
            Field::Other => {}
            Field::Unknown => sink.unknown_field(),
        }
    }

    /// Appends part of the `event` field value.
    fn push_event(&mut self, part: &[u8]) {
        // Truncated to MAX_EVENT_TYPE bytes: bounded state; event types are short identifiers.
        let room = MAX_EVENT_TYPE.saturating_sub(self.event_len);
        let take = part.len().min(room);
        let end = self.event_len + take;
        if let (Some(dst), Some(src)) = (self.event.get_mut(self.event_len..end), part.get(..take))
        {
            dst.copy_from_slice(src);
            self.event_len = end;
        }
    }

    /// Blank line. WHATWG: "If the data buffer is an empty string, set the data buffer and the
    /// event type buffer to the empty string and return." Otherwise dispatch, then clear both.
    /// A single `data:` line with an empty value makes the buffer "\n", which is not empty, so
    /// it dispatches with empty data.
    fn dispatch<S: SseSink>(&mut self, sink: &mut S) {
        if self.data_seen {
            sink.dispatch(self.event.get(..self.event_len).unwrap_or_default());
        }
        self.data_seen = false;
        self.event_len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_scan::{JsonScanner, ScanState};

    const CHAT_USAGE: &[u8] = include_bytes!("../../../../tests/fixtures/chat_stream_usage.sse");
    const CHAT_NO_USAGE: &[u8] =
        include_bytes!("../../../../tests/fixtures/chat_stream_no_usage.sse");
    const RESPONSES: &[u8] = include_bytes!("../../../../tests/fixtures/responses_stream.sse");

    /// (event type, data) per dispatched event.
    type Events = Vec<(Vec<u8>, Vec<u8>)>;

    /// Collects fragments into the current event; a dispatch closes it.
    #[derive(Default)]
    struct Collect {
        cur: Vec<u8>,
        events: Events,
        empty_fragments: usize,
    }

    impl SseSink for Collect {
        fn data(&mut self, fragment: &[u8]) {
            if fragment.is_empty() {
                self.empty_fragments += 1;
            }
            self.cur.extend_from_slice(fragment);
        }
        fn dispatch(&mut self, event_type: &[u8]) {
            let data = std::mem::take(&mut self.cur);
            self.events.push((event_type.to_vec(), data));
        }
    }

    /// Frames `input` cut at the sorted `cuts`; returns the events and `finish()`'s answer.
    fn run(input: &[u8], cuts: &[usize]) -> (Events, bool) {
        let mut framer = SseFramer::new();
        let mut sink = Collect::default();
        let mut from = 0;
        for &c in cuts.iter().chain(std::iter::once(&input.len())) {
            framer.feed(&input[from..c], &mut sink);
            from = c;
        }
        let discarded = framer.finish(&mut sink);
        assert_eq!(sink.empty_fragments, 0, "no empty fragments are delivered");
        (sink.events, discarded)
    }

    fn whole(input: &[u8]) -> (Events, bool) {
        run(input, &[])
    }

    fn ev(t: &str, d: &str) -> (Vec<u8>, Vec<u8>) {
        (t.as_bytes().to_vec(), d.as_bytes().to_vec())
    }

    /// Straightforward whole-buffer implementation of the WHATWG algorithm, used as the oracle.
    fn reference(input: &[u8]) -> (Events, bool) {
        let input = input.strip_prefix(&BOM[..]).unwrap_or(input);
        let (mut events, mut data, mut event) = (Vec::new(), Vec::<u8>::new(), Vec::<u8>::new());
        let mut data_lines = 0;
        let mut i = 0;
        let tail_is_data;
        loop {
            let Some(len) = input[i..].iter().position(|&c| c == b'\r' || c == b'\n') else {
                // Unterminated last line: never processed; it voids data only if it is a data line.
                let line = &input[i..];
                tail_is_data = line
                    .iter()
                    .position(|&c| c == b':')
                    .is_some_and(|c| &line[..c] == b"data");
                break;
            };
            let line = &input[i..i + len];
            i += len + 1;
            if input[i - 1] == b'\r' && input.get(i) == Some(&b'\n') {
                i += 1;
            }
            if line.is_empty() {
                if data_lines > 0 {
                    data.pop();
                    events.push((event.clone(), std::mem::take(&mut data)));
                }
                data.clear();
                event.clear();
                data_lines = 0;
                continue;
            }
            if line[0] == b':' {
                continue;
            }
            let (name, mut value) = match line.iter().position(|&c| c == b':') {
                Some(c) => (&line[..c], &line[c + 1..]),
                None => (line, &b""[..]),
            };
            if value.first() == Some(&b' ') {
                value = &value[1..];
            }
            match name {
                b"data" => {
                    data.extend_from_slice(value);
                    data.push(b'\n');
                    data_lines += 1;
                }
                b"event" => event = value[..value.len().min(MAX_EVENT_TYPE)].to_vec(),
                _ => {}
            }
        }
        (events, data_lines > 0 || tail_is_data)
    }

    #[test]
    fn fixtures_whole_bytewise_and_every_split_agree() {
        for (name, input) in [
            ("usage", CHAT_USAGE),
            ("no_usage", CHAT_NO_USAGE),
            ("responses", RESPONSES),
        ] {
            let w = whole(input);
            assert!(!w.1, "{name}: stream ends with a blank line");
            assert_eq!(w, reference(input), "{name}");
            let bytewise: Vec<usize> = (1..input.len()).collect();
            assert_eq!(run(input, &bytewise), w, "{name} bytewise");
            for a in 0..=input.len() {
                assert_eq!(run(input, &[a]), w, "{name} split at {a}");
            }
            // Three-way splits on a stride keep the runtime small while crossing every line.
            for a in (0..=input.len()).step_by(37) {
                for b in (a..=input.len()).step_by(23) {
                    assert_eq!(run(input, &[a, b]), w, "{name} split at {a},{b}");
                }
            }
        }
    }

    #[test]
    fn chat_fixtures_frame_as_expected() {
        let (events, _) = whole(CHAT_USAGE);
        assert_eq!(events.len(), 14);
        assert!(events.iter().all(|(t, _)| t.is_empty()));
        assert_eq!(
            events.last().unwrap().1,
            b"[DONE]",
            "[DONE] is delivered as data"
        );
        for (_, data) in &events[..events.len() - 1] {
            let v: serde_json::Value = serde_json::from_slice(data).unwrap();
            assert_eq!(v["object"], "chat.completion.chunk");
        }
        let text: String = events[..events.len() - 1]
            .iter()
            .map(|(_, d)| serde_json::from_slice::<serde_json::Value>(d).unwrap())
            .filter_map(|v| {
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(text, "Bonjour! Ça va très bien, merci 😊.");
        let (events, _) = whole(CHAT_NO_USAGE);
        assert_eq!(events.len(), 13);
        assert!(!events
            .iter()
            .any(|(_, d)| d.windows(7).any(|w| w == b"\"usage\"")));
    }

    #[test]
    fn responses_fixture_event_types() {
        let (events, _) = whole(RESPONSES);
        let types: Vec<&[u8]> = events.iter().map(|(t, _)| t.as_slice()).collect();
        assert_eq!(types[0], b"response.created");
        assert_eq!(types[1], b"response.in_progress");
        assert_eq!(
            types
                .iter()
                .filter(|t| **t == b"response.output_text.delta")
                .count(),
            6
        );
        assert_eq!(*types.last().unwrap(), b"response.completed");
        for (t, d) in &events {
            let v: serde_json::Value = serde_json::from_slice(d).unwrap();
            assert_eq!(v["type"].as_str().unwrap().as_bytes(), t.as_slice());
        }
    }

    #[test]
    fn line_endings_cr_lf_crlf() {
        let want = vec![ev("", "a"), ev("", "b"), ev("", "c"), ev("", "d")];
        let input = b"data: a\r\rdata: b\n\ndata: c\r\n\r\ndata: d\r\n\n";
        assert_eq!(whole(input), (want.clone(), false));
        for a in 0..=input.len() {
            assert_eq!(run(input, &[a]), (want.clone(), false), "split at {a}");
        }
    }

    #[test]
    fn crlf_split_across_chunks_is_one_line_ending() {
        // If the LF after a chunk-final CR were taken as a blank line, "a" would be dispatched
        // alone and "b" would be a second event.
        assert_eq!(
            run(b"data: a\r\ndata: b\r\n\r\n", &[8]),
            (vec![ev("", "a\nb")], false)
        );
        assert_eq!(
            run(b"data: a\r\ndata: b\r\n\r\n", &[8, 18, 19]),
            (vec![ev("", "a\nb")], false)
        );
        // A CR then a CR is two line endings even across chunks.
        assert_eq!(
            run(b"data: a\r\rdata: b\r\r", &[8]),
            (vec![ev("", "a"), ev("", "b")], false)
        );
        // A lone CR at the end of a chunk followed by ordinary text.
        assert_eq!(
            run(b"data: a\rdata: b\r\r", &[8]),
            (vec![ev("", "a\nb")], false)
        );
    }

    #[test]
    fn multi_line_data_is_joined_by_lf() {
        let input = b"data: first\ndata:second\ndata\ndata: \n\n";
        assert_eq!(whole(input), (vec![ev("", "first\nsecond\n\n")], false));
        assert_eq!(whole(input), reference(input));
    }

    #[test]
    fn comments_and_ignored_fields() {
        let input = b": keep-alive\n\n:\ndata: x\n: mid-event comment\nid: 7\nretry: 1000\nfoo: bar\nid\n\n";
        assert_eq!(whole(input), (vec![ev("", "x")], false));
        // A field name longer than 16 bytes is an unknown field, even if it starts with "data".
        assert_eq!(
            whole(b"dataaaaaaaaaaaaaaaaaaaaaaaa: x\n\n"),
            (vec![], false)
        );
        assert_eq!(
            whole(b"data : x\n\n"),
            (vec![], false),
            "field name is `data `"
        );
        assert_eq!(
            whole(b"Data: x\n\n"),
            (vec![], false),
            "field names are case-sensitive"
        );
    }

    #[test]
    fn event_type_rules() {
        let input = b"event: a\ndata: 1\n\ndata: 2\n\nevent: b\n\ndata: 3\n\nevent: x\nevent: y\ndata: 4\n\nevent\ndata: 5\n\n";
        let want = vec![
            ev("a", "1"),
            ev("", "2"),
            ev("", "3"),
            ev("y", "4"),
            ev("", "5"),
        ];
        assert_eq!(whole(input), (want, false));
        let long = format!("event: {}\ndata: z\n\n", "e".repeat(100));
        let (events, _) = whole(long.as_bytes());
        assert_eq!(events, vec![(vec![b'e'; MAX_EVENT_TYPE], b"z".to_vec())]);
        for a in 0..=long.len() {
            assert_eq!(run(long.as_bytes(), &[a]).0, events);
        }
    }

    #[test]
    fn bom_is_skipped_once_at_stream_start() {
        let input = b"\xEF\xBB\xBFdata: x\n\n";
        for a in 0..=input.len() {
            for b in a..=input.len() {
                assert_eq!(
                    run(input, &[a, b]),
                    (vec![ev("", "x")], false),
                    "split {a},{b}"
                );
            }
        }
        // A second BOM is part of the field name, so the line is an unknown field.
        assert_eq!(
            whole(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\ndata: y\n\n"),
            (vec![ev("", "y")], false)
        );
        // A BOM later in the stream is not skipped.
        assert_eq!(
            whole(b"data: x\n\n\xEF\xBB\xBFdata: y\n\n"),
            (vec![ev("", "x")], false)
        );
        // Half a BOM: the held-back bytes are replayed as the start of the field name.
        let partial = b"\xEF\xBBdata: x\n\ndata: y\n\n";
        for a in 0..=partial.len() {
            assert_eq!(run(partial, &[a]), (vec![ev("", "y")], false), "split {a}");
        }
        assert_eq!(run(b"\xEF\xBB", &[1]), (vec![], false));
        // A held-back byte that turns out to be the start of a comment line still works.
        assert_eq!(whole(b"\xEF:x\ndata: y\n\n"), (vec![ev("", "y")], false));
    }

    #[test]
    fn one_optional_space_after_colon() {
        assert_eq!(whole(b"data:x\n\n").0, vec![ev("", "x")]);
        assert_eq!(whole(b"data: x\n\n").0, vec![ev("", "x")]);
        assert_eq!(whole(b"data:  x\n\n").0, vec![ev("", " x")]);
        assert_eq!(whole(b"data:x \n\n").0, vec![ev("", "x ")]);
        // The colon ends one chunk and the space starts the next.
        assert_eq!(run(b"data: x\n\n", &[5]).0, vec![ev("", "x")]);
        assert_eq!(run(b"data:  x\n\n", &[5]).0, vec![ev("", " x")]);
        assert_eq!(run(b"data:  x\n\n", &[5, 6]).0, vec![ev("", " x")]);
        assert_eq!(run(b"data:\n\n", &[5]).0, vec![ev("", "")]);
    }

    #[test]
    fn empty_data_line_dispatches_but_no_data_does_not() {
        assert_eq!(whole(b"data:\n\n").0, vec![ev("", "")]);
        assert_eq!(whole(b"data\n\n").0, vec![ev("", "")]);
        assert_eq!(whole(b"data: \n\n").0, vec![ev("", "")]);
        assert_eq!(whole(b"event: e\n\n\n\nid: 1\n\n").0, vec![]);
        assert_eq!(whole(b"data:\ndata:\n\n").0, vec![ev("", "\n")]);
    }

    #[test]
    fn unterminated_final_event_is_discarded() {
        assert_eq!(whole(b"data: x\n\ndata: y\n"), (vec![ev("", "x")], true));
        assert_eq!(whole(b"data: x\n\ndata: y"), (vec![ev("", "x")], true));
        assert_eq!(whole(b"data: x\n\nevent: e\n"), (vec![ev("", "x")], false));
        assert_eq!(whole(b"data: x\n\n"), (vec![ev("", "x")], false));
        assert_eq!(whole(b"data: x\r\n\r\n"), (vec![ev("", "x")], false));
        // finish() resets: the framer is ready for a new stream.
        let mut f = SseFramer::new();
        let mut sink = Collect::default();
        f.feed(b"data: y\n", &mut sink);
        assert!(f.finish(&mut sink));
        f.feed(b"\xEF\xBB\xBFdata: z\n\n", &mut sink);
        assert!(!f.finish(&mut sink));
        assert_eq!(
            sink.events,
            vec![ev("", "yz")],
            "the sink saw y's fragment; finish() said so"
        );
    }

    #[test]
    fn done_marker_is_data() {
        assert_eq!(whole(b"data: [DONE]\n\n").0, vec![ev("", "[DONE]")]);
    }

    /// Zero copy: every fragment points into the chunk being fed (or is the static "\n").
    #[test]
    fn fragments_borrow_from_the_chunk() {
        struct Check {
            lo: usize,
            hi: usize,
            fragments: usize,
        }
        impl SseSink for Check {
            fn data(&mut self, f: &[u8]) {
                let p = f.as_ptr() as usize;
                let inside = p >= self.lo && p + f.len() <= self.hi;
                assert!(inside || f == b"\n");
                self.fragments += 1;
            }
            fn dispatch(&mut self, _: &[u8]) {}
        }
        let mut f = SseFramer::new();
        let mut sink = Check {
            lo: 0,
            hi: 0,
            fragments: 0,
        };
        for chunk in RESPONSES.chunks(100) {
            sink.lo = chunk.as_ptr() as usize;
            sink.hi = sink.lo + chunk.len();
            f.feed(chunk, &mut sink);
        }
        assert!(sink.fragments > 14);
    }

    /// Random streams built from SSE-significant pieces, split at random points, match the
    /// whole-buffer reference implementation.
    #[test]
    fn differential_against_reference() {
        const PIECES: &[&[u8]] = &[
            b"data:",
            b"data: ",
            b"data",
            b"event:",
            b"event: t",
            b":",
            b" ",
            b"\r",
            b"\n",
            b"\r\n",
            b"id: 1",
            b"retry: 10",
            b"foo",
            b"x",
            b"\xC3\xA9",
            b"\xF0\x9F\x98\x8A",
            b"datax:",
            b"event: response.output_text.delta",
            b"abcdefghijklmnopqrstu",
            b"\xEF\xBB\xBF",
            b"[DONE]",
        ];
        const ENDINGS: &[&[u8]] = &[b"\n", b"\r", b"\r\n", b"\n\n", b"\r\n\r\n"];
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut with_events = 0;
        for _ in 0..20_000 {
            let mut input = Vec::new();
            if next(4) == 0 {
                input.extend_from_slice(&BOM);
            }
            if next(2) == 0 {
                // Free mix: endings anywhere, including inside would-be fields.
                for _ in 0..next(40) {
                    input.extend_from_slice(PIECES[next(PIECES.len())]);
                }
            } else {
                // Line-shaped: a few pieces then an ending, with frequent blank lines.
                for _ in 0..next(12) {
                    for _ in 0..next(4) {
                        input.extend_from_slice(PIECES[next(PIECES.len())]);
                    }
                    input.extend_from_slice(ENDINGS[next(ENDINGS.len())]);
                }
            }
            let want = reference(&input);
            if !want.0.is_empty() {
                with_events += 1;
            }
            let mut cuts = [
                next(input.len() + 1),
                next(input.len() + 1),
                next(input.len() + 1),
            ];
            cuts.sort_unstable();
            assert_eq!(
                run(&input, &cuts),
                want,
                "{:?} cut at {cuts:?}",
                String::from_utf8_lossy(&input)
            );
        }
        assert!(
            with_events > 3_000,
            "only {with_events} streams dispatched events"
        );
    }

    /// Per event: (scan state, model capture, usage capture).
    type Scanned = (ScanState, Option<Vec<u8>>, Option<Vec<u8>>);

    /// Sink that scans each event's data as one JSON document.
    struct UsageSink {
        scanner: JsonScanner,
        events: Vec<Scanned>,
    }

    impl SseSink for UsageSink {
        fn data(&mut self, fragment: &[u8]) {
            self.scanner.feed(fragment);
        }
        fn dispatch(&mut self, _event_type: &[u8]) {
            let state = self.scanner.finish();
            let model = self.scanner.captured(0).map(<[u8]>::to_vec);
            let usage = self.scanner.captured(1).map(<[u8]>::to_vec);
            self.events.push((state, model, usage));
            self.scanner.reset();
        }
    }

    #[test]
    fn chat_stream_usage_through_framer_and_scanner() {
        const PATHS: &[&str] = &["model", "usage"];
        const USAGE: &[u8] = br#"{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}"#;
        let mut framer = SseFramer::new();
        let mut sink = UsageSink {
            scanner: JsonScanner::new(PATHS, 1024),
            events: Vec::new(),
        };
        for a in 0..=CHAT_USAGE.len() {
            framer.reset();
            sink.scanner.reset();
            sink.events.clear();
            framer.feed(&CHAT_USAGE[..a], &mut sink);
            framer.feed(&CHAT_USAGE[a..], &mut sink);
            assert!(!framer.finish(&mut sink));
            let events = &sink.events;
            assert_eq!(events.len(), 14, "split at {a}");
            let (last, chunks) = events.split_last().unwrap();
            assert_eq!(last.0, ScanState::Malformed, "[DONE] is not JSON");
            for (state, model, _) in chunks {
                assert_eq!(*state, ScanState::Complete, "split at {a}");
                assert_eq!(model.as_deref(), Some(&b"\"gpt-4o-2024-08-06\""[..]));
            }
            let with_usage: Vec<&[u8]> = chunks
                .iter()
                .filter_map(|(_, _, u)| u.as_deref())
                .filter(|u| *u != b"null")
                .collect();
            assert_eq!(with_usage, vec![USAGE], "split at {a}");
            assert_eq!(
                chunks
                    .iter()
                    .filter(|(_, _, u)| u.as_deref() == Some(b"null"))
                    .count(),
                12
            );
        }
    }

    /// Counts the lines the framer reports as unknown fields.
    #[derive(Default)]
    struct Unknown(usize);

    impl SseSink for Unknown {
        fn data(&mut self, _: &[u8]) {}
        fn dispatch(&mut self, _: &[u8]) {}
        fn unknown_field(&mut self) {
            self.0 += 1;
        }
    }

    #[test]
    fn unknown_fields_are_reported_whatever_the_split() {
        let long = "x".repeat(40);
        let input = format!(
            ": comment\nid: 1\nretry: 10\ndata: {{}}\n\n#&<garbage> %$@!\n{long}: v\nno colon\rdat: x\r\nevent: e\ndata\n\n"
        );
        let input = input.as_bytes();
        for a in 0..=input.len() {
            for b in (a..=input.len()).step_by(7) {
                let mut framer = SseFramer::new();
                let mut sink = Unknown::default();
                framer.feed(&input[..a], &mut sink);
                framer.feed(&input[a..b], &mut sink);
                framer.feed(&input[b..], &mut sink);
                assert_eq!(sink.0, 4, "split at {a},{b}");
            }
        }
    }
}
