//! Placing calls and reading their status (routes in [`ROUTES`]): a thin layer over the domain.
//!
//! `handle` takes every dependency explicitly, so the Lambda entry point, the local stack and
//! the tests run exactly the same code.

pub mod calling_rules;
pub mod calls;
pub mod config;
pub mod idempotency;
pub mod metrics;
pub mod request;
pub mod trigger;

use aws_adapters::{DynamoStore, SecretsManager};
use aws_config::SdkConfig;
pub use config::Config;
use domain::clock::{Clock, SystemClock};
use domain::config::Env;
use domain::error::StartupError;
use domain::model::KeyGrant;
use domain::ports::provider::VoiceProvider;
use domain::ports::secrets::ProviderSecret;
use domain::ports::store::Store;
use domain::rate_limit::RateStatus;
use domain::ApiError;
use lambda_glue::route;
use lambda_glue::router::{self, Params, Route, RouteFuture};
use lambda_http::{Body, Request, Response};
use outbound::RetellClient;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// What the function needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub provider: Arc<dyn VoiceProvider>,
    pub clock: Arc<dyn Clock>,
    /// How long a request whose Idempotency-Key is held by a running request waits for that
    /// request's answer before giving up with 409.
    pub idempotency_wait: Duration,
    /// How long a `dial_unknown` call waits for a callback before the reconciler resolves it
    /// as failed (`DIAL_UNKNOWN_DEADLINE`).
    pub dial_unknown_deadline: chrono::Duration,
    /// How long a `dialing` call may go without the provider reporting it before the
    /// reconciler finishes it (`CALL_STALE_AFTER`).
    pub call_stale_after: chrono::Duration,
    /// Requests per minute per API key unless the account has its own
    /// (`API_RATE_LIMIT_PER_MINUTE`, default `rate_limit::DEFAULT_API_PER_MINUTE`).
    pub rate_limit_per_minute: u32,
    /// The JWT claim holding the dashboard caller's account id (`ACCOUNT_ID_CLAIM`), and the
    /// settings limit per account (`SETTINGS_RATE_LIMIT_PER_MINUTE`): [`DASHBOARD_ROUTES`] only.
    pub account_claim: String,
    pub settings_rate_limit: u32,
}

/// The adapters trigger-call talks to: the real ones ([`Ports::aws`]) or a test's.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub provider: Arc<dyn VoiceProvider>,
    pub clock: Arc<dyn Clock>,
}

impl Ports {
    /// The real adapters, built once per cold start from the SDK configuration: the table,
    /// and the provider client with the key from the provider secret.
    pub async fn aws(sdk: &SdkConfig, config: &Config) -> Result<Ports, StartupError> {
        // The provider secret's round trip and the HTTP client's construction overlap: the
        // client is built once the fetch is on its way (docs/benchmarks.md, cold starts).
        let secrets = SecretsManager::from_sdk(sdk);
        let (secret, http) = tokio::join!(
            ProviderSecret::load(&secrets, &config.provider_secret_name),
            async {
                tokio::task::yield_now().await;
                RetellClient::http(config.provider_timeout)
            }
        );
        let http = http.map_err(|e| StartupError::Client {
            what: "voice provider",
            reason: e.to_string(),
        })?;
        let provider = RetellClient::with_http(
            http,
            &config.provider_base_url,
            secret?.api_key,
            config.provider_timeout,
        );
        Ok(Ports {
            store: Arc::new(DynamoStore::from_sdk(sdk, config.table_name.clone())),
            provider: Arc::new(provider),
            clock: Arc::new(SystemClock),
        })
    }
}

impl Deps {
    /// The one way `Deps` are built (`main.rs` through [`Deps::from_env`], the local stack,
    /// the bench, the tests): the adapters, and what the configuration derives for them.
    pub fn new(ports: Ports, config: &Config) -> Deps {
        Deps {
            store: ports.store,
            provider: ports.provider,
            clock: ports.clock,
            idempotency_wait: domain::config::idempotency_wait(config.provider_timeout),
            dial_unknown_deadline: config.dial_unknown_deadline,
            call_stale_after: config.call_stale_after,
            rate_limit_per_minute: config.rate_limit_per_minute,
            account_claim: config.account_claim.clone(),
            settings_rate_limit: config.settings_rate_limit,
        }
    }

    /// The composition root of a cold start: the configuration from `env`, the real adapters.
    pub async fn from_env(sdk: &SdkConfig, env: &Env) -> Result<Deps, StartupError> {
        let config = Config::from_env(env)?;
        Ok(Deps::new(Ports::aws(sdk, &config).await?, &config))
    }
}

/// What a route handler gets: the request, the dependencies, the path parameters and where
/// [`authenticate`] leaves the key's rate-limit status for the answer's headers.
pub struct Ctx<'a> {
    pub req: &'a Request,
    pub deps: &'a Deps,
    pub params: Params,
    pub rate: &'a OnceLock<RateStatus>,
}

/// The caller's key grant, counted against the key's rate limit (one store request); the
/// status is kept for the `RateLimit-*` headers of whatever the route answers.
pub async fn authenticate(ctx: &Ctx<'_>) -> Result<KeyGrant, ApiError> {
    let (grant, status) = domain::auth::authenticate(
        lambda_glue::http::header(ctx.req, "authorization"),
        ctx.deps.store.as_ref(),
        ctx.deps.clock.now(),
        ctx.deps.rate_limit_per_minute,
    )
    .await?;
    let _ = ctx.rate.set(status);
    Ok(grant)
}

pub type Handler = for<'a> fn(Ctx<'a>) -> RouteFuture<'a>;

/// The customers' entry point (also printed by `make run`'s banner).
pub const TRIGGER_CALL: &str = "/api/trigger-call";

/// Every route of the function, as `template.yaml` declares them (the drift test compares).
pub static ROUTES: &[Route<Handler>] = &[
    route!(POST TRIGGER_CALL => trigger::trigger_call),
    route!(GET "/api/calls" => calls::list_calls),
    route!(GET "/api/calls/{call_id}" => calls::get_call),
    route!(DELETE "/api/calls/{call_id}" => calls::cancel_call),
    route!(POST calling_rules::CHECK => calling_rules::check),
];

/// The routes of [`ROUTES`] the integration page calls with the dashboard session, not the API
/// key: behind API Gateway's `DashboardJwt` authorizer like the settings API (template.yaml),
/// their handlers identify the caller by `lambda_glue::dashboard`. Served here because they
/// need the dialing rules this function already links. The template drift test, the local
/// gateway (claims injected) and the OpenAPI generator (security scheme) read this list.
pub const DASHBOARD_ROUTES: &[&str] = &[calling_rules::CHECK];

/// Routes and runs the request; every answer after the key was counted carries the key's
/// `RateLimit-*` headers (a 429 `rate_limited` carries its own and `Retry-After`).
pub async fn handle(req: Request, deps: &Deps) -> Response<Body> {
    let rate = OnceLock::new();
    let mut res = router::dispatch(ROUTES, &req, |handler, params| {
        handler(Ctx {
            req: &req,
            deps,
            params,
            rate: &rate,
        })
    })
    .await;
    if let Some(status) = rate.get() {
        lambda_glue::http::with_rate_limit(&mut res, status);
    }
    res
}
