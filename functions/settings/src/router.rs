//! The one routing table of the settings API. A route is a method, a path pattern (segments in
//! braces are parameters) and a handler; adding a route is adding one line to [`ROUTES`].
//!
//! Unknown paths are 404 `not_found`, a known path with another method is 405 with an `Allow`
//! header. Both are decided before the caller is identified; every matched route then runs
//! for the caller's account only (see `caller`).

use crate::{agents, api_key, caller, deliveries, integration, redeliver, webhook_test, Deps};
use domain::model::Account;
use domain::ApiError;
use futures::future::BoxFuture;
use http::Method;
use lambda_http::{Body, Request, Response};

/// What a route handler gets: the request, the dependencies, the caller's account (already
/// checked: it exists and its plan includes the integration) and the path parameters.
pub struct Ctx<'a> {
    pub req: &'a Request,
    pub deps: &'a Deps,
    pub account: Account,
    pub params: Params,
}

/// Path parameters by name, in pattern order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub type Handler = for<'a> fn(Ctx<'a>) -> BoxFuture<'a, Result<Response<Body>, ApiError>>;

pub struct Route {
    pub method: Method,
    pub pattern: &'static str,
    pub handler: Handler,
}

const INTEGRATION: &str = "/api/integrations/api-webhooks";

/// `route!(GET "/path/{param}" => module::handler)`: one line per route.
macro_rules! route {
    ($method:ident $pattern:expr => $handler:path) => {
        Route {
            method: Method::$method,
            pattern: $pattern,
            handler: |c| Box::pin($handler(c)),
        }
    };
}

/// Every route of the function.
pub static ROUTES: &[Route] = &[
    route!(GET INTEGRATION => integration::get),
    route!(PATCH INTEGRATION => integration::patch),
    route!(POST "/api/integrations/api-webhooks/api-key" => api_key::rotate),
    route!(GET "/api/integrations/api-webhooks/deliveries" => deliveries::list),
    route!(GET "/api/agents" => agents::list),
    route!(POST "/api/integrations/api-webhooks/test" => webhook_test::send),
    route!(POST "/api/integrations/api-webhooks/deliveries/{event_id}/redeliver" => redeliver::redeliver),
];

/// Matches `path` against a pattern; `Some(params)` on a match.
pub fn match_pattern(pattern: &'static str, path: &str) -> Option<Params> {
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    let mut params = Vec::new();
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(Params(params)),
            (Some(w), Some(g)) => {
                if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                    if g.is_empty() {
                        return None;
                    }
                    params.push((name, g.to_string()));
                } else if w != g {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// What the table says about a method and path.
pub enum Resolution {
    Found(&'static Route, Params),
    /// The path exists with these other methods.
    WrongMethod(Vec<Method>),
    NotFound,
}

pub fn resolve(method: &Method, path: &str) -> Resolution {
    let path = match path.trim_end_matches('/') {
        "" => "/",
        p => p,
    };
    let mut allowed = Vec::new();
    for route in ROUTES {
        if let Some(params) = match_pattern(route.pattern, path) {
            if route.method == method {
                return Resolution::Found(route, params);
            }
            allowed.push(route.method.clone());
        }
    }
    if allowed.is_empty() {
        Resolution::NotFound
    } else {
        Resolution::WrongMethod(allowed)
    }
}

pub async fn dispatch(req: &Request, deps: &Deps) -> Response<Body> {
    match resolve(req.method(), req.uri().path()) {
        Resolution::NotFound => lambda_glue::http::error_response(&ApiError::not_found(
            "not_found",
            None,
            "no such route",
        )),
        Resolution::WrongMethod(allowed) => {
            let mut res = lambda_glue::http::error_response(&ApiError::MethodNotAllowed);
            let allow = allowed
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            if let Ok(v) = http::HeaderValue::from_str(&allow) {
                res.headers_mut().insert(http::header::ALLOW, v);
            }
            res
        }
        Resolution::Found(route, params) => {
            let result = match caller::account(req, deps).await {
                Ok(account) => {
                    (route.handler)(Ctx {
                        req,
                        deps,
                        account,
                        params,
                    })
                    .await
                }
                Err(e) => Err(e),
            };
            lambda_glue::http::respond(result)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(method: Method, path: &str) -> Option<(&'static str, Params)> {
        match resolve(&method, path) {
            Resolution::Found(r, p) => Some((r.pattern, p)),
            _ => None,
        }
    }

    #[test]
    fn patterns_bind_parameters() {
        let p = match_pattern("/a/{id}/b", "/a/42/b").unwrap();
        assert_eq!(p.get("id"), Some("42"));
        assert!(match_pattern("/a/{id}/b", "/a//b").is_none());
        assert!(match_pattern("/a/{id}/b", "/a/42").is_none());
        assert!(match_pattern("/a/{id}", "/a/42/b").is_none());
        assert!(match_pattern("/a", "/a").unwrap().get("id").is_none());
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
        match resolve(&Method::DELETE, INTEGRATION) {
            Resolution::WrongMethod(m) => assert_eq!(m, vec![Method::GET, Method::PATCH]),
            _ => panic!("expected 405"),
        }
        assert!(matches!(
            resolve(&Method::GET, "/api/integrations"),
            Resolution::NotFound
        ));
        assert!(matches!(resolve(&Method::GET, "/"), Resolution::NotFound));
        assert!(matches!(
            resolve(&Method::GET, "/api/agents/x"),
            Resolution::NotFound
        ));
    }
}
