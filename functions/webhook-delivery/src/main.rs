//! Lambda entry point: the dependencies once per cold start, then consume SQS batches.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_glue::telemetry::init();
    let sdk = aws_adapters::sdk_config().await;
    let deps = &webhook_delivery::Deps::from_env(&sdk, &domain::config::Env::process()).await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, std::convert::Infallible>(webhook_delivery::handle(event.payload, deps).await)
    }))
    .await
}
