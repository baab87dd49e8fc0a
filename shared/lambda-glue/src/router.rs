//! The one routing style of the API functions: each function declares its routes once, as a
//! table next to its handlers (a method, a path pattern whose `{segments}` are parameters, and
//! a handler), in the manner of svix-server's `router()` functions. The same table serves the
//! function's requests, the local gateway (`make run`) and the template drift test, so a route
//! string is written in exactly one place.
//!
//! Unknown paths are 404 `not_found`; a known path with another method is 405 with an `Allow`
//! header. Both are decided before anything else runs (no caller lookup, no body parsing).

use crate::http::{error_response, respond};
use domain::ApiError;
use domain::ErrorCode;
use http::Method;
use lambda_http::{Body, Request, Response};
use std::future::Future;
use std::pin::Pin;

/// What a route handler returns: the response, or the one error type rendered in one place.
pub type RouteFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Response<Body>, ApiError>> + Send + 'a>>;

/// One route: `H` is the function's handler type (a `fn` taking that function's context).
#[derive(Clone)]
pub struct Route<H> {
    pub method: Method,
    pub pattern: &'static str,
    pub handler: H,
}

impl<H> Route<H> {
    /// `"POST /api/trigger-call"`: how `template.yaml` names the route.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.pattern)
    }
}

/// `route!(GET "/path/{param}" => module::handler)`: one line per route. The handler is an
/// `async fn(Ctx<'_>) -> Result<Response<Body>, ApiError>` of the function's own context type.
#[macro_export]
macro_rules! route {
    ($method:ident $pattern:expr => $handler:path) => {
        $crate::router::Route {
            method: ::http::Method::$method,
            pattern: $pattern,
            handler: |c| ::std::boxed::Box::pin($handler(c)),
        }
    };
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

/// What a table says about a method and path.
pub enum Resolution<'r, H> {
    Found(&'r Route<H>, Params),
    /// The path exists with these other methods.
    WrongMethod(Vec<Method>),
    NotFound,
}

/// Looks `method path` up in `routes` (a trailing slash is ignored).
pub fn resolve<'r, H>(routes: &'r [Route<H>], method: &Method, path: &str) -> Resolution<'r, H> {
    let path = match path.trim_end_matches('/') {
        "" => "/",
        p => p,
    };
    let mut allowed = Vec::new();
    for route in routes {
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

/// Serves one request from a route table: 404/405 when nothing matches, otherwise `run` with
/// the matched handler and the path parameters, rendered by [`respond`].
pub async fn dispatch<'a, H>(
    routes: &'a [Route<H>],
    req: &'a Request,
    run: impl FnOnce(&'a H, Params) -> RouteFuture<'a>,
) -> Response<Body> {
    match resolve(routes, req.method(), req.uri().path()) {
        Resolution::NotFound => error_response(&ApiError::not_found(
            ErrorCode::NotFound,
            None,
            "no such route",
        )),
        Resolution::WrongMethod(allowed) => {
            let mut res = error_response(&ApiError::MethodNotAllowed);
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
        Resolution::Found(route, params) => respond(run(&route.handler, params).await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &[Route<u8>] = &[
        Route {
            method: Method::GET,
            pattern: "/things",
            handler: 1,
        },
        Route {
            method: Method::PATCH,
            pattern: "/things",
            handler: 2,
        },
        Route {
            method: Method::POST,
            pattern: "/things/{id}/go",
            handler: 3,
        },
    ];

    fn found(method: Method, path: &str) -> Option<(u8, Params)> {
        match resolve(ROUTES, &method, path) {
            Resolution::Found(r, p) => Some((r.handler, p)),
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
        assert_eq!(found(Method::GET, "/things/").map(|f| f.0), Some(1));
        assert_eq!(found(Method::PATCH, "/things").map(|f| f.0), Some(2));
        let (h, p) = found(Method::POST, "/things/7/go").unwrap();
        assert_eq!((h, p.get("id")), (3, Some("7")));
        match resolve(ROUTES, &Method::DELETE, "/things") {
            Resolution::WrongMethod(m) => assert_eq!(m, vec![Method::GET, Method::PATCH]),
            _ => panic!("expected 405"),
        }
        assert!(matches!(
            resolve(ROUTES, &Method::GET, "/"),
            Resolution::NotFound
        ));
        assert!(matches!(
            resolve(ROUTES, &Method::GET, "/things/7"),
            Resolution::NotFound
        ));
        assert_eq!(ROUTES[2].key(), "POST /things/{id}/go");
    }
}
