//! Placing calls and reading their status (routes in [`ROUTES`]): a thin layer over the domain.
//!
//! `handle` takes every dependency explicitly, so the Lambda entry point, the local stack and
//! the tests run exactly the same code.

pub mod calls;
pub mod idempotency;
pub mod metrics;
pub mod request;
pub mod trigger;

use aws_adapters::{DynamoStore, SecretsManager};
use aws_config::SdkConfig;
use domain::clock::{Clock, SystemClock};
use domain::config::{self, Env};
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
}

impl Deps {
    /// The composition root: the real adapters, built once per cold start from the SDK
    /// configuration and the environment (`main.rs`, the local stack and the bench).
    pub async fn from_env(sdk: &SdkConfig, env: &Env) -> Result<Deps, StartupError> {
        let timeout = env.millis(
            config::PROVIDER_TIMEOUT_MS,
            config::DEFAULT_PROVIDER_TIMEOUT,
        )?;
        let (secret_name, base_url) = (
            env.required(config::PROVIDER_SECRET_NAME)?,
            env.required(config::PROVIDER_BASE_URL)?,
        );
        // The provider secret's round trip and the HTTP client's construction overlap: the
        // client is built once the fetch is on its way (docs/benchmarks.md, cold starts).
        let secrets = SecretsManager::from_sdk(sdk);
        let (secret, http) = tokio::join!(ProviderSecret::load(&secrets, &secret_name), async {
            tokio::task::yield_now().await;
            RetellClient::http(timeout)
        });
        let http = http.map_err(|e| StartupError::Client {
            what: "voice provider",
            reason: e.to_string(),
        })?;
        let provider = RetellClient::with_http(http, &base_url, secret?.api_key, timeout);
        Ok(Deps {
            store: Arc::new(DynamoStore::from_sdk(
                sdk,
                env.required(config::TABLE_NAME)?,
            )),
            provider: Arc::new(provider),
            clock: Arc::new(SystemClock),
            idempotency_wait: config::idempotency_wait(timeout),
            dial_unknown_deadline: env.span(
                config::DIAL_UNKNOWN_DEADLINE,
                config::DEFAULT_DIAL_UNKNOWN_DEADLINE,
            )?,
            call_stale_after: env
                .span(config::CALL_STALE_AFTER, config::DEFAULT_CALL_STALE_AFTER)?,
            rate_limit_per_minute: config::per_minute(
                env,
                config::API_RATE_LIMIT_PER_MINUTE,
                domain::rate_limit::DEFAULT_API_PER_MINUTE,
            )?,
        })
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
];

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
