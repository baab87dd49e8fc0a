//! Step 1: everything that must hold before a POST.
//!
//! The order matters for "no second POST after a 2xx": the series' delivered state is read
//! before the claim (a late duplicate of an earlier attempt stops there), and the claim tells
//! a finished attempt (its remaining writes are redone, never the POST) from one in flight
//! (handed back to the queue: its holder may still be sending, or may have died and the claim
//! is taken over after the lease). Our own failures after the claim (reading the account or
//! the signing keys) are not SQS retries: they become failed attempts on the customer's
//! schedule, with a reason in the delivery log.

use crate::{Deps, TransientError};
use domain::event_type::EventType;
use domain::model::{Account, DeliveryAttempt};
use domain::ports::queue::DeliveryMessage;
use domain::ports::store::Claim;
use domain::webhook::signing_secret::{self, SigningKeys, SigningSecretError};

/// An attempt ready to send.
pub struct Ready {
    pub msg: DeliveryMessage,
    pub series: String,
    pub payload: String,
    /// The event's type (`X-Event-Type`).
    pub event_type: EventType,
    pub url: String,
    pub api_key: String,
    /// The signing secret's keys (`webhook-signature`); which of them sign is decided when
    /// the attempt is sent.
    pub signing: SigningKeys,
    /// When the attempt started (the delivery log's `attempted_at`).
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// When the event was created (the latency metrics start there).
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// An attempt that will not be sent, and why (logged as `skipped`, never retried).
pub struct Skip {
    pub msg: DeliveryMessage,
    pub series: String,
    pub url: Option<String>,
    pub reason: &'static str,
}

/// An attempt we could not make because of an internal error of ours after claiming it
/// (logged as a failed attempt with `reason`, retried on the schedule).
pub struct Internal {
    pub msg: DeliveryMessage,
    pub series: String,
    pub url: Option<String>,
    pub reason: &'static str,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// When the event was created (the latency metrics start there).
    pub created_at: chrono::DateTime<chrono::Utc>,
}

pub enum Prepared {
    Ready(Ready),
    Skip(Skip),
    Internal(Internal),
    /// The attempt was finished earlier with this row; what followed the finish (log row,
    /// next attempt) may not have happened, so it is redone. Never POSTed again.
    Finished {
        msg: DeliveryMessage,
        row: Box<DeliveryAttempt>,
    },
    /// Nothing to do for this message (deferred, duplicate, or not ours to deliver).
    Done,
}

pub async fn prepare(body: &str, deps: &Deps) -> Result<Prepared, TransientError> {
    let msg = match DeliveryMessage::parse(body) {
        Ok(m) => m,
        Err(e) => {
            // Retrying cannot fix a message we cannot read: drop it, loudly.
            tracing::error!(error = %e, "unreadable delivery message dropped");
            return Ok(Prepared::Done);
        }
    };
    let now = deps.clock.now();
    if let Some(not_before) = msg.not_before {
        if not_before > now {
            // SQS delays top out at 15 minutes: wait the rest in another hop.
            let wait = (not_before - now).to_std().unwrap_or_default();
            deps.queue_for(&msg).send(&msg, wait).await?;
            tracing::info!(event_id = %msg.event_id, attempt = msg.attempt, wait_s = wait.as_secs(), "attempt not due yet; re-parked");
            return Ok(Prepared::Done);
        }
    }
    let series = msg.series();
    let Some(event) = deps.store.event(msg.event_id).await? else {
        tracing::warn!(event_id = %msg.event_id, "event not found (expired?); message dropped");
        return Ok(Prepared::Done);
    };
    if event.record.account_id != msg.account_id {
        tracing::error!(event_id = %msg.event_id, "message account does not own the event; dropped");
        return Ok(Prepared::Done);
    }
    if let Some(delivered) = deps.store.delivered_attempt(msg.event_id, &series).await? {
        if delivered != msg.attempt {
            // Never sent again. But this attempt may have been made and finished while its log
            // row's write failed (the reason its message came back): write that row now, so
            // the log shows every attempt whatever order they finish in. Rewriting a row that
            // exists changes nothing (same key, same content).
            if let Some(row) = deps
                .store
                .finished_attempt(msg.event_id, &series, msg.attempt)
                .await?
            {
                deps.store.record_attempt(&row).await?;
            }
            tracing::info!(event_id = %msg.event_id, attempt = msg.attempt, delivered, "series already delivered; message ignored");
            return Ok(Prepared::Done);
        }
    }
    match deps
        .store
        .claim_attempt(msg.event_id, &series, msg.attempt, now, deps.claim_lease)
        .await?
    {
        Claim::Won => {}
        Claim::InFlight => {
            return Err(TransientError::InFlight {
                event_id: msg.event_id,
                attempt: msg.attempt,
            })
        }
        Claim::Done(row) => {
            tracing::info!(event_id = %msg.event_id, attempt = msg.attempt, "attempt already made; finishing its writes");
            return Ok(Prepared::Finished { msg, row });
        }
    }
    let internal = |reason, url: Option<String>| {
        tracing::warn!(event_id = %msg.event_id, attempt = msg.attempt, reason, "internal error; logged as a failed attempt");
        Ok(Prepared::Internal(Internal {
            msg: msg.clone(),
            series: series.clone(),
            url,
            reason,
            started_at: now,
            created_at: event.record.created_at,
        }))
    };
    let Ok(account) = deps.store.account(&msg.account_id).await else {
        return internal(
            "internal error on our side while reading your integration settings; not caused by your endpoint; retried on the normal schedule",
            None,
        );
    };
    let skip = |reason, url: Option<String>| {
        Ok(Prepared::Skip(Skip {
            msg: msg.clone(),
            series: series.clone(),
            url,
            reason,
        }))
    };
    let Some(account) = account else {
        return skip("account not found", None);
    };
    if !account.plan.has_api_access() {
        return skip(
            "the plan no longer includes API & Webhooks",
            account.webhook_url,
        );
    }
    let Some(url) = account.webhook_url.clone() else {
        return skip("no webhook URL is configured", None);
    };
    let event_type = event.record.event_type;
    if !account.events.contains(&event_type) {
        // Checked at each attempt, like the URL: unsubscribing stops pending events too.
        return skip(not_subscribed(event_type), Some(url));
    }
    let Some(key) = account.api_key.as_ref() else {
        return skip("the account has no API key to sign with", Some(url));
    };
    // The API toggle is not checked: it gates API requests only (webhooks stop when the URL is
    // cleared or the plan loses the integration).
    let Ok(api_key) = deps
        .key_cache
        .get(
            deps.secrets.as_ref(),
            &deps.secret_prefix,
            &msg.account_id,
            &key.hash,
        )
        .await
    else {
        return internal(
            "internal error on our side while reading your signing key; not caused by your endpoint; retried on the normal schedule",
            Some(url),
        );
    };
    // Never sent unsigned: an account without a signing secret yet (its URL predates them)
    // gets one now; when that fails the attempt fails and is retried.
    let signing = match signing_keys(&account, &api_key, deps, now).await {
        Ok(keys) => keys,
        Err(e) => {
            tracing::warn!(event_id = %msg.event_id, error = %e, "signing secret unavailable");
            return internal(
                "internal error on our side while reading your webhook signing secret; not caused by your endpoint; retried on the normal schedule",
                Some(url),
            );
        }
    };
    Ok(Prepared::Ready(Ready {
        payload: event.record.payload,
        event_type,
        msg,
        series,
        url,
        api_key,
        signing,
        started_at: deps.clock.now(),
        created_at: event.record.created_at,
    }))
}

/// The skip reason of an event whose type the account does not receive.
fn not_subscribed(event_type: EventType) -> &'static str {
    match event_type {
        EventType::CallCompleted => "the account is not subscribed to call.completed",
        EventType::CallStarted => "the account is not subscribed to call.started",
        EventType::CallFailed => "the account is not subscribed to call.failed",
    }
}

/// The account's signing keys (`signing_secret::delivery_keys`).
async fn signing_keys(
    account: &Account,
    api_key: &str,
    deps: &Deps,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<SigningKeys, SigningSecretError> {
    signing_secret::delivery_keys(
        deps.store.as_ref(),
        deps.secrets.as_ref(),
        &deps.webhook_secret_prefix,
        &deps.secret_cache,
        account,
        api_key,
        now,
    )
    .await
}
