//! A local stand-in for API Gateway (HTTP API, payload format 2.0).
//!
//! Each HTTP request becomes the JSON event API Gateway would send to Lambda (built by the one
//! builder, [`crate::apigw::ApiRequest`]), which is then parsed by
//! `lambda_http::request::from_str`: the handler sees exactly what it sees in AWS
//! (route key, path parameters, cookies moved out of the headers, comma-joined repeated
//! headers, base64 bodies, authorizer claims). Unmatched routes get API Gateway's
//! `404 {"message":"Not Found"}`, a panicking handler its `500 {"message":"Internal Server
//! Error"}` and a handler slower than the integration timeout its `503`.
//!
//! LOCAL-ONLY SHORTCUT: routes flagged `inject_claims` get JWT authorizer claims (the demo
//! account) injected into `requestContext.authorizer.jwt.claims` without any token. In AWS a
//! real JWT authorizer verifies a token and fills these claims; nothing like this exists there.

use crate::apigw::{ApiRequest, Context};
use crate::server::{bytes_reply, json_reply, Incoming, Listener, Reply, Server};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Map, Value};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A Lambda HTTP handler as the gateway calls it: `trigger_call::handle(req, &deps)` and kin.
pub type HttpHandler = Arc<dyn Fn(Request) -> BoxFuture<'static, Response<Body>> + Send + Sync>;

/// Wraps an async closure as an [`HttpHandler`].
pub fn handler<F, Fut>(f: F) -> HttpHandler
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    Arc::new(move |req| Box::pin(f(req)))
}

/// API Gateway's payload limit for HTTP APIs.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// API Gateway's maximum integration timeout for HTTP APIs.
pub const DEFAULT_INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("invalid route method {0:?}")]
    Method(String),
    #[error("invalid route path {0:?}: {1}")]
    Path(String, &'static str),
    #[error("duplicate route {0:?}")]
    Duplicate(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    /// `{name+}`: one or more remaining segments.
    Greedy(String),
}

impl Segment {
    /// Lower is more specific (API Gateway prefers literal paths, then variables, then greedy).
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 0,
            Segment::Param(_) => 1,
            Segment::Greedy(_) => 2,
        }
    }
}

/// One row of the route table: `METHOD /path/{param}` and its handler.
pub struct Route {
    /// `None` is `ANY`.
    method: Option<http::Method>,
    template: String,
    segments: Vec<Segment>,
    inject_claims: bool,
    handler: HttpHandler,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("route_key", &self.route_key())
            .field("inject_claims", &self.inject_claims)
            .finish()
    }
}

impl Route {
    /// `method` is an HTTP method or `ANY`; `template` like `/api/calls/{call_id}` or
    /// `/files/{proxy+}` (greedy, last segment only).
    pub fn new(method: &str, template: &str, handler: HttpHandler) -> Result<Route, RouteError> {
        let method = match method {
            "ANY" => None,
            m => Some(
                http::Method::from_bytes(m.as_bytes())
                    .ok()
                    .filter(|m| m.as_str().chars().all(|c| c.is_ascii_uppercase()))
                    .ok_or_else(|| RouteError::Method(m.to_string()))?,
            ),
        };
        let bad = |why| RouteError::Path(template.to_string(), why);
        let rest = template
            .strip_prefix('/')
            .ok_or_else(|| bad("must start with /"))?;
        let mut segments = Vec::new();
        if !rest.is_empty() {
            let parts: Vec<&str> = rest.split('/').collect();
            for (i, part) in parts.iter().enumerate() {
                let seg = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) => match name.strip_suffix('+') {
                        Some(g) if i + 1 == parts.len() && !g.is_empty() => {
                            Segment::Greedy(g.to_string())
                        }
                        Some(_) => return Err(bad("a greedy {name+} must be the last segment")),
                        None if !name.is_empty() => Segment::Param(name.to_string()),
                        None => return Err(bad("empty {} variable")),
                    },
                    None if part.is_empty() => return Err(bad("empty segment")),
                    None if part.contains(['{', '}']) => {
                        return Err(bad("a variable must be a whole segment"))
                    }
                    None => Segment::Literal(part.to_string()),
                };
                segments.push(seg);
            }
        }
        Ok(Route {
            method,
            template: template.to_string(),
            segments,
            inject_claims: false,
            handler,
        })
    }

    /// LOCAL-ONLY: this route gets the gateway's local JWT claims (see the module docs).
    pub fn with_injected_claims(mut self) -> Route {
        self.inject_claims = true;
        self
    }

    /// `POST /api/trigger-call`, as API Gateway writes `routeKey`.
    pub fn route_key(&self) -> String {
        let m = self.method.as_ref().map(|m| m.as_str()).unwrap_or("ANY");
        format!("{m} {}", self.template)
    }

    /// The path parameters if `path` matches (values percent-decoded, as API Gateway does).
    fn match_path(&self, path: &str) -> Option<Vec<(String, String)>> {
        let rest = path.strip_prefix('/')?;
        let parts: Vec<&str> = if rest.is_empty() {
            vec![]
        } else {
            rest.split('/').collect()
        };
        let mut params = Vec::new();
        let mut i = 0;
        for seg in &self.segments {
            match seg {
                Segment::Literal(l) => {
                    if parts.get(i) != Some(&l.as_str()) {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    let p = parts.get(i).filter(|p| !p.is_empty())?;
                    params.push((name.clone(), percent_decode(p)));
                }
                Segment::Greedy(name) => {
                    let remaining = &parts[i.min(parts.len())..];
                    if remaining.is_empty() || remaining.iter().all(|p| p.is_empty()) {
                        return None;
                    }
                    params.push((name.clone(), percent_decode(&remaining.join("/"))));
                    return Some(params);
                }
            }
            i += 1;
        }
        (i == parts.len()).then_some(params)
    }
}

/// What the gateway adds to every event.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// LOCAL-ONLY: the claims injected on `inject_claims` routes, e.g.
    /// `{"custom:account_id": "acct_demo"}`.
    pub local_claims: Map<String, Value>,
    pub integration_timeout: Duration,
    pub max_body: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            local_claims: Map::new(),
            integration_timeout: DEFAULT_INTEGRATION_TIMEOUT,
            max_body: MAX_BODY_BYTES,
        }
    }
}

/// The route table and the conversion both ways.
pub struct Gateway {
    routes: Vec<Route>,
    config: GatewayConfig,
}

impl Gateway {
    pub fn new(routes: Vec<Route>, config: GatewayConfig) -> Result<Gateway, RouteError> {
        let mut keys = std::collections::HashSet::new();
        for r in &routes {
            if !keys.insert(r.route_key()) {
                return Err(RouteError::Duplicate(r.route_key()));
            }
        }
        Ok(Gateway { routes, config })
    }

    pub fn route_keys(&self) -> Vec<String> {
        self.routes.iter().map(Route::route_key).collect()
    }

    /// The most specific route for the request: literal segments beat variables beat greedy
    /// variables (compared left to right), and an exact method beats `ANY`. A path that matches
    /// only with another method is not found (HTTP APIs have no 405).
    fn resolve(
        &self,
        method: &http::Method,
        path: &str,
    ) -> Option<(&Route, Vec<(String, String)>)> {
        self.routes
            .iter()
            .filter(|r| r.method.as_ref().is_none_or(|m| m == method))
            .filter_map(|r| r.match_path(path).map(|p| (r, p)))
            .min_by_key(|(r, _)| {
                (
                    r.segments.iter().map(Segment::rank).collect::<Vec<_>>(),
                    r.method.is_none(),
                )
            })
    }

    /// Starts serving on the bound listener.
    pub fn serve(self: Arc<Self>, listener: Listener) -> Server {
        let max_body = self.config.max_body;
        listener.serve(
            max_body,
            Arc::new(move |req| {
                let gw = self.clone();
                Box::pin(async move { gw.handle(req).await })
            }),
        )
    }

    /// One request: route, build the event, call the handler, convert the response, log.
    pub async fn handle(&self, req: Incoming) -> Reply {
        let started = Instant::now();
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut reply = self.dispatch(&req, &request_id).await;
        if let Ok(v) = http::HeaderValue::from_str(&request_id) {
            reply.headers_mut().insert("apigw-requestid", v);
        }
        // Method, path, status, time: never headers, query strings or bodies (they carry keys).
        tracing::info!(
            target: "gateway",
            "{} {} -> {} ({} ms)",
            req.method,
            req.path(),
            reply.status().as_u16(),
            started.elapsed().as_millis()
        );
        reply
    }

    async fn dispatch(&self, req: &Incoming, request_id: &str) -> Reply {
        let Some((route, params)) = self.resolve(&req.method, req.path()) else {
            return json_reply(404, &json!({"message": "Not Found"}));
        };
        let claims = route.inject_claims.then_some(&self.config.local_claims);
        let api = api_request(
            &route.route_key(),
            &params,
            claims,
            req,
            request_id,
            Utc::now(),
        );
        let lambda_req = match api.request() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(target: "gateway", "could not build the Lambda request: {e}");
                return internal_error();
            }
        };
        let fut = (route.handler)(lambda_req);
        // Spawned so a panic is caught like the Lambda runtime catches it.
        let task = tokio::spawn(fut);
        match tokio::time::timeout(self.config.integration_timeout, task).await {
            Ok(Ok(res)) => from_lambda_response(res),
            Ok(Err(e)) => {
                tracing::error!(target: "gateway", "handler of {} failed: {e}", route.route_key());
                internal_error()
            }
            Err(_) => {
                tracing::error!(
                    target: "gateway",
                    "handler of {} timed out after {:?}",
                    route.route_key(),
                    self.config.integration_timeout
                );
                json_reply(503, &json!({"message": "Service Unavailable"}))
            }
        }
    }
}

fn internal_error() -> Reply {
    json_reply(500, &json!({"message": "Internal Server Error"}))
}

/// The API Gateway HTTP API payload-v2 event for `req` matched to `route_key`.
pub fn build_event(
    route_key: &str,
    path_params: &[(String, String)],
    claims: Option<&Map<String, Value>>,
    req: &Incoming,
    request_id: &str,
    now: DateTime<Utc>,
) -> Value {
    api_request(route_key, path_params, claims, req, request_id, now).event()
}

/// `req` matched to `route_key`, as the one API Gateway request builder ([`ApiRequest`]).
pub fn api_request(
    route_key: &str,
    path_params: &[(String, String)],
    claims: Option<&Map<String, Value>>,
    req: &Incoming,
    request_id: &str,
    now: DateTime<Utc>,
) -> ApiRequest {
    let host = req.header("host").unwrap_or("localhost").to_string();
    let source_ip = req.peer.ip().to_string();
    let mut api = ApiRequest::new(req.method.as_str(), req.path())
        .route(route_key)
        .query(req.query())
        .context(
            Context {
                account_id: "000000000000".into(),
                api_id: "local".into(),
                domain_name: host,
                protocol: protocol(req.version).into(),
                source_ip: source_ip.clone(),
                user_agent: req.header("user-agent").unwrap_or("").into(),
                request_id: request_id.into(),
                ..Context::default()
            }
            .at(now),
        );
    for name in req.headers.keys() {
        let values: Vec<String> = req
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        if name == http::header::COOKIE {
            // Payload v2 moves cookies out of the headers into `cookies` (the builder does).
            for v in &values {
                api = api.header(name.as_str(), v);
            }
            continue;
        }
        api = api.header(name.as_str(), &values.join(","));
    }
    for (name, value) in [
        ("x-forwarded-for", source_ip),
        ("x-forwarded-port", req.peer.port().to_string()),
        ("x-forwarded-proto", "http".to_string()),
    ] {
        if !api.has_header(name) {
            api = api.header(name, &value);
        }
    }
    for (k, v) in path_params {
        api = api.path_param(k, v);
    }
    if let Some(claims) = claims {
        api = api.claims(Value::Object(claims.clone()));
    }
    api.raw_body(&req.body)
}

fn protocol(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    }
}

/// The handler's response as API Gateway returns it.
fn from_lambda_response(res: Response<Body>) -> Reply {
    let (parts, body) = res.into_parts();
    let bytes = match body {
        Body::Text(s) => Bytes::from(s),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    let mut reply = bytes_reply(parts.status.as_u16(), None, bytes);
    for (name, value) in parts.headers.iter() {
        reply.headers_mut().append(name, value.clone());
    }
    reply
}

/// Percent-decodes a path segment (invalid escapes are kept as they are).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(b) = s
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::RequestExt;

    fn ok_handler() -> HttpHandler {
        handler(|_req| async { Response::new(Body::Empty) })
    }

    fn gateway(routes: &[(&str, &str)]) -> Gateway {
        Gateway::new(
            routes
                .iter()
                .map(|(m, p)| Route::new(m, p, ok_handler()).expect("route"))
                .collect(),
            GatewayConfig::default(),
        )
        .expect("gateway")
    }

    fn resolved(gw: &Gateway, method: &str, path: &str) -> Option<(String, Vec<(String, String)>)> {
        let m = http::Method::from_bytes(method.as_bytes()).expect("method");
        gw.resolve(&m, path).map(|(r, p)| (r.route_key(), p))
    }

    fn incoming(method: &str, uri: &str, headers: &[(&str, &str)], body: &[u8]) -> Incoming {
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                http::HeaderValue::from_str(v).expect("value"),
            );
        }
        Incoming {
            method: http::Method::from_bytes(method.as_bytes()).expect("method"),
            uri: uri.parse().expect("uri"),
            version: http::Version::HTTP_11,
            headers: map,
            body: Bytes::copy_from_slice(body),
            peer: "127.0.0.1:5555".parse().expect("addr"),
        }
    }

    #[test]
    fn route_templates_are_validated() {
        assert!(Route::new("GET", "/a/{id}", ok_handler()).is_ok());
        assert!(Route::new("ANY", "/", ok_handler()).is_ok());
        assert!(Route::new("GET", "/a/{proxy+}", ok_handler()).is_ok());
        assert!(matches!(
            Route::new("GET", "a", ok_handler()),
            Err(RouteError::Path(..))
        ));
        assert!(Route::new("GET", "/a/{p+}/b", ok_handler()).is_err());
        assert!(Route::new("GET", "/a//b", ok_handler()).is_err());
        assert!(Route::new("GET", "/a/x{id}", ok_handler()).is_err());
        assert!(Route::new("GET", "/a/{}", ok_handler()).is_err());
        assert!(matches!(
            Route::new("get", "/a", ok_handler()),
            Err(RouteError::Method(_))
        ));
        let dup = Gateway::new(
            vec![
                Route::new("GET", "/a", ok_handler()).expect("route"),
                Route::new("GET", "/a", ok_handler()).expect("route"),
            ],
            GatewayConfig::default(),
        );
        assert!(matches!(dup, Err(RouteError::Duplicate(k)) if k == "GET /a"));
    }

    #[test]
    fn most_specific_route_wins() {
        let gw = gateway(&[
            ("GET", "/api/calls/{call_id}"),
            ("GET", "/api/calls/latest"),
            ("ANY", "/api/{proxy+}"),
            ("POST", "/api/trigger-call"),
            ("GET", "/"),
        ]);
        assert_eq!(
            resolved(&gw, "GET", "/api/calls/abc"),
            Some((
                "GET /api/calls/{call_id}".into(),
                vec![("call_id".into(), "abc".into())]
            ))
        );
        assert_eq!(
            resolved(&gw, "GET", "/api/calls/latest").map(|r| r.0),
            Some("GET /api/calls/latest".into())
        );
        assert_eq!(
            resolved(&gw, "POST", "/api/trigger-call").map(|r| r.0),
            Some("POST /api/trigger-call".into())
        );
        // Another method on a literal route falls through to the greedy ANY route.
        assert_eq!(
            resolved(&gw, "GET", "/api/trigger-call"),
            Some((
                "ANY /api/{proxy+}".into(),
                vec![("proxy".into(), "trigger-call".into())]
            ))
        );
        assert_eq!(
            resolved(&gw, "DELETE", "/api/a/b/c").map(|r| r.1),
            Some(vec![("proxy".into(), "a/b/c".into())])
        );
        assert_eq!(resolved(&gw, "GET", "/").map(|r| r.0), Some("GET /".into()));
        assert_eq!(resolved(&gw, "POST", "/"), None);
        assert_eq!(resolved(&gw, "GET", "/api"), None);
        assert_eq!(resolved(&gw, "GET", "/other"), None);
    }

    #[test]
    fn no_405_trailing_slash_and_decoding() {
        let gw = gateway(&[
            ("POST", "/api/trigger-call"),
            ("GET", "/api/calls/{call_id}"),
        ]);
        assert_eq!(resolved(&gw, "GET", "/api/trigger-call"), None);
        assert_eq!(resolved(&gw, "POST", "/api/trigger-call/"), None);
        assert_eq!(resolved(&gw, "GET", "/api/calls/"), None);
        assert_eq!(resolved(&gw, "GET", "/api/calls/a/b"), None);
        assert_eq!(
            resolved(&gw, "GET", "/api/calls/caf%C3%A9%20x").map(|r| r.1),
            Some(vec![("call_id".into(), "café x".into())])
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%+1"), "%+1");
    }

    #[test]
    fn event_has_the_payload_v2_shape() {
        let req = incoming(
            "POST",
            "/api/calls/c1?b=2&a=1&a=x%20y",
            &[
                ("Host", "127.0.0.1:3000"),
                ("User-Agent", "curl/8"),
                ("X-Multi", "one"),
                ("X-Multi", "two"),
                ("Cookie", "a=1; b=2"),
                ("Content-Type", "application/json"),
            ],
            br#"{"phone":"+15551234567"}"#,
        );
        let now = DateTime::parse_from_rfc3339("2025-06-15T14:30:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let ev = build_event(
            "POST /api/calls/{call_id}",
            &[("call_id".into(), "c1".into())],
            None,
            &req,
            "req-1",
            now,
        );
        assert_eq!(ev["version"], "2.0");
        assert_eq!(ev["routeKey"], "POST /api/calls/{call_id}");
        assert_eq!(ev["rawPath"], "/api/calls/c1");
        assert_eq!(ev["rawQueryString"], "b=2&a=1&a=x%20y");
        assert_eq!(ev["headers"]["x-multi"], "one,two");
        assert_eq!(ev["headers"]["user-agent"], "curl/8");
        assert!(ev["headers"].get("cookie").is_none());
        assert_eq!(ev["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(ev["queryStringParameters"], json!({"b": "2", "a": "1,x y"}));
        assert_eq!(ev["pathParameters"], json!({"call_id": "c1"}));
        let ctx = &ev["requestContext"];
        assert_eq!(
            ctx["http"],
            json!({"method": "POST", "path": "/api/calls/c1", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "curl/8"})
        );
        assert_eq!(ctx["requestId"], "req-1");
        assert_eq!(ctx["stage"], "$default");
        assert_eq!(ctx["time"], "15/Jun/2025:14:30:00 +0000");
        assert_eq!(ctx["timeEpoch"], 1_749_997_800_000i64);
        assert!(ctx.get("authorizer").is_none());
        assert_eq!(ev["body"], r#"{"phone":"+15551234567"}"#);
        assert_eq!(ev["isBase64Encoded"], false);

        // And lambda_http reads it as the handler will see it.
        let parsed = lambda_http::request::from_str(&ev.to_string()).expect("parses");
        assert_eq!(parsed.method(), http::Method::POST);
        assert_eq!(parsed.uri().path(), "/api/calls/c1");
        assert_eq!(parsed.path_parameters().first("call_id"), Some("c1"));
        assert_eq!(
            parsed.headers().get("cookie").and_then(|v| v.to_str().ok()),
            Some("a=1; b=2")
        );
        assert!(matches!(parsed.body(), Body::Text(t) if t.contains("+15551234567")));
    }

    #[test]
    fn binary_bodies_are_base64_and_claims_are_injected() {
        let req = incoming("PATCH", "/s", &[], &[0xff, 0x00, 0xfe]);
        let mut claims = Map::new();
        claims.insert("custom:account_id".into(), json!("acct_demo"));
        let ev = build_event("PATCH /s", &[], Some(&claims), &req, "r", Utc::now());
        assert_eq!(ev["isBase64Encoded"], true);
        assert_eq!(ev["body"], "/wD+");
        assert!(ev.get("queryStringParameters").is_none());
        assert!(ev.get("pathParameters").is_none());
        assert!(ev.get("cookies").is_none());
        assert_eq!(
            ev["requestContext"]["authorizer"]["jwt"]["claims"],
            json!({"custom:account_id": "acct_demo"})
        );
        let parsed = lambda_http::request::from_str(&ev.to_string()).expect("parses");
        assert!(matches!(parsed.body(), Body::Binary(b) if b == &[0xff, 0x00, 0xfe]));
        match parsed.request_context() {
            lambda_http::request::RequestContext::ApiGatewayV2(ctx) => {
                let jwt = ctx.authorizer.and_then(|a| a.jwt).expect("jwt");
                assert_eq!(
                    jwt.claims.get("custom:account_id").map(String::as_str),
                    Some("acct_demo")
                );
            }
            other => panic!("unexpected context {other:?}"),
        }
    }
}
