//! Small wrappers over raw host calls that turn every host error into `None` or a no-op.

use crate::abi;
use llm_telemetry_core::catalogue::Kind;
use llm_telemetry_core::exchange::Headers;
use llm_telemetry_core::metrics::StatSink;

/// Wall-clock time from the host, in nanoseconds since the Unix epoch (0 if unavailable).
pub fn now_ns() -> u64 {
    abi::current_time_ns().unwrap_or(0)
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

/// A header map fetched in one host call (each host call that returns data costs ~8,300
/// instructions: Envoy calls back into the VM to allocate the result), read by every lookup of
/// the callback that fetched it. The ABI's form: `u32` count, then `u32` key and value sizes per
/// pair, then each key and value followed by a NUL. The pairs' spans are indexed once at fetch
/// (no allocation: a fixed array; pairs past [`INDEXED_PAIRS`] are found by a scan); lookups
/// compare lengths before bytes.
pub struct HeaderPairs {
    bytes: Vec<u8>,
    /// `(key start, key end, value end)`; the value starts one byte (the NUL) after the key.
    spans: [(u32, u32, u32); INDEXED_PAIRS],
    indexed: usize,
    /// Where the pairs past the index start (their sizes' offset, their data's offset).
    rest: Option<(usize, usize, usize)>,
}

/// Requests carry a dozen or so headers; more are found by scanning the serialized map.
const INDEXED_PAIRS: usize = 32;

impl HeaderPairs {
    /// Fetches the whole map (empty if the host refuses).
    pub fn fetch(map_type: u32) -> HeaderPairs {
        HeaderPairs::parse(abi::get_header_pairs(map_type).unwrap_or_default())
    }

    fn parse(bytes: Vec<u8>) -> HeaderPairs {
        let mut map = HeaderPairs {
            bytes,
            spans: [(0, 0, 0); INDEXED_PAIRS],
            indexed: 0,
            rest: None,
        };
        let count = map.u32_at(0).unwrap_or(0);
        let Some(mut data) = count.checked_mul(8).and_then(|n| n.checked_add(4)) else {
            return map;
        };
        for pair in 0..count {
            let (Some(key_len), Some(value_len)) =
                (map.u32_at(4 + pair * 8), map.u32_at(8 + pair * 8))
            else {
                return map;
            };
            let value_at = data + key_len + 1;
            let end = value_at + value_len;
            if end > map.bytes.len() {
                return map;
            }
            if pair == INDEXED_PAIRS {
                map.rest = Some((pair, count, data));
                return map;
            }
            let (Ok(k), Ok(ke), Ok(ve)) = (
                u32::try_from(data),
                u32::try_from(data + key_len),
                u32::try_from(end),
            ) else {
                return map;
            };
            if let Some(slot) = map.spans.get_mut(pair) {
                *slot = (k, ke, ve);
            }
            map.indexed = pair + 1;
            data = end + 1;
        }
        map
    }

    fn u32_at(&self, at: usize) -> Option<usize> {
        let bytes = self.bytes.get(at..at + 4)?;
        let word = <[u8; 4]>::try_from(bytes).ok()?;
        usize::try_from(u32::from_le_bytes(word)).ok()
    }

    /// The first value of header `name` (lowercase, as Envoy stores them).
    pub fn value(&self, name: &str) -> Option<&str> {
        let name = name.as_bytes();
        for &(k, ke, ve) in self.spans.get(..self.indexed).unwrap_or_default() {
            let (k, ke, ve) = (k as usize, ke as usize, ve as usize);
            if ke - k == name.len() && self.bytes.get(k..ke) == Some(name) {
                return std::str::from_utf8(self.bytes.get(ke + 1..ve)?).ok();
            }
        }
        let (first, count, mut data) = self.rest?;
        for pair in first..count {
            let key_len = self.u32_at(4 + pair * 8)?;
            let value_len = self.u32_at(8 + pair * 8)?;
            let key = self.bytes.get(data..data + key_len)?;
            let value_at = data + key_len + 1;
            if key == name {
                let value = self.bytes.get(value_at..value_at + value_len)?;
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
