//! The events queue: the port the call-completion and delivery functions send through (its
//! SQS adapter is `aws_adapters::sqs`), and the message they exchange.
//!
//! A message never carries the webhook payload itself. The payload (which holds the whole
//! transcript and can be far beyond SQS's 256 KiB) stays in DynamoDB under its event id; the
//! message only says which event to deliver, for which account, and which attempt this is.

use crate::error::QueueError;
use crate::ids::{AccountId, CallId, EventId};
use crate::model::DeliveryTrigger;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use port_macro::port;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

/// SQS's largest `DelaySeconds`. Longer delays are honoured by the consumer, which re-sends the
/// message with `not_before` until the time has come.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

/// The series of an event's first delivery and its retries.
pub const ORIGINAL_SERIES: &str = "original";
/// The series of a redelivery or recovery is this prefix and its id (`DeliveryMessage::redelivery`).
pub const REDELIVERY_SERIES_PREFIX: &str = "redelivery-";

/// One delivery to make: the body of an events-queue message (JSON).
/// Unknown fields are ignored, so a consumer deployed before a producer that adds one keeps
/// working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryMessage {
    /// The stored event (`EVENT#{event_id}`) whose payload is sent.
    pub event_id: crate::ids::EventId,
    pub account_id: crate::ids::AccountId,
    pub call_id: crate::ids::CallId,
    /// 1 for the first delivery, 2.. for the retries. Tracked here, durably, never inferred
    /// from SQS's receive count.
    pub attempt: u32,
    /// Do not deliver before this time (RFC 3339). Set when a delay is longer than SQS allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    /// Set on a manual redelivery: a new attempt series (attempts 1.. again) of the same event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redelivery: Option<Uuid>,
    /// What started the series, for the delivery log: set by redeliveries (`redelivery`) and
    /// recoveries (`recovery`); absent on automatic deliveries (and on redeliveries queued
    /// before it existed, which [`DeliveryMessage::trigger`] tells by `redelivery`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<DeliveryTrigger>,
    /// A first attempt moved to the retries lane because its endpoint is hanging
    /// (`domain::ports::store::endpoints`); absent otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub diverted: bool,
    /// When a retry was due (the failed attempt's `next_attempt_at`), for the delivery
    /// function's `DeliveryDueLag` metric only; absent on first attempts (due at the event's
    /// creation) and on messages queued before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
}

impl DeliveryMessage {
    /// The first delivery of an event.
    pub fn first(event_id: EventId, account_id: impl Into<AccountId>, call_id: CallId) -> Self {
        DeliveryMessage {
            event_id,
            account_id: account_id.into(),
            call_id,
            attempt: 1,
            not_before: None,
            redelivery: None,
            trigger: None,
            diverted: false,
            due_at: None,
        }
    }

    /// True when the message belongs on the retries lane (the retries queue and its own event
    /// source mapping, where one is configured): every retry, and a first attempt whose
    /// endpoint is hanging. First attempts to answering endpoints never wait behind them
    /// (docs/webhooks.md, "Two lanes").
    pub fn on_retries_lane(&self) -> bool {
        self.attempt > 1 || self.diverted
    }

    /// What made this attempt's series (the delivery log's `trigger`).
    pub fn trigger(&self) -> DeliveryTrigger {
        match (self.trigger, self.redelivery) {
            (Some(t), _) => t,
            (None, Some(_)) => DeliveryTrigger::Redelivery,
            (None, None) => DeliveryTrigger::Automatic,
        }
    }

    /// The attempt series this message belongs to: the original delivery or one redelivery.
    pub fn series(&self) -> String {
        match self.redelivery {
            Some(id) => format!("{REDELIVERY_SERIES_PREFIX}{id}"),
            None => ORIGINAL_SERIES.to_string(),
        }
    }

    pub fn to_body(&self) -> Result<String, QueueError> {
        serde_json::to_string(self).map_err(|e| QueueError::Backend(format!("encode message: {e}")))
    }

    /// Parses a message body; a body that is not ours is an error the consumer logs and drops.
    pub fn parse(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }
}

/// Sends delivery messages. The delivery function reuses it for retries.
#[port]
#[async_trait]
pub trait EventQueue: Send + Sync {
    /// Enqueues `msg`, visible after `delay` (capped at [`MAX_DELAY`]).
    async fn send(&self, msg: &DeliveryMessage, delay: Duration) -> Result<(), QueueError>;

    /// Enqueues each of `msgs`, visible after `delay`; one result per message, in order (a
    /// failure of one leaves the others sent). The default sends them one by one; the SQS
    /// adapter sends ten per request, which is what the delivery function's re-parking of a
    /// busy account's messages needs to stay cheap.
    async fn send_many(
        &self,
        msgs: &[DeliveryMessage],
        delay: Duration,
    ) -> Vec<Result<(), QueueError>> {
        let mut results = Vec::with_capacity(msgs.len());
        for msg in msgs {
            results.push(self.send(msg, delay).await);
        }
        results
    }
}

/// Whole seconds of `delay`, capped at SQS's limit (sub-second parts round up, so a message is
/// never visible earlier than asked).
pub fn delay_seconds(delay: Duration) -> i32 {
    let capped = delay.min(MAX_DELAY);
    let secs = capped.as_secs() + u64::from(capped.subsec_nanos() > 0);
    secs.min(MAX_DELAY.as_secs()) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_shape() {
        let id = Uuid::parse_str("6f1c2d3e-4b5a-4c6d-8e7f-901a2b3c4d5e").unwrap();
        let call = Uuid::parse_str("4b0d6c1e-8a57-4c1e-9a0e-2f3b5d7c9e11").unwrap();
        let m = DeliveryMessage::first(id.into(), "acct_01", call.into());
        assert_eq!(
            m.to_body().unwrap(),
            r#"{"event_id":"6f1c2d3e-4b5a-4c6d-8e7f-901a2b3c4d5e","account_id":"acct_01","call_id":"4b0d6c1e-8a57-4c1e-9a0e-2f3b5d7c9e11","attempt":1}"#
        );
        assert_eq!(DeliveryMessage::parse(&m.to_body().unwrap()).unwrap(), m);

        let later = DeliveryMessage {
            attempt: 3,
            not_before: Some(
                DateTime::parse_from_rfc3339("2025-06-15T15:05:00Z")
                    .unwrap()
                    .into(),
            ),
            ..m
        };
        let body = later.to_body().unwrap();
        assert!(
            body.ends_with(r#""attempt":3,"not_before":"2025-06-15T15:05:00Z"}"#),
            "{body}"
        );
        assert_eq!(DeliveryMessage::parse(&body).unwrap(), later);
        assert!(DeliveryMessage::parse(r#"{"event_id":"x"}"#).is_err());
    }

    #[test]
    fn delays_are_capped_and_round_up() {
        assert_eq!(delay_seconds(Duration::ZERO), 0);
        assert_eq!(delay_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(delay_seconds(Duration::from_secs(30)), 30);
        assert_eq!(delay_seconds(Duration::from_secs(1800)), 900);
    }
}
