//! The AWS SDK configuration, loaded once per cold start. `AWS_ENDPOINT_URL` points every client
//! at the local emulator in tests and `make run`.

use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The SDK's configuration from the environment (region, credentials), with an HTTP client
/// that trusts the process's one root store (`tls_roots`), the same the outbound clients use,
/// instead of loading the platform's certificates a second time.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client())
        .load()
        .await
}

/// The SDK's default HTTPS client (hyper 1, rustls with aws-lc-rs), with the shared roots.
pub fn http_client() -> SharedHttpClient {
    let trust = TrustStore::empty().with_pem_certificate(tls_roots::pem());
    let builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
    match TlsContext::builder().with_trust_store(trust).build() {
        Ok(ctx) => builder.tls_context(ctx).build_https(),
        // Never in 1.5 (the builder cannot fail); the platform's roots then, loaded again.
        Err(_) => builder.build_https(),
    }
}
