//! A local stand-in for Lambda's SQS event source mapping (moto cannot invoke Lambda).
//!
//! It does what the mapping with `FunctionResponseTypes: [ReportBatchItemFailures]` does:
//! long-poll `ReceiveMessage` (all system and message attributes), hand the batch to the
//! handler as an `SqsEvent` shaped exactly like Lambda's, then delete the messages the handler
//! did not report in `batchItemFailures`. A failed message is left alone: it becomes visible
//! again after the queue's visibility timeout, and its receive count goes up. If the handler
//! errs or panics, or reports an item identifier that is not in the batch, the whole batch
//! counts as failed and nothing is deleted — Lambda's rules too.
//!
//! Like the mapping it also runs up to [`PollerConfig::concurrency`] batches at once (the
//! template's `ScalingConfig.MaximumConcurrency`), fails a whole batch whose handler outlives
//! [`PollerConfig::function_timeout`] (the function's `Timeout`: Lambda stops the invocation,
//! nothing is deleted, the messages come back after the visibility timeout), and gathers a
//! batch for up to [`PollerConfig::batching_window`] (`MaximumBatchingWindowInSeconds`) until
//! it holds `batch_size` messages. The defaults are the template's values, which the template
//! drift test checks; `POLLER_CONCURRENCY` and `POLLER_FUNCTION_TIMEOUT` override two of them.

use aws_lambda_events::encodings::Base64Data;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
};
use futures::future::BoxFuture;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Environment: how many batches run at once (default [`DEFAULT_CONCURRENCY`]).
pub const POLLER_CONCURRENCY: &str = "POLLER_CONCURRENCY";
/// Environment: how long one batch may run before it fails as a whole (`30s`, `500ms`; default
/// [`DEFAULT_FUNCTION_TIMEOUT`]).
pub const POLLER_FUNCTION_TIMEOUT: &str = "POLLER_FUNCTION_TIMEOUT";

/// template.yaml, the delivery function's SQS event: `BatchSize`.
pub const DEFAULT_BATCH_SIZE: i32 = 10;
/// template.yaml, the delivery function's SQS events: `MaximumBatchingWindowInSeconds` (the
/// `DeliveryBatchingWindow` parameter's default).
pub const DEFAULT_BATCHING_WINDOW: Duration = Duration::ZERO;
/// template.yaml, the delivery function's first-attempts SQS event:
/// `ScalingConfig.MaximumConcurrency` with `Scale=small`.
pub const DEFAULT_CONCURRENCY: usize = 10;
/// template.yaml, the delivery function's retries SQS event: `ScalingConfig.MaximumConcurrency`
/// with `Scale=small`.
pub const RETRIES_CONCURRENCY: usize = 5;
/// template.yaml, the delivery function's `Timeout`.
pub const DEFAULT_FUNCTION_TIMEOUT: Duration = Duration::from_secs(30);

/// The error type a delivery handler may return (like `lambda_runtime::Error`).
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// An SQS-triggered Lambda handler as the poller calls it.
pub type SqsHandler = Arc<
    dyn Fn(SqsEvent) -> BoxFuture<'static, Result<SqsBatchResponse, HandlerError>> + Send + Sync,
>;

/// Wraps an infallible async handler, e.g.
/// `sqs_handler(move |ev| { let d = deps.clone(); async move { webhook_delivery::handle(ev, &d).await } })`.
pub fn sqs_handler<F, Fut>(f: F) -> SqsHandler
where
    F: Fn(SqsEvent) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = SqsBatchResponse> + Send + 'static,
{
    Arc::new(move |ev| {
        let fut = f(ev);
        Box::pin(async move { Ok(fut.await) })
    })
}

/// Wraps a fallible async handler (an `Err` fails the whole batch).
pub fn fallible_sqs_handler<F, Fut>(f: F) -> SqsHandler
where
    F: Fn(SqsEvent) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<SqsBatchResponse, HandlerError>> + Send + 'static,
{
    Arc::new(move |ev| Box::pin(f(ev)))
}

#[derive(Debug, thiserror::Error)]
pub enum PollerError {
    #[error("batch size must be 1..=10 (SQS returns at most 10 messages per receive), got {0}")]
    BatchSize(i32),
    #[error("long-poll wait must be 0..=20 seconds, got {0}")]
    WaitTime(i32),
    #[error("batching window must be at most 300 seconds, got {0:?}")]
    BatchingWindow(Duration),
    #[error("concurrency must be 1..=1000 batches (Lambda's MaximumConcurrency range is 2..=1000), got {0}")]
    Concurrency(usize),
    #[error("function timeout must be 1 ms..=900 s (Lambda's limit), got {0:?}")]
    FunctionTimeout(Duration),
    #[error("{name}: {reason}")]
    Env { name: &'static str, reason: String },
    #[error("SQS {operation} failed: {message}")]
    Sqs {
        operation: &'static str,
        message: String,
    },
}

fn sqs_error<E: ProvideErrorMetadata + std::fmt::Display>(
    operation: &'static str,
) -> impl FnOnce(E) -> PollerError {
    move |e| PollerError::Sqs {
        operation,
        message: match (e.code(), e.message()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.to_string(),
            _ => e.to_string(),
        },
    }
}

/// How the poller receives and invokes. The defaults are the template's event source mapping
/// and function timeout (checked by the template drift test).
#[derive(Debug, Clone)]
pub struct PollerConfig {
    /// Messages per batch, 1..=10 (the template's `BatchSize: 10`).
    pub batch_size: i32,
    /// Long-poll wait per receive, 0..=20 s (Lambda's pollers use 20).
    pub wait_time_seconds: i32,
    /// After the first message of a batch, keep receiving for up to this long until the batch
    /// is full (`MaximumBatchingWindowInSeconds`; zero hands over what the first receive got).
    pub batching_window: Duration,
    /// Batches handled at once (`ScalingConfig.MaximumConcurrency`).
    pub concurrency: usize,
    /// A batch still running after this fails as a whole, as a Lambda timeout does.
    pub function_timeout: Duration,
    /// Pause after a failed receive, so a dead emulator does not spin the loop.
    pub error_backoff: Duration,
}

impl Default for PollerConfig {
    fn default() -> Self {
        PollerConfig {
            batch_size: DEFAULT_BATCH_SIZE,
            wait_time_seconds: 20,
            batching_window: DEFAULT_BATCHING_WINDOW,
            concurrency: DEFAULT_CONCURRENCY,
            function_timeout: DEFAULT_FUNCTION_TIMEOUT,
            error_backoff: Duration::from_secs(1),
        }
    }
}

impl PollerConfig {
    /// The retries lane's event source (`Scale=small`): the same settings, at most
    /// [`RETRIES_CONCURRENCY`] batches at once.
    pub fn retries() -> PollerConfig {
        PollerConfig {
            concurrency: RETRIES_CONCURRENCY,
            ..PollerConfig::default()
        }
    }

    /// The defaults with `POLLER_CONCURRENCY` and `POLLER_FUNCTION_TIMEOUT` read through `get`
    /// (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<PollerConfig, PollerError> {
        let mut c = PollerConfig::default();
        if let Some(v) = get(POLLER_CONCURRENCY) {
            c.concurrency = v.trim().parse().map_err(|_| PollerError::Env {
                name: POLLER_CONCURRENCY,
                reason: format!("must be a whole number of batches, got {v:?}"),
            })?;
        }
        if let Some(v) = get(POLLER_FUNCTION_TIMEOUT) {
            c.function_timeout =
                domain::config::parse_duration(&v).map_err(|e| PollerError::Env {
                    name: POLLER_FUNCTION_TIMEOUT,
                    reason: e.to_string(),
                })?;
        }
        c.validate()?;
        Ok(c)
    }

    /// Lambda's limits (and SQS's, for the receive).
    pub fn validate(&self) -> Result<(), PollerError> {
        if !(1..=10).contains(&self.batch_size) {
            return Err(PollerError::BatchSize(self.batch_size));
        }
        if !(0..=20).contains(&self.wait_time_seconds) {
            return Err(PollerError::WaitTime(self.wait_time_seconds));
        }
        if self.batching_window > Duration::from_secs(300) {
            return Err(PollerError::BatchingWindow(self.batching_window));
        }
        if !(1..=1000).contains(&self.concurrency) {
            return Err(PollerError::Concurrency(self.concurrency));
        }
        if self.function_timeout.is_zero() || self.function_timeout > Duration::from_secs(900) {
            return Err(PollerError::FunctionTimeout(self.function_timeout));
        }
        Ok(())
    }
}

/// What one receive-handle-delete round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub received: usize,
    pub deleted: usize,
    /// Message ids left on the queue (reported failures, or the whole batch).
    pub failed: Vec<String>,
    /// Set when the whole batch failed: handler error, panic, or a bad item identifier.
    pub batch_error: Option<String>,
}

pub struct Poller {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    queue_arn: String,
    region: String,
    config: PollerConfig,
    handler: SqsHandler,
}

impl Poller {
    /// Looks up the queue's ARN (it goes into every record's `eventSourceARN`).
    pub async fn new(
        sqs: aws_sdk_sqs::Client,
        queue_url: impl Into<String>,
        config: PollerConfig,
        handler: SqsHandler,
    ) -> Result<Poller, PollerError> {
        config.validate()?;
        // Long polls wait up to `wait_time_seconds` for an answer by design: the functions'
        // SDK timeouts (a few seconds per request) would cut every one of them short.
        let long_poll =
            std::time::Duration::from_secs(config.wait_time_seconds.unsigned_abs().into())
                + std::time::Duration::from_secs(10);
        let timeouts = sqs
            .config()
            .timeout_config()
            .map(|t| t.to_builder())
            .unwrap_or_default()
            .operation_attempt_timeout(long_poll)
            .operation_timeout(long_poll * 3)
            .build();
        let sqs = aws_sdk_sqs::Client::from_conf(
            sqs.config().to_builder().timeout_config(timeouts).build(),
        );
        let queue_url = queue_url.into();
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(sqs_error("GetQueueAttributes"))?;
        let queue_arn = attrs
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .ok_or_else(|| PollerError::Sqs {
                operation: "GetQueueAttributes",
                message: "no QueueArn in the answer".into(),
            })?;
        // The region is the ARN's fourth field: arn:aws:sqs:<region>:<account>:<name>.
        let region = queue_arn
            .split(':')
            .nth(3)
            .unwrap_or("us-east-1")
            .to_string();
        Ok(Poller {
            sqs,
            queue_url,
            queue_arn,
            region,
            config,
            handler,
        })
    }

    pub fn queue_arn(&self) -> &str {
        &self.queue_arn
    }

    /// One receive of up to `max` messages, waiting up to `wait_seconds` for the first.
    async fn receive(&self, max: i32, wait_seconds: i32) -> Result<Vec<Message>, PollerError> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max)
            .wait_time_seconds(wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(sqs_error("ReceiveMessage"))?;
        Ok(out.messages.unwrap_or_default())
    }

    /// A batch as the mapping gathers it: a long poll for the first messages, then more
    /// receives until the batch is full or the batching window (counted from the first
    /// message) has passed. A receive is never cut short: a cancelled receive could have taken
    /// messages that nobody would then see until their visibility timeout.
    async fn gather(&self) -> Result<Vec<Message>, PollerError> {
        let size = self.config.batch_size;
        let mut messages = self.receive(size, self.config.wait_time_seconds).await?;
        if messages.is_empty() || self.config.batching_window.is_zero() {
            return Ok(messages);
        }
        let deadline = Instant::now() + self.config.batching_window;
        while (messages.len() as i32) < size {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            // SQS waits in whole seconds; under one second left, wait it out and look once more.
            let wait = left.as_secs().min(20) as i32;
            if wait == 0 {
                tokio::time::sleep(left).await;
            }
            let more = self.receive(size - messages.len() as i32, wait).await?;
            messages.extend(more);
            if wait == 0 {
                break;
            }
        }
        Ok(messages)
    }

    /// One round: gather a batch, call the handler if anything came (failing the whole batch
    /// if it outlives the function timeout), delete successes.
    pub async fn poll_once(&self) -> Result<BatchOutcome, PollerError> {
        let messages = self.gather().await?;
        if messages.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let mut event = SqsEvent::default();
        event.records = messages.iter().map(|m| self.record(m)).collect();
        let ids: Vec<String> = event
            .records
            .iter()
            .map(|r| r.message_id.clone().unwrap_or_default())
            .collect();
        let received = ids.len();

        let task = tokio::spawn((self.handler)(event));
        let abort = task.abort_handle();
        let result = tokio::time::timeout(self.config.function_timeout, task).await;
        let failures = match result {
            Ok(Ok(Ok(response))) => failed_ids(&ids, &response),
            Ok(Ok(Err(e))) => Err(format!("handler returned an error: {e}")),
            Ok(Err(e)) if e.is_panic() => Err("handler panicked".to_string()),
            Ok(Err(e)) => Err(format!("handler task failed: {e}")),
            Err(_) => {
                // Lambda stops a timed-out invocation: whatever it was doing does not go on.
                abort.abort();
                Err(format!(
                    "handler timed out after {:?} (the function timeout)",
                    self.config.function_timeout
                ))
            }
        };
        let failed: HashSet<String> = match failures {
            Ok(f) => f,
            Err(why) => {
                tracing::warn!(
                    target: "poller",
                    "batch of {received} failed as a whole ({why}); nothing deleted, the messages return after the visibility timeout"
                );
                return Ok(BatchOutcome {
                    received,
                    deleted: 0,
                    failed: ids,
                    batch_error: Some(why),
                });
            }
        };
        let entries: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !failed.contains(m.message_id().unwrap_or_default()))
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .ok()
            })
            .collect();
        let mut deleted = 0;
        if !entries.is_empty() {
            let res = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sqs_error("DeleteMessageBatch"))?;
            deleted = res.successful().len();
            for f in res.failed() {
                tracing::warn!(
                    target: "poller",
                    "could not delete a processed message ({}: {}); it will be delivered again",
                    f.code(),
                    f.message().unwrap_or("")
                );
            }
        }
        let failed: Vec<String> = ids.into_iter().filter(|i| failed.contains(i)).collect();
        tracing::info!(
            target: "poller",
            "batch of {received}: {deleted} done and deleted, {} reported failed (left on the queue)",
            failed.len()
        );
        Ok(BatchOutcome {
            received,
            deleted,
            failed,
            batch_error: None,
        })
    }

    /// Runs [`PollerConfig::concurrency`] receive-handle-delete loops at once until
    /// `shutdown` turns true (Lambda's mapping scales up to its maximum concurrency; here all
    /// of it is there from the start). Errors are logged and retried after a pause.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let me = Arc::new(self);
        let loops = (0..me.config.concurrency).map(|_| me.clone().run_one(shutdown.clone()));
        futures::future::join_all(loops.map(tokio::spawn)).await;
    }

    /// One of the concurrent loops.
    async fn run_one(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                res = self.poll_once() => {
                    if let Err(e) = res {
                        tracing::warn!(target: "poller", "{e}");
                        tokio::select! {
                            _ = shutdown.changed() => return,
                            _ = tokio::time::sleep(self.config.error_backoff) => {}
                        }
                    }
                }
            }
        }
    }

    /// One record as Lambda builds it.
    fn record(&self, m: &Message) -> SqsMessage {
        let mut r = SqsMessage::default();
        r.message_id = m.message_id().map(str::to_string);
        r.receipt_handle = m.receipt_handle().map(str::to_string);
        r.body = m.body().map(str::to_string);
        r.md5_of_body = m.md5_of_body().map(str::to_string);
        r.md5_of_message_attributes = m.md5_of_message_attributes().map(str::to_string);
        r.attributes = m
            .attributes()
            .map(|a| {
                a.iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        r.message_attributes = m
            .message_attributes()
            .map(|a| {
                a.iter()
                    .map(|(k, v)| {
                        let mut attr = SqsMessageAttribute::default();
                        attr.string_value = v.string_value().map(str::to_string);
                        attr.binary_value = v.binary_value().map(|b| base64_data(b.as_ref()));
                        attr.string_list_values = v.string_list_values().to_vec();
                        attr.binary_list_values = v
                            .binary_list_values()
                            .iter()
                            .map(|b| base64_data(b.as_ref()))
                            .collect();
                        attr.data_type = Some(v.data_type().to_string());
                        (k.clone(), attr)
                    })
                    .collect::<HashMap<_, _>>()
            })
            .unwrap_or_default();
        r.event_source_arn = Some(self.queue_arn.clone());
        r.event_source = Some("aws:sqs".into());
        r.aws_region = Some(self.region.clone());
        r
    }
}

/// `Base64Data` is non-exhaustive: built through `Default` and `DerefMut`.
fn base64_data(bytes: &[u8]) -> Base64Data {
    let mut d = Base64Data::default();
    d.extend_from_slice(bytes);
    d
}

/// The reported failures, or why the whole batch counts as failed: Lambda fails the batch when
/// an item identifier is empty or not one of the batch's message ids.
fn failed_ids(batch: &[String], response: &SqsBatchResponse) -> Result<HashSet<String>, String> {
    let mut failed = HashSet::new();
    for f in &response.batch_item_failures {
        let id = f.item_identifier.as_str();
        if id.is_empty() || !batch.iter().any(|b| b == id) {
            return Err(format!(
                "batchItemFailures names {id:?}, which is not a message of this batch"
            ));
        }
        failed.insert(id.to_string());
    }
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::BatchItemFailure;

    fn response(ids: &[&str]) -> SqsBatchResponse {
        let mut r = SqsBatchResponse::default();
        r.batch_item_failures = ids
            .iter()
            .map(|i| {
                let mut f = BatchItemFailure::default();
                f.item_identifier = i.to_string();
                f
            })
            .collect();
        r
    }

    #[test]
    fn failures_must_name_messages_of_the_batch() {
        let batch = vec!["a".to_string(), "b".to_string()];
        assert_eq!(failed_ids(&batch, &response(&[])), Ok(HashSet::new()));
        assert_eq!(
            failed_ids(&batch, &response(&["b"])),
            Ok(HashSet::from(["b".to_string()]))
        );
        assert!(failed_ids(&batch, &response(&["c"])).is_err());
        assert!(failed_ids(&batch, &response(&[""])).is_err());
        assert!(failed_ids(&batch, &response(&["a", "zzz"])).is_err());
    }
}
