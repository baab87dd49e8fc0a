//! The function's routes and the one entry point that serves them (`handle`).

use crate::ctx::{Ctx, Handler};
use crate::deps::Deps;
use crate::{calling_rules, calls, trigger};
use lambda_glue::route;
use lambda_glue::router::{self, Route};
use lambda_http::{Body, Request, Response};
use std::sync::OnceLock;

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

/// Routes and runs the request; every answer after the caller was counted carries the
/// `RateLimit-*` headers of what was counted: the API key's, or for `DASHBOARD_ROUTES` the
/// account's settings limit (a 429 `rate_limited` carries its own and `Retry-After`).
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
