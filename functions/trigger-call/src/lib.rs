//! Placing calls and reading their status (routes in [`ROUTES`]): a thin layer over the domain.
//!
//! `handle` takes every dependency explicitly, so the Lambda entry point, the local stack and
//! the tests run exactly the same code.

pub mod calls;
pub mod idempotency;
pub mod request;
pub mod trigger;

use aws_adapters::{DynamoStore, SecretsManager};
use aws_config::SdkConfig;
use domain::clock::{Clock, SystemClock};
use domain::config::{self, Env};
use domain::error::StartupError;
use domain::ports::provider::VoiceProvider;
use domain::ports::secrets::ProviderSecret;
use domain::ports::store::Store;
use lambda_glue::route;
use lambda_glue::router::{self, Params, Route, RouteFuture};
use lambda_http::{Body, Request, Response};
use outbound::RetellClient;
use std::sync::Arc;
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
}

impl Deps {
    /// The composition root: the real adapters, built once per cold start from the SDK
    /// configuration and the environment (`main.rs`, the local stack and the bench).
    pub async fn from_env(sdk: &SdkConfig, env: &Env) -> Result<Deps, StartupError> {
        let timeout = env.millis(
            config::PROVIDER_TIMEOUT_MS,
            config::DEFAULT_PROVIDER_TIMEOUT,
        )?;
        let secret = ProviderSecret::load(
            &SecretsManager::from_sdk(sdk),
            &env.required(config::PROVIDER_SECRET_NAME)?,
        )
        .await?;
        let provider = RetellClient::new(
            &env.required(config::PROVIDER_BASE_URL)?,
            secret.api_key,
            timeout,
        )
        .map_err(|e| StartupError::Client {
            what: "voice provider",
            reason: e.to_string(),
        })?;
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
        })
    }
}

/// What a route handler gets: the request, the dependencies and the path parameters.
pub struct Ctx<'a> {
    pub req: &'a Request,
    pub deps: &'a Deps,
    pub params: Params,
}

pub type Handler = for<'a> fn(Ctx<'a>) -> RouteFuture<'a>;

/// The customers' entry point (also printed by `make run`'s banner).
pub const TRIGGER_CALL: &str = "/api/trigger-call";

/// Every route of the function, as `template.yaml` declares them (the drift test compares).
pub static ROUTES: &[Route<Handler>] = &[
    route!(POST TRIGGER_CALL => trigger::trigger_call),
    route!(GET "/api/calls/{call_id}" => calls::get_call),
];

pub async fn handle(req: Request, deps: &Deps) -> Response<Body> {
    router::dispatch(ROUTES, &req, |handler, params| {
        handler(Ctx {
            req: &req,
            deps,
            params,
        })
    })
    .await
}
