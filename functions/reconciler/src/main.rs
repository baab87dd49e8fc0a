//! Lambda entry point: the dependencies once per cold start, then one pass per scheduled event.

use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_glue::telemetry::init();
    let env = domain::config::Env::process();
    let sdk = aws_adapters::lambda_sdk_config(&env)?;
    let deps = &reconciler::Deps::from_env(&sdk, &env).await?;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, std::convert::Infallible>(reconciler::run(deps).await)
        },
    ))
    .await
}
