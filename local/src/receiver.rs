//! A local webhook receiver: the customer's endpoint in `make run`.
//!
//! It verifies both signatures a delivery carries: `X-Signature` (lowercase hex HMAC-SHA256 of
//! the raw body, keyed with the account's API key) and the Standard Webhooks
//! `webhook-signature` (`v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`,
//! keyed with the webhook signing secret's decoded bytes, timestamp within 5 minutes; any one
//! of its space-separated signatures may match, as during a rotation's overlap). It prints one line per request, answers 200 (401 when a
//! signature fails, 500 for the first `fail_first` requests to demo retries), and appends every
//! request to a JSON-lines file so deliveries can be inspected afterwards.

use crate::server::{json_reply, Incoming, Listener, Reply, Server};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// How far `webhook-timestamp` may be from now (the Standard Webhooks default).
pub const TIMESTAMP_TOLERANCE_SECONDS: i64 = 5 * 60;

#[derive(Clone)]
pub struct ReceiverConfig {
    /// The account's API key (`X-Signature`).
    pub api_key: String,
    /// The account's webhook signing secret, `whsec_...` (`webhook-signature`).
    pub signing_secret: String,
    /// The JSON-lines log; created if missing, appended to.
    pub log_path: PathBuf,
    /// Answer 500 to this many first requests (demoing retries).
    pub fail_first: usize,
}

impl std::fmt::Debug for ReceiverConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverConfig")
            .field("api_key", &"<redacted>")
            .field("signing_secret", &"<redacted>")
            .field("log_path", &self.log_path)
            .field("fail_first", &self.fail_first)
            .finish()
    }
}

/// The verdict on one request's signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub x_signature: bool,
    /// `None` when the request carries no Standard Webhooks headers.
    pub standard_webhooks: Option<bool>,
}

impl Verdict {
    /// `X-Signature` must verify; the Standard Webhooks signature must too when it is sent.
    pub fn valid(&self) -> bool {
        self.x_signature && self.standard_webhooks != Some(false)
    }
}

/// Checks both signatures of a request.
pub fn verify(
    api_key: &str,
    signing_secret: &str,
    headers: &http::HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Verdict {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let x_signature = get("x-signature").is_some_and(|got| {
        domain::signature::hex_digests_equal(
            &domain::signature::x_signature(api_key, body),
            got.trim(),
        )
    });
    let key = domain::webhook::signing_secret::SigningSecret::parse(signing_secret)
        .and_then(|s| s.key())
        .unwrap_or_default();
    let standard_webhooks = match (
        get("webhook-id"),
        get("webhook-timestamp"),
        get("webhook-signature"),
    ) {
        (None, None, None) => None,
        (Some(id), Some(ts), Some(sigs)) => Some(
            ts.trim()
                .parse::<i64>()
                .ok()
                .filter(|t| (now.timestamp() - t).abs() <= TIMESTAMP_TOLERANCE_SECONDS)
                .is_some_and(|t| {
                    let expected =
                        domain::signature::standard_webhooks_signature(&key, id, t, body);
                    // Space-separated list; any one matching version-1 signature is enough.
                    sigs.split(' ')
                        .filter(|s| s.starts_with("v1,"))
                        .any(|s| domain::signature::hex_digests_equal(s, &expected))
                }),
        ),
        _ => Some(false),
    };
    Verdict {
        x_signature,
        standard_webhooks,
    }
}

pub struct Receiver {
    config: ReceiverConfig,
    seen: AtomicUsize,
    log: Mutex<std::fs::File>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot open the receiver log {path}: {source}")]
pub struct ReceiverError {
    path: String,
    source: std::io::Error,
}

impl Receiver {
    pub fn new(config: ReceiverConfig) -> Result<Arc<Receiver>, ReceiverError> {
        let open = || {
            if let Some(dir) = config
                .log_path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&config.log_path)
        };
        let file = open().map_err(|source| ReceiverError {
            path: config.log_path.display().to_string(),
            source,
        })?;
        Ok(Arc::new(Receiver {
            config,
            seen: AtomicUsize::new(0),
            log: Mutex::new(file),
        }))
    }

    pub fn serve(self: Arc<Self>, listener: Listener) -> Server {
        listener.serve(
            1024 * 1024,
            Arc::new(move |req| {
                let r = self.clone();
                Box::pin(async move { r.handle(req) })
            }),
        )
    }

    pub fn handle(&self, req: Incoming) -> Reply {
        let now = Utc::now();
        let n = self.seen.fetch_add(1, Ordering::SeqCst);
        let verdict = verify(
            &self.config.api_key,
            &self.config.signing_secret,
            &req.headers,
            &req.body,
            now,
        );
        let (status, reply) = if n < self.config.fail_first {
            (
                500,
                json!({"error": format!("failing on purpose (RECEIVER_FAIL_FIRST={}, request {})", self.config.fail_first, n + 1)}),
            )
        } else if !verdict.valid() {
            (401, json!({"error": "invalid signature"}))
        } else {
            (200, json!({"received": true}))
        };

        let payload: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let event = payload["event"].as_str().unwrap_or("-");
        let call_id = payload["call_id"].as_str().unwrap_or("-");
        let attempt = req
            .headers
            .iter()
            .find(|(k, _)| k.as_str().contains("attempt"))
            .and_then(|(_, v)| v.to_str().ok())
            .map(|a| format!(" attempt={a}"))
            .unwrap_or_default();
        let sw = match verdict.standard_webhooks {
            None => "absent",
            Some(true) => "ok",
            Some(false) => "BAD",
        };
        let mut headers = Map::new();
        for name in req.headers.keys() {
            let joined: Vec<String> = req
                .headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            headers.insert(name.as_str().to_string(), Value::String(joined.join(", ")));
        }
        let record = json!({
            "received_at": domain::clock::rfc3339_millis(now),
            "method": req.method.as_str(),
            "path": req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
            "headers": headers,
            "body_base64": base64::engine::general_purpose::STANDARD.encode(&req.body),
            "signature_valid": verdict.valid(),
            "x_signature_valid": verdict.x_signature,
            "standard_webhooks_valid": verdict.standard_webhooks,
            "status": status,
        });
        if let Err(e) = self.append(&record) {
            tracing::error!(target: "receiver", "could not append to {}: {e}", self.config.log_path.display());
        }
        // Printed after the record is in the log, so a reader who sees the line finds the record.
        tracing::info!(
            target: "receiver",
            "{} {} {event} call_id={call_id}{attempt} verified={} (x-signature {}, webhook-signature {sw}) -> {status}",
            req.method,
            req.path(),
            if verdict.valid() { "yes" } else { "no" },
            if verdict.x_signature { "ok" } else { "BAD" },
        );
        json_reply(status, &reply)
    }

    fn append(&self, record: &Value) -> std::io::Result<()> {
        let mut line = record.to_string();
        line.push('\n');
        let mut f = self
            .log
            .lock()
            .map_err(|_| std::io::Error::other("log lock poisoned"))?;
        f.write_all(line.as_bytes())?;
        f.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                http::HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn verifies_both_signatures() {
        let key = "bvai_live_test";
        let secret = "whsec_c2VjcmV0LWJ5dGVz";
        let key_bytes = b"secret-bytes";
        let body = br#"{"event":"call.completed"}"#;
        let now = Utc::now();
        let ts = now.timestamp();
        let xs = domain::signature::x_signature(key, body);
        let sw = domain::signature::standard_webhooks_signature(key_bytes, "evt_1", ts, body);
        let ts_s = ts.to_string();

        let ok = verify(
            key,
            secret,
            &headers(&[
                ("x-signature", &xs),
                ("webhook-id", "evt_1"),
                ("webhook-timestamp", &ts_s),
                ("webhook-signature", &format!("v1,bogus {sw}")),
            ]),
            body,
            now,
        );
        assert_eq!(
            ok,
            Verdict {
                x_signature: true,
                standard_webhooks: Some(true)
            }
        );
        assert!(ok.valid());

        let only_x = verify(key, secret, &headers(&[("x-signature", &xs)]), body, now);
        assert_eq!(only_x.standard_webhooks, None);
        assert!(only_x.valid());

        assert!(!verify(
            "other",
            secret,
            &headers(&[("x-signature", &xs)]),
            body,
            now
        )
        .valid());
        assert!(!verify(key, secret, &headers(&[]), body, now).valid());
        assert!(!verify(key, secret, &headers(&[("x-signature", &xs)]), b"{}", now).valid());

        let old = (now.timestamp() - TIMESTAMP_TOLERANCE_SECONDS - 1).to_string();
        let sw_old = domain::signature::standard_webhooks_signature(
            key_bytes,
            "evt_1",
            now.timestamp() - TIMESTAMP_TOLERANCE_SECONDS - 1,
            body,
        );
        let replay = verify(
            key,
            secret,
            &headers(&[
                ("x-signature", &xs),
                ("webhook-id", "evt_1"),
                ("webhook-timestamp", &old),
                ("webhook-signature", &sw_old),
            ]),
            body,
            now,
        );
        assert_eq!(replay.standard_webhooks, Some(false));
        assert!(!replay.valid());

        let partial = verify(
            key,
            secret,
            &headers(&[("x-signature", &xs), ("webhook-id", "evt_1")]),
            body,
            now,
        );
        assert_eq!(partial.standard_webhooks, Some(false));
        // Signed for another id.
        let wrong_id = verify(
            key,
            secret,
            &headers(&[
                ("x-signature", &xs),
                ("webhook-id", "evt_2"),
                ("webhook-timestamp", &ts_s),
                ("webhook-signature", &sw),
            ]),
            body,
            now,
        );
        assert_eq!(wrong_id.standard_webhooks, Some(false));
    }
}
