//! The one builder of API Gateway events (HTTP API, payload format 2.0), as API Gateway
//! delivers them to Lambda. The local gateway ([`crate::gateway`]) fills it from real HTTP
//! requests; the tests (`integration_tests::apigw`) write requests with it directly. Either way
//! the event is parsed by `lambda_http::request::from_str`, so handlers see exactly what they
//! see in AWS.
//!
//! What API Gateway does to a request is done here, once: header names are lower case, cookies
//! move out of the headers into `cookies`, repeated query parameters are comma-joined in
//! `queryStringParameters`, binary bodies are base64 with `isBase64Encoded`, JWT authorizer
//! claims sit in `requestContext.authorizer.jwt.claims`.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// Where a request came from and when: the parts of `requestContext` that are not the request
/// itself. The default is a fixed, plausible AWS request (what tests use); the local gateway
/// sets its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub account_id: String,
    pub api_id: String,
    /// `domainName`; `domainPrefix` is its first label.
    pub domain_name: String,
    pub protocol: String,
    pub source_ip: String,
    pub user_agent: String,
    pub request_id: String,
    /// `time`, as API Gateway writes it (`15/Jun/2025:14:30:00 +0000`).
    pub time: String,
    /// `timeEpoch`, in milliseconds.
    pub time_epoch: i64,
}

impl Default for Context {
    fn default() -> Self {
        Context {
            account_id: "123456789012".into(),
            api_id: "api-id".into(),
            domain_name: "api.example.com".into(),
            protocol: "HTTP/1.1".into(),
            source_ip: "203.0.113.7".into(),
            user_agent: "integration-test".into(),
            request_id: uuid::Uuid::new_v4().to_string(),
            time: "15/Jun/2025:14:30:00 +0000".into(),
            time_epoch: 1_750_001_400_000,
        }
    }
}

impl Context {
    /// `time` and `timeEpoch` of the instant `at`.
    pub fn at(mut self, at: DateTime<Utc>) -> Context {
        self.time = at.format("%d/%b/%Y:%H:%M:%S %z").to_string();
        self.time_epoch = at.timestamp_millis();
        self
    }
}

/// One request, built up and turned into the event ([`ApiRequest::event`]) or straight into
/// the `lambda_http::Request` a handler gets ([`ApiRequest::request`]).
#[derive(Debug, Clone)]
pub struct ApiRequest {
    method: String,
    path: String,
    route_key: Option<String>,
    headers: Map<String, Value>,
    cookies: Vec<Value>,
    query: Option<String>,
    body: Option<String>,
    base64: bool,
    claims: Option<Value>,
    path_parameters: Map<String, Value>,
    context: Context,
}

impl ApiRequest {
    pub fn new(method: &str, path: &str) -> ApiRequest {
        ApiRequest {
            method: method.into(),
            path: path.into(),
            route_key: None,
            headers: Map::new(),
            cookies: Vec::new(),
            query: None,
            body: None,
            base64: false,
            claims: None,
            path_parameters: Map::new(),
            context: Context::default(),
        }
    }
    pub fn get(path: &str) -> ApiRequest {
        ApiRequest::new("GET", path)
    }
    pub fn post(path: &str) -> ApiRequest {
        ApiRequest::new("POST", path)
    }
    pub fn patch(path: &str) -> ApiRequest {
        ApiRequest::new("PATCH", path)
    }
    /// Sets a header (name lower-cased; a repeated header is one comma-joined value, as API
    /// Gateway sends it). `cookie` headers go to `cookies` instead, one entry per cookie.
    pub fn header(mut self, k: &str, v: &str) -> ApiRequest {
        let name = k.to_ascii_lowercase();
        if name == "cookie" {
            self.cookies.extend(
                v.split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| Value::String(c.to_string())),
            );
            return self;
        }
        self.headers.insert(name, Value::String(v.into()));
        self
    }
    pub fn has_header(&self, k: &str) -> bool {
        self.headers.contains_key(&k.to_ascii_lowercase())
    }
    pub fn bearer(self, key: &str) -> ApiRequest {
        self.header("authorization", &format!("Bearer {key}"))
    }
    pub fn json(self, body: &Value) -> ApiRequest {
        self.header("content-type", "application/json")
            .body(&body.to_string())
    }
    /// A text body (kept even when empty).
    pub fn body(mut self, body: &str) -> ApiRequest {
        self.body = Some(body.into());
        self.base64 = false;
        self
    }
    /// A binary body: base64 with `isBase64Encoded`.
    pub fn base64_body(mut self, bytes: &[u8]) -> ApiRequest {
        self.body = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
        self.base64 = true;
        self
    }
    /// Bytes off the wire, as API Gateway passes them on: none if empty, text if UTF-8,
    /// base64 otherwise.
    pub fn raw_body(self, bytes: &[u8]) -> ApiRequest {
        if bytes.is_empty() {
            return self;
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => self.body(text),
            Err(_) => self.base64_body(bytes),
        }
    }
    /// The raw query string (without `?`); `queryStringParameters` is derived from it.
    pub fn query(mut self, q: &str) -> ApiRequest {
        self.query = Some(q.into());
        self
    }
    /// `routeKey`; `METHOD /path` unless set.
    pub fn route(mut self, route_key: &str) -> ApiRequest {
        self.route_key = Some(route_key.into());
        self
    }
    pub fn path_param(mut self, k: &str, v: &str) -> ApiRequest {
        self.path_parameters
            .insert(k.into(), Value::String(v.into()));
        self
    }
    /// JWT authorizer claims, as API Gateway puts them in `requestContext.authorizer.jwt.claims`.
    pub fn claims(mut self, claims: Value) -> ApiRequest {
        self.claims = Some(claims);
        self
    }
    /// Where the request came from and when (see [`Context`]).
    pub fn context(mut self, context: Context) -> ApiRequest {
        self.context = context;
        self
    }

    /// The payload-v2 event.
    pub fn event(&self) -> Value {
        let c = &self.context;
        let route_key = self
            .route_key
            .clone()
            .unwrap_or_else(|| format!("{} {}", self.method, self.path));
        let domain_prefix = c.domain_name.split('.').next().unwrap_or(&c.domain_name);
        let mut ctx = json!({
            "accountId": c.account_id,
            "apiId": c.api_id,
            "domainName": c.domain_name,
            "domainPrefix": domain_prefix,
            "http": {
                "method": self.method,
                "path": self.path,
                "protocol": c.protocol,
                "sourceIp": c.source_ip,
                "userAgent": c.user_agent,
            },
            "requestId": c.request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": c.time,
            "timeEpoch": c.time_epoch,
        });
        if let Some(claims) = &self.claims {
            ctx["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
        }
        let mut ev = json!({
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": self.path,
            "rawQueryString": self.query.clone().unwrap_or_default(),
            "headers": self.headers,
            "requestContext": ctx,
            "isBase64Encoded": self.base64,
        });
        if !self.cookies.is_empty() {
            ev["cookies"] = Value::Array(self.cookies.clone());
        }
        let mut query = Map::new();
        for (k, v) in url::form_urlencoded::parse(self.query.as_deref().unwrap_or("").as_bytes()) {
            match query.get_mut(k.as_ref()) {
                // Repeated parameters are comma-joined in payload v2.
                Some(Value::String(prev)) => {
                    prev.push(',');
                    prev.push_str(&v);
                }
                _ => {
                    query.insert(k.into_owned(), Value::String(v.into_owned()));
                }
            }
        }
        if !query.is_empty() {
            ev["queryStringParameters"] = Value::Object(query);
        }
        if !self.path_parameters.is_empty() {
            ev["pathParameters"] = Value::Object(self.path_parameters.clone());
        }
        if let Some(b) = &self.body {
            ev["body"] = Value::String(b.clone());
        }
        ev
    }

    /// The request as the handler gets it, parsed by lambda_http from [`ApiRequest::event`].
    pub fn request(&self) -> Result<lambda_http::Request, serde_json::Error> {
        lambda_http::request::from_str(&self.event().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_a_plain_aws_request() {
        let ev = ApiRequest::post("/api/trigger-call")
            .bearer("k")
            .json(&json!({"a": 1}))
            .event();
        assert_eq!(ev["routeKey"], "POST /api/trigger-call");
        assert_eq!(ev["rawQueryString"], "");
        assert_eq!(ev["headers"]["authorization"], "Bearer k");
        assert_eq!(ev["headers"]["content-type"], "application/json");
        assert_eq!(ev["body"], r#"{"a":1}"#);
        assert_eq!(ev["isBase64Encoded"], false);
        assert_eq!(ev["requestContext"]["domainPrefix"], "api");
        assert!(ev.get("queryStringParameters").is_none());
        assert!(ev.get("cookies").is_none());
        assert!(ev["requestContext"].get("authorizer").is_none());
    }

    #[test]
    fn cookies_queries_and_bodies_as_api_gateway_sends_them() {
        let ev = ApiRequest::get("/x")
            .header("Cookie", "a=1; b=2")
            .query("a=1&a=x%20y&b=2")
            .raw_body(&[0xff, 0x00])
            .context(
                Context::default()
                    .at(DateTime::from_timestamp_millis(1_749_997_800_000).unwrap_or_default()),
            )
            .event();
        assert!(ev["headers"].get("cookie").is_none());
        assert_eq!(ev["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(ev["queryStringParameters"], json!({"a": "1,x y", "b": "2"}));
        assert_eq!(ev["body"], "/wA=");
        assert_eq!(ev["isBase64Encoded"], true);
        assert_eq!(ev["requestContext"]["time"], "15/Jun/2025:14:30:00 +0000");
        assert_eq!(ev["requestContext"]["timeEpoch"], 1_749_997_800_000i64);
        assert!(ApiRequest::get("/x")
            .raw_body(b"")
            .event()
            .get("body")
            .is_none());
    }
}
