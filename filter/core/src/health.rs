//! One deployment health for the whole proxy: `litellm_deployment_state`,
//! `litellm_deployment_cooled_down` and the cooldown alert, from LiteLLM 1.106.2's router rules.
//!
//! Every worker VM hands its finished requests' [`Outcome`]s to one elected coordinator (the
//! host adapter does the queue and the election); the coordinator feeds them, in time order, to
//! one [`HealthModel`], and writes the [`HealthUpdate`]s it returns. So the counts a rule looks
//! at are the whole proxy's, as LiteLLM's are the whole router's.
//!
//! The rules, each from LiteLLM 1.106.2 (`litellm/integrations/prometheus.py`,
//! `litellm/router.py`, `litellm/router_utils/cooldown_handlers.py`, `.../cooldown_callbacks.py`,
//! `.../router_callbacks/track_deployment_metrics.py`):
//!
//! 1. A success sets the state to 0 (`set_deployment_healthy`); a failure to 1
//!    (`set_deployment_partial_outage`). Both count into per-deployment success / failure counts
//!    that expire 60 s after their last increment (`increment_deployment_*_for_current_minute`:
//!    an in-memory counter whose 60 s TTL is set again on every increment).
//! 2. After a failure the cooldown logic runs only when (`_should_run_cooldown_logic`):
//!    `disable_cooldowns` is off; the cooldown time is not 0; and the error is one that cools
//!    down (`_is_cooldown_required`): not an `APIConnectionError`; among 4xx only 429, 401, 402,
//!    404 and 408; every other status does.
//! 3. A 402 on a deployment alone in its model group never cools down unless a policy names it.
//! 4. Without `allowed_fails` (or with LiteLLM's default, 3: `_is_allowed_fails_set_on_router`
//!    treats it as unset) and without `allowed_fails_policy`, the deployment cools down when
//!    (`_should_cooldown_deployment`'s base case): the error is a 429 and the group has other
//!    deployments; or every request of the current minute failed and there were at least
//!    1000 (`SINGLE_DEPLOYMENT_TRAFFIC_FAILURE_THRESHOLD`); or more than half failed
//!    (`DEFAULT_FAILURE_THRESHOLD_PERCENT` 0.5) among at least 5 requests
//!    (`DEFAULT_FAILURE_THRESHOLD_MINIMUM_REQUESTS`) and the group has other deployments; or the
//!    status is not one LiteLLM retries (`should_retry`: 408, 409, 429 and 5xx are retried).
//! 5. Otherwise (`should_cooldown_based_on_allowed_fails_policy`): each such failure counts into
//!    an allowed-fails counter whose TTL is the cooldown time (again set on every increment);
//!    the deployment cools down when that count exceeds the policy's number for the error's
//!    class, else `allowed_fails`.
//! 6. A cooldown sets the state to 2 and counts `litellm_deployment_cooled_down` with the
//!    status (`router_cooldown_event_callback`), for the cooldown time (router default 5 s,
//!    `DEFAULT_COOLDOWN_TIME_SECONDS`).
//!
//! Where a proxy differs: LiteLLM routes nothing to a cooled-down deployment, a proxy keeps
//! forwarding to it. A failure during the cooldown keeps state 2 and starts no second cooldown;
//! a success sets 0 and ends the cooldown (it is healthy again). As in LiteLLM the state changes
//! only with traffic.

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

/// LiteLLM's `litellm.allowed_fails`, which its router treats as "not set".
pub const LITELLM_DEFAULT_ALLOWED_FAILS: u32 = 3;
/// LiteLLM's `DEFAULT_COOLDOWN_TIME_SECONDS`, in ms.
pub const DEFAULT_COOLDOWN_MS: u64 = 5_000;
/// How long the per-minute success and failure counts live after their last increment.
const MINUTE_MS: u64 = 60_000;
/// `SINGLE_DEPLOYMENT_TRAFFIC_FAILURE_THRESHOLD`.
const ALL_FAILED_MIN_REQUESTS: u64 = 1000;
/// `DEFAULT_FAILURE_THRESHOLD_MINIMUM_REQUESTS`.
const FAILURE_RATE_MIN_REQUESTS: u64 = 5;
/// Most deployments tracked; beyond, a new one's outcomes are dropped (counted by the host).
pub const MAX_DEPLOYMENTS: usize = 10_000;

/// The error classes of LiteLLM's `AllowedFailsPolicy`, each with its field name.
pub const POLICY_CLASSES: [(&str, &str); 9] = [
    ("BadRequestError", "BadRequestErrorAllowedFails"),
    ("AuthenticationError", "AuthenticationErrorAllowedFails"),
    ("Timeout", "TimeoutErrorAllowedFails"),
    ("RateLimitError", "RateLimitErrorAllowedFails"),
    (
        "ContentPolicyViolationError",
        "ContentPolicyViolationErrorAllowedFails",
    ),
    ("InternalServerError", "InternalServerErrorAllowedFails"),
    (
        "ServiceUnavailableError",
        "ServiceUnavailableErrorAllowedFails",
    ),
    ("BadGatewayError", "BadGatewayErrorAllowedFails"),
    ("NotFoundError", "NotFoundErrorAllowedFails"),
];

/// `router_settings`' cooldown keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CooldownSettings {
    /// `disable_cooldowns`.
    pub disable_cooldowns: bool,
    /// `allowed_fails` (`None`: not set).
    pub allowed_fails: Option<u32>,
    /// `cooldown_time` in ms (LiteLLM: `cooldown_time or 5`, so 0 also means 5 s here).
    pub cooldown_ms: u64,
    /// `allowed_fails_policy`: per error class (as in [`POLICY_CLASSES`]), its allowed fails.
    pub allowed_fails_policy: Option<Vec<(String, u32)>>,
}

impl Default for CooldownSettings {
    fn default() -> Self {
        CooldownSettings {
            disable_cooldowns: false,
            allowed_fails: None,
            cooldown_ms: DEFAULT_COOLDOWN_MS,
            allowed_fails_policy: None,
        }
    }
}

impl CooldownSettings {
    fn allowed_fails_set(&self) -> bool {
        self.allowed_fails
            .is_some_and(|n| n != LITELLM_DEFAULT_ALLOWED_FAILS)
    }

    fn policy_for(&self, class: &str) -> Option<u32> {
        self.allowed_fails_policy
            .as_ref()?
            .iter()
            .find(|(c, _)| c == class)
            .map(|(_, n)| *n)
    }
}

/// What identifies a deployment: its `litellm_model_name`, `model_id`, `api_base` and
/// `api_provider` label values.
pub type DeploymentLabels = [String; 4];

/// One finished request (or a run of successes) of one deployment, from one worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The deployment.
    #[serde(rename = "d")]
    pub deployment: DeploymentLabels,
    /// Its `model_group` label.
    #[serde(rename = "g")]
    pub model_group: String,
    /// Deployments in its model group (1 when it is not in `model_list`).
    #[serde(rename = "n")]
    pub group_size: u32,
    /// Unix ms of the (last) request.
    #[serde(rename = "t")]
    pub time_ms: u64,
    /// The status; 0 for a success.
    #[serde(rename = "s", default)]
    pub status: u16,
    /// LiteLLM's error class without the provider (`InternalServerError`); empty for a success.
    #[serde(rename = "c", default, skip_serializing_if = "String::is_empty")]
    pub class: String,
    /// Successes this outcome stands for (consecutive successes are sent as one); 0 for a
    /// failure.
    #[serde(rename = "k", default)]
    pub successes: u32,
}

impl Outcome {
    /// Whether this is a run of successes.
    pub fn ok(&self) -> bool {
        self.successes > 0
    }
}

/// A deployment just cooled down.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cooldown {
    /// The status that triggered it (`exception_status`).
    pub status: u16,
    /// Its model group.
    pub model_group: String,
    /// How long, in ms.
    pub cooldown_ms: u64,
    /// Which rule, in words, for the alert.
    pub reason: String,
}

/// What the coordinator writes: a deployment's state, and the cooldown it just entered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthUpdate {
    /// The deployment.
    pub deployment: DeploymentLabels,
    /// `litellm_deployment_state`: 0 healthy, 1 partial outage, 2 complete outage.
    pub state: u8,
    /// Set when the deployment entered a cooldown now.
    pub cooldown: Option<Cooldown>,
}

/// A count that expires `ttl` after its last increment (LiteLLM's in-memory `increment_cache`).
#[derive(Clone, Copy, Default)]
struct Expiring {
    n: u64,
    expires_ms: u64,
}

impl Expiring {
    fn get(&self, now: u64) -> u64 {
        if now >= self.expires_ms {
            0
        } else {
            self.n
        }
    }

    fn add(&mut self, k: u64, now: u64, ttl: u64) -> u64 {
        self.n = self.get(now).saturating_add(k);
        self.expires_ms = now.saturating_add(ttl);
        self.n
    }
}

struct DeploymentHealth {
    /// `None` until the first outcome wrote the gauge.
    state: Option<u8>,
    successes: Expiring,
    failures: Expiring,
    allowed_fails: Expiring,
    cooldown_until_ms: u64,
}

/// The health of every deployment, for one coordinator.
pub struct HealthModel {
    settings: CooldownSettings,
    deployments: HashMap<DeploymentLabels, DeploymentHealth>,
    dropped: u64,
}

/// `litellm.should_retry`.
fn litellm_retries(status: u16) -> bool {
    matches!(status, 408 | 409 | 429) || status >= 500
}

/// `_is_cooldown_required`.
fn cooldown_required(status: u16, class: &str) -> bool {
    if class == "APIConnectionError" {
        return false;
    }
    match status {
        400..=499 => matches!(status, 429 | 401 | 402 | 404 | 408),
        _ => true,
    }
}

impl HealthModel {
    /// A model applying `settings`.
    pub fn new(settings: CooldownSettings) -> HealthModel {
        HealthModel {
            settings,
            deployments: HashMap::new(),
            dropped: 0,
        }
    }

    /// Outcomes dropped because [`MAX_DEPLOYMENTS`] were tracked.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Applies one outcome; returns what to write when the state changed (or was never
    /// written) or a cooldown began.
    pub fn apply(&mut self, o: &Outcome) -> Option<HealthUpdate> {
        let now = o.time_ms;
        if !self.deployments.contains_key(&o.deployment) {
            if self.deployments.len() >= MAX_DEPLOYMENTS {
                self.deployments.retain(|_, h| {
                    h.state != Some(0) || h.cooldown_until_ms > now || h.failures.get(now) > 0
                });
            }
            if self.deployments.len() >= MAX_DEPLOYMENTS {
                self.dropped += 1;
                return None;
            }
        }
        let h = self
            .deployments
            .entry(o.deployment.clone())
            .or_insert(DeploymentHealth {
                state: None,
                successes: Expiring::default(),
                failures: Expiring::default(),
                allowed_fails: Expiring::default(),
                cooldown_until_ms: 0,
            });
        let before = h.state;
        let mut cooldown = None;
        if o.ok() {
            h.successes.add(u64::from(o.successes), now, MINUTE_MS);
            h.state = Some(0);
            h.cooldown_until_ms = 0;
        } else {
            h.failures.add(1, now, MINUTE_MS);
            if now < h.cooldown_until_ms {
                h.state = Some(2);
            } else {
                h.state = Some(1);
                if let Some(reason) = Self::should_cool_down(&self.settings, h, o) {
                    let ms = self.settings.cooldown_ms;
                    h.cooldown_until_ms = now.saturating_add(ms);
                    h.state = Some(2);
                    cooldown = Some(Cooldown {
                        status: o.status,
                        model_group: o.model_group.clone(),
                        cooldown_ms: ms,
                        reason,
                    });
                }
            }
        }
        let state = h.state.unwrap_or(0);
        (before != h.state || cooldown.is_some()).then(|| HealthUpdate {
            deployment: o.deployment.clone(),
            state,
            cooldown,
        })
    }

    /// Rules 2 to 5 of the module docs: why the deployment cools down now, if it does.
    fn should_cool_down(
        s: &CooldownSettings,
        h: &mut DeploymentHealth,
        o: &Outcome,
    ) -> Option<String> {
        if s.disable_cooldowns || s.cooldown_ms == 0 || !cooldown_required(o.status, &o.class) {
            return None;
        }
        let alone = o.group_size <= 1;
        let policy = s.policy_for(&o.class);
        if alone && o.status == 402 && policy.is_none() {
            return None;
        }
        let now = o.time_ms;
        if s.allowed_fails_policy.is_none() && !s.allowed_fails_set() {
            let fails = h.failures.get(now);
            let total = fails + h.successes.get(now);
            if o.status == 429 && !alone {
                return Some("rate limited, and the model group has other deployments".into());
            }
            if fails == total && total >= ALL_FAILED_MIN_REQUESTS {
                return Some(format!("all {total} requests of the last minute failed"));
            }
            if fails * 2 > total && total >= FAILURE_RATE_MIN_REQUESTS && !alone {
                return Some(format!(
                    "{fails} of {total} requests of the last minute failed"
                ));
            }
            if !litellm_retries(o.status) {
                return Some(format!("status {} is not retried", o.status));
            }
            return None;
        }
        let allowed = policy
            .or(s.allowed_fails)
            .unwrap_or(LITELLM_DEFAULT_ALLOWED_FAILS);
        let n = h.allowed_fails.add(1, now, s.cooldown_ms);
        (u64::from(allowed) < n).then(|| format!("{n} failures, allowed_fails: {allowed}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep() -> DeploymentLabels {
        [
            "openai/fake-err500".into(),
            "id-1".into(),
            "http://127.0.0.1:18080/v1".into(),
            "openai".into(),
        ]
    }

    fn fail(t: u64, status: u16, class: &str, group: u32) -> Outcome {
        Outcome {
            deployment: dep(),
            model_group: "gpt".into(),
            group_size: group,
            time_ms: t,
            status,
            class: class.into(),
            successes: 0,
        }
    }

    fn ok(t: u64, n: u32, group: u32) -> Outcome {
        Outcome {
            successes: n,
            ..fail(t, 0, "", group)
        }
    }

    fn states(m: &mut HealthModel, outcomes: &[Outcome]) -> Vec<(u8, bool)> {
        outcomes
            .iter()
            .filter_map(|o| m.apply(o))
            .map(|u| (u.state, u.cooldown.is_some()))
            .collect()
    }

    #[test]
    fn success_healthy_failure_partial_only_on_change() {
        let mut m = HealthModel::new(CooldownSettings::default());
        let got = states(
            &mut m,
            &[
                ok(0, 1, 1),
                ok(1, 3, 1),
                fail(2, 500, "InternalServerError", 1),
                fail(3, 500, "InternalServerError", 1),
                ok(4, 1, 1),
            ],
        );
        assert_eq!(got, vec![(0, false), (1, false), (0, false)]);
    }

    #[test]
    fn single_deployment_5xx_never_cools_down_below_1000_requests() {
        let mut m = HealthModel::new(CooldownSettings::default());
        let outcomes: Vec<Outcome> = (0..999)
            .map(|t| fail(t, 500, "InternalServerError", 1))
            .collect();
        assert_eq!(states(&mut m, &outcomes), vec![(1, false)]);
        let u = m.apply(&fail(999, 500, "InternalServerError", 1)).unwrap();
        assert_eq!(u.state, 2);
        let c = u.cooldown.unwrap();
        assert_eq!((c.status, c.cooldown_ms), (500, 5_000));
        assert_eq!(c.reason, "all 1000 requests of the last minute failed");
    }

    #[test]
    fn group_of_two_cools_down_on_429_or_half_failing() {
        let mut m = HealthModel::new(CooldownSettings::default());
        assert_eq!(
            states(&mut m, &[fail(0, 429, "RateLimitError", 2)]),
            vec![(2, true)]
        );
        let mut m = HealthModel::new(CooldownSettings::default());
        let mut o = vec![ok(0, 2, 2)];
        o.extend((1..4).map(|t| fail(t, 503, "ServiceUnavailableError", 2)));
        // 2 ok, 3 failed: 3 of 5 > half.
        assert_eq!(states(&mut m, &o), vec![(0, false), (1, false), (2, true)]);
    }

    #[test]
    fn statuses_not_retried_cool_down_at_once_and_client_errors_never() {
        for (status, class, cools) in [
            (401, "AuthenticationError", true),
            (404, "NotFoundError", true),
            (402, "APIError", false), // alone in its group
            (400, "BadRequestError", false),
            (403, "PermissionDeniedError", false),
            (0, "APIConnectionError", false),
        ] {
            let mut m = HealthModel::new(CooldownSettings::default());
            let u = m.apply(&fail(0, status, class, 1)).unwrap();
            assert_eq!(u.cooldown.is_some(), cools, "{status}");
        }
    }

    #[test]
    fn disable_cooldowns_keeps_partial_outage() {
        let s = CooldownSettings {
            disable_cooldowns: true,
            ..CooldownSettings::default()
        };
        let mut m = HealthModel::new(s);
        let o: Vec<Outcome> = (0..2000)
            .map(|t| fail(t, 401, "AuthenticationError", 2))
            .collect();
        assert_eq!(states(&mut m, &o), vec![(1, false)]);
    }

    #[test]
    fn allowed_fails_counts_within_cooldown_time() {
        let s = CooldownSettings {
            allowed_fails: Some(2),
            cooldown_ms: 10_000,
            ..CooldownSettings::default()
        };
        let mut m = HealthModel::new(s);
        let e = |t| fail(t, 500, "InternalServerError", 1);
        // 2 allowed, the 3rd cools down; the counter lives 10 s after its last increment.
        assert_eq!(states(&mut m, &[e(0), e(1_000)]), vec![(1, false)]);
        let u = m.apply(&e(2_000)).unwrap();
        assert_eq!(u.state, 2);
        assert_eq!(u.cooldown.unwrap().reason, "3 failures, allowed_fails: 2");
        // Within the cooldown: stays 2, no second cooldown.
        assert_eq!(m.apply(&e(5_000)), None);
        // A success ends it; the next failure counts on (4 > 2): a new cooldown.
        assert_eq!(m.apply(&ok(6_000, 1, 1)).map(|u| u.state), Some(0));
        assert_eq!(states(&mut m, &[e(7_000)]), vec![(2, true)]);
        assert_eq!(m.apply(&ok(8_000, 1, 1)).map(|u| u.state), Some(0));
        // The counter expired 10 s after its last increment (7 s).
        assert_eq!(states(&mut m, &[e(17_000), e(18_000)]), vec![(1, false)]);
    }

    #[test]
    fn allowed_fails_of_three_is_litellms_default_and_means_unset() {
        let s = CooldownSettings {
            allowed_fails: Some(3),
            ..CooldownSettings::default()
        };
        let mut m = HealthModel::new(s);
        let o: Vec<Outcome> = (0..10)
            .map(|t| fail(t, 500, "InternalServerError", 1))
            .collect();
        assert_eq!(states(&mut m, &o), vec![(1, false)]);
    }

    #[test]
    fn allowed_fails_policy_per_class() {
        let s = CooldownSettings {
            allowed_fails_policy: Some(vec![("RateLimitError".into(), 1)]),
            ..CooldownSettings::default()
        };
        let mut m = HealthModel::new(s);
        let r = |t| fail(t, 429, "RateLimitError", 1);
        assert_eq!(states(&mut m, &[r(0), r(1)]), vec![(1, false), (2, true)]);
        // Other classes fall back to allowed_fails (LiteLLM's 3) on the same counter.
        let s = CooldownSettings {
            allowed_fails_policy: Some(vec![("RateLimitError".into(), 1)]),
            ..CooldownSettings::default()
        };
        let mut m = HealthModel::new(s);
        let e = |t| fail(t, 500, "InternalServerError", 1);
        assert_eq!(
            states(&mut m, &[e(0), e(1), e(2), e(3)]),
            vec![(1, false), (2, true)]
        );
    }

    #[test]
    fn outcome_json_is_compact_and_round_trips() {
        let o = ok(7, 3, 2);
        let json = serde_json::to_string(&o).unwrap();
        assert_eq!(
            json,
            r#"{"d":["openai/fake-err500","id-1","http://127.0.0.1:18080/v1","openai"],"g":"gpt","n":2,"t":7,"s":0,"k":3}"#
        );
        assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), o);
    }
}
