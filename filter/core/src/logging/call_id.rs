//! Call ids, trace ids and span ids.
//!
//! One call id per request, as LiteLLM's `litellm_call_id`: the value of `x-litellm-call-id`
//! the client sent (LiteLLM reuses it), else `x-request-id` (Envoy generates one, a UUIDv4, for
//! every request unless told not to, so the call id is then the id Envoy's own access logs and
//! tracing already carry), else a UUIDv4 made here. Either header is used only when it is sane
//! (see [`is_sane_call_id`]): the id goes into response headers, logs and JSON, and a client must
//! not be able to inject anything through it.
//!
//! Ids made here come from a per-VM xoshiro256** generator seeded by the host (time, context
//! id, and `random_get` bytes when the host allows it). Not the `getrandom` crate: it would pull
//! WASI's `random_get` into the module's imports, and a host that restricts that capability
//! (Envoy's `capability_restriction_config`) makes it fail; std's `RandomState` even panics
//! then. Envoy 1.40 does grant `random_get` by default (checked), so the adapter may add its
//! bytes to the seed. These ids need to be unique, not secret.

/// Longest call id reused from a request header: LiteLLM's `MAX_LITELLM_CALL_ID_LENGTH`.
pub const MAX_CALL_ID_LEN: usize = 256;

/// Whether a client-sent id may be reused: 1 to [`MAX_CALL_ID_LEN`] bytes of ASCII letters,
/// digits and `-_.:` (UUIDs, ULIDs, `req_...`, Envoy's ids). Anything else — spaces, quotes,
/// control characters, non-ASCII — gets a generated id instead.
pub fn is_sane_call_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_CALL_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The client's id to reuse as the call id: `x-litellm-call-id` first (LiteLLM's), then
/// `x-request-id`; `None` when neither is sane (generate one with [`IdGenerator::uuid_v4`]).
pub fn reused_call_id<'a>(
    litellm_call_id: Option<&'a str>,
    request_id: Option<&'a str>,
) -> Option<&'a str> {
    [litellm_call_id, request_id]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|s| is_sane_call_id(s))
}

/// SplitMix64: spreads seed words over the generator's state.
fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A per-VM generator of ids (xoshiro256**).
#[derive(Clone, Debug)]
pub struct IdGenerator {
    s: [u64; 4],
}

impl IdGenerator {
    /// A generator seeded from `parts` (host time in ns, context id, `random_get` words...).
    /// Different parts give unrelated sequences.
    pub fn from_seed(parts: &[u64]) -> IdGenerator {
        let mut acc = 0x6a09_e667_f3bc_c908u64;
        for &p in parts {
            acc ^= p;
            splitmix64(&mut acc);
        }
        let mut s = [0u64; 4];
        for w in &mut s {
            *w = splitmix64(&mut acc);
        }
        if s == [0; 4] {
            // xoshiro's one forbidden state.
            s[0] = 1;
        }
        IdGenerator { s }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A random UUID in version-4 format (`xxxxxxxx-xxxx-4xxx-Nxxx-xxxxxxxxxxxx`, N in 8..b),
    /// lowercase, as LiteLLM's `str(uuid.uuid4())`.
    pub fn uuid_v4(&mut self) -> String {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        b[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let mut out = String::with_capacity(36);
        for (i, byte) in b.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                out.push('-');
            }
            push_hex_byte(&mut out, *byte);
        }
        out
    }

    /// A W3C / OpenTelemetry trace id: 16 random bytes, never all zero (invalid).
    pub fn trace_id(&mut self) -> [u8; 16] {
        loop {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&self.next_u64().to_be_bytes());
            b[8..].copy_from_slice(&self.next_u64().to_be_bytes());
            if b != [0; 16] {
                return b;
            }
        }
    }

    /// A span id: 8 random bytes, never all zero (invalid).
    pub fn span_id(&mut self) -> [u8; 8] {
        loop {
            let v = self.next_u64();
            if v != 0 {
                return v.to_be_bytes();
            }
        }
    }
}

fn push_hex_byte(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0xf)]));
}

/// Appends `bytes` as lowercase hex (OTLP/JSON writes trace and span ids so).
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        push_hex_byte(out, b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_uuid_v4(s: &str) -> bool {
        let b = s.as_bytes();
        s.len() == 36
            && b.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
            })
            && b[14] == b'4'
            && matches!(b[19], b'8' | b'9' | b'a' | b'b')
    }

    #[test]
    fn generated_ids_are_uuid_v4_and_distinct() {
        let mut g = IdGenerator::from_seed(&[1_796_216_891_000_000_000, 7]);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = g.uuid_v4();
            assert!(is_uuid_v4(&id), "{id}");
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn seeds_decide_the_sequence() {
        let a = IdGenerator::from_seed(&[5, 9]).uuid_v4();
        assert_eq!(a, IdGenerator::from_seed(&[5, 9]).uuid_v4());
        assert_ne!(a, IdGenerator::from_seed(&[5, 10]).uuid_v4());
        assert_ne!(a, IdGenerator::from_seed(&[9, 5]).uuid_v4());
        // Two VMs started in the same nanosecond differ by their context ids.
        assert_ne!(
            IdGenerator::from_seed(&[42, 1]).uuid_v4(),
            IdGenerator::from_seed(&[42, 2]).uuid_v4()
        );
        // An empty or zero seed still works.
        assert!(is_uuid_v4(&IdGenerator::from_seed(&[]).uuid_v4()));
        assert!(is_uuid_v4(&IdGenerator::from_seed(&[0, 0]).uuid_v4()));
    }

    #[test]
    fn trace_and_span_ids_are_nonzero_hex() {
        let mut g = IdGenerator::from_seed(&[3]);
        let mut out = String::new();
        push_hex(&mut out, &g.trace_id());
        out.push(' ');
        push_hex(&mut out, &g.span_id());
        assert_eq!(out.len(), 32 + 1 + 16);
        assert!(out.bytes().all(|b| b == b' ' || b.is_ascii_hexdigit()));
        let mut hex = String::new();
        push_hex(&mut hex, &[0x00, 0x0f, 0xa0, 0xff]);
        assert_eq!(hex, "000fa0ff");
    }

    #[test]
    fn client_ids_are_reused_only_when_sane() {
        let envoy = "7f6b1c2e-3d4a-4b5c-8d9e-0f1a2b3c4d5e";
        assert_eq!(reused_call_id(Some("call-1"), Some(envoy)), Some("call-1"));
        assert_eq!(reused_call_id(None, Some(envoy)), Some(envoy));
        assert_eq!(reused_call_id(Some("bad id"), Some(envoy)), Some(envoy));
        assert_eq!(reused_call_id(Some(" padded "), None), Some("padded"));
        for bad in ["", "a\"b", "a\nb", "é", "a;b", "<script>", "a b"] {
            assert!(!is_sane_call_id(bad), "{bad:?}");
            assert_eq!(reused_call_id(Some(bad), None), None);
        }
        assert!(is_sane_call_id(&"a".repeat(MAX_CALL_ID_LEN)));
        assert!(!is_sane_call_id(&"a".repeat(MAX_CALL_ID_LEN + 1)));
        assert!(is_sane_call_id("01HZX3K9Q7R2M5N8P4T6V1W0YB"));
        assert!(is_sane_call_id("req_abc.DEF:12"));
    }
}
