//! What call-completed reads from its environment, declared once in [`Config::VARS`] (the
//! template and docs drift tests read the list), and read by [`Config::from_env`].

use domain::config::{self, Env, Unset, Var};
use domain::error::ConfigError;

/// call-completed's settings, typed; the adapters are built from them (`Ports::aws`) or chosen
/// by a test, and `Deps::new` puts the two together.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub table_name: String,
    pub events_queue_url: String,
    pub provider_secret_name: String,
    pub analysis_grace: chrono::Duration,
    pub call_stale_after: chrono::Duration,
}

impl Config {
    /// Every variable call-completed reads.
    pub const VARS: &'static [Var] = &[
        Var {
            name: config::TABLE_NAME,
            unset: Unset::Required,
            meaning: "the DynamoDB table: calls, their events",
        },
        Var {
            name: config::EVENTS_QUEUE_URL,
            unset: Unset::Required,
            meaning: "the events queue the call.completed events are sent to",
        },
        Var {
            name: config::PROVIDER_SECRET_NAME,
            unset: Unset::Required,
            meaning: "the Secrets Manager secret whose API key signs the provider's callbacks",
        },
        Var {
            name: config::CALL_ANALYSIS_GRACE,
            unset: Unset::Default("10m"),
            meaning: "how long an ended call waits for call_analyzed",
        },
        Var {
            name: config::CALL_STALE_AFTER,
            unset: Unset::Default("3h"),
            meaning: "how long a call may go without news before the reconciler ends it",
        },
    ];

    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        Ok(Config {
            table_name: env.required(config::TABLE_NAME)?,
            events_queue_url: env.required(config::EVENTS_QUEUE_URL)?,
            provider_secret_name: env.required(config::PROVIDER_SECRET_NAME)?,
            analysis_grace: env.span(
                config::CALL_ANALYSIS_GRACE,
                config::DEFAULT_CALL_ANALYSIS_GRACE,
            )?,
            call_stale_after: env
                .span(config::CALL_STALE_AFTER, config::DEFAULT_CALL_STALE_AFTER)?,
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
