//! Replays the bench's exchanges through `llm_telemetry_core` the way the Wasm adapter
//! (filter/wasm/src/lib.rs) calls it, N times, natively:
//!
//!     bench-core-profile <json|sse> <N> <plugin-config.json> <request-body> <response-body> [chunk]
//!
//! `chunk`: bytes per response body callback (16384 by default), or `event` for one SSE event
//! per callback, as real LLM servers stream (the bench's `sse_chunked` workload).
//!
//! Run under `valgrind --tool=callgrind --toggle-collect=bench_core_profile::run` to get the
//! core's instructions per exchange by function name.
use llm_telemetry_core::catalogue::Kind;
use llm_telemetry_core::config;
use llm_telemetry_core::exchange::{Exchange, Headers};
use llm_telemetry_core::logging::request::RequestLog;
use llm_telemetry_core::logging::Logging;
use llm_telemetry_core::metrics::{Metrics, StatSink};
use llm_telemetry_core::route;
use llm_telemetry_core::spend::store::{SetError, SharedStore, StoreError};
use llm_telemetry_core::spend::worker::WorkerSpend;
use std::collections::HashMap;
use std::hint::black_box;
use std::process::ExitCode;

struct Map(Vec<(&'static str, String)>);

impl Headers for Map {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

/// Envoy's stats store stand-in: names are looked at, nothing is kept.
struct Sink(u32);

impl StatSink for Sink {
    fn define(&mut self, _kind: Kind, name: &str) -> Option<u32> {
        black_box(name);
        self.0 += 1;
        Some(self.0)
    }
    fn add(&mut self, id: u32, delta: u64) {
        black_box((id, delta));
    }
    fn set(&mut self, id: u32, value: u64) {
        black_box((id, value));
    }
}

struct Input {
    config: config::Config,
    request_headers: Map,
    request: Vec<u8>,
    response_headers: Map,
    response: Vec<u8>,
    /// The response body callbacks' chunks, as ranges of `response`.
    chunks: Vec<std::ops::Range<usize>>,
}

/// Envoy's shared data stand-in (spend's store): a map with CAS tokens.
#[derive(Default)]
struct Store(HashMap<String, (Vec<u8>, u32)>);

impl SharedStore for Store {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
        Ok(self.0.get(key).cloned())
    }
    fn set(&mut self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError> {
        let next = self.0.get(key).map_or(1, |(_, c)| c + 1);
        black_box(cas);
        self.0.insert(key.to_owned(), (value.to_vec(), next));
        Ok(())
    }
}

/// What the adapter keeps per VM beside the metrics (which hold the VM's key hasher): spend
/// and logging (the `x-litellm-*` headers, on by default).
struct Vm {
    metrics: Metrics,
    spend: WorkerSpend,
    store: Store,
    logging: Option<Logging>,
}

/// One exchange, callback by callback as Envoy drives the adapter (filter/wasm/src/lib.rs).
#[inline(never)]
fn exchange(input: &Input, vm: &mut Vm, now: u64) {
    let Some(route) = route::classify("POST", "/v1/chat/completions") else {
        return;
    };
    let config = &input.config;
    let mut ex = Exchange::new(route, config, now);
    let hold = ex.on_request_headers(
        &input.request_headers,
        Some("127.0.0.1".to_owned()),
        config,
        false,
    );
    black_box(hold);
    let mut log = vm
        .logging
        .as_mut()
        .map(|l| RequestLog::new(l, &input.request_headers));
    black_box(ex.on_request_body(&input.request, true));
    if let Some(log) = &mut log {
        log.on_request_body(&input.request);
    }
    ex.on_response_headers(&input.response_headers, false);
    if let (Some(log), Some(l)) = (&mut log, &vm.logging) {
        log.on_response_headers(&input.response_headers);
        black_box(log.response_headers(l, ex.record(), config));
    }
    let n = input.chunks.len();
    for (i, range) in input.chunks.iter().enumerate() {
        let c = &input.response[range.clone()];
        if let Some(log) = &mut log {
            log.on_response_body(c);
        }
        ex.on_response_body(c, i + 1 == n, now + 20_000 + i as u64 * 1_000);
    }
    if let Some(record) = ex.finish(now + 900_000, Some("127.0.0.1:8080".to_owned())) {
        let now_ms = i64::try_from(record.end_ns / 1_000_000).unwrap_or(0);
        let mut resolution = vm.metrics.resolve(&record, config);
        let spent = vm
            .spend
            .finished(&config.spend, &mut vm.store, &record, &resolution, now_ms);
        resolution.cost = spent.cost;
        black_box(spent);
        black_box(
            vm.metrics
                .record_resolved(&record, &resolution, config, record.end_ns),
        );
        if let (Some(log), Some(l)) = (log, vm.logging.as_mut()) {
            let ms = u64::try_from(now_ms).unwrap_or(0);
            black_box(log.finish(l, &record, &resolution, ms));
        }
    }
}

/// The measured loop (callgrind --toggle-collect target).
#[inline(never)]
fn run(input: &Input, n: u64) {
    let config = &input.config;
    let settings = &config.logging;
    let logging_on =
        settings.response_headers || settings.filter_state || !settings.destinations.is_empty();
    let mut vm = Vm {
        metrics: Metrics::new(config),
        spend: WorkerSpend::new(),
        store: Store::default(),
        logging: logging_on.then(|| Logging::new(settings.clone(), &[1, 2, 3, 4, 5, 6])),
    };
    let mut sink = Sink(0);
    // Series defined on the first flush, as after the bench's warm-up.
    exchange(input, &mut vm, 1_700_000_000_000_000_000);
    vm.metrics.flush(&mut sink);
    for i in 0..n {
        exchange(
            input,
            &mut vm,
            1_700_000_001_000_000_000 + i * 1_000_000_000,
        );
        // The host flushes once a second; at a few thousand requests a second that is rare.
        if i % 1000 == 999 {
            vm.metrics.flush(&mut sink);
        }
    }
    vm.metrics.flush(&mut sink);
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!(
            "usage: {} <json|sse> <N> <config.json> <request> <response> [chunk]",
            args[0]
        );
        return ExitCode::from(2);
    }
    let read = |p: &str| std::fs::read(p).map_err(|e| format!("{p}: {e}"));
    let (raw_config, request, response) = match (read(&args[3]), read(&args[4]), read(&args[5])) {
        (Ok(c), Ok(q), Ok(r)) => (c, q, r),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let config = match config::parse(&raw_config, &|_| None) {
        Ok(loaded) => loaded.config,
        Err(e) => {
            eprintln!("config: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sse = args[1] == "sse";
    let n: u64 = args[2].parse().unwrap_or(100);
    let chunks = match args.get(6).map(String::as_str) {
        Some("event") => event_ranges(&response),
        other => {
            let size: usize = other.and_then(|c| c.parse().ok()).unwrap_or(16_384).max(1);
            (0..response.len())
                .step_by(size)
                .map(|at| at..(at + size).min(response.len()))
                .collect()
        }
    };
    let input = Input {
        config,
        request_headers: Map(vec![
            (":method", "POST".to_owned()),
            (":path", "/v1/chat/completions".to_owned()),
            (":authority", "127.0.0.1".to_owned()),
            ("content-type", "application/json".to_owned()),
            ("content-length", request.len().to_string()),
            ("authorization", "Bearer sk-demo".to_owned()),
            ("user-agent", "llm-telemetry-bench".to_owned()),
        ]),
        request,
        response_headers: Map(vec![
            (":status", "200".to_owned()),
            (
                "content-type",
                if sse {
                    "text/event-stream"
                } else {
                    "application/json"
                }
                .to_owned(),
            ),
        ]),
        response,
        chunks,
    };
    run(&input, n);
    ExitCode::SUCCESS
}

/// One range per SSE event, each ending after its blank line.
fn event_ranges(body: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, pair) in body.windows(2).enumerate() {
        if pair == b"\n\n" {
            out.push(start..i + 2);
            start = i + 2;
        }
    }
    if start < body.len() {
        out.push(start..body.len());
    }
    out
}
