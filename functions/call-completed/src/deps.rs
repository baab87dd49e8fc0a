//! What the function runs on: the adapters (`Ports`) and what the configuration derives for
//! them (`Deps`), built once per cold start. Below every handler, which all take `&Deps`.

use crate::config::Config;
use aws_adapters::{DynamoStore, SecretsManager, SqsQueue};
use aws_config::SdkConfig;
use domain::clock::{Clock, SystemClock};
use domain::config::Env;
use domain::error::StartupError;
use domain::ports::queue::EventQueue;
use domain::ports::secrets::ProviderSecret;
use domain::ports::store::Store;
use std::sync::Arc;

/// What the function needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn EventQueue>,
    /// The provider's API key signs its callbacks (`x-retell-signature`).
    pub provider_secret: ProviderSecret,
    pub clock: Arc<dyn Clock>,
    /// How long an ended call waits for `call_analyzed` (`CALL_ANALYSIS_GRACE`).
    pub analysis_grace: chrono::Duration,
    /// How long a `dialing` or `in_progress` call may go without `call_ended` before the
    /// reconciler finishes it (`CALL_STALE_AFTER`).
    pub call_stale_after: chrono::Duration,
}

/// The adapters call-completed talks to: the real ones ([`Ports::aws`]) or a test's. The
/// provider secret is loaded once per cold start, so it is one of them.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn EventQueue>,
    pub provider_secret: ProviderSecret,
    pub clock: Arc<dyn Clock>,
}

impl Ports {
    /// The real adapters from the SDK configuration, with the provider secret loaded.
    pub async fn aws(sdk: &SdkConfig, config: &Config) -> Result<Ports, StartupError> {
        let provider_secret =
            ProviderSecret::load(&SecretsManager::from_sdk(sdk), &config.provider_secret_name)
                .await?;
        Ok(Ports {
            store: Arc::new(DynamoStore::from_sdk(sdk, config.table_name.clone())),
            queue: Arc::new(SqsQueue::from_sdk(sdk, config.events_queue_url.clone())),
            provider_secret,
            clock: Arc::new(SystemClock),
        })
    }
}

impl Deps {
    /// The one way `Deps` are built (`main.rs` through [`Deps::from_env`], the local stack,
    /// the tests).
    pub fn new(ports: Ports, config: &Config) -> Deps {
        Deps {
            store: ports.store,
            queue: ports.queue,
            provider_secret: ports.provider_secret,
            clock: ports.clock,
            analysis_grace: config.analysis_grace,
            call_stale_after: config.call_stale_after,
        }
    }

    /// The composition root of a cold start: the configuration from `env`, the real adapters.
    pub async fn from_env(sdk: &SdkConfig, env: &Env) -> Result<Deps, StartupError> {
        let config = Config::from_env(env)?;
        Ok(Deps::new(Ports::aws(sdk, &config).await?, &config))
    }
}
