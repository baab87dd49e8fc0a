//! The events queue on SQS.
use async_trait::async_trait;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use domain::error::QueueError;
use domain::ports::queue::*;
use std::collections::HashMap;
use std::time::Duration;

/// The SQS adapter of [`EventQueue`].
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            queue_url: queue_url.into(),
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }
}

/// SQS's most entries in one `SendMessageBatch`.
const BATCH_LIMIT: usize = 10;

/// The message attributes every delivery message carries (for operators reading the queue).
fn attributes(msg: &DeliveryMessage) -> Result<HashMap<String, MessageAttributeValue>, QueueError> {
    let attr = |data_type: &str, value: String| {
        MessageAttributeValue::builder()
            .data_type(data_type)
            .string_value(value)
            .build()
            .map_err(|e| QueueError::Backend(e.to_string()))
    };
    Ok(HashMap::from([
        (
            "event_id".to_string(),
            attr("String", msg.event_id.to_string())?,
        ),
        (
            "attempt".to_string(),
            attr("Number", msg.attempt.to_string())?,
        ),
    ]))
}

fn backend<E: ProvideErrorMetadata + std::fmt::Display>(e: E) -> QueueError {
    QueueError::Backend(format!(
        "{}: {}",
        e.code().unwrap_or("unknown"),
        e.message().unwrap_or(&e.to_string())
    ))
}

#[async_trait]
impl EventQueue for SqsQueue {
    async fn send(&self, msg: &DeliveryMessage, delay: Duration) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(msg.to_body()?)
            .delay_seconds(delay_seconds(delay))
            // The account is the message group: SQS fair queues then serve other accounts
            // first while one account has a backlog (docs/webhooks.md, fairness).
            .message_group_id(&msg.account_id)
            .set_message_attributes(Some(attributes(msg)?))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// `SendMessageBatch`, ten messages per request; each entry succeeds or fails on its own.
    async fn send_many(
        &self,
        msgs: &[DeliveryMessage],
        delay: Duration,
    ) -> Vec<Result<(), QueueError>> {
        let mut results = Vec::with_capacity(msgs.len());
        for chunk in msgs.chunks(BATCH_LIMIT) {
            results.extend(self.send_chunk(chunk, delay).await);
        }
        results
    }
}

impl SqsQueue {
    /// One `SendMessageBatch` of at most [`BATCH_LIMIT`] messages; entry ids are the indexes.
    async fn send_chunk(
        &self,
        chunk: &[DeliveryMessage],
        delay: Duration,
    ) -> Vec<Result<(), QueueError>> {
        let mut results: Vec<Result<(), QueueError>> = Vec::with_capacity(chunk.len());
        let mut entries = Vec::with_capacity(chunk.len());
        for (i, msg) in chunk.iter().enumerate() {
            let entry = msg.to_body().and_then(|body| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .delay_seconds(delay_seconds(delay))
                    .message_group_id(&msg.account_id)
                    .set_message_attributes(Some(attributes(msg)?))
                    .build()
                    .map_err(|e| QueueError::Backend(e.to_string()))
            });
            match entry {
                Ok(e) => {
                    entries.push(e);
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        if entries.is_empty() {
            return results;
        }
        match self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(out) => {
                for failed in out.failed() {
                    if let Some(r) = failed
                        .id()
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| results.get_mut(i))
                    {
                        *r = Err(QueueError::Backend(format!(
                            "{}: {}",
                            failed.code(),
                            failed.message().unwrap_or("")
                        )));
                    }
                }
            }
            Err(e) => {
                let why = backend(e);
                for r in results.iter_mut().filter(|r| r.is_ok()) {
                    *r = Err(QueueError::Backend(why.to_string()));
                }
            }
        }
        results
    }
}
