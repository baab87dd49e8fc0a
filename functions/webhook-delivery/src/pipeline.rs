//! The pipeline itself: the batch-wide steps, then each message through its named steps
//! (see the crate's documentation), answered as a partial batch response.

use crate::deps::Deps;
use crate::transient::TransientError;
use crate::{fair, lanes, metrics, outcome, prepare, send, slots};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use domain::ports::queue::DeliveryMessage;
use futures::future::join_all;
use std::time::Duration;

pub async fn handle(event: SqsEvent, deps: &Deps) -> SqsBatchResponse {
    // Parsed once for the batch-wide steps; `prepare` reads each body again for its own
    // (it drops an unreadable one, loudly).
    let batch: Vec<Option<DeliveryMessage>> = event
        .records
        .iter()
        .map(|r| DeliveryMessage::parse(r.body.as_deref().unwrap_or("")).ok())
        .collect();
    let health = lanes::health(&batch, deps).await;
    let until = std::time::Instant::now() + slots::SLOW_MEMORY;
    for (account, h) in &health {
        if h.has_timeouts() {
            deps.fairness.note_slow(account, until);
        }
    }
    let lanes = lanes::sort(&batch, &health, deps).await;
    let admissions = fair::admit(&batch, lanes, deps).await;
    let health = &health;
    let results = join_all(event.records.iter().zip(admissions).map(
        |(record, admission)| async move {
            let id = record.message_id.clone().unwrap_or_default();
            let result = match admission {
                fair::Admission::Reparked | fair::Admission::Moved => return None,
                fair::Admission::Failed(e) => Err(TransientError::from(e)),
                // The account's slot is held until the message is processed.
                fair::Admission::Admit(_slot) => {
                    process(record.body.as_deref().unwrap_or(""), health, deps).await
                }
            };
            match result {
                Ok(()) => None,
                Err(e) => {
                    tracing::warn!(message_id = %id, error = %e, "delivery will be retried by SQS");
                    Some(id)
                }
            }
        },
    ))
    .await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = results
        .into_iter()
        .flatten()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    response
}

/// One message, start to finish; `health` is the batch's endpoint health ([`lanes::health`]).
pub async fn process(
    body: &str,
    health: &lanes::Health,
    deps: &Deps,
) -> Result<(), TransientError> {
    let ready = match prepare::prepare(body, deps).await? {
        prepare::Prepared::Done => return Ok(()),
        prepare::Prepared::Skip(skip) => {
            metrics::skipped(&skip.msg).emit();
            return outcome::skipped(skip, deps).await;
        }
        prepare::Prepared::Internal(internal) => {
            let result = outcome::internal_result(&internal);
            attempt_line(
                &internal.msg,
                internal.created_at,
                internal.started_at,
                &result,
                deps,
            );
            return outcome::internal(internal, deps).await;
        }
        prepare::Prepared::Finished { msg, row } => {
            return outcome::complete(&msg, &row, deps).await
        }
        prepare::Prepared::Ready(ready) => ready,
    };
    let result = send::send(&ready, deps).await;
    deps.fairness.note_post(
        &ready.msg.account_id,
        Duration::from_millis(result.duration_ms),
        std::time::Instant::now(),
    );
    attempt_line(
        &ready.msg,
        ready.created_at,
        ready.started_at,
        &result,
        deps,
    );
    let recorded = if result.delivered() {
        outcome::success(&ready, &result, deps).await
    } else {
        outcome::failure(&ready, &result, deps).await
    };
    let had = health.get(&ready.msg.account_id);
    outcome::health(&ready, &result, had, deps).await;
    recorded
}

/// Emits the attempt's metric line ([`metrics::attempt`]) once its result is known, whether or
/// not its writes then succeed (the POST happened).
fn attempt_line(
    msg: &DeliveryMessage,
    created_at: chrono::DateTime<chrono::Utc>,
    started_at: chrono::DateTime<chrono::Utc>,
    result: &outbound::webhook_client::SendResult,
    deps: &Deps,
) {
    metrics::attempt(&metrics::Attempt {
        msg,
        created_at,
        started_at,
        now: deps.clock.now(),
        result,
        last: deps.schedule.delay_after(msg.attempt).is_none(),
    })
    .emit();
}
