//! `POST /hooks/voice-provider`: the voice provider's call callbacks -> the call record -> one
//! `call.completed` event on the events queue.
//!
//! `handle` takes every dependency explicitly, so the Lambda entry point, the local stack and
//! the tests run exactly the same code.

pub mod callback;
pub mod complete;
pub mod resolve;

use domain::clock::Clock;
use domain::ports::queue::EventQueue;
use domain::ports::secrets::ProviderSecret;
use domain::ports::store::Store;
use domain::ApiError;
use lambda_http::{Body, Request, Response};
use std::sync::Arc;

/// The route the provider's webhook URL points at.
pub const ROUTE: &str = "/hooks/voice-provider";

/// What the function needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn EventQueue>,
    /// The provider's API key signs its callbacks (`x-retell-signature`).
    pub provider_secret: ProviderSecret,
    pub clock: Arc<dyn Clock>,
}

pub async fn handle(req: Request, deps: &Deps) -> Response<Body> {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let result = match path.as_str() {
        ROUTE => match *req.method() {
            http::Method::POST => callback::provider_callback(&req, deps).await,
            _ => Err(ApiError::MethodNotAllowed),
        },
        _ => Err(ApiError::not_found("not_found", None, "no such route")),
    };
    lambda_glue::http::respond(result)
}
