//! The headers of a webhook POST. The body is never touched: signatures are computed over the
//! exact stored bytes, and those bytes are sent.
//!
//! Signing secret: the account's current API key, as the spec says ("Compute HMAC-SHA256 using
//! your API key as the secret"), for both `X-Signature` and the Standard Webhooks
//! `webhook-signature` (keyed with the API key's UTF-8 bytes, not a `whsec_` base64 secret).

use crate::signature::{standard_webhooks_signature, x_signature};
use uuid::Uuid;

pub const USER_AGENT: &str = concat!("BuildVoiceAI-Webhooks/", env!("CARGO_PKG_VERSION"));
pub const X_SIGNATURE: &str = "x-signature";
pub const X_EVENT_ID: &str = "x-event-id";
pub const X_ATTEMPT: &str = "x-attempt";
/// The event's type (`call.completed`, `call.started`, `call.failed`), the payload's `event`:
/// a receiver can route before parsing the body.
pub const X_EVENT_TYPE: &str = "x-event-type";

/// Header name/value pairs for one attempt. `timestamp` is the attempt's time in Unix seconds
/// (receivers reject old ones to stop replays); `event_id` is the same on every attempt;
/// `event_type` is the event's name (`domain::events::EventType::as_str`).
pub fn webhook_headers(
    event_type: &str,
    api_key: &str,
    event_id: Uuid,
    attempt: u32,
    timestamp: i64,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let id = event_id.to_string();
    vec![
        ("content-type", "application/json".to_string()),
        ("user-agent", USER_AGENT.to_string()),
        (X_SIGNATURE, x_signature(api_key, body)),
        (X_EVENT_ID, id.clone()),
        (X_EVENT_TYPE, event_type.to_string()),
        (X_ATTEMPT, attempt.to_string()),
        ("webhook-id", id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        (
            "webhook-signature",
            standard_webhooks_signature(api_key, &id, timestamp, body),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_sign_the_exact_body() {
        let id = Uuid::nil();
        let h = webhook_headers(
            "call.started",
            "bvai_live_k",
            id,
            2,
            1_700_000_000,
            b"{\"a\":1}",
        );
        let get = |n: &str| {
            h.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get(X_SIGNATURE), x_signature("bvai_live_k", b"{\"a\":1}"));
        assert_eq!(get(X_ATTEMPT), "2");
        assert_eq!(get(X_EVENT_TYPE), "call.started");
        assert_eq!(get("webhook-id"), id.to_string());
        assert_eq!(get(X_EVENT_ID), id.to_string());
        assert_eq!(get("webhook-timestamp"), "1700000000");
        assert!(get("webhook-signature").starts_with("v1,"));
        assert!(get("user-agent").starts_with("BuildVoiceAI"));
    }
}
