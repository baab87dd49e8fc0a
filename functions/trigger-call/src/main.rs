//! Lambda entry point: the dependencies once per cold start, then serve.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_glue::telemetry::init();
    let sdk = aws_adapters::sdk_config().await;
    let deps = trigger_call::Deps::from_env(&sdk, &domain::config::Env::process()).await?;
    lambda_glue::serve(deps, trigger_call::handle).await
}
