//! API keys → `hashed_api_key`. The raw key never leaves this module: LiteLLM labels a request
//! with the SHA-256 hex of its key, or `litellm_proxy_master_key` for the master key.

use hashbrown::HashMap;
use sha2::{Digest, Sha256};
use std::rc::Rc;

/// What LiteLLM labels a master-key request with instead of its hash.
pub const MASTER_KEY_LABEL: &str = "litellm_proxy_master_key";
/// The `user` LiteLLM reports for master-key requests.
pub const MASTER_KEY_USER: &str = "default_user_id";

/// The key a request carries: `Authorization: Bearer <key>` (the scheme is optional, as
/// OpenAI-compatible clients differ), else Azure's `api-key`, else `x-api-key`.
pub fn api_key<'a>(
    authorization: Option<&'a str>,
    api_key: Option<&'a str>,
    x_api_key: Option<&'a str>,
) -> Option<&'a str> {
    let bearer = authorization.map(|v| {
        let v = v.trim();
        match v.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case("bearer ") => v[7..].trim_start(),
            _ => v,
        }
    });
    [bearer, api_key.map(str::trim), x_api_key.map(str::trim)]
        .into_iter()
        .flatten()
        .find(|k| !k.is_empty())
}

/// Lowercase hex SHA-256 of `text`, as LiteLLM's `hash_token`.
pub fn sha256_hex(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// Hashes keys once: hashing costs thousands of instructions and a client sends the same key
/// again and again. Bounded: when full the cache is cleared (keys are few in practice; a flood of
/// distinct keys only costs re-hashing, never memory).
pub struct KeyHasher {
    cache: HashMap<Box<str>, Rc<str>>,
    max_entries: usize,
}

impl KeyHasher {
    /// A cache holding at most `max_entries` keys.
    pub fn new(max_entries: usize) -> Self {
        KeyHasher {
            cache: HashMap::new(),
            max_entries: max_entries.max(1),
        }
    }

    /// The `hashed_api_key` label of `key`.
    pub fn hash(&mut self, key: &str) -> Rc<str> {
        if let Some(h) = self.cache.get(key) {
            return h.clone();
        }
        if self.cache.len() >= self.max_entries {
            self.cache.clear();
        }
        let h: Rc<str> = Rc::from(sha256_hex(key));
        self.cache.insert(Box::from(key), h.clone());
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_key_like_openai_clients_send_it() {
        assert_eq!(api_key(Some("Bearer sk-1"), None, None), Some("sk-1"));
        assert_eq!(api_key(Some("bearer  sk-1 "), None, None), Some("sk-1"));
        assert_eq!(api_key(Some("sk-raw"), None, None), Some("sk-raw"));
        assert_eq!(api_key(None, Some("az-key"), None), Some("az-key"));
        assert_eq!(api_key(Some(""), None, Some("x-key")), Some("x-key"));
        assert_eq!(api_key(None, None, None), None);
    }

    #[test]
    fn hashes_as_litellm_does() {
        // echo -n sk-1234 | sha256sum
        assert_eq!(
            sha256_hex("sk-1234"),
            "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"
        );
        let mut h = KeyHasher::new(1);
        assert_eq!(&*h.hash("sk-1234"), sha256_hex("sk-1234"));
        assert_eq!(&*h.hash("sk-other"), sha256_hex("sk-other"));
        assert_eq!(h.cache.len(), 1);
    }
}
