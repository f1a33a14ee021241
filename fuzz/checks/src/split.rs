//! Deterministic randomness and the ways an input is cut into chunks.
//!
//! Split points come from a hash of the input itself, so a corpus file stays the raw payload (a
//! fixture can be dropped in as it is), a failure replays exactly, and every mutation the fuzzer
//! makes also moves the cuts.

/// xorshift64*: small, fast, good enough to pick cut points and generator choices.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (0 is remapped: xorshift must not start at 0).
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// A generator seeded from the bytes of `data` (FNV-1a).
    pub fn from_bytes(data: &[u8]) -> Rng {
        let mut h = 0xCBF2_9CE4_8422_2325u64;
        for &b in data {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01B3);
        }
        Rng::new(h)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability 1/`n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// One element of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Inputs up to this size are also fed one byte per chunk.
const BYTEWISE_MAX: usize = 2048;

/// Ways of cutting an input of `len` bytes: sorted cut offsets, `[]` meaning "whole". Always the
/// whole input and one random cut; byte by byte for inputs up to 2 KiB; then a few random
/// multi-cut plans (clusters of adjacent cuts included, as Envoy hands over tiny chunks too).
pub fn plans(len: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    let mut plans = vec![Vec::new(), vec![rng.below(len + 1)]];
    if len > 1 && len <= BYTEWISE_MAX {
        plans.push((1..len).collect());
    }
    for _ in 0..3 {
        let mut cuts: Vec<usize> = (0..1 + rng.below(12))
            .flat_map(|_| {
                let at = rng.below(len + 1);
                let run = if rng.one_in(3) { rng.below(4) } else { 0 };
                (at..=(at + run).min(len)).collect::<Vec<_>>()
            })
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        plans.push(cuts);
    }
    plans
}

/// The chunks of `data` cut at `cuts` (sorted, each at most `data.len()`). A cut at either end
/// gives an empty chunk, as a host may deliver one.
pub fn pieces<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut from = 0;
    for &c in cuts {
        let c = c.clamp(from, data.len());
        out.push(&data[from..c]);
        from = c;
    }
    out.push(&data[from..]);
    out
}
