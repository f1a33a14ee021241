//! `json_object` (members, elements, counts of a captured value) against serde_json.
//!
//! Properties: for any bytes, walking members and elements never panics; when serde_json reads
//! the input as an object (or array) at most 64 levels deep, the walk yields exactly its members
//! (raw key, raw value, in order, duplicates kept) or elements and reports no syntax error, and
//! every leaf's `count` is what LiteLLM would take from it (a non-negative integer as is, a
//! non-negative float truncated, correctly rounded as Python's `float()`; below 2^64; anything
//! else none).

use llm_telemetry_core::json_object::{count, elements, members};

use crate::reference::{nesting_depth, tree, Node};

/// The walk's nesting bound (`json_object`'s documented 64 levels).
const MAX_DEPTH: usize = 64;

fn expected_count(leaf: &str) -> Option<u64> {
    if let Ok(n) = serde_json::from_str::<u64>(leaf) {
        return Some(n);
    }
    // Rust's parse rounds correctly, as Python's `float()` does; serde_json's default parser can
    // be one unit in the last place off (fuzzing found `66666666666666666.66666E0`).
    let v: f64 = leaf.parse().ok()?;
    if v == 0.0 {
        return Some(0);
    }
    if leaf.starts_with('-') {
        return None;
    }
    // Counts end below 2^64 (an integer literal that did not fit u64 above lands here as 2^64 or
    // more, or as infinity).
    (v.is_finite() && (0.0..18_446_744_073_709_551_616.0).contains(&v)).then_some(v as u64)
}

fn walk(node: &Node) {
    match node {
        Node::Object(raw, want) => {
            let mut m = members(raw.as_bytes()).expect("an object");
            let got: Vec<(&[u8], &[u8])> = m.by_ref().collect();
            assert!(!m.is_malformed(), "members of {raw}");
            assert_eq!(got.len(), want.len(), "{raw}");
            for ((k, v), (wk, wv)) in got.iter().zip(want) {
                match wk {
                    Some(wk) => assert_eq!(k, wk),
                    None => assert!(k.contains(&b'\\'), "an escaped key stays raw"),
                }
                assert_eq!(*v, wv.raw().as_bytes());
                walk(wv);
            }
        }
        Node::Array(raw, want) => {
            let mut e = elements(raw.as_bytes()).expect("an array");
            let got: Vec<&[u8]> = e.by_ref().collect();
            assert!(!e.is_malformed(), "elements of {raw}");
            let want: Vec<&[u8]> = want.iter().map(|n| n.raw().as_bytes()).collect();
            assert_eq!(got, want);
        }
        Node::Leaf(raw) => {
            let number = raw.starts_with(|c: char| c == '-' || c.is_ascii_digit());
            let want = if number { expected_count(raw) } else { None };
            assert_eq!(count(raw.as_bytes()), want, "count of {raw}");
        }
    }
}

/// The walk's properties on `data` (see the module documentation).
pub fn check(data: &[u8]) {
    // Whatever the input: no panic, and a walk always ends.
    if let Some(m) = members(data) {
        let _ = m.count();
    }
    if let Some(e) = elements(data) {
        let _ = e.count();
    }
    let _ = count(data);
    if nesting_depth(data) > MAX_DEPTH {
        return;
    }
    if let Some(node) = tree(data) {
        walk(&node);
    }
}
