//! Cross-check against LiteLLM itself: cases written by `tools/prices/crosscheck_litellm.py`
//! (which needs LiteLLM installed, so the test is ignored by default; see the README, "Prices").
// Test code only (its parent includes it under `#[cfg(test)]`): it may unwrap and panic.
#![cfg(test)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::cost::cost;
use super::prices::{lookup, Tier};
use crate::usage::Usage;

/// Runs `check` on every line of `file`; it returns a description of a disagreement, if any.
fn each_case(file: &str, check: impl Fn(&[&str]) -> Option<String>) {
    let dir =
        std::env::var("LITELLM_CASES").expect("set LITELLM_CASES to the script's --out directory");
    let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
    let wrong: Vec<String> = text
        .lines()
        .filter_map(|line| {
            check(&line.split('\t').collect::<Vec<_>>()).map(|w| format!("{line} -> {w}"))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {}:\n{}",
        wrong.len(),
        text.lines().count(),
        wrong.join("\n")
    );
}

#[test]
#[ignore = "needs LITELLM_CASES from tools/prices/crosscheck_litellm.py"]
fn cost_matches_litellm_generic_cost_per_token() {
    each_case("cost.tsv", |f| {
        let n = |i: usize| f[i].parse::<u64>().unwrap();
        let usage = Usage {
            input: n(2),
            input_cached: n(3),
            input_cache_creation: n(4),
            input_audio: n(5),
            output: n(6),
            output_reasoning: n(7),
            output_audio: n(8),
            total: n(2) + n(6),
        };
        let rates = lookup(f[0], Some(f[1])).unwrap().rates;
        let c = cost(&usage, &rates, Tier::from_service_tier(f[9]));
        // LiteLLM sums floats; the filter is exact: they agree to float precision.
        let close =
            |pico: u64, usd: f64| ((pico as f64 / 1e12) - usd).abs() <= 1e-12 * usd.abs().max(1e-6);
        let (want_in, want_out): (f64, f64) = (f[10].parse().unwrap(), f[11].parse().unwrap());
        (!close(c.input, want_in) || !close(c.output, want_out)).then(|| format!("{c:?}"))
    });
}

#[test]
#[ignore = "needs LITELLM_CASES from tools/prices/crosscheck_litellm.py"]
fn lookup_matches_litellm_get_model_info() {
    each_case("lookup.tsv", |f| {
        let provider = (!f[1].is_empty()).then_some(f[1]);
        let got = lookup(f[0], provider).map(|m| m.key).unwrap_or_default();
        // LiteLLM's `get_llm_provider` reads `azure/mistral-large-latest` as an OpenAI model and
        // then finds no OpenAI entry; the filter reads the `azure/` prefix and prices it.
        let explained = f[0] == "azure/mistral-large-latest" && f[1].is_empty();
        (got != f[2] && !explained).then_some(got)
    });
}
