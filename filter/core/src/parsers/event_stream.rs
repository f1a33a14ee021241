//! Incremental, zero-copy framer for the AWS event-stream binary encoding
//! (`application/vnd.amazon.eventstream`), which Bedrock's `converse-stream` and
//! `invoke-with-response-stream` answer with.
//!
//! A message is
//!
//! ```text
//! [total length u32][headers length u32][prelude CRC32 u32]   the 12-byte prelude
//! [headers: headers-length bytes]
//! [payload: total - headers - 16 bytes]
//! [message CRC32 u32]                                          CRC of everything before it
//! ```
//!
//! (big-endian; CRC32 is the IEEE/zlib one). A header is a one-byte name length, the name, a
//! one-byte value type and the value: 0/1 booleans (no bytes), 2 byte, 3 short, 4 int, 5 long,
//! 6 byte array and 7 string (both a u16 length then the bytes), 8 timestamp (8 bytes), 9 UUID
//! (16 bytes).
//!
//! Like [`crate::sse::SseFramer`], the framer never buffers a message: the payload is handed to an
//! [`EventStreamSink`] as slices of the chunk being fed, and only the 12 prelude bytes, the 4 CRC
//! bytes, a header name of at most 16 bytes and the few header values the filter reads (each
//! truncated to a fixed size) survive between chunks. Chunks may split a message anywhere.
//!
//! The message CRC is only known at the message's end, so a sink sees the headers and payload
//! BEFORE knowing whether they are intact: [`EventStreamSink::end`] says. A bad prelude CRC or
//! impossible lengths make the rest of the stream unframeable: the framer turns
//! [`FrameState::Malformed`] for good and ignores what follows (the bytes still reach the client
//! untouched; the caller counts the stream as unreadable). A bad message CRC or unreadable
//! headers only spoil that message: its length was vouched for by the prelude CRC, so framing
//! resumes at the next one, and the message is counted in [`EventStreamFramer::corrupt_messages`].

/// The largest message the framer accepts (16 MiB, the limit of the AWS SDKs' decoders).
pub const MAX_MESSAGE_BYTES: u32 = 16 * 1024 * 1024;
/// The largest header block the framer accepts (128 KiB, the AWS SDKs' limit).
pub const MAX_HEADERS_BYTES: u32 = 128 * 1024;
/// Prelude (12) and message CRC (4): the size of a message with no headers and no payload.
const FRAME_OVERHEAD: u32 = 16;
/// Header names the framer reads are at most this long (`:exception-type` is 15).
const MAX_NAME: usize = 16;

/// A running CRC32 (IEEE 802.3, as zlib; the gzip decoder's).
#[derive(Clone, Copy, Debug, Default)]
pub struct Crc32(u32);

impl Crc32 {
    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0 = crate::decode::crc32_update(self.0, bytes);
    }

    /// The CRC of everything added so far.
    pub fn value(self) -> u32 {
        self.0
    }
}

/// CRC32 of `bytes` (what `zlib.crc32` returns).
pub fn crc32(bytes: &[u8]) -> u32 {
    crate::decode::crc32_update(0, bytes)
}

/// A string header value kept up to `N` bytes (longer values are cut; `truncated` says so).
#[derive(Clone, Copy, Debug)]
pub struct HeaderText<const N: usize> {
    buf: [u8; N],
    len: usize,
    present: bool,
    truncated: bool,
}

impl<const N: usize> Default for HeaderText<N> {
    fn default() -> Self {
        HeaderText {
            buf: [0; N],
            len: 0,
            present: false,
            truncated: false,
        }
    }
}

impl<const N: usize> HeaderText<N> {
    /// The value's bytes (at most `N`); empty when the header is absent.
    pub fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// Whether the message carried this header as a string.
    pub fn is_present(&self) -> bool {
        self.present
    }

    /// Whether the value was longer than `N` bytes and was cut.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    fn clear(&mut self) {
        self.len = 0;
        self.present = false;
        self.truncated = false;
    }

    fn push(&mut self, part: &[u8]) {
        let room = N - self.len;
        let take = part.len().min(room);
        if let (Some(dst), Some(src)) = (
            self.buf.get_mut(self.len..self.len + take),
            part.get(..take),
        ) {
            dst.copy_from_slice(src);
        }
        self.len += take;
        if take < part.len() {
            self.truncated = true;
        }
    }
}

/// The headers of one message that the filter reads: the rest are skipped.
#[derive(Clone, Debug, Default)]
pub struct MessageHeaders {
    /// `:message-type`: `event`, `exception` or `error`.
    pub message_type: HeaderText<16>,
    /// `:event-type` (`contentBlockDelta`, `metadata`, `chunk`, ...).
    pub event_type: HeaderText<64>,
    /// `:exception-type` of an exception message (`throttlingException`, ...).
    pub exception_type: HeaderText<64>,
    /// `:error-code` of an error message.
    pub error_code: HeaderText<64>,
    /// `:error-message` of an error message.
    pub error_message: HeaderText<256>,
    /// `:content-type` of the payload (`application/json`).
    pub content_type: HeaderText<64>,
}

/// Which kept header a name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wanted {
    MessageType,
    EventType,
    ExceptionType,
    ErrorCode,
    ErrorMessage,
    ContentType,
}

impl Wanted {
    fn from_name(name: &[u8]) -> Option<Wanted> {
        Some(match name {
            b":message-type" => Wanted::MessageType,
            b":event-type" => Wanted::EventType,
            b":exception-type" => Wanted::ExceptionType,
            b":error-code" => Wanted::ErrorCode,
            b":error-message" => Wanted::ErrorMessage,
            b":content-type" => Wanted::ContentType,
            _ => return None,
        })
    }
}

impl MessageHeaders {
    fn clear(&mut self) {
        self.message_type.clear();
        self.event_type.clear();
        self.exception_type.clear();
        self.error_code.clear();
        self.error_message.clear();
        self.content_type.clear();
    }

    fn start(&mut self, w: Wanted) {
        match w {
            Wanted::MessageType => start(&mut self.message_type),
            Wanted::EventType => start(&mut self.event_type),
            Wanted::ExceptionType => start(&mut self.exception_type),
            Wanted::ErrorCode => start(&mut self.error_code),
            Wanted::ErrorMessage => start(&mut self.error_message),
            Wanted::ContentType => start(&mut self.content_type),
        }
    }

    fn push(&mut self, w: Wanted, part: &[u8]) {
        match w {
            Wanted::MessageType => self.message_type.push(part),
            Wanted::EventType => self.event_type.push(part),
            Wanted::ExceptionType => self.exception_type.push(part),
            Wanted::ErrorCode => self.error_code.push(part),
            Wanted::ErrorMessage => self.error_message.push(part),
            Wanted::ContentType => self.content_type.push(part),
        }
    }
}

/// A repeated header replaces the earlier value (the last one wins, as in the AWS SDKs' maps).
fn start<const N: usize>(t: &mut HeaderText<N>) {
    t.clear();
    t.present = true;
}

/// Receives the messages framed by [`EventStreamFramer`].
pub trait EventStreamSink {
    /// A message's headers have been read; its payload follows. Not yet CRC-checked.
    fn begin(&mut self, headers: &MessageHeaders);
    /// A piece of the current message's payload, borrowed from the fed chunk: no copy.
    fn payload(&mut self, fragment: &[u8]);
    /// The current message ended. `intact` is false when its CRC did not match: everything the
    /// sink saw of it since [`begin`](Self::begin) must be discarded.
    fn end(&mut self, intact: bool);
}

/// Where the framer is within the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Collecting the 12-byte prelude.
    Prelude,
    /// Inside the header block.
    Headers,
    /// Inside the payload.
    Payload,
    /// Collecting the 4-byte message CRC.
    Crc,
    /// The stream cannot be framed any more (sticky until `reset`).
    Malformed,
}

/// Position within one header, inside the header block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hdr {
    /// The name length byte comes next.
    NameLen,
    /// Reading the name: this many bytes left.
    Name(u8),
    /// The value type byte comes next.
    Type,
    /// A fixed-size value: this many bytes left.
    Fixed(u8),
    /// The first byte of a u16 value length (byte array or string).
    LenHi,
    /// The second byte of the length, after `hi`.
    LenLo(u8),
    /// A variable-size value: this many bytes left.
    Value(u16),
    /// The header block cannot be read (unknown value type, a header overrunning the block):
    /// the rest of the block is skipped and the message is counted corrupt.
    Broken,
}

/// Whether the stream can still be framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameState {
    /// Framing is in step (possibly in the middle of a message).
    Ok,
    /// A prelude was corrupt or impossible: nothing more will be framed.
    Malformed,
}

/// Incremental AWS event-stream framer. See the module documentation.
#[derive(Clone, Debug)]
pub struct EventStreamFramer {
    phase: Phase,
    /// The prelude (or, in `Crc`, the message CRC) collected so far.
    held: [u8; 12],
    /// Bytes used in `held`.
    held_len: usize,
    /// Bytes left in the current section (headers or payload).
    left: u32,
    /// Payload length of the current message, once the prelude is read.
    payload_len: u32,
    /// CRC of the current message so far.
    crc: Crc32,
    /// Position within the current header.
    hdr: Hdr,
    /// The current header's name (only the first `MAX_NAME` bytes; longer names are not wanted).
    name: [u8; MAX_NAME],
    name_len: usize,
    /// The kept header the current value belongs to.
    capture: Option<Wanted>,
    /// The current message's kept headers.
    headers: MessageHeaders,
    /// Messages whose end was reached with an intact CRC and readable headers.
    messages: u32,
    /// Messages with a bad CRC or unreadable headers.
    corrupt: u32,
}

impl Default for EventStreamFramer {
    fn default() -> Self {
        Self::new()
    }
}

impl EventStreamFramer {
    /// A framer at the start of a stream.
    #[must_use]
    pub fn new() -> Self {
        EventStreamFramer {
            phase: Phase::Prelude,
            held: [0; 12],
            held_len: 0,
            left: 0,
            payload_len: 0,
            crc: Crc32::default(),
            hdr: Hdr::NameLen,
            name: [0; MAX_NAME],
            name_len: 0,
            capture: None,
            headers: MessageHeaders::default(),
            messages: 0,
            corrupt: 0,
        }
    }

    /// Back to the start of a new stream (counters cleared).
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Intact messages framed so far.
    pub fn messages(&self) -> u32 {
        self.messages
    }

    /// Messages with a bad CRC or unreadable headers (skipped; framing went on).
    pub fn corrupt_messages(&self) -> u32 {
        self.corrupt
    }

    /// Frames the next chunk of the stream.
    pub fn feed<S: EventStreamSink>(&mut self, chunk: &[u8], sink: &mut S) -> FrameState {
        let mut input = chunk;
        while !input.is_empty() {
            input = match self.phase {
                Phase::Malformed => return FrameState::Malformed,
                Phase::Prelude => self.prelude(input, sink),
                Phase::Headers => self.header_bytes(input, sink),
                Phase::Payload => {
                    let n = input.len().min(self.left as usize);
                    let (part, rest) = input.split_at(n);
                    self.crc.update(part);
                    if self.hdr != Hdr::Broken && !part.is_empty() {
                        sink.payload(part);
                    }
                    self.left -= n as u32;
                    if self.left == 0 {
                        self.phase = Phase::Crc;
                        self.held_len = 0;
                    }
                    rest
                }
                Phase::Crc => self.message_crc(input, sink),
            };
        }
        self.state()
    }

    /// Whether framing is still in step.
    pub fn state(&self) -> FrameState {
        if self.phase == Phase::Malformed {
            FrameState::Malformed
        } else {
            FrameState::Ok
        }
    }

    /// End of stream: true when it ended exactly between messages (a message cut short, or a
    /// malformed stream, is false; what the sink saw of a cut message is void). Resets.
    pub fn finish(&mut self) -> bool {
        let clean = self.phase == Phase::Prelude && self.held_len == 0;
        self.reset();
        clean
    }

    /// Collects prelude bytes; once all 12 are in, validates them.
    fn prelude<'a, S: EventStreamSink>(&mut self, input: &'a [u8], sink: &mut S) -> &'a [u8] {
        let take = input.len().min(12 - self.held_len);
        let (part, rest) = input.split_at(take);
        if let Some(dst) = self.held.get_mut(self.held_len..self.held_len + take) {
            dst.copy_from_slice(part);
        }
        self.held_len += take;
        if self.held_len < 12 {
            return rest;
        }
        let word = |i: usize| {
            self.held
                .get(i..i + 4)
                .and_then(|w| <[u8; 4]>::try_from(w).ok())
                .map_or(0, u32::from_be_bytes)
        };
        let (total, headers_len, prelude_crc) = (word(0), word(4), word(8));
        let sane = crc32(self.held.get(..8).unwrap_or_default()) == prelude_crc
            && (FRAME_OVERHEAD..=MAX_MESSAGE_BYTES).contains(&total)
            && headers_len <= MAX_HEADERS_BYTES
            && headers_len <= total - FRAME_OVERHEAD;
        if !sane {
            // The lengths cannot be trusted, so no later byte can be placed in a message.
            self.phase = Phase::Malformed;
            return &[];
        }
        self.crc = Crc32::default();
        self.crc.update(&self.held);
        self.held_len = 0;
        self.payload_len = total - FRAME_OVERHEAD - headers_len;
        self.left = headers_len;
        self.hdr = Hdr::NameLen;
        self.capture = None;
        self.headers.clear();
        self.phase = Phase::Headers;
        if headers_len == 0 {
            self.headers_done();
            sink.begin(&self.headers);
        }
        rest
    }

    /// Reads header-block bytes; hands the headers to the sink once the block is complete.
    fn header_bytes<'a, S: EventStreamSink>(&mut self, input: &'a [u8], sink: &mut S) -> &'a [u8] {
        let n = input.len().min(self.left as usize);
        let (block, rest) = input.split_at(n);
        self.crc.update(block);
        self.left -= n as u32;
        let mut i = 0;
        while let Some(&b) = block.get(i) {
            match self.hdr {
                Hdr::NameLen => {
                    // A zero-length name is not a header any SDK writes: unreadable.
                    self.hdr = if b == 0 { Hdr::Broken } else { Hdr::Name(b) };
                    self.name_len = 0;
                    i += 1;
                }
                Hdr::Name(left) => {
                    let take = block.len().saturating_sub(i).min(usize::from(left));
                    let part = block.get(i..i + take).unwrap_or_default();
                    let room = MAX_NAME.saturating_sub(self.name_len);
                    let keep = part.len().min(room);
                    if let (Some(dst), Some(src)) = (
                        self.name.get_mut(self.name_len..self.name_len + keep),
                        part.get(..keep),
                    ) {
                        dst.copy_from_slice(src);
                    }
                    // A name longer than any kept one is remembered as too long.
                    self.name_len += part.len();
                    i += take;
                    let left = left - take as u8;
                    self.hdr = if left == 0 {
                        Hdr::Type
                    } else {
                        Hdr::Name(left)
                    };
                }
                Hdr::Type => {
                    i += 1;
                    let wanted = self.name.get(..self.name_len).and_then(Wanted::from_name);
                    self.capture = None;
                    self.hdr = match b {
                        0 | 1 => Hdr::NameLen,
                        2 => Hdr::Fixed(1),
                        3 => Hdr::Fixed(2),
                        4 => Hdr::Fixed(4),
                        5 | 8 => Hdr::Fixed(8),
                        9 => Hdr::Fixed(16),
                        6 => Hdr::LenHi,
                        7 => {
                            if let Some(w) = wanted {
                                self.headers.start(w);
                                self.capture = Some(w);
                            }
                            Hdr::LenHi
                        }
                        _ => Hdr::Broken,
                    };
                }
                Hdr::Fixed(left) => {
                    let take = block.len().saturating_sub(i).min(usize::from(left));
                    i += take;
                    let left = left - take as u8;
                    self.hdr = if left == 0 {
                        Hdr::NameLen
                    } else {
                        Hdr::Fixed(left)
                    };
                }
                Hdr::LenHi => {
                    self.hdr = Hdr::LenLo(b);
                    i += 1;
                }
                Hdr::LenLo(hi) => {
                    let len = u16::from_be_bytes([hi, b]);
                    self.hdr = if len == 0 {
                        Hdr::NameLen
                    } else {
                        Hdr::Value(len)
                    };
                    i += 1;
                }
                Hdr::Value(left) => {
                    let take = block.len().saturating_sub(i).min(usize::from(left));
                    if let Some(w) = self.capture {
                        self.headers
                            .push(w, block.get(i..i + take).unwrap_or_default());
                    }
                    i += take;
                    let left = left - take as u16;
                    self.hdr = if left == 0 {
                        Hdr::NameLen
                    } else {
                        Hdr::Value(left)
                    };
                }
                Hdr::Broken => break,
            }
        }
        if self.left == 0 {
            // The block must end between headers.
            if self.hdr != Hdr::NameLen {
                self.hdr = Hdr::Broken;
            }
            self.headers_done();
            if self.hdr != Hdr::Broken {
                sink.begin(&self.headers);
            }
        }
        rest
    }

    /// The header block is complete: on to the payload (or straight to the CRC).
    fn headers_done(&mut self) {
        self.left = self.payload_len;
        if self.left == 0 {
            self.phase = Phase::Crc;
            self.held_len = 0;
        } else {
            self.phase = Phase::Payload;
        }
    }

    /// Collects the message CRC; once all 4 bytes are in, ends the message.
    fn message_crc<'a, S: EventStreamSink>(&mut self, input: &'a [u8], sink: &mut S) -> &'a [u8] {
        let take = input.len().min(4 - self.held_len);
        let (part, rest) = input.split_at(take);
        if let Some(dst) = self.held.get_mut(self.held_len..self.held_len + take) {
            dst.copy_from_slice(part);
        }
        self.held_len += take;
        if self.held_len < 4 {
            return rest;
        }
        let expected = self
            .held
            .get(..4)
            .and_then(|w| <[u8; 4]>::try_from(w).ok())
            .map_or(0, u32::from_be_bytes);
        let intact = expected == self.crc.value();
        let readable = self.hdr != Hdr::Broken;
        if readable {
            sink.end(intact);
        }
        if intact && readable {
            self.messages = self.messages.saturating_add(1);
        } else {
            self.corrupt = self.corrupt.saturating_add(1);
        }
        self.phase = Phase::Prelude;
        self.held_len = 0;
        self.hdr = Hdr::NameLen;
        rest
    }
}

/// The encoding side, for tests, fixtures and fake upstreams (the filter itself only decodes):
/// what `tests/fixtures/make_event_streams.py` writes, CRCs included.
pub mod encode {
    use super::crc32;

    /// One header value, by type.
    #[derive(Clone, Copy, Debug)]
    pub enum HeaderValue<'a> {
        Bool(bool),
        Byte(u8),
        Short(i16),
        Int(i32),
        Long(i64),
        Bytes(&'a [u8]),
        Str(&'a str),
        Timestamp(i64),
        Uuid([u8; 16]),
    }

    /// One encoded header (names and values longer than the format allows are cut).
    pub fn header(name: &str, value: &HeaderValue) -> Vec<u8> {
        let name = name.as_bytes();
        let name = name.get(..name.len().min(255)).unwrap_or_default();
        let mut out = vec![name.len() as u8];
        out.extend_from_slice(name);
        let var = |out: &mut Vec<u8>, kind: u8, v: &[u8]| {
            let v = v
                .get(..v.len().min(usize::from(u16::MAX)))
                .unwrap_or_default();
            out.push(kind);
            out.extend_from_slice(&(v.len() as u16).to_be_bytes());
            out.extend_from_slice(v);
        };
        match value {
            HeaderValue::Bool(true) => out.push(0),
            HeaderValue::Bool(false) => out.push(1),
            HeaderValue::Byte(b) => out.extend_from_slice(&[2, *b]),
            HeaderValue::Short(v) => {
                out.push(3);
                out.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Int(v) => {
                out.push(4);
                out.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Long(v) => {
                out.push(5);
                out.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Bytes(b) => var(&mut out, 6, b),
            HeaderValue::Str(s) => var(&mut out, 7, s.as_bytes()),
            HeaderValue::Timestamp(v) => {
                out.push(8);
                out.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Uuid(u) => {
                out.push(9);
                out.extend_from_slice(u);
            }
        }
        out
    }

    /// One message from encoded headers and a payload, both CRCs computed.
    pub fn message(headers: &[u8], payload: &[u8]) -> Vec<u8> {
        let total = (12 + headers.len() + payload.len() + 4) as u32;
        let mut out = Vec::with_capacity(total as usize);
        out.extend_from_slice(&total.to_be_bytes());
        out.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        let prelude_crc = crc32(&out);
        out.extend_from_slice(&prelude_crc.to_be_bytes());
        out.extend_from_slice(headers);
        out.extend_from_slice(payload);
        let crc = crc32(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Standard base64 with padding.
    pub fn base64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for group in bytes.chunks(3) {
            let byte = |i: usize| u32::from(group.get(i).copied().unwrap_or(0));
            let n = byte(0) << 16 | byte(1) << 8 | byte(2);
            for k in 0..4 {
                let c = if k <= group.len() {
                    ALPHABET
                        .get((n >> (18 - 6 * k) & 63) as usize)
                        .copied()
                        .unwrap_or(b'=')
                } else {
                    b'='
                };
                out.push(char::from(c));
            }
        }
        out
    }

    /// An `invoke-with-response-stream` `chunk` payload: `{"bytes":"<base64 of event>","p":"<padding>"}`.
    pub fn chunk_payload(event: &[u8], padding: &str) -> String {
        format!(r#"{{"bytes":"{}","p":"{padding}"}}"#, base64(event))
    }

    /// A message whose headers are all strings, in order.
    pub fn string_message(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
        let h: Vec<u8> = headers
            .iter()
            .flat_map(|(n, v)| header(n, &HeaderValue::Str(v)))
            .collect();
        message(&h, payload)
    }
}

#[cfg(test)]
#[path = "../tests/event_stream.rs"]
mod tests;
