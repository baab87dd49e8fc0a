//! The SQS consumer that delivers `call.completed` events to customers' endpoints.
//!
//! A pipeline of small named steps, in the manner of Svix's server: first, for the whole
//! batch, [`fair`] (cap each account's concurrent deliveries, re-park the excess); then, per
//! message, [`prepare`] (parse the
//! message, honour `not_before`, load the event, claim the attempt, read the integration and
//! the signing keys; move a hanging endpoint's first attempt to the retries lane), [`send`]
//! (sign and POST the stored bytes), then [`outcome::success`] or [`outcome::failure`] (log
//! the attempt; schedule the next one or drop the event), then [`outcome::health`] (the
//! endpoint's fleet-wide timeout count).
//!
//! `handle` answers with a partial batch response: only messages that hit a transient
//! error (DynamoDB, SQS, Secrets Manager) come back. The messages of a batch are processed
//! concurrently.

pub mod fair;
pub mod lanes;
pub mod metrics;
pub mod outcome;
pub mod prepare;
pub mod send;

use aws_adapters::{DynamoStore, SecretsManager, SqsQueue};
use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use domain::clock::{Clock, SystemClock};
use domain::config::{self, Env};
use domain::error::StartupError;
use domain::ports::queue::{DeliveryMessage, EventQueue};
use domain::ports::secrets::SecretStore;
use domain::ports::store::Store;
use domain::webhook::retry_schedule::RetrySchedule;
use domain::webhook::signing_key::KeyCache;
use domain::webhook::signing_secret::SecretCache;
use futures::future::join_all;
use outbound::webhook_client::{WebhookClient, DEFAULT_TIMEOUT};
use std::sync::Arc;
use std::time::Duration;

/// What the function needs, built once per cold start.
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub secrets: Arc<dyn SecretStore>,
    pub key_cache: KeyCache,
    pub secret_prefix: String,
    /// The webhook signing secrets (`webhook-signature`), cached by version.
    pub secret_cache: SecretCache,
    /// Secret name prefix of the signing secrets (`WEBHOOK_SECRET_PREFIX`).
    pub webhook_secret_prefix: String,
    /// The first-attempts queue (`EVENTS_QUEUE_URL`).
    pub queue: Arc<dyn EventQueue>,
    /// The retries lane's queue (`RETRIES_QUEUE_URL`); `None`: the retries share `queue`.
    pub retries: Option<Arc<dyn EventQueue>>,
    pub client: WebhookClient,
    pub schedule: RetrySchedule,
    pub clock: Arc<dyn Clock>,
    /// How long a claimed attempt is reserved for its sender: `config::claim_lease()`, the
    /// queue's visibility timeout.
    pub claim_lease: Duration,
    /// Per-account delivery slots (`WEBHOOK_ACCOUNT_CONCURRENCY`, `WEBHOOK_REPARK_DELAY_MS`).
    pub fairness: fair::Fairness,
}

impl Deps {
    /// The composition root: the real adapters, built once per cold start from the SDK
    /// configuration and the environment (`main.rs`, the local stack and the bench).
    pub async fn from_env(sdk: &SdkConfig, env: &Env) -> Result<Deps, StartupError> {
        let timeout = env.millis(config::WEBHOOK_TIMEOUT_MS, DEFAULT_TIMEOUT)?;
        let allow_insecure_local = config::allow_insecure_local(env)?;
        Ok(Deps {
            store: Arc::new(DynamoStore::from_sdk(
                sdk,
                env.required(config::TABLE_NAME)?,
            )),
            secrets: Arc::new(SecretsManager::from_sdk(sdk)),
            key_cache: KeyCache::new(),
            secret_prefix: env
                .optional(config::API_KEY_SECRET_PREFIX)
                .unwrap_or_else(|| config::DEFAULT_API_KEY_SECRET_PREFIX.to_string()),
            secret_cache: SecretCache::new(),
            webhook_secret_prefix: env
                .optional(config::WEBHOOK_SECRET_PREFIX)
                .unwrap_or_else(|| config::DEFAULT_WEBHOOK_SECRET_PREFIX.to_string()),
            queue: Arc::new(SqsQueue::from_sdk(
                sdk,
                env.required(config::EVENTS_QUEUE_URL)?,
            )),
            retries: env
                .optional(config::RETRIES_QUEUE_URL)
                .map(|url| Arc::new(SqsQueue::from_sdk(sdk, url)) as Arc<dyn EventQueue>),
            client: WebhookClient::new(timeout, allow_insecure_local).map_err(|e| {
                StartupError::Client {
                    what: "webhook",
                    reason: e.to_string(),
                }
            })?,
            schedule: RetrySchedule::from_env(env)?,
            clock: Arc::new(SystemClock),
            claim_lease: config::claim_lease(),
            fairness: fair::Fairness::new(
                env.count(
                    config::WEBHOOK_ACCOUNT_CONCURRENCY,
                    config::DEFAULT_ACCOUNT_CONCURRENCY,
                )?,
                env.millis(
                    config::WEBHOOK_REPARK_DELAY_MS,
                    config::DEFAULT_REPARK_DELAY,
                )?,
            ),
        })
    }
}

impl Deps {
    /// The queue `msg` is sent to: the retries lane's for retries and diverted first
    /// attempts (`DeliveryMessage::on_retries_lane`) when there is one, the first-attempts
    /// queue otherwise.
    pub fn queue_for(&self, msg: &DeliveryMessage) -> &dyn EventQueue {
        match &self.retries {
            Some(retries) if msg.on_retries_lane() => retries.as_ref(),
            _ => self.queue.as_ref(),
        }
    }

    /// True when a hanging endpoint's first attempts can be moved off the first-attempts
    /// queue (there is a retries lane to move them to).
    pub fn has_retries_lane(&self) -> bool {
        self.retries.is_some()
    }
}

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
    InFlight { event_id: uuid::Uuid, attempt: u32 },
}

pub async fn handle(event: SqsEvent, deps: &Deps) -> SqsBatchResponse {
    // Parsed once for the batch-wide steps; `prepare` reads each body again for its own
    // (it drops an unreadable one, loudly).
    let batch: Vec<Option<DeliveryMessage>> = event
        .records
        .iter()
        .map(|r| DeliveryMessage::parse(r.body.as_deref().unwrap_or("")).ok())
        .collect();
    let health = lanes::health(&batch, deps).await;
    let until = std::time::Instant::now() + fair::SLOW_MEMORY;
    for (account, h) in &health {
        if h.has_timeouts() {
            deps.fairness.note_slow(account, until);
        }
    }
    let lanes = lanes::sort(&batch, &health, deps).await;
    let admissions = fair::admit(&batch, lanes, deps).await;
    let health = &health;
    let results = join_all(event.records.iter().zip(admissions).map(
        |(record, admission)| async move {
            let id = record.message_id.clone().unwrap_or_default();
            let result = match admission {
                fair::Admission::Reparked | fair::Admission::Moved => return None,
                fair::Admission::Failed(e) => Err(TransientError::from(e)),
                // The account's slot is held until the message is processed.
                fair::Admission::Admit(_slot) => {
                    process(record.body.as_deref().unwrap_or(""), health, deps).await
                }
            };
            match result {
                Ok(()) => None,
                Err(e) => {
                    tracing::warn!(message_id = %id, error = %e, "delivery will be retried by SQS");
                    Some(id)
                }
            }
        },
    ))
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

/// One message, start to finish; `health` is the batch's endpoint health ([`lanes::health`]).
pub async fn process(
    body: &str,
    health: &lanes::Health,
    deps: &Deps,
) -> Result<(), TransientError> {
    let ready = match prepare::prepare(body, deps).await? {
        prepare::Prepared::Done => return Ok(()),
        prepare::Prepared::Skip(skip) => {
            metrics::skipped(&skip.msg).emit();
            return outcome::skipped(skip, deps).await;
        }
        prepare::Prepared::Internal(internal) => {
            let result = outcome::internal_result(&internal);
            attempt_line(
                &internal.msg,
                internal.created_at,
                internal.started_at,
                &result,
                deps,
            );
            return outcome::internal(internal, deps).await;
        }
        prepare::Prepared::Finished { msg, row } => {
            return outcome::complete(&msg, &row, deps).await
        }
        prepare::Prepared::Ready(ready) => ready,
    };
    let result = send::send(&ready, deps).await;
    deps.fairness.note_post(
        &ready.msg.account_id,
        Duration::from_millis(result.duration_ms),
        std::time::Instant::now(),
    );
    attempt_line(
        &ready.msg,
        ready.created_at,
        ready.started_at,
        &result,
        deps,
    );
    let recorded = if result.delivered() {
        outcome::success(&ready, &result, deps).await
    } else {
        outcome::failure(&ready, &result, deps).await
    };
    let had = health.get(&ready.msg.account_id);
    outcome::health(&ready, &result, had, deps).await;
    recorded
}

/// Emits the attempt's metric line ([`metrics::attempt`]) once its result is known, whether or
/// not its writes then succeed (the POST happened).
fn attempt_line(
    msg: &DeliveryMessage,
    created_at: chrono::DateTime<chrono::Utc>,
    started_at: chrono::DateTime<chrono::Utc>,
    result: &outbound::webhook_client::SendResult,
    deps: &Deps,
) {
    metrics::attempt(&metrics::Attempt {
        msg,
        created_at,
        started_at,
        now: deps.clock.now(),
        result,
        last: deps.schedule.delay_after(msg.attempt).is_none(),
    })
    .emit();
}
