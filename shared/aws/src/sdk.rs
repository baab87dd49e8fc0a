//! The AWS SDK configuration, built once per cold start. `AWS_ENDPOINT_URL` points every client
//! at the local emulator in tests and `make run`.
//!
//! Two ways to build it:
//!
//! - [`lambda_sdk_config`], for the functions (and the local stack that runs them): region,
//!   credentials and endpoint from the environment variables the Lambda service sets, and
//!   nothing else. The SDK's default chains (profile files, SSO, web identity through STS,
//!   ECS and EC2 metadata) never apply inside Lambda, and linking them cost every function
//!   about 0.6 MB (the STS client, the metadata clients, the profile parser: issue 14,
//!   docs/benchmarks.md).
//! - [`sdk_config`], the SDK's default chains, for the admin CLI an operator runs on a
//!   workstation (profiles, `AWS_PROFILE`).
//!
//! Both hand the SDK our HTTP client ([`crate::http_client::SdkHttpClient`]: reqwest on the
//! process's one root store).

use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use domain::config::Env;
use domain::error::ConfigError;
use std::time::Duration;

/// The SDK's default connect timeout (`aws_config`'s default provider), kept.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// The SDK's configuration from the environment's default chains (region, credentials,
/// endpoint, retries), as the admin CLI uses it.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(crate::http_client::SdkHttpClient::new())
        .load()
        .await
}

/// The functions' SDK configuration, from the variables the Lambda service sets in every
/// execution environment (see the module doc):
///
/// - `AWS_REGION` (or `AWS_DEFAULT_REGION`), required;
/// - `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, required, and `AWS_SESSION_TOKEN` (the
///   execution role's credentials);
/// - `AWS_ENDPOINT_URL`, optional: every service at one endpoint (the local emulator).
///
/// Otherwise what the default loader would give a Lambda function: the standard retry
/// strategy (3 attempts), a 3.1 s connect timeout, the lazy identity cache, Tokio's sleep.
pub fn lambda_sdk_config(env: &Env) -> Result<SdkConfig, ConfigError> {
    let region = env
        .optional("AWS_REGION")
        .or_else(|| env.optional("AWS_DEFAULT_REGION"))
        .ok_or_else(|| {
            ConfigError("environment variable AWS_REGION is required (Lambda sets it)".into())
        })?;
    let credentials = Credentials::new(
        env.required("AWS_ACCESS_KEY_ID")?,
        env.required("AWS_SECRET_ACCESS_KEY")?,
        env.optional("AWS_SESSION_TOKEN"),
        None,
        "lambda-environment",
    );
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .identity_cache(IdentityCache::lazy().build())
        .retry_config(RetryConfig::standard())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build(),
        )
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .http_client(crate::http_client::SdkHttpClient::new());
    builder.set_sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep());
    builder.set_endpoint_url(env.optional("AWS_ENDPOINT_URL"));
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::ProvideCredentials;

    /// The Lambda variables, laid over the process environment (which, under the tests'
    /// emulator, has its own): an empty value counts as unset.
    fn lambda_env() -> Env {
        Env::default()
            .with("AWS_REGION", "eu-west-1")
            .with("AWS_DEFAULT_REGION", "")
            .with("AWS_ACCESS_KEY_ID", "AKIDEXAMPLELAMBDA")
            .with("AWS_SECRET_ACCESS_KEY", "secret-from-lambda")
            .with("AWS_SESSION_TOKEN", "session-from-lambda")
            .with("AWS_ENDPOINT_URL", "")
    }

    async fn credentials(sdk: &SdkConfig) -> Credentials {
        let provider = sdk.credentials_provider().unwrap();
        provider.provide_credentials().await.unwrap()
    }

    #[tokio::test]
    async fn region_credentials_and_endpoint_come_from_the_lambda_variables() {
        let sdk = lambda_sdk_config(&lambda_env().with("AWS_ENDPOINT_URL", "http://127.0.0.1:9"))
            .unwrap();
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:9"));
        let creds = credentials(&sdk).await;
        assert_eq!(creds.access_key_id(), "AKIDEXAMPLELAMBDA");
        assert_eq!(creds.secret_access_key(), "secret-from-lambda");
        assert_eq!(creds.session_token(), Some("session-from-lambda"));
        assert_eq!(creds.expiry(), None);
    }

    #[test]
    fn the_defaults_are_the_sdk_loaders_own() {
        let sdk = lambda_sdk_config(&lambda_env()).unwrap();
        assert_eq!(sdk.endpoint_url(), None, "no endpoint: the service's own");
        let retry = sdk.retry_config().unwrap();
        assert_eq!(retry.mode(), aws_config::retry::RetryMode::Standard);
        assert_eq!(retry.max_attempts(), 3);
        assert_eq!(
            sdk.timeout_config().unwrap().connect_timeout(),
            Some(Duration::from_millis(3100))
        );
        assert!(sdk.sleep_impl().is_some() && sdk.time_source().is_some());
        assert!(sdk.identity_cache().is_some() && sdk.http_client().is_some());
        assert_eq!(sdk.behavior_version(), Some(BehaviorVersion::latest()));
    }

    #[test]
    fn the_default_region_variable_is_read_when_aws_region_is_not_set() {
        let env = lambda_env()
            .with("AWS_REGION", "")
            .with("AWS_DEFAULT_REGION", "ap-south-1");
        let sdk = lambda_sdk_config(&env).unwrap();
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("ap-south-1"));
    }

    #[tokio::test]
    async fn a_session_token_is_optional() {
        let sdk = lambda_sdk_config(&lambda_env().with("AWS_SESSION_TOKEN", "")).unwrap();
        let creds = credentials(&sdk).await;
        assert_eq!(creds.session_token(), None);
    }

    #[test]
    fn a_missing_variable_is_named_and_no_value_is_shown() {
        for (name, expected) in [
            ("AWS_REGION", "AWS_REGION"),
            ("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
            ("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
        ] {
            let e = lambda_sdk_config(&lambda_env().with(name, "")).unwrap_err();
            let message = e.to_string();
            assert!(message.contains(expected), "{name}: {message}");
            for value in [
                "AKIDEXAMPLELAMBDA",
                "secret-from-lambda",
                "session-from-lambda",
            ] {
                assert!(!message.contains(value), "{name}: {message}");
            }
        }
    }

    #[test]
    fn the_configuration_never_shows_the_secret_key() {
        let sdk = lambda_sdk_config(&lambda_env()).unwrap();
        let shown = format!("{sdk:?}");
        assert!(!shown.contains("secret-from-lambda"), "{shown}");
        assert!(!shown.contains("session-from-lambda"), "{shown}");
    }
}
