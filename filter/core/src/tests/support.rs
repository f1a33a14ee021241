//! Test support shared by the incremental parsers: feeding an input cut at chosen offsets, the
//! split-invariance check every one of them must pass (whole, byte by byte, split at every offset,
//! and two-way splits), and test-side encoders (base64, AWS event-stream).

use std::fmt::Debug;

/// The pieces of `input` cut at `cuts` (sorted, each at most `input.len()`; empty pieces kept, as
/// Envoy may hand a filter an empty chunk).
pub fn pieces<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut from = 0;
    for &c in cuts {
        out.push(&input[from..c]);
        from = c;
    }
    out.push(&input[from..]);
    out
}

/// Runs `run` on `input` whole, byte by byte, split once at every offset, and split twice (every
/// pair when the input is at most `all_pairs_up_to` bytes long, else on a stride that still
/// crosses every region), asserting the outcome never changes. Returns the whole-input outcome.
pub fn assert_split_invariant<T: PartialEq + Debug>(
    name: &str,
    input: &[u8],
    all_pairs_up_to: usize,
    mut run: impl FnMut(&[&[u8]]) -> T,
) -> T {
    let whole = run(&[input]);
    let bytewise: Vec<usize> = (1..input.len()).collect();
    assert_eq!(run(&pieces(input, &bytewise)), whole, "{name} byte by byte");
    for a in 0..=input.len() {
        assert_eq!(run(&pieces(input, &[a])), whole, "{name} split at {a}");
    }
    let (step_a, step_b) = if input.len() <= all_pairs_up_to {
        (1, 1)
    } else {
        (37, 23)
    };
    for a in (0..=input.len()).step_by(step_a) {
        for b in (a..=input.len()).step_by(step_b) {
            assert_eq!(
                run(&pieces(input, &[a, b])),
                whole,
                "{name} split at {a},{b}"
            );
        }
    }
    whole
}

/// A small deterministic generator (xorshift) for randomized differential tests.
pub struct Rng(pub u64);

impl Rng {
    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    /// Up to `max` sorted cut points within `len`.
    pub fn cuts(&mut self, len: usize, max: usize) -> Vec<usize> {
        let n = self.below(max + 1);
        let mut cuts: Vec<usize> = (0..n).map(|_| self.below(len + 1)).collect();
        cuts.sort_unstable();
        cuts
    }
}

pub use crate::event_stream::encode::{
    base64, chunk_payload, header, message, string_message, HeaderValue,
};

/// Re-encodes a `tests/fixtures/*.events.json` list as `make_event_streams.py` does.
pub fn encode_event_list(json: &str) -> Vec<u8> {
    let events: Vec<serde_json::Value> = serde_json::from_str(json).unwrap();
    let mut out = Vec::new();
    for e in &events {
        let headers: Vec<(String, String)> = e["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| {
                let text = |i: usize| pair[i].as_str().unwrap().to_owned();
                (text(0), text(1))
            })
            .collect();
        let payload = match e.get("chunk") {
            Some(chunk) => {
                chunk_payload(chunk.as_str().unwrap().as_bytes(), e["p"].as_str().unwrap())
            }
            None => e["payload"].as_str().unwrap().to_owned(),
        };
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        out.extend(string_message(&pairs, payload.as_bytes()));
    }
    out
}
