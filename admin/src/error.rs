//! What an operator task can fail with: below the tasks (`crate::Admin`'s and `crate::dlq`'s),
//! which all return it.

use domain::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("DynamoDB table {table}: {source}")]
    Store { table: String, source: StoreError },
    #[error("{0}")]
    Other(String),
}
