//! Token usage from an OpenAI-style `usage` object: chat/completions and embeddings
//! (`prompt_tokens`, `completion_tokens`, `*_tokens_details`), the Responses API (`input_tokens`,
//! `output_tokens`, `*_tokens_details`) and Anthropic-style prompt caching fields that
//! OpenAI-compatible gateways pass through (`cache_read_input_tokens`,
//! `cache_creation_input_tokens`).

use serde::{Deserialize, Deserializer};

/// Token counts of one response. Absent fields are 0: tokens are never invented, and a count
/// the provider did not report contributes nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub total: u64,
    /// Input tokens served from the provider's prompt cache.
    pub input_cached: u64,
    /// Input tokens written to the provider's prompt cache.
    pub input_cache_creation: u64,
    pub output_reasoning: u64,
    pub input_audio: u64,
    pub output_audio: u64,
}

#[derive(Deserialize, Default)]
struct RawUsage {
    #[serde(default, deserialize_with = "count")]
    prompt_tokens: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    completion_tokens: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    output_tokens: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    total_tokens: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    cache_read_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "details")]
    prompt_tokens_details: Details,
    #[serde(default, deserialize_with = "details")]
    input_tokens_details: Details,
    #[serde(default, deserialize_with = "details")]
    completion_tokens_details: Details,
    #[serde(default, deserialize_with = "details")]
    output_tokens_details: Details,
}

#[derive(Deserialize, Default)]
struct Details {
    #[serde(default, deserialize_with = "count")]
    cached_tokens: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    cache_creation_tokens: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    audio_tokens: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    reasoning_tokens: Option<u64>,
}

/// A token count as providers send it: an integer, sometimes a float or null. Anything else
/// (negative, string, object) counts as absent rather than failing the whole usage object. A
/// visitor, not `serde_json::Value`: this runs on every response and must not allocate.
fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct Count;
    impl<'de> serde::de::Visitor<'de> for Count {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a token count")
        }
        fn visit_u64<E>(self, v: u64) -> Result<Option<u64>, E> {
            Ok(Some(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Option<u64>, E> {
            Ok(u64::try_from(v).ok())
        }
        fn visit_f64<E>(self, v: f64) -> Result<Option<u64>, E> {
            Ok((v.is_finite() && v >= 0.0).then_some(v as u64))
        }
        fn visit_unit<E>(self) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<u64>, D::Error> {
            d.deserialize_any(Count)
        }
        fn visit_str<E>(self, _: &str) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut a: A,
        ) -> Result<Option<u64>, A::Error> {
            while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut a: A,
        ) -> Result<Option<u64>, A::Error> {
            while a
                .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                .is_some()
            {}
            Ok(None)
        }
    }
    d.deserialize_any(Count)
}

/// `*_tokens_details` may be null.
fn details<'de, D: Deserializer<'de>>(d: D) -> Result<Details, D::Error> {
    Ok(Option::<Details>::deserialize(d)
        .unwrap_or_default()
        .unwrap_or_default())
}

/// Parses the raw JSON text of a `usage` value. `None` for `null`, a non-object, or an object
/// with no token count at all.
pub fn parse_usage(raw: &[u8]) -> Option<Usage> {
    // serde also builds a struct from a JSON array: only an object is a usage object.
    if raw.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let u: RawUsage = serde_json::from_slice(raw).ok()?;
    let input = u.prompt_tokens.or(u.input_tokens);
    let output = u.completion_tokens.or(u.output_tokens);
    if input.is_none() && output.is_none() && u.total_tokens.is_none() {
        return None;
    }
    let (input, output) = (input.unwrap_or(0), output.unwrap_or(0));
    let pd = &u.prompt_tokens_details;
    let id = &u.input_tokens_details;
    let cd = &u.completion_tokens_details;
    let od = &u.output_tokens_details;
    Some(Usage {
        input,
        output,
        total: u.total_tokens.unwrap_or(input.saturating_add(output)),
        input_cached: pd
            .cached_tokens
            .or(id.cached_tokens)
            .or(u.cache_read_input_tokens)
            .unwrap_or(0),
        input_cache_creation: pd
            .cache_creation_tokens
            .or(u.cache_creation_input_tokens)
            .unwrap_or(0),
        output_reasoning: cd.reasoning_tokens.or(od.reasoning_tokens).unwrap_or(0),
        input_audio: pd.audio_tokens.unwrap_or(0),
        output_audio: cd.audio_tokens.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_usage_with_details() {
        let u = parse_usage(
            br#"{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,
            "prompt_tokens_details":{"cached_tokens":3,"audio_tokens":1},
            "completion_tokens_details":{"reasoning_tokens":2,"audio_tokens":4}}"#,
        )
        .unwrap();
        assert_eq!(
            u,
            Usage {
                input: 19,
                output: 10,
                total: 29,
                input_cached: 3,
                input_cache_creation: 0,
                output_reasoning: 2,
                input_audio: 1,
                output_audio: 4
            }
        );
    }

    #[test]
    fn responses_api_usage() {
        let u = parse_usage(
            br#"{"input_tokens":36,"input_tokens_details":{"cached_tokens":4},
            "output_tokens":87,"output_tokens_details":{"reasoning_tokens":5},"total_tokens":123}"#,
        )
        .unwrap();
        assert_eq!(
            (
                u.input,
                u.output,
                u.total,
                u.input_cached,
                u.output_reasoning
            ),
            (36, 87, 123, 4, 5)
        );
    }

    #[test]
    fn embeddings_and_anthropic_style_caching() {
        let u = parse_usage(br#"{"prompt_tokens":8,"total_tokens":8}"#).unwrap();
        assert_eq!((u.input, u.output, u.total), (8, 0, 8));
        let a = parse_usage(br#"{"prompt_tokens":5,"completion_tokens":1,"cache_read_input_tokens":7,"cache_creation_input_tokens":9}"#).unwrap();
        assert_eq!((a.total, a.input_cached, a.input_cache_creation), (6, 7, 9));
    }

    #[test]
    fn tolerates_null_and_odd_numbers_without_inventing_tokens() {
        let odd = parse_usage(br#"{"prompt_tokens":"7","completion_tokens":{"n":1},"total_tokens":[3],"input_tokens":2}"#).unwrap();
        assert_eq!(
            (odd.input, odd.output, odd.total),
            (2, 0, 2),
            "strings, objects, arrays are absent"
        );
        assert_eq!(parse_usage(b"null"), None);
        assert_eq!(parse_usage(b"{}"), None);
        assert_eq!(parse_usage(b"[1]"), None);
        let u = parse_usage(br#"{"prompt_tokens":3.0,"completion_tokens":null,"prompt_tokens_details":null,"total_tokens":-1}"#).unwrap();
        assert_eq!((u.input, u.output, u.total), (3, 0, 3));
    }
}
