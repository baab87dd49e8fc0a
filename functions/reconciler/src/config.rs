//! What the reconciler reads from its environment, declared once in [`Config::VARS`] (the
//! template and docs drift tests read the list), and read by [`Config::from_env`].

use crate::Pace;
use domain::config::{self, Env, Unset, Var};
use domain::error::ConfigError;
use std::time::Duration;

/// The reconciler's settings, typed; the adapters are built from them (`Ports::aws`) or chosen
/// by a test, and `Deps::new` puts the two together.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub table_name: String,
    pub events_queue_url: String,
    pub provider_base_url: String,
    pub provider_secret_name: String,
    pub provider_timeout: Duration,
    pub dial_unknown_deadline: chrono::Duration,
    pub call_stale_after: chrono::Duration,
    pub pace: Pace,
}

impl Config {
    /// Every variable the reconciler reads.
    pub const VARS: &'static [Var] = &[
        Var {
            name: config::TABLE_NAME,
            unset: Unset::Required,
            meaning: "the DynamoDB table and its due index",
        },
        Var {
            name: config::EVENTS_QUEUE_URL,
            unset: Unset::Required,
            meaning: "the events queue stored events are sent to",
        },
        Var {
            name: config::PROVIDER_BASE_URL,
            unset: Unset::Required,
            meaning: "the voice provider's API, where scheduled calls are placed",
        },
        Var {
            name: config::PROVIDER_SECRET_NAME,
            unset: Unset::Required,
            meaning: "the Secrets Manager secret holding the provider's API key",
        },
        Var {
            name: config::PROVIDER_TIMEOUT_MS,
            unset: Unset::Default("5000"),
            meaning: "milliseconds one provider request may take",
        },
        Var {
            name: config::DIAL_UNKNOWN_DEADLINE,
            unset: Unset::Default("15m"),
            meaning: "how long a call past its request's lease waits for a callback",
        },
        Var {
            name: config::CALL_STALE_AFTER,
            unset: Unset::Default("3h"),
            meaning: "how long a placed scheduled call may go without news",
        },
        Var {
            name: config::RECONCILER_CONCURRENCY,
            unset: Unset::Default("32"),
            meaning: "repairs at once, over every shard of the due index",
        },
        Var {
            name: config::SCHEDULED_CALLS_PER_SECOND,
            unset: Unset::Default("60"),
            meaning: "scheduled calls placed per second at most",
        },
    ];

    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        Ok(Config {
            table_name: env.required(config::TABLE_NAME)?,
            events_queue_url: env.required(config::EVENTS_QUEUE_URL)?,
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
            pace: Pace::from_env(env)?,
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
