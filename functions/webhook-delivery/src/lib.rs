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

pub mod config;
pub mod fair;
pub mod lanes;
pub mod metrics;
pub mod outcome;
pub mod prepare;
pub mod send;

use aws_adapters::{DynamoStore, SecretsManager, SqsQueue};
use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
pub use config::Config;
use domain::clock::{Clock, SystemClock};
use domain::config::Env;
use domain::error::StartupError;
use domain::ports::queue::{DeliveryMessage, EventQueue};
use domain::ports::secrets::SecretStore;
use domain::ports::store::Store;
use domain::webhook::retry_schedule::RetrySchedule;
use domain::webhook::signing_key::KeyCache;
use domain::webhook::signing_secret::SecretCache;
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

/// The adapters webhook-delivery talks to: the real ones ([`Ports::aws`]) or a test's.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub secrets: Arc<dyn SecretStore>,
    /// The first-attempts queue.
    pub queue: Arc<dyn EventQueue>,
    /// The retries lane's queue; `None`: the retries share `queue`.
    pub retries: Option<Arc<dyn EventQueue>>,
    pub clock: Arc<dyn Clock>,
}

impl Ports {
    /// The real adapters from the SDK configuration: the table, Secrets Manager, both queues.
    pub fn aws(sdk: &SdkConfig, config: &Config) -> Ports {
        Ports {
            store: Arc::new(DynamoStore::from_sdk(sdk, config.table_name.clone())),
            secrets: Arc::new(SecretsManager::from_sdk(sdk)),
            queue: Arc::new(SqsQueue::from_sdk(sdk, config.events_queue_url.clone())),
            retries: config
                .retries_queue_url
                .clone()
                .map(|url| Arc::new(SqsQueue::from_sdk(sdk, url)) as Arc<dyn EventQueue>),
            clock: Arc::new(SystemClock),
        }
    }
}

impl Deps {
    /// The one way `Deps` are built (`main.rs` through [`Deps::from_env`], the local stack,
    /// the bench, the tests): the adapters, the webhook client, the caches and the fairness
    /// slots the configuration asks for.
    pub fn new(ports: Ports, config: &Config) -> Result<Deps, StartupError> {
        Ok(Deps {
            store: ports.store,
            secrets: ports.secrets,
            key_cache: KeyCache::new(),
            secret_prefix: config.secret_prefix.clone(),
            secret_cache: SecretCache::new(),
            webhook_secret_prefix: config.webhook_secret_prefix.clone(),
            queue: ports.queue,
            retries: ports.retries,
            client: WebhookClient::new(config.webhook_timeout, config.allow_insecure_local)
                .map_err(|e| StartupError::Client {
                    what: "webhook",
                    reason: e.to_string(),
                })?,
            schedule: config.schedule.clone(),
            clock: ports.clock,
            claim_lease: domain::config::claim_lease(),
            fairness: fair::Fairness::new(config.account_concurrency, config.repark_delay),
        })
    }

    /// The composition root of a cold start: the configuration from `env`, the real adapters.
    pub async fn from_env(sdk: &SdkConfig, env: &Env) -> Result<Deps, StartupError> {
        let config = Config::from_env(env)?;
        Deps::new(Ports::aws(sdk, &config), &config)
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
    InFlight {
        event_id: domain::ids::EventId,
        attempt: u32,
    },
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
