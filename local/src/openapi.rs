//! `GET /openapi.yaml` on the local API: the contract of both APIs (docs/openapi.yaml), built
//! into the binary so the document served is the one the code was built with. Tools such as
//! schemathesis or a client generator can read it from the running stack. LOCAL ONLY: the
//! deployed HTTP API has no such route (the document ships with the repository).

use crate::gateway::{handler, Route, RouteError};
use lambda_http::{Body, Response};

/// The route's path.
pub const PATH: &str = "/openapi.yaml";
/// The document, as it is in the repository.
pub const DOCUMENT: &str = include_str!("../../docs/openapi.yaml");
/// Its media type.
pub const CONTENT_TYPE: &str = "application/yaml";

/// The gateway route serving [`DOCUMENT`].
pub fn route() -> Result<Route, RouteError> {
    Route::new(
        "GET",
        PATH,
        handler(|_req| async {
            let mut res = Response::new(Body::Text(DOCUMENT.to_string()));
            res.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(CONTENT_TYPE),
            );
            res
        }),
    )
}
