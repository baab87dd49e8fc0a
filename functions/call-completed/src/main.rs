//! Lambda entry point: build the clients and read the provider secret once per cold start,
//! then serve.

use aws_adapters::DynamoStore;
use aws_adapters::SecretsManager;
use aws_adapters::SqsQueue;
use domain::config;
use domain::ports::secrets::ProviderSecret;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_glue::telemetry::init();
    let sdk = aws_adapters::sdk_config().await;
    let table = config::required(config::TABLE_NAME)?;
    let queue_url = config::required(config::EVENTS_QUEUE_URL)?;
    let secrets = SecretsManager::new(aws_sdk_secretsmanager::Client::new(&sdk));
    let provider_secret =
        ProviderSecret::load(&secrets, &config::required(config::PROVIDER_SECRET_NAME)?).await?;
    let deps = call_completed::Deps {
        store: Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table)),
        queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), queue_url)),
        provider_secret,
        clock: Arc::new(domain::clock::SystemClock),
    };
    let deps = &deps;
    lambda_http::run(lambda_http::service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(call_completed::handle(req, deps).await)
    }))
    .await
}
