//! The local stack's configuration (all from the environment), its fixed demo data, the
//! functions' route tables as the gateway serves them, and `.local/stack.json`.

use domain::config::{self, parse_duration, parse_durations};
use lambda_glue::router::Route;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

pub const API_PORT: &str = "API_PORT";
pub const RECEIVER_PORT: &str = "RECEIVER_PORT";
pub const PROVIDER_PORT: &str = "PROVIDER_PORT";
pub const MOTO_PORT: &str = "MOTO_PORT";
pub const SIM_CALL_SECONDS: &str = "SIM_CALL_SECONDS";
pub const SIM_ACCEPT_HOLD: &str = "SIM_ACCEPT_HOLD";
pub const RECEIVER_FAIL_FIRST: &str = "RECEIVER_FAIL_FIRST";
pub const LOCAL_DIR: &str = "LOCAL_DIR";
pub const VENV: &str = "VENV";

/// The demo data `make run` seeds.
pub const DEMO_ACCOUNT_ID: &str = "acct_demo";
pub const DEMO_ACCOUNT_NAME: &str = "Demo Agency";
pub const DEMO_AGENT_NAME: &str = "Demo Agent";
pub const DEMO_PROVIDER_AGENT_ID: &str = "sim_agent_demo";
pub const DEMO_AGENT_PHONE: &str = "+14155550100";
/// The claim the settings API reads the account id from (template default `AccountIdClaim`).
pub const DEMO_ACCOUNT_CLAIM: &str = "custom:account_id";
/// Secret names as the template names them, with the stage `local`.
pub const LOCAL_API_KEY_SECRET_PREFIX: &str = "buildvoiceai/local/api-key/";
pub const LOCAL_WEBHOOK_SECRET_PREFIX: &str = "buildvoiceai/local/webhook-secret/";

/// A function's route table as (method, path pattern) pairs: the gateway serves exactly the
/// routes each function declares (`lambda_glue::router`), never a copy of them.
pub fn route_pairs<H>(table: &'static [Route<H>]) -> Vec<(&'static str, &'static str)> {
    table
        .iter()
        .map(|r| (r.method.as_str(), r.pattern))
        .collect()
}
pub fn trigger_call_routes() -> Vec<(&'static str, &'static str)> {
    route_pairs(trigger_call::ROUTES)
}
/// trigger-call's routes behind the dashboard's JWT authorizer in AWS
/// (`trigger_call::DASHBOARD_ROUTES`), as `"METHOD /path"`: locally the claims are injected on
/// them, as on the settings routes (see `gateway`).
pub fn trigger_call_dashboard_routes() -> Vec<String> {
    trigger_call::ROUTES
        .iter()
        .filter(|r| trigger_call::DASHBOARD_ROUTES.contains(&r.pattern))
        .map(|r| r.key())
        .collect()
}
/// Behind the JWT authorizer in AWS; locally the claims are injected (see `gateway`).
pub fn settings_routes() -> Vec<(&'static str, &'static str)> {
    route_pairs(&settings::router::ROUTES)
}
pub fn call_completed_routes() -> Vec<(&'static str, &'static str)> {
    route_pairs(call_completed::ROUTES)
}
pub use call_completed::PROVIDER_CALLBACK as PROVIDER_CALLBACK_PATH;
/// Where the receiver is told to expect webhooks.
pub const RECEIVER_PATH: &str = "/webhooks";

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StackConfigError(pub String);

/// Everything `make run` can be told through the environment.
#[derive(Debug, Clone)]
pub struct StackConfig {
    pub api_port: u16,
    pub receiver_port: u16,
    pub provider_port: u16,
    /// 0 = any free port.
    pub moto_port: u16,
    /// Length of a simulated call (`SIM_CALL_SECONDS`: `5`, `500ms`, `1m`).
    pub sim_call_length: Duration,
    /// How long the simulator's `timeout_after_accept` fault holds its answer
    /// (`SIM_ACCEPT_HOLD`, default `30s`: past trigger-call's provider timeout).
    pub sim_accept_hold: Duration,
    pub receiver_fail_first: usize,
    /// For the delivery function (`WEBHOOK_RETRY_DELAYS`), default `30s,5m,30m`.
    pub webhook_retry_delays: Vec<Duration>,
    pub webhook_timeout: Duration,
    pub provider_timeout: Duration,
    pub local_dir: PathBuf,
    pub venv: PathBuf,
    /// The SQS poller: the template's event source mapping, with `POLLER_CONCURRENCY` and
    /// `POLLER_FUNCTION_TIMEOUT` read from the environment.
    pub poller: crate::poller::PollerConfig,
    /// How often the reconciler runs (`RECONCILE_EVERY`; the template's schedule is 1 minute).
    pub reconcile_every: Duration,
}

pub const DEFAULT_WEBHOOK_RETRY_DELAYS: &str = "30s,5m,30m";
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

impl StackConfig {
    pub fn from_env() -> Result<StackConfig, StackConfigError> {
        Self::from_lookup(config::optional)
    }

    /// Reads the configuration through `get` (the environment, or a map in tests).
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<StackConfig, StackConfigError> {
        let port = |name: &str, default: u16| -> Result<u16, StackConfigError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v.trim().parse::<u16>().map_err(|_| {
                    StackConfigError(format!(
                        "{name} must be a port number 0-65535 (0 = any free port), got {v:?}"
                    ))
                }),
            }
        };
        let millis = |name: &str, default: Duration| -> Result<Duration, StackConfigError> {
            config::millis_from(name, get(name), default).map_err(|e| StackConfigError(e.0))
        };
        let sim_call_length = match get(SIM_CALL_SECONDS) {
            None => Duration::from_secs(5),
            Some(v) => parse_duration(&v)
                .map_err(|e| StackConfigError(format!("{SIM_CALL_SECONDS}: {e}")))?,
        };
        let sim_accept_hold = match get(SIM_ACCEPT_HOLD) {
            None => Duration::from_secs(30),
            Some(v) => parse_duration(&v)
                .map_err(|e| StackConfigError(format!("{SIM_ACCEPT_HOLD}: {e}")))?,
        };
        let receiver_fail_first = match get(RECEIVER_FAIL_FIRST) {
            None => 0,
            Some(v) => v.trim().parse::<usize>().map_err(|_| {
                StackConfigError(format!(
                    "{RECEIVER_FAIL_FIRST} must be a whole number of requests, got {v:?}"
                ))
            })?,
        };
        let delays_raw = get(config::WEBHOOK_RETRY_DELAYS)
            .unwrap_or_else(|| DEFAULT_WEBHOOK_RETRY_DELAYS.to_string());
        let webhook_retry_delays = parse_durations(&delays_raw)
            .map_err(|e| StackConfigError(format!("{}: {e}", config::WEBHOOK_RETRY_DELAYS)))?;
        Ok(StackConfig {
            api_port: port(API_PORT, 3000)?,
            receiver_port: port(RECEIVER_PORT, 3001)?,
            provider_port: port(PROVIDER_PORT, 3002)?,
            moto_port: port(MOTO_PORT, 4566)?,
            sim_call_length,
            sim_accept_hold,
            receiver_fail_first,
            webhook_retry_delays,
            webhook_timeout: millis(config::WEBHOOK_TIMEOUT_MS, DEFAULT_WEBHOOK_TIMEOUT)?,
            provider_timeout: millis(
                config::PROVIDER_TIMEOUT_MS,
                config::DEFAULT_PROVIDER_TIMEOUT,
            )?,
            local_dir: PathBuf::from(get(LOCAL_DIR).unwrap_or_else(|| ".local".into())),
            venv: PathBuf::from(get(VENV).unwrap_or_else(|| ".venv".into())),
            poller: crate::poller::PollerConfig::from_lookup(&get)
                .map_err(|e| StackConfigError(e.to_string()))?,
            reconcile_every: match get(config::RECONCILE_EVERY) {
                None => config::DEFAULT_RECONCILE_EVERY,
                Some(v) => parse_duration(&v)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        StackConfigError(format!(
                            "{} must be a duration above 0 (30s, 1m), got {v:?}",
                            config::RECONCILE_EVERY
                        ))
                    })?,
            },
        })
    }
}

/// `.local/stack.json`: where everything is, for scripts and humans. LOCAL ONLY: it holds the
/// demo API key and the simulated provider's key in plain text (the file is created readable by
/// its owner only).
#[derive(Debug, Clone, Serialize)]
pub struct StackFile {
    pub api_base_url: String,
    pub account_id: String,
    pub api_key: String,
    /// The demo account's webhook signing secret (`whsec_...`) when the stack started.
    pub webhook_signing_secret: String,
    pub agent_id: String,
    pub provider_agent_id: String,
    pub receiver_url: String,
    pub receiver_log: String,
    pub provider_url: String,
    /// The simulated provider's API key, which signs its callbacks (`x-retell-signature`): a
    /// script can send signed callbacks of its own (scripts/schemathesis_hooks.py does).
    pub provider_api_key: String,
    pub emulator_url: String,
    pub table: String,
    pub queue_url: String,
    pub dead_letter_queue_url: String,
}

impl StackFile {
    pub fn write(&self, path: &std::path::Path) -> std::io::Result<()> {
        use std::io::Write;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        // Replace, never append: a stale key must not survive a restart.
        let _ = std::fs::remove_file(path);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path)?;
        f.write_all(json.as_bytes())?;
        f.write_all(b"\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<StackConfig, StackConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        StackConfig::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_and_overrides() {
        let c = cfg(&[]).expect("defaults");
        assert_eq!(
            (c.api_port, c.receiver_port, c.provider_port, c.moto_port),
            (3000, 3001, 3002, 4566)
        );
        assert_eq!(c.sim_call_length, Duration::from_secs(5));
        assert_eq!(c.sim_accept_hold, Duration::from_secs(30));
        assert_eq!(c.webhook_retry_delays.len(), 3);
        assert_eq!(c.provider_timeout, Duration::from_secs(5));
        let c = cfg(&[
            ("API_PORT", "0"),
            ("SIM_CALL_SECONDS", "500ms"),
            ("SIM_ACCEPT_HOLD", "8s"),
            ("WEBHOOK_RETRY_DELAYS", "1s,2s"),
            ("WEBHOOK_TIMEOUT_MS", "250"),
            ("RECEIVER_FAIL_FIRST", "2"),
        ])
        .expect("overrides");
        assert_eq!(c.api_port, 0);
        assert_eq!(c.sim_call_length, Duration::from_millis(500));
        assert_eq!(c.sim_accept_hold, Duration::from_secs(8));
        assert_eq!(
            c.webhook_retry_delays,
            vec![Duration::from_secs(1), Duration::from_secs(2)]
        );
        assert_eq!(c.webhook_timeout, Duration::from_millis(250));
        assert_eq!(c.receiver_fail_first, 2);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (k, v) in [
            ("API_PORT", "70000"),
            ("MOTO_PORT", "x"),
            ("SIM_CALL_SECONDS", "five"),
            ("SIM_ACCEPT_HOLD", "forever"),
            ("WEBHOOK_RETRY_DELAYS", "30s,soon"),
            ("PROVIDER_TIMEOUT_MS", "5s"),
            ("RECEIVER_FAIL_FIRST", "-1"),
        ] {
            let e = cfg(&[(k, v)]).expect_err(k);
            assert!(e.0.contains(k), "{e}");
        }
    }

    #[test]
    fn route_tables_parse() {
        let h = crate::gateway::handler(|_| async { lambda_http::Response::default() });
        for (m, p) in trigger_call_routes()
            .into_iter()
            .chain(settings_routes())
            .chain(call_completed_routes())
        {
            crate::gateway::Route::new(m, p, h.clone()).expect("valid route");
        }
    }
}
