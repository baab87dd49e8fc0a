//! The function's route and the one entry point that serves it (`handle`).

use crate::callback;
use crate::ctx::{Ctx, Handler};
use crate::deps::Deps;
use lambda_glue::route;
use lambda_glue::router::{self, Route};
use lambda_http::{Body, Request, Response};

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
