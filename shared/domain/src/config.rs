//! Configuration from the environment. The names are constants so the template drift test and
//! the local stack use exactly these.

use crate::error::ConfigError;
use std::time::Duration;

pub const TABLE_NAME: &str = "TABLE_NAME";
pub const PROVIDER_BASE_URL: &str = "PROVIDER_BASE_URL";
pub const PROVIDER_SECRET_NAME: &str = "PROVIDER_SECRET_NAME";
pub const PROVIDER_TIMEOUT_MS: &str = "PROVIDER_TIMEOUT_MS";
pub const API_KEY_SECRET_PREFIX: &str = "API_KEY_SECRET_PREFIX";
/// Name prefix of the per-account webhook signing secrets (`whsec_...`, Secrets Manager).
pub const WEBHOOK_SECRET_PREFIX: &str = "WEBHOOK_SECRET_PREFIX";
/// How long the previous signing secret keeps signing after a rotation (a duration: `24h`).
pub const WEBHOOK_SECRET_OVERLAP: &str = "WEBHOOK_SECRET_OVERLAP";
pub const EVENTS_QUEUE_URL: &str = "EVENTS_QUEUE_URL";
/// The retries lane's queue (webhook-delivery): retries and first attempts to hanging
/// endpoints are sent there. Unset: they share `EVENTS_QUEUE_URL`.
pub const RETRIES_QUEUE_URL: &str = "RETRIES_QUEUE_URL";
pub const WEBHOOK_RETRY_DELAYS: &str = "WEBHOOK_RETRY_DELAYS";
pub const WEBHOOK_TIMEOUT_MS: &str = "WEBHOOK_TIMEOUT_MS";
/// At most this many of one account's deliveries run at once in a delivery batch; the rest of
/// the account's messages in the batch are re-parked (see webhook-delivery's `fair` step).
pub const WEBHOOK_ACCOUNT_CONCURRENCY: &str = "WEBHOOK_ACCOUNT_CONCURRENCY";
/// How long a re-parked delivery waits before it is visible again, in milliseconds.
pub const WEBHOOK_REPARK_DELAY_MS: &str = "WEBHOOK_REPARK_DELAY_MS";
/// Local development only: allows http and loopback webhook URLs. Never set in template.yaml.
pub const WEBHOOK_ALLOW_INSECURE_LOCAL: &str = "WEBHOOK_ALLOW_INSECURE_LOCAL";
/// Requests per minute per API key (default `rate_limit::DEFAULT_API_PER_MINUTE`); an
/// operator may set an account's own with `bvai-admin set-rate-limit`.
pub const API_RATE_LIMIT_PER_MINUTE: &str = "API_RATE_LIMIT_PER_MINUTE";
/// Settings API requests per minute per account.
pub const SETTINGS_RATE_LIMIT_PER_MINUTE: &str = "SETTINGS_RATE_LIMIT_PER_MINUTE";
/// Test sends, redeliveries and recoveries together per minute per account.
pub const COSTLY_RATE_LIMIT_PER_MINUTE: &str = "COSTLY_RATE_LIMIT_PER_MINUTE";
/// Set by the Lambda runtime in every function: [`allow_insecure_local`] refuses the local
/// switch when it is present.
pub const AWS_LAMBDA_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";
pub const ACCOUNT_ID_CLAIM: &str = "ACCOUNT_ID_CLAIM";
/// How long after `call_ended` the `call.completed` event waits for `call_analyzed` before it
/// is built without the analysis (a duration: `30s`, `10m`).
pub const CALL_ANALYSIS_GRACE: &str = "CALL_ANALYSIS_GRACE";
/// How long a `dial_unknown` call waits for a callback before it is resolved as `failed`.
pub const DIAL_UNKNOWN_DEADLINE: &str = "DIAL_UNKNOWN_DEADLINE";
/// How long a `dialing` or `in_progress` call may go without news from the provider (counted
/// from the last callback) before the reconciler finishes it (a duration: `3h`).
pub const CALL_STALE_AFTER: &str = "CALL_STALE_AFTER";
/// Repairs the reconciler runs at once, over every shard of the due index (a whole number,
/// default `reconciler::DEFAULT_CONCURRENCY`).
pub const RECONCILER_CONCURRENCY: &str = "RECONCILER_CONCURRENCY";
/// Scheduled (held) calls the reconciler places per second at most, over all its shards
/// (a whole number, default `reconciler::DEFAULT_SCHEDULED_CALLS_PER_SECOND`): the voice
/// provider's request rate for creating calls (docs/voice-provider.md, "Rate").
pub const SCHEDULED_CALLS_PER_SECOND: &str = "SCHEDULED_CALLS_PER_SECOND";
/// Local stack only: how often the reconciler runs (in AWS: its schedule in template.yaml).
pub const RECONCILE_EVERY: &str = "RECONCILE_EVERY";

/// Each attempt of an AWS SDK request (DynamoDB, SQS, Secrets Manager) ends with a timeout
/// error after this long (milliseconds), and is retried by the SDK's standard strategy.
pub const SDK_ATTEMPT_TIMEOUT_MS: &str = "SDK_ATTEMPT_TIMEOUT_MS";
/// A whole AWS SDK request, retries included, ends with a timeout error after this long
/// (milliseconds).
pub const SDK_OPERATION_TIMEOUT_MS: &str = "SDK_OPERATION_TIMEOUT_MS";
/// DynamoDB, SQS and Secrets Manager answer in milliseconds; an attempt still unanswered after
/// 2 s is a stalled connection, and a fresh attempt is the best cure.
pub const DEFAULT_SDK_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Three attempts at most (the standard strategy) within 5 s: a stalled reply becomes a
/// handled error well inside the shortest function timeout (call-completed's 10 s), instead of
/// a process killed at its timeout halfway through its writes.
pub const DEFAULT_SDK_OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

pub const DEFAULT_CALL_ANALYSIS_GRACE: Duration = Duration::from_secs(10 * 60);
/// The provider reports a placed call within seconds (`call_started` when answered,
/// `call_ended` with `dial_no_answer` or `dial_busy` after ringing out): 15 minutes leaves
/// room for its own callback retries.
pub const DEFAULT_DIAL_UNKNOWN_DEADLINE: Duration = Duration::from_secs(15 * 60);
/// How long a `dialing` or `in_progress` call may go without news before the reconciler
/// finishes it. Longer than the provider's longest call: Retell ends a call at the agent's
/// `max_call_duration_ms`, one hour by default and two hours at most (7,200,000 ms), and
/// reports the end within minutes; three hours from the last news leave an hour for its
/// callback retries (docs/voice-provider.md).
pub const DEFAULT_CALL_STALE_AFTER: Duration = Duration::from_secs(3 * 3600);
pub const DEFAULT_RECONCILE_EVERY: Duration = Duration::from_secs(60);

/// trigger-call's Lambda timeout (`TriggerCallFunction.Timeout`; the drift test holds the two
/// equal): no request of it runs longer.
pub const TRIGGER_CALL_TIMEOUT: Duration = Duration::from_secs(25);

/// How long a running request owns its Idempotency-Key (and its `queued` call): past the
/// function's timeout the request has certainly ended, so a key still without an answer
/// belongs to a request that crashed or timed out. Derived here, once.
pub fn idempotency_lease() -> Duration {
    TRIGGER_CALL_TIMEOUT + Duration::from_secs(5)
}

/// Half a batch of 10: an account alone still fills half of every batch, and two busy accounts
/// share a batch evenly.
pub const DEFAULT_ACCOUNT_CONCURRENCY: usize = 5;
/// One batching window: short enough that a re-parked delivery is barely late, long enough
/// that an account's backlog does not spin through the queue.
pub const DEFAULT_REPARK_DELAY: Duration = Duration::from_secs(2);
pub const DEFAULT_PROVIDER_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_API_KEY_SECRET_PREFIX: &str = "buildvoiceai/api-key/";
pub const DEFAULT_WEBHOOK_SECRET_PREFIX: &str = "buildvoiceai/webhook-secret/";
/// Both signatures are sent for a day after a rotation: time to roll the new secret out.
pub const DEFAULT_WEBHOOK_SECRET_OVERLAP: Duration = Duration::from_secs(24 * 3600);
/// The JWT claim holding the dashboard user's account id (Cognito custom attribute).
pub const DEFAULT_ACCOUNT_ID_CLAIM: &str = "custom:account_id";

/// The events queue's visibility timeout (`EventsQueue.VisibilityTimeout` in template.yaml;
/// the drift test holds the two equal): at least 6 x the delivery function's 30 s timeout
/// plus its batching window, as AWS recommends for an SQS event source.
pub const EVENTS_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(190);

/// How long a claimed delivery attempt stays reserved for its sender: the events queue's
/// visibility timeout. A message comes back (function crash, whole-batch timeout, a batch
/// item failure) no earlier than one visibility timeout after it was received, which is
/// before its claim was taken, so the lease has not run out yet: the re-run finds the claim
/// in flight and hands the message back again, and only the receive after that takes the
/// claim over. A lease shorter than the visibility timeout let a re-run take over an attempt
/// whose 2xx was not recorded yet and POST it a second time. Derived here, once.
pub fn claim_lease() -> Duration {
    EVENTS_VISIBILITY_TIMEOUT
}

/// How long a request whose Idempotency-Key is held by a running request waits for that
/// request's answer before giving up with 409: longer than the provider timeout, so a
/// concurrent duplicate normally gets the first request's answer. Derived here, once.
pub fn idempotency_wait(provider_timeout: Duration) -> Duration {
    provider_timeout + Duration::from_secs(2)
}

/// One environment variable a function reads: its name, what an unset variable means and what
/// it is for. Each function's `Config::VARS` lists its own; the template drift test compares
/// them with `template.yaml` and the docs drift test with the ops docs, so the list is the one
/// place a function's variables are declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var {
    pub name: &'static str,
    pub unset: Unset,
    pub meaning: &'static str,
}

/// What a function does when a variable is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unset {
    /// It does not start: the variable names a resource of the stack.
    Required,
    /// It uses this value, written as the variable would be (`5000`, `3h`, `30s,5m,30m`).
    Default(&'static str),
    /// The feature is off (`RETRIES_QUEUE_URL`: no retries lane of its own).
    Off,
    /// Off; a switch for local development that `template.yaml` never sets.
    LocalOnly,
    /// Set by the Lambda runtime itself, never by the template.
    Platform,
}

impl Var {
    /// Whether `template.yaml` sets it on the function (the drift test holds it to that).
    pub fn deployed(&self) -> bool {
        matches!(self.unset, Unset::Required | Unset::Default(_) | Unset::Off)
    }
}

/// Where settings come from: the process environment (Lambda), optionally overlaid with values
/// of the caller's (the local stack sets its own ports and names without touching the
/// process environment). Empty values count as unset.
#[derive(Debug, Clone, Default)]
pub struct Env {
    overrides: std::collections::BTreeMap<String, String>,
    /// Every name asked for, when [`Env::recording`]: how a function's tests hold its
    /// `Config::from_env` to the variables its `Config::VARS` declares.
    read: Option<std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>>,
}

impl Env {
    /// The process environment as it is.
    pub fn process() -> Env {
        Env::default()
    }

    /// This environment, noting every name read from it from now on (see [`Env::names_read`]).
    pub fn recording(mut self) -> Env {
        self.read = Some(Default::default());
        self
    }

    /// The names read since [`Env::recording`], set or not (empty when not recording).
    pub fn names_read(&self) -> std::collections::BTreeSet<String> {
        self.read
            .as_ref()
            .map(|r| r.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .unwrap_or_default()
    }

    /// This environment with `name` set to `value` (wins over the process environment).
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Env {
        self.overrides.insert(name.to_string(), value.into());
        self
    }

    /// This environment with every `(name, value)` of `pairs` set, as [`Env::with`] does.
    pub fn with_all<K: AsRef<str>, V: Into<String>>(
        self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Env {
        pairs
            .into_iter()
            .fold(self, |env, (k, v)| env.with(k.as_ref(), v))
    }

    pub fn optional(&self, name: &str) -> Option<String> {
        if let Some(read) = &self.read {
            read.lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(name.to_string());
        }
        match self.overrides.get(name) {
            Some(v) => Some(v.clone()),
            None => std::env::var(name).ok(),
        }
        .filter(|v| !v.trim().is_empty())
    }

    pub fn required(&self, name: &str) -> Result<String, ConfigError> {
        self.optional(name)
            .ok_or_else(|| ConfigError(format!("environment variable {name} is required")))
    }

    pub fn millis(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        millis_from(name, self.optional(name), default)
    }

    /// A duration like `30s`, `10m`, `500ms` (`default` when unset).
    pub fn duration(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        match self.optional(name) {
            None => Ok(default),
            Some(v) => parse_duration(&v).map_err(|e| ConfigError(format!("{name}: {}", e.0))),
        }
    }

    /// [`Env::duration`] as a `chrono::Duration`, for deadlines computed from the clock.
    pub fn span(&self, name: &str, default: Duration) -> Result<chrono::Duration, ConfigError> {
        chrono::Duration::from_std(self.duration(name, default)?)
            .map_err(|_| ConfigError(format!("{name} is too long")))
    }

    /// A positive whole number (`default` when unset).
    pub fn count(&self, name: &str, default: usize) -> Result<usize, ConfigError> {
        match self.optional(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    ConfigError(format!("{name} must be a whole number above 0, got {v:?}"))
                }),
        }
    }

    /// `1`, `true`, `yes` or `on` (any case).
    pub fn flag(&self, name: &str) -> bool {
        matches!(
            self.optional(name)
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("1" | "true" | "yes" | "on")
        )
    }
}

/// A per-minute limit: a whole number from 1 to `u32::MAX` (`default` when unset).
pub fn per_minute(env: &Env, name: &str, default: u32) -> Result<u32, ConfigError> {
    let n = env.count(name, default as usize)?;
    u32::try_from(n).map_err(|_| ConfigError(format!("{name} is too large, got {n}")))
}

/// `WEBHOOK_ALLOW_INSECURE_LOCAL`, checked: the switch (http and loopback webhook URLs, for a
/// receiver on the developer's machine) is refused inside Lambda (`AWS_LAMBDA_FUNCTION_NAME`
/// set), so a function configured with it does not start there.
pub fn allow_insecure_local(env: &Env) -> Result<bool, ConfigError> {
    let on = env.flag(WEBHOOK_ALLOW_INSECURE_LOCAL);
    // Both read every time, so a function's config tests see both of its variables.
    let in_lambda = env.optional(AWS_LAMBDA_FUNCTION_NAME).is_some();
    if on && in_lambda {
        return Err(ConfigError(format!(
            "{WEBHOOK_ALLOW_INSECURE_LOCAL} is for local development only and is refused in Lambda ({AWS_LAMBDA_FUNCTION_NAME} is set)"
        )));
    }
    Ok(on)
}

/// Holds a function's `Config::from_env` to its `Config::VARS`: it reads exactly the declared
/// names; with only the required ones set it starts, and it does not without any of them; and
/// every [`Unset::Default`], written out, gives what leaving the variable unset gives. The
/// process environment is shadowed (every declared name is set, empty or not, as an override).
/// `Err` says what disagrees; each function's tests and the template drift test call it.
pub fn check_vars<C: PartialEq + std::fmt::Debug>(
    vars: &[Var],
    from_env: impl Fn(&Env) -> Result<C, ConfigError>,
) -> Result<(), String> {
    let unset = Env::default().with_all(vars.iter().map(|v| (v.name, "")));
    let required = |v: &Var| v.unset == Unset::Required;
    let minimal = unset.clone().with_all(
        vars.iter()
            .filter(|v| required(v))
            .map(|v| (v.name, "required")),
    );
    let recording = minimal.clone().recording();
    let defaults = from_env(&recording).map_err(|e| format!("with the required set: {}", e.0))?;
    let declared: std::collections::BTreeSet<String> =
        vars.iter().map(|v| v.name.to_string()).collect();
    let read = recording.names_read();
    if read != declared {
        return Err(format!(
            "reads {:?} it does not declare; declares {:?} it does not read",
            read.difference(&declared).collect::<Vec<_>>(),
            declared.difference(&read).collect::<Vec<_>>()
        ));
    }
    for v in vars.iter().filter(|v| required(v)) {
        if from_env(&minimal.clone().with(v.name, "")).is_ok() {
            return Err(format!(
                "{} is declared required but it starts without",
                v.name
            ));
        }
    }
    let written = minimal.with_all(vars.iter().filter_map(|v| match v.unset {
        Unset::Default(value) => Some((v.name, value)),
        _ => None,
    }));
    let explicit = from_env(&written).map_err(|e| format!("with the defaults: {}", e.0))?;
    if explicit != defaults {
        return Err(format!(
            "the declared defaults, written out, give {explicit:?}; unset gives {defaults:?}"
        ));
    }
    Ok(())
}

/// One variable of the process environment (empty counts as unset).
pub fn optional(name: &str) -> Option<String> {
    Env::process().optional(name)
}

/// A millisecond setting from any source (`value` is what the source has for `name`).
pub fn millis_from(
    name: &str,
    value: Option<String>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| {
                ConfigError(format!(
                    "{name} must be a number of milliseconds, got {v:?}"
                ))
            }),
    }
}

/// Parses `500ms`, `30s`, `5m`, `2h` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, ConfigError> {
    let s = s.trim();
    let bad = || ConfigError(format!("invalid duration {s:?}; use e.g. 30s, 5m, 500ms"));
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?),
        "h" => Duration::from_secs(n.checked_mul(3600).ok_or_else(bad)?),
        _ => return Err(bad()),
    })
}

/// Parses a comma-separated list of durations (`30s,5m,30m`).
pub fn parse_durations(s: &str) -> Result<Vec<Duration>, ConfigError> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(parse_duration)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_all_sets_every_pair_and_an_empty_value_is_unset() {
        let env = Env::default().with_all([("BVAI_TEST_A", "1"), ("BVAI_TEST_B", "")]);
        assert_eq!(env.optional("BVAI_TEST_A").as_deref(), Some("1"));
        assert_eq!(env.optional("BVAI_TEST_B"), None);
    }

    #[test]
    fn a_recording_env_notes_every_name_read_set_or_not() {
        let env = Env::default().with("BVAI_TEST_SET", "1").recording();
        let _ = env.optional("BVAI_TEST_SET");
        let _ = env.flag("BVAI_TEST_UNSET_FOR_SURE");
        let _ = env.clone().count("BVAI_TEST_COUNT", 1);
        assert_eq!(
            env.names_read().into_iter().collect::<Vec<_>>(),
            [
                "BVAI_TEST_COUNT",
                "BVAI_TEST_SET",
                "BVAI_TEST_UNSET_FOR_SURE"
            ]
        );
        assert!(Env::default().names_read().is_empty());
    }

    #[test]
    fn counts() {
        let env = Env::default()
            .with("N_OK", "3")
            .with("N_ZERO", "0")
            .with("N_BAD", "x");
        assert_eq!(env.count("N_OK", 5).unwrap(), 3);
        assert_eq!(env.count("N_UNSET_FOR_SURE", 5).unwrap(), 5);
        assert!(env.count("N_ZERO", 5).unwrap_err().0.contains("N_ZERO"));
        assert!(env.count("N_BAD", 5).is_err());
    }

    #[test]
    fn the_local_switch_is_refused_in_lambda() {
        let local = Env::default().with(WEBHOOK_ALLOW_INSECURE_LOCAL, "1");
        let in_lambda = local.clone().with(AWS_LAMBDA_FUNCTION_NAME, "settings");
        let off_in_lambda = Env::default()
            .with(WEBHOOK_ALLOW_INSECURE_LOCAL, "0")
            .with(AWS_LAMBDA_FUNCTION_NAME, "settings");
        if std::env::var(AWS_LAMBDA_FUNCTION_NAME).is_err() {
            assert!(allow_insecure_local(&local).unwrap());
        }
        let err = allow_insecure_local(&in_lambda).unwrap_err();
        assert!(err.0.contains(AWS_LAMBDA_FUNCTION_NAME), "{}", err.0);
        assert!(!allow_insecure_local(&off_in_lambda).unwrap());
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_durations("30s,5m,30m").unwrap(),
            vec![
                Duration::from_secs(30),
                Duration::from_secs(300),
                Duration::from_secs(1800)
            ]
        );
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("18446744073709551615h").is_err());
        assert!(parse_duration("").is_err());
    }
}
