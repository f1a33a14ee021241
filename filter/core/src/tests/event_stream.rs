use super::*;
use crate::test_support::{
    assert_split_invariant, encode_event_list, header, message, pieces, string_message, HeaderValue,
};

const CONVERSE: &[u8] =
    include_bytes!("../../../../tests/fixtures/bedrock_converse_stream.eventstream");
const CONVERSE_EVENTS: &str =
    include_str!("../../../../tests/fixtures/bedrock_converse_stream.events.json");
const THROTTLED: &[u8] =
    include_bytes!("../../../../tests/fixtures/bedrock_converse_stream_throttled.eventstream");
const THROTTLED_EVENTS: &str =
    include_str!("../../../../tests/fixtures/bedrock_converse_stream_throttled.events.json");
const INVOKE: &[u8] =
    include_bytes!("../../../../tests/fixtures/bedrock_invoke_stream.eventstream");
const INVOKE_EVENTS: &str =
    include_str!("../../../../tests/fixtures/bedrock_invoke_stream.events.json");
const LLAMA: &[u8] =
    include_bytes!("../../../../tests/fixtures/bedrock_invoke_stream_llama.eventstream");
const LLAMA_EVENTS: &str =
    include_str!("../../../../tests/fixtures/bedrock_invoke_stream_llama.events.json");

/// One message as the sink saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    message_type: Vec<u8>,
    event_type: Vec<u8>,
    exception_type: Vec<u8>,
    error_code: Vec<u8>,
    error_message: Vec<u8>,
    content_type: Vec<u8>,
    payload: Vec<u8>,
    intact: bool,
}

#[derive(Default)]
struct Collect {
    messages: Vec<Seen>,
    open: bool,
}

impl EventStreamSink for Collect {
    fn begin(&mut self, h: &MessageHeaders) {
        assert!(!self.open, "begin twice without end");
        self.open = true;
        self.messages.push(Seen {
            message_type: h.message_type.bytes().to_vec(),
            event_type: h.event_type.bytes().to_vec(),
            exception_type: h.exception_type.bytes().to_vec(),
            error_code: h.error_code.bytes().to_vec(),
            error_message: h.error_message.bytes().to_vec(),
            content_type: h.content_type.bytes().to_vec(),
            payload: Vec::new(),
            intact: false,
        });
    }
    fn payload(&mut self, fragment: &[u8]) {
        assert!(self.open, "payload outside a message");
        assert!(!fragment.is_empty());
        self.messages
            .last_mut()
            .unwrap()
            .payload
            .extend_from_slice(fragment);
    }
    fn end(&mut self, intact: bool) {
        assert!(self.open, "end without begin");
        self.open = false;
        self.messages.last_mut().unwrap().intact = intact;
    }
}

/// Everything observable after framing a stream.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    messages: Vec<Seen>,
    /// A message begun but never ended (the stream was cut).
    open: bool,
    state: FrameState,
    intact: u32,
    corrupt: u32,
    clean_end: bool,
}

fn run(chunks: &[&[u8]]) -> Outcome {
    let mut f = EventStreamFramer::new();
    let mut sink = Collect::default();
    let mut state = FrameState::Ok;
    for c in chunks {
        state = f.feed(c, &mut sink);
    }
    let (intact, corrupt) = (f.messages(), f.corrupt_messages());
    let clean_end = f.finish();
    Outcome {
        messages: sink.messages,
        open: sink.open,
        state,
        intact,
        corrupt,
        clean_end,
    }
}

fn whole(input: &[u8]) -> Outcome {
    run(&[input])
}

#[test]
fn crc32_matches_zlib() {
    assert_eq!(crc32(b""), 0);
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(
        crc32(b"The quick brown fox jumps over the lazy dog"),
        0x414F_A339
    );
    let mut c = Crc32::default();
    c.update(b"1234");
    c.update(b"56789");
    assert_eq!(c.value(), 0xCBF4_3926);
}

#[test]
fn fixtures_are_what_the_script_writes() {
    // make_event_streams.py (Python's zlib CRC) and this encoder (our CRC) agree byte for byte.
    assert_eq!(encode_event_list(CONVERSE_EVENTS), CONVERSE);
    assert_eq!(encode_event_list(THROTTLED_EVENTS), THROTTLED);
    assert_eq!(encode_event_list(INVOKE_EVENTS), INVOKE);
    assert_eq!(encode_event_list(LLAMA_EVENTS), LLAMA);
}

#[test]
fn fixtures_whole_bytewise_and_every_split_agree() {
    for (name, input, events) in [
        ("converse", CONVERSE, CONVERSE_EVENTS),
        ("throttled", THROTTLED, THROTTLED_EVENTS),
        ("invoke", INVOKE, INVOKE_EVENTS),
        ("llama", LLAMA, LLAMA_EVENTS),
    ] {
        let out = assert_split_invariant(name, input, 0, run);
        let list: Vec<serde_json::Value> = serde_json::from_str(events).unwrap();
        assert_eq!(out.messages.len(), list.len(), "{name}");
        assert_eq!(
            (out.state, out.intact, out.corrupt, out.clean_end, out.open),
            (FrameState::Ok, list.len() as u32, 0, true, false),
            "{name}"
        );
        for (seen, e) in out.messages.iter().zip(&list) {
            let text = |k: &str| {
                let pairs = e["headers"].as_array().unwrap();
                let hit = pairs.iter().rev().find(|p| p[0] == k);
                hit.map_or(Vec::new(), |p| p[1].as_str().unwrap().as_bytes().to_vec())
            };
            assert!(seen.intact);
            assert_eq!(seen.message_type, text(":message-type"), "{name}");
            assert_eq!(seen.event_type, text(":event-type"), "{name}");
            assert_eq!(seen.exception_type, text(":exception-type"), "{name}");
            assert_eq!(seen.content_type, b"application/json", "{name}");
            if let Some(p) = e.get("payload") {
                assert_eq!(seen.payload, p.as_str().unwrap().as_bytes(), "{name}");
            }
        }
    }
}

#[test]
fn converse_fixture_exact_messages() {
    let out = whole(CONVERSE);
    let types: Vec<&[u8]> = out
        .messages
        .iter()
        .map(|m| m.event_type.as_slice())
        .collect();
    assert_eq!(
        types,
        [
            &b"messageStart"[..],
            b"contentBlockDelta",
            b"contentBlockDelta",
            b"contentBlockStop",
            b"messageStop",
            b"metadata"
        ]
    );
    assert!(out.messages.iter().all(|m| m.message_type == b"event"));
    assert_eq!(
        out.messages[5].payload,
        br#"{"metrics":{"latencyMs":357},"p":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJ","usage":{"cacheReadInputTokens":512,"cacheWriteInputTokens":0,"inputTokens":21,"outputTokens":11,"totalTokens":544}}"#
    );
    let t = whole(THROTTLED);
    let last = t.messages.last().unwrap();
    assert_eq!(
        (last.message_type.as_slice(), last.exception_type.as_slice()),
        (&b"exception"[..], &b"throttlingException"[..])
    );
}

#[test]
fn every_header_type_is_skipped_and_strings_kept() {
    let mut h = Vec::new();
    h.extend(header(":date", &HeaderValue::Timestamp(1_700_000_000_000)));
    h.extend(header("t", &HeaderValue::Bool(true)));
    h.extend(header("f", &HeaderValue::Bool(false)));
    h.extend(header("b", &HeaderValue::Byte(7)));
    h.extend(header("s", &HeaderValue::Short(-2)));
    h.extend(header("i", &HeaderValue::Int(1 << 20)));
    h.extend(header("l", &HeaderValue::Long(-1)));
    h.extend(header(":event-type", &HeaderValue::Str("metadata")));
    h.extend(header("bytes", &HeaderValue::Bytes(b"\x07\x00:event-type")));
    h.extend(header("id", &HeaderValue::Uuid([0x07; 16])));
    // A kept name with a non-string value is not kept.
    h.extend(header(
        ":content-type",
        &HeaderValue::Bytes(b"application/cbor"),
    ));
    h.extend(header(":message-type", &HeaderValue::Str("event")));
    let input = message(&h, b"{}");
    let out = assert_split_invariant("types", &input, 0, run);
    assert_eq!(out.messages.len(), 1);
    let m = &out.messages[0];
    assert_eq!(
        (
            m.event_type.as_slice(),
            m.message_type.as_slice(),
            m.content_type.as_slice()
        ),
        (&b"metadata"[..], &b"event"[..], &b""[..])
    );
    assert_eq!((m.payload.as_slice(), m.intact), (&b"{}"[..], true));
}

#[test]
fn long_values_are_cut_repeats_replace_and_long_names_are_ignored() {
    let long = "x".repeat(300);
    let input = string_message(
        &[
            (":event-type", "first"),
            (":event-type", &long),
            (":error-message", &long),
            (":message-type-with-a-longer-name", "ignored"),
            (":message-type", "error"),
            (":error-code", "InternalFailure"),
        ],
        b"",
    );
    let out = assert_split_invariant("long", &input, 0, run);
    let m = &out.messages[0];
    assert_eq!(m.event_type, vec![b'x'; 64]);
    assert_eq!(m.error_message, vec![b'x'; 256]);
    assert_eq!(m.message_type, b"error");
    assert_eq!(m.error_code, b"InternalFailure");
    assert!(m.payload.is_empty() && m.intact);
    let mut f = EventStreamFramer::new();
    struct Check;
    impl EventStreamSink for Check {
        fn begin(&mut self, h: &MessageHeaders) {
            assert!(h.event_type.is_truncated() && h.event_type.is_present());
            assert!(!h.message_type.is_truncated() && !h.content_type.is_present());
        }
        fn payload(&mut self, _: &[u8]) {}
        fn end(&mut self, _: bool) {}
    }
    f.feed(&input, &mut Check);
}

#[test]
fn empty_message_and_empty_chunks() {
    let input = message(&[], &[]);
    assert_eq!(input.len(), 16);
    let out = assert_split_invariant("empty", &input, 0, run);
    assert_eq!(out.messages.len(), 1);
    assert!(out.messages[0].intact && out.clean_end);
    let twice = [input.clone(), input].concat();
    let out = run(&pieces(&twice, &[0, 0, 5, 5, 16, 16, 32]));
    assert_eq!((out.messages.len(), out.intact), (2, 2));
    assert!(
        run(&[]).clean_end,
        "no bytes at all is a clean (empty) stream"
    );
}

#[test]
fn bad_message_crc_spoils_only_that_message() {
    let good = string_message(&[(":event-type", "a")], b"payload-a");
    let mut bad = string_message(&[(":event-type", "b")], b"payload-b");
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let mut flipped_payload = string_message(&[(":event-type", "c")], b"payload-c");
    let at = flipped_payload.len() - 6;
    flipped_payload[at] ^= 0x20;
    let input = [good.clone(), bad, flipped_payload, good].concat();
    let out = assert_split_invariant("crc", &input, 0, run);
    let seen: Vec<(&[u8], bool)> = out
        .messages
        .iter()
        .map(|m| (m.event_type.as_slice(), m.intact))
        .collect();
    assert_eq!(
        seen,
        [
            (&b"a"[..], true),
            (b"b", false),
            (b"c", false),
            (b"a", true)
        ]
    );
    assert_eq!((out.intact, out.corrupt, out.clean_end), (2, 2, true));
}

#[test]
fn bad_prelude_is_malformed_for_good() {
    let good = string_message(&[(":event-type", "a")], b"x");
    let mut bad = good.clone();
    bad[9] ^= 1; // prelude CRC
    let input = [good.clone(), bad, good.clone()].concat();
    let out = assert_split_invariant("prelude", &input, 0, run);
    assert_eq!(
        out.messages.len(),
        1,
        "nothing after a bad prelude is framed"
    );
    assert_eq!((out.state, out.clean_end), (FrameState::Malformed, false));
    // Lengths that cannot be, under a correct prelude CRC.
    let prelude = |total: u32, headers: u32| {
        let mut p = Vec::new();
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&headers.to_be_bytes());
        let crc = crc32(&p);
        p.extend_from_slice(&crc.to_be_bytes());
        [p, vec![0; 64]].concat()
    };
    for (total, headers) in [
        (15, 0),
        (0, 0),
        (20, 5),
        (MAX_MESSAGE_BYTES + 1, 0),
        (MAX_MESSAGE_BYTES, MAX_HEADERS_BYTES + 1),
        (u32::MAX, 0),
    ] {
        let out = whole(&prelude(total, headers));
        assert_eq!(out.state, FrameState::Malformed, "{total} {headers}");
        assert!(out.messages.is_empty());
    }
    // Not an event stream at all (an HTML error page).
    let html = whole(b"<html><body>502 Bad Gateway</body></html>");
    assert_eq!((html.state, html.clean_end), (FrameState::Malformed, false));
}

#[test]
fn unreadable_headers_skip_the_message_and_framing_goes_on() {
    let mut unknown_type = header(":event-type", &HeaderValue::Str("a"));
    unknown_type.extend_from_slice(&[1, b'z', 42]); // value type 42
    let overrun = {
        // A string whose length runs past the header block.
        let mut h = header(":event-type", &HeaderValue::Str("abc"));
        let n = h.len();
        h[n - 5] = 0;
        h[n - 4] = 200;
        h
    };
    let zero_name = vec![0u8, 7, 0, 0];
    let good = string_message(&[(":event-type", "ok")], b"fine");
    let input = [
        message(&unknown_type, b"p1"),
        message(&overrun, b"p2"),
        message(&zero_name, b"p3"),
        good,
    ]
    .concat();
    let out = assert_split_invariant("headers", &input, 0, run);
    assert_eq!(out.messages.len(), 1);
    assert_eq!(out.messages[0].event_type, b"ok");
    assert_eq!((out.intact, out.corrupt, out.clean_end), (1, 3, true));
}

#[test]
fn truncated_stream_is_not_a_clean_end() {
    let input = [
        string_message(&[(":event-type", "a")], b"one"),
        string_message(&[(":event-type", "b")], b"two"),
    ]
    .concat();
    for cut in 1..input.len() {
        let out = whole(&input[..cut]);
        let complete = if cut < input.len() / 2 { 0 } else { 1 };
        assert_eq!(out.intact, complete, "cut {cut}");
        assert_eq!(out.clean_end, cut == input.len() / 2, "cut {cut}");
        assert_eq!(out.state, FrameState::Ok);
    }
}

/// Zero copy: every payload fragment points into the chunk being fed.
#[test]
fn payload_fragments_borrow_from_the_chunk() {
    struct Check {
        lo: usize,
        hi: usize,
        fragments: usize,
    }
    impl EventStreamSink for Check {
        fn begin(&mut self, _: &MessageHeaders) {}
        fn payload(&mut self, f: &[u8]) {
            let p = f.as_ptr() as usize;
            assert!(p >= self.lo && p + f.len() <= self.hi);
            self.fragments += 1;
        }
        fn end(&mut self, _: bool) {}
    }
    let mut f = EventStreamFramer::new();
    let mut sink = Check {
        lo: 0,
        hi: 0,
        fragments: 0,
    };
    for chunk in INVOKE.chunks(100) {
        sink.lo = chunk.as_ptr() as usize;
        sink.hi = sink.lo + chunk.len();
        f.feed(chunk, &mut sink);
    }
    assert!(sink.fragments >= 7);
    assert!(f.finish());
}

// Random streams against a whole-buffer reference decoder: fuzz/checks/src/event_stream.rs
// (fuzzed by `make fuzz`, replayed on fixed seeds by `make unit`).
