//! The events dead-letter queue, for operators: `bvai-admin dlq list` and `dlq redrive`.
//!
//! A delivery message lands in the DLQ only after webhook-delivery itself failed on it
//! `maxReceiveCount` times (DynamoDB, SQS or Secrets Manager errors, crashes, timeouts; never a
//! customer endpoint's failure, which is retried and logged). The template alarms as soon as
//! one is there. The operator lists them readably, fixes the cause, and redrives them: each
//! message goes back to the events queue unchanged (same event, series and attempt), so the
//! delivery function's attempt claims keep a redriven message that was in fact already
//! delivered from being POSTed again.
//!
//! SQS has no "peek": listing receives the messages with a zero visibility timeout, so they
//! stay visible (and the alarm stays on) but their receive count grows by one per listing.

use crate::AdminError;
use aws_adapters::SqsQueue;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use chrono::{DateTime, Utc};
use domain::clock::rfc3339;
use domain::ports::queue::{DeliveryMessage, EventQueue};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

/// SQS's largest receive batch.
const BATCH: i32 = 10;
/// How long a message being redriven stays hidden from other readers of the DLQ.
const REDRIVE_VISIBILITY_SECS: i32 = 60;

/// The dead-letter queue and the events queue it drains back into.
pub struct DeadLetters {
    client: aws_sdk_sqs::Client,
    dlq_url: String,
    events: SqsQueue,
}

/// What `redrive` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Redriven {
    /// Sent back to the events queue and removed from the DLQ.
    pub moved: usize,
    /// Left in the DLQ: the body is not a delivery message (printed by `list`).
    pub unreadable: usize,
}

fn sqs_err(what: &str, e: impl std::fmt::Display) -> AdminError {
    AdminError::Other(format!("{what}: {e}"))
}

fn attribute_time(m: &Message, name: MessageSystemAttributeName) -> Option<String> {
    let ms: i64 = m.attributes()?.get(&name)?.parse().ok()?;
    DateTime::<Utc>::from_timestamp_millis(ms).map(rfc3339)
}

/// One dead-lettered message as `list` prints it: the delivery it stands for and its history
/// in SQS (sent, first received, how many receives).
pub fn describe(m: &Message) -> Value {
    let body = m.body().unwrap_or_default();
    let receives: Option<u64> = m
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|n| n.parse().ok());
    let mut v = json!({
        "message_id": m.message_id(),
        "sent_at": attribute_time(m, MessageSystemAttributeName::SentTimestamp),
        "first_received_at": attribute_time(m, MessageSystemAttributeName::ApproximateFirstReceiveTimestamp),
        "receive_count": receives,
    });
    match DeliveryMessage::parse(body) {
        Ok(d) => {
            v["event_id"] = json!(d.event_id.to_string());
            v["account_id"] = json!(d.account_id);
            v["call_id"] = json!(d.call_id.to_string());
            v["attempt"] = json!(d.attempt);
            v["series"] = json!(d.series());
        }
        // Not ours: shown by size only (a foreign body might hold anything).
        Err(_) => v["unreadable_body_bytes"] = json!(body.len()),
    }
    v
}

impl DeadLetters {
    pub fn new(client: aws_sdk_sqs::Client, dlq_url: &str, events_queue_url: &str) -> Self {
        DeadLetters {
            events: SqsQueue::new(client.clone(), events_queue_url),
            client,
            dlq_url: dlq_url.to_string(),
        }
    }

    async fn receive(&self, visibility: i32, max: usize) -> Result<Vec<Message>, AdminError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.dlq_url)
            .max_number_of_messages(BATCH.min(i32::try_from(max).unwrap_or(BATCH)).max(1))
            .visibility_timeout(visibility)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| {
                sqs_err(
                    "receive from the DLQ",
                    aws_sdk_sqs::error::DisplayErrorContext(e),
                )
            })?;
        Ok(out.messages.unwrap_or_default())
    }

    /// Up to `max` dead-lettered messages, described (see [`describe`]), each once.
    pub async fn list(&self, max: usize) -> Result<Vec<Value>, AdminError> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        // Visible messages come back in no particular order and may repeat: stop when a
        // receive brings nothing new.
        while out.len() < max {
            let batch = self.receive(0, max - out.len()).await?;
            let mut new = 0;
            for m in &batch {
                if seen.insert(m.message_id().unwrap_or_default().to_string()) && out.len() < max {
                    out.push(describe(m));
                    new += 1;
                }
            }
            if new == 0 {
                break;
            }
        }
        Ok(out)
    }

    /// Moves up to `max` messages back to the events queue: send first, then delete, so a
    /// failure in between leaves a duplicate (which the attempt claims absorb), never a loss.
    /// Unreadable bodies stay in the DLQ.
    pub async fn redrive(&self, max: usize) -> Result<Redriven, AdminError> {
        let mut done = Redriven::default();
        let mut unreadable = HashSet::new();
        while done.moved < max {
            let batch = self
                .receive(REDRIVE_VISIBILITY_SECS, max - done.moved)
                .await?;
            if batch.is_empty() {
                break;
            }
            let mut progress = false;
            for m in batch {
                let Ok(msg) = DeliveryMessage::parse(m.body().unwrap_or_default()) else {
                    // Visible again at once, so `list` keeps showing it.
                    self.client
                        .change_message_visibility()
                        .queue_url(&self.dlq_url)
                        .receipt_handle(m.receipt_handle().unwrap_or_default())
                        .visibility_timeout(0)
                        .send()
                        .await
                        .map_err(|e| {
                            sqs_err(
                                "release in the DLQ",
                                aws_sdk_sqs::error::DisplayErrorContext(e),
                            )
                        })?;
                    progress |= unreadable.insert(m.message_id().unwrap_or_default().to_string());
                    continue;
                };
                self.events
                    .send(&msg, Duration::ZERO)
                    .await
                    .map_err(|e| sqs_err("send to the events queue", e))?;
                self.client
                    .delete_message()
                    .queue_url(&self.dlq_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .map_err(|e| {
                        sqs_err(
                            "delete from the DLQ",
                            aws_sdk_sqs::error::DisplayErrorContext(e),
                        )
                    })?;
                done.moved += 1;
                progress = true;
            }
            if !progress {
                break;
            }
        }
        done.unreadable = unreadable.len();
        Ok(done)
    }
}
