//! Lambda entry point: the dependencies once per cold start, then serve.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_glue::telemetry::init();
    let env = domain::config::Env::process();
    let sdk = aws_adapters::lambda_sdk_config(&env)?;
    let deps = trigger_call::Deps::from_env(&sdk, &env).await?;
    lambda_glue::serve(deps, trigger_call::handle).await
}
