//! The sections of a LiteLLM configuration, read into [`super::Config`]: `environment_variables`,
//! `model_list`, `litellm_settings`, `general_settings`, `telemetry_settings`, `router_settings`.

use super::values::*;
use super::*;

/// The `router_settings` keys the deployment health model honours (see [`crate::health`]).
pub(super) const ROUTER_COOLDOWN_KEYS: [&str; 4] = [
    "disable_cooldowns",
    "allowed_fails",
    "cooldown_time",
    "allowed_fails_policy",
];

/// `router_settings`' cooldown keys, as LiteLLM's `Router` reads them.
pub(super) fn router_cooldowns(m: &Map<String, Value>) -> Result<CooldownSettings, ConfigError> {
    let path = |k: &str| format!("router_settings.{k}");
    let mut c = CooldownSettings::default();
    if let Some(v) = m.get("disable_cooldowns") {
        c.disable_cooldowns = boolean(v, &path("disable_cooldowns"), false)?;
    }
    if let Some(v) = m.get("allowed_fails") {
        c.allowed_fails =
            non_negative(v, &path("allowed_fails"))?.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    }
    match m.get("cooldown_time") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_f64() {
            // LiteLLM: `cooldown_time or DEFAULT_COOLDOWN_TIME_SECONDS`, so 0 is the default.
            Some(secs) if secs > 0.0 && secs.is_finite() => c.cooldown_ms = (secs * 1000.0) as u64,
            Some(0.0) => {}
            _ => return Err(type_err(&path("cooldown_time"), "a non-negative number", v)),
        },
    }
    match m.get("allowed_fails_policy") {
        None | Some(Value::Null) => {}
        Some(Value::Object(policy)) => {
            let mut out = Vec::new();
            for (field, n) in policy {
                let at = format!("router_settings.allowed_fails_policy.{field}");
                let Some((class, _)) = POLICY_CLASSES.iter().find(|(_, f)| f == field) else {
                    let known: Vec<&str> = POLICY_CLASSES.iter().map(|(_, f)| *f).collect();
                    return Err(err(
                        &at,
                        format!("unknown field, expected one of {}", known.join(", ")),
                    ));
                };
                if let Some(n) = non_negative(n, &at)? {
                    out.push(((*class).to_owned(), u32::try_from(n).unwrap_or(u32::MAX)));
                }
            }
            c.allowed_fails_policy = Some(out);
        }
        Some(v) => return Err(type_err(&path("allowed_fails_policy"), "an object", v)),
    }
    Ok(c)
}

/// `general_settings.webhook_clusters` (host → Envoy cluster) for the logging endpoints, read
/// leniently: the alerts parser refuses a malformed one when alerting is on.
pub(super) fn logging_cluster_overrides(root: &Map<String, Value>) -> HashMap<String, String> {
    root.get("general_settings")
        .and_then(|g| g.get("webhook_clusters"))
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(host, c)| {
            let c = c.as_str()?.trim();
            (!c.is_empty()).then(|| (host.trim().to_ascii_lowercase(), c.to_owned()))
        })
        .collect()
}

pub(super) struct Parser<'e> {
    pub(super) env: &'e dyn Fn(&str) -> Option<String>,
    /// `environment_variables` of the document.
    pub(super) env_vars: HashMap<String, String>,
    pub(super) ignored: Vec<String>,
    /// [`Loaded::warnings`] (a cell: resolving happens behind shared borrows of the parser).
    pub(super) warnings: RefCell<Vec<String>>,
    /// `telemetry_settings.keys[]` budgets by key hash, for `spend::settings::parse`.
    pub(super) key_budgets: Vec<(String, BudgetSpec)>,
    /// What spend accepted with a reservation (prices not used, rounding).
    pub(super) spend_warnings: Vec<String>,
}

/// What an unset variable means where it is referenced, for the warning that names it.
pub(super) const READS_UNSET: &str = "read as unset";

impl Parser<'_> {
    /// Resolves `os.environ/NAME` (the document's `environment_variables` first, then the
    /// process environment); any other string is returned as it is. A variable that is not set
    /// is `None`, as LiteLLM's `get_secret` returns it, with a warning saying what that means
    /// at `path` (`consequence`).
    pub(super) fn resolve(&self, s: &str, path: &str, consequence: &str) -> Option<String> {
        let Some(name) = s.strip_prefix("os.environ/") else {
            return Some(s.to_owned());
        };
        if let Some(v) = self.env_vars.get(name) {
            return Some(v.clone());
        }
        if let Some(v) = (!name.is_empty()).then(|| (self.env)(name)).flatten() {
            return Some(v);
        }
        let what = if name.is_empty() {
            "os.environ/ names no variable".to_owned()
        } else {
            format!("environment variable {name} is not set")
        };
        self.warnings
            .borrow_mut()
            .push(format!("{path}: {what}: {consequence}"));
        None
    }

    /// An optional string that may be an `os.environ/` reference (an unset variable reads as
    /// absent).
    pub(super) fn opt_string(
        &self,
        m: &Map<String, Value>,
        key: &str,
        parent: &str,
    ) -> Result<Option<String>, ConfigError> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => {
                let path = key_path(parent, key);
                Ok(self.resolve(string(v, &path)?, &path, READS_UNSET))
            }
        }
    }

    /// A secret string (`os.environ/` allowed); type errors do not show the value. An unset
    /// variable or an empty value is `None` (LiteLLM treats both as no value), with a warning.
    pub(super) fn secret(
        &self,
        v: &Value,
        path: &str,
        consequence: &str,
    ) -> Result<Option<String>, ConfigError> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => match self.resolve(s, path, consequence) {
                Some(s) if s.is_empty() => {
                    self.warnings
                        .borrow_mut()
                        .push(format!("{path}: empty: {consequence}"));
                    Ok(None)
                }
                other => Ok(other),
            },
            _ => Err(err(
                path,
                format!("expected a string, got {}", describe(v, true)),
            )),
        }
    }

    pub(super) fn environment_variables(&mut self, v: &Value) -> Result<(), ConfigError> {
        let Some(m) = obj_or_null(v, "environment_variables")? else {
            return Ok(());
        };
        for (k, v) in m {
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
                Value::Null => continue,
                _ => {
                    let path = key_path("environment_variables", k);
                    return Err(err(
                        &path,
                        format!("expected a string, got {}", describe(v, true)),
                    ));
                }
            };
            self.env_vars.insert(k.clone(), value);
        }
        Ok(())
    }

    pub(super) fn model_list(&mut self, v: &Value) -> Result<Vec<Deployment>, ConfigError> {
        let mut out = Vec::new();
        for (i, entry) in array(v, "model_list")?.iter().enumerate() {
            out.extend(self.deployment(entry, &index_path("model_list", i))?);
        }
        Ok(out)
    }

    /// One `model_list` entry; `None` when its model is an unset variable (a deployment that
    /// serves no known model: requests for its group are labelled from the traffic).
    pub(super) fn deployment(
        &self,
        v: &Value,
        path: &str,
    ) -> Result<Option<Deployment>, ConfigError> {
        let m = obj(v, path)?;
        let model_name = match m.get("model_name") {
            Some(v) => string(v, &key_path(path, "model_name"))?.to_owned(),
            None => {
                return Err(err(
                    &key_path(path, "model_name"),
                    "required key is missing",
                ))
            }
        };
        let lp_path = key_path(path, "litellm_params");
        let lp = match m.get("litellm_params") {
            Some(v) => obj(v, &lp_path)?,
            None => return Err(err(&lp_path, "required key is missing")),
        };
        let model_path = key_path(&lp_path, "model");
        let litellm_model = match lp.get("model") {
            None | Some(Value::Null) => return Err(err(&model_path, "required key is missing")),
            Some(v) => match self.resolve(
                string(v, &model_path)?,
                &model_path,
                "the deployment is left out",
            ) {
                Some(s) if !s.is_empty() => s,
                Some(_) => return Err(err(&model_path, "must not be empty")),
                None => return Ok(None),
            },
        };
        let custom = self
            .opt_string(lp, "custom_llm_provider", &lp_path)?
            .filter(|s| !s.is_empty());
        let (provider, model) = match (custom, litellm_model.split_once('/')) {
            (Some(c), Some((prefix, rest))) if prefix == c => (c, rest.to_owned()),
            (Some(c), _) => (c, litellm_model.clone()),
            (None, Some((prefix, rest))) if !prefix.is_empty() => {
                (prefix.to_owned(), rest.to_owned())
            }
            (None, _) => ("openai".to_owned(), litellm_model.clone()),
        };
        // An unset variable labels `api_base="None"`, as LiteLLM prints the None it reads.
        let api_base = match lp.get("api_base") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let path = key_path(&lp_path, "api_base");
                Some(
                    self.resolve(string(v, &path)?, &path, "api_base reads None")
                        .unwrap_or_else(|| "None".to_owned()),
                )
            }
        }
        .filter(|s| !s.is_empty());
        let mut region = None;
        for key in ["region_name", "vertex_location", "aws_region_name"] {
            if let Some(r) = self
                .opt_string(lp, key, &lp_path)?
                .filter(|s| !s.is_empty())
            {
                region = Some(r);
                break;
            }
        }
        let info_path = key_path(path, "model_info");
        let info = match m.get("model_info") {
            Some(v) => obj_or_null(v, &info_path)?,
            None => None,
        };
        let model_id = match info.and_then(|i| i.get("id")) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(other) => return Err(type_err(&key_path(&info_path, "id"), "a string", other)),
        };
        let limit = |key: &str| -> Result<Option<u64>, ConfigError> {
            if let Some(n) = non_negative(
                lp.get(key).unwrap_or(&Value::Null),
                &key_path(&lp_path, key),
            )? {
                return Ok(Some(n));
            }
            match info.and_then(|i| i.get(key)) {
                Some(v) => non_negative(v, &key_path(&info_path, key)),
                None => Ok(None),
            }
        };
        Ok(Some(Deployment {
            model_name,
            rpm: limit("rpm")?,
            tpm: limit("tpm")?,
            litellm_model,
            model,
            provider,
            api_base,
            model_id,
            region,
            ..Deployment::default()
        }))
    }

    pub(super) fn litellm_settings(
        &mut self,
        v: &Value,
        config: &mut Config,
    ) -> Result<(), ConfigError> {
        const P: &str = "litellm_settings";
        let Some(m) = obj_or_null(v, P)? else {
            return Ok(());
        };
        let mut labels: Vec<(String, String)> = Vec::new(); // (label, path) for duplicate checks
        if let Some(v) = m.get("custom_prometheus_metadata_labels") {
            let path = key_path(P, "custom_prometheus_metadata_labels");
            for (i, item) in array(v, &path)?.iter().enumerate() {
                let ipath = index_path(&path, i);
                let key = string(item, &ipath)?;
                let lookup = key.strip_prefix("metadata.").unwrap_or(key);
                let parts: Vec<String> = lookup.split('.').map(str::to_owned).collect();
                if parts.iter().any(String::is_empty) {
                    return Err(err(&ipath, "empty key in the metadata path"));
                }
                let label = key.replace('.', "_");
                check_custom_label(&label, &ipath, &labels)?;
                labels.push((label.clone(), ipath));
                config
                    .metadata_labels
                    .push(MetadataLabel { label, path: parts });
            }
        }
        if let Some(v) = m.get("custom_prometheus_tags") {
            let path = key_path(P, "custom_prometheus_tags");
            for (i, item) in array(v, &path)?.iter().enumerate() {
                let ipath = index_path(&path, i);
                let tag = string(item, &ipath)?;
                if tag.is_empty() {
                    return Err(err(&ipath, "must not be empty"));
                }
                let label = tag_label_name(tag);
                check_custom_label(&label, &ipath, &labels)?;
                labels.push((label.clone(), ipath));
                config.tag_labels.push(TagLabel {
                    label,
                    pattern: tag.to_owned(),
                });
            }
        }
        if let Some(v) = m.get("prometheus_emit_stream_label") {
            config.emit_stream_label =
                boolean(v, &key_path(P, "prometheus_emit_stream_label"), false)?;
        }
        if let Some(v) = m.get("enable_end_user_cost_tracking_prometheus_only") {
            config.end_user_tracking = boolean(
                v,
                &key_path(P, "enable_end_user_cost_tracking_prometheus_only"),
                false,
            )?;
        }
        if let Some(v) = m.get("prometheus_metrics_config") {
            let custom: Vec<&str> = labels.iter().map(|(l, _)| l.as_str()).collect();
            config.metric_filter =
                self.metric_filter(v, &key_path(P, "prometheus_metrics_config"), &custom)?;
        }
        for (k, v) in m {
            match k.as_str() {
                "custom_prometheus_metadata_labels"
                | "custom_prometheus_tags"
                | "prometheus_emit_stream_label"
                | "enable_end_user_cost_tracking_prometheus_only"
                | "prometheus_metrics_config" => {}
                k if ALERTING_LITELLM_KEYS.contains(&k) => {
                    config
                        .alerting_general_settings
                        .insert(k.to_owned(), v.clone());
                }
                // Read by `logging::settings`.
                k if crate::logging::settings::LITELLM_SETTINGS_KEYS.contains(&k) => {}
                // Read by `spend::settings::parse`.
                k if spend_settings::LITELLM_SETTINGS_KEYS.contains(&k) => {}
                _ => self.ignored.push(key_path(P, k)),
            }
        }
        Ok(())
    }

    pub(super) fn metric_filter(
        &mut self,
        v: &Value,
        path: &str,
        custom: &[&str],
    ) -> Result<Option<MetricFilter>, ConfigError> {
        let groups = array(v, path)?;
        if groups.is_empty() {
            // LiteLLM: an empty config means no filtering.
            return Ok(None);
        }
        let mut filter = MetricFilter::default();
        for (gi, group) in groups.iter().enumerate() {
            let gpath = index_path(path, gi);
            let g = obj(group, &gpath)?;
            match g.get("group") {
                Some(v) => {
                    string(v, &key_path(&gpath, "group"))?;
                }
                None => return Err(err(&key_path(&gpath, "group"), "required key is missing")),
            }
            let mpath = key_path(&gpath, "metrics");
            let metrics = match g.get("metrics") {
                Some(v @ Value::Array(_)) => string_list(v, &mpath)?,
                Some(other) => return Err(type_err(&mpath, "a list", other)),
                None => return Err(err(&mpath, "required key is missing")),
            };
            let lpath = key_path(&gpath, "include_labels");
            let include = match g.get("include_labels") {
                Some(v) => string_list(v, &lpath)?,
                None => Vec::new(),
            };
            for (mi, metric) in metrics.iter().enumerate() {
                let ipath = index_path(&mpath, mi);
                if !LITELLM_METRIC_NAMES.contains(&metric.as_str()) {
                    return Err(err(&ipath, "unknown LiteLLM metric"));
                }
                let emitted = METRIC_ALIASES
                    .iter()
                    .find(|(older, _)| older == metric)
                    .map_or(metric.as_str(), |(_, release)| release);
                let family = family_by_name(emitted);
                match family {
                    Some(f) => {
                        for (li, label) in include.iter().enumerate() {
                            let known = f.labels.iter().any(|l| l.as_str() == label)
                                || custom.contains(&label.as_str())
                                || (f.id == FamilyId::ProxyTotalRequests
                                    && label == Label::Stream.as_str());
                            if !known {
                                return Err(err(
                                    &index_path(&lpath, li),
                                    format!("\"{label}\" is not a label of {metric}"),
                                ));
                            }
                        }
                    }
                    None => self.ignored.push(format!("{ipath} ({metric})")),
                }
                let mut names = vec![metric.clone()];
                if emitted != metric {
                    names.push(emitted.to_owned());
                }
                for name in names {
                    if !include.is_empty() {
                        filter.include.insert(name.clone(), include.clone());
                    }
                    filter.enabled.push(name);
                }
            }
            for k in g.keys() {
                if !matches!(k.as_str(), "group" | "metrics" | "include_labels") {
                    self.ignored.push(key_path(&gpath, k));
                }
            }
        }
        filter.enabled.sort_unstable();
        filter.enabled.dedup();
        Ok(Some(filter))
    }

    pub(super) fn general_settings(
        &mut self,
        v: &Value,
        config: &mut Config,
    ) -> Result<(), ConfigError> {
        const P: &str = "general_settings";
        let Some(m) = obj_or_null(v, P)? else {
            return Ok(());
        };
        for (k, v) in m {
            match k.as_str() {
                "master_key" => {
                    config.master_key_sha256 = self
                        .secret(
                            v,
                            &key_path(P, "master_key"),
                            "no key is treated as the master key",
                        )?
                        .map(|k| sha256_hex(&k));
                }
                k if ALERTING_GENERAL_KEYS.contains(&k) => {
                    config
                        .alerting_general_settings
                        .insert(k.to_owned(), v.clone());
                }
                // Read by `spend::settings::parse`.
                k if spend_settings::GENERAL_SETTINGS_KEYS.contains(&k) => {}
                _ => self.ignored.push(key_path(P, k)),
            }
        }
        Ok(())
    }

    pub(super) fn telemetry_settings(
        &mut self,
        v: &Value,
        config: &mut Config,
    ) -> Result<(), ConfigError> {
        const P: &str = "telemetry_settings";
        let Some(m) = obj_or_null(v, P)? else {
            return Ok(());
        };
        let l = &mut config.limits;
        for (k, v) in m {
            let path = key_path(P, k);
            match k.as_str() {
                "keys" => config.keys = self.keys(v, &path)?,
                "identity_headers" => config.identity_headers = identity_headers(v, &path)?,
                "inject_stream_usage" => config.inject_stream_usage = boolean(v, &path, true)?,
                // Read by the host before parsing (`InvalidConfigPolicy::of`); checked here so
                // that a misspelt value is reported rather than silently the default.
                "on_invalid_config" => {
                    let name = string(v, &path)?;
                    if InvalidConfigPolicy::from_name(name).is_none() {
                        return Err(err(
                            &path,
                            format!(
                                "unknown value {name:?}; expected one of {}",
                                InvalidConfigPolicy::NAMES.join(", ")
                            ),
                        ));
                    }
                }
                "max_capture_bytes" => l.max_capture_bytes = positive_usize(v, &path)?,
                "max_series_per_metric" => l.max_series_per_metric = positive_usize(v, &path)?,
                "max_values_per_label" => l.max_values_per_label = positive_usize(v, &path)?,
                "max_label_value_bytes" => l.max_label_value_bytes = positive_usize(v, &path)?,
                "metrics_flush_interval_ms" => l.metrics_flush_interval_ms = positive(v, &path)?,
                "max_tracked_keys" => l.max_tracked_keys = positive_usize(v, &path)?,
                "max_new_stats_per_second" => {
                    let n = positive_usize(v, &path)?;
                    let least = crate::metrics::LARGEST_FAMILY_PARTS;
                    if n < least {
                        return Err(err(&path, format!(
                            "must be at least {least}: the {least} parts of a histogram are defined together"
                        )));
                    }
                    l.max_new_stats_per_second = n;
                }
                "metric_names" => {
                    let name = string(v, &path)?;
                    config.metric_names = crate::gen_ai::Vocabulary::from_setting(name)
                        .ok_or_else(|| {
                            err(
                                &path,
                                format!("expected litellm, gen_ai (or otel) or both, got {name:?}"),
                            )
                        })?;
                }
                "logging" => {}
                // Read by `spend::settings::parse`.
                k if spend_settings::TELEMETRY_SETTINGS_KEYS.contains(&k) => {}
                _ => return Err(unknown_key(&path, TELEMETRY_KEYS)),
            }
        }
        Ok(())
    }

    pub(super) fn keys(
        &mut self,
        v: &Value,
        path: &str,
    ) -> Result<HashMap<String, KeyInfo>, ConfigError> {
        let mut out: HashMap<String, KeyInfo> = HashMap::new();
        let mut first_index: HashMap<String, usize> = HashMap::new();
        for (i, entry) in array(v, path)?.iter().enumerate() {
            let epath = index_path(path, i);
            let m = obj(entry, &epath)?;
            for k in m.keys() {
                if !KEY_ENTRY_KEYS.contains(&k.as_str()) {
                    return Err(unknown_key(&key_path(&epath, k), KEY_ENTRY_KEYS));
                }
            }
            // A key whose variable is not set cannot match a request: the entry is left out.
            const LEFT_OUT: &str = "the entry is left out";
            let given = |k: &str| m.get(k).is_some_and(|v| !v.is_null());
            if given("api_key") == given("hashed_api_key") {
                return Err(err(
                    &epath,
                    "expected exactly one of api_key, hashed_api_key",
                ));
            }
            let raw = match m.get("api_key") {
                Some(v) => self.secret(v, &key_path(&epath, "api_key"), LEFT_OUT)?,
                None => None,
            };
            let hashed = match m.get("hashed_api_key") {
                Some(v) => {
                    let hpath = key_path(&epath, "hashed_api_key");
                    match self.secret(v, &hpath, LEFT_OUT)? {
                        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                            Some(h.to_ascii_lowercase())
                        }
                        Some(_) => {
                            return Err(err(
                                &hpath,
                                "expected 64 hexadecimal characters (a SHA-256)",
                            ))
                        }
                        None => None,
                    }
                }
                None => None,
            };
            let hash = match (raw, hashed) {
                (Some(raw), _) => sha256_hex(&raw),
                (None, Some(h)) => h,
                (None, None) => continue,
            };
            if let Some(j) = first_index.get(&hash) {
                return Err(err(&epath, format!("same key as {}", index_path(path, *j))));
            }
            let field = |key: &str| self.opt_string(m, key, &epath);
            let info = KeyInfo {
                api_key_alias: field("key_alias")?,
                team: field("team_id")?,
                team_alias: field("team_alias")?,
                user: field("user_id")?,
                user_email: field("user_email")?,
                end_user: None,
                org_id: field("org_id")?,
                org_alias: field("org_alias")?,
            };
            if let Some(budget) = BudgetSpec::parse(m, &epath, &mut self.spend_warnings)? {
                self.key_budgets.push((hash.clone(), budget));
            }
            first_index.insert(hash.clone(), i);
            out.insert(hash, info);
        }
        Ok(out)
    }
}

pub(super) fn unknown_key(path: &str, expected: &[&str]) -> ConfigError {
    err(
        path,
        format!("unknown key; expected one of {}", expected.join(", ")),
    )
}

pub(super) fn check_custom_label(
    label: &str,
    path: &str,
    seen: &[(String, String)],
) -> Result<(), ConfigError> {
    if !is_label_name(label) {
        return Err(err(
            path,
            format!("\"{label}\" is not a valid Prometheus label name"),
        ));
    }
    if Label::from_name(label).is_some() {
        return Err(err(
            path,
            format!("label \"{label}\" is already a LiteLLM label"),
        ));
    }
    if let Some((_, other)) = seen.iter().find(|(l, _)| l == label) {
        return Err(err(
            path,
            format!("label \"{label}\" is already defined by {other}"),
        ));
    }
    Ok(())
}

pub(super) fn identity_headers(v: &Value, path: &str) -> Result<IdentityHeaders, ConfigError> {
    let mut h = IdentityHeaders::default();
    let Some(m) = obj_or_null(v, path)? else {
        return Ok(h);
    };
    for (k, v) in m {
        let kpath = key_path(path, k);
        let slot = match k.as_str() {
            "team" => &mut h.team,
            "team_alias" => &mut h.team_alias,
            "user" => &mut h.user,
            "user_email" => &mut h.user_email,
            "api_key_alias" => &mut h.api_key_alias,
            "end_user" => &mut h.end_user,
            "org_id" => &mut h.org_id,
            "org_alias" => &mut h.org_alias,
            _ => return Err(unknown_key(&kpath, IDENTITY_HEADER_KEYS)),
        };
        *slot = match v {
            Value::Null => None,
            _ => {
                let name = string(v, &kpath)?.trim();
                if !is_header_name(name) {
                    return Err(err(
                        &kpath,
                        format!("\"{name}\" is not a valid HTTP header name"),
                    ));
                }
                Some(name.to_ascii_lowercase())
            }
        };
    }
    Ok(h)
}
