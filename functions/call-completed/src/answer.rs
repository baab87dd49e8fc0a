//! The answers the provider gets to a callback (docs/voice-provider.md): every one it should not
//! retry is a 2xx (`applied`, `ignored`); a bad signature is a 401. Shared by the callback's
//! moves (`crate::callback`) and its completion (`crate::complete`).

use lambda_glue::http::json_response;
use lambda_http::{Body, Response};

/// `200 {"success": true, "call_id", "changed", "event_id"?}`.
pub fn applied(call_id: uuid::Uuid, changed: bool, event_id: Option<uuid::Uuid>) -> Response<Body> {
    let mut body = serde_json::json!({"success": true, "call_id": call_id, "changed": changed});
    if let Some(e) = event_id {
        body["event_id"] = e.to_string().into();
    }
    json_response(200, &body)
}

/// `200 {"success": true, "ignored": "<reason>"}`: acknowledged so the provider stops retrying.
pub fn ignored(reason: &'static str) -> Response<Body> {
    json_response(
        200,
        &serde_json::json!({"success": true, "ignored": reason}),
    )
}

pub fn invalid_signature() -> Response<Body> {
    json_response(
        401,
        &serde_json::json!({"success": false, "error": {
            "code": "invalid_signature",
            "message": "the x-retell-signature header is missing, malformed, expired or does not match the body"
        }}),
    )
}
