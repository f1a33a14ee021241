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
///
/// The form every provider sends (plain keys, integer counts, `null` or objects of counts as
/// details, plain scalars elsewhere) is read by a small walk without serde ([`plain`]); any
/// other text goes through serde exactly as before, so both give the same answer on every
/// input (tested against each other).
pub fn parse_usage(raw: &[u8]) -> Option<Usage> {
    // serde also builds a struct from a JSON array: only an object is a usage object.
    if raw.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let u = match plain::read(raw) {
        Some(u) => u,
        None => serde_json::from_slice(raw).ok()?,
    };
    usage_of(&u)
}

/// The counts of a read usage object, LiteLLM's fallbacks between field names applied.
fn usage_of(u: &RawUsage) -> Option<Usage> {
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

/// The fast reader of [`parse_usage`]: `None` ("not plain, ask serde") for anything outside the
/// plain form, so it never has to reproduce serde's handling of odd input (escaped or non-ASCII
/// keys, duplicate fields, floats, counts past u64, details that are not objects, nested
/// values among the unknown members).
mod plain {
    use super::{Details, RawUsage};

    /// A member of an object: a count or a details object (numbered in [`RawUsage`]'s and
    /// [`Details`]' field order), or a member nobody reads.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Field {
        Count(u8),
        Details(u8),
        Other,
    }

    /// Field `n` has bit `n` in a duplicate check.
    fn bit(f: Field) -> u32 {
        match f {
            Field::Count(n) => 1 << n,
            Field::Details(n) => 1 << (8 + n),
            Field::Other => 0,
        }
    }

    fn top_field(key: &[u8]) -> Field {
        match key {
            b"prompt_tokens" => Field::Count(0),
            b"completion_tokens" => Field::Count(1),
            b"input_tokens" => Field::Count(2),
            b"output_tokens" => Field::Count(3),
            b"total_tokens" => Field::Count(4),
            b"cache_read_input_tokens" => Field::Count(5),
            b"cache_creation_input_tokens" => Field::Count(6),
            b"prompt_tokens_details" => Field::Details(0),
            b"input_tokens_details" => Field::Details(1),
            b"completion_tokens_details" => Field::Details(2),
            b"output_tokens_details" => Field::Details(3),
            _ => Field::Other,
        }
    }

    fn detail_field(key: &[u8]) -> Field {
        match key {
            b"cached_tokens" => Field::Count(0),
            b"cache_creation_tokens" => Field::Count(1),
            b"audio_tokens" => Field::Count(2),
            b"reasoning_tokens" => Field::Count(3),
            _ => Field::Other,
        }
    }

    struct Cursor<'a> {
        b: &'a [u8],
        i: usize,
    }

    impl<'a> Cursor<'a> {
        #[inline(always)]
        fn ws(&mut self) {
            while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
                self.i += 1;
            }
        }

        #[inline(always)]
        fn eat(&mut self, c: u8) -> bool {
            self.ws();
            let ok = self.b.get(self.i) == Some(&c);
            self.i += usize::from(ok);
            ok
        }

        #[inline(always)]
        fn peek(&mut self) -> Option<u8> {
            self.ws();
            self.b.get(self.i).copied()
        }

        /// A string of ASCII without escapes or control characters; its contents.
        fn plain_string(&mut self) -> Option<&'a [u8]> {
            if !self.eat(b'"') {
                return None;
            }
            let rest = self.b.get(self.i..)?;
            let len = crate::bytes::find_json_escape(rest)?;
            let inner = rest.get(..len)?;
            if rest.get(len) != Some(&b'"') || !inner.is_ascii() {
                return None;
            }
            self.i += len + 1;
            Some(inner)
        }

        /// `null` (no count) or an integer without sign, fraction or exponent that fits u64.
        fn count(&mut self) -> Option<Option<u64>> {
            match self.peek()? {
                b'n' => self.literal(b"null").then_some(None),
                b'0' => {
                    self.i += 1;
                    self.number_end().then_some(Some(0))
                }
                b'1'..=b'9' => {
                    let mut n = 0u64;
                    while let Some(&d @ b'0'..=b'9') = self.b.get(self.i) {
                        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
                        self.i += 1;
                    }
                    self.number_end().then_some(Some(n))
                }
                _ => None,
            }
        }

        /// An integer's digits ended here: not followed by a fraction, exponent or digit.
        fn number_end(&self) -> bool {
            !matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E' | b'0'..=b'9'))
        }

        fn literal(&mut self, word: &[u8]) -> bool {
            let ok = self.b.get(self.i..self.i + word.len()) == Some(word);
            if ok {
                self.i += word.len();
            }
            ok
        }

        /// A member value nobody reads: a count, `true`, `false`, or a plain string.
        fn skip_scalar(&mut self) -> Option<()> {
            match self.peek()? {
                b't' => self.literal(b"true").then_some(()),
                b'f' => self.literal(b"false").then_some(()),
                b'"' => self.plain_string().map(drop),
                _ => self.count().map(drop),
            }
        }

        /// The members of an object whose `{` was eaten: `on_member(cursor, field)` reads each
        /// value (`None`: not plain). A field named twice is not plain.
        fn object(
            &mut self,
            field_of: fn(&[u8]) -> Field,
            mut on_member: impl FnMut(&mut Cursor<'a>, Field) -> Option<()>,
        ) -> Option<()> {
            let mut seen = 0u32;
            if self.eat(b'}') {
                return Some(());
            }
            loop {
                let field = field_of(self.plain_string()?);
                if seen & bit(field) != 0 {
                    return None;
                }
                seen |= bit(field);
                if !self.eat(b':') {
                    return None;
                }
                on_member(self, field)?;
                if self.eat(b'}') {
                    return Some(());
                }
                if !self.eat(b',') {
                    return None;
                }
            }
        }
    }

    fn details(c: &mut Cursor<'_>) -> Option<Details> {
        let mut d = Details::default();
        match c.peek()? {
            b'n' => {
                if !c.literal(b"null") {
                    return None;
                }
            }
            b'{' => {
                c.i += 1;
                c.object(detail_field, |c, field| {
                    let slot = match field {
                        Field::Count(0) => &mut d.cached_tokens,
                        Field::Count(1) => &mut d.cache_creation_tokens,
                        Field::Count(2) => &mut d.audio_tokens,
                        Field::Count(_) => &mut d.reasoning_tokens,
                        _ => return c.skip_scalar(),
                    };
                    *slot = c.count()?;
                    Some(())
                })?;
            }
            _ => return None,
        }
        Some(d)
    }

    /// The usage object `raw` if it is in the plain form (nothing but whitespace after it).
    pub(super) fn read(raw: &[u8]) -> Option<RawUsage> {
        let mut c = Cursor { b: raw, i: 0 };
        if !c.eat(b'{') {
            return None;
        }
        let mut u = RawUsage::default();
        c.object(top_field, |c, field| {
            let slot = match field {
                Field::Details(n) => {
                    let d = details(c)?;
                    match n {
                        0 => u.prompt_tokens_details = d,
                        1 => u.input_tokens_details = d,
                        2 => u.completion_tokens_details = d,
                        _ => u.output_tokens_details = d,
                    }
                    return Some(());
                }
                Field::Count(0) => &mut u.prompt_tokens,
                Field::Count(1) => &mut u.completion_tokens,
                Field::Count(2) => &mut u.input_tokens,
                Field::Count(3) => &mut u.output_tokens,
                Field::Count(4) => &mut u.total_tokens,
                Field::Count(5) => &mut u.cache_read_input_tokens,
                Field::Count(_) => &mut u.cache_creation_input_tokens,
                Field::Other => return c.skip_scalar(),
            };
            *slot = c.count()?;
            Some(())
        })?;
        c.ws();
        (c.i == raw.len()).then_some(u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `parse_usage` as it was: serde for every input.
    fn through_serde(raw: &[u8]) -> Option<Usage> {
        if raw.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return None;
        }
        usage_of(&serde_json::from_slice::<RawUsage>(raw).ok()?)
    }

    #[test]
    fn plain_reader_agrees_with_serde() {
        let cases: &[&str] = &[
            r#"{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":3,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":2,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}"#,
            r#" { "input_tokens" : 36 , "input_tokens_details" : { "cached_tokens" : 4 } , "output_tokens" : 87 , "total_tokens" : 123 } "#,
            r#"{"prompt_tokens":1,"prompt_tokens":2}"#,
            r#"{"prompt_tokens_details":{"cached_tokens":1,"cached_tokens":2},"prompt_tokens":1}"#,
            r#"{"prompt_tokens":01}"#,
            r#"{"prompt_tokens":1.0,"completion_tokens":2e1}"#,
            r#"{"prompt_tokens":-0,"completion_tokens":-1}"#,
            r#"{"prompt_tokens":18446744073709551615,"completion_tokens":18446744073709551616}"#,
            r#"{"prompt_tokens":5}"#,
            r#"{"prompt_tokens":5,"x":"café","y":"é","z":[1],"w":{"a":1},"v":true,"u":false,"t":null}"#,
            r#"{"prompt_tokens":5,"prompt_tokens_details":5}"#,
            r#"{"prompt_tokens":5,"prompt_tokens_details":[1,2,3,4]}"#,
            r#"{"prompt_tokens":5,"prompt_tokens_details":"x","total_tokens":6}"#,
            r#"{"prompt_tokens":5,"prompt_tokens_details":{"cached_tokens":"3","text_tokens":7}}"#,
            r#"{"prompt_tokens":5} x"#,
            r#"{"prompt_tokens":5,}"#,
            r#"{"prompt_tokens" 5}"#,
            r#"{"prompt_tokens":nul}"#,
            r#"{"prompt_tokens":null,"completion_tokens":null}"#,
            r#"{"cost":0.5,"is_byok":false,"prompt_tokens":2}"#,
            "{\"prompt_tokens\":5,\"a\tb\":1}",
            "\u{c}{\"prompt_tokens\":5}",
            r#"{}"#,
            r#"{"total_tokens":0}"#,
        ];
        for case in cases {
            let raw = case.as_bytes();
            assert_eq!(parse_usage(raw), through_serde(raw), "{case}");
            // Every prefix and every byte dropped: malformed text agrees too.
            for cut in 0..raw.len() {
                assert_eq!(
                    parse_usage(&raw[..cut]),
                    through_serde(&raw[..cut]),
                    "{case} cut {cut}"
                );
                let mut dropped = raw.to_vec();
                dropped.remove(cut);
                assert_eq!(
                    parse_usage(&dropped),
                    through_serde(&dropped),
                    "{case} without {cut}"
                );
            }
        }
    }

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
