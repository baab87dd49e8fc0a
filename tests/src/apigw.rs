//! Requests shaped the way API Gateway (HTTP API, payload format 2.0) delivers them to Lambda,
//! parsed by lambda_http itself, so handlers are tested on the real conversion. The builder is
//! the local gateway's own ([`local_stack::apigw`]): one builder for `make run` and the tests.

use serde_json::Value;

pub use local_stack::apigw::{ApiRequest, Context};

/// `ApiRequest::build()`: the handler's `lambda_http::Request`, panicking on an event
/// lambda_http cannot read (a test's mistake).
pub trait Build {
    fn build(&self) -> lambda_http::Request;
}

impl Build for ApiRequest {
    fn build(&self) -> lambda_http::Request {
        self.request().expect("valid API Gateway v2 event")
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
