//! Small wrappers over raw host calls that turn every host error into `None` or a no-op.

use crate::abi;
use llm_telemetry_core::catalogue::Kind;
use llm_telemetry_core::exchange::Headers;
use llm_telemetry_core::metrics::StatSink;
use proxy_wasm::hostcalls;
use std::time::UNIX_EPOCH;

/// Wall-clock time from the host, in nanoseconds since the Unix epoch (0 if unavailable).
pub fn now_ns() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// An Envoy attribute (`source.address`, `upstream.address`) as text.
pub fn property_string(path: &[&str]) -> Option<String> {
    let bytes = abi::get_property(path)?;
    String::from_utf8(bytes).ok().filter(|s| !s.is_empty())
}

/// `1.2.3.4:5678` → `1.2.3.4`, `[::1]:5678` → `::1`.
pub fn strip_port(address: &str) -> String {
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest).to_owned();
    }
    match address.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host.to_owned()
        }
        _ => address.to_owned(),
    }
}

/// One of Envoy's header maps (`abi::HTTP_REQUEST_HEADERS`, `abi::HTTP_RESPONSE_HEADERS`).
pub struct HostHeaders(pub u32);

impl HostHeaders {
    /// The header's value, if present and readable.
    pub fn value(&self, name: &str) -> Option<String> {
        abi::get_header(self.0, name)
    }
}

/// A header map fetched in one host call: `u32` count, then `u32` key and value sizes per pair,
/// then each key and value followed by a NUL. Looked up by a linear scan: maps are small, and
/// one host call costs more than scanning them.
pub struct HeaderPairs(Vec<u8>);

impl HeaderPairs {
    /// Fetches the whole map (empty if the host refuses).
    pub fn fetch(map_type: u32) -> HeaderPairs {
        HeaderPairs(abi::get_header_pairs(map_type).unwrap_or_default())
    }

    fn u32_at(&self, at: usize) -> Option<usize> {
        let bytes = self.0.get(at..at + 4)?;
        let word = <[u8; 4]>::try_from(bytes).ok()?;
        usize::try_from(u32::from_le_bytes(word)).ok()
    }

    /// The first value of header `name` (lowercase, as Envoy stores them).
    pub fn value(&self, name: &str) -> Option<&str> {
        let count = self.u32_at(0)?;
        let mut data = 4 + count.checked_mul(8)?;
        for pair in 0..count {
            let key_len = self.u32_at(4 + pair * 8)?;
            let value_len = self.u32_at(8 + pair * 8)?;
            let key = self.0.get(data..data + key_len)?;
            let value_at = data + key_len + 1;
            if key == name.as_bytes() {
                let value = self.0.get(value_at..value_at + value_len)?;
                return std::str::from_utf8(value).ok();
            }
            data = value_at + value_len + 1;
        }
        None
    }
}

impl Headers for HeaderPairs {
    fn get(&self, name: &str) -> Option<String> {
        self.value(name).map(str::to_owned)
    }
}

impl Headers for HostHeaders {
    fn get(&self, name: &str) -> Option<String> {
        self.value(name)
    }
}

/// Envoy's stats store. A stat the host refuses is skipped, never fatal.
#[derive(Default)]
pub struct HostStats {
    /// Time spent defining stats (Envoy runs its tag regexes then): reported in the filter's
    /// own counters, so operators see what a new stat costs with their `stats_tags`.
    pub define_ns: u64,
}

impl StatSink for HostStats {
    fn define(&mut self, kind: Kind, name: &str) -> Option<u32> {
        let t = match kind {
            Kind::Gauge => abi::METRIC_GAUGE,
            Kind::Counter | Kind::Histogram => abi::METRIC_COUNTER,
        };
        let start = now_ns();
        let id = abi::define_metric(t, name);
        self.define_ns += now_ns().saturating_sub(start);
        id
    }

    fn add(&mut self, id: u32, delta: u64) {
        // Counters take a signed increment; a delta past i64::MAX is split, never wrapped.
        let mut left = delta;
        while left > 0 {
            let step = left.min(i64::MAX as u64);
            abi::increment_metric(id, step as i64);
            left -= step;
        }
    }

    fn set(&mut self, id: u32, value: u64) {
        abi::record_metric(id, value);
    }
}

/// A short, stable fingerprint of some bytes (FNV-1a), to key shared data per configuration.
pub fn fingerprint(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// True for exactly one caller per `key` across every VM of this plugin: the first to move the
/// shared-data entry to "claimed" with a compare-and-swap. (Envoy creates a missing key whatever
/// the CAS, so two VMs racing on the very first write could both claim: at worst a line is
/// logged twice.)
pub fn claim_once(key: &str) -> bool {
    for _ in 0..8 {
        match abi::get_shared_data(key) {
            Ok(Some((value, _))) if value == b"claimed" => return false,
            Ok(Some((_, cas))) => {
                if abi::set_shared_data(key, b"claimed", cas).is_ok() {
                    return true;
                }
            }
            Ok(None) => {
                let _ = abi::set_shared_data(key, b"open", 0);
            }
            Err(_) => return true,
        }
    }
    false
}
