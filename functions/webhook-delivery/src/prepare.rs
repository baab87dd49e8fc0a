//! Step 1: everything that must hold before a POST.

use crate::{Deps, TransientError};
use domain::model::Account;
use domain::ports::queue::DeliveryMessage;
use domain::ports::store::Claim;

/// An attempt ready to send.
pub struct Ready {
    pub msg: DeliveryMessage,
    pub series: String,
    pub payload: String,
    pub url: String,
    pub api_key: String,
    /// When the attempt started (the delivery log's `attempted_at`).
    pub started_at: chrono::DateTime<chrono::Utc>,
}

/// An attempt that will not be sent, and why (logged as `skipped`, never retried).
pub struct Skip {
    pub msg: DeliveryMessage,
    pub series: String,
    pub url: Option<String>,
    pub reason: &'static str,
}

pub enum Prepared {
    Ready(Ready),
    Skip(Skip),
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
            deps.queue.send(&msg, wait).await?;
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
    let claim = deps
        .store
        .claim_attempt(msg.event_id, &series, msg.attempt, now, deps.claim_lease)
        .await?;
    if claim == Claim::Taken {
        tracing::info!(event_id = %msg.event_id, attempt = msg.attempt, "attempt already made; duplicate message ignored");
        return Ok(Prepared::Done);
    }
    let account = deps.store.account(&msg.account_id).await?;
    let skip = |reason, url: Option<String>| {
        Ok(Prepared::Skip(Skip {
            msg: msg.clone(),
            series: series.clone(),
            url,
            reason,
        }))
    };
    let Some(Account {
        plan,
        api_enabled,
        webhook_url,
        api_key,
        ..
    }) = account
    else {
        return skip("account not found", None);
    };
    if !plan.has_api_access() {
        return skip("the plan no longer includes API & Webhooks", webhook_url);
    }
    if !api_enabled {
        return skip("API access is disabled", webhook_url);
    }
    let Some(url) = webhook_url else {
        return skip("no webhook URL is configured", None);
    };
    let Some(key) = api_key else {
        return skip("the account has no API key to sign with", Some(url));
    };
    let api_key = deps
        .key_cache
        .get(
            deps.secrets.as_ref(),
            &deps.secret_prefix,
            &msg.account_id,
            &key.hash,
        )
        .await?;
    Ok(Prepared::Ready(Ready {
        payload: event.record.payload,
        msg,
        series,
        url,
        api_key,
        started_at: deps.clock.now(),
    }))
}
