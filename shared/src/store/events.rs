//! Stored `call.completed` events (filled in by the call-completion work).

use async_trait::async_trait;

/// Port for stored events. Methods are added by the call-completion and delivery work.
#[async_trait]
pub trait EventStore: Send + Sync {}

#[async_trait]
impl EventStore for super::DynamoStore {}
