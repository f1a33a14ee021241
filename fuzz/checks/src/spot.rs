//! `KeySpotter` against serde_json, in the three ways the exchange drives it: every key wanted
//! (the first event of a stream), one key hunted alone (every later event: `usage`), and one key
//! hunted with a second asked for before the text starts (an event announcing an error).
//!
//! Properties:
//! - on JSON, each wanted key's value is the raw text of its first non-null occurrence at any
//!   depth, in document order, not looking inside a value already being captured for another key
//!   (`None` when longer than the capture limit);
//! - whatever the input, every split gives the same values as the whole text, and a spotter
//!   reused after a reset behaves as a new one.

use llm_telemetry_core::spot::KeySpotter;

use crate::reference::{tree, Node};
use crate::split::{pieces, plans, Rng};

/// The exchange's keys (`SSE_EVENT_KEYS`), then a one-letter key and one of the longest length
/// the spotter accepts (16 bytes).
pub const KEYS: &[&[u8]] = &[
    b"usage",
    b"model",
    b"error",
    b"service_tier",
    b"a",
    b"abcdefghijklmnop",
];

/// Capture limits tried (one per input, chosen by its hash).
const LIMITS: &[usize] = &[1, 6, 64, 4096];

/// How the spotter is set up before the text.
#[derive(Clone, Copy, Debug)]
enum Mode {
    All,
    Only(usize),
    OnlyThenAlso(usize, usize),
}

impl Mode {
    fn wanted(self, k: usize) -> bool {
        match self {
            Mode::All => true,
            Mode::Only(i) => k == i,
            Mode::OnlyThenAlso(i, j) => k == i || k == j,
        }
    }
}

fn spot(s: &mut KeySpotter, mode: Mode, chunks: &[&[u8]]) -> Vec<Option<Vec<u8>>> {
    match mode {
        Mode::All => s.reset(),
        Mode::Only(i) => s.reset_wanting(|k| k == i),
        Mode::OnlyThenAlso(i, j) => {
            s.reset_wanting(|k| k == i);
            s.also_want(j);
        }
    }
    for c in chunks {
        s.feed(c);
    }
    (0..KEYS.len())
        .map(|i| s.value(i).map(<[u8]>::to_vec))
        .collect()
}

/// The values serde_json's reading implies (see the module documentation).
fn expected(root: &Node<'_>, mode: Mode, limit: usize) -> Vec<Option<Vec<u8>>> {
    fn visit(node: &Node<'_>, open: &mut [bool], limit: usize, out: &mut [Option<Vec<u8>>]) {
        match node {
            Node::Object(_, members) => {
                for (key, value) in members {
                    let k = key.and_then(|k| KEYS.iter().position(|w| *w == k));
                    match k {
                        Some(k) if open[k] && value.raw() != "null" => {
                            open[k] = false;
                            let raw = value.raw();
                            if raw.len() <= limit {
                                out[k] = Some(raw.as_bytes().to_vec());
                            }
                        }
                        _ => visit(value, open, limit, out),
                    }
                }
            }
            Node::Array(_, items) => {
                for item in items {
                    visit(item, open, limit, out);
                }
            }
            Node::Leaf(_) => {}
        }
    }
    let mut open: Vec<bool> = (0..KEYS.len()).map(|k| mode.wanted(k)).collect();
    let mut out = vec![None; KEYS.len()];
    visit(root, &mut open, limit, &mut out);
    out
}

/// The key spotter's properties on `data` (see the module documentation).
pub fn check(data: &[u8]) {
    let mut rng = Rng::from_bytes(data);
    let limit = *rng.pick(LIMITS);
    let modes = [
        Mode::All,
        Mode::Only(rng.below(KEYS.len())),
        Mode::OnlyThenAlso(0, rng.below(KEYS.len())),
    ];
    let mut spotter = KeySpotter::new(KEYS, limit);
    let root = tree(data);
    let cut_plans = plans(data.len(), &mut rng);
    for mode in modes {
        let whole = spot(&mut spotter, mode, &[data]);
        if let Some(root) = &root {
            assert_eq!(
                whole,
                expected(root, mode, limit),
                "{mode:?}, limit {limit}: values differ from serde_json's on {:?}",
                String::from_utf8_lossy(data)
            );
        }
        for cuts in &cut_plans {
            assert_eq!(
                spot(&mut spotter, mode, &pieces(data, cuts)),
                whole,
                "{mode:?}: split at {cuts:?} differs from whole for {:?}",
                String::from_utf8_lossy(data)
            );
        }
    }
}
