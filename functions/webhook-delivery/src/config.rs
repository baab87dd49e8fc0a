//! What webhook-delivery reads from its environment, declared once in [`Config::VARS`] (the
//! template and docs drift tests read the list), and read by [`Config::from_env`].

use domain::config::{self, Env, Unset, Var};
use domain::error::ConfigError;
use domain::webhook::retry_schedule::{RetrySchedule, DEFAULT_DELAYS};
use outbound::webhook_client::DEFAULT_TIMEOUT;
use std::time::Duration;

/// webhook-delivery's settings, typed; the adapters are built from them (`Ports::aws`) or
/// chosen by a test, and `Deps::new` puts the two together.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub table_name: String,
    pub events_queue_url: String,
    /// `None`: the retries share the events queue.
    pub retries_queue_url: Option<String>,
    pub secret_prefix: String,
    pub webhook_secret_prefix: String,
    pub webhook_timeout: Duration,
    pub allow_insecure_local: bool,
    pub schedule: RetrySchedule,
    pub account_concurrency: usize,
    pub repark_delay: Duration,
}

impl Config {
    /// Every variable webhook-delivery reads.
    pub const VARS: &'static [Var] = &[
        Var {
            name: config::TABLE_NAME,
            unset: Unset::Required,
            meaning: "the DynamoDB table: events, integrations, the attempt ledger and log",
        },
        Var {
            name: config::EVENTS_QUEUE_URL,
            unset: Unset::Required,
            meaning: "the first-attempts queue; re-parked deliveries go back to it",
        },
        Var {
            name: config::RETRIES_QUEUE_URL,
            unset: Unset::Off,
            meaning: "the retries lane's queue; unset, the retries share the events queue",
        },
        Var {
            name: config::API_KEY_SECRET_PREFIX,
            unset: Unset::Default(config::DEFAULT_API_KEY_SECRET_PREFIX),
            meaning: "name prefix of the per-account API key secrets (the legacy signing key)",
        },
        Var {
            name: config::WEBHOOK_SECRET_PREFIX,
            unset: Unset::Default(config::DEFAULT_WEBHOOK_SECRET_PREFIX),
            meaning: "name prefix of the per-account webhook signing secrets",
        },
        Var {
            name: config::WEBHOOK_TIMEOUT_MS,
            unset: Unset::Default("10000"),
            meaning: "milliseconds one delivery may take",
        },
        Var {
            name: config::WEBHOOK_RETRY_DELAYS,
            unset: Unset::Default(DEFAULT_DELAYS),
            meaning: "the waits before each retry; one attempt more than delays",
        },
        Var {
            name: config::WEBHOOK_ACCOUNT_CONCURRENCY,
            unset: Unset::Default("5"),
            meaning: "one account's deliveries at once in a batch; the rest are re-parked",
        },
        Var {
            name: config::WEBHOOK_REPARK_DELAY_MS,
            unset: Unset::Default("2000"),
            meaning: "milliseconds a re-parked delivery waits before it is visible again",
        },
        Var {
            name: config::WEBHOOK_ALLOW_INSECURE_LOCAL,
            unset: Unset::LocalOnly,
            meaning: "admits http and loopback webhook URLs (local development only)",
        },
        Var {
            name: config::AWS_LAMBDA_FUNCTION_NAME,
            unset: Unset::Platform,
            meaning: "set inside Lambda, where the local switch is refused",
        },
    ];

    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        Ok(Config {
            table_name: env.required(config::TABLE_NAME)?,
            events_queue_url: env.required(config::EVENTS_QUEUE_URL)?,
            retries_queue_url: env.optional(config::RETRIES_QUEUE_URL),
            secret_prefix: env
                .optional(config::API_KEY_SECRET_PREFIX)
                .unwrap_or_else(|| config::DEFAULT_API_KEY_SECRET_PREFIX.to_string()),
            webhook_secret_prefix: env
                .optional(config::WEBHOOK_SECRET_PREFIX)
                .unwrap_or_else(|| config::DEFAULT_WEBHOOK_SECRET_PREFIX.to_string()),
            webhook_timeout: env.millis(config::WEBHOOK_TIMEOUT_MS, DEFAULT_TIMEOUT)?,
            allow_insecure_local: config::allow_insecure_local(env)?,
            schedule: RetrySchedule::from_env(env)?,
            account_concurrency: env.count(
                config::WEBHOOK_ACCOUNT_CONCURRENCY,
                config::DEFAULT_ACCOUNT_CONCURRENCY,
            )?,
            repark_delay: env.millis(
                config::WEBHOOK_REPARK_DELAY_MS,
                config::DEFAULT_REPARK_DELAY,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_exactly_its_declared_variables_with_their_declared_defaults() {
        config::check_vars(Config::VARS, Config::from_env).unwrap();
    }
}
