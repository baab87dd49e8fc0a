//! HTTP plumbing shared by the API functions: reading requests and the one place an
//! `ApiError` becomes a response.

use domain::error::ApiError;
use domain::ErrorCode;
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

/// Largest request body the API accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn json_response<T: Serialize + ?Sized>(status: u16, body: &T) -> Response<Body> {
    match serde_json::to_string(body) {
        Ok(s) => raw_json_response(status, s),
        Err(e) => error_response(&ApiError::internal(e)),
    }
}

pub fn raw_json_response(status: u16, body: String) -> Response<Body> {
    let mut res = Response::new(Body::Text(body));
    *res.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    res.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    res
}

/// The error body: `{"success": false, "error": {"code", "message", "field"?, ...}}`.
pub fn error_body(err: &ApiError) -> serde_json::Value {
    err.to_json()
}

pub fn error_response(err: &ApiError) -> Response<Body> {
    match err {
        ApiError::Internal(source) => tracing::error!(error = %source, "internal error"),
        ApiError::ProviderUnavailable | ApiError::ProviderOutcomeUnknown { .. } => {
            tracing::warn!(code = err.code().as_str(), "provider unavailable")
        }
        _ => tracing::info!(
            code = err.code().as_str(),
            status = err.status(),
            "request refused"
        ),
    }
    let mut res = json_response(err.status(), &error_body(err));
    if let ApiError::Throttled = err {
        res.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("1"),
        );
    }
    if let ApiError::RateLimited(status) = err {
        res.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from(status.reset_secs),
        );
        with_rate_limit(&mut res, status);
    }
    res
}

/// Adds `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (unless the answer has
/// them already: a 429's own, or those of a stricter limit counted first).
pub fn with_rate_limit(res: &mut Response<Body>, status: &domain::rate_limit::RateStatus) {
    if res.headers().contains_key("ratelimit-limit") {
        return;
    }
    for (name, value) in status.headers() {
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            res.headers_mut().insert(name, v);
        }
    }
}

/// The request body as bytes (API Gateway may deliver it base64-encoded; lambda_http decodes).
pub fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(s) => s.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The body of a JSON request: 413 above the limit, 415 unless the content type is JSON.
pub fn json_body(req: &Request) -> Result<&[u8], ApiError> {
    let body = body_bytes(req);
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            size: body.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    let ct = header(req, "content-type").unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let is_json =
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    Ok(body)
}

/// Parses a JSON object body; anything else is a 400 saying what was wrong.
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::body(
            ErrorCode::InvalidJson,
            "the request body is empty; send a JSON object",
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::body(
            ErrorCode::InvalidJson,
            format!("the request body is not valid JSON: {e}"),
        )
    })?;
    match value {
        serde_json::Value::Object(m) => Ok(m),
        other => Err(ApiError::body(
            ErrorCode::InvalidBody,
            format!(
                "the request body must be a JSON object, not {}",
                json_type(&other)
            ),
        )),
    }
}

/// Refuses a body with a field outside `allowed`: `400 unknown_field` naming the first unknown
/// field in sorted order (so the answer does not depend on the map's order), and listing the
/// allowed ones, because a typo must never pass silently.
pub fn refuse_unknown_fields(
    body: &serde_json::Map<String, serde_json::Value>,
    allowed: &[&str],
) -> Result<(), ApiError> {
    let unknown = body.keys().filter(|k| !allowed.contains(&k.as_str())).min();
    match unknown {
        None => Ok(()),
        Some(field) => Err(ApiError::bad_request(
            ErrorCode::UnknownField,
            field,
            format!(
                "unknown field {field:?}; allowed fields are {}",
                allowed.join(", ")
            ),
        )),
    }
}

/// The JSON type name used in error messages.
pub fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Renders a handler result: the success response or the mapped error.
pub fn respond(result: Result<Response<Body>, ApiError>) -> Response<Body> {
    result.unwrap_or_else(|e| error_response(&e))
}

/// The query string of a listing route, checked: a parameter given twice is 400
/// `duplicate_parameter`, one not in `allowed` 400 `unknown_parameter` (like unknown JSON
/// fields elsewhere).
pub fn checked_query(req: &Request, allowed: &[&str]) -> Result<QueryMap, ApiError> {
    let params = req.query_string_parameters();
    let mut names: Vec<&str> = params.iter().map(|(k, _)| k).collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|p| p[0] == p[1]) {
        return Err(ApiError::bad_request(
            ErrorCode::DuplicateParameter,
            pair[0],
            format!("the query parameter {:?} is given more than once", pair[0]),
        ));
    }
    if let Some(unknown) = names.iter().find(|n| !allowed.contains(n)) {
        return Err(ApiError::bad_request(
            ErrorCode::UnknownParameter,
            unknown,
            format!(
                "unknown query parameter {unknown:?}; allowed parameters are {}",
                allowed.join(", ")
            ),
        ));
    }
    Ok(params)
}

/// A page's `limit` parameter: `default` when absent, else a whole number from 1 to `max`
/// (400 `invalid_limit` otherwise).
pub fn limit_param(params: &QueryMap, default: usize, max: usize) -> Result<usize, ApiError> {
    match params.first("limit") {
        None => Ok(default),
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n) && l.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                ApiError::bad_request(
                    ErrorCode::InvalidLimit,
                    "limit",
                    format!("limit must be a whole number from 1 to {max}"),
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_shape() {
        let e = ApiError::bad_request(ErrorCode::InvalidPhone, "phone", "bad");
        let b = error_body(&e);
        assert_eq!(
            b,
            serde_json::json!({"success": false, "error": {"code": "invalid_phone", "message": "bad", "field": "phone"}})
        );
        let internal = ApiError::internal(std::io::Error::other("secret detail"));
        let b = error_body(&internal);
        assert!(!b.to_string().contains("secret detail"));
        assert_eq!(internal.status(), 500);
    }

    #[test]
    fn json_object_rejects_non_objects() {
        assert_eq!(json_object(b"[1]").unwrap_err().code(), "invalid_body");
        assert_eq!(json_object(b"{").unwrap_err().code(), "invalid_json");
        assert_eq!(json_object(b"  ").unwrap_err().code(), "invalid_json");
        assert!(json_object(b"{\"a\":1}").is_ok());
    }
}
