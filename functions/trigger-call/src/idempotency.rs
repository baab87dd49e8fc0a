//! `Idempotency-Key`: the same key and body within 24 h get the first answer and place no
//! second call; the same key with another body is a 409.
//!
//! Which answers are remembered (docs/api.md in the README's "Retries" section):
//! - a placed call's 200, replayed to every retry;
//! - a lost provider answer's 502 `provider_outcome_unknown` naming the call: the call may
//!   ring, so a retry gets the same 502 and never dials again;
//! - a provider answer that proves no call was placed (a 4xx, no connection) is not
//!   remembered: the key is released and a retry with it places the call.
//!
//! A running request holds the key for a lease (`config::idempotency_lease`, longer than the
//! function's timeout). A key still without an answer after its lease belongs to a request
//! that crashed or timed out, possibly after the provider accepted its call: the first retry
//! with the same body (or the reconciler, whichever comes first) answers the key for it
//! (`domain::dead_request::release_dead_request`): the 200 if the call shows it was placed, else
//! the 502 `provider_outcome_unknown` naming the call. It is never released, so no retry
//! dials a second call.

use crate::Deps;
use domain::ids::AccountId;
use domain::model::IdempotencyRecord;
use domain::signature::sha256_hex;
use domain::ApiError;
use domain::ErrorCode;
use lambda_glue::http::raw_json_response;
use lambda_http::{Body, Request, Response};
use std::time::Duration;

pub const TTL: chrono::Duration = chrono::Duration::hours(24);
pub const MAX_KEY_LEN: usize = 255;
const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    /// SHA-256 of the raw request body.
    pub request_hash: String,
}

impl IdempotencyKey {
    pub fn from_request(req: &Request, raw_body: &[u8]) -> Result<Option<Self>, ApiError> {
        let Some(v) = req.headers().get("idempotency-key") else {
            return Ok(None);
        };
        Self::parse(v.as_bytes(), raw_body).map(Some)
    }

    /// The header's value (as raw bytes: a client may send any) checked: 1 to
    /// [`MAX_KEY_LEN`] printable ASCII characters.
    pub fn parse(value: &[u8], raw_body: &[u8]) -> Result<Self, ApiError> {
        let bad = || {
            ApiError::bad_request(
                ErrorCode::InvalidIdempotencyKey,
                "Idempotency-Key",
                format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} printable ASCII characters"),
            )
        };
        if value.is_empty()
            || value.len() > MAX_KEY_LEN
            || !value.iter().all(|b| (0x20..0x7f).contains(b))
        {
            return Err(bad());
        }
        let key = std::str::from_utf8(value).map_err(|_| bad())?;
        Ok(IdempotencyKey {
            key: key.to_string(),
            request_hash: sha256_hex(raw_body),
        })
    }
}

fn replayed(rec: &IdempotencyRecord) -> Option<Response<Body>> {
    rec.response.as_ref().map(|r| {
        let mut res = raw_json_response(r.status, r.body.clone());
        res.headers_mut().insert(
            "idempotent-replayed",
            http::HeaderValue::from_static("true"),
        );
        res
    })
}

/// What a taken key means for this request.
pub enum Existing {
    /// The first request's answer, to replay.
    Answer(Response<Body>),
    /// The key's request died (its lease ran out without an answer): take the key over.
    Abandoned(IdempotencyRecord),
    /// The key was released meanwhile (the first request proved no call was placed, or a dead
    /// request's key was freed): try to take it afresh.
    Released,
}

fn abandoned(rec: &IdempotencyRecord, deps: &Deps) -> bool {
    rec.response.is_none() && rec.lease_until.is_some_and(|t| t <= deps.clock.now())
}

/// The answer for a key that is already taken.
pub async fn answer_existing(
    existing: IdempotencyRecord,
    key: &IdempotencyKey,
    deps: &Deps,
) -> Result<Existing, ApiError> {
    if existing.request_hash != key.request_hash {
        return Err(ApiError::IdempotencyKeyReused);
    }
    if let Some(res) = replayed(&existing) {
        return Ok(Existing::Answer(res));
    }
    if abandoned(&existing, deps) {
        return Ok(Existing::Abandoned(existing));
    }
    // The first request is still dialing: wait for its answer rather than dial again.
    let deadline = tokio::time::Instant::now() + deps.idempotency_wait;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
        match deps
            .store
            .idempotency(&existing.account_id, &key.key, deps.clock.now())
            .await?
        {
            Some(rec) if rec.request_hash != key.request_hash => {
                return Err(ApiError::IdempotencyKeyReused)
            }
            Some(rec) => {
                if let Some(res) = replayed(&rec) {
                    return Ok(Existing::Answer(res));
                }
                if abandoned(&rec, deps) {
                    return Ok(Existing::Abandoned(rec));
                }
            }
            None => return Ok(Existing::Released),
        }
    }
    Err(ApiError::IdempotencyKeyInProgress)
}

/// On an error path: if this key already has an answer for this body, that answer.
pub async fn replay(
    account_id: &AccountId,
    key: &IdempotencyKey,
    deps: &Deps,
) -> Result<Option<Response<Body>>, ApiError> {
    match deps
        .store
        .idempotency(account_id, &key.key, deps.clock.now())
        .await?
    {
        None => Ok(None),
        Some(rec) if rec.request_hash != key.request_hash => Err(ApiError::IdempotencyKeyReused),
        Some(rec) => Ok(replayed(&rec)),
    }
}
