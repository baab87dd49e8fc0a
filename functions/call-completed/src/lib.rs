//! `POST /hooks/voice-provider`: the voice provider's call callbacks -> the call record -> one
//! `call.completed` event on the events queue.
//!
//! `handle` takes every dependency explicitly, so the Lambda entry point, the local stack and
//! the tests run exactly the same code.

pub mod answer;
pub mod callback;
pub mod caused_events;
pub mod complete;
pub mod metrics;
pub mod progress;
pub mod resolve;

use aws_adapters::{DynamoStore, SecretsManager, SqsQueue};
use aws_config::SdkConfig;
use domain::clock::{Clock, SystemClock};
use domain::config::{self, Env};
use domain::error::StartupError;
use domain::ports::queue::EventQueue;
use domain::ports::secrets::ProviderSecret;
use domain::ports::store::Store;
use lambda_glue::route;
use lambda_glue::router::{self, Params, Route, RouteFuture};
use lambda_http::{Body, Request, Response};
use std::sync::Arc;

/// What the function needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn EventQueue>,
    /// The provider's API key signs its callbacks (`x-retell-signature`).
    pub provider_secret: ProviderSecret,
    pub clock: Arc<dyn Clock>,
    /// How long an ended call waits for `call_analyzed` (`CALL_ANALYSIS_GRACE`).
    pub analysis_grace: chrono::Duration,
    /// How long a `dialing` or `in_progress` call may go without `call_ended` before the
    /// reconciler finishes it (`CALL_STALE_AFTER`).
    pub call_stale_after: chrono::Duration,
}

impl Deps {
    /// The composition root: the real adapters, built once per cold start from the SDK
    /// configuration and the environment (`main.rs`, the local stack and the bench).
    pub async fn from_env(sdk: &SdkConfig, env: &Env) -> Result<Deps, StartupError> {
        let provider_secret = ProviderSecret::load(
            &SecretsManager::from_sdk(sdk),
            &env.required(config::PROVIDER_SECRET_NAME)?,
        )
        .await?;
        Ok(Deps {
            store: Arc::new(DynamoStore::from_sdk(
                sdk,
                env.required(config::TABLE_NAME)?,
            )),
            queue: Arc::new(SqsQueue::from_sdk(
                sdk,
                env.required(config::EVENTS_QUEUE_URL)?,
            )),
            provider_secret,
            clock: Arc::new(SystemClock),
            analysis_grace: env.span(
                config::CALL_ANALYSIS_GRACE,
                config::DEFAULT_CALL_ANALYSIS_GRACE,
            )?,
            call_stale_after: env
                .span(config::CALL_STALE_AFTER, config::DEFAULT_CALL_STALE_AFTER)?,
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

/// The provider's webhook URL points at this route (see docs/voice-provider.md).
pub const PROVIDER_CALLBACK: &str = "/hooks/voice-provider";

/// Every route of the function, as `template.yaml` declares them (the drift test compares).
pub static ROUTES: &[Route<Handler>] =
    &[route!(POST PROVIDER_CALLBACK => callback::provider_callback)];

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
