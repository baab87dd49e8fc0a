//! Lambda entry point: build the clients once per cold start, then serve.

use aws_adapters::DynamoStore;
use aws_adapters::SecretsManager;
use aws_adapters::SqsQueue;
use domain::config;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_glue::telemetry::init();
    let sdk = aws_adapters::sdk_config().await;
    let table = config::required(config::TABLE_NAME)?;
    let deps = settings::Deps::from_env(
        Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table)),
        Arc::new(SecretsManager::new(aws_sdk_secretsmanager::Client::new(
            &sdk,
        ))),
        Arc::new(domain::clock::SystemClock),
        Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            config::required(config::EVENTS_QUEUE_URL)?,
        )),
    )?;
    if deps.allow_insecure_local {
        tracing::warn!(
            "WEBHOOK_ALLOW_INSECURE_LOCAL is set: http and loopback webhook URLs are accepted (local development only)"
        );
    }
    let deps = &deps;
    lambda_http::run(lambda_http::service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(settings::handle(req, deps).await)
    }))
    .await
}
