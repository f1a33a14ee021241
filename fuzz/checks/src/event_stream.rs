//! `EventStreamFramer` against a whole-buffer AWS event-stream decoder written independently of
//! its state machine.
//!
//! Properties, for any bytes and any split: the messages the sink sees (their kept headers,
//! payload and CRC verdict), the intact and corrupt counts, the framing state and the clean-end
//! verdict equal the reference's; every payload fragment borrows from the chunk being fed;
//! `begin` and `end` alternate; a framer reused after `finish` frames the next stream the same.

use llm_telemetry_core::event_stream::{
    crc32, EventStreamFramer, EventStreamSink, FrameState, MessageHeaders, MAX_HEADERS_BYTES,
    MAX_MESSAGE_BYTES,
};

use crate::split::{pieces, plans, Rng};

/// One message as a sink sees it: kept headers (message type, event type, exception type),
/// payload, CRC intact.
pub type Message = (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>, bool);

/// What a stream frames to: messages, intact count, corrupt count, still in step, clean end.
pub type Framed = (Vec<Message>, u32, u32, bool, bool);

/// The framer keeps these header values up to these sizes (its documented bounds).
const KEPT: [(&[u8], usize); 3] = [
    (b":message-type", 16),
    (b":event-type", 64),
    (b":exception-type", 64),
];

/// The format read literally on the whole buffer: prelude (lengths, CRC), headers one by one
/// (a message whose headers cannot be read is skipped but counted corrupt), payload, message CRC.
/// A bad prelude or impossible lengths stop everything; a cut message is not a clean end.
pub fn reference(input: &[u8]) -> Framed {
    let be = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap());
    let (mut out, mut intact_n, mut corrupt_n) = (Vec::new(), 0, 0);
    let mut at = 0;
    while at < input.len() {
        let Some(p) = input.get(at..at + 12) else {
            return (out, intact_n, corrupt_n, true, false);
        };
        let (total, hlen) = (be(&p[..4]), be(&p[4..8]));
        let sane = crc32(&p[..8]) == be(&p[8..12])
            && (16..=MAX_MESSAGE_BYTES).contains(&total)
            && hlen <= MAX_HEADERS_BYTES
            && hlen <= total - 16;
        if !sane {
            return (out, intact_n, corrupt_n, false, false);
        }
        let (total, hlen) = (total as usize, hlen as usize);
        let Some(m) = input.get(at..at + total) else {
            return (out, intact_n, corrupt_n, true, false);
        };
        let intact = crc32(&m[..total - 4]) == be(&m[total - 4..]);
        let h = &m[12..12 + hlen];
        let mut kept: [Vec<u8>; 3] = Default::default();
        let (mut i, mut readable) = (0, true);
        while i < h.len() {
            let n = h[i] as usize;
            if n == 0 || i + 2 + n > h.len() {
                readable = false;
                break;
            }
            let name = &h[i + 1..i + 1 + n];
            let kind = h[i + 1 + n];
            i += 2 + n;
            let len = match kind {
                0 | 1 => 0,
                2 => 1,
                3 => 2,
                4 => 4,
                5 | 8 => 8,
                9 => 16,
                6 | 7 if i + 2 <= h.len() => {
                    let l = u16::from_be_bytes([h[i], h[i + 1]]) as usize;
                    i += 2;
                    l
                }
                _ => {
                    readable = false;
                    break;
                }
            };
            if i + len > h.len() {
                readable = false;
                break;
            }
            if kind == 7 {
                for (slot, (kept_name, max)) in kept.iter_mut().zip(KEPT) {
                    if name == kept_name {
                        *slot = h[i..i + len.min(max)].to_vec();
                    }
                }
            }
            i += len;
        }
        if readable {
            let [mt, et, xt] = kept;
            out.push((mt, et, xt, m[12 + hlen..total - 4].to_vec(), intact));
        }
        if readable && intact {
            intact_n += 1;
        } else {
            corrupt_n += 1;
        }
        at += total;
    }
    (out, intact_n, corrupt_n, true, true)
}

/// Collects messages; checks the sink contract.
struct Collect {
    messages: Vec<Message>,
    open: bool,
    chunk: (usize, usize),
}

impl EventStreamSink for Collect {
    fn begin(&mut self, h: &MessageHeaders) {
        assert!(!self.open, "begin twice without end");
        self.open = true;
        self.messages.push((
            h.message_type.bytes().to_vec(),
            h.event_type.bytes().to_vec(),
            h.exception_type.bytes().to_vec(),
            Vec::new(),
            false,
        ));
    }

    fn payload(&mut self, fragment: &[u8]) {
        assert!(self.open, "payload outside a message");
        let at = fragment.as_ptr() as usize;
        assert!(
            at >= self.chunk.0 && at + fragment.len() <= self.chunk.1,
            "payload fragment is a copy, not a slice of the chunk"
        );
        self.messages
            .last_mut()
            .unwrap()
            .3
            .extend_from_slice(fragment);
    }

    fn end(&mut self, intact: bool) {
        assert!(self.open, "end without begin");
        self.open = false;
        self.messages.last_mut().unwrap().4 = intact;
    }
}

fn frame(framer: &mut EventStreamFramer, chunks: &[&[u8]]) -> Framed {
    let mut sink = Collect {
        messages: Vec::new(),
        open: false,
        chunk: (0, 0),
    };
    for c in chunks {
        sink.chunk = (c.as_ptr() as usize, c.as_ptr() as usize + c.len());
        framer.feed(c, &mut sink);
    }
    if sink.open {
        // A message cut by the end of the stream: what the sink saw of it is void.
        sink.messages.pop();
    }
    let in_step = framer.state() == FrameState::Ok;
    let (intact, corrupt) = (framer.messages(), framer.corrupt_messages());
    let clean = framer.finish();
    (sink.messages, intact, corrupt, in_step, clean)
}

/// The framer's properties on `data` (see the module documentation).
pub fn check(data: &[u8]) {
    let want = reference(data);
    let mut rng = Rng::from_bytes(data);
    let mut framer = EventStreamFramer::new();
    for cuts in plans(data.len(), &mut rng) {
        assert_eq!(
            frame(&mut framer, &pieces(data, &cuts)),
            want,
            "framer vs reference, cut at {cuts:?}"
        );
    }
}
