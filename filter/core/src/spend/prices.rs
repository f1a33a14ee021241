//! Per-token prices: the rates one model bills at, the built-in table generated from LiteLLM's
//! price list (`price_table.rs`), and the lookup that finds a model in it the way LiteLLM's
//! `get_model_info` does (LiteLLM 1.106.2, `litellm/utils.py`).
//!
//! Rates are integers in pico-dollars (1e-12 USD) per token: every price in LiteLLM's table for
//! the kept models is a whole number in that unit (the generator refuses one that is not), so a
//! request's cost is exact. Nano-dollars are not enough: e.g. `azure/us-gov/gpt-5.1` caches at
//! 1.71875e-07 USD per token.
//!
//! How a name is found (LiteLLM's `get_potential_model_names` + `_first_registered_match`): for a
//! model `m` and provider `p`, the candidates are tried in this order — `p/m`, `m`, `m` without
//! its `p/` prefix, then the same with the model's version stripped (`-YYYY-MM-DD` dated
//! snapshots, `-001`-style versions for Vertex AI and Gemini, the region and `:throughput` parts
//! of Bedrock ids, the org/suffix/id of `ft:` fine-tunes), then `p/m` again for ids that repeat
//! the provider. Each candidate matches case-insensitively, and only an entry whose provider fits
//! `p` (same provider; any `vertex_ai*` for `vertex_ai`; any `bedrock*` for `bedrock*`; Azure or
//! OpenAI entries for `azure_ai`) counts.

use super::price_table as table;

/// Which per-token price.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Base {
    /// `input_cost_per_token`: uncached text input.
    Input,
    /// `output_cost_per_token`: text output.
    Output,
    /// `cache_read_input_token_cost`: input served from the prompt cache.
    CacheRead,
    /// `cache_creation_input_token_cost`: input written to the prompt cache.
    CacheCreation,
    /// `output_cost_per_reasoning_token`.
    Reasoning,
    /// `input_cost_per_audio_token`.
    InputAudio,
    /// `output_cost_per_audio_token`.
    OutputAudio,
}

impl Base {
    /// Every base, in discriminant order.
    pub const ALL: [Base; 7] = [
        Base::Input,
        Base::Output,
        Base::CacheRead,
        Base::CacheCreation,
        Base::Reasoning,
        Base::InputAudio,
        Base::OutputAudio,
    ];

    /// LiteLLM's key for the standard rate.
    pub const fn key(self) -> &'static str {
        match self {
            Base::Input => "input_cost_per_token",
            Base::Output => "output_cost_per_token",
            Base::CacheRead => "cache_read_input_token_cost",
            Base::CacheCreation => "cache_creation_input_token_cost",
            Base::Reasoning => "output_cost_per_reasoning_token",
            Base::InputAudio => "input_cost_per_audio_token",
            Base::OutputAudio => "output_cost_per_audio_token",
        }
    }
}

/// A service tier with rates of its own (LiteLLM's `_flex` / `_priority` key suffixes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Tier {
    /// No suffix: the standard rate (also `auto`, `default`, `scale` and tiers the table lacks).
    #[default]
    Standard,
    /// `flex`.
    Flex,
    /// `priority` (and `fast`, which LiteLLM bills at the priority rates).
    Priority,
}

impl Tier {
    /// The tier of a request's or response's `service_tier` value, as LiteLLM's
    /// `get_service_tier_cost_key` maps it. `balanced` and `ultrafast` have rates for a handful
    /// of models in LiteLLM's table that the built-in table does not keep: they bill standard.
    pub fn from_service_tier(value: &str) -> Tier {
        if value.eq_ignore_ascii_case("flex") {
            Tier::Flex
        } else if value.eq_ignore_ascii_case("priority") || value.eq_ignore_ascii_case("fast") {
            Tier::Priority
        } else {
            Tier::Standard
        }
    }

    /// LiteLLM's key suffix.
    pub const fn suffix(self) -> &'static str {
        match self {
            Tier::Standard => "",
            Tier::Flex => "_flex",
            Tier::Priority => "_priority",
        }
    }
}

/// One rate of a model: a base, a tier, and whether it is the long-context rate used when the
/// prompt is over the model's threshold (`..._above_200k_tokens`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RateKey {
    /// Which price.
    pub base: Base,
    /// Which service tier.
    pub tier: Tier,
    /// The long-context variant.
    pub above: bool,
}

/// Number of distinct [`RateKey`]s.
pub const RATE_KEYS: usize = Base::ALL.len() * 6;

impl RateKey {
    /// The standard, short-context rate of `base`.
    pub const fn standard(base: Base) -> RateKey {
        RateKey {
            base,
            tier: Tier::Standard,
            above: false,
        }
    }

    /// Dense code, `0..RATE_KEYS`; the generator writes the same (`rate_key` in gen_prices.py).
    pub const fn code(self) -> u8 {
        self.base as u8 * 6 + self.tier as u8 * 2 + self.above as u8
    }

    fn from_code(code: u8) -> Option<RateKey> {
        let base = *Base::ALL.get(usize::from(code / 6))?;
        let tier = match (code % 6) / 2 {
            0 => Tier::Standard,
            1 => Tier::Flex,
            _ => Tier::Priority,
        };
        Some(RateKey {
            base,
            tier,
            above: code % 2 == 1,
        })
    }

    /// LiteLLM's key for this rate with a long-context `threshold` (e.g.
    /// `input_cost_per_token_above_200k_tokens_priority`).
    pub fn litellm_key(self, threshold: u64) -> String {
        let above = if self.above {
            threshold_suffix(threshold)
        } else {
            String::new()
        };
        format!("{}{above}{}", self.base.key(), self.tier.suffix())
    }
}

/// Whether LiteLLM's cost calculator bills the rate `key` (with long-context `threshold`): its
/// model info keeps the standard rates, the long-context input, output and cache rates, and only
/// the service-tier rates it declares (`TIERED_KEYS`; `input_cost_per_audio_token_priority`, say,
/// is in its JSON but never billed). The generated table holds billed rates only; deployment
/// prices are held to the same rule.
pub fn litellm_bills(key: RateKey, threshold: u64) -> bool {
    let long_context_base = matches!(
        key.base,
        Base::Input | Base::Output | Base::CacheRead | Base::CacheCreation
    );
    if key.above && !long_context_base {
        return false;
    }
    key.tier == Tier::Standard || table::TIERED_KEYS.contains(&key.litellm_key(threshold).as_str())
}

/// `_above_200k_tokens` for 200000 (LiteLLM writes thousands with `k`).
fn threshold_suffix(threshold: u64) -> String {
    if threshold.is_multiple_of(1000) {
        format!("_above_{}k_tokens", threshold / 1000)
    } else {
        format!("_above_{threshold}_tokens")
    }
}

/// The rates one model (or one deployment) bills at, in pico-dollars per token. A rate that is
/// not set falls back as LiteLLM falls back (see [`super::cost`]); 0 is a real price.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rates {
    rates: [Option<u64>; RATE_KEYS],
    /// Prompt size (tokens) above which the `above` rates apply.
    threshold: Option<u64>,
}

impl Default for Rates {
    fn default() -> Rates {
        Rates {
            rates: [None; RATE_KEYS],
            threshold: None,
        }
    }
}

impl Rates {
    /// The rate set for `key`, if any.
    pub fn get(&self, key: RateKey) -> Option<u64> {
        self.rates.get(usize::from(key.code())).copied().flatten()
    }

    /// Sets one rate.
    pub fn set(&mut self, key: RateKey, pico_per_token: u64) {
        if let Some(slot) = self.rates.get_mut(usize::from(key.code())) {
            *slot = Some(pico_per_token);
        }
    }

    /// The long-context threshold in tokens, if the model has long-context rates.
    pub fn threshold(&self) -> Option<u64> {
        self.threshold
    }

    /// Sets the long-context threshold.
    pub fn set_threshold(&mut self, tokens: u64) {
        self.threshold = Some(tokens);
    }

    /// No rate at all.
    pub fn is_empty(&self) -> bool {
        self.rates.iter().all(Option::is_none)
    }

    /// Every rate that is set, with its key.
    pub fn iter(&self) -> impl Iterator<Item = (RateKey, u64)> + '_ {
        self.rates
            .iter()
            .enumerate()
            .filter_map(|(i, r)| Some((RateKey::from_code(u8::try_from(i).ok()?)?, (*r)?)))
    }

    /// The rate of `base` for `tier` (long-context when `above`), falling back to the standard
    /// tier's when the tier has none (LiteLLM's `get_cost_per_unit` drops the tier suffix).
    pub fn tiered(&self, base: Base, tier: Tier, above: bool) -> Option<u64> {
        self.get(RateKey { base, tier, above }).or_else(|| {
            self.get(RateKey {
                base,
                tier: Tier::Standard,
                above,
            })
        })
    }

    /// Whether LiteLLM would consider the long-context threshold for a request in `tier`: it
    /// collects the standard `_above_` keys and, for a tiered request, that tier's.
    pub fn has_long_context(&self, tier: Tier) -> bool {
        self.threshold.is_some()
            && Base::ALL.iter().any(|&base| {
                [Tier::Standard, tier].iter().any(|&t| {
                    self.get(RateKey {
                        base,
                        tier: t,
                        above: true,
                    })
                    .is_some()
                })
            })
    }

    /// The rates of a `model_list` deployment that sets prices of its own (`overrides`, from its
    /// `model_info` and `litellm_params`) over the backend model's built-in `table` rates, as
    /// LiteLLM's router registers them: without an override the table's rates stand; with one,
    /// the deployment's entry holds its own rates plus what LiteLLM inherits from the backend —
    /// the cache rates (when it sets an input rate) and every service-tier rate (when it sets an
    /// input or output rate). Reasoning, audio and long-context rates are not inherited, so a
    /// deployment that sets `input_cost_per_token` bills reasoning at its own output rate.
    /// `None`: no price from either.
    pub fn for_deployment(table: Option<&Rates>, overrides: &Rates) -> Option<Rates> {
        if overrides.is_empty() {
            return table.cloned();
        }
        let mut out = overrides.clone();
        let Some(table) = table else {
            return Some(out);
        };
        let sets = |base| overrides.get(RateKey::standard(base)).is_some();
        let inherit = |key: RateKey, value: u64, out: &mut Rates| {
            if out.get(key).is_some() {
                return;
            }
            if key.above {
                // An inherited long-context rate needs the backend's threshold; a deployment
                // with a threshold of its own keeps only its own long-context rates.
                match (out.threshold, table.threshold) {
                    (None, Some(t)) => out.threshold = Some(t),
                    (Some(a), Some(b)) if a == b => {}
                    _ => return,
                }
            }
            out.set(key, value);
        };
        for (key, value) in table.iter() {
            let cache = matches!(key.base, Base::CacheRead | Base::CacheCreation)
                && key.tier == Tier::Standard
                // LiteLLM inherits the 200k long-context cache rates, not others.
                && (!key.above || table.threshold == Some(200_000));
            if cache && sets(Base::Input) {
                inherit(key, value, &mut out);
            }
            if key.tier != Tier::Standard && (sets(Base::Input) || sets(Base::Output)) {
                inherit(key, value, &mut out);
            }
        }
        Some(out)
    }
}

/// A model found in the built-in table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableMatch {
    /// The (lowercased) table key that matched, e.g. `azure/gpt-4o`.
    pub key: String,
    /// Its LiteLLM `litellm_provider`.
    pub provider: &'static str,
    /// Its rates.
    pub rates: Rates,
}

/// The LiteLLM release the built-in table comes from.
pub const TABLE_LITELLM_VERSION: &str = table::LITELLM_VERSION;

/// Number of models in the built-in table.
pub fn table_len() -> usize {
    table::ENTRIES.len()
}

/// Finds `model` in the built-in table for `provider` (the deployment's `custom_llm_provider`
/// or `litellm_params.model` prefix; `None` when not known), as LiteLLM's `get_model_info` does.
/// `None`: LiteLLM would not know the model's price either.
pub fn lookup(model: &str, provider: Option<&str>) -> Option<TableMatch> {
    let model = azure_alias(model).unwrap_or(model);
    let provider = provider
        .filter(|p| !p.is_empty())
        .map(|p| {
            if p == "vertex_ai_beta" {
                "vertex_ai"
            } else {
                p
            }
        })
        .or_else(|| {
            // LiteLLM's `get_llm_provider` reads a known provider from the prefix.
            let (prefix, _) = model.split_once('/')?;
            is_routing_provider(prefix).then_some(prefix)
        });
    for candidate in candidates(model, provider) {
        if let Some(i) = find(candidate.as_bytes()) {
            let packed = *table::ENTRIES.get(i)?;
            let entry_provider =
                *table::PROVIDERS.get(usize::from(packed & ((1 << table::PROVIDER_BITS) - 1)))?;
            if provider_matches(entry_provider, provider) {
                return Some(TableMatch {
                    key: candidate.to_ascii_lowercase(),
                    provider: entry_provider,
                    rates: entry_rates(i)?,
                });
            }
        }
    }
    None
}

/// LiteLLM's `azure_llms` / `azure_embedding_models` aliases: Azure deployment-style names of
/// OpenAI models (`litellm/__init__.py`).
fn azure_alias(model: &str) -> Option<&'static str> {
    Some(match model {
        "gpt-35-turbo" => "azure/gpt-35-turbo",
        "gpt-35-turbo-16k" => "azure/gpt-35-turbo-16k",
        "gpt-35-turbo-instruct" => "azure/gpt-35-turbo-instruct",
        "azure/gpt-41" => "gpt-4.1",
        "azure/gpt-41-mini" => "gpt-4.1-mini",
        "azure/gpt-41-nano" => "gpt-4.1-nano",
        "ada" => "azure/ada",
        _ => return None,
    })
}

/// Prefixes LiteLLM's `get_llm_provider` reads as a provider when none is given, beyond the
/// table's own providers (those a deployment of the kept models can name; any other leads to no
/// price anyway).
const MORE_ROUTING_PROVIDERS: &[&str] = &[
    "databricks",
    "deepinfra",
    "fireworks_ai",
    "github",
    "hosted_vllm",
    "litellm_proxy",
    "openrouter",
    "vertex_ai_beta",
];

fn is_routing_provider(prefix: &str) -> bool {
    table::PROVIDERS.contains(&prefix) || MORE_ROUTING_PROVIDERS.contains(&prefix)
}

/// LiteLLM's `_check_provider_match`.
fn provider_matches(entry: &str, requested: Option<&str>) -> bool {
    let Some(p) = requested else {
        return true;
    };
    entry == p
        || (p == "vertex_ai" && entry.starts_with("vertex_ai"))
        || (p.starts_with("bedrock") && entry.starts_with("bedrock"))
        || (p == "azure_ai" && (entry == "azure" || entry == "openai"))
        || matches!(p, "litellm_proxy" | "github" | "nadir")
}

/// The names LiteLLM tries, in its order, without repeats.
fn candidates(model: &str, provider: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(6);
    let mut push = |s: String| {
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    };
    let Some(p) = provider else {
        push(model.to_owned());
        push(strip_version(model, None));
        return out;
    };
    let prefixed = model
        .strip_prefix(p)
        .and_then(|rest| rest.strip_prefix('/'));
    let (mut split, combined, provider_prefixed) = match prefixed {
        Some(rest) => (rest.to_owned(), model.to_owned(), format!("{p}/{model}")),
        None => (
            model.to_owned(),
            format!("{p}/{model}"),
            format!("{p}/{model}"),
        ),
    };
    let stripped = strip_version(&split, Some(p));
    if p == "bedrock" || p == "bedrock_converse" {
        split = strip_bedrock_routing_prefix(&split).to_owned();
    }
    push(combined);
    push(model.to_owned());
    push(split);
    push(format!("{p}/{stripped}"));
    push(stripped);
    push(provider_prefixed);
    out
}

/// LiteLLM's `_strip_model_name`: the model's version removed, per provider.
fn strip_version(model: &str, provider: Option<&str>) -> String {
    match provider {
        Some("bedrock" | "bedrock_converse") => bedrock_base_model(model),
        Some("vertex_ai" | "gemini" | "databricks") => strip_trailing_number(model).to_owned(),
        _ if model.contains("ft:") => strip_fine_tune(model).to_owned(),
        _ => strip_dated_snapshot(model).to_owned(),
    }
}

/// `-2024-08-06` at the end (`_strip_dated_snapshot_suffix`).
fn strip_dated_snapshot(model: &str) -> &str {
    let b = model.as_bytes();
    let n = b.len();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r)
            .is_some_and(|s| !s.is_empty() && s.iter().all(u8::is_ascii_digit))
    };
    if n >= 11
        && b.get(n - 11) == Some(&b'-')
        && digits(n - 10..n - 6)
        && b.get(n - 6) == Some(&b'-')
        && digits(n - 5..n - 3)
        && b.get(n - 3) == Some(&b'-')
        && digits(n - 2..n)
    {
        &model[..n - 11]
    } else {
        model
    }
}

/// `-002` at the end (`_strip_stable_vertex_version`: `-\d+$`).
fn strip_trailing_number(model: &str) -> &str {
    let kept = model.trim_end_matches(|c: char| c.is_ascii_digit());
    match kept.strip_suffix('-') {
        Some(base) if kept.len() < model.len() => base,
        _ => model,
    }
}

/// `ft:gpt-4o:my-org:suffix:id` → `ft:gpt-4o` (`_strip_openai_finetune_model_name`: the last
/// three `:`-separated parts go).
fn strip_fine_tune(model: &str) -> &str {
    let mut end = model.len();
    for _ in 0..3 {
        match model.get(..end).and_then(|s| s.rfind(':')) {
            Some(i) => end = i,
            None => return model,
        }
    }
    model.get(..end).unwrap_or(model)
}

/// LiteLLM's `strip_bedrock_routing_prefix`.
fn strip_bedrock_routing_prefix(model: &str) -> &str {
    let mut m = model;
    for prefix in [
        "bedrock/",
        "chat_completions/",
        "converse/",
        "invoke/",
        "openai/",
        "mantle/",
        "nova-2/",
        "nova/",
    ] {
        if let Some(rest) = m.strip_prefix(prefix) {
            m = rest;
        }
    }
    m
}

/// LiteLLM's `get_bedrock_base_model`: routing prefixes, ARN, `:51k` throughput and `[1m]`
/// context suffixes, then a cross-region (`us.`) or region (`us-east-1/`) prefix removed.
fn bedrock_base_model(model: &str) -> String {
    let mut m = strip_bedrock_routing_prefix(model);
    if m.to_ascii_lowercase().contains("arn") {
        m = m.rsplit('/').next().unwrap_or(m);
    }
    // `(:\d+):\d+k$` → `$1`
    if let Some(rest) = m.strip_suffix('k') {
        if let Some((head, num)) = rest.rsplit_once(':') {
            let version_ok = head
                .rsplit_once(':')
                .is_some_and(|(_, v)| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
            if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) && version_ok {
                m = head;
            }
        }
    }
    // `\[\w+\]$`
    if let Some(open) = m.strip_suffix(']').and_then(|s| s.rfind('[')) {
        let inner = m.get(open + 1..m.len() - 1).unwrap_or("");
        if !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            m = m.get(..open).unwrap_or(m);
        }
    }
    if let Some((head, rest)) = m.split_once('.') {
        if ["global", "us", "eu", "apac", "jp", "au", "us-gov"].contains(&head) {
            return rest.to_owned();
        }
    }
    if let Some((head, rest)) = m.split_once('/') {
        if is_aws_region(head) {
            return rest.to_owned();
        }
    }
    m.to_owned()
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`: LiteLLM checks a list of Bedrock regions; the
/// shape is what matters for telling a region from a model id.
fn is_aws_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let lower = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    match parts.as_slice() {
        [geo, dir, n] | [geo, _, dir, n] if lower(geo) && lower(dir) => {
            geo.len() == 2 && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
        }
        _ => false,
    }
}

/// Index of `name` (compared case-insensitively) in the table.
fn find(name: &[u8]) -> Option<usize> {
    if name.len() > 255 {
        return None;
    }
    let mut target = [0u8; 255];
    let target = target.get_mut(..name.len())?;
    target.copy_from_slice(name);
    target.make_ascii_lowercase();
    let target = &*target;
    // The last block whose first name is <= target.
    let (mut lo, mut hi) = (0usize, table::BLOCK_STARTS.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if block_head(mid)? <= target {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let block = lo.checked_sub(1)?;
    let mut pos = usize::from(*table::BLOCK_STARTS.get(block)?);
    let mut buf = [0u8; 255];
    let mut len = 0usize;
    for i in 0..table::BLOCK {
        let index = block * table::BLOCK + i;
        if index >= table::ENTRIES.len() {
            return None;
        }
        let (shared, suffix_len) = if i == 0 {
            let n = usize::from(*table::NAMES.get(pos)?);
            pos += 1;
            (0, n)
        } else {
            let s = usize::from(*table::NAMES.get(pos)?);
            let n = usize::from(*table::NAMES.get(pos + 1)?);
            pos += 2;
            (s, n)
        };
        let suffix = table::NAMES.get(pos..pos + suffix_len)?;
        pos += suffix_len;
        len = shared + suffix_len;
        buf.get_mut(shared..len)?.copy_from_slice(suffix);
        match buf.get(..len)?.cmp(target) {
            core::cmp::Ordering::Equal => return Some(index),
            core::cmp::Ordering::Greater => return None,
            core::cmp::Ordering::Less => {}
        }
    }
    let _ = len;
    None
}

/// The first name of block `b`.
fn block_head(b: usize) -> Option<&'static [u8]> {
    let start = usize::from(*table::BLOCK_STARTS.get(b)?);
    let len = usize::from(*table::NAMES.get(start)?);
    table::NAMES.get(start + 1..start + 1 + len)
}

/// The rates of table entry `i`.
fn entry_rates(i: usize) -> Option<Rates> {
    let set = usize::from(*table::ENTRIES.get(i)? >> table::PROVIDER_BITS);
    let start = usize::from(*table::SET_START.get(set)?);
    let end = usize::from(*table::SET_START.get(set + 1)?);
    let mut rates = Rates::default();
    for &packed in table::RATES.get(start..end)? {
        let code = u8::try_from(packed & ((1 << table::KEY_BITS) - 1)).ok()?;
        let value = *table::VALUES.get(usize::from(packed >> table::KEY_BITS))?;
        if code == table::THRESHOLD_CODE {
            rates.threshold = Some(value);
        } else {
            rates.set(RateKey::from_code(code)?, value);
        }
    }
    Some(rates)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// USD per token as LiteLLM's JSON writes it, in pico-dollars.
    const fn usd(pico: u64) -> Option<u64> {
        Some(pico)
    }

    fn rate(m: &TableMatch, base: Base) -> Option<u64> {
        m.rates.get(RateKey::standard(base))
    }

    #[test]
    fn exact_names_and_their_rates() {
        // gpt-4o: input 2.5e-06, output 1e-05, cache read 1.25e-06, priority input 4.25e-06.
        let m = lookup("gpt-4o", Some("openai")).unwrap();
        assert_eq!((m.key.as_str(), m.provider), ("gpt-4o", "openai"));
        assert_eq!(rate(&m, Base::Input), usd(2_500_000));
        assert_eq!(rate(&m, Base::Output), usd(10_000_000));
        assert_eq!(rate(&m, Base::CacheRead), usd(1_250_000));
        assert_eq!(rate(&m, Base::CacheCreation), None);
        let prio = RateKey {
            base: Base::Input,
            tier: Tier::Priority,
            above: false,
        };
        assert_eq!(m.rates.get(prio), usd(4_250_000));
        assert_eq!(m.rates.threshold(), None);
        // An embedding model's explicit 0.0 output price is kept as a price.
        let e = lookup("text-embedding-3-small", None).unwrap();
        assert_eq!(
            (rate(&e, Base::Input), rate(&e, Base::Output)),
            (usd(20_000), usd(0))
        );
    }

    #[test]
    fn provider_prefixes_and_dated_ids() {
        let plain = lookup("gpt-4o", Some("openai")).unwrap();
        // `openai/gpt-4o` with or without the provider given.
        assert_eq!(
            lookup("openai/gpt-4o", Some("openai")).unwrap().rates,
            plain.rates
        );
        assert_eq!(lookup("openai/gpt-4o", None).unwrap().key, "gpt-4o");
        // A dated snapshot the table lists is its own entry; one it does not list strips to gpt-4o.
        assert_eq!(
            lookup("gpt-4o-2024-08-06", Some("openai")).unwrap().key,
            "gpt-4o-2024-08-06"
        );
        let future = lookup("gpt-4o-2031-01-01", Some("openai")).unwrap();
        assert_eq!((future.key.as_str(), future.rates), ("gpt-4o", plain.rates));
        // Case as LiteLLM: the lowercase map.
        assert_eq!(lookup("GPT-4o", Some("openai")).unwrap().key, "gpt-4o");
        // Azure: `azure/<model>` first, for the model name a response reports.
        let az = lookup("gpt-4o-2024-08-06", Some("azure")).unwrap();
        assert_eq!(
            (az.key.as_str(), az.provider),
            ("azure/gpt-4o-2024-08-06", "azure")
        );
        assert_eq!(lookup("azure/gpt-4o", None).unwrap().provider, "azure");
        // LiteLLM's Azure alias `gpt-35-turbo`.
        let t = lookup("gpt-35-turbo", Some("azure")).unwrap();
        assert_eq!(
            (t.key.as_str(), rate(&t, Base::Input)),
            ("azure/gpt-35-turbo", usd(500_000))
        );
    }

    #[test]
    fn providers_must_fit_the_entry() {
        assert_eq!(
            lookup("claude-sonnet-4-5", Some("anthropic"))
                .unwrap()
                .provider,
            "anthropic"
        );
        // An OpenAI deployment named like an Anthropic model has no price (LiteLLM: unmapped).
        assert_eq!(lookup("claude-sonnet-4-5", Some("openai")), None);
        // Azure AI Foundry falls back to Azure / OpenAI entries.
        assert_eq!(
            lookup("gpt-4o", Some("azure_ai")).unwrap().provider,
            "openai"
        );
        // Vertex AI accepts its `vertex_ai-*` families; Gemini on Vertex is listed unprefixed.
        let g = lookup("gemini-2.5-pro", Some("vertex_ai")).unwrap();
        assert_eq!(
            (g.key.as_str(), g.provider),
            ("gemini-2.5-pro", "vertex_ai-language-models")
        );
        // Long-context rates: above 200k prompt tokens, input 2.5e-06, output 1.5e-05.
        assert_eq!(g.rates.threshold(), Some(200_000));
        let above = |base| RateKey {
            base,
            tier: Tier::Standard,
            above: true,
        };
        assert_eq!(g.rates.get(above(Base::Input)), usd(2_500_000));
        assert_eq!(g.rates.get(above(Base::Output)), usd(15_000_000));
        assert!(g.rates.has_long_context(Tier::Standard));
        assert_eq!(lookup("no-such-model", Some("openai")), None);
        assert_eq!(lookup("", None), None);
    }

    #[test]
    fn version_stripping_per_provider() {
        // Bedrock: cross-region prefix listed as such, region path and throughput suffix stripped.
        let b = lookup(
            "bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
            Some("bedrock"),
        )
        .unwrap();
        assert_eq!(b.key, "us.anthropic.claude-3-5-sonnet-20241022-v2:0");
        let r = lookup(
            "bedrock/us-west-2/anthropic.claude-3-5-sonnet-20241022-v2:0:51k",
            Some("bedrock"),
        )
        .unwrap();
        assert_eq!(r.key, "anthropic.claude-3-5-sonnet-20241022-v2:0");
        assert_eq!(
            (rate(&r, Base::Input), rate(&r, Base::CacheCreation)),
            (usd(3_000_000), usd(3_750_000))
        );
        assert_eq!(
            bedrock_base_model("eu.meta.llama3-1-70b-instruct-v1:0"),
            "meta.llama3-1-70b-instruct-v1:0"
        );
        assert_eq!(
            bedrock_base_model("converse/anthropic.x-v1[1m]"),
            "anthropic.x-v1"
        );
        // Gemini: `-001`-style versions.
        assert_eq!(
            strip_trailing_number("gemini-2.5-pro-002"),
            "gemini-2.5-pro"
        );
        assert_eq!(strip_trailing_number("gemini-2.5-pro"), "gemini-2.5-pro");
        assert_eq!(
            lookup("gemini/gemini-2.5-pro-001", Some("gemini"))
                .unwrap()
                .key,
            "gemini/gemini-2.5-pro"
        );
        // Fine-tunes: ft:gpt-4o-2024-08-06 lists its own (higher) price: input 3.75e-06.
        let ft = lookup("ft:gpt-4o-2024-08-06:my-org::abc123", Some("openai")).unwrap();
        assert_eq!(
            (ft.key.as_str(), rate(&ft, Base::Input)),
            ("ft:gpt-4o-2024-08-06", usd(3_750_000))
        );
        assert_eq!(strip_dated_snapshot("o3-2025-04-16"), "o3");
        assert_eq!(strip_dated_snapshot("o3-2025-4-16"), "o3-2025-4-16");
        assert!(is_aws_region("us-gov-west-1") && is_aws_region("eu-central-2"));
        assert!(!is_aws_region("anthropic.claude") && !is_aws_region("us"));
    }

    #[test]
    fn every_table_entry_is_found_by_its_own_name() {
        // Decode the whole front-coded table once and look every name up again.
        let mut names = Vec::new();
        let mut prev: Vec<u8> = Vec::new();
        let mut pos = 0usize;
        for i in 0..table_len() {
            let name = if i % table::BLOCK == 0 {
                assert_eq!(usize::from(table::BLOCK_STARTS[i / table::BLOCK]), pos);
                let n = usize::from(table::NAMES[pos]);
                pos += 1 + n;
                table::NAMES[pos - n..pos].to_vec()
            } else {
                let (s, n) = (
                    usize::from(table::NAMES[pos]),
                    usize::from(table::NAMES[pos + 1]),
                );
                pos += 2 + n;
                let mut v = prev[..s].to_vec();
                v.extend_from_slice(&table::NAMES[pos - n..pos]);
                v
            };
            assert!(name > prev, "sorted at {i}");
            prev = name.clone();
            names.push(String::from_utf8(name).unwrap());
        }
        assert_eq!(pos, table::NAMES.len());
        for (i, name) in names.iter().enumerate() {
            assert_eq!(find(name.as_bytes()), Some(i), "{name}");
            assert!(entry_rates(i).is_some_and(|r| !r.is_empty()), "{name}");
        }
        assert!(table_len() > 900, "{}", table_len());
        assert_eq!(TABLE_LITELLM_VERSION, "1.106.2");
    }

    #[test]
    fn deployment_overrides_inherit_as_litellm_registers_them() {
        let table = lookup("gpt-4o", Some("openai")).unwrap().rates;
        // No override: the table.
        assert_eq!(
            Rates::for_deployment(Some(&table), &Rates::default()),
            Some(table.clone())
        );
        assert_eq!(Rates::for_deployment(None, &Rates::default()), None);
        // Input and output set: cache read and the priority rates come from gpt-4o.
        let mut o = Rates::default();
        o.set(RateKey::standard(Base::Input), 1_000_000);
        o.set(RateKey::standard(Base::Output), 2_000_000);
        let d = Rates::for_deployment(Some(&table), &o).unwrap();
        assert_eq!(d.get(RateKey::standard(Base::Input)), Some(1_000_000));
        assert_eq!(d.get(RateKey::standard(Base::CacheRead)), Some(1_250_000));
        let prio_out = RateKey {
            base: Base::Output,
            tier: Tier::Priority,
            above: false,
        };
        assert_eq!(d.get(prio_out), Some(17_000_000));
        // Only output set: no cache inheritance (it follows an input override), tiers still.
        let mut only_out = Rates::default();
        only_out.set(RateKey::standard(Base::Output), 2_000_000);
        let d = Rates::for_deployment(Some(&table), &only_out).unwrap();
        assert_eq!(d.get(RateKey::standard(Base::CacheRead)), None);
        assert_eq!(d.get(prio_out), Some(17_000_000));
        // Without a table entry the overrides alone.
        assert_eq!(Rates::for_deployment(None, &o), Some(o.clone()));
        // Long-context rates carry their threshold along.
        let g = lookup("gemini-2.5-pro", Some("vertex_ai")).unwrap().rates;
        let d = Rates::for_deployment(Some(&g), &o).unwrap();
        let cache_above = RateKey {
            base: Base::CacheRead,
            tier: Tier::Standard,
            above: true,
        };
        assert_eq!(
            (d.threshold(), d.get(cache_above)),
            (Some(200_000), Some(250_000))
        );
        let input_above = RateKey {
            base: Base::Input,
            tier: Tier::Standard,
            above: true,
        };
        assert_eq!(
            d.get(input_above),
            None,
            "long-context input is not inherited"
        );
    }

    #[test]
    fn keys_and_tiers_spell_as_litellm() {
        let k = RateKey {
            base: Base::CacheRead,
            tier: Tier::Priority,
            above: true,
        };
        assert_eq!(
            k.litellm_key(200_000),
            "cache_read_input_token_cost_above_200k_tokens_priority"
        );
        assert_eq!(
            RateKey::standard(Base::Reasoning).litellm_key(0),
            "output_cost_per_reasoning_token"
        );
        for code in 0..RATE_KEYS as u8 {
            assert_eq!(RateKey::from_code(code).unwrap().code(), code);
        }
        let key = |base, tier, above| RateKey { base, tier, above };
        assert!(litellm_bills(key(Base::Input, Tier::Priority, false), 0));
        assert!(litellm_bills(
            key(Base::Input, Tier::Standard, true),
            100_000
        ));
        assert!(litellm_bills(
            key(Base::CacheRead, Tier::Priority, true),
            200_000
        ));
        assert!(!litellm_bills(
            key(Base::CacheRead, Tier::Priority, true),
            100_000
        ));
        assert!(!litellm_bills(
            key(Base::InputAudio, Tier::Priority, false),
            0
        ));
        assert!(!litellm_bills(
            key(Base::Reasoning, Tier::Standard, true),
            200_000
        ));
        assert_eq!(Tier::from_service_tier("FAST"), Tier::Priority);
        assert_eq!(Tier::from_service_tier("flex"), Tier::Flex);
        assert_eq!(Tier::from_service_tier("auto"), Tier::Standard);
        assert_eq!(Tier::from_service_tier("ultrafast"), Tier::Standard);
    }
}
