//! `Decoder` against a whole-buffer reference built on flate2 (miniz_oxide's inflate), and
//! against the plaintext of streams compressed here.
//!
//! Input: the first byte chooses the mode (`byte % 4`), the rest is:
//! - 0: a gzip body, as it is; 1: a `deflate` body (zlib or raw), as it is. The decoded bytes
//!   and the verdict (`Ok`, or which `DecodeError`) must be the reference's.
//! - 2: an option byte and a plaintext, compressed here as gzip (level, optional header fields
//!   FEXTRA/FNAME/FCOMMENT/FHCRC, one or two members, trailing garbage); 3: the same as zlib or
//!   raw deflate (level, trailing bytes). The decoder must give back the plaintext exactly.
//!
//! And for every split: the same verdict and output (before an error: the same text, maybe
//! shorter), no inflated piece handed out larger than [`WINDOW`], errors sticky (every later
//! `feed` and `finish` returns the first error).

use std::io::Write;

use flate2::{Compression, Crc, Decompress, FlushDecompress, Status};
use llm_telemetry_core::decode::{DecodeError, Decoder, Encoding, WINDOW};

use crate::split::{pieces, plans, Rng};

/// What decoding a body gave: the bytes handed out, and the verdict.
pub type Decoded = (Vec<u8>, Result<(), DecodeError>);

/// Feeds `chunks` through a decoder for `enc`, checking the per-call properties.
pub fn decode(enc: Encoding, chunks: &[&[u8]]) -> Decoded {
    let Some(mut d) = Decoder::new(enc) else {
        panic!("{enc:?} has a decoder");
    };
    let mut out = Vec::new();
    let mut first_error = None;
    for c in chunks {
        let mut piece = |p: &[u8]| {
            // Identity passes each chunk on whole; inflating goes through the window.
            assert!(
                enc == Encoding::Identity || p.len() <= WINDOW,
                "piece of {} bytes",
                p.len()
            );
            out.extend_from_slice(p);
        };
        let r = d.feed(c, &mut piece);
        match first_error {
            Some(e) => assert_eq!(r, Err(e), "errors are sticky"),
            None => first_error = r.err(),
        }
    }
    let finish = d.finish();
    if let Some(e) = first_error {
        assert_eq!(finish, Err(e), "finish repeats the first error");
    }
    (out, finish)
}

/// Inflates one deflate stream (zlib-wrapped or raw) from the start of `input`: the output and
/// how many input bytes the stream took.
fn inflate(input: &[u8], zlib: bool) -> Result<(Vec<u8>, usize), DecodeError> {
    let mut d = Decompress::new(zlib);
    let mut out = Vec::new();
    loop {
        let before = (d.total_in(), d.total_out());
        out.reserve(64 * 1024);
        let rest = input.get(d.total_in() as usize..).unwrap_or_default();
        match d.decompress_vec(rest, &mut out, FlushDecompress::None) {
            Err(_) => return Err(DecodeError::Corrupt),
            Ok(Status::StreamEnd) => return Ok((out, d.total_in() as usize)),
            Ok(_) if (d.total_in(), d.total_out()) == before => return Err(DecodeError::Truncated),
            Ok(_) => {}
        }
    }
}

/// HTTP `deflate`, whole buffer: zlib when the first two bytes are a zlib header (RFC 1950: CM 8,
/// CINFO at most 7, FCHECK), raw deflate otherwise; bytes after the stream are ignored.
fn reference_deflate(input: &[u8]) -> Decoded {
    match input {
        [] => (Vec::new(), Ok(())),
        [_] => (Vec::new(), Err(DecodeError::Truncated)),
        [cmf, flg, ..] => {
            let zlib = cmf & 0x0f == 8
                && cmf >> 4 <= 7
                && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0;
            match inflate(input, zlib) {
                Ok((out, _)) => (out, Ok(())),
                Err(e) => (Vec::new(), Err(e)),
            }
        }
    }
}

/// Length of the gzip member header at the start of `m` (RFC 1952 2.3), checked byte by byte in
/// order as a streaming parser meets them: a wrong byte is `BadHeader`, a missing one `Truncated`.
fn gzip_header_len(m: &[u8]) -> Result<usize, DecodeError> {
    let byte = |i: usize| m.get(i).copied().ok_or(DecodeError::Truncated);
    if byte(0)? != 0x1f || byte(1)? != 0x8b || byte(2)? != 8 {
        return Err(DecodeError::BadHeader);
    }
    let flags = byte(3)?;
    if flags & 0xE0 != 0 {
        return Err(DecodeError::BadHeader);
    }
    byte(9)?;
    let mut at = 10;
    if flags & 0x04 != 0 {
        let len = usize::from(byte(at)?) | usize::from(byte(at + 1)?) << 8;
        at += 2 + len;
        if len > 0 {
            byte(at - 1)?;
        }
    }
    for flag in [0x08, 0x10] {
        if flags & flag != 0 {
            while byte(at)? != 0 {
                at += 1;
            }
            at += 1;
        }
    }
    if flags & 0x02 != 0 {
        byte(at + 1)?;
        at += 2;
    }
    Ok(at)
}

/// gzip, whole buffer: members one after another, each CRC-32 and length checked; after a member,
/// bytes that do not start with the gzip magic are ignored (as `gzip -d` does), and so is a lone
/// `0x1f` at the very end.
fn reference_gzip(input: &[u8]) -> Decoded {
    let mut out = Vec::new();
    let mut rest = input;
    let mut first = true;
    loop {
        if !first && !rest.starts_with(&[0x1f, 0x8b]) {
            return (out, Ok(()));
        }
        if first && rest.is_empty() {
            return (out, Ok(()));
        }
        first = false;
        let member = gzip_header_len(rest).and_then(|h| {
            let (plain, used) = inflate(&rest[h..], false)?;
            let trailer = rest
                .get(h + used..h + used + 8)
                .ok_or(DecodeError::Truncated)?;
            let mut crc = Crc::new();
            crc.update(&plain);
            let size = (plain.len() as u64 & 0xFFFF_FFFF) as u32;
            if trailer[..4] != crc.sum().to_le_bytes() || trailer[4..] != size.to_le_bytes() {
                return Err(DecodeError::Checksum);
            }
            Ok((plain, h + used + 8))
        });
        match member {
            Ok((plain, len)) => {
                out.extend_from_slice(&plain);
                rest = &rest[len..];
            }
            Err(e) => return (out, Err(e)),
        }
    }
}

fn deflate_raw(plain: &[u8], level: u32) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), Compression::new(level));
    e.write_all(plain)
        .and_then(|()| e.finish())
        .unwrap_or_default()
}

fn zlib(plain: &[u8], level: u32) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), Compression::new(level));
    e.write_all(plain)
        .and_then(|()| e.finish())
        .unwrap_or_default()
}

/// One gzip member of `plain`, with the optional header fields `flags` asks for.
pub fn gzip_member(plain: &[u8], level: u32, flags: u8) -> Vec<u8> {
    let flags = flags & 0x1E;
    let mut m = vec![0x1f, 0x8b, 8, flags, 0x5d, 0x2c, 0x6e, 0x67, 0, 3];
    if flags & 0x04 != 0 {
        m.extend_from_slice(&[6, 0, b'A', b'p', 2, 0, b'h', b'i']);
    }
    if flags & 0x08 != 0 {
        m.extend_from_slice(b"body.json\0");
    }
    if flags & 0x10 != 0 {
        m.extend_from_slice(b"a comment\0");
    }
    if flags & 0x02 != 0 {
        let mut crc = Crc::new();
        crc.update(&m);
        m.extend_from_slice(&crc.sum().to_le_bytes()[..2]);
    }
    m.extend_from_slice(&deflate_raw(plain, level));
    let mut crc = Crc::new();
    crc.update(plain);
    m.extend_from_slice(&crc.sum().to_le_bytes());
    m.extend_from_slice(&((plain.len() as u64 & 0xFFFF_FFFF) as u32).to_le_bytes());
    m
}

const LEVELS: [u32; 4] = [0, 1, 6, 9];

/// `plain` compressed as `options` says (mode 2: gzip, mode 3: deflate), with the encoding.
fn compress(mode: u8, options: u8, plain: &[u8]) -> (Encoding, Vec<u8>) {
    let level = LEVELS[usize::from(options & 3)];
    if mode == 2 {
        // Header fields from bits 1-4 (FHCRC, FEXTRA, FNAME, FCOMMENT), bit 5: two members,
        // bit 6: trailing garbage that does not start another member.
        let mut body = if options & 0x20 != 0 {
            let (a, b) = plain.split_at(plain.len() / 2);
            let mut two = gzip_member(a, level, options);
            two.extend_from_slice(&gzip_member(b, level, options.rotate_left(1)));
            two
        } else {
            gzip_member(plain, level, options)
        };
        if options & 0x40 != 0 {
            body.extend_from_slice(b"\n\0trailing");
        }
        (Encoding::Gzip, body)
    } else {
        let mut body = if options & 0x04 != 0 {
            zlib(plain, level)
        } else {
            deflate_raw(plain, level)
        };
        if options & 0x08 != 0 {
            body.extend_from_slice(b"\x1f\x8btrailing");
        }
        (Encoding::Deflate, body)
    }
}

/// The decoder's properties on `data` (see the module documentation).
pub fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mode = mode % 4;
    let (enc, body, want) = match mode {
        0 => (Encoding::Gzip, rest.to_vec(), reference_gzip(rest)),
        1 => (Encoding::Deflate, rest.to_vec(), reference_deflate(rest)),
        _ => {
            let (options, plain) = rest.split_first().unwrap_or((&0, &[]));
            let (enc, body) = compress(mode, *options, plain);
            (enc, body, (plain.to_vec(), Ok(())))
        }
    };
    let mut rng = Rng::from_bytes(data);
    let whole = decode(enc, &[&body]);
    match (&whole.1, &want.1) {
        (Ok(()), Ok(())) => assert!(whole.0 == want.0, "decoded bytes differ from the reference"),
        (got, want) => assert_eq!(got, want, "verdict differs from the reference"),
    }
    for cuts in plans(body.len(), &mut rng) {
        let got = decode(enc, &pieces(&body, &cuts));
        assert_eq!(got.1, whole.1, "split at {cuts:?}: verdict");
        if whole.1.is_ok() {
            assert!(got.0 == whole.0, "split at {cuts:?}: decoded bytes differ");
        } else {
            // Before an error the inflater may or may not have handed out what it decoded from
            // the last piece; whatever was handed out is the same text.
            let n = got.0.len().min(whole.0.len());
            assert!(
                got.0[..n] == whole.0[..n],
                "split at {cuts:?}: bytes before the error"
            );
        }
    }
    if mode >= 2 {
        assert!(
            decode(Encoding::Identity, &[&want.0]).0 == want.0,
            "identity passes bytes"
        );
    }
}
