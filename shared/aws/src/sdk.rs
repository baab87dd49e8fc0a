//! The AWS SDK configuration, built once per cold start. `AWS_ENDPOINT_URL` points every client
//! at the local emulator in tests and `make run`.
//!
//! Two ways to build it:
//!
//! - [`lambda_sdk_config`], for the functions (and the local stack that runs them): region,
//!   credentials and endpoint from the environment variables the Lambda service sets, and
//!   nothing else. The SDK's default chains (profile files, SSO, web identity through STS,
//!   ECS and EC2 metadata) never apply inside Lambda, and linking them cost every function
//!   about 1.4 MB (the STS client, the metadata clients, the profile parser: issue 14,
//!   docs/benchmarks.md). The SDK variables it does not read are named in a warning at
//!   start when set ([`NOT_READ`]).
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
use aws_smithy_types::checksum_config::{RequestChecksumCalculation, ResponseChecksumValidation};
use domain::config::{self, Env};
use domain::error::ConfigError;
use std::time::Duration;

/// The SDK's default connect timeout (`aws_config`'s default provider), kept.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// Variables the SDK's default loader would read and [`lambda_sdk_config`] does not: set,
/// they are named (never their values) in a warning at start, so that an operator who sets
/// one learns it has no effect instead of finding out from the traffic.
pub const NOT_READ: [&str; 17] = [
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_REQUEST_CHECKSUM_CALCULATION",
    "AWS_RESPONSE_CHECKSUM_VALIDATION",
    "AWS_SDK_UA_APP_ID",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE",
];

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
/// - `AWS_ENDPOINT_URL`, optional: every service at one endpoint (the local emulator);
/// - `AWS_USE_FIPS_ENDPOINT`, `AWS_USE_DUALSTACK_ENDPOINT`, optional, `true` or `false`.
///
/// Otherwise what the default loader gives a Lambda function in which none of [`NOT_READ`]
/// is set: the standard retry strategy (3 attempts), a 3.1 s connect timeout, checksums when
/// supported, the lazy identity cache, Tokio's sleep (a unit test compares the two); plus
/// what the loader leaves unset, an attempt timeout (`SDK_ATTEMPT_TIMEOUT_MS`, 2 s) and an
/// operation timeout (`SDK_OPERATION_TIMEOUT_MS`, 5 s, retries included), so that a stalled
/// reply is a handled error well inside the function's own timeout, never a process killed
/// halfway through its writes.
pub fn lambda_sdk_config(env: &Env) -> Result<SdkConfig, ConfigError> {
    let ignored = not_read(env);
    if !ignored.is_empty() {
        tracing::warn!(
            variables = ?ignored,
            "set but not read by the functions' SDK configuration (docs/deploy.md)"
        );
    }
    let region = env
        .optional("AWS_REGION")
        .or_else(|| env.optional("AWS_DEFAULT_REGION"))
        .ok_or_else(|| {
            ConfigError("environment variable AWS_REGION is required (Lambda sets it)".into())
        })?;
    let credentials = Credentials::new(
        env.required("AWS_ACCESS_KEY_ID")?.trim(),
        env.required("AWS_SECRET_ACCESS_KEY")?.trim(),
        env.optional("AWS_SESSION_TOKEN")
            .map(|t| t.trim().to_string()),
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
                .operation_attempt_timeout(env.millis(
                    config::SDK_ATTEMPT_TIMEOUT_MS,
                    config::DEFAULT_SDK_ATTEMPT_TIMEOUT,
                )?)
                .operation_timeout(env.millis(
                    config::SDK_OPERATION_TIMEOUT_MS,
                    config::DEFAULT_SDK_OPERATION_TIMEOUT,
                )?)
                .build(),
        )
        .request_checksum_calculation(RequestChecksumCalculation::WhenSupported)
        .response_checksum_validation(ResponseChecksumValidation::WhenSupported)
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .http_client(crate::http_client::SdkHttpClient::new());
    builder.set_sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep());
    builder.set_endpoint_url(env.optional("AWS_ENDPOINT_URL"));
    builder.set_use_fips(switch(env, "AWS_USE_FIPS_ENDPOINT")?);
    builder.set_use_dual_stack(switch(env, "AWS_USE_DUALSTACK_ENDPOINT")?);
    Ok(builder.build())
}

/// Which of [`NOT_READ`] are set.
fn not_read(env: &Env) -> Vec<&'static str> {
    NOT_READ
        .into_iter()
        .filter(|name| env.optional(name).is_some())
        .collect()
}

/// An SDK switch: `true` or `false` (any case), as the SDK reads it; unset is `None`, and
/// anything else stops the function at start rather than being taken as either.
fn switch(env: &Env, name: &str) -> Result<Option<bool>, ConfigError> {
    let Some(value) = env.optional(name) else {
        return Ok(None);
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(Some(true)),
        "false" => Ok(Some(false)),
        _ => Err(ConfigError(format!("{name} must be true or false"))),
    }
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
            .with("AWS_USE_FIPS_ENDPOINT", "")
            .with("AWS_USE_DUALSTACK_ENDPOINT", "")
            .with(config::SDK_ATTEMPT_TIMEOUT_MS, "")
            .with(config::SDK_OPERATION_TIMEOUT_MS, "")
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

    /// What `aws_config`'s loader gives a Lambda function, with the same region, credentials
    /// and endpoint and no other variable or file: every setting both can carry must agree,
    /// so that an SDK upgrade that changes a default fails here. (Not the bearer-token
    /// provider: the loader builds one only with aws-config's `sso` feature, which the admin
    /// CLI turns on in a workspace build, and none of the services we call takes a token.)
    #[tokio::test]
    async fn every_other_setting_is_what_the_sdk_loader_gives_a_lambda_function() {
        let endpoint = "http://127.0.0.1:9";
        let ours = lambda_sdk_config(&lambda_env().with("AWS_ENDPOINT_URL", endpoint)).unwrap();
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .empty_test_environment()
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new(
                "AKIDEXAMPLELAMBDA",
                "secret-from-lambda",
                Some("session-from-lambda".into()),
                None,
                "test",
            ))
            .endpoint_url(endpoint)
            .http_client(crate::http_client::SdkHttpClient::new())
            .load()
            .await;
        assert_eq!(ours.region(), loader.region());
        assert_eq!(ours.endpoint_url(), loader.endpoint_url());
        assert_eq!(ours.retry_config(), loader.retry_config());
        // The loader's timeouts (connect only), plus our attempt and operation timeouts.
        let loader_timeouts = loader.timeout_config().unwrap();
        let our_timeouts = ours.timeout_config().unwrap();
        assert_eq!(
            our_timeouts.connect_timeout(),
            loader_timeouts.connect_timeout()
        );
        assert_eq!(our_timeouts.read_timeout(), loader_timeouts.read_timeout());
        assert!(loader_timeouts.operation_timeout().is_none());
        assert!(loader_timeouts.operation_attempt_timeout().is_none());
        assert_eq!(
            our_timeouts.operation_attempt_timeout(),
            Some(config::DEFAULT_SDK_ATTEMPT_TIMEOUT)
        );
        assert_eq!(
            our_timeouts.operation_timeout(),
            Some(config::DEFAULT_SDK_OPERATION_TIMEOUT)
        );
        assert_eq!(ours.behavior_version(), loader.behavior_version());
        let shown = |c: &SdkConfig| {
            format!(
                "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
                c.stalled_stream_protection(),
                c.use_fips(),
                c.use_dual_stack(),
                c.disable_request_compression(),
                c.disable_clock_skew_correction(),
                c.request_checksum_calculation(),
                c.response_checksum_validation(),
                c.request_min_compression_size_bytes(),
                c.app_name(),
            )
        };
        assert_eq!(shown(&ours), shown(&loader));
        for (what, a, b) in [
            (
                "identity cache",
                ours.identity_cache().is_some(),
                loader.identity_cache().is_some(),
            ),
            (
                "sleep",
                ours.sleep_impl().is_some(),
                loader.sleep_impl().is_some(),
            ),
            (
                "time source",
                ours.time_source().is_some(),
                loader.time_source().is_some(),
            ),
        ] {
            assert!(a && b, "{what}: ours {a}, loader's {b}");
        }
    }

    #[test]
    fn fips_and_dual_stack_are_read_as_the_sdk_reads_them() {
        let sdk = lambda_sdk_config(
            &lambda_env()
                .with("AWS_USE_FIPS_ENDPOINT", "TRUE")
                .with("AWS_USE_DUALSTACK_ENDPOINT", "false"),
        )
        .unwrap();
        assert_eq!(
            (sdk.use_fips(), sdk.use_dual_stack()),
            (Some(true), Some(false))
        );
        let e = lambda_sdk_config(&lambda_env().with("AWS_USE_FIPS_ENDPOINT", "yes")).unwrap_err();
        assert!(
            e.to_string()
                .contains("AWS_USE_FIPS_ENDPOINT must be true or false"),
            "{e}"
        );
    }

    #[test]
    fn the_variables_it_does_not_read_are_named_when_set() {
        let env = NOT_READ
            .iter()
            .fold(lambda_env(), |env, name| env.with(name, ""));
        assert_eq!(not_read(&env), Vec::<&str>::new());
        let env = env
            .with("AWS_MAX_ATTEMPTS", "10")
            .with("AWS_ENDPOINT_URL_DYNAMODB", "https://example.com");
        assert_eq!(
            not_read(&env),
            vec!["AWS_MAX_ATTEMPTS", "AWS_ENDPOINT_URL_DYNAMODB"]
        );
        // Still a configuration: the warning is all they cause.
        assert!(lambda_sdk_config(&env).is_ok());
    }

    #[test]
    fn the_sdk_timeouts_can_be_set_and_a_bad_value_stops_the_start() {
        let env = lambda_env()
            .with(config::SDK_ATTEMPT_TIMEOUT_MS, "250")
            .with(config::SDK_OPERATION_TIMEOUT_MS, "900");
        let sdk = lambda_sdk_config(&env).unwrap();
        let t = sdk.timeout_config().unwrap();
        assert_eq!(
            (t.operation_attempt_timeout(), t.operation_timeout()),
            (
                Some(Duration::from_millis(250)),
                Some(Duration::from_millis(900))
            )
        );
        let e = lambda_sdk_config(&lambda_env().with(config::SDK_OPERATION_TIMEOUT_MS, "5s"))
            .unwrap_err();
        assert!(e.to_string().contains("SDK_OPERATION_TIMEOUT_MS"), "{e}");
    }

    #[tokio::test]
    async fn credential_values_are_trimmed_as_the_sdk_trims_them() {
        let env = lambda_env()
            .with("AWS_ACCESS_KEY_ID", " AKIDEXAMPLELAMBDA\n")
            .with("AWS_SESSION_TOKEN", "session-from-lambda ");
        let creds = credentials(&lambda_sdk_config(&env).unwrap()).await;
        assert_eq!(creds.access_key_id(), "AKIDEXAMPLELAMBDA");
        assert_eq!(creds.session_token(), Some("session-from-lambda"));
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
