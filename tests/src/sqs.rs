//! Feeding the delivery handler: SQS events built from messages, and a pump that drives a real
//! queue the way Lambda's event source mapping does (receive a batch, invoke, delete only the
//! messages not reported as failures).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use domain::ports::queue::DeliveryMessage;
use std::future::Future;
use std::time::Duration;

/// An SQS event as Lambda delivers it, from message bodies.
pub fn event_of(bodies: &[String]) -> SqsEvent {
    let mut ev = SqsEvent::default();
    ev.records = bodies
        .iter()
        .map(|b| {
            let mut m = SqsMessage::default();
            m.message_id = Some(uuid::Uuid::new_v4().to_string());
            m.receipt_handle = Some("test-handle".into());
            m.body = Some(b.clone());
            m.event_source = Some("aws:sqs".into());
            m.aws_region = Some("us-east-1".into());
            m
        })
        .collect();
    ev
}

pub fn event_for(msgs: &[DeliveryMessage]) -> SqsEvent {
    event_of(
        &msgs
            .iter()
            .map(|m| m.to_body().expect("encode"))
            .collect::<Vec<_>>(),
    )
}

/// Receives from the queue and invokes `handler` until `done()` or `timeout`; returns the number
/// of invocations. Panics on timeout.
pub async fn pump<F, Fut>(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    handler: F,
    done: impl Fn() -> bool,
    timeout: Duration,
) -> usize
where
    F: Fn(SqsEvent) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut invocations = 0;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached within {timeout:?}"
        );
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        let msgs = out.messages();
        if msgs.is_empty() {
            continue;
        }
        let mut ev = SqsEvent::default();
        ev.records = msgs
            .iter()
            .map(|m| {
                let mut r = SqsMessage::default();
                r.message_id = m.message_id().map(str::to_string);
                r.receipt_handle = m.receipt_handle().map(str::to_string);
                r.body = m.body().map(str::to_string);
                r.event_source = Some("aws:sqs".into());
                r
            })
            .collect();
        let res = handler(ev).await;
        invocations += 1;
        let failed: Vec<&str> = res
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for m in msgs {
            if !failed.contains(&m.message_id().unwrap_or("")) {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or(""))
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }
    invocations
}

/// Messages on the queue, visible, in flight or delayed, without receiving any. What "nothing
/// was queued" must count: a retry is sent with a delay, so it is invisible to a receive (and
/// to [`drain`]) until the delay has passed.
pub async fn depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(A::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .expect("queue attributes");
    out.attributes()
        .map(|a| {
            a.values()
                .map(|v| v.parse::<u64>().expect("numeric attribute"))
                .sum()
        })
        .unwrap_or(0)
}

/// Every message currently visible on the queue (received and left alone).
pub async fn drain(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<DeliveryMessage> {
    let mut all = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .expect("receive");
        if out.messages().is_empty() {
            return all;
        }
        for m in out.messages() {
            all.push(DeliveryMessage::parse(m.body().unwrap_or("")).expect("our message"));
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(m.receipt_handle().unwrap_or(""))
                .send()
                .await
                .expect("delete");
        }
    }
}
