//! A do-nothing proxy-wasm filter: the floor any Rust proxy-wasm filter pays in Envoy (VM entry
//! per callback, context creation and teardown). `make bench` compares llm-telemetry against it.
//!
//! Built with `--features read` it is the reading floor instead: it reads what an LLM telemetry
//! filter cannot do without (both header maps, every request and response body chunk) and does
//! nothing with it. Each read is a host call that returns data, Envoy calling back into the VM to
//! allocate: `make bench` shows what that alone costs, beside what llm-telemetry costs.
use proxy_wasm::traits::{Context, HttpContext, RootContext};
#[cfg(feature = "read")]
use proxy_wasm::types::Action;
use proxy_wasm::types::{ContextType, LogLevel};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(NoopRoot) });
}}

struct NoopRoot;

impl Context for NoopRoot {}

impl RootContext for NoopRoot {
    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Noop))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// Every callback keeps its default, `Action::Continue`; with `read`, after reading.
struct Noop;

impl Context for Noop {}

#[cfg(not(feature = "read"))]
impl HttpContext for Noop {}

#[cfg(feature = "read")]
impl HttpContext for Noop {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        read::header_map(0);
        Action::Continue
    }

    fn on_http_request_body(&mut self, size: usize, _: bool) -> Action {
        read::body(0, size);
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        read::header_map(2);
        Action::Continue
    }

    fn on_http_response_body(&mut self, size: usize, _: bool) -> Action {
        read::body(1, size);
        Action::Continue
    }
}

/// The raw reads, as llm-telemetry makes them: one call per header map (the serialized pairs,
/// not parsed) and per non-empty body chunk, the bytes dropped unread.
#[cfg(feature = "read")]
mod read {
    #[link(wasm_import_module = "env")]
    extern "C" {
        fn proxy_get_header_map_pairs(map: u32, data: *mut *mut u8, size: *mut usize) -> u32;
        fn proxy_get_buffer_bytes(
            buffer: u32,
            start: usize,
            max: usize,
            data: *mut *mut u8,
            size: *mut usize,
        ) -> u32;
    }

    fn drop_returned(status: u32, data: *mut u8, size: usize) {
        if status == 0 && !data.is_null() {
            // SAFETY: the host allocated `size` bytes through the SDK's allocator.
            drop(unsafe { Vec::from_raw_parts(data, size, size) });
        }
    }

    pub fn header_map(map: u32) {
        let (mut data, mut size) = (std::ptr::null_mut(), 0);
        // SAFETY: out-pointers to locals.
        let status = unsafe { proxy_get_header_map_pairs(map, &mut data, &mut size) };
        drop_returned(status, data, size);
    }

    pub fn body(buffer: u32, len: usize) {
        if len == 0 {
            return;
        }
        let (mut data, mut size) = (std::ptr::null_mut(), 0);
        // SAFETY: out-pointers to locals.
        let status = unsafe { proxy_get_buffer_bytes(buffer, 0, len, &mut data, &mut size) };
        drop_returned(status, data, size);
    }
}
