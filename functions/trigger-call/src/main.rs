//! Lambda entry point: build the clients once per cold start, then serve.

use aws_adapters::DynamoStore;
use aws_adapters::SecretsManager;
use domain::config;
use domain::ports::secrets::ProviderSecret;
use outbound::RetellClient;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_glue::telemetry::init();
    let sdk = aws_adapters::sdk_config().await;
    let table = config::required(config::TABLE_NAME)?;
    let base_url = config::required(config::PROVIDER_BASE_URL)?;
    let timeout = config::millis(
        config::PROVIDER_TIMEOUT_MS,
        config::DEFAULT_PROVIDER_TIMEOUT,
    )?;
    let secrets = SecretsManager::new(aws_sdk_secretsmanager::Client::new(&sdk));
    let provider_secret =
        ProviderSecret::load(&secrets, &config::required(config::PROVIDER_SECRET_NAME)?).await?;
    let deps = trigger_call::Deps {
        store: Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table)),
        provider: Arc::new(RetellClient::new(
            &base_url,
            provider_secret.api_key,
            timeout,
        )?),
        clock: Arc::new(domain::clock::SystemClock),
        idempotency_wait: trigger_call::Deps::default_idempotency_wait(timeout),
    };
    let deps = &deps;
    lambda_http::run(lambda_http::service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(trigger_call::handle(req, deps).await)
    }))
    .await
}
