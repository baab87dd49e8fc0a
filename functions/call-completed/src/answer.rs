//! The answers the provider gets to a callback (docs/voice-provider.md): every one it should not
//! retry is a 2xx (`applied`, `ignored`); a bad signature is a 401. Shared by the callback's
//! moves (`crate::callback`) and its completion (`crate::complete`).

use domain::answer::Success;
use domain::ErrorCode;
use lambda_glue::http::json_response;
use lambda_http::{Body, Response};
use serde::Serialize;

/// `200 {"success": true, "call_id", "changed", "event_id"?}`.
pub fn applied(
    call_id: domain::CallId,
    changed: bool,
    event_id: Option<domain::EventId>,
) -> Response<Body> {
    json_response(
        200,
        &CallbackAnswer {
            call_id: Some(call_id.into()),
            changed: Some(changed),
            event_id: event_id.map(Into::into),
            ..CallbackAnswer::default()
        },
    )
}

/// `200 {"success": true, "ignored": "<reason>"}`: acknowledged so the provider stops retrying.
pub fn ignored(reason: &'static str) -> Response<Body> {
    json_response(
        200,
        &CallbackAnswer {
            ignored: Some(reason),
            ..CallbackAnswer::default()
        },
    )
}

/// what the callback did to our call, or why it did nothing
#[derive(Debug, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct CallbackAnswer {
    pub success: Success,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "uuid::Uuid"))]
    pub call_id: Option<uuid::Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "bool"))]
    pub changed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "uuid::Uuid"))]
    pub event_id: Option<uuid::Uuid>,
    /// why the callback changed nothing (e.g. `unsupported_event`, `unknown_call`)
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    pub ignored: Option<&'static str>,
}

pub fn invalid_signature() -> Response<Body> {
    json_response(
        401,
        &serde_json::json!({"success": false, "error": {
            "code": ErrorCode::InvalidSignature,
            "message": "the x-retell-signature header is missing, malformed, expired or does not match the body"
        }}),
    )
}
