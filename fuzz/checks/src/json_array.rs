//! `JsonArrayFramer` against serde_json.
//!
//! Properties, for any bytes and any split: the elements, the pending element and the final
//! state are the same as for the whole input; every fragment borrows from the chunk being fed.
//! When serde_json reads the input (a leading BOM aside) as an array, the framer completes with
//! exactly its elements, as written; when the framer completes and every element it framed is
//! JSON, serde_json reads the input as that array.

use llm_telemetry_core::json_array::{ArrayState, ElementSink, JsonArrayFramer};

use crate::reference::{is_json, tree, Node};
use crate::split::{pieces, plans, Rng};

/// Elements, the element still open at the end, and the finish state.
pub type Framed = (Vec<Vec<u8>>, Option<Vec<u8>>, ArrayState);

struct Collect {
    elements: Vec<Vec<u8>>,
    open: Option<Vec<u8>>,
    chunk: (usize, usize),
}

impl ElementSink for Collect {
    fn data(&mut self, fragment: &[u8]) {
        let at = fragment.as_ptr() as usize;
        assert!(
            at >= self.chunk.0 && at + fragment.len() <= self.chunk.1,
            "copied fragment"
        );
        assert!(!fragment.is_empty(), "empty fragment");
        self.open
            .get_or_insert_with(Vec::new)
            .extend_from_slice(fragment);
    }
    fn element_end(&mut self) {
        self.elements
            .push(self.open.take().expect("element_end without data"));
    }
}

fn frame(framer: &mut JsonArrayFramer, chunks: &[&[u8]]) -> Framed {
    let mut sink = Collect {
        elements: Vec::new(),
        open: None,
        chunk: (0, 0),
    };
    for c in chunks {
        sink.chunk = (c.as_ptr() as usize, c.as_ptr() as usize + c.len());
        framer.feed(c, &mut sink);
    }
    let state = framer.finish();
    (sink.elements, sink.open, state)
}

/// The framer's properties on `data` (see the module documentation).
pub fn check(data: &[u8]) {
    let mut framer = JsonArrayFramer::new();
    let whole = frame(&mut framer, &[data]);
    let mut rng = Rng::from_bytes(data);
    for cuts in plans(data.len(), &mut rng) {
        assert_eq!(
            frame(&mut framer, &pieces(data, &cuts)),
            whole,
            "cut at {cuts:?}"
        );
    }
    let doc = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    if let Some(Node::Array(_, items)) = tree(doc) {
        let want: Vec<&[u8]> = items.iter().map(|n| n.raw().as_bytes()).collect();
        assert_eq!(whole.2, ArrayState::Complete, "serde_json reads an array");
        assert_eq!(whole.0, want);
    } else if whole.2 == ArrayState::Complete && whole.0.iter().all(|e| is_json(e)) {
        // Only the reference tree's limits (512 levels, UTF-8) may stand between them.
        assert!(
            crate::reference::nesting_depth(doc) > crate::reference::SCANNER_MAX_DEPTH
                || core::str::from_utf8(doc).is_err(),
            "complete with JSON elements, yet serde_json refuses the array"
        );
    }
}
