//! The one error a step returns: a transient failure of our own, which sends the message back
//! to the queue. Below every step.

/// A transient failure of our own (DynamoDB, SQS, Secrets Manager), never of the customer's
/// endpoint: the message goes back to the queue (a partial batch failure) and SQS retries it.
#[derive(Debug, thiserror::Error)]
pub enum TransientError {
    #[error(transparent)]
    Store(#[from] domain::StoreError),
    #[error(transparent)]
    Queue(#[from] domain::error::QueueError),
    #[error(transparent)]
    SigningKey(#[from] domain::webhook::signing_key::SigningKeyError),
    /// Another invocation holds the attempt's claim: it comes back after the visibility
    /// timeout, when that holder has finished (then it is ignored) or the lease has run out
    /// (then it is taken over).
    #[error("attempt {attempt} of event {event_id} is claimed by another invocation")]
    InFlight {
        event_id: domain::ids::EventId,
        attempt: u32,
    },
}
