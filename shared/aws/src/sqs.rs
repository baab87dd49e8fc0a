//! The events queue on SQS.
use async_trait::async_trait;
use aws_sdk_sqs::types::MessageAttributeValue;
use domain::error::QueueError;
use domain::ports::queue::*;
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

#[async_trait]
impl EventQueue for SqsQueue {
    async fn send(&self, msg: &DeliveryMessage, delay: Duration) -> Result<(), QueueError> {
        let attr = |data_type: &str, value: String| {
            MessageAttributeValue::builder()
                .data_type(data_type)
                .string_value(value)
                .build()
                .map_err(|e| QueueError::Backend(e.to_string()))
        };
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(msg.to_body()?)
            .delay_seconds(delay_seconds(delay))
            // The account is the message group: SQS fair queues then serve other accounts
            // first while one account has a backlog (docs/webhooks.md, fairness).
            .message_group_id(&msg.account_id)
            .message_attributes("event_id", attr("String", msg.event_id.to_string())?)
            .message_attributes("attempt", attr("Number", msg.attempt.to_string())?)
            .send()
            .await
            .map_err(|e| {
                use aws_sdk_sqs::error::ProvideErrorMetadata;
                QueueError::Backend(format!(
                    "{}: {}",
                    e.code().unwrap_or("unknown"),
                    e.message().unwrap_or(&e.to_string())
                ))
            })?;
        Ok(())
    }
}
