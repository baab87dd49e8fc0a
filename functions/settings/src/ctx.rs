//! What every settings route handler gets (`Ctx`) and the handler's type: below both the
//! handler modules, which declare their routes with it (`router()` in each), and
//! `crate::router`, which serves them. So the router names its handlers and no handler names
//! the router.

use crate::Deps;
use domain::model::Account;
use lambda_glue::router::{Params, RouteFuture};
use lambda_http::Request;

/// What a route handler gets: the request, the dependencies, the caller's account (already
/// checked: it exists and its plan includes the integration) and the path parameters.
pub struct Ctx<'a> {
    pub req: &'a Request,
    pub deps: &'a Deps,
    pub account: Account,
    pub params: Params,
}

pub type Handler = for<'a> fn(Ctx<'a>) -> RouteFuture<'a>;
