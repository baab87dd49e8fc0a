//! Requests shaped the way API Gateway (HTTP API, payload format 2.0) delivers them to Lambda,
//! parsed by lambda_http itself, so handlers are tested on the real conversion.

use serde_json::{json, Value};

pub struct ApiRequest {
    method: String,
    path: String,
    route_key: Option<String>,
    headers: serde_json::Map<String, Value>,
    query: Option<String>,
    body: Option<String>,
    base64: bool,
    claims: Option<Value>,
    path_parameters: serde_json::Map<String, Value>,
}

impl ApiRequest {
    pub fn new(method: &str, path: &str) -> ApiRequest {
        ApiRequest {
            method: method.into(),
            path: path.into(),
            route_key: None,
            headers: serde_json::Map::new(),
            query: None,
            body: None,
            base64: false,
            claims: None,
            path_parameters: serde_json::Map::new(),
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
    pub fn header(mut self, k: &str, v: &str) -> ApiRequest {
        self.headers
            .insert(k.to_ascii_lowercase(), Value::String(v.into()));
        self
    }
    pub fn bearer(self, key: &str) -> ApiRequest {
        self.header("authorization", &format!("Bearer {key}"))
    }
    pub fn json(self, body: &Value) -> ApiRequest {
        self.header("content-type", "application/json")
            .body(&body.to_string())
    }
    pub fn body(mut self, body: &str) -> ApiRequest {
        self.body = Some(body.into());
        self
    }
    pub fn base64_body(mut self, bytes: &[u8]) -> ApiRequest {
        use base64::Engine;
        self.body = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
        self.base64 = true;
        self
    }
    pub fn query(mut self, q: &str) -> ApiRequest {
        self.query = Some(q.into());
        self
    }
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

    pub fn event(&self) -> Value {
        let mut ctx = json!({
            "accountId": "123456789012",
            "apiId": "api-id",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {
                "method": self.method,
                "path": self.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "integration-test"
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": self.route_key.clone().unwrap_or_else(|| format!("{} {}", self.method, self.path)),
            "stage": "$default",
            "time": "15/Jun/2025:14:30:00 +0000",
            "timeEpoch": 1750001400000i64
        });
        if let Some(c) = &self.claims {
            ctx["authorizer"] = json!({"jwt": {"claims": c, "scopes": null}});
        }
        let mut ev = json!({
            "version": "2.0",
            "routeKey": ctx["routeKey"].clone(),
            "rawPath": self.path,
            "rawQueryString": self.query.clone().unwrap_or_default(),
            "headers": self.headers,
            "requestContext": ctx,
            "isBase64Encoded": self.base64,
        });
        if let Some(q) = &self.query {
            let params: serde_json::Map<String, Value> = url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect();
            ev["queryStringParameters"] = Value::Object(params);
        }
        if !self.path_parameters.is_empty() {
            ev["pathParameters"] = Value::Object(self.path_parameters.clone());
        }
        if let Some(b) = &self.body {
            ev["body"] = Value::String(b.clone());
        }
        ev
    }

    pub fn build(&self) -> lambda_http::Request {
        lambda_http::request::from_str(&self.event().to_string())
            .expect("valid API Gateway v2 event")
    }
}

/// Status and JSON body of a handler's response.
pub fn parts(res: &lambda_http::Response<lambda_http::Body>) -> (u16, Value) {
    let body = match res.body() {
        lambda_http::Body::Text(s) => s.clone(),
        lambda_http::Body::Binary(b) => String::from_utf8_lossy(b).to_string(),
        _ => String::new(),
    };
    let v = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).expect("JSON response body")
    };
    (res.status().as_u16(), v)
}
