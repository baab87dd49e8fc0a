//! The one place DynamoDB's errors become `StoreError`s: throttling is `Throttled` (429)
//! wherever it shows up, a lost condition or a conflicting transaction is `Conflict`, and a
//! cancelled transaction's reasons are unpacked here and nowhere else.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::CancellationReason;
use domain::error::StoreError;

/// Maps an SDK error to a store error: throttling is its own kind so it becomes a 429.
pub(crate) fn backend<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.code() {
        Some("ProvisionedThroughputExceededException")
        | Some("ThrottlingException")
        | Some("RequestLimitExceeded") => StoreError::Throttled,
        Some("ConditionalCheckFailedException") => {
            StoreError::Conflict(e.message().unwrap_or("condition failed").to_string())
        }
        _ => StoreError::Backend(format!(
            "{}: {}",
            e.code().unwrap_or("unknown"),
            e.message().unwrap_or(&e.to_string())
        )),
    }
}

/// The reasons of a cancelled transaction, one per item in request order; empty for any
/// other error.
pub(crate) fn cancellation_reasons<R>(
    e: &SdkError<TransactWriteItemsError, R>,
) -> &[CancellationReason] {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => c.cancellation_reasons(),
        _ => &[],
    }
}

/// True when this item's condition failed.
pub(crate) fn is_condition_failure(reason: Option<&CancellationReason>) -> bool {
    reason.and_then(|r| r.code()) == Some("ConditionalCheckFailed")
}

/// True when a transaction was cancelled only because another transaction held one of its
/// items (`TransactionConflict`), with no condition failed: the same request may succeed.
pub(crate) fn only_transaction_conflicts<R>(e: &SdkError<TransactWriteItemsError, R>) -> bool {
    let codes: Vec<&str> = cancellation_reasons(e)
        .iter()
        .filter_map(|r| r.code())
        .collect();
    codes.contains(&"TransactionConflict") && !codes.contains(&"ConditionalCheckFailed")
}

/// The pause before retry `attempt + 1` of a conflicting transaction: full jitter over
/// 25 ms doubled per attempt (25, 50, 100 ms...), from `random` bits, so two writers that
/// collided do not collide again in step.
pub(crate) fn conflict_backoff(attempt: u32, random: u128) -> std::time::Duration {
    let cap_ms = 25u64 << attempt.saturating_sub(1).min(6);
    let ms = 1 + (random % u128::from(cap_ms)) as u64;
    std::time::Duration::from_millis(ms)
}

/// Turns a failed transaction into `Conflict` (a condition lost, or another transaction on the
/// same items), `Throttled` (as a throttled single request is), or a backend error.
pub(crate) fn transaction_error<R: std::fmt::Debug>(
    e: SdkError<TransactWriteItemsError, R>,
) -> StoreError {
    let codes: Vec<&str> = cancellation_reasons(&e)
        .iter()
        .filter_map(|r| r.code())
        .collect();
    if codes.contains(&"ConditionalCheckFailed") {
        return StoreError::Conflict(format!("transaction cancelled: {codes:?}"));
    }
    if codes.contains(&"TransactionConflict") {
        return StoreError::Conflict(format!("transaction conflict: {codes:?}"));
    }
    if codes.contains(&"ThrottlingError") {
        return StoreError::Throttled;
    }
    backend(e)
}

/// A conditional write's outcome as "did it apply": a lost condition is `Ok(false)`, any other
/// error stays an error.
pub(crate) fn applied<T>(res: Result<T, StoreError>) -> Result<bool, StoreError> {
    match res {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_backoff_is_jittered_under_a_doubling_cap() {
        for attempt in 1..=3u32 {
            let cap = 25u64 << (attempt - 1);
            let pauses: Vec<u64> = (0..200u128)
                .map(|r| conflict_backoff(attempt, r * 7919).as_millis() as u64)
                .collect();
            assert!(
                pauses.iter().all(|p| (1..=cap).contains(p)),
                "{attempt}: {pauses:?}"
            );
            assert!(pauses.iter().any(|p| *p != pauses[0]), "jittered");
        }
        assert!(conflict_backoff(u32::MAX, u128::MAX) <= std::time::Duration::from_millis(1600));
    }
}
