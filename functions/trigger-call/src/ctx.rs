//! What every route handler gets (`Ctx`), the handler's type and the API-key check: below both
//! the handler modules and `crate::router`, which serves them, so the router names its
//! handlers and no handler names the router.

use crate::deps::Deps;
use domain::model::KeyGrant;
use domain::rate_limit::RateStatus;
use domain::ApiError;
use lambda_glue::router::{Params, RouteFuture};
use lambda_http::Request;
use std::sync::OnceLock;

/// What a route handler gets: the request, the dependencies, the path parameters and where
/// the handler leaves the rate-limit status for the answer's headers: the key's
/// ([`authenticate`]), or the dashboard account's settings limit (`crate::calling_rules`).
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
