//! `JsonScanner` against serde_json.
//!
//! Properties, for any bytes and any split:
//! - the verdict of `finish` is serde_json's (within the scanner's 512-level bound); `Malformed`
//!   is sticky, and a `Complete` document never becomes `InProgress` again;
//! - on JSON, each path captures exactly the raw text of its first occurrence through raw
//!   (unescaped) object keys, or reports overflow when that text exceeds the capture limit;
//! - `root_close_offset` is the offset of the root object's closing brace; `bytes_seen` counts
//!   every byte fed;
//! - whatever the input, every split gives the same verdict and captures as the whole input (and
//!   overflow flags, on JSON), and a scanner reused after `reset` behaves as a new one.

use llm_telemetry_core::json_scan::{JsonScanner, ScanState};

use crate::reference::{scanner_accepts, tree, Key, Node};
use crate::split::{pieces, plans, Rng};

/// The paths scanned for: the filter's own, nested paths sharing a prefix, a three-level path,
/// one-letter keys the fuzzer finds easily, and two paths that can never match (an empty
/// segment, four levels).
pub const PATHS: &[&str] = &[
    "model",
    "usage",
    "usage.prompt_tokens",
    "response",
    "response.usage",
    "response.usage.input_tokens",
    "error",
    "a",
    "a.b",
    "a.b.c",
    "b",
    "a..b",
    "a.b.c.d",
];

/// Capture limits tried (one per input, chosen by its hash): tiny ones exercise overflow.
const LIMITS: &[usize] = &[0, 1, 7, 64, 4096];

/// What a scan produced, per path: the capture and the overflow flag.
#[derive(Debug, PartialEq, Eq)]
struct Scan {
    verdict: ScanState,
    captures: Vec<(Option<Vec<u8>>, bool)>,
    root_close: Option<u64>,
}

fn scan(scanner: &mut JsonScanner, chunks: &[&[u8]]) -> Scan {
    scanner.reset();
    let mut last = ScanState::InProgress;
    let mut fed = 0u64;
    for c in chunks {
        let state = scanner.feed(c);
        fed += c.len() as u64;
        assert!(
            !(last == ScanState::Malformed && state != ScanState::Malformed),
            "Malformed is sticky"
        );
        assert!(
            !(last == ScanState::Complete && state == ScanState::InProgress),
            "a complete document cannot become incomplete"
        );
        last = state;
    }
    assert_eq!(scanner.bytes_seen(), fed);
    let verdict = scanner.finish();
    if last == ScanState::Malformed {
        assert_eq!(verdict, ScanState::Malformed, "finish after Malformed");
    }
    assert_ne!(verdict, ScanState::InProgress, "finish always decides");
    Scan {
        verdict,
        captures: (0..PATHS.len())
            .map(|i| {
                (
                    scanner.captured(i).map(<[u8]>::to_vec),
                    scanner.capture_overflowed(i),
                )
            })
            .collect(),
        root_close: scanner.root_close_offset(),
    }
}

/// The first value at `path` (raw key bytes compared, objects only), in document order.
fn first_at<'a>(node: &Node<'a>, path: &[&str]) -> Option<&'a str> {
    let (head, tail) = path.split_first()?;
    let Node::Object(_, members) = node else {
        return None;
    };
    members
        .iter()
        .filter(|(k, _)| *k == Key::Some(head.as_bytes()))
        .find_map(|(_, v)| {
            if tail.is_empty() {
                Some(v.raw())
            } else {
                first_at(v, tail)
            }
        })
}

/// What serde_json says each path must capture, given the capture limit.
fn expected_captures(root: &Node<'_>, limit: usize) -> Vec<(Option<Vec<u8>>, bool)> {
    PATHS
        .iter()
        .map(|p| {
            let segs: Vec<&str> = p.split('.').collect();
            if segs.len() > 3 || segs.iter().any(|s| s.is_empty()) {
                return (None, false);
            }
            match first_at(root, &segs) {
                None => (None, false),
                Some(raw) if raw.len() > limit => (None, true),
                Some(raw) => (Some(raw.as_bytes().to_vec()), false),
            }
        })
        .collect()
}

/// The JSON scanner's properties on `data` (see the module documentation).
pub fn check(data: &[u8]) {
    let mut rng = Rng::from_bytes(data);
    let limit = *rng.pick(LIMITS);
    let mut scanner = JsonScanner::new(PATHS, limit);
    let whole = scan(&mut scanner, &[data]);

    let valid = scanner_accepts(data);
    assert_eq!(
        whole.verdict == ScanState::Complete,
        valid,
        "verdict differs from serde_json on {:?}",
        String::from_utf8_lossy(data)
    );
    if valid {
        if let Some(root) = tree(data) {
            assert_eq!(
                whole.captures,
                expected_captures(&root, limit),
                "captures (limit {limit}) of {:?}",
                String::from_utf8_lossy(data)
            );
            let close = match root {
                Node::Object(raw, _) => {
                    let start = raw.as_ptr() as usize - data.as_ptr() as usize;
                    Some((start + raw.len() - 1) as u64)
                }
                _ => None,
            };
            assert_eq!(whole.root_close, close, "root_close_offset");
        }
    }

    for cuts in plans(data.len(), &mut rng) {
        let mut got = scan(&mut scanner, &pieces(data, &cuts));
        if whole.verdict == ScanState::Malformed {
            // Overflow is noticed when a capture's bytes are copied, which an error can cut
            // short; on a malformed document only the completed captures are promised.
            for (g, w) in got.captures.iter_mut().zip(&whole.captures) {
                g.1 = w.1;
            }
        }
        assert_eq!(
            got,
            whole,
            "split at {cuts:?} differs from whole for {:?}",
            String::from_utf8_lossy(data)
        );
    }
}
