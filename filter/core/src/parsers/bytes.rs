//! Byte search eight bytes at a time (SWAR): plain wasm32 has no SIMD, and these loops run over
//! every byte of every streamed response.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Marks (high bit) the bytes of `word` equal to `b`. Exact for the lowest marked byte, which is
/// the only one the callers read.
fn matches(word: u64, b: u8) -> u64 {
    let x = word ^ (LO * u64::from(b));
    x.wrapping_sub(LO) & !x & HI
}

/// One unaligned little-endian load (callers pass exactly eight bytes).
#[inline(always)]
fn word(chunk: &[u8]) -> u64 {
    <[u8; 8]>::try_from(chunk).map_or(0, u64::from_le_bytes)
}

/// Index of the first byte of `hay` that `marks` flags in its word (and `is` confirms in the
/// unaligned remainder).
#[inline(always)]
fn find_by(hay: &[u8], marks: impl Fn(u64) -> u64, is: impl Fn(u8) -> bool) -> Option<usize> {
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let m = marks(word(chunk));
        if m != 0 {
            return Some(base + (m.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| is(c))
        .map(|p| base + p)
}

/// Index of the first `a` in `hay`.
#[inline]
pub fn find(hay: &[u8], a: u8) -> Option<usize> {
    find_by(hay, |w| matches(w, a), |c| c == a)
}

/// Index of the first `a` or `b` in `hay`.
#[inline]
pub fn find2(hay: &[u8], a: u8, b: u8) -> Option<usize> {
    find_by(hay, |w| matches(w, a) | matches(w, b), |c| c == a || c == b)
}

/// Marks (high bit) the bytes of `word` below `n` (`n` <= 0x80). Exact for the lowest marked
/// byte, like [`matches`].
fn below(word: u64, n: u8) -> u64 {
    word.wrapping_sub(LO * u64::from(n)) & !word & HI
}

/// Index of the first line ending (`\n` or `\r`) in `hay`. One comparison per word finds the
/// bytes below 0x0E (the two line endings and the control characters around them, which text
/// almost never holds); a false alarm is stepped over.
#[inline]
pub fn find_line_end(hay: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let rest = hay.get(from..)?;
        let at = from + find_by(rest, |w| below(w, 0x0E), |c| c < 0x0E)?;
        if matches!(hay.get(at), Some(b'\n' | b'\r')) {
            return Some(at);
        }
        from = at + 1;
    }
}

/// Index of the first byte of `hay` a JSON string must escape: a control character (below
/// 0x20), `"` or `\\`.
#[inline]
pub fn find_json_escape(hay: &[u8]) -> Option<usize> {
    find_by(
        hay,
        |w| below(w, 0x20) | matches(w, b'"') | matches(w, b'\\'),
        |c| c < 0x20 || c == b'"' || c == b'\\',
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_line_ending_past_other_control_bytes() {
        for len in 0..40 {
            for at in 0..len {
                for eol in [b'\n', b'\r'] {
                    // Control bytes that are not line endings before it, anything after.
                    let mut hay: Vec<u8> = (0..len)
                        .map(|i| [b'a', 0x00, b'\t', 0x0b, 0x0c, 0x0e, 0xff][i % 7])
                        .collect();
                    hay[at] = eol;
                    for b in hay.iter_mut().skip(at + 1) {
                        *b = b'\n';
                    }
                    assert_eq!(find_line_end(&hay), Some(at), "len {len} at {at}");
                }
            }
            let hay: Vec<u8> = (0..len)
                .map(|i| [b'x', b'\t', 0x0b, 0x0c, 0x00][i % 5])
                .collect();
            assert_eq!(find_line_end(&hay), None);
        }
    }

    #[test]
    fn finds_the_first_match_at_every_position() {
        for len in 0..40 {
            for at in 0..len {
                let mut hay = vec![b'a'; len];
                hay[at] = b'"';
                if at + 1 < len {
                    hay[at + 1] = b'\\';
                }
                assert_eq!(find(&hay, b'"'), Some(at));
                assert_eq!(find2(&hay, b'\\', b'"'), Some(at));
                assert_eq!(find2(&hay, b'\n', b'\r'), None);
                for special in [0u8, b'\n', 0x1f, b'"', b'\\'] {
                    // Bytes just outside the escaped set before it, other escaped bytes after.
                    let mut hay: Vec<u8> =
                        (0..len).map(|i| [0x20, 0x7f, 0x80, 0xff][i % 4]).collect();
                    hay[at] = special;
                    for b in hay.iter_mut().skip(at + 1) {
                        *b = 0;
                    }
                    assert_eq!(find_json_escape(&hay), Some(at), "{special:#x} at {at}");
                }
            }
            // UTF-8 and DEL need no escape.
            assert_eq!(find_json_escape(&vec![0x7f; len]), None);
            assert_eq!(find_json_escape("é".repeat(len).as_bytes()), None);
            assert_eq!(find_json_escape(&vec![b' '; len]), None);
            // Bytes that differ only in the high bit are not matches.
            assert_eq!(find(&vec![0x80 | b'"'; len], b'"'), None);
        }
    }
}
