//! Lambda entry point: the dependencies (with the provider secret) once per cold start, then
//! serve.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_glue::telemetry::init();
    let sdk = aws_adapters::sdk_config().await;
    let deps = call_completed::Deps::from_env(&sdk, &domain::config::Env::process()).await?;
    lambda_glue::serve(deps, call_completed::handle).await
}
