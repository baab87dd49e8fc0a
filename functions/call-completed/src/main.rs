//! Lambda entry point: the dependencies (with the provider secret) once per cold start, then
//! serve.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_glue::telemetry::init();
    let env = domain::config::Env::process();
    let sdk = aws_adapters::lambda_sdk_config(&env)?;
    let deps = call_completed::Deps::from_env(&sdk, &env).await?;
    lambda_glue::serve(deps, call_completed::handle).await
}
