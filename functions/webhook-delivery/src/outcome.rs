//! Steps 3 and 4: record what happened; schedule the next attempt or drop the event.
//!
//! The order of the writes is what keeps a re-run (SQS redelivery after any single failed
//! write, a crash, a whole-batch timeout) from sending again or losing a log row:
//!
//! 1. `finish_attempt` with the attempt's log row. After a 2xx this is the only write between
//!    the POST and "never POST again" (the series is delivered from here on): the one window
//!    in which a failure leads to a duplicate POST.
//! 2. The next attempt's message (failures with attempts left). A duplicate of it is harmless:
//!    the next attempt's own claim lets it be sent once.
//! 3. The log row. Rewriting it is idempotent (same key).
//!
//! A re-run that finds the attempt finished ([`complete`]) redoes 2 and 3 from the stored row.

use crate::prepare::{Internal, Ready, Skip};
use crate::{Deps, TransientError};
use chrono::{DateTime, Utc};
use domain::model::{DeliveryAttempt, DeliveryErrorClass, DeliveryOutcome};
use domain::ports::queue::{DeliveryMessage, MAX_DELAY};
use domain::ports::store::EndpointHealth;
use outbound::webhook_client::SendResult;

pub async fn success(
    ready: &Ready,
    result: &SendResult,
    deps: &Deps,
) -> Result<(), TransientError> {
    let row = row(
        &ready.msg,
        ready.started_at,
        Some(ready.url.clone()),
        result,
        DeliveryOutcome::Delivered,
        None,
    );
    finish(&ready.series, &row, deps).await?;
    tracing::info!(event_id = %ready.msg.event_id, attempt = ready.msg.attempt, status = ?result.status, ms = result.duration_ms, "delivered");
    Ok(())
}

pub async fn failure(
    ready: &Ready,
    result: &SendResult,
    deps: &Deps,
) -> Result<(), TransientError> {
    failed(
        &ready.msg,
        &ready.series,
        ready.started_at,
        Some(ready.url.clone()),
        result,
        deps,
    )
    .await
}

/// Our own failure after the claim: a failed attempt like any other, so the customer sees it
/// in the log with a reason and it is retried on the same schedule (not through SQS
/// redelivery, which would end in the dead-letter queue unseen by the customer).
pub async fn internal(internal: Internal, deps: &Deps) -> Result<(), TransientError> {
    let result = internal_result(&internal);
    failed(
        &internal.msg,
        &internal.series,
        internal.started_at,
        internal.url,
        &result,
        deps,
    )
    .await
}

/// The result an internal failure is logged with: no status, class `internal`, the reason.
pub fn internal_result(internal: &Internal) -> SendResult {
    SendResult {
        status: None,
        duration_ms: 0,
        error_class: Some(DeliveryErrorClass::Internal),
        excerpt: Some(internal.reason.to_string()),
    }
}

pub async fn skipped(skip: Skip, deps: &Deps) -> Result<(), TransientError> {
    let result = SendResult {
        status: None,
        duration_ms: 0,
        error_class: None,
        excerpt: Some(skip.reason.to_string()),
    };
    let row = row(
        &skip.msg,
        deps.clock.now(),
        skip.url.clone(),
        &result,
        DeliveryOutcome::Skipped,
        None,
    );
    finish(&skip.series, &row, deps).await?;
    tracing::info!(event_id = %skip.msg.event_id, attempt = skip.msg.attempt, reason = skip.reason, "delivery skipped");
    Ok(())
}

/// A re-run of an attempt finished earlier: redo what follows the finish (the next attempt's
/// message, the log row) from the stored row. Never sends.
pub async fn complete(
    msg: &DeliveryMessage,
    row: &DeliveryAttempt,
    deps: &Deps,
) -> Result<(), TransientError> {
    if let Some(next_at) = row.next_attempt_at {
        schedule_next(msg, next_at, deps).await?;
    }
    deps.store.record_attempt(row).await?;
    Ok(())
}

async fn failed(
    msg: &DeliveryMessage,
    series: &str,
    started_at: DateTime<Utc>,
    url: Option<String>,
    result: &SendResult,
    deps: &Deps,
) -> Result<(), TransientError> {
    let class = result.error_class.map(|c| c.as_str()).unwrap_or("?");
    match deps.schedule.delay_after(msg.attempt) {
        Some(delay) => {
            // Counted from the start of the failed attempt, as the spec words it.
            let next_at = started_at + chrono::Duration::from_std(delay).unwrap_or_default();
            let row = row(
                msg,
                started_at,
                url,
                result,
                DeliveryOutcome::Failed,
                Some(next_at),
            );
            deps.store.finish_attempt(series, &row).await?;
            schedule_next(msg, next_at, deps).await?;
            deps.store.record_attempt(&row).await?;
            tracing::warn!(event_id = %msg.event_id, attempt = msg.attempt, class, next_at = %next_at, "delivery failed; retry scheduled");
        }
        None => {
            let row = row(msg, started_at, url, result, DeliveryOutcome::Dropped, None);
            finish(series, &row, deps).await?;
            tracing::warn!(event_id = %msg.event_id, attempt = msg.attempt, class, "delivery failed; last attempt, event dropped");
        }
    }
    Ok(())
}

/// Finish, then log: for outcomes with nothing to schedule.
async fn finish(series: &str, row: &DeliveryAttempt, deps: &Deps) -> Result<(), TransientError> {
    deps.store.finish_attempt(series, row).await?;
    deps.store.record_attempt(row).await?;
    Ok(())
}

/// Queues attempt `msg.attempt + 1` for `next_at` (now, if that has passed). Within SQS's
/// limit the queue delay is exact; beyond it the message carries the due time and is
/// re-parked until then.
async fn schedule_next(
    msg: &DeliveryMessage,
    next_at: DateTime<Utc>,
    deps: &Deps,
) -> Result<(), TransientError> {
    let wait = (next_at - deps.clock.now()).to_std().unwrap_or_default();
    let mut next = msg.clone();
    next.attempt += 1;
    next.not_before = (wait > MAX_DELAY).then_some(next_at);
    next.due_at = Some(next_at);
    deps.queue_for(&next).send(&next, wait).await?;
    Ok(())
}

/// The endpoint's fleet-wide health after an attempt (`domain::ports::store::endpoints`): a
/// timeout counts one more, the first answer after timeouts clears the count; nothing is
/// written for an endpoint that answers and had no timeouts. Advisory: a failed write is
/// logged and the delivery goes on.
pub async fn health(ready: &Ready, result: &SendResult, had: Option<&EndpointHealth>, deps: &Deps) {
    let account = &ready.msg.account_id;
    let written = if result.error_class == Some(DeliveryErrorClass::Timeout) {
        deps.store
            .record_endpoint_timeout(account, &ready.url, ready.started_at)
            .await
            .map(|n| tracing::info!(event_id = %ready.msg.event_id, timeouts = n, "endpoint timed out"))
    } else if had.is_some_and(EndpointHealth::has_timeouts) && result.status.is_some() {
        deps.store.clear_endpoint_health(account).await
    } else {
        Ok(())
    };
    if let Err(e) = written {
        tracing::warn!(event_id = %ready.msg.event_id, error = %e, "endpoint health not updated");
    }
}

fn row(
    msg: &DeliveryMessage,
    attempted_at: DateTime<Utc>,
    url: Option<String>,
    result: &SendResult,
    outcome: DeliveryOutcome,
    next_attempt_at: Option<DateTime<Utc>>,
) -> DeliveryAttempt {
    DeliveryAttempt {
        account_id: msg.account_id.clone(),
        event_id: msg.event_id,
        call_id: msg.call_id,
        attempt: msg.attempt,
        attempted_at,
        url,
        outcome,
        http_status: result.status,
        duration_ms: result.duration_ms,
        error_class: result.error_class,
        response_excerpt: result.excerpt.clone(),
        next_attempt_at,
        trigger: msg.trigger(),
    }
}
