//! Placing calls and reading their status (routes in [`ROUTES`]): a thin layer over the domain.
//!
//! `handle` takes every dependency explicitly, so the Lambda entry point, the local stack and
//! the tests run exactly the same code.

pub mod calls;
pub mod idempotency;
pub mod request;
pub mod trigger;

use domain::clock::Clock;
use domain::ports::provider::VoiceProvider;
use domain::ports::store::Store;
use lambda_glue::route;
use lambda_glue::router::{self, Params, Route, RouteFuture};
use lambda_http::{Body, Request, Response};
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
}

impl Deps {
    /// Default wait: longer than the provider timeout, so a concurrent duplicate normally gets
    /// the first request's answer.
    pub fn default_idempotency_wait(provider_timeout: Duration) -> Duration {
        provider_timeout + Duration::from_secs(2)
    }
}

/// What a route handler gets: the request, the dependencies and the path parameters.
pub struct Ctx<'a> {
    pub req: &'a Request,
    pub deps: &'a Deps,
    pub params: Params,
}

pub type Handler = for<'a> fn(Ctx<'a>) -> RouteFuture<'a>;

/// Every route of the function, as `template.yaml` declares them (the drift test compares).
pub static ROUTES: &[Route<Handler>] = &[
    route!(POST "/api/trigger-call" => trigger::trigger_call),
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
