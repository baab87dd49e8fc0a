//! `POST /api/trigger-call` and `GET /api/calls/{call_id}`: a thin router over the shared core.
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
use domain::ApiError;
use lambda_http::{Body, Request, Response};
use std::sync::Arc;
use std::time::Duration;

/// The HTTP API routes this function serves, as `template.yaml` declares them (the template
/// drift test compares the two).
pub const ROUTES: &[&str] = &["POST /api/trigger-call", "GET /api/calls/{call_id}"];

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

pub async fn handle(req: Request, deps: &Deps) -> Response<Body> {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let method = req.method().clone();
    let result = match path.as_str() {
        "/api/trigger-call" => match method {
            http::Method::POST => trigger::trigger_call(&req, deps).await,
            _ => Err(ApiError::MethodNotAllowed),
        },
        p if p.starts_with("/api/calls/") => match method {
            http::Method::GET => calls::get_call(&req, &p["/api/calls/".len()..], deps).await,
            _ => Err(ApiError::MethodNotAllowed),
        },
        _ => Err(ApiError::not_found("not_found", None, "no such route")),
    };
    lambda_glue::http::respond(result)
}
