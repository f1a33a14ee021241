//! A host for native builds: the proxy-wasm functions Envoy provides, over one thread's plain
//! state, so the adapter is tested natively (`cargo test -p llm-telemetry-wasm`) through the
//! SDK's real dispatcher — the same entry points Envoy calls — without Envoy.
//!
//! It keeps what a test asserts on (every host call by name, the stats and their values, the
//! headers added, the callouts sent, the log lines) and can refuse any call with any status, which
//! is how the tests show that no host answer makes the filter panic. Each test runs on its own
//! thread, and the SDK's dispatcher and this state are both per thread: tests do not share a VM.
//!
//! Only what the filter and the SDK's logger call is modelled; the rest answers InternalFailure.
//!
//! # Safety
//! Every function here has the proxy-wasm ABI's contract: the caller's pointers are valid for
//! the sizes it passes, and out-pointers for one write.
#![allow(clippy::missing_safety_doc)] // the contract above, the same for every function

use std::cell::RefCell;
use std::collections::VecDeque;

/// One stat as the host holds it (`kind`: 0 counter, 1 gauge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub name: String,
    pub kind: u32,
    pub value: i64,
}

/// A callout the filter dispatched.
#[derive(Debug, Clone)]
pub struct HttpCall {
    pub upstream: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Everything the fake host knows; reached through [`with`].
#[derive(Default)]
pub struct Host {
    /// Every host function called, in order.
    pub calls: Vec<&'static str>,
    /// Host functions that answer with a status other than Ok (and do nothing).
    pub failing: Vec<(&'static str, u32)>,
    /// When set, every host function answers with this status (`proxy_log` too, unless
    /// `log_always_ok`).
    pub fail_everything: Option<u32>,
    /// `proxy_log` answers Ok whatever else fails.
    pub log_always_ok: bool,
    /// Header maps by the ABI's map type (0 request, 2 response, 6 callout response).
    pub maps: [Vec<(String, String)>; 8],
    /// Buffers by the ABI's buffer type (0 request body chunk, 1 response body chunk, 4 callout
    /// response body, 7 plugin configuration).
    pub buffers: [Vec<u8>; 9],
    /// Attributes by their dotted path (`source.address`).
    pub properties: Vec<(String, Vec<u8>)>,
    /// Stats, id = index + 1.
    pub stats: Vec<Stat>,
    /// Shared data: key, value, compare-and-swap token.
    pub shared: Vec<(String, Vec<u8>, u32)>,
    /// Shared queues, id = index + 1.
    pub queues: Vec<(String, VecDeque<Vec<u8>>)>,
    pub now_ns: u64,
    /// The `wasm` component's level as the ABI numbers it (2 = info).
    pub log_level: i32,
    /// Lines the filter logged: ABI level, text.
    pub logs: Vec<(u32, String)>,
    pub tick_ms: u32,
    pub http_calls: Vec<HttpCall>,
    /// A local reply the filter sent: status, body.
    pub local_reply: Option<(u32, Vec<u8>)>,
}

impl Host {
    /// A stat's value by exact name.
    pub fn stat(&self, name: &str) -> Option<i64> {
        self.stats.iter().find(|s| s.name == name).map(|s| s.value)
    }
}

thread_local! {
    static HOST: RefCell<Host> = RefCell::new(Host {
        log_level: 2,
        ..Host::default()
    });
}

/// Reads or changes this thread's host. Not re-entrant (the filter never holds it).
pub fn with<R>(f: impl FnOnce(&mut Host) -> R) -> Option<R> {
    HOST.with(|h| h.try_borrow_mut().ok().map(|mut h| f(&mut h)))
}

const OK: u32 = 0;
const NOT_FOUND: u32 = 1;
const BAD_ARGUMENT: u32 = 2;
const EMPTY: u32 = 7;
const CAS_MISMATCH: u32 = 8;

/// Records the call; `Some(status)` when the test made this function fail.
fn gate(function: &'static str) -> Option<u32> {
    with(|h| {
        h.calls.push(function);
        if function == "proxy_log" && h.log_always_ok {
            return None;
        }
        h.fail_everything.or_else(|| {
            h.failing
                .iter()
                .find(|(f, _)| *f == function)
                .map(|(_, s)| *s)
        })
    })
    .flatten()
}

/// # Safety
/// `data` valid for `size` bytes, or null.
unsafe fn arg<'a>(data: *const u8, size: usize) -> &'a [u8] {
    if data.is_null() || size == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(data, size)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Hands bytes to the filter as Envoy does: memory the filter's allocator owns, exactly `len`.
///
/// # Safety
/// Out-pointers valid for writes.
unsafe fn give(bytes: &[u8], data: *mut *mut u8, size: *mut usize) -> u32 {
    let boxed: Box<[u8]> = bytes.into();
    *size = boxed.len();
    *data = Box::into_raw(boxed).cast::<u8>();
    OK
}

/// The inverse of [`crate::abi::serialize_map`] (a callout's headers).
fn deserialize(bytes: &[u8]) -> Vec<(String, String)> {
    let word = |at: usize| -> usize {
        bytes
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, |w| u32::from_le_bytes(w) as usize)
    };
    let count = word(0);
    let mut at = 4 + count * 8;
    let mut out = Vec::new();
    for i in 0..count {
        let (k, v) = (word(4 + i * 8), word(8 + i * 8));
        let key = bytes.get(at..at + k).unwrap_or_default();
        let value = bytes.get(at + k + 1..at + k + 1 + v).unwrap_or_default();
        out.push((text(key), text(value)));
        at += k + v + 2;
    }
    out
}

#[no_mangle]
pub unsafe extern "C" fn proxy_log(level: u32, data: *const u8, size: usize) -> u32 {
    if let Some(s) = gate("proxy_log") {
        return s;
    }
    let line = text(arg(data, size));
    with(|h| h.logs.push((level, line)));
    OK
}

#[no_mangle]
pub unsafe extern "C" fn proxy_get_log_level(level: *mut i32) -> u32 {
    if let Some(s) = gate("proxy_get_log_level") {
        return s;
    }
    *level = with(|h| h.log_level).unwrap_or(2);
    OK
}

#[no_mangle]
pub unsafe extern "C" fn proxy_get_current_time_nanoseconds(time: *mut u64) -> u32 {
    if let Some(s) = gate("proxy_get_current_time_nanoseconds") {
        return s;
    }
    *time = with(|h| h.now_ns).unwrap_or(0);
    OK
}

#[no_mangle]
pub unsafe extern "C" fn proxy_set_tick_period_milliseconds(period: u32) -> u32 {
    if let Some(s) = gate("proxy_set_tick_period_milliseconds") {
        return s;
    }
    with(|h| h.tick_ms = period);
    OK
}

#[no_mangle]
pub unsafe extern "C" fn proxy_get_buffer_bytes(
    buffer: u32,
    start: usize,
    max: usize,
    data: *mut *mut u8,
    size: *mut usize,
) -> u32 {
    if let Some(s) = gate("proxy_get_buffer_bytes") {
        return s;
    }
    let bytes = with(|h| {
        h.buffers.get(buffer as usize).map(|b| {
            let from = start.min(b.len());
            let to = from.saturating_add(max).min(b.len());
            b.get(from..to).unwrap_or_default().to_vec()
        })
    })
    .flatten();
    match bytes {
        Some(b) => give(&b, data, size),
        None => BAD_ARGUMENT,
    }
}

#[no_mangle]
pub unsafe extern "C" fn proxy_set_buffer_bytes(
    buffer: u32,
    start: usize,
    replace: usize,
    data: *const u8,
    size: usize,
) -> u32 {
    if let Some(s) = gate("proxy_set_buffer_bytes") {
        return s;
    }
    let value = arg(data, size).to_vec();
    with(|h| match h.buffers.get_mut(buffer as usize) {
        Some(b) if start <= b.len() => {
            let end = start.saturating_add(replace).min(b.len());
            b.splice(start..end, value);
            OK
        }
        _ => BAD_ARGUMENT,
    })
    .unwrap_or(BAD_ARGUMENT)
}

#[no_mangle]
pub unsafe extern "C" fn proxy_get_header_map_pairs(
    map: u32,
    data: *mut *mut u8,
    size: *mut usize,
) -> u32 {
    if let Some(s) = gate("proxy_get_header_map_pairs") {
        return s;
    }
    match with(|h| {
        h.maps
            .get(map as usize)
            .map(|m| crate::abi::serialize_map(m))
    })
    .flatten()
    {
        Some(b) => give(&b, data, size),
        None => BAD_ARGUMENT,
    }
}

#[no_mangle]
pub unsafe extern "C" fn proxy_get_header_map_value(
    map: u32,
    key: *const u8,
    key_size: usize,
    data: *mut *mut u8,
    size: *mut usize,
) -> u32 {
    if let Some(s) = gate("proxy_get_header_map_value") {
        return s;
    }
    let key = text(arg(key, key_size));
    let value = with(|h| {
        h.maps
            .get(map as usize)
            .and_then(|m| m.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()))
    })
    .flatten();
    match value {
        Some(v) => give(v.as_bytes(), data, size),
        None => NOT_FOUND,
    }
}

#[no_mangle]
pub unsafe extern "C" fn proxy_add_header_map_value(
    map: u32,
    key: *const u8,
    key_size: usize,
    value: *const u8,
    value_size: usize,
) -> u32 {
    if let Some(s) = gate("proxy_add_header_map_value") {
        return s;
    }
    let pair = (text(arg(key, key_size)), text(arg(value, value_size)));
    with(|h| match h.maps.get_mut(map as usize) {
        Some(m) => {
            m.push(pair);
            OK
        }
        None => BAD_ARGUMENT,
    })
    .unwrap_or(BAD_ARGUMENT)
}

#[no_mangle]
pub unsafe extern "C" fn proxy_remove_header_map_value(
    map: u32,
    key: *const u8,
    key_size: usize,
) -> u32 {
    if let Some(s) = gate("proxy_remove_header_map_value") {
        return s;
    }
    let key = text(arg(key, key_size));
    with(|h| match h.maps.get_mut(map as usize) {
        Some(m) => {
            m.retain(|(k, _)| *k != key);
            OK
        }
        None => BAD_ARGUMENT,
    })
    .unwrap_or(BAD_ARGUMENT)
}

#[no_mangle]
pub unsafe extern "C" fn proxy_get_property(
    path: *const u8,
    path_size: usize,
    data: *mut *mut u8,
    size: *mut usize,
) -> u32 {
    if let Some(s) = gate("proxy_get_property") {
        return s;
    }
    // Segments arrive NUL-ended: `source\0address\0` is `source.address`.
    let dotted = text(arg(path, path_size))
        .trim_end_matches('\0')
        .replace('\0', ".");
    let value = with(|h| {
        h.properties
            .iter()
            .find(|(p, _)| *p == dotted)
            .map(|(_, v)| v.clone())
    })
    .flatten();
    match value {
        Some(v) => give(&v, data, size),
        None => NOT_FOUND,
    }
}

#[no_mangle]
pub unsafe extern "C" fn proxy_set_property(
    path: *const u8,
    path_size: usize,
    value: *const u8,
    value_size: usize,
) -> u32 {
    if let Some(s) = gate("proxy_set_property") {
        return s;
    }
    let pair = (text(arg(path, path_size)), arg(value, value_size).to_vec());
    with(|h| {
        h.properties.retain(|(p, _)| *p != pair.0);
        h.properties.push(pair);
    });
    OK
}

#[no_mangle]
pub unsafe extern "C" fn proxy_define_metric(
    kind: u32,
    name: *const u8,
    name_size: usize,
    id: *mut u32,
) -> u32 {
    if let Some(s) = gate("proxy_define_metric") {
        return s;
    }
    let name = text(arg(name, name_size));
    let found = with(|h| {
        let index = match h.stats.iter().position(|s| s.name == name) {
            Some(i) => i,
            None => {
                h.stats.push(Stat {
                    name,
                    kind,
                    value: 0,
                });
                h.stats.len() - 1
            }
        };
        u32::try_from(index + 1).unwrap_or(0)
    });
    *id = found.unwrap_or(0);
    OK
}

#[no_mangle]
pub unsafe extern "C" fn proxy_increment_metric(id: u32, offset: i64) -> u32 {
    if let Some(s) = gate("proxy_increment_metric") {
        return s;
    }
    with(|h| match h.stats.get_mut((id as usize).wrapping_sub(1)) {
        Some(s) => {
            s.value = s.value.saturating_add(offset);
            OK
        }
        None => NOT_FOUND,
    })
    .unwrap_or(NOT_FOUND)
}

#[no_mangle]
pub unsafe extern "C" fn proxy_record_metric(id: u32, value: u64) -> u32 {
    if let Some(s) = gate("proxy_record_metric") {
        return s;
    }
    with(|h| match h.stats.get_mut((id as usize).wrapping_sub(1)) {
        Some(s) => {
            s.value = i64::try_from(value).unwrap_or(i64::MAX);
            OK
        }
        None => NOT_FOUND,
    })
    .unwrap_or(NOT_FOUND)
}

#[no_mangle]
pub unsafe extern "C" fn proxy_get_shared_data(
    key: *const u8,
    key_size: usize,
    data: *mut *mut u8,
    size: *mut usize,
    cas: *mut u32,
) -> u32 {
    if let Some(s) = gate("proxy_get_shared_data") {
        return s;
    }
    let key = text(arg(key, key_size));
    let entry = with(|h| {
        h.shared
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, v, c)| (v.clone(), *c))
    })
    .flatten();
    match entry {
        Some((value, token)) => {
            *cas = token;
            give(&value, data, size)
        }
        None => NOT_FOUND,
    }
}

#[no_mangle]
pub unsafe extern "C" fn proxy_set_shared_data(
    key: *const u8,
    key_size: usize,
    value: *const u8,
    value_size: usize,
    cas: u32,
) -> u32 {
    if let Some(s) = gate("proxy_set_shared_data") {
        return s;
    }
    let key = text(arg(key, key_size));
    let value = arg(value, value_size).to_vec();
    with(|h| match h.shared.iter_mut().find(|(k, _, _)| *k == key) {
        // As Envoy: a CAS other than 0 must match; a missing key is created whatever the CAS.
        Some((_, _, token)) if cas != 0 && cas != *token => CAS_MISMATCH,
        Some(entry) => {
            entry.1 = value;
            entry.2 = entry.2.wrapping_add(1).max(1);
            OK
        }
        None => {
            h.shared.push((key, value, 1));
            OK
        }
    })
    .unwrap_or(BAD_ARGUMENT)
}

#[no_mangle]
pub unsafe extern "C" fn proxy_register_shared_queue(
    name: *const u8,
    name_size: usize,
    id: *mut u32,
) -> u32 {
    if let Some(s) = gate("proxy_register_shared_queue") {
        return s;
    }
    let name = text(arg(name, name_size));
    let index = with(|h| match h.queues.iter().position(|(n, _)| *n == name) {
        Some(i) => i,
        None => {
            h.queues.push((name, VecDeque::new()));
            h.queues.len() - 1
        }
    });
    *id = index.and_then(|i| u32::try_from(i + 1).ok()).unwrap_or(0);
    OK
}

#[no_mangle]
pub unsafe extern "C" fn proxy_enqueue_shared_queue(
    id: u32,
    value: *const u8,
    value_size: usize,
) -> u32 {
    if let Some(s) = gate("proxy_enqueue_shared_queue") {
        return s;
    }
    let value = arg(value, value_size).to_vec();
    with(|h| match h.queues.get_mut((id as usize).wrapping_sub(1)) {
        Some((_, q)) => {
            q.push_back(value);
            OK
        }
        None => NOT_FOUND,
    })
    .unwrap_or(NOT_FOUND)
}

#[no_mangle]
pub unsafe extern "C" fn proxy_dequeue_shared_queue(
    id: u32,
    data: *mut *mut u8,
    size: *mut usize,
) -> u32 {
    if let Some(s) = gate("proxy_dequeue_shared_queue") {
        return s;
    }
    let item = with(|h| {
        h.queues
            .get_mut((id as usize).wrapping_sub(1))
            .map(|(_, q)| q.pop_front())
    })
    .flatten();
    match item {
        Some(Some(value)) => give(&value, data, size),
        Some(None) => EMPTY,
        None => NOT_FOUND,
    }
}

#[no_mangle]
pub unsafe extern "C" fn proxy_send_local_response(
    status: u32,
    _details: *const u8,
    _details_size: usize,
    body: *const u8,
    body_size: usize,
    _headers: *const u8,
    _headers_size: usize,
    _grpc_status: i32,
) -> u32 {
    if let Some(s) = gate("proxy_send_local_response") {
        return s;
    }
    let body = arg(body, body_size).to_vec();
    with(|h| h.local_reply = Some((status, body)));
    OK
}

#[no_mangle]
pub unsafe extern "C" fn proxy_http_call(
    upstream: *const u8,
    upstream_size: usize,
    headers: *const u8,
    headers_size: usize,
    body: *const u8,
    body_size: usize,
    _trailers: *const u8,
    _trailers_size: usize,
    _timeout_ms: u32,
    token: *mut u32,
) -> u32 {
    if let Some(s) = gate("proxy_http_call") {
        return s;
    }
    let call = HttpCall {
        upstream: text(arg(upstream, upstream_size)),
        headers: deserialize(arg(headers, headers_size)),
        body: arg(body, body_size).to_vec(),
    };
    let n = with(|h| {
        h.http_calls.push(call);
        h.http_calls.len()
    });
    *token = n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
    OK
}

/// WASI's `random_get`: a fixed pattern (tests need no entropy, only determinism).
#[no_mangle]
pub unsafe extern "C" fn random_get(buf: *mut u8, len: usize) -> u16 {
    if gate("random_get").is_some() {
        return 29; // WASI's EIO
    }
    for i in 0..len {
        *buf.add(i) = (i as u8).wrapping_mul(31).wrapping_add(7);
    }
    0
}

/// Host functions the SDK declares and the filter never calls: linked so the native build
/// links, and answering `InternalFailure` (recorded) if something ever did call one. Their
/// parameters are left out: a C symbol carries none, and none is read.
macro_rules! not_modelled {
    ($($name:ident),* $(,)?) => {$(
        #[no_mangle]
        pub extern "C" fn $name() -> u32 {
            let _ = gate(stringify!($name));
            INTERNAL_FAILURE
        }
    )*};
}

const INTERNAL_FAILURE: u32 = 10;

not_modelled!(
    proxy_set_header_map_pairs,
    proxy_replace_header_map_value,
    proxy_get_status,
    proxy_grpc_call,
    proxy_grpc_stream,
    proxy_grpc_send,
    proxy_grpc_cancel,
    proxy_grpc_close,
    proxy_close_stream,
    proxy_continue_stream,
    proxy_resolve_shared_queue,
    proxy_call_foreign_function,
    proxy_done,
    proxy_get_metric,
);

/// The SDK sets the context a callout's answer belongs to (the root context that sent it).
#[no_mangle]
pub extern "C" fn proxy_set_effective_context(_context_id: u32) -> u32 {
    gate("proxy_set_effective_context").unwrap_or(OK)
}
