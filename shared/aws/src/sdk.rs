//! The AWS SDK configuration, loaded once per cold start. `AWS_ENDPOINT_URL` points every client
//! at the local emulator in tests and `make run`.

/// The SDK's configuration from the environment (region, credentials), with our HTTP client
/// ([`crate::http_client::SdkHttpClient`]: reqwest on the process's one root store), as every
/// function, the admin CLI and the local stack use it.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::http_client::SdkHttpClient::new())
        .load()
        .await
}
