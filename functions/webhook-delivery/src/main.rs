//! Lambda entry point: the dependencies once per cold start, then consume SQS batches.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_glue::telemetry::init();
    let env = domain::config::Env::process();
    let sdk = aws_adapters::lambda_sdk_config(&env)?;
    let deps = &webhook_delivery::Deps::from_env(&sdk, &env).await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, std::convert::Infallible>(webhook_delivery::handle(event.payload, deps).await)
    }))
    .await
}
