//! AWS SDK configuration, loaded once per cold start. `AWS_ENDPOINT_URL` points every client at
//! the local emulator in tests and `make run`.

pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
