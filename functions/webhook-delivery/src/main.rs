//! Lambda entry point: build the clients once per cold start, then consume SQS batches.

use aws_adapters::DynamoStore;
use aws_adapters::SecretsManager;
use aws_adapters::SqsQueue;
use domain::config;
use domain::webhook::schedule::RetrySchedule;
use domain::webhook::signing_key::KeyCache;
use outbound::webhook_client::{WebhookClient, DEFAULT_TIMEOUT};
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_glue::telemetry::init();
    let sdk = aws_adapters::sdk_config().await;
    let timeout = config::millis(config::WEBHOOK_TIMEOUT_MS, DEFAULT_TIMEOUT)?;
    let deps = webhook_delivery::Deps {
        store: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            config::required(config::TABLE_NAME)?,
        )),
        secrets: Arc::new(SecretsManager::new(aws_sdk_secretsmanager::Client::new(
            &sdk,
        ))),
        key_cache: KeyCache::new(),
        secret_prefix: config::optional(config::API_KEY_SECRET_PREFIX)
            .unwrap_or_else(|| config::DEFAULT_API_KEY_SECRET_PREFIX.to_string()),
        queue: Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            config::required(config::EVENTS_QUEUE_URL)?,
        )),
        client: WebhookClient::new(timeout, config::flag(config::WEBHOOK_ALLOW_INSECURE_LOCAL))?,
        schedule: RetrySchedule::from_env()?,
        clock: Arc::new(domain::clock::SystemClock),
        claim_lease: timeout + Duration::from_secs(60),
    };
    let deps = &deps;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            Ok::<_, std::convert::Infallible>(webhook_delivery::handle(event.payload, deps).await)
        },
    ))
    .await
}
