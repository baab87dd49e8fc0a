//! The headers of a webhook POST. The body is never touched: signatures are computed over the
//! exact stored bytes, and those bytes are sent.
//!
//! Two signatures, two secrets:
//! - `X-Signature`: hex HMAC-SHA256 of the body keyed with the account's current API key, as
//!   the spec says ("Compute HMAC-SHA256 using your API key as the secret");
//! - the Standard Webhooks `webhook-signature`, keyed with the account's webhook signing secret
//!   (`whsec_...`, decoded; `signing_secret`), so the official libraries verify it with the
//!   secret as the dashboard shows it. During a rotation's overlap it carries two signatures,
//!   `v1,<new> v1,<old>`, as the Standard Webhooks spec allows.

use crate::ids::EventId;
use crate::signature::{standard_webhooks_signature, x_signature};
use crate::webhook::signing_secret::SigningKeys;
use chrono::{DateTime, Utc};

pub const USER_AGENT: &str = concat!("BuildVoiceAI-Webhooks/", env!("CARGO_PKG_VERSION"));
pub const X_SIGNATURE: &str = "x-signature";
pub const X_EVENT_ID: &str = "x-event-id";
pub const X_ATTEMPT: &str = "x-attempt";
/// The event's type (`call.completed`, `call.started`, `call.failed`), the payload's `event`:
/// a receiver can route before parsing the body.
pub const X_EVENT_TYPE: &str = "x-event-type";

/// Header name/value pairs for one attempt sent at `now` (`webhook-timestamp`, in Unix
/// seconds: receivers reject old ones to stop replays; the signing keys active at `now`);
/// `event_id` is the same on every attempt; `event_type` is the event's name
/// (`domain::event_type::EventType::as_str`).
pub fn webhook_headers(
    event_type: &str,
    api_key: &str,
    signing: &SigningKeys,
    event_id: EventId,
    attempt: u32,
    now: DateTime<Utc>,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let id = event_id.to_string();
    let timestamp = now.timestamp();
    let signatures: Vec<String> = signing
        .active(now)
        .into_iter()
        .map(|key| standard_webhooks_signature(key, &id, timestamp, body))
        .collect();
    vec![
        ("content-type", "application/json".to_string()),
        ("user-agent", USER_AGENT.to_string()),
        (X_SIGNATURE, x_signature(api_key, body)),
        (X_EVENT_ID, id.clone()),
        (X_EVENT_TYPE, event_type.to_string()),
        (X_ATTEMPT, attempt.to_string()),
        ("webhook-id", id),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signatures.join(" ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn get(h: &[(&'static str, String)], n: &str) -> String {
        h.iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.clone())
            .unwrap()
    }

    #[test]
    fn headers_sign_the_exact_body() {
        let id = crate::ids::EventId::nil();
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let keys = SigningKeys::new(b"new".to_vec(), None);
        let h = webhook_headers(
            "call.started",
            "bvai_live_k",
            &keys,
            id,
            2,
            now,
            b"{\"a\":1}",
        );
        assert_eq!(
            get(&h, X_SIGNATURE),
            x_signature("bvai_live_k", b"{\"a\":1}")
        );
        assert_eq!(get(&h, X_ATTEMPT), "2");
        assert_eq!(get(&h, X_EVENT_TYPE), "call.started");
        assert_eq!(get(&h, "webhook-id"), id.to_string());
        assert_eq!(get(&h, X_EVENT_ID), id.to_string());
        assert_eq!(get(&h, "webhook-timestamp"), "1700000000");
        assert_eq!(
            get(&h, "webhook-signature"),
            standard_webhooks_signature(b"new", &id.to_string(), 1_700_000_000, b"{\"a\":1}")
        );
        assert!(get(&h, "user-agent").starts_with("BuildVoiceAI"));
    }

    #[test]
    fn both_secrets_sign_during_the_overlap_then_only_the_new_one() {
        let id = crate::ids::EventId::nil();
        let until = Utc.timestamp_opt(1_700_000_100, 0).unwrap();
        let keys = SigningKeys::new(b"new".to_vec(), Some((b"old".to_vec(), until)));
        let sig = |key: &[u8], t: i64| standard_webhooks_signature(key, &id.to_string(), t, b"{}");
        let during = until - chrono::Duration::seconds(1);
        let h = webhook_headers("call.completed", "k", &keys, id, 1, during, b"{}");
        let t = during.timestamp();
        assert_eq!(
            get(&h, "webhook-signature"),
            format!("{} {}", sig(b"new", t), sig(b"old", t))
        );
        let h = webhook_headers("call.completed", "k", &keys, id, 1, until, b"{}");
        assert_eq!(get(&h, "webhook-signature"), sig(b"new", until.timestamp()));
        // X-Signature is the API key's either way.
        assert_eq!(get(&h, X_SIGNATURE), x_signature("k", b"{}"));
    }
}
