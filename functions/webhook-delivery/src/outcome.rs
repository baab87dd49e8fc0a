//! Steps 3 and 4: record what happened; schedule the next attempt or drop the event.

use crate::prepare::{Ready, Skip};
use crate::{Deps, TransientError};
use domain::model::{DeliveryAttempt, DeliveryOutcome};
use domain::ports::queue::{DeliveryMessage, MAX_DELAY};
use outbound::webhook_client::SendResult;

pub async fn success(
    ready: &Ready,
    result: &SendResult,
    deps: &Deps,
) -> Result<(), TransientError> {
    // Marked done first: whatever fails after this, the attempt is never sent again.
    deps.store
        .finish_attempt(
            ready.msg.event_id,
            &ready.series,
            ready.msg.attempt,
            DeliveryOutcome::Delivered,
        )
        .await?;
    record(ready, result, DeliveryOutcome::Delivered, None, deps).await?;
    tracing::info!(event_id = %ready.msg.event_id, attempt = ready.msg.attempt, status = ?result.status, ms = result.duration_ms, "delivered");
    Ok(())
}

pub async fn failure(
    ready: &Ready,
    result: &SendResult,
    deps: &Deps,
) -> Result<(), TransientError> {
    let now = deps.clock.now();
    let class = result.error_class.map(|c| c.as_str()).unwrap_or("?");
    match deps.schedule.delay_after(ready.msg.attempt) {
        Some(delay) => {
            let next_at = now + chrono::Duration::from_std(delay).unwrap_or_default();
            let mut next = ready.msg.clone();
            next.attempt += 1;
            // Within SQS's limit the queue delay is exact; beyond it the message carries the
            // due time and is re-parked until then.
            next.not_before = (delay > MAX_DELAY).then_some(next_at);
            deps.queue.send(&next, delay).await?;
            record(ready, result, DeliveryOutcome::Failed, Some(next_at), deps).await?;
            deps.store
                .finish_attempt(
                    ready.msg.event_id,
                    &ready.series,
                    ready.msg.attempt,
                    DeliveryOutcome::Failed,
                )
                .await?;
            tracing::info!(event_id = %ready.msg.event_id, attempt = ready.msg.attempt, class, next_in_s = delay.as_secs(), "delivery failed; retry scheduled");
        }
        None => {
            record(ready, result, DeliveryOutcome::Dropped, None, deps).await?;
            deps.store
                .finish_attempt(
                    ready.msg.event_id,
                    &ready.series,
                    ready.msg.attempt,
                    DeliveryOutcome::Dropped,
                )
                .await?;
            tracing::warn!(event_id = %ready.msg.event_id, attempt = ready.msg.attempt, class, "delivery failed; last attempt, event dropped");
        }
    }
    Ok(())
}

pub async fn skipped(skip: Skip, deps: &Deps) -> Result<(), TransientError> {
    let attempt = DeliveryAttempt {
        account_id: skip.msg.account_id.clone(),
        event_id: skip.msg.event_id,
        call_id: skip.msg.call_id,
        attempt: skip.msg.attempt,
        attempted_at: deps.clock.now(),
        url: skip.url.clone(),
        outcome: DeliveryOutcome::Skipped,
        http_status: None,
        duration_ms: 0,
        error_class: None,
        response_excerpt: Some(skip.reason.to_string()),
        next_attempt_at: None,
    };
    deps.store.record_attempt(&attempt).await?;
    deps.store
        .finish_attempt(
            skip.msg.event_id,
            &skip.series,
            skip.msg.attempt,
            DeliveryOutcome::Skipped,
        )
        .await?;
    tracing::info!(event_id = %skip.msg.event_id, attempt = skip.msg.attempt, reason = skip.reason, "delivery skipped");
    Ok(())
}

async fn record(
    ready: &Ready,
    result: &SendResult,
    outcome: DeliveryOutcome,
    next_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
    deps: &Deps,
) -> Result<(), TransientError> {
    let msg: &DeliveryMessage = &ready.msg;
    let attempt = DeliveryAttempt {
        account_id: msg.account_id.clone(),
        event_id: msg.event_id,
        call_id: msg.call_id,
        attempt: msg.attempt,
        attempted_at: ready.started_at,
        url: Some(ready.url.clone()),
        outcome,
        http_status: result.status,
        duration_ms: result.duration_ms,
        error_class: result.error_class,
        response_excerpt: result.excerpt.clone(),
        next_attempt_at,
    };
    deps.store.record_attempt(&attempt).await?;
    Ok(())
}
