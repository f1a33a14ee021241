//! Streaming decompression of response bodies (`Content-Encoding: gzip | deflate`).
//!
//! Envoy hands the filter a body in chunks of any size; a provider may compress its JSON or SSE
//! stream. [`Decoder`] inflates each chunk as it arrives and passes the decoded bytes on, without
//! ever holding the whole body: memory is one boxed `miniz_oxide` [`InflateState`] (its 32 KiB
//! dictionary included) plus a fixed [`WINDOW`]-byte output window, both allocated once per
//! stream, and nothing per chunk.
//!
//! - gzip (RFC 1952): the header is parsed byte by byte, so it may be split anywhere; the optional
//!   FEXTRA, FNAME, FCOMMENT and FHCRC fields are skipped (the header CRC is not checked). The
//!   trailer's CRC-32 and length are checked. A multi-member gzip file is decoded member after
//!   member; bytes after a member that do not start another member are ignored, as `gzip -d`
//!   does with trailing garbage.
//! - deflate: HTTP's "deflate" is meant to be zlib (RFC 1950), yet some servers send raw deflate
//!   (RFC 1951). The first two bytes decide: a valid zlib header means zlib (the Adler-32 is then
//!   checked), anything else raw deflate. Bytes after the end of the deflate stream are ignored.
//! - Errors are sticky: once `feed` failed, every later call returns the same error.

use core::fmt;

use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

/// Size of the reused output window: the largest piece handed to the `out` callback.
pub const WINDOW: usize = 16 * 1024;

/// A response's `Content-Encoding`, as far as the filter can decode it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// No coding (absent, empty or `identity`).
    Identity,
    /// `gzip` or `x-gzip`.
    Gzip,
    /// `deflate`: zlib-wrapped or raw deflate, detected from the first bytes.
    Deflate,
    /// Anything else (`br`, `zstd`, `compress`, several codings stacked): not decoded.
    Unsupported,
}

impl Encoding {
    /// Classifies a `Content-Encoding` header value: case-insensitive, surrounding whitespace
    /// ignored; `identity` entries in a list are dropped, and more than one remaining coding is
    /// [`Encoding::Unsupported`] (the filter decodes one layer only).
    pub fn from_header(content_encoding: &str) -> Encoding {
        let mut found = Encoding::Identity;
        let mut count = 0usize;
        for token in content_encoding.split(',') {
            let token = token.trim();
            if token.is_empty() || token.eq_ignore_ascii_case("identity") {
                continue;
            }
            count += 1;
            found = if token.eq_ignore_ascii_case("gzip") || token.eq_ignore_ascii_case("x-gzip") {
                Encoding::Gzip
            } else if token.eq_ignore_ascii_case("deflate") {
                Encoding::Deflate
            } else {
                Encoding::Unsupported
            };
        }
        if count > 1 {
            Encoding::Unsupported
        } else {
            found
        }
    }
}

/// Why a compressed body could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a gzip header: wrong magic bytes, a method other than deflate, or reserved flags set.
    BadHeader,
    /// The deflate data is corrupt (or a zlib stream asks for a preset dictionary, or its
    /// Adler-32 does not match).
    Corrupt,
    /// The gzip trailer's CRC-32 or length does not match the decoded data.
    Checksum,
    /// The body ended before the end of the deflate stream or the gzip trailer.
    Truncated,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::BadHeader => "invalid gzip header",
            DecodeError::Corrupt => "corrupt deflate data",
            DecodeError::Checksum => "gzip checksum or length mismatch",
            DecodeError::Truncated => "compressed body truncated",
        })
    }
}

// gzip header flags (RFC 1952, 2.3.1).
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const FRESERVED: u8 = 0xE0;

/// Where the gzip header parser is.
#[derive(Clone, Copy, Debug)]
enum Header {
    /// The 10 fixed bytes: magic, method, flags, mtime, xfl, os.
    Fixed { got: u8, flags: u8 },
    /// The 2-byte little-endian FEXTRA length.
    ExtraLen { got: u8, len: u16, flags: u8 },
    /// Skipping FEXTRA data.
    Extra { left: u16, flags: u8 },
    /// Skipping the zero-terminated file name.
    Name { flags: u8 },
    /// Skipping the zero-terminated comment.
    Comment { flags: u8 },
    /// Skipping the 2-byte header CRC.
    Hcrc { got: u8 },
}

/// Outcome of one header byte.
enum HeaderStep {
    More(Header),
    Complete,
    /// Not a gzip member after a complete one: the rest is trailing garbage.
    NotAMember,
}

impl Header {
    const START: Header = Header::Fixed { got: 0, flags: 0 };

    /// The optional fields in the order they appear (RFC 1952, 2.3).
    const FIELDS: [u8; 4] = [FEXTRA, FNAME, FCOMMENT, FHCRC];

    /// The field that follows once the fixed part (`done` = 0) or field `done` is complete.
    fn after(flags: u8, done: u8) -> HeaderStep {
        let start = Header::FIELDS
            .iter()
            .position(|&f| f == done)
            .map_or(0, |i| i + 1);
        for &f in &Header::FIELDS[start..] {
            if flags & f == 0 {
                continue;
            }
            return HeaderStep::More(match f {
                FEXTRA => Header::ExtraLen {
                    got: 0,
                    len: 0,
                    flags,
                },
                FNAME => Header::Name { flags },
                FCOMMENT => Header::Comment { flags },
                _ => Header::Hcrc { got: 0 },
            });
        }
        HeaderStep::Complete
    }

    /// Consumes one header byte. `subsequent`: this is a member after the first one, where a
    /// magic mismatch means trailing garbage rather than an error.
    fn step(self, b: u8, subsequent: bool) -> Result<HeaderStep, DecodeError> {
        Ok(match self {
            Header::Fixed { got, flags } => {
                let flags = match got {
                    0 | 1 => {
                        let magic = if got == 0 { 0x1f } else { 0x8b };
                        if b != magic {
                            return if subsequent {
                                Ok(HeaderStep::NotAMember)
                            } else {
                                Err(DecodeError::BadHeader)
                            };
                        }
                        flags
                    }
                    2 => {
                        if b != 8 {
                            return Err(DecodeError::BadHeader);
                        }
                        flags
                    }
                    3 => {
                        if b & FRESERVED != 0 {
                            return Err(DecodeError::BadHeader);
                        }
                        b
                    }
                    _ => flags,
                };
                if got == 9 {
                    Header::after(flags, 0)
                } else {
                    HeaderStep::More(Header::Fixed {
                        got: got + 1,
                        flags,
                    })
                }
            }
            Header::ExtraLen { got, len, flags } => {
                let len = len | (u16::from(b) << (8 * got));
                if got == 1 {
                    if len == 0 {
                        Header::after(flags, FEXTRA)
                    } else {
                        HeaderStep::More(Header::Extra { left: len, flags })
                    }
                } else {
                    HeaderStep::More(Header::ExtraLen { got: 1, len, flags })
                }
            }
            Header::Extra { left, flags } => {
                if left <= 1 {
                    Header::after(flags, FEXTRA)
                } else {
                    HeaderStep::More(Header::Extra {
                        left: left - 1,
                        flags,
                    })
                }
            }
            Header::Name { flags } => {
                if b == 0 {
                    Header::after(flags, FNAME)
                } else {
                    HeaderStep::More(self)
                }
            }
            Header::Comment { flags } => {
                if b == 0 {
                    Header::after(flags, FCOMMENT)
                } else {
                    HeaderStep::More(self)
                }
            }
            Header::Hcrc { got } => {
                if got == 1 {
                    HeaderStep::Complete
                } else {
                    HeaderStep::More(Header::Hcrc { got: 1 })
                }
            }
        })
    }
}

/// Where the decoder is in the stream.
#[derive(Clone, Copy, Debug)]
enum Stage {
    /// Identity: bytes pass through.
    Passthrough,
    /// Inside a gzip member header.
    GzipHeader { header: Header, subsequent: bool },
    /// Deflate: collecting the first two bytes to tell zlib from raw deflate.
    Sniff { buf: [u8; 2], len: u8 },
    /// Inflating.
    Body,
    /// Collecting the 8-byte gzip trailer (CRC-32, ISIZE).
    Trailer { buf: [u8; 8], len: u8 },
    /// A gzip member is complete; another may follow.
    MemberDone,
    /// The stream is complete; later bytes are ignored.
    Done,
}

/// A streaming decoder for one response body. See the module documentation.
pub struct Decoder {
    encoding: Encoding,
    state: Option<Box<InflateState>>,
    window: Box<[u8]>,
    stage: Stage,
    crc: u32,
    size: u32,
    fed_any: bool,
    error: Option<DecodeError>,
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("encoding", &self.encoding)
            .field("stage", &self.stage)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder for `enc`; `None` for [`Encoding::Unsupported`]. Identity passes bytes through
    /// and allocates nothing.
    pub fn new(enc: Encoding) -> Option<Decoder> {
        let (state, window, stage) = match enc {
            Encoding::Unsupported => return None,
            Encoding::Identity => (None, Box::default(), Stage::Passthrough),
            Encoding::Gzip => (
                Some(InflateState::new_boxed(DataFormat::Raw)),
                vec![0u8; WINDOW].into_boxed_slice(),
                Stage::GzipHeader {
                    header: Header::START,
                    subsequent: false,
                },
            ),
            Encoding::Deflate => (
                Some(InflateState::new_boxed(DataFormat::Raw)),
                vec![0u8; WINDOW].into_boxed_slice(),
                Stage::Sniff {
                    buf: [0; 2],
                    len: 0,
                },
            ),
        };
        Some(Decoder {
            encoding: enc,
            state,
            window,
            stage,
            crc: 0,
            size: 0,
            fed_any: false,
            error: None,
        })
    }

    /// The encoding this decoder undoes.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Decompresses `input` (any split, incl. inside the gzip header/trailer) and hands each decoded piece to `out` (borrowed from the window, no allocation per chunk). Errors are sticky.
    pub fn feed(&mut self, input: &[u8], out: &mut dyn FnMut(&[u8])) -> Result<(), DecodeError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if !input.is_empty() {
            self.fed_any = true;
        }
        let r = self.feed_inner(input, out);
        if let Err(e) = r {
            self.error = Some(e);
        }
        r
    }

    /// Ends the stream: `Err` if it stopped before the end of the deflate stream or the gzip
    /// trailer (or an earlier error). A body that carried no bytes at all (a 204, a HEAD) is
    /// not an error.
    pub fn finish(&mut self) -> Result<(), DecodeError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let complete = match self.stage {
            Stage::Passthrough | Stage::MemberDone | Stage::Done => true,
            // After a complete member, a lone 0x1f is not yet a second member.
            Stage::GzipHeader {
                header: Header::Fixed { got, .. },
                subsequent: true,
            } => got < 2,
            _ => !self.fed_any,
        };
        if complete {
            Ok(())
        } else {
            self.error = Some(DecodeError::Truncated);
            Err(DecodeError::Truncated)
        }
    }

    fn feed_inner(
        &mut self,
        mut input: &[u8],
        out: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DecodeError> {
        while !input.is_empty() {
            match self.stage {
                Stage::Passthrough => {
                    out(input);
                    return Ok(());
                }
                Stage::Done => return Ok(()),
                Stage::MemberDone => {
                    self.stage = Stage::GzipHeader {
                        header: Header::START,
                        subsequent: true,
                    };
                }
                Stage::GzipHeader {
                    mut header,
                    subsequent,
                } => {
                    let mut next = None;
                    while let Some((&b, rest)) = input.split_first() {
                        input = rest;
                        match header.step(b, subsequent)? {
                            HeaderStep::More(h) => header = h,
                            HeaderStep::Complete => {
                                next = Some(Stage::Body);
                                break;
                            }
                            HeaderStep::NotAMember => {
                                next = Some(Stage::Done);
                                break;
                            }
                        }
                    }
                    self.stage = match next {
                        Some(Stage::Body) => {
                            if let Some(state) = self.state.as_mut() {
                                state.reset(DataFormat::Raw);
                            }
                            self.crc = 0;
                            self.size = 0;
                            Stage::Body
                        }
                        Some(s) => s,
                        None => Stage::GzipHeader { header, subsequent },
                    };
                }
                Stage::Sniff { mut buf, mut len } => {
                    while len < 2 {
                        let Some((&b, rest)) = input.split_first() else {
                            break;
                        };
                        buf[usize::from(len)] = b;
                        len += 1;
                        input = rest;
                    }
                    if len < 2 {
                        self.stage = Stage::Sniff { buf, len };
                        return Ok(());
                    }
                    let cmf = u16::from(buf[0]);
                    let zlib = cmf & 0x0f == 8
                        && cmf >> 4 <= 7
                        && (cmf << 8 | u16::from(buf[1])) % 31 == 0;
                    if let Some(state) = self.state.as_mut() {
                        state.reset(if zlib {
                            DataFormat::Zlib
                        } else {
                            DataFormat::Raw
                        });
                    }
                    self.stage = Stage::Body;
                    let rest = self.inflate(&buf, out)?;
                    if !rest.is_empty() {
                        // The stream ended within its first two bytes: nothing more to decode.
                        self.stage = Stage::Done;
                    }
                }
                Stage::Body => {
                    let consumed = input.len() - self.inflate(input, out)?.len();
                    input = &input[consumed..];
                }
                Stage::Trailer { mut buf, mut len } => {
                    while len < 8 {
                        let Some((&b, rest)) = input.split_first() else {
                            break;
                        };
                        buf[usize::from(len)] = b;
                        len += 1;
                        input = rest;
                    }
                    if len < 8 {
                        self.stage = Stage::Trailer { buf, len };
                        return Ok(());
                    }
                    let crc = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
                    let size = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
                    if crc != self.crc || size != self.size {
                        return Err(DecodeError::Checksum);
                    }
                    self.stage = Stage::MemberDone;
                }
            }
        }
        Ok(())
    }

    /// Inflates `input` until it is consumed or the deflate stream ends; returns the bytes not
    /// consumed (non-empty only after the end of the stream). Moves the stage on at the end.
    fn inflate<'a>(
        &mut self,
        mut input: &'a [u8],
        out: &mut dyn FnMut(&[u8]),
    ) -> Result<&'a [u8], DecodeError> {
        let Some(state) = self.state.as_mut() else {
            return Err(DecodeError::Corrupt);
        };
        loop {
            let res = inflate(state, input, &mut self.window, MZFlush::None);
            input = &input[res.bytes_consumed.min(input.len())..];
            let written = res.bytes_written.min(self.window.len());
            if written > 0 {
                let piece = &self.window[..written];
                if self.encoding == Encoding::Gzip {
                    self.crc = crc32_update(self.crc, piece);
                    // ISIZE is the length modulo 2^32 (RFC 1952).
                    self.size = self.size.wrapping_add(written as u32);
                }
                out(piece);
            }
            match res.status {
                Ok(MZStatus::StreamEnd) => {
                    self.stage = if self.encoding == Encoding::Gzip {
                        Stage::Trailer {
                            buf: [0; 8],
                            len: 0,
                        }
                    } else {
                        Stage::Done
                    };
                    return Ok(input);
                }
                Ok(MZStatus::Ok) => {
                    // With the input used up, stop unless the window was filled or the
                    // decompressor still holds output it could not place in its dictionary.
                    if input.is_empty()
                        && written < self.window.len()
                        && state.last_status() != TINFLStatus::HasMoreOutput
                    {
                        return Ok(input);
                    }
                    if res.bytes_consumed == 0 && written == 0 {
                        // No progress with input left: cannot happen with valid data.
                        return Err(DecodeError::Corrupt);
                    }
                }
                // Waiting for input that this chunk did not have.
                Err(MZError::Buf) if input.is_empty() => return Ok(input),
                Ok(MZStatus::NeedDict) | Err(_) => return Err(DecodeError::Corrupt),
            }
        }
    }
}

/// CRC-32 (IEEE 802.3, reflected, as gzip uses) lookup tables for slicing by 8: `CRC_TABLES[0]`
/// is the classic byte table, `CRC_TABLES[k][b]` the CRC of byte `b` followed by `k` zero bytes,
/// so eight bytes cost eight lookups and no loop-carried shift per byte (the gzip trailer and
/// every AWS event-stream message run through it, byte for byte).
const CRC_TABLES: [[u32; 256]; 8] = {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = t[0][(prev & 0xff) as usize] ^ (prev >> 8);
            i += 1;
        }
        k += 1;
    }
    t
};

/// Continues a CRC-32 over `data` (start with 0). Also checks AWS event-stream messages.
pub(crate) fn crc32_update(crc: u32, data: &[u8]) -> u32 {
    let [t0, t1, t2, t3, t4, t5, t6, t7] = &CRC_TABLES;
    let mut c = !crc;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let lo = u32::from_le_bytes([w[0], w[1], w[2], w[3]]) ^ c;
        c = t7[(lo & 0xff) as usize]
            ^ t6[((lo >> 8) & 0xff) as usize]
            ^ t5[((lo >> 16) & 0xff) as usize]
            ^ t4[(lo >> 24) as usize]
            ^ t3[usize::from(w[4])]
            ^ t2[usize::from(w[5])]
            ^ t1[usize::from(w[6])]
            ^ t0[usize::from(w[7])];
    }
    for &b in words.remainder() {
        c = t0[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;
    use miniz_oxide::deflate::{compress_to_vec, compress_to_vec_zlib};

    /// An SSE body compressed by Python's `gzip.GzipFile(filename="hello.txt", mtime=0)`:
    /// a header with FNAME.
    const PY_GZIP: &[u8] = &[
        0x1f, 0x8b, 0x08, 0x08, 0x00, 0x00, 0x00, 0x00, 0x02, 0xff, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
        0x2e, 0x74, 0x78, 0x74, 0x00, 0x3d, 0xcc, 0xb1, 0x0a, 0xc2, 0x30, 0x10, 0xc6, 0xf1, 0x3d,
        0x4f, 0x21, 0x37, 0xd7, 0x21, 0xdd, 0x9a, 0x59, 0xc1, 0x49, 0x1f, 0xa0, 0x94, 0x72, 0x24,
        0x87, 0x06, 0xaf, 0xb9, 0x60, 0xaf, 0x53, 0xc8, 0xbb, 0x1b, 0x41, 0x32, 0x7e, 0x7f, 0x3e,
        0x7e, 0x01, 0x15, 0xdd, 0xa9, 0x40, 0x0c, 0xe0, 0xc0, 0xbf, 0x50, 0xfd, 0x96, 0xf9, 0x6c,
        0x61, 0x68, 0x43, 0xa2, 0xa7, 0x1d, 0xdc, 0x5c, 0x20, 0x10, 0x2b, 0x82, 0x2b, 0xe0, 0x25,
        0x29, 0x25, 0x6d, 0xdf, 0x1b, 0x31, 0x0b, 0xd4, 0xba, 0x54, 0x63, 0xc2, 0x1f, 0x39, 0x76,
        0x7c, 0xd2, 0xef, 0x96, 0x3f, 0xb2, 0x65, 0x5d, 0x55, 0xde, 0x94, 0x9a, 0x30, 0x35, 0xad,
        0x05, 0x26, 0x8d, 0x92, 0x7a, 0xb5, 0xe3, 0x00, 0x2a, 0x8a, 0xdc, 0xcb, 0x68, 0x6b, 0xd7,
        0xe6, 0xcb, 0xe3, 0x7e, 0x5d, 0x8c, 0xf9, 0x02, 0x5a, 0x7e, 0xad, 0x94, 0xa1, 0x00, 0x00,
        0x00,
    ];
    const PY_PLAIN: &[u8] = b"data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"delta\":{\"content\":\"Hello\"}}]}\n\ndata: {\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":12,\"total_tokens\":21}}\n\ndata: [DONE]\n\n";

    /// A gzip member with every optional header field, around `compress_to_vec` output.
    fn gzip_all_fields(plain: &[u8]) -> Vec<u8> {
        let mut v = vec![
            0x1f,
            0x8b,
            8,
            FEXTRA | FNAME | FCOMMENT | FHCRC,
            1,
            2,
            3,
            4,
            0,
            3,
        ];
        v.extend_from_slice(&[5, 0, b'A', b'B', 2, 0, 0xaa]); // XLEN=5, one subfield
        v.extend_from_slice(b"name.json\0");
        v.extend_from_slice(b"a comment\0");
        v.extend_from_slice(&[0x12, 0x34]); // header CRC (not checked)
        v.extend_from_slice(&compress_to_vec(plain, 6));
        v.extend_from_slice(&crc32_update(0, plain).to_le_bytes());
        v.extend_from_slice(&(plain.len() as u32).to_le_bytes());
        v
    }

    fn big_plain() -> Vec<u8> {
        // Compressible but not trivially so; larger than two output windows.
        let mut v = Vec::new();
        let mut x: u32 = 12345;
        while v.len() < 3 * WINDOW + 777 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            v.extend_from_slice(
                format!("data: {{\"n\":{},\"w\":\"tok{}\"}}\n\n", x >> 16, x % 97).as_bytes(),
            );
        }
        v
    }

    fn decode_chunks(enc: Encoding, chunks: &[&[u8]]) -> Result<Vec<u8>, DecodeError> {
        let mut d = Decoder::new(enc).unwrap();
        let mut got = Vec::new();
        for c in chunks {
            d.feed(c, &mut |p| {
                assert!(p.len() <= WINDOW);
                got.extend_from_slice(p)
            })?;
        }
        d.finish()?;
        Ok(got)
    }

    fn check_all_splits(enc: Encoding, data: &[u8], plain: &[u8]) {
        assert_eq!(decode_chunks(enc, &[data]).unwrap(), plain, "whole");
        let bytes: Vec<&[u8]> = data.chunks(1).collect();
        assert_eq!(decode_chunks(enc, &bytes).unwrap(), plain, "byte by byte");
        for i in 0..=data.len() {
            let (a, b) = data.split_at(i);
            assert_eq!(decode_chunks(enc, &[a, b]).unwrap(), plain, "split at {i}");
        }
    }

    #[test]
    fn header_classification() {
        assert_eq!(Encoding::from_header(""), Encoding::Identity);
        assert_eq!(Encoding::from_header("identity"), Encoding::Identity);
        assert_eq!(Encoding::from_header(" GZip "), Encoding::Gzip);
        assert_eq!(Encoding::from_header("x-gzip"), Encoding::Gzip);
        assert_eq!(Encoding::from_header("Deflate"), Encoding::Deflate);
        assert_eq!(Encoding::from_header("br"), Encoding::Unsupported);
        assert_eq!(Encoding::from_header("zstd"), Encoding::Unsupported);
        assert_eq!(Encoding::from_header("gzip, br"), Encoding::Unsupported);
        assert_eq!(Encoding::from_header("gzip, gzip"), Encoding::Unsupported);
        assert_eq!(Encoding::from_header("gzip, identity"), Encoding::Gzip);
        assert!(Decoder::new(Encoding::Unsupported).is_none());
    }

    #[test]
    fn identity_passes_through() {
        assert_eq!(
            decode_chunks(Encoding::Identity, &[b"ab", b"", b"c"]).unwrap(),
            b"abc"
        );
    }

    #[test]
    fn python_gzip_any_split() {
        check_all_splits(Encoding::Gzip, PY_GZIP, PY_PLAIN);
    }

    #[test]
    fn gzip_with_every_header_field_any_split() {
        let plain = b"{\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}";
        check_all_splits(Encoding::Gzip, &gzip_all_fields(plain), plain);
    }

    #[test]
    fn large_gzip_streams_through_the_window() {
        let plain = big_plain();
        let gz = gzip_all_fields(&plain);
        assert_eq!(decode_chunks(Encoding::Gzip, &[&gz]).unwrap(), plain);
        let bytes: Vec<&[u8]> = gz.chunks(1).collect();
        assert_eq!(decode_chunks(Encoding::Gzip, &bytes).unwrap(), plain);
        let odd: Vec<&[u8]> = gz.chunks(4099).collect();
        assert_eq!(decode_chunks(Encoding::Gzip, &odd).unwrap(), plain);
    }

    #[test]
    fn zlib_and_raw_deflate_any_split() {
        let plain = PY_PLAIN;
        check_all_splits(Encoding::Deflate, &compress_to_vec_zlib(plain, 6), plain);
        check_all_splits(Encoding::Deflate, &compress_to_vec(plain, 6), plain);
        let big = big_plain();
        assert_eq!(
            decode_chunks(Encoding::Deflate, &[&compress_to_vec_zlib(&big, 1)]).unwrap(),
            big
        );
        assert_eq!(
            decode_chunks(Encoding::Deflate, &[&compress_to_vec(&big, 9)]).unwrap(),
            big
        );
    }

    #[test]
    fn truncated_streams_fail_at_finish() {
        for cut in [1, 5, 10, 15, 40, PY_GZIP.len() - 8, PY_GZIP.len() - 1] {
            let mut d = Decoder::new(Encoding::Gzip).unwrap();
            d.feed(&PY_GZIP[..cut], &mut |_| {}).unwrap();
            assert_eq!(d.finish(), Err(DecodeError::Truncated), "cut at {cut}");
            // Sticky.
            assert_eq!(
                d.feed(&PY_GZIP[cut..], &mut |_| {}),
                Err(DecodeError::Truncated)
            );
        }
        let z = compress_to_vec_zlib(PY_PLAIN, 6);
        for cut in [1, 2, z.len() / 2, z.len() - 1] {
            let mut d = Decoder::new(Encoding::Deflate).unwrap();
            d.feed(&z[..cut], &mut |_| {}).unwrap();
            assert_eq!(d.finish(), Err(DecodeError::Truncated), "cut at {cut}");
        }
    }

    #[test]
    fn empty_body_is_not_an_error() {
        assert_eq!(decode_chunks(Encoding::Gzip, &[]).unwrap(), b"");
        assert_eq!(decode_chunks(Encoding::Deflate, &[b""]).unwrap(), b"");
    }

    #[test]
    fn garbage_is_an_error_and_sticky() {
        let mut d = Decoder::new(Encoding::Gzip).unwrap();
        assert_eq!(
            d.feed(b"{\"not\":\"gzip\"}", &mut |_| {}),
            Err(DecodeError::BadHeader)
        );
        assert_eq!(d.feed(PY_GZIP, &mut |_| {}), Err(DecodeError::BadHeader));
        assert_eq!(d.finish(), Err(DecodeError::BadHeader));

        // Method other than deflate; reserved flag bits.
        assert_eq!(
            decode_chunks(Encoding::Gzip, &[&[0x1f, 0x8b, 7, 0]]),
            Err(DecodeError::BadHeader)
        );
        assert_eq!(
            decode_chunks(Encoding::Gzip, &[&[0x1f, 0x8b, 8, 0x20]]),
            Err(DecodeError::BadHeader)
        );

        // Corrupt deflate data after a valid header (block type 3 is invalid).
        let mut bad = PY_GZIP[..20].to_vec();
        bad.extend_from_slice(&[0xff; 32]);
        assert_eq!(
            decode_chunks(Encoding::Gzip, &[&bad]),
            Err(DecodeError::Corrupt)
        );
        assert_eq!(
            decode_chunks(Encoding::Deflate, &[&[0xff; 32]]),
            Err(DecodeError::Corrupt)
        );

        // A zlib stream with a wrong Adler-32.
        let mut z = compress_to_vec_zlib(PY_PLAIN, 6);
        let n = z.len();
        z[n - 1] ^= 1;
        assert_eq!(
            decode_chunks(Encoding::Deflate, &[&z]),
            Err(DecodeError::Corrupt)
        );
    }

    /// Found by fuzzing: a dynamic block whose Huffman code is over-subscribed (more codes than
    /// its bit lengths allow) is corrupt, as zlib says; miniz_oxide 0.8 decoded a byte of it and
    /// waited for more (`Truncated`). 0.9 checks the code as zlib's inftrees.c does.
    #[test]
    fn over_subscribed_huffman_code_is_corrupt() {
        let bad: &[u8] = &[
            109, 48, 48, 101, 255, 255, 255, 255, 255, 255, 255, 255, 7, 255, 71, 20, 0, 0, 0,
        ];
        for cut in 0..=bad.len() {
            let (a, b) = bad.split_at(cut);
            assert_eq!(
                decode_chunks(Encoding::Deflate, &[a, b]),
                Err(DecodeError::Corrupt),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn gzip_trailer_is_checked() {
        let mut gz = PY_GZIP.to_vec();
        let n = gz.len();
        gz[n - 8] ^= 1; // CRC
        assert_eq!(
            decode_chunks(Encoding::Gzip, &[&gz]),
            Err(DecodeError::Checksum)
        );
        let mut gz = PY_GZIP.to_vec();
        gz[n - 4] ^= 1; // ISIZE
        assert_eq!(
            decode_chunks(Encoding::Gzip, &[&gz]),
            Err(DecodeError::Checksum)
        );
    }

    #[test]
    fn multi_member_gzip_and_trailing_garbage() {
        let second = gzip_all_fields(b"second member");
        let mut both = PY_GZIP.to_vec();
        both.extend_from_slice(&second);
        let mut want = PY_PLAIN.to_vec();
        want.extend_from_slice(b"second member");
        check_all_splits(Encoding::Gzip, &both, &want);

        // Trailing zeros / garbage after a member are ignored.
        let mut padded = PY_GZIP.to_vec();
        padded.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(decode_chunks(Encoding::Gzip, &[&padded]).unwrap(), PY_PLAIN);
        let mut lone = PY_GZIP.to_vec();
        lone.push(0x1f);
        assert_eq!(decode_chunks(Encoding::Gzip, &[&lone]).unwrap(), PY_PLAIN);
        // A second member that starts but stops is truncated.
        let mut cut = PY_GZIP.to_vec();
        cut.extend_from_slice(&second[..12]);
        assert_eq!(
            decode_chunks(Encoding::Gzip, &[&cut]),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32_update(0, b"123456789"), 0xCBF4_3926);
        // Slicing by 8 agrees with the byte-at-a-time definition at every length and offset.
        let data: Vec<u8> = (0u32..300).map(|i| (i * 37 + 11) as u8).collect();
        let bytewise = |crc: u32, d: &[u8]| {
            let mut c = !crc;
            for &b in d {
                c = CRC_TABLES[0][((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
            }
            !c
        };
        for a in 0..40 {
            for b in a..data.len() {
                assert_eq!(crc32_update(7, &data[a..b]), bytewise(7, &data[a..b]));
            }
        }
        assert_eq!(
            crc32_update(crc32_update(0, b"1234"), b"56789"),
            0xCBF4_3926
        );
    }
}
