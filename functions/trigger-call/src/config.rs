//! What trigger-call reads from its environment, declared once in [`Config::VARS`] (the
//! template and docs drift tests read the list), and read by [`Config::from_env`].

use domain::config::{self, Env, Unset, Var};
use domain::error::ConfigError;
use lambda_glue::dashboard;
use std::time::Duration;

/// trigger-call's settings, typed; the adapters are built from them (`Ports::aws`) or chosen
/// by a test, and `Deps::new` puts the two together.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub table_name: String,
    pub provider_base_url: String,
    pub provider_secret_name: String,
    pub provider_timeout: Duration,
    pub dial_unknown_deadline: chrono::Duration,
    pub call_stale_after: chrono::Duration,
    pub rate_limit_per_minute: u32,
    /// The dashboard route's (`crate::DASHBOARD_ROUTES`) account claim and per-account limit:
    /// the settings function's own variables, read the same way.
    pub account_claim: String,
    pub settings_rate_limit: u32,
}

impl Config {
    /// Every variable trigger-call reads.
    pub const VARS: &'static [Var] = &[
        Var {
            name: config::TABLE_NAME,
            unset: Unset::Required,
            meaning: "the DynamoDB table: keys, accounts, calls, idempotency keys",
        },
        Var {
            name: config::PROVIDER_BASE_URL,
            unset: Unset::Required,
            meaning: "the voice provider's API, where calls are placed",
        },
        Var {
            name: config::PROVIDER_SECRET_NAME,
            unset: Unset::Required,
            meaning: "the Secrets Manager secret holding the provider's API key",
        },
        Var {
            name: config::PROVIDER_TIMEOUT_MS,
            unset: Unset::Default("5000"),
            meaning: "milliseconds one provider request may take; the idempotency wait is derived",
        },
        Var {
            name: config::DIAL_UNKNOWN_DEADLINE,
            unset: Unset::Default("15m"),
            meaning: "how long a dial_unknown call waits for a callback before it is failed",
        },
        Var {
            name: config::CALL_STALE_AFTER,
            unset: Unset::Default("3h"),
            meaning: "how long a dialing call may go without news before the reconciler ends it",
        },
        Var {
            name: config::API_RATE_LIMIT_PER_MINUTE,
            unset: Unset::Default("100"),
            meaning: "requests per minute per API key, unless the account has its own",
        },
        dashboard::CLAIM_VAR,
        dashboard::RATE_LIMIT_VAR,
    ];

    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        Ok(Config {
            table_name: env.required(config::TABLE_NAME)?,
            provider_base_url: env.required(config::PROVIDER_BASE_URL)?,
            provider_secret_name: env.required(config::PROVIDER_SECRET_NAME)?,
            provider_timeout: env.millis(
                config::PROVIDER_TIMEOUT_MS,
                config::DEFAULT_PROVIDER_TIMEOUT,
            )?,
            dial_unknown_deadline: env.span(
                config::DIAL_UNKNOWN_DEADLINE,
                config::DEFAULT_DIAL_UNKNOWN_DEADLINE,
            )?,
            call_stale_after: env
                .span(config::CALL_STALE_AFTER, config::DEFAULT_CALL_STALE_AFTER)?,
            rate_limit_per_minute: config::per_minute(
                env,
                config::API_RATE_LIMIT_PER_MINUTE,
                domain::rate_limit::DEFAULT_API_PER_MINUTE,
            )?,
            account_claim: dashboard::claim_from_env(env),
            settings_rate_limit: dashboard::rate_limit_from_env(env)?,
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
