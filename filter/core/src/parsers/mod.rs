//! The incremental parsers: each reads a body as its chunks pass, split anywhere, in bounded
//! memory, copying nothing but what it captures; each is fuzzed and tested split at every offset.

/// Byte search eight bytes at a time.
pub mod bytes;
/// Streaming gzip/deflate decoding of compressed response bodies, bounded memory.
pub mod decode;
/// Incremental AWS event-stream framer (Bedrock's streamed responses), zero-copy, CRC-checked.
pub mod event_stream;
/// Incremental framer of a streamed top-level JSON array, element by element, zero-copy.
pub mod json_array;
/// Reads members, elements and counts of a small captured JSON value without allocating.
pub mod json_object;
/// Incremental JSON scanner that captures selected values without buffering the document.
pub mod json_scan;
/// Spots a few keys in a JSON text and captures their values, for streamed events.
pub mod spot;
/// Incremental Server-Sent Events framer (WHATWG rules), zero-copy.
pub mod sse;
