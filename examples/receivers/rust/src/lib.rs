//! A BuildVoiceAI webhook receiver in Rust (axum), as docs/clients-and-receivers.md shows.
//!
//! Every delivery is checked twice before anything else reads it: `X-Signature` (lowercase hex
//! HMAC-SHA256 of the raw body, keyed with the API key; `Mac::verify_slice` compares in
//! constant time) and `webhook-signature` (Standard Webhooks, keyed with the `whsec_` signing
//! secret; the official `standardwebhooks` crate also refuses a `webhook-timestamp` more than
//! 5 minutes off). A refused delivery gets 401. A verified one is de-duplicated on `webhook-id`
//! (a repeat gets 200 and nothing more), sent down a channel and answered 204 at once; a task
//! does the work.
//!
//! `GET /accepted` shows what the worker took and what was refused (the kit test,
//! local/tests/it/kit.rs, reads it). `src/main.rs` runs it on `$PORT`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use standardwebhooks::Webhook;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Why the receiver cannot start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("missing environment variable {0}")]
    MissingVariable(&'static str),
    #[error("WEBHOOK_SECRET is not a whsec_ signing secret: {0}")]
    Secret(#[from] standardwebhooks::WebhookError),
    #[error("PORT is not a port number: {0}")]
    Port(#[from] std::num::ParseIntError),
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
}

/// What the worker took, and what the handler turned away.
#[derive(Default)]
struct Log {
    accepted: Vec<Value>,
    duplicates: u64,
    refused: u64,
}

#[derive(Clone)]
struct Receiver {
    api_key: Arc<[u8]>,
    webhook: Arc<Webhook>,
    seen: Arc<Mutex<HashSet<String>>>,
    work: mpsc::Sender<(String, Value)>,
    log: Arc<Mutex<Log>>,
}

/// The receiver's routes (`POST /webhooks`, `GET /accepted`) and its worker task, which must
/// be started inside a Tokio runtime.
pub fn app(api_key: &str, signing_secret: &str) -> Result<Router, Error> {
    // kit:start rust-setup
    // X-Signature is keyed with the API key (the spec's), webhook-signature with "whsec_...".
    let api_key: Arc<[u8]> = api_key.as_bytes().into();
    let webhook = Arc::new(Webhook::new(signing_secret)?);
    // The worker below takes the verified events from this channel.
    let (work, mut jobs) = mpsc::channel::<(String, Value)>(1024);
    // kit:end rust-setup
    let log: Arc<Mutex<Log>> = Arc::default();
    let worker_log = log.clone();
    tokio::spawn(async move {
        while let Some((webhook_id, event)) = jobs.recv().await {
            let entry = json!({
                "webhook_id": webhook_id,
                "event": event["event"],
                "call_id": event["call_id"],
                "test": event.get("test").cloned().unwrap_or(Value::Bool(false)),
            });
            println!("accepted {} {webhook_id}", event["event"]);
            lock(&worker_log).accepted.push(entry);
        }
    });
    let receiver = Receiver {
        api_key,
        webhook,
        seen: Arc::default(),
        work,
        log,
    };
    Ok(Router::new()
        .route("/webhooks", post(receive))
        .route("/accepted", get(accepted))
        .with_state(receiver))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

// kit:start rust-verify
fn x_signature_ok(api_key: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(Ok(given)) = header.map(hex::decode) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(api_key) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok() // constant time
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    // body: the raw bytes: verify before any JSON parsing
    let x_signature = headers.get("x-signature").and_then(|v| v.to_str().ok());
    let verified = r.webhook.verify(&body, &headers).is_ok() // also checks the timestamp
        && x_signature_ok(&r.api_key, &body, x_signature);
    let event: Option<Value> = serde_json::from_slice(&body).ok();
    let (true, Some(event)) = (verified, event) else {
        lock(&r.log).refused += 1;
        return StatusCode::UNAUTHORIZED;
    };
    let webhook_id = headers.get("webhook-id").and_then(|v| v.to_str().ok());
    let webhook_id = webhook_id.unwrap_or_default().to_string(); // verified: present
    if !lock(&r.seen).insert(webhook_id.clone()) {
        // a retry or a replay of one already taken
        lock(&r.log).duplicates += 1;
        return StatusCode::OK;
    }
    match r.work.try_send((webhook_id.clone(), event)) {
        Ok(()) => StatusCode::NO_CONTENT, // handed on; answered at once
        Err(_) => {
            lock(&r.seen).remove(&webhook_id); // full: let the sender retry it later
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}
// kit:end rust-verify

async fn accepted(State(r): State<Receiver>) -> impl IntoResponse {
    let log = lock(&r.log);
    let body = json!({
        "accepted": log.accepted,
        "duplicates": log.duplicates,
        "refused": log.refused,
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

/// Serves [`app`] on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> Result<(), Error> {
    axum::serve(listener, app).await?;
    Ok(())
}
