//! The delivery log (filled in by the settings and delivery work).

use async_trait::async_trait;

/// One page of the delivery log.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryPage {
    pub attempts: Vec<crate::model::DeliveryAttempt>,
    pub next_cursor: Option<String>,
}

#[async_trait]
pub trait DeliveryLog: Send + Sync {}

#[async_trait]
impl DeliveryLog for super::DynamoStore {}
