//! What the settings function reads from its environment, declared once in [`Config::VARS`]
//! (the template and docs drift tests read the list), and read by [`Config::from_env`].

use domain::config::{self, Env, Unset, Var};
use domain::error::ConfigError;
use lambda_glue::dashboard;
use outbound::webhook_client::DEFAULT_TIMEOUT;
use std::time::Duration;

/// The settings function's settings, typed; the adapters are built from them (`Ports::aws`)
/// or chosen by a test, and `Deps::new` puts the two together.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub table_name: String,
    pub events_queue_url: String,
    pub secret_prefix: String,
    pub webhook_secret_prefix: String,
    pub signing_secret_overlap: chrono::Duration,
    pub account_claim: String,
    pub webhook_timeout: Duration,
    pub allow_insecure_local: bool,
    pub settings_rate_limit: u32,
    pub costly_rate_limit: u32,
}

impl Config {
    /// Every variable the settings function reads.
    pub const VARS: &'static [Var] = &[
        Var {
            name: config::TABLE_NAME,
            unset: Unset::Required,
            meaning: "the DynamoDB table: accounts, integrations, agents, the delivery log",
        },
        Var {
            name: config::EVENTS_QUEUE_URL,
            unset: Unset::Required,
            meaning: "the events queue: redeliveries and recoveries go through webhook-delivery",
        },
        Var {
            name: config::API_KEY_SECRET_PREFIX,
            unset: Unset::Default(config::DEFAULT_API_KEY_SECRET_PREFIX),
            meaning: "name prefix of the per-account API key secrets",
        },
        Var {
            name: config::WEBHOOK_SECRET_PREFIX,
            unset: Unset::Default(config::DEFAULT_WEBHOOK_SECRET_PREFIX),
            meaning: "name prefix of the per-account webhook signing secrets",
        },
        Var {
            name: config::WEBHOOK_SECRET_OVERLAP,
            unset: Unset::Default("24h"),
            meaning: "how long a rotated-out signing secret keeps signing",
        },
        dashboard::CLAIM_VAR,
        Var {
            name: config::WEBHOOK_TIMEOUT_MS,
            unset: Unset::Default("10000"),
            meaning: "milliseconds a test send may take",
        },
        dashboard::RATE_LIMIT_VAR,
        Var {
            name: config::COSTLY_RATE_LIMIT_PER_MINUTE,
            unset: Unset::Default("10"),
            meaning: "test sends, redeliveries and recoveries per minute per account",
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

    /// Configurable names default to `domain::config::DEFAULT_*`; the local-development flag
    /// is off unless set.
    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        Ok(Config {
            table_name: env.required(config::TABLE_NAME)?,
            events_queue_url: env.required(config::EVENTS_QUEUE_URL)?,
            secret_prefix: env
                .optional(config::API_KEY_SECRET_PREFIX)
                .unwrap_or_else(|| config::DEFAULT_API_KEY_SECRET_PREFIX.to_string()),
            webhook_secret_prefix: env
                .optional(config::WEBHOOK_SECRET_PREFIX)
                .unwrap_or_else(|| config::DEFAULT_WEBHOOK_SECRET_PREFIX.to_string()),
            signing_secret_overlap: env.span(
                config::WEBHOOK_SECRET_OVERLAP,
                config::DEFAULT_WEBHOOK_SECRET_OVERLAP,
            )?,
            account_claim: dashboard::claim_from_env(env),
            webhook_timeout: env.millis(config::WEBHOOK_TIMEOUT_MS, DEFAULT_TIMEOUT)?,
            allow_insecure_local: config::allow_insecure_local(env)?,
            settings_rate_limit: dashboard::rate_limit_from_env(env)?,
            costly_rate_limit: config::per_minute(
                env,
                config::COSTLY_RATE_LIMIT_PER_MINUTE,
                domain::rate_limit::DEFAULT_COSTLY_PER_MINUTE,
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
