//! The settings API's routes: each handler module declares its own (`router()`, as svix's
//! endpoint modules do) and [`ROUTES`] serves them all; adding a route is one line in its
//! module. The table also feeds the local gateway and the template drift test. Handlers get a
//! `crate::ctx::Ctx`, so they never name this module.
//!
//! Unknown paths are 404 `not_found`, a known path with another method is 405 with an `Allow`
//! header. Both are decided before the caller is identified; every matched route then runs
//! for the caller's account only (see `lambda_glue::dashboard`).

pub use crate::ctx::{Ctx, Handler};
pub use crate::integration::INTEGRATION;
use crate::{
    agents, api_key, calls, deliveries, health, integration, redeliver, resend_dropped,
    signing_secret, suppressions, test_send, Deps,
};
use domain::rate_limit::Scope;
use lambda_glue::dashboard;
use lambda_glue::router::{self, Route};
use lambda_http::{Body, Request, Response};
use std::sync::{LazyLock, OnceLock};

/// Every route of the function: each handler module's `router()`, in this order.
pub static ROUTES: LazyLock<Vec<Route<Handler>>> = LazyLock::new(|| {
    [
        integration::router(),
        api_key::router(),
        signing_secret::router(),
        deliveries::router(),
        health::router(),
        calls::router(),
        agents::router(),
        test_send::router(),
        redeliver::router(),
        resend_dropped::router(),
        suppressions::router(),
    ]
    .concat()
});

/// The routes that do slow or fan-out work (a POST to the customer's endpoint that may take
/// its whole timeout, a message per event): limited per account on top of the settings limit.
pub const COSTLY: &[&str] = &[
    "/api/integrations/api-webhooks/test",
    "/api/integrations/api-webhooks/deliveries/{event_id}/redeliver",
    "/api/integrations/api-webhooks/deliveries/recover",
];

fn is_costly(req: &Request) -> bool {
    req.method() == http::Method::POST
        && COSTLY
            .iter()
            .any(|p| router::match_pattern(p, req.uri().path().trim_end_matches('/')).is_some())
}

/// The account's per-minute limits this request counts against: the settings limit, and a
/// costly route's own on top (the answer shows the tighter of the two).
fn limits(req: &Request, deps: &Deps) -> Vec<(Scope, u32)> {
    let mut limits = vec![(Scope::Settings, deps.settings_rate_limit)];
    if is_costly(req) {
        limits.push((Scope::Costly, deps.costly_rate_limit));
    }
    limits
}

/// Routes the request, identifies the caller, counts it against the account's limits, runs
/// the route, renders the result (with the `RateLimit-*` headers once counted).
pub async fn dispatch(req: &Request, deps: &Deps) -> Response<Body> {
    let rate = OnceLock::new();
    let rate_ref = &rate;
    let mut res = router::dispatch(&ROUTES, req, |handler, params| {
        Box::pin(async move {
            let dashboard::Caller { account, rate } = dashboard::caller(
                req,
                deps.store.as_ref(),
                &deps.account_claim,
                deps.clock.now(),
                &limits(req, deps),
            )
            .await?;
            let _ = rate_ref.set(rate);
            // A suspended account sees its settings (the GET shows the suspension) and
            // nothing else.
            let reading = req.method() == http::Method::GET
                && req.uri().path().trim_end_matches('/') == INTEGRATION;
            if !reading {
                dashboard::refuse_suspended(&account)?;
            }
            handler(Ctx {
                req,
                deps,
                account,
                params,
            })
            .await
        })
    })
    .await;
    if let Some(status) = rate.get() {
        lambda_glue::http::with_rate_limit(&mut res, status);
    }
    res
}

/// Serves one request: route, identify the caller, run the route, render the result.
pub async fn handle(req: Request, deps: &Deps) -> Response<Body> {
    dispatch(&req, deps).await
}

#[cfg(test)]
mod tests {
    use super::*;

    use http::Method;
    use lambda_glue::router::{resolve, Params, Resolution};

    fn found(method: Method, path: &str) -> Option<(&'static str, Params)> {
        match resolve(&ROUTES, &method, path) {
            Resolution::Found(r, p) => Some((r.pattern, p)),
            _ => None,
        }
    }

    #[test]
    fn resolves_routes_methods_and_trailing_slashes() {
        assert_eq!(
            found(Method::GET, "/api/integrations/api-webhooks/").map(|f| f.0),
            Some(INTEGRATION)
        );
        assert!(found(Method::PATCH, INTEGRATION).is_some());
        assert!(found(Method::GET, "/api/agents").is_some());
        assert!(found(Method::POST, "/api/integrations/api-webhooks/api-key").is_some());
        match resolve(&ROUTES, &Method::DELETE, INTEGRATION) {
            Resolution::WrongMethod(m) => assert_eq!(m, vec![Method::GET, Method::PATCH]),
            _ => panic!("expected 405"),
        }
        assert!(matches!(
            resolve(&ROUTES, &Method::GET, "/api/integrations"),
            Resolution::NotFound
        ));
        assert!(matches!(
            resolve(&ROUTES, &Method::GET, "/"),
            Resolution::NotFound
        ));
        assert!(matches!(
            resolve(&ROUTES, &Method::GET, "/api/agents/x"),
            Resolution::NotFound
        ));
    }
}
