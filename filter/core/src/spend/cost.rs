//! The cost of one request: its [`Usage`] times its [`Rates`], in pico-dollars, as LiteLLM
//! 1.106.2's `generic_cost_per_token` prices token usage (facts from
//! `litellm/litellm_core_utils/llm_cost_calc/utils.py`):
//!
//! - `prompt_tokens` includes the cached, cache-creation and audio input tokens: the text part is
//!   `prompt − cached − audio − cache creation` (never below 0). When the cached and
//!   cache-creation counts alone exceed the prompt (providers that count them twice), the audio
//!   part is capped by what the cache left over.
//! - Text input bills at the input rate, cached input at `cache_read_input_token_cost`, cache
//!   writes at `cache_creation_input_token_cost` (both default to the input rate), audio input at
//!   `input_cost_per_audio_token` (default: the input rate).
//! - `completion_tokens` includes the reasoning and audio output tokens: when either is reported,
//!   text output is the rest and reasoning bills at `output_cost_per_reasoning_token`, audio at
//!   `output_cost_per_audio_token` (both default to the output rate); otherwise every completion
//!   token is text.
//! - A `service_tier` of `flex` or `priority` (`fast`) selects that tier's rates where the model
//!   has them; a prompt over the model's long-context threshold (strictly more tokens) selects
//!   its `_above_<N>_tokens` rates for input, output and cache.
//!
//! Not priced (the filter does not see the inputs): the 1-hour cache-write rate (Anthropic's
//! `ephemeral_1h_input_tokens` split), image/video tokens, web-search and per-query fees, regional
//! uplifts (OpenAI data residency, Vertex regional endpoints, Anthropic `inference_geo`), batch
//! rates. LiteLLM 1.106.2 never bills `input_cost_per_request`.

use super::prices::{Base, Rates, Tier};
use crate::usage::Usage;

/// What a request cost, in pico-dollars (1e-12 USD), split as LiteLLM splits it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Prompt side: text, cached, cache-creation and audio input.
    pub input: u64,
    /// Completion side: text, reasoning and audio output.
    pub output: u64,
}

impl Cost {
    /// Input plus output.
    pub fn total(self) -> u64 {
        self.input.saturating_add(self.output)
    }
}

/// The rates one request bills at once the tier and prompt size are known (LiteLLM's
/// `_get_token_base_cost` and the per-modality fallbacks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Billed {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_creation: u64,
    reasoning: u64,
    input_audio: u64,
    output_audio: u64,
}

fn billed(rates: &Rates, tier: Tier, prompt_tokens: u64) -> Billed {
    let mut input = rates.tiered(Base::Input, tier, false).unwrap_or(0);
    let mut output = rates.tiered(Base::Output, tier, false).unwrap_or(0);
    let mut cache_read = rates.tiered(Base::CacheRead, tier, false);
    let mut cache_creation = rates.tiered(Base::CacheCreation, tier, false);
    let long = rates.has_long_context(tier)
        && rates
            .threshold()
            .is_some_and(|threshold| prompt_tokens > threshold);
    if long {
        input = rates.tiered(Base::Input, tier, true).unwrap_or(input);
        output = rates.tiered(Base::Output, tier, true).unwrap_or(output);
        cache_read = rates.tiered(Base::CacheRead, tier, true).or(cache_read);
        cache_creation = rates
            .tiered(Base::CacheCreation, tier, true)
            .or(cache_creation);
    }
    // `_resolve_reasoning_token_cost`: the tier's reasoning rate; else, for a tier with its own
    // output rate, that output rate; else the standard reasoning rate; else the output rate.
    let tier_output = tier != Tier::Standard
        && rates
            .get(super::prices::RateKey {
                base: Base::Output,
                tier,
                above: false,
            })
            .is_some();
    let tier_reasoning = rates.get(super::prices::RateKey {
        base: Base::Reasoning,
        tier,
        above: false,
    });
    let standard_reasoning = rates.get(super::prices::RateKey::standard(Base::Reasoning));
    let reasoning = match (tier_reasoning, tier_output) {
        (Some(r), _) => r,
        (None, true) => output,
        (None, false) => standard_reasoning.unwrap_or(output),
    };
    Billed {
        input,
        output,
        cache_read: cache_read.unwrap_or(input),
        cache_creation: cache_creation.unwrap_or(input),
        reasoning,
        // `_modality_token_cost`: the tier's audio rate, else the standard one, else the input
        // rate already resolved for tier and prompt size.
        input_audio: rates.tiered(Base::InputAudio, tier, false).unwrap_or(input),
        // Output audio has no tier variants in LiteLLM.
        output_audio: rates
            .get(super::prices::RateKey::standard(Base::OutputAudio))
            .unwrap_or(output),
    }
}

/// `tokens × rate`, in u128 so no count or price can overflow, saturated back to u64.
fn times(tokens: u64, rate: u64) -> u128 {
    u128::from(tokens) * u128::from(rate)
}

fn saturate(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// The cost of `usage` at `rates` for a request in service `tier`.
pub fn cost(usage: &Usage, rates: &Rates, tier: Tier) -> Cost {
    let b = billed(rates, tier, usage.input);
    let (cached, creation, audio) = (
        usage.input_cached,
        usage.input_cache_creation,
        usage.input_audio,
    );
    let counted = cached.saturating_add(creation);
    // LiteLLM's double-counting check: the details add up to more than the prompt.
    let (text_in, audio_in) = if counted > 0 && counted.saturating_add(audio) > usage.input {
        let uncached = usage.input.saturating_sub(counted);
        let audio_billed = audio.min(uncached);
        (uncached - audio_billed, audio_billed)
    } else {
        (
            usage.input.saturating_sub(counted).saturating_sub(audio),
            audio,
        )
    };
    let input = times(text_in, b.input)
        + times(cached, b.cache_read)
        + times(audio_in, b.input_audio)
        + times(creation, b.cache_creation);

    let (reasoning, audio_out) = (usage.output_reasoning, usage.output_audio);
    let output = if reasoning > 0 || audio_out > 0 {
        let text_out = usage
            .output
            .saturating_sub(reasoning)
            .saturating_sub(audio_out);
        times(text_out, b.output) + times(reasoning, b.reasoning) + times(audio_out, b.output_audio)
    } else {
        times(usage.output, b.output)
    };
    Cost {
        input: saturate(input),
        output: saturate(output),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spend::prices::{lookup, RateKey};
    use crate::usage::parse_usage;

    fn fixture_usage(name: &str) -> Usage {
        let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        // The usage object of a JSON body, or of the SSE event that carries one.
        let start = text.rfind("\"usage\":").unwrap() + "\"usage\":".len();
        let body = &text[start..];
        let mut depth = 0;
        let mut end = 0;
        for (i, c) in body.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        parse_usage(&body.as_bytes()[..end]).unwrap()
    }

    fn rates(model: &str, provider: &str) -> Rates {
        lookup(model, Some(provider)).unwrap().rates
    }

    #[test]
    fn chat_fixture_at_gpt_4o_mini() {
        let u = fixture_usage("chat_completion.json");
        assert_eq!(
            (u.input, u.output, u.input_cached, u.output_reasoning),
            (19, 10, 3, 2)
        );
        // gpt-4o-mini: 1.5e-07 in, 7.5e-08 cached, 6e-07 out (no reasoning rate: reasoning bills
        // as output), in pico-dollars: 16 × 150,000 + 3 × 75,000 = 2,625,000 and
        // 8 × 600,000 + 2 × 600,000 = 6,000,000.
        let c = cost(&u, &rates("gpt-4o-mini", "openai"), Tier::Standard);
        assert_eq!(
            c,
            Cost {
                input: 2_625_000,
                output: 6_000_000
            }
        );
        assert_eq!(c.total(), 8_625_000); // 8.625e-06 USD
    }

    #[test]
    fn cached_and_reasoning_fixture_usage() {
        // responses.json: 36 in (4 cached), 87 out (5 reasoning) at o3: 2e-06 / 8e-06, cache 5e-07.
        let u = fixture_usage("responses.json");
        assert_eq!(
            (u.input, u.input_cached, u.output, u.output_reasoning),
            (36, 4, 87, 5)
        );
        let c = cost(&u, &rates("o3", "openai"), Tier::Standard);
        // input: 32 × 2,000,000 + 4 × 500,000; output: 82 × 8,000,000 + 5 × 8,000,000 (no
        // reasoning rate: the output rate).
        assert_eq!(
            c,
            Cost {
                input: 66_000_000,
                output: 696_000_000
            }
        );
        // Flex tier: 1e-06 / 4e-06, cache 2.5e-07.
        let f = cost(&u, &rates("o3", "openai"), Tier::Flex);
        assert_eq!(
            f,
            Cost {
                input: 32_000_000 + 1_000_000,
                output: 348_000_000
            }
        );
    }

    #[test]
    fn streamed_fixture_matches_its_json_twin() {
        for f in [
            "chat_stream_usage.sse",
            "responses_stream.sse",
            "embeddings.json",
            "completion.json",
        ] {
            let u = fixture_usage(f);
            let c = cost(&u, &rates("gpt-4o", "openai"), Tier::Standard);
            let by_hand = u.input.saturating_sub(u.input_cached) * 2_500_000
                + u.input_cached * 1_250_000
                + u.output * 10_000_000;
            assert_eq!(c.total(), by_hand, "{f}: {u:?}");
        }
    }

    #[test]
    fn anthropic_cache_write_and_read() {
        // claude-sonnet-4-5: 3e-06 in, 1.5e-05 out, cache read 3e-07, cache write 3.75e-06.
        let u = Usage {
            input: 1_000,
            output: 100,
            total: 1_100,
            input_cached: 600,
            input_cache_creation: 300,
            ..Usage::default()
        };
        let c = cost(&u, &rates("claude-sonnet-4-5", "anthropic"), Tier::Standard);
        assert_eq!(
            c,
            Cost {
                input: 100 * 3_000_000 + 600 * 300_000 + 300 * 3_750_000,
                output: 100 * 15_000_000
            }
        );
        // Counted twice by the provider (cache read + write > prompt): text input is what is left
        // of the prompt, never negative.
        let twice = Usage { input: 500, ..u };
        let c = cost(
            &twice,
            &rates("claude-sonnet-4-5", "anthropic"),
            Tier::Standard,
        );
        assert_eq!(c.input, 600 * 300_000 + 300 * 3_750_000);
    }

    #[test]
    fn audio_and_defaults() {
        let mut r = Rates::default();
        r.set(RateKey::standard(Base::Input), 100);
        r.set(RateKey::standard(Base::Output), 1_000);
        r.set(RateKey::standard(Base::InputAudio), 7);
        r.set(RateKey::standard(Base::Reasoning), 3);
        let u = Usage {
            input: 50,
            output: 40,
            input_audio: 20,
            output_audio: 5,
            output_reasoning: 10,
            ..Usage::default()
        };
        // Text in 30 × 100 + audio 20 × 7; out: text 25 × 1000 + reasoning 10 × 3 + audio 5 × 1000.
        assert_eq!(
            cost(&u, &r, Tier::Standard),
            Cost {
                input: 3_140,
                output: 30_030
            }
        );
        // No cache rates: cached and written input bill at the input rate.
        let cached = Usage {
            input: 50,
            input_cached: 10,
            input_cache_creation: 5,
            ..Usage::default()
        };
        assert_eq!(cost(&cached, &r, Tier::Standard).input, 50 * 100);
        // Nothing priced at all: 0, not a panic or an overflow.
        assert_eq!(cost(&u, &Rates::default(), Tier::Priority), Cost::default());
        let huge = Usage {
            input: u64::MAX,
            output: u64::MAX,
            ..Usage::default()
        };
        assert_eq!(
            cost(&huge, &r, Tier::Standard),
            Cost {
                input: u64::MAX,
                output: u64::MAX
            }
        );
    }

    #[test]
    fn long_context_and_priority_rates() {
        // gemini-2.5-pro on Vertex: over 200k prompt tokens input 2.5e-06, output 1.5e-05, cache
        // 2.5e-07; priority over 200k: 4.5e-06 / 2.7e-05 / 4.5e-07.
        let r = rates("gemini-2.5-pro", "vertex_ai");
        let at = |input| Usage {
            input,
            output: 1_000,
            input_cached: 1_000,
            ..Usage::default()
        };
        assert_eq!(
            cost(&at(200_000), &r, Tier::Standard),
            Cost {
                input: 199_000 * 1_250_000 + 1_000 * 125_000,
                output: 1_000 * 10_000_000
            }
        );
        assert_eq!(
            cost(&at(200_001), &r, Tier::Standard),
            Cost {
                input: 199_001 * 2_500_000 + 1_000 * 250_000,
                output: 1_000 * 15_000_000
            }
        );
        assert_eq!(
            cost(&at(200_001), &r, Tier::Priority),
            Cost {
                input: 199_001 * 4_500_000 + 1_000 * 450_000,
                output: 1_000 * 27_000_000
            }
        );
        // gpt-4o priority: 4.25e-06 / 1.7e-05, cache 2.125e-06; reasoning follows the tier output.
        let g = rates("gpt-4o", "openai");
        let u = Usage {
            input: 10,
            input_cached: 2,
            output: 4,
            output_reasoning: 1,
            ..Usage::default()
        };
        assert_eq!(
            cost(&u, &g, Tier::Priority),
            Cost {
                input: 8 * 4_250_000 + 2 * 2_125_000,
                output: 4 * 17_000_000
            }
        );
    }
}
