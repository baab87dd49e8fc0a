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
