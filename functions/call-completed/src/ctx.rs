//! What a route handler gets (`Ctx`) and the handler's type: below both the callback handler
//! and `crate::router`, which serves it.

use crate::deps::Deps;
use lambda_glue::router::{Params, RouteFuture};
use lambda_http::Request;

/// What a route handler gets: the request, the dependencies and the path parameters.
pub struct Ctx<'a> {
    pub req: &'a Request,
    pub deps: &'a Deps,
    pub params: Params,
}

pub type Handler = for<'a> fn(Ctx<'a>) -> RouteFuture<'a>;
