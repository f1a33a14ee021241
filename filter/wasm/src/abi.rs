//! The few proxy-wasm host functions the filter calls, declared here directly.
//!
//! `proxy_wasm::hostcalls` panics on any status it does not expect (setting a header after the
//! headers have left, for one, returns a status it does not handle): a panic kills the VM inside
//! Envoy. These wrappers turn every status into a `Result` instead.

use std::ptr::null_mut;

/// A host status other than Ok.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HostError(pub u32);

impl std::fmt::Debug for HostError {
    /// The ABI's name for the status (what Envoy's own logs say), else its number.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.0 {
            1 => "NotFound",
            2 => "BadArgument",
            3 => "SerializationFailure",
            4 => "ParseFailure",
            6 => "InvalidMemoryAccess",
            7 => "Empty",
            8 => "CasMismatch",
            10 => "InternalFailure",
            12 => "Unimplemented",
            n => return write!(f, "status {n}"),
        };
        f.write_str(name)
    }
}

const OK: u32 = 0;
const NOT_FOUND: u32 = 1;
/// Nothing in a shared queue.
const EMPTY: u32 = 7;

/// Buffer kinds (proxy-wasm ABI 0.2.1).
pub const HTTP_REQUEST_BODY: u32 = 0;
pub const HTTP_RESPONSE_BODY: u32 = 1;
pub const HTTP_CALL_RESPONSE_BODY: u32 = 4;
pub const PLUGIN_CONFIGURATION: u32 = 7;
/// Header map kinds.
pub const HTTP_REQUEST_HEADERS: u32 = 0;
pub const HTTP_RESPONSE_HEADERS: u32 = 2;
pub const HTTP_CALL_RESPONSE_HEADERS: u32 = 6;
/// Metric kinds.
pub const METRIC_COUNTER: u32 = 0;
pub const METRIC_GAUGE: u32 = 1;

#[allow(clashing_extern_declarations)]
#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_set_buffer_bytes(
        buffer_type: u32,
        start: usize,
        size: usize,
        data: *const u8,
        data_size: usize,
    ) -> u32;
    fn proxy_get_header_map_value(
        map_type: u32,
        key: *const u8,
        key_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(
        map_type: u32,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_remove_header_map_value(map_type: u32, key: *const u8, key_size: usize) -> u32;
    fn proxy_add_header_map_value(
        map_type: u32,
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_set_property(
        path: *const u8,
        path_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_get_property(
        path: *const u8,
        path_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_define_metric(
        metric_type: u32,
        name: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
    fn proxy_get_shared_data(
        key: *const u8,
        key_size: usize,
        return_value: *mut *mut u8,
        return_value_size: *mut usize,
        return_cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    fn proxy_register_shared_queue(name: *const u8, name_size: usize, return_id: *mut u32) -> u32;
    fn proxy_dequeue_shared_queue(
        queue_id: u32,
        return_value: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    fn proxy_enqueue_shared_queue(queue_id: u32, value: *const u8, value_size: usize) -> u32;
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_get_log_level(return_level: *mut i32) -> u32;
    fn proxy_send_local_response(
        status_code: u32,
        status_code_details_data: *const u8,
        status_code_details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
}

/// Takes ownership of bytes the host allocated through the SDK's `proxy_on_memory_allocate`.
///
/// # Safety
/// `data` must come from that allocator with exactly `size` bytes, or be null.
unsafe fn take(data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if data.is_null() {
        return None;
    }
    Some(Vec::from_raw_parts(data, size, size))
}

fn returned_bytes(status: u32, data: *mut u8, size: usize) -> Result<Option<Vec<u8>>, HostError> {
    match status {
        // SAFETY: on Ok the host filled data/size through proxy_on_memory_allocate.
        OK => Ok(unsafe { take(data, size) }),
        NOT_FOUND => Ok(None),
        other => Err(HostError(other)),
    }
}

fn status(status: u32) -> Result<(), HostError> {
    if status == OK {
        Ok(())
    } else {
        Err(HostError(status))
    }
}

/// The host's wall clock, in nanoseconds since the Unix epoch.
pub fn current_time_ns() -> Result<u64, HostError> {
    let mut ns = 0u64;
    // SAFETY: out-pointer to a local.
    status(unsafe { proxy_get_current_time_nanoseconds(&mut ns) })?;
    Ok(ns)
}

/// How often the root context's `on_tick` runs (0 stops it).
pub fn set_tick_period_ms(ms: u64) -> Result<(), HostError> {
    let ms = u32::try_from(ms).unwrap_or(u32::MAX);
    // SAFETY: plain host call.
    status(unsafe { proxy_set_tick_period_milliseconds(ms) })
}

/// The level Envoy logs the `wasm` component at, as `log`'s filter (`critical` keeps errors:
/// the filter has nothing above them). Read as an integer: the SDK's version writes the host's
/// answer straight into an enum, undefined for a value it does not list.
pub fn log_level() -> Result<log::LevelFilter, HostError> {
    let mut level = 0i32;
    // SAFETY: out-pointer to a local.
    status(unsafe { proxy_get_log_level(&mut level) })?;
    Ok(match level {
        0 => log::LevelFilter::Trace,
        1 => log::LevelFilter::Debug,
        2 => log::LevelFilter::Info,
        3 => log::LevelFilter::Warn,
        _ => log::LevelFilter::Error,
    })
}

/// Sends an HTTP callout to `cluster`; its answer comes to the root context's
/// `on_http_call_response` with the returned token.
///
/// The one call made through the SDK: its dispatcher routes the answer by token and panics on a
/// token it was not told of, and only its own `hostcalls::dispatch_http_call` can tell it. That
/// function panics only on statuses Envoy 1.40's `http_call` never returns for arguments from
/// live buffers (it returns Ok, BadArgument or InternalFailure).
pub fn dispatch_http_call(
    cluster: &str,
    headers: Vec<(&str, &str)>,
    body: &[u8],
    timeout_ms: u64,
) -> Result<u32, HostError> {
    proxy_wasm::hostcalls::dispatch_http_call(
        cluster,
        headers,
        Some(body),
        Vec::new(),
        std::time::Duration::from_millis(timeout_ms),
    )
    .map_err(|s| HostError(s as u32))
}

/// Bytes `[start, start + max)` of a buffer.
pub fn get_buffer(
    buffer_type: u32,
    start: usize,
    max: usize,
) -> Result<Option<Vec<u8>>, HostError> {
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: plain host call with out-pointers to locals.
    let status = unsafe { proxy_get_buffer_bytes(buffer_type, start, max, &mut data, &mut size) };
    returned_bytes(status, data, size)
}

/// Replaces `[start, start + size)` of a buffer with `value` (Envoy supports replacing from 0).
pub fn set_buffer(
    buffer_type: u32,
    start: usize,
    size: usize,
    value: &[u8],
) -> Result<(), HostError> {
    // SAFETY: value outlives the call.
    let status =
        unsafe { proxy_set_buffer_bytes(buffer_type, start, size, value.as_ptr(), value.len()) };
    if status == OK {
        Ok(())
    } else {
        Err(HostError(status))
    }
}

/// One header's value (a callout's `:status`: cheaper than the whole map).
pub fn get_header(map_type: u32, key: &str) -> Option<String> {
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: key outlives the call; out-pointers to locals.
    let status = unsafe {
        proxy_get_header_map_value(map_type, key.as_ptr(), key.len(), &mut data, &mut size)
    };
    let bytes = returned_bytes(status, data, size).ok().flatten()?;
    String::from_utf8(bytes).ok()
}

/// A whole header map in the ABI's serialized form (see [`crate::host::HeaderPairs`]): one host
/// call instead of one per header.
pub fn get_header_pairs(map_type: u32) -> Option<Vec<u8>> {
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: out-pointers to locals.
    let status = unsafe { proxy_get_header_map_pairs(map_type, &mut data, &mut size) };
    returned_bytes(status, data, size).ok().flatten()
}

/// Removes a header.
pub fn remove_header(map_type: u32, key: &str) -> Result<(), HostError> {
    // SAFETY: key outlives the call.
    let status = unsafe { proxy_remove_header_map_value(map_type, key.as_ptr(), key.len()) };
    if status == OK {
        Ok(())
    } else {
        Err(HostError(status))
    }
}

/// Adds a header (response headers: only while they have not left, i.e. in their callback).
pub fn add_header(map_type: u32, key: &str, value: &str) -> Result<(), HostError> {
    // SAFETY: key and value outlive the call.
    let status = unsafe {
        proxy_add_header_map_value(
            map_type,
            key.as_ptr(),
            key.len(),
            value.as_ptr(),
            value.len(),
        )
    };
    if status == OK {
        Ok(())
    } else {
        Err(HostError(status))
    }
}

/// Sets a one-segment property: Envoy stores it as filter state `wasm.<name>`, which access
/// loggers read with `%FILTER_STATE(wasm.<name>:PLAIN)%`.
pub fn set_filter_state(name: &str, value: &[u8]) -> Result<(), HostError> {
    // SAFETY: name and value outlive the call.
    let status =
        unsafe { proxy_set_property(name.as_ptr(), name.len(), value.as_ptr(), value.len()) };
    if status == OK {
        Ok(())
    } else {
        Err(HostError(status))
    }
}

/// An Envoy attribute, its path segments joined by NUL as the ABI wants.
pub fn get_property(path: &[&str]) -> Option<Vec<u8>> {
    let mut serialized = Vec::with_capacity(path.iter().map(|s| s.len() + 1).sum());
    for segment in path {
        serialized.extend_from_slice(segment.as_bytes());
        serialized.push(0);
    }
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: serialized outlives the call; out-pointers to locals.
    let status =
        unsafe { proxy_get_property(serialized.as_ptr(), serialized.len(), &mut data, &mut size) };
    returned_bytes(status, data, size).ok().flatten()
}

/// Defines (or finds) a stat.
pub fn define_metric(metric_type: u32, name: &str) -> Option<u32> {
    let mut id = 0u32;
    // SAFETY: name outlives the call; out-pointer to a local.
    let status = unsafe { proxy_define_metric(metric_type, name.as_ptr(), name.len(), &mut id) };
    (status == OK).then_some(id)
}

/// Adds to a counter.
pub fn increment_metric(id: u32, offset: i64) {
    // SAFETY: plain host call.
    let _ = unsafe { proxy_increment_metric(id, offset) };
}

/// Sets a gauge.
pub fn record_metric(id: u32, value: u64) {
    // SAFETY: plain host call.
    let _ = unsafe { proxy_record_metric(id, value) };
}

/// A shared-data entry (shared by every VM with this `vm_id`) and its compare-and-swap token;
/// `Ok(None)` when the key does not exist.
pub fn get_shared_data(key: &str) -> Result<Option<(Vec<u8>, u32)>, HostError> {
    let (mut data, mut size, mut cas) = (null_mut(), 0usize, 0u32);
    // SAFETY: key outlives the call; out-pointers to locals.
    let status =
        unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) };
    match status {
        // SAFETY: on Ok the host filled data/size through proxy_on_memory_allocate.
        OK => Ok(Some((unsafe { take(data, size) }.unwrap_or_default(), cas))),
        NOT_FOUND => Ok(None),
        other => Err(HostError(other)),
    }
}

/// Writes a shared-data entry; with `cas` other than 0, only if it is unchanged since the read
/// that returned `cas` (else `Err`: status 8, CAS mismatch). A missing key is always created.
pub fn set_shared_data(key: &str, value: &[u8], cas: u32) -> Result<(), HostError> {
    // SAFETY: key and value outlive the call.
    let status =
        unsafe { proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas) };
    if status == OK {
        Ok(())
    } else {
        Err(HostError(status))
    }
}

/// Registers (or finds) the shared queue `name` of this `vm_id`: every VM registering the same
/// name gets the same queue.
pub fn register_shared_queue(name: &str) -> Result<u32, HostError> {
    let mut id = 0u32;
    // SAFETY: name outlives the call; out-pointer to a local.
    let status = unsafe { proxy_register_shared_queue(name.as_ptr(), name.len(), &mut id) };
    if status == OK {
        Ok(id)
    } else {
        Err(HostError(status))
    }
}

/// Takes the oldest item of a shared queue; `Ok(None)` when it is empty.
pub fn dequeue_shared_queue(queue_id: u32) -> Result<Option<Vec<u8>>, HostError> {
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: out-pointers to locals.
    let status = unsafe { proxy_dequeue_shared_queue(queue_id, &mut data, &mut size) };
    match status {
        // SAFETY: on Ok the host filled data/size through proxy_on_memory_allocate.
        OK => Ok(Some(unsafe { take(data, size) }.unwrap_or_default())),
        EMPTY => Ok(None),
        other => Err(HostError(other)),
    }
}

/// Appends an item to a shared queue.
pub fn enqueue_shared_queue(queue_id: u32, value: &[u8]) -> Result<(), HostError> {
    // SAFETY: value outlives the call.
    let status = unsafe { proxy_enqueue_shared_queue(queue_id, value.as_ptr(), value.len()) };
    if status == OK {
        Ok(())
    } else {
        Err(HostError(status))
    }
}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn random_get(buf: *mut u8, len: usize) -> u16;
}

/// `N` words from WASI's `random_get` (Envoy 1.40 grants it); none when the host refuses.
/// Called directly: the `getrandom` crate and std's `RandomState` fail, or panic, where the
/// capability is restricted.
pub fn random_words<const N: usize>() -> Vec<u64> {
    let mut buf = [0u8; 8];
    let mut out = Vec::with_capacity(N);
    for _ in 0..N {
        // SAFETY: buf outlives the call and has the length passed.
        if unsafe { random_get(buf.as_mut_ptr(), buf.len()) } != 0 {
            break;
        }
        out.push(u64::from_le_bytes(buf));
    }
    out
}

/// A header map in the ABI's form: the count, each key's and value's size, then each key and
/// value NUL-ended.
pub fn serialize_map<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Vec<u8> {
    let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    let mut map = Vec::new();
    map.extend_from_slice(&len(pairs.len()));
    for (k, v) in pairs {
        map.extend_from_slice(&len(k.as_ref().len()));
        map.extend_from_slice(&len(v.as_ref().len()));
    }
    for (k, v) in pairs {
        for part in [k.as_ref(), v.as_ref()] {
            map.extend_from_slice(part);
            map.push(0);
        }
    }
    map
}

/// Answers the request with a local reply (`details` is Envoy's `response_code_details`): the
/// request goes no further, the upstream never sees it.
pub fn send_local_response(
    status: u32,
    details: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(), HostError> {
    let map = serialize_map(headers);
    // SAFETY: every buffer outlives the call.
    let status = unsafe {
        proxy_send_local_response(
            status,
            details.as_ptr(),
            details.len(),
            body.as_ptr(),
            body.len(),
            map.as_ptr(),
            map.len(),
            -1,
        )
    };
    if status == OK {
        Ok(())
    } else {
        Err(HostError(status))
    }
}
