//! A do-nothing proxy-wasm filter: the floor any Rust proxy-wasm filter pays in Envoy (VM entry
//! per callback, context creation and teardown). `make bench` compares llm-telemetry against it.
use proxy_wasm::traits::{Context, HttpContext, RootContext};
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

/// Every callback keeps its default: `Action::Continue`, without reading anything.
struct Noop;

impl Context for Noop {}

impl HttpContext for Noop {}
