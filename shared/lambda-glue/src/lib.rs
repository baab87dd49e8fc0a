//! Lambda HTTP glue shared by the API functions: reading requests and rendering `ApiError`
//! (`http`), request bodies as types (`body`), the route tables (`router`), the dashboard
//! session's caller and its per-account limits (`dashboard`), JSON logs (`telemetry`), EMF
//! metric lines (`metrics`) and the serving loop every API function's `main` ends with
//! ([`serve`]).

pub mod body;
pub mod calls;
pub mod dashboard;
pub mod http;
pub mod metrics;
pub mod router;
pub mod telemetry;

use lambda_http::{Body, Request, Response};
use std::future::Future;

/// What every API function's `main` does once its dependencies are built: serve API Gateway
/// events with `handle` until the runtime stops. The dependencies live as long as the process
/// (one per cold start), so they are leaked on purpose rather than reference-counted.
pub async fn serve<D, Fut>(
    deps: D,
    handle: fn(Request, &'static D) -> Fut,
) -> Result<(), lambda_http::Error>
where
    D: Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let deps: &'static D = Box::leak(Box::new(deps));
    lambda_http::run(lambda_http::service_fn(move |req| {
        let response = handle(req, deps);
        async move { Ok::<_, std::convert::Infallible>(response.await) }
    }))
    .await
}
