//! The SQS consumer that delivers `call.completed` events to customers' endpoints.
//!
//! A pipeline of small named steps, in the manner of Svix's server: [`prepare`] (parse the
//! message, honour `not_before`, load the event, claim the attempt, read the integration and
//! the signing key), [`send`] (sign and POST the stored bytes), then [`outcome::success`] or
//! [`outcome::failure`] (log the attempt; schedule the next one or drop the event).
//!
//! `handle` answers with a partial batch response: only messages that hit a transient
//! error (DynamoDB, SQS, Secrets Manager) come back. The messages of a batch are processed
//! concurrently.

pub mod outcome;
pub mod prepare;
pub mod send;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use domain::clock::Clock;
use domain::ports::queue::EventQueue;
use domain::ports::secrets::SecretStore;
use domain::ports::store::Store;
use domain::webhook::schedule::RetrySchedule;
use domain::webhook::signing_key::KeyCache;
use futures::future::join_all;
use outbound::webhook_client::WebhookClient;
use std::sync::Arc;
use std::time::Duration;

/// What the function needs, built once per cold start.
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub secrets: Arc<dyn SecretStore>,
    pub key_cache: KeyCache,
    pub secret_prefix: String,
    pub queue: Arc<dyn EventQueue>,
    pub client: WebhookClient,
    pub schedule: RetrySchedule,
    pub clock: Arc<dyn Clock>,
    /// How long a claimed attempt is reserved for its sender (more than the HTTP timeout).
    pub claim_lease: Duration,
}

/// Transient failures: the message is returned to the queue and retried by SQS.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Store(#[from] domain::StoreError),
    #[error(transparent)]
    Queue(#[from] domain::error::QueueError),
    #[error(transparent)]
    SigningKey(#[from] domain::webhook::signing_key::SigningKeyError),
}

pub async fn handle(event: SqsEvent, deps: &Deps) -> SqsBatchResponse {
    let results = join_all(event.records.iter().map(|record| async move {
        let id = record.message_id.clone().unwrap_or_default();
        match process(record.body.as_deref().unwrap_or(""), deps).await {
            Ok(()) => None,
            Err(e) => {
                tracing::warn!(message_id = %id, error = %e, "delivery will be retried by SQS");
                Some(id)
            }
        }
    }))
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

/// One message, start to finish.
pub async fn process(body: &str, deps: &Deps) -> Result<(), DeliveryError> {
    let ready = match prepare::prepare(body, deps).await? {
        prepare::Prepared::Done => return Ok(()),
        prepare::Prepared::Skip(skip) => return outcome::skipped(skip, deps).await,
        prepare::Prepared::Ready(ready) => ready,
    };
    let result = send::send(&ready, deps).await;
    if result.delivered() {
        outcome::success(&ready, &result, deps).await
    } else {
        outcome::failure(&ready, &result, deps).await
    }
}
