//! Spend and budget settings in LiteLLM's vocabulary, parsed once into typed values. Written to
//! be called from `config::parse` (one error type, [`ConfigError`], naming the path): the
//! functions read only their own keys, and the `*_KEYS` lists say which keys those are so the
//! main parser stops reporting them as ignored.
//!
//! | where | keys |
//! | --- | --- |
//! | `model_list[].litellm_params` / `.model_info` | `input_cost_per_token`, `output_cost_per_token`, `cache_read_input_token_cost`, `cache_creation_input_token_cost`, `output_cost_per_reasoning_token`, `input_cost_per_audio_token`, `output_cost_per_audio_token`, their `_flex` / `_priority` and `_above_<N>k_tokens` variants; `base_model` |
//! | `telemetry_settings.keys[]` | `max_budget`, `soft_budget`, `budget_duration`, `budget_reset_at` |
//! | `telemetry_settings` | `teams[]`, `users[]`, `end_users[]`, `enforce_budgets`, `max_budget_holders` |
//! | `litellm_settings` | `max_budget`, `budget_duration` (the proxy), `max_end_user_budget`, `budget_reset_time`, `timezone`, `budget_exceeded_status_code` |
//! | `router_settings` | `provider_budget_config` |
//! | `general_settings` | `spend_report_frequency`, `apply_user_budget_to_team_keys` |

use hashbrown::HashMap;
use serde_json::{Map, Value};

use super::budget::{Budget, HolderKind, Identity};
use super::money::usd_to_pico;
use super::period::{parse_datetime, parse_time_of_day, BudgetDuration};
use super::prices::{litellm_bills, lookup, Base, RateKey, Rates, Tier};
use super::report::ReportFrequency;
use super::store::{holder_key, ResetPolicy};
use crate::alerts::text::py_float;
use crate::config::ConfigError;

/// Budget keys of a `telemetry_settings.keys[]` entry.
pub const KEY_ENTRY_KEYS: &[&str] = &[
    "max_budget",
    "soft_budget",
    "budget_duration",
    "budget_reset_at",
];
/// `telemetry_settings` keys read here.
pub const TELEMETRY_SETTINGS_KEYS: &[&str] = &[
    "teams",
    "users",
    "end_users",
    "enforce_budgets",
    "max_budget_holders",
];
/// `litellm_settings` keys read here.
pub const LITELLM_SETTINGS_KEYS: &[&str] = &[
    "max_budget",
    "budget_duration",
    "max_end_user_budget",
    "budget_reset_time",
    "timezone",
    "budget_exceeded_status_code",
];
/// `router_settings` keys read here.
pub const ROUTER_SETTINGS_KEYS: &[&str] = &["provider_budget_config"];
/// `general_settings` keys read here.
pub const GENERAL_SETTINGS_KEYS: &[&str] =
    &["spend_report_frequency", "apply_user_budget_to_team_keys"];

/// Spend entries in Envoy's shared data at most (`telemetry_settings.max_budget_holders`).
pub const DEFAULT_MAX_BUDGET_HOLDERS: usize = 10_000;

/// The status of a budget refusal unless `litellm_settings.budget_exceeded_status_code` says
/// otherwise: 429, what clients back off on and what LiteLLM answered before 1.106 (which moved
/// its default to 422; setting 422 gives exactly that).
pub const DEFAULT_BUDGET_EXCEEDED_STATUS: u16 = 429;

fn err(path: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn join(parent: &str, key: &str) -> String {
    format!("{parent}.{key}")
}

/// A JSON number, or a numeric string (LiteLLM reads `"3e-7"` from YAML as a price too).
fn number(v: &Value, path: &str) -> Result<Option<f64>, ConfigError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| err(path, "expected a number")),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map(Some)
            .map_err(|_| err(path, "expected a number, got a string that is not one")),
        _ => Err(err(path, "expected a number")),
    }
}

/// An amount of USD as pico-dollars; a number finer than 1e-12 USD is rounded with a warning.
fn usd(v: &Value, path: &str, warnings: &mut Vec<String>) -> Result<Option<u64>, ConfigError> {
    let Some(x) = number(v, path)? else {
        return Ok(None);
    };
    let p = usd_to_pico(x)
        .ok_or_else(|| err(path, "expected an amount of USD from 0 to 18,000,000"))?;
    if !p.exact {
        warnings.push(format!(
            "{path}: {} USD has digits below 1e-12 USD; rounded to {} pico-dollars",
            py_float(x),
            p.value
        ));
    }
    Ok(Some(p.value))
}

fn string<'a>(v: &'a Value, path: &str) -> Result<Option<&'a str>, ConfigError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(err(path, "expected a string")),
    }
}

fn boolean(v: &Value, path: &str) -> Result<bool, ConfigError> {
    match v {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(*b),
        _ => Err(err(path, "expected a boolean")),
    }
}

fn object<'a>(v: &'a Value, path: &str) -> Result<Option<&'a Map<String, Value>>, ConfigError> {
    match v {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(m)),
        _ => Err(err(path, "expected an object")),
    }
}

fn list<'a>(v: &'a Value, path: &str) -> Result<&'a [Value], ConfigError> {
    match v {
        Value::Null => Ok(&[]),
        Value::Array(a) => Ok(a),
        _ => Err(err(path, "expected a list")),
    }
}

// ----- prices -------------------------------------------------------------------------------

/// A `model_list` deployment's own prices (`litellm_params` over `model_info`) and the model
/// LiteLLM prices it as.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeploymentPrices {
    /// `model_info.base_model`, else `litellm_params.base_model`: the table entry to price by.
    pub base_model: Option<String>,
    /// The rates the deployment sets.
    pub overrides: Rates,
}

impl DeploymentPrices {
    /// The deployment's rates: the built-in table's for its base model (else
    /// `litellm_params.model`, `litellm_model`) on `provider`, with its own prices over them as
    /// LiteLLM registers them. `None`: no price at all (spend not tracked).
    pub fn rates(&self, litellm_model: &str, provider: &str) -> Option<Rates> {
        let backend = self.base_model.as_deref().unwrap_or(litellm_model);
        let table = lookup(backend, Some(provider))
            .or_else(|| {
                self.base_model
                    .as_ref()
                    .and_then(|_| lookup(litellm_model, Some(provider)))
            })
            .map(|m| m.rates);
        Rates::for_deployment(table.as_ref(), &self.overrides)
    }
}

/// A LiteLLM rate key → the rate and its long-context threshold.
fn rate_key(name: &str) -> Option<(RateKey, Option<u64>)> {
    let (rest, tier) = if let Some(r) = name.strip_suffix("_flex") {
        (r, Tier::Flex)
    } else if let Some(r) = name.strip_suffix("_priority") {
        (r, Tier::Priority)
    } else {
        (name, Tier::Standard)
    };
    let (rest, threshold) = match rest.rsplit_once("_above_") {
        Some((head, tail)) => {
            let n = tail.strip_suffix("_tokens")?;
            let (digits, scale) = match n.strip_suffix('k') {
                Some(d) => (d, 1000),
                None => (n, 1),
            };
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (head, Some(digits.parse::<u64>().ok()?.checked_mul(scale)?))
        }
        None => (rest, None),
    };
    let base = *Base::ALL.iter().find(|b| b.key() == rest)?;
    Some((
        RateKey {
            base,
            tier,
            above: threshold.is_some(),
        },
        threshold,
    ))
}

/// Parses a deployment's prices from its `litellm_params` and `model_info` (either may be
/// absent). `path` is the deployment's path (`model_list[0]`).
pub fn deployment_prices(
    litellm_params: Option<&Map<String, Value>>,
    model_info: Option<&Map<String, Value>>,
    path: &str,
    warnings: &mut Vec<String>,
) -> Result<DeploymentPrices, ConfigError> {
    let mut out = DeploymentPrices::default();
    // model_info first, litellm_params over it (LiteLLM copies litellm_params' prices onto the
    // deployment's model info).
    let sources = [
        (model_info, "model_info"),
        (litellm_params, "litellm_params"),
    ];
    for (map, section) in sources {
        let Some(map) = map else { continue };
        let spath = join(path, section);
        for (k, v) in map {
            let kpath = join(&spath, k);
            if k == "base_model" {
                if let Some(b) = string(v, &kpath)?.filter(|s| !s.is_empty()) {
                    // model_info.base_model wins over litellm_params.base_model.
                    if section == "model_info" || out.base_model.is_none() {
                        out.base_model = Some(b.to_owned());
                    }
                }
                continue;
            }
            let Some((key, threshold)) = rate_key(k) else {
                if k.contains("cost") || k == "tiered_pricing" {
                    warnings.push(format!(
                        "{kpath}: the filter prices tokens only; this price is not used"
                    ));
                }
                continue;
            };
            let Some(pico) = usd(v, &kpath, warnings)? else {
                continue;
            };
            if !litellm_bills(key, threshold.unwrap_or(0)) {
                warnings.push(format!(
                    "{kpath}: LiteLLM's cost calculator does not bill this rate; not used"
                ));
                continue;
            }
            if let Some(t) = threshold {
                match out.overrides.threshold() {
                    Some(existing) if existing != t => {
                        return Err(err(
                            &kpath,
                            format!("a second long-context threshold ({t} tokens; another price uses {existing}): one per deployment"),
                        ))
                    }
                    _ => out.overrides.set_threshold(t),
                }
            }
            out.overrides.set(key, pico);
        }
    }
    Ok(out)
}

/// The prices of every `model_list` entry, in order (entries the main parser has already
/// checked: only their price keys are read here).
pub fn model_list_prices(
    model_list: &Value,
    warnings: &mut Vec<String>,
) -> Result<Vec<DeploymentPrices>, ConfigError> {
    list(model_list, "model_list")?
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let path = format!("model_list[{i}]");
            let section = |k: &str| -> Result<Option<&Map<String, Value>>, ConfigError> {
                entry
                    .get(k)
                    .map_or(Ok(None), |v| object(v, &join(&path, k)))
            };
            deployment_prices(
                section("litellm_params")?,
                section("model_info")?,
                &path,
                warnings,
            )
        })
        .collect()
}

// ----- budgets ------------------------------------------------------------------------------

/// A budget as written, before the reset settings are known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetSpec {
    /// `max_budget`, pico-dollars.
    pub max_budget: Option<u64>,
    /// `soft_budget`, pico-dollars.
    pub soft_budget: Option<u64>,
    /// `budget_duration`.
    pub duration: Option<BudgetDuration>,
    /// `budget_reset_at`, ms since the epoch.
    pub reset_at_ms: Option<i64>,
}

impl BudgetSpec {
    /// Reads `max_budget`, `soft_budget`, `budget_duration` and `budget_reset_at` of one entry
    /// (`path` is the entry's); `None` when it has none of them.
    pub fn parse(
        m: &Map<String, Value>,
        path: &str,
        warnings: &mut Vec<String>,
    ) -> Result<Option<BudgetSpec>, ConfigError> {
        let get = |k: &str| m.get(k).unwrap_or(&Value::Null);
        let max_budget = usd(get("max_budget"), &join(path, "max_budget"), warnings)?;
        let soft_budget = usd(get("soft_budget"), &join(path, "soft_budget"), warnings)?;
        let dpath = join(path, "budget_duration");
        let duration = string(get("budget_duration"), &dpath)?
            .map(|d| BudgetDuration::parse(d).map_err(|e| err(&dpath, e)))
            .transpose()?;
        let rpath = join(path, "budget_reset_at");
        let reset_at_ms = string(get("budget_reset_at"), &rpath)?
            .map(|d| parse_datetime(d).map_err(|e| err(&rpath, e)))
            .transpose()?;
        if reset_at_ms.is_some() && duration.is_none() {
            return Err(err(
                &rpath,
                "needs a budget_duration: it sets when the first period ends",
            ));
        }
        if max_budget.is_none() && soft_budget.is_none() {
            if duration.is_some() {
                warnings.push(format!(
                    "{path}: budget_duration without max_budget or soft_budget: no budget to reset"
                ));
            }
            return Ok(None);
        }
        Ok(Some(BudgetSpec {
            max_budget,
            soft_budget,
            duration,
            reset_at_ms,
        }))
    }

    /// The budget, with LiteLLM's calendar-aligned resets at `time_of_day_ms`.
    pub fn budget(&self, time_of_day_ms: i64) -> Budget {
        Budget {
            max_budget: self.max_budget,
            soft_budget: self.soft_budget,
            reset: match self.duration {
                None => ResetPolicy::Never,
                Some(duration) => ResetPolicy::Calendar {
                    duration,
                    time_of_day_ms,
                    first_reset_ms: self.reset_at_ms,
                },
            },
        }
    }
}

/// Everything spend and budgets need from the configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct SpendSettings {
    /// `telemetry_settings.enforce_budgets`: refuse requests over a max budget (off by default).
    pub enforce_budgets: bool,
    /// The refusal's status (`litellm_settings.budget_exceeded_status_code`).
    pub budget_exceeded_status: u16,
    /// `litellm_settings.budget_reset_time`, ms after midnight UTC.
    pub time_of_day_ms: i64,
    /// Key budgets by `hashed_api_key`.
    pub keys: HashMap<String, Budget>,
    /// Team budgets by `team_id`.
    pub teams: HashMap<String, Budget>,
    /// User budgets by `user_id`.
    pub users: HashMap<String, Budget>,
    /// End-user budgets by id.
    pub end_users: HashMap<String, Budget>,
    /// `litellm_settings.max_end_user_budget`: every other end user's.
    pub default_end_user: Option<Budget>,
    /// `router_settings.provider_budget_config`, by provider.
    pub providers: HashMap<String, Budget>,
    /// `litellm_settings.max_budget` + `budget_duration`.
    pub proxy: Option<Budget>,
    /// `general_settings.apply_user_budget_to_team_keys`.
    pub apply_user_budget_to_team_keys: bool,
    /// `general_settings.spend_report_frequency`.
    pub spend_report_frequency: ReportFrequency,
    /// `telemetry_settings.max_budget_holders`.
    pub max_budget_holders: usize,
    /// Accepted with a reservation: log each once.
    pub warnings: Vec<String>,
}

impl Default for SpendSettings {
    fn default() -> SpendSettings {
        SpendSettings {
            enforce_budgets: false,
            budget_exceeded_status: DEFAULT_BUDGET_EXCEEDED_STATUS,
            time_of_day_ms: 0,
            keys: HashMap::new(),
            teams: HashMap::new(),
            users: HashMap::new(),
            end_users: HashMap::new(),
            default_end_user: None,
            providers: HashMap::new(),
            proxy: None,
            apply_user_budget_to_team_keys: false,
            spend_report_frequency: ReportFrequency::default(),
            max_budget_holders: DEFAULT_MAX_BUDGET_HOLDERS,
            warnings: Vec::new(),
        }
    }
}

/// One budget that applies to a request.
#[derive(Clone, Debug, PartialEq)]
pub struct Holder<'a> {
    /// Whose.
    pub kind: HolderKind,
    /// Its shared-data key ([`holder_key`]).
    pub key: String,
    /// The budget.
    pub budget: &'a Budget,
}

impl SpendSettings {
    /// Whether a request can be refused: budgets are enforced and some budget is configured
    /// (else nothing at request headers needs the budgets, or even the clock).
    pub fn may_refuse(&self) -> bool {
        self.enforce_budgets && self.has_budgets()
    }

    /// Whether any budget is configured (else no spend needs sharing between workers).
    pub fn has_budgets(&self) -> bool {
        !self.keys.is_empty()
            || !self.teams.is_empty()
            || !self.users.is_empty()
            || !self.end_users.is_empty()
            || self.default_end_user.is_some()
            || !self.providers.is_empty()
            || self.proxy.is_some()
    }

    /// The budgets that apply to a request from `who`, in LiteLLM's checking order: key, team,
    /// user (not for a team's key unless `apply_user_budget_to_team_keys`), end user, proxy,
    /// provider.
    pub fn holders(&self, who: &Identity) -> Vec<Holder<'_>> {
        if !self.has_budgets() {
            return Vec::new();
        }
        let user_counts = who.team_id.is_none() || self.apply_user_budget_to_team_keys;
        let candidates: [(HolderKind, Option<&str>, Option<&Budget>); 6] = [
            (
                HolderKind::Key,
                who.hashed_api_key,
                who.hashed_api_key.and_then(|k| self.keys.get(k)),
            ),
            (
                HolderKind::Team,
                who.team_id,
                who.team_id.and_then(|t| self.teams.get(t)),
            ),
            (
                HolderKind::User,
                who.user_id,
                who.user_id
                    .filter(|_| user_counts)
                    .and_then(|u| self.users.get(u)),
            ),
            (
                HolderKind::EndUser,
                who.end_user,
                who.end_user
                    .and_then(|e| self.end_users.get(e).or(self.default_end_user.as_ref())),
            ),
            (HolderKind::Proxy, Some(""), self.proxy.as_ref()),
            (
                HolderKind::Provider,
                who.provider,
                who.provider.and_then(|p| self.providers.get(p)),
            ),
        ];
        // The budget first: most requests have an identity and no budget, and then no key is
        // built for them.
        candidates
            .into_iter()
            .filter_map(|(kind, id, budget)| {
                let budget = budget?;
                Some(Holder {
                    kind,
                    key: holder_key(kind.as_str(), id?),
                    budget,
                })
            })
            .collect()
    }
}

/// A table of budget holders (`teams[]`, `users[]`, `end_users[]`): `id_key` names each entry,
/// `allowed` are its other keys.
fn holder_table(
    v: &Value,
    path: &str,
    id_key: &str,
    allowed: &[&str],
    time_of_day_ms: i64,
    warnings: &mut Vec<String>,
) -> Result<HashMap<String, Budget>, ConfigError> {
    let mut out = HashMap::new();
    let mut seen: Vec<&str> = Vec::new();
    for (i, entry) in list(v, path)?.iter().enumerate() {
        let epath = format!("{path}[{i}]");
        let m = object(entry, &epath)?.ok_or_else(|| err(&epath, "expected an object"))?;
        for k in m.keys() {
            if k != id_key
                && !allowed.contains(&k.as_str())
                && !KEY_ENTRY_KEYS.contains(&k.as_str())
            {
                let mut expected: Vec<&str> = vec![id_key];
                expected.extend_from_slice(allowed);
                expected.extend_from_slice(KEY_ENTRY_KEYS);
                return Err(err(
                    &join(&epath, k),
                    format!("unknown key; expected one of {}", expected.join(", ")),
                ));
            }
        }
        let ipath = join(&epath, id_key);
        let id = match m.get(id_key) {
            Some(v) => string(v, &ipath)?.filter(|s| !s.is_empty()),
            None => None,
        }
        .ok_or_else(|| err(&ipath, "required key is missing"))?;
        if seen.contains(&id) {
            return Err(err(&ipath, format!("\"{id}\" is listed twice")));
        }
        seen.push(id);
        if let Some(spec) = BudgetSpec::parse(m, &epath, warnings)? {
            out.insert(id.to_owned(), spec.budget(time_of_day_ms));
        }
    }
    Ok(out)
}

/// Parses the spend settings from the configuration's root object. `key_budgets` are the
/// `telemetry_settings.keys[]` budgets ([`BudgetSpec::parse`] on each entry), by key hash, as
/// the main parser resolves the keys.
pub fn parse(
    root: &Map<String, Value>,
    key_budgets: &[(String, BudgetSpec)],
) -> Result<SpendSettings, ConfigError> {
    let mut s = SpendSettings::default();
    let mut warnings = Vec::new();
    let section = |name: &str| -> Result<Option<&Map<String, Value>>, ConfigError> {
        root.get(name).map_or(Ok(None), |v| object(v, name))
    };
    let null = Value::Null;

    if let Some(ls) = section("litellm_settings")? {
        let p = "litellm_settings";
        let get = |k: &str| ls.get(k).unwrap_or(&null);
        if let Some(t) = string(get("budget_reset_time"), &join(p, "budget_reset_time"))? {
            s.time_of_day_ms =
                parse_time_of_day(t).map_err(|e| err(&join(p, "budget_reset_time"), e))?;
        }
        if let Some(tz) = string(get("timezone"), &join(p, "timezone"))? {
            if !["utc", "etc/utc", "gmt", "etc/gmt", "z"]
                .contains(&tz.to_ascii_lowercase().as_str())
            {
                warnings.push(format!(
                    "{p}.timezone: \"{tz}\": the filter has no time zone database; budgets reset in UTC"
                ));
            }
        }
        let status = get("budget_exceeded_status_code");
        if !status.is_null() {
            let spath = join(p, "budget_exceeded_status_code");
            s.budget_exceeded_status = status
                .as_u64()
                .and_then(|c| u16::try_from(c).ok())
                .filter(|c| (400..=599).contains(c))
                .ok_or_else(|| err(&spath, "expected an HTTP error status, 400 to 599"))?;
        }
        // The proxy's budget: LiteLLM checks it only when max_budget > 0.
        let max = usd(get("max_budget"), &join(p, "max_budget"), &mut warnings)?;
        let dpath = join(p, "budget_duration");
        let duration = string(get("budget_duration"), &dpath)?
            .map(|d| BudgetDuration::parse(d).map_err(|e| err(&dpath, e)))
            .transpose()?;
        if let Some(max) = max.filter(|m| *m > 0) {
            s.proxy = Some(
                BudgetSpec {
                    max_budget: Some(max),
                    soft_budget: None,
                    duration,
                    reset_at_ms: None,
                }
                .budget(s.time_of_day_ms),
            );
        }
        if let Some(max) = usd(
            get("max_end_user_budget"),
            &join(p, "max_end_user_budget"),
            &mut warnings,
        )? {
            s.default_end_user = Some(Budget {
                max_budget: Some(max),
                soft_budget: None,
                reset: ResetPolicy::Never,
            });
        }
    }

    if let Some(gs) = section("general_settings")? {
        let p = "general_settings";
        if let Some(f) = gs.get("spend_report_frequency") {
            let fpath = join(p, "spend_report_frequency");
            if let Some(f) = string(f, &fpath)? {
                s.spend_report_frequency = ReportFrequency::parse(f).map_err(|e| err(&fpath, e))?;
            }
        }
        if let Some(v) = gs.get("apply_user_budget_to_team_keys") {
            s.apply_user_budget_to_team_keys =
                boolean(v, &join(p, "apply_user_budget_to_team_keys"))?;
        }
    }

    if let Some(ts) = section("telemetry_settings")? {
        let p = "telemetry_settings";
        let tod = s.time_of_day_ms;
        for (k, v) in ts {
            let kpath = join(p, k);
            match k.as_str() {
                "enforce_budgets" => s.enforce_budgets = boolean(v, &kpath)?,
                "max_budget_holders" => {
                    s.max_budget_holders = v
                        .as_u64()
                        .filter(|n| *n > 0)
                        .and_then(|n| usize::try_from(n).ok())
                        .ok_or_else(|| err(&kpath, "expected a positive integer"))?;
                }
                "teams" => {
                    s.teams =
                        holder_table(v, &kpath, "team_id", &["team_alias"], tod, &mut warnings)?
                }
                "users" => {
                    s.users =
                        holder_table(v, &kpath, "user_id", &["user_email"], tod, &mut warnings)?
                }
                "end_users" => {
                    s.end_users = holder_table(v, &kpath, "user_id", &[], tod, &mut warnings)?
                }
                _ => {}
            }
        }
    }

    if let Some(rs) = section("router_settings")? {
        let p = "router_settings.provider_budget_config";
        if let Some(cfg) = rs
            .get("provider_budget_config")
            .map(|v| object(v, p))
            .transpose()?
            .flatten()
        {
            for (provider, entry) in cfg {
                let epath = join(p, provider);
                // LiteLLM raises on a provider without a config.
                let m = object(entry, &epath)?.ok_or_else(|| {
                    err(
                        &epath,
                        "expected an object with budget_limit and time_period",
                    )
                })?;
                for k in m.keys() {
                    if k != "budget_limit" && k != "time_period" {
                        warnings.push(format!(
                            "{}: LiteLLM's provider budgets read budget_limit and time_period only; ignored",
                            join(&epath, k)
                        ));
                    }
                }
                let limit = usd(
                    m.get("budget_limit").unwrap_or(&null),
                    &join(&epath, "budget_limit"),
                    &mut warnings,
                )?;
                let tpath = join(&epath, "time_period");
                let period = string(m.get("time_period").unwrap_or(&null), &tpath)?
                    .map(|d| BudgetDuration::parse(d).map_err(|e| err(&tpath, e)))
                    .transpose()?;
                match (limit, period) {
                    (Some(max), Some(duration)) => {
                        s.providers.insert(
                            provider.clone(),
                            Budget {
                                max_budget: Some(max),
                                soft_budget: None,
                                reset: ResetPolicy::Rolling { duration },
                            },
                        );
                    }
                    (Some(_), None) => warnings.push(format!(
                        "{epath}: no time_period: LiteLLM never tracks this provider's spend, so it is not enforced"
                    )),
                    (None, _) => {}
                }
            }
        }
    }

    for (hash, spec) in key_budgets {
        s.keys.insert(hash.clone(), spec.budget(s.time_of_day_ms));
    }
    s.warnings = warnings;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spend::money::PICO_PER_USD;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn deployment_prices_override_the_table() {
        let mut w = Vec::new();
        let lp = map(
            json!({"model": "azure/my-gpt4o", "input_cost_per_token": 0.000001,
                            "output_cost_per_token": "2e-6", "cache_read_input_token_cost": 5e-7}),
        );
        let info =
            map(json!({"base_model": "azure/gpt-4o", "input_cost_per_token": 0.5, "id": "x"}));
        let d = deployment_prices(Some(&lp), Some(&info), "model_list[0]", &mut w).unwrap();
        assert_eq!(d.base_model.as_deref(), Some("azure/gpt-4o"));
        // litellm_params wins over model_info.
        assert_eq!(
            d.overrides.get(RateKey::standard(Base::Input)),
            Some(1_000_000)
        );
        assert_eq!(
            d.overrides.get(RateKey::standard(Base::Output)),
            Some(2_000_000)
        );
        assert!(w.is_empty(), "{w:?}");
        let r = d.rates("azure/my-gpt4o", "azure").unwrap();
        assert_eq!(r.get(RateKey::standard(Base::CacheRead)), Some(500_000));
        // Nothing set: the base model's table price (azure/gpt-4o: 2.5e-06 in).
        let plain = DeploymentPrices {
            base_model: Some("azure/gpt-4o".into()),
            ..Default::default()
        };
        assert_eq!(
            plain
                .rates("azure/x", "azure")
                .unwrap()
                .get(RateKey::standard(Base::Input)),
            Some(2_500_000)
        );
        // A base model the table does not know falls back to litellm_params.model.
        let unknown = DeploymentPrices {
            base_model: Some("azure/nope".into()),
            ..Default::default()
        };
        assert!(unknown.rates("azure/gpt-4o", "azure").is_some());
        assert_eq!(
            DeploymentPrices::default().rates("my-private-model", "openai"),
            None
        );
    }

    #[test]
    fn deployment_price_keys_and_refusals() {
        let mut w = Vec::new();
        let lp = map(json!({
            "input_cost_per_token_above_200k_tokens": 5e-6,
            "output_cost_per_token_priority": 3e-5,
            "input_cost_per_audio_token_priority": 1e-6,
            "input_cost_per_second": 0.01,
            "output_cost_per_reasoning_token": 1.23456789e-13
        }));
        let d = deployment_prices(Some(&lp), None, "model_list[1]", &mut w).unwrap();
        assert_eq!(d.overrides.threshold(), Some(200_000));
        let above = RateKey {
            base: Base::Input,
            tier: Tier::Standard,
            above: true,
        };
        assert_eq!(d.overrides.get(above), Some(5_000_000));
        let prio = RateKey {
            base: Base::Output,
            tier: Tier::Priority,
            above: false,
        };
        assert_eq!(d.overrides.get(prio), Some(30_000_000));
        w.sort();
        assert_eq!(
            w,
            vec![
                "model_list[1].litellm_params.input_cost_per_audio_token_priority: LiteLLM's cost calculator does not bill this rate; not used",
                "model_list[1].litellm_params.input_cost_per_second: the filter prices tokens only; this price is not used",
                "model_list[1].litellm_params.output_cost_per_reasoning_token: 1.23456789e-13 USD has digits below 1e-12 USD; rounded to 0 pico-dollars",
            ]
        );
        let bad = |v: Value| {
            deployment_prices(Some(&map(v)), None, "model_list[2]", &mut Vec::new()).unwrap_err()
        };
        assert_eq!(
            bad(json!({"input_cost_per_token": -1})),
            err(
                "model_list[2].litellm_params.input_cost_per_token",
                "expected an amount of USD from 0 to 18,000,000"
            )
        );
        assert_eq!(
            bad(json!({"input_cost_per_token": "cheap"})).message,
            "expected a number, got a string that is not one"
        );
        assert!(bad(json!({"input_cost_per_token_above_200k_tokens": 1e-6, "output_cost_per_token_above_272k_tokens": 1e-6}))
            .message
            .contains("second long-context threshold"));
    }

    #[test]
    fn budgets_parse_into_holders() {
        let root = map(json!({
            "litellm_settings": {"max_budget": 100, "budget_duration": "30d", "max_end_user_budget": 0.5,
                                 "budget_reset_time": "06:00", "budget_exceeded_status_code": 422},
            "general_settings": {"spend_report_frequency": "1d", "apply_user_budget_to_team_keys": true},
            "telemetry_settings": {
                "enforce_budgets": true,
                "teams": [{"team_id": "t1", "team_alias": "One", "max_budget": 10, "budget_duration": "7d"}],
                "users": [{"user_id": "u1", "max_budget": 1}],
                "end_users": [{"user_id": "cust-1", "max_budget": 0.1, "budget_duration": "1d"}]
            },
            "router_settings": {"provider_budget_config": {"openai": {"budget_limit": 50, "time_period": "1d"}}}
        }));
        let mut w = Vec::new();
        let key = BudgetSpec::parse(
            &map(json!({"api_key": "sk-x", "max_budget": 0.0001, "soft_budget": 0.00005, "budget_duration": "1h",
                        "budget_reset_at": "2026-12-02T14:00:00Z"})),
            "telemetry_settings.keys[0]",
            &mut w,
        )
        .unwrap()
        .unwrap();
        let s = parse(&root, &[("abc".into(), key)]).unwrap();
        assert!(s.enforce_budgets && s.apply_user_budget_to_team_keys && s.has_budgets());
        assert_eq!(
            (s.budget_exceeded_status, s.time_of_day_ms),
            (422, 6 * 3_600_000)
        );
        assert_eq!(s.spend_report_frequency.days, 1);
        let k = &s.keys["abc"];
        assert_eq!(
            (k.max_budget, k.soft_budget),
            (Some(100_000_000), Some(50_000_000))
        );
        assert_eq!(
            k.reset,
            ResetPolicy::Calendar {
                duration: BudgetDuration::parse("1h").unwrap(),
                time_of_day_ms: 6 * 3_600_000,
                first_reset_ms: Some(parse_datetime("2026-12-02T14:00:00Z").unwrap())
            }
        );
        assert_eq!(
            s.proxy.as_ref().unwrap().max_budget,
            Some(100 * PICO_PER_USD)
        );
        assert_eq!(
            s.providers["openai"].reset,
            ResetPolicy::Rolling {
                duration: BudgetDuration::parse("1d").unwrap()
            }
        );
        let who = Identity {
            hashed_api_key: Some("abc"),
            team_id: Some("t1"),
            user_id: Some("u1"),
            end_user: Some("someone-else"),
            provider: Some("openai"),
            ..Identity::default()
        };
        let h: Vec<(HolderKind, String)> = s
            .holders(&who)
            .into_iter()
            .map(|h| (h.kind, h.key))
            .collect();
        assert_eq!(
            h,
            vec![
                (HolderKind::Key, "llm_telemetry.spend.key.abc".into()),
                (HolderKind::Team, "llm_telemetry.spend.team.t1".into()),
                (HolderKind::User, "llm_telemetry.spend.user.u1".into()),
                (
                    HolderKind::EndUser,
                    "llm_telemetry.spend.end_user.someone-else".into()
                ),
                (HolderKind::Proxy, "llm_telemetry.spend.proxy.".into()),
                (
                    HolderKind::Provider,
                    "llm_telemetry.spend.provider.openai".into()
                ),
            ]
        );
        // The default end-user budget for an end user not in the table.
        assert_eq!(s.holders(&who)[3].budget.max_budget, Some(500_000_000_000));
        assert!(
            w.is_empty() && s.warnings.is_empty(),
            "{w:?} {:?}",
            s.warnings
        );
        // Without apply_user_budget_to_team_keys, a team's key does not spend the user's budget.
        let s2 = parse(
            &map(json!({"telemetry_settings": {"users": [{"user_id": "u1", "max_budget": 1}]}})),
            &[],
        )
        .unwrap();
        assert!(s2.holders(&who).is_empty());
        assert_eq!(
            s2.holders(&Identity {
                user_id: Some("u1"),
                ..Identity::default()
            })
            .len(),
            1
        );
        assert_eq!(
            (s2.enforce_budgets, s2.budget_exceeded_status),
            (false, 429)
        );
        assert!(!parse(&Map::new(), &[]).unwrap().has_budgets());
    }

    #[test]
    fn budget_errors_name_the_field() {
        let e = |v: Value| parse(&map(v), &[]).unwrap_err();
        assert_eq!(
            e(json!({"telemetry_settings": {"teams": [{"team_id": "t", "max_budget": 1, "budget_duration": "2mo"}]}})).path,
            "telemetry_settings.teams[0].budget_duration"
        );
        assert_eq!(
            e(json!({"telemetry_settings": {"teams": [{"max_budget": 1}]}})),
            err(
                "telemetry_settings.teams[0].team_id",
                "required key is missing"
            )
        );
        assert_eq!(
            e(json!({"telemetry_settings": {"teams": [{"team_id": "t"}, {"team_id": "t"}]}}))
                .message,
            "\"t\" is listed twice"
        );
        assert!(
            e(json!({"telemetry_settings": {"users": [{"user_id": "u", "budget": 1}]}}))
                .message
                .starts_with("unknown key; expected one of user_id, user_email, max_budget")
        );
        assert_eq!(
            e(json!({"litellm_settings": {"budget_reset_time": "25:00"}})).path,
            "litellm_settings.budget_reset_time"
        );
        assert_eq!(
            e(json!({"litellm_settings": {"budget_exceeded_status_code": 200}})).message,
            "expected an HTTP error status, 400 to 599"
        );
        assert_eq!(
            e(json!({"general_settings": {"spend_report_frequency": "1w"}})).path,
            "general_settings.spend_report_frequency"
        );
        assert_eq!(
            e(json!({"router_settings": {"provider_budget_config": {"openai": null}}})).path,
            "router_settings.provider_budget_config.openai"
        );
        assert_eq!(
            e(json!({"telemetry_settings": {"max_budget_holders": 0}})).message,
            "expected a positive integer"
        );
        let mut w = Vec::new();
        assert_eq!(
            BudgetSpec::parse(
                &map(json!({"max_budget": 1, "budget_reset_at": "2026-01-01"})),
                "k",
                &mut w
            )
            .unwrap_err(),
            err(
                "k.budget_reset_at",
                "needs a budget_duration: it sets when the first period ends"
            )
        );
        assert_eq!(
            BudgetSpec::parse(&map(json!({"key_alias": "x"})), "k", &mut w),
            Ok(None)
        );
    }

    #[test]
    fn accepted_with_a_warning() {
        let s = parse(
            &map(json!({
                "litellm_settings": {"timezone": "US/Eastern"},
                "router_settings": {"provider_budget_config": {
                    "openai": {"budget_limit": 1},
                    "azure": {"max_budget": 1, "budget_limit": 2, "time_period": "1h"}}},
                "telemetry_settings": {"teams": [{"team_id": "t", "budget_duration": "1d"}]}
            })),
            &[],
        )
        .unwrap();
        let mut w = s.warnings.clone();
        w.sort();
        assert_eq!(
            w,
            vec![
                "litellm_settings.timezone: \"US/Eastern\": the filter has no time zone database; budgets reset in UTC",
                "router_settings.provider_budget_config.azure.max_budget: LiteLLM's provider budgets read budget_limit and time_period only; ignored",
                "router_settings.provider_budget_config.openai: no time_period: LiteLLM never tracks this provider's spend, so it is not enforced",
                "telemetry_settings.teams[0]: budget_duration without max_budget or soft_budget: no budget to reset",
            ]
        );
        assert_eq!(s.providers.keys().collect::<Vec<_>>(), vec!["azure"]);
        assert!(s.teams.is_empty());
    }
}
