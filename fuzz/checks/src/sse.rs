//! `SseFramer` against a straightforward whole-buffer WHATWG event-stream parser.
//!
//! Properties, for any bytes and any split: the dispatched events (type, data) and the
//! "discarded" verdict of `finish` equal the reference's; every data fragment borrows from the
//! chunk being fed (or is the `\n` joining two data lines); a framer reused after `finish`
//! frames the next stream the same.

use llm_telemetry_core::sse::{SseFramer, SseSink};

use crate::split::{pieces, plans, Rng};

/// One dispatched event: (type, data).
pub type Event = (Vec<u8>, Vec<u8>);

/// What a whole stream frames to: its events, and whether data was pending at the end.
pub type Framed = (Vec<Event>, bool);

/// The framer keeps at most this much of an `event:` value (its documented bound).
const MAX_EVENT_TYPE: usize = 64;
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The WHATWG rules read literally, on the whole buffer: strip one leading BOM, split lines at
/// CRLF, LF or CR, and per line: blank → dispatch (if the data buffer is not empty, its last LF
/// removed); `:` first → comment; otherwise field name up to the first colon, one leading space
/// of the value dropped; `data` appends value + LF, `event` sets the type. At the end, an
/// unterminated event is not dispatched; it counts as pending when its data buffer is not empty,
/// a final unterminated line included once its colon has been seen (the framer streams values as
/// they arrive, so a partial `data:` line has already been handed out).
pub fn reference(input: &[u8]) -> Framed {
    let input = input.strip_prefix(BOM).unwrap_or(input);
    let mut events = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    let mut event_type: Vec<u8> = Vec::new();
    let mut rest = input;
    loop {
        let eol = rest.iter().position(|&b| b == b'\r' || b == b'\n');
        let (line, terminated) = match eol {
            Some(i) => (&rest[..i], true),
            None => (rest, false),
        };
        if terminated && line.is_empty() {
            if !data.is_empty() {
                data.pop();
                let mut t = std::mem::take(&mut event_type);
                t.truncate(MAX_EVENT_TYPE);
                events.push((t, std::mem::take(&mut data)));
            }
            event_type.clear();
        } else if line.first() != Some(&b':') && (terminated || line.contains(&b':')) {
            let (name, value) = match line.iter().position(|&b| b == b':') {
                Some(c) => {
                    let v = &line[c + 1..];
                    (&line[..c], v.strip_prefix(b" ").unwrap_or(v))
                }
                None => (line, &b""[..]),
            };
            match name {
                b"data" => {
                    data.extend_from_slice(value);
                    data.push(b'\n');
                }
                b"event" => event_type = value.to_vec(),
                _ => {}
            }
        }
        let Some(i) = eol else { break };
        let skip = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') {
            2
        } else {
            1
        };
        rest = &rest[i + skip..];
    }
    (events, !data.is_empty())
}

/// Collects events and checks that fragments are borrowed from the chunk being fed.
struct Collect {
    events: Vec<Event>,
    pending: Vec<u8>,
    chunk: (usize, usize),
}

impl SseSink for Collect {
    fn data(&mut self, fragment: &[u8]) {
        let at = fragment.as_ptr() as usize;
        let inside = at >= self.chunk.0 && at + fragment.len() <= self.chunk.1;
        assert!(
            inside || fragment == b"\n",
            "fragment {fragment:?} is a copy, not a slice of the chunk"
        );
        self.pending.extend_from_slice(fragment);
    }

    fn dispatch(&mut self, event_type: &[u8]) {
        assert!(event_type.len() <= MAX_EVENT_TYPE);
        self.events
            .push((event_type.to_vec(), std::mem::take(&mut self.pending)));
    }
}

/// Frames `chunks` as one stream through `framer`.
fn frame(framer: &mut SseFramer, chunks: &[&[u8]]) -> Framed {
    let mut sink = Collect {
        events: Vec::new(),
        pending: Vec::new(),
        chunk: (0, 0),
    };
    for c in chunks {
        sink.chunk = (c.as_ptr() as usize, c.as_ptr() as usize + c.len());
        framer.feed(c, &mut sink);
    }
    let discarded = framer.finish(&mut sink);
    assert!(
        discarded || sink.pending.is_empty(),
        "data was handed out after the last dispatch, yet finish() says nothing was discarded"
    );
    (sink.events, discarded)
}

/// The SSE framer's properties on `data` (see the module documentation).
pub fn check(data: &[u8]) {
    let want = reference(data);
    let mut rng = Rng::from_bytes(data);
    // One framer for every plan: `finish` must leave it ready for the next stream.
    let mut framer = SseFramer::new();
    for cuts in plans(data.len(), &mut rng) {
        let got = frame(&mut framer, &pieces(data, &cuts));
        assert_eq!(
            got,
            want,
            "framer vs reference, cut at {cuts:?}, input {:?}",
            String::from_utf8_lossy(data)
        );
    }
}
