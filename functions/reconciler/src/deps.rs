//! What the function runs on: the adapters (`Ports`) and what the configuration derives for
//! them (`Deps`), built once per cold start. Below every repair, which all take `&Deps`.

use crate::config::Config;
use crate::pace::Pace;
use aws_adapters::{DynamoStore, SecretsManager, SqsQueue};
use aws_config::SdkConfig;
use domain::clock::{Clock, SystemClock};
use domain::config::Env;
use domain::error::StartupError;
use domain::ports::provider::VoiceProvider;
use domain::ports::queue::EventQueue;
use domain::ports::secrets::ProviderSecret;
use domain::ports::store::Store;
use std::sync::Arc;

/// What the function needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn EventQueue>,
    pub clock: Arc<dyn Clock>,
    /// Places scheduled calls (the same client trigger-call uses).
    pub provider: Arc<dyn VoiceProvider>,
    /// A `queued` call found past its lease becomes `dial_unknown` for this long
    /// (`DIAL_UNKNOWN_DEADLINE`).
    pub dial_unknown_deadline: chrono::Duration,
    /// A scheduled call placed becomes `dialing` with this deadline (`CALL_STALE_AFTER`).
    pub call_stale_after: chrono::Duration,
    /// Repairs at once and the pace of placements (`RECONCILER_CONCURRENCY`,
    /// `SCHEDULED_CALLS_PER_SECOND`).
    pub pace: Pace,
}

/// The adapters the reconciler talks to: the real ones ([`Ports::aws`]) or a test's.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn EventQueue>,
    pub provider: Arc<dyn VoiceProvider>,
    pub clock: Arc<dyn Clock>,
}

impl Ports {
    /// The real adapters from the SDK configuration: the table, the events queue, and the
    /// provider client with the key from the provider secret.
    pub async fn aws(sdk: &SdkConfig, config: &Config) -> Result<Ports, StartupError> {
        let secret =
            ProviderSecret::load(&SecretsManager::from_sdk(sdk), &config.provider_secret_name)
                .await?;
        let provider = outbound::RetellClient::new(
            &config.provider_base_url,
            secret.api_key,
            config.provider_timeout,
        )
        .map_err(|e| StartupError::Client {
            what: "voice provider",
            reason: e.to_string(),
        })?;
        Ok(Ports {
            store: Arc::new(DynamoStore::from_sdk(sdk, config.table_name.clone())),
            queue: Arc::new(SqsQueue::from_sdk(sdk, config.events_queue_url.clone())),
            provider: Arc::new(provider),
            clock: Arc::new(SystemClock),
        })
    }
}

impl Deps {
    /// The one way `Deps` are built (`main.rs` through [`Deps::from_env`], the local stack,
    /// the bench, the tests).
    pub fn new(ports: Ports, config: &Config) -> Deps {
        Deps {
            store: ports.store,
            queue: ports.queue,
            clock: ports.clock,
            provider: ports.provider,
            dial_unknown_deadline: config.dial_unknown_deadline,
            call_stale_after: config.call_stale_after,
            pace: config.pace,
        }
    }

    /// The composition root of a cold start: the configuration from `env`, the real adapters.
    pub async fn from_env(sdk: &SdkConfig, env: &Env) -> Result<Deps, StartupError> {
        let config = Config::from_env(env)?;
        Ok(Deps::new(Ports::aws(sdk, &config).await?, &config))
    }
}
