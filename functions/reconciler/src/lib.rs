//! The reconciler: run every minute (EventBridge schedule in `template.yaml`; every
//! `RECONCILE_EVERY` in the local stack), it finishes the work whose deadline passed with
//! nobody finishing it, read from the due index (`domain::ports::store::due`), never a scan:
//!
//! - an event stored but not on the queue after `ENQUEUE_GRACE` -> sent ([`repair::event`]);
//! - a `queued` call past its request's lease -> `dial_unknown`; a `dial_unknown` call past
//!   its deadline, or a `dialing` one never reported past `CALL_STALE_AFTER` -> `failed` (for
//!   want of news: late callbacks still revive it); an `ended` call past its analysis grace,
//!   or an `in_progress` one whose end never came past `CALL_STALE_AFTER` -> completed with an
//!   event built from what is known ([`repair::call`]);
//! - an Idempotency-Key without an answer past its lease -> released ([`repair::idempotency`]);
//! - a `scheduled` call (held until its window opens, or `not_before`) whose time came ->
//!   claimed (`scheduled` -> `queued`), re-checked (account, API toggle, do-not-call list,
//!   destination policy, agent, calling window) and dialed through `domain::dial`, the code
//!   path trigger-call uses; or re-scheduled, failed with a reason, or cancelled
//!   ([`repair::scheduled`]). At most one reconciler period late.
//!
//! Every repair is a conditional write on the item's state (and the one with an outside
//! effect, sending an event, is claimed first), so two runs at once, or a run repeated after a
//! crash, repair each item once.

pub mod metrics;
pub mod repair;

use aws_adapters::{DynamoStore, SecretsManager, SqsQueue};
use aws_config::SdkConfig;
use domain::clock::{Clock, SystemClock};
use domain::config::{self, Env};
use domain::error::ApiError;
use domain::error::StartupError;
use domain::ports::provider::VoiceProvider;
use domain::ports::queue::EventQueue;
use domain::ports::secrets::ProviderSecret;
use domain::ports::store::{Due, DueKind, DueWork, Store};
use repair::Repaired;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Items read from the index per query; a pass reads at most [`MAX_PAGES`] pages per kind
/// and takes no new page after [`PASS_BUDGET`], so one run stays well inside its 30 s timeout
/// and the next run carries on.
pub const PAGE: usize = 100;
pub const MAX_PAGES: usize = 10;
pub const PASS_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

/// What the function needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn EventQueue>,
    pub clock: Arc<dyn Clock>,
    /// Places scheduled calls (the same client trigger-call uses).
    pub provider: Arc<dyn VoiceProvider>,
    /// A `queued` call found past its lease becomes `dial_unknown` for this long
    /// (`DIAL_UNKNOWN_DEADLINE`).
    pub dial_unknown_deadline: chrono::Duration,
    /// A scheduled call placed becomes `dialing` with this deadline (`CALL_STALE_AFTER`).
    pub call_stale_after: chrono::Duration,
}

impl Deps {
    /// The composition root: the real adapters, built once per cold start from the SDK
    /// configuration and the environment (`main.rs` and the local stack).
    pub async fn from_env(sdk: &SdkConfig, env: &Env) -> Result<Deps, StartupError> {
        let timeout = env.millis(
            config::PROVIDER_TIMEOUT_MS,
            config::DEFAULT_PROVIDER_TIMEOUT,
        )?;
        let secret = ProviderSecret::load(
            &SecretsManager::from_sdk(sdk),
            &env.required(config::PROVIDER_SECRET_NAME)?,
        )
        .await?;
        let provider = outbound::RetellClient::new(
            &env.required(config::PROVIDER_BASE_URL)?,
            secret.api_key,
            timeout,
        )
        .map_err(|e| StartupError::Client {
            what: "voice provider",
            reason: e.to_string(),
        })?;
        Ok(Deps {
            provider: Arc::new(provider),
            call_stale_after: env
                .span(config::CALL_STALE_AFTER, config::DEFAULT_CALL_STALE_AFTER)?,
            store: Arc::new(DynamoStore::from_sdk(
                sdk,
                env.required(config::TABLE_NAME)?,
            )),
            queue: Arc::new(SqsQueue::from_sdk(
                sdk,
                env.required(config::EVENTS_QUEUE_URL)?,
            )),
            clock: Arc::new(SystemClock),
            dial_unknown_deadline: env.span(
                config::DIAL_UNKNOWN_DEADLINE,
                config::DEFAULT_DIAL_UNKNOWN_DEADLINE,
            )?,
        })
    }
}

/// What one pass did: how many items each repair handled, and how many failed (they stay due
/// and the next pass tries again).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub repaired: BTreeMap<&'static str, u64>,
    pub errors: u64,
    /// Poison items moved to the quarantine kind ([`quarantine`]).
    pub quarantined: u64,
    /// The overdue items the pass read, by kind (`DueKind::as_str`).
    pub due: BTreeMap<&'static str, u64>,
    /// How overdue the oldest item the pass read was, in milliseconds; `None` when nothing
    /// was due.
    pub oldest_overdue_ms: Option<i64>,
}

impl Report {
    pub fn count(&self, what: Repaired) -> u64 {
        self.repaired.get(what.as_str()).copied().unwrap_or(0)
    }

    /// Counts a page of overdue items of `kind` read at `now` (earliest first).
    fn note_due(&mut self, kind: DueKind, page: &[Due], now: chrono::DateTime<chrono::Utc>) {
        if page.is_empty() {
            return;
        }
        *self.due.entry(kind.as_str()).or_default() += page.len() as u64;
        let oldest = page
            .iter()
            .map(|d| (now - d.due_at).num_milliseconds())
            .max();
        self.oldest_overdue_ms = self.oldest_overdue_ms.max(oldest);
    }
}

/// One pass over every kind of due work.
pub async fn run(deps: &Deps) -> Report {
    let mut report = Report::default();
    let started = tokio::time::Instant::now();
    for kind in DueKind::ALL {
        for _ in 0..MAX_PAGES {
            if started.elapsed() > PASS_BUDGET {
                tracing::warn!(
                    kind = kind.as_str(),
                    "pass budget spent; the next pass carries on"
                );
                break;
            }
            let now = deps.clock.now();
            let due = match deps.store.due(kind, now, PAGE).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!(kind = kind.as_str(), error = %e, "reading due work failed");
                    report.errors += 1;
                    break;
                }
            };
            report.note_due(kind, &due, now);
            let mut progressed = false;
            for item in &due {
                // Placing a scheduled call waits for the provider: stop taking new ones when
                // the pass budget is spent, so no claimed call is left behind by a timeout
                // (the rest stay due for the next pass).
                if kind == DueKind::Scheduled && started.elapsed() > PASS_BUDGET {
                    break;
                }
                match repair::repair(item, deps).await {
                    Ok(done) => {
                        progressed |= done != Repaired::Nothing;
                        *report.repaired.entry(done.as_str()).or_default() += 1;
                    }
                    Err(e) if is_poison(&e) => {
                        // Retrying cannot fix an item that cannot be read: moved aside, so the
                        // items behind it (and every later pass) are not blocked by it.
                        progressed |= quarantine(item, &e, deps).await;
                        report.quarantined += 1;
                    }
                    Err(e) => {
                        tracing::error!(kind = kind.as_str(), error = %e, "repair failed; retried next pass");
                        report.errors += 1;
                    }
                }
            }
            // A short page is the end; a page where nothing moved would come back the same.
            if due.len() < PAGE || !progressed {
                break;
            }
        }
    }
    if report.errors > 0 || report.quarantined > 0 || !report.repaired.is_empty() {
        tracing::info!(repaired = ?report.repaired, errors = report.errors, quarantined = report.quarantined, "reconciler pass");
    }
    for line in metrics::lines(&report) {
        line.emit();
    }
    report
}

/// A repair error that no retry can fix: the item (or the index entry) cannot be read.
fn is_poison(e: &ApiError) -> bool {
    match e {
        ApiError::Internal(source) => matches!(
            source.downcast_ref::<domain::StoreError>(),
            Some(domain::StoreError::Corrupt(_))
        ),
        _ => false,
    }
}

/// The message of the log line an operator's alarm counts (`QuarantinedDueItemsAlarm` in
/// `template.yaml`, through its metric filter): keep the two in step.
pub const QUARANTINED: &str = "due item quarantined";

/// Moves a poison item to the quarantine kind (`DueStore::quarantine_due`) and says so at
/// error level with its key, for the alarm and for the operator who repairs it by hand. True
/// when it moved. If the move itself fails, the item stays and the next pass tries again.
async fn quarantine(item: &Due, e: &ApiError, deps: &Deps) -> bool {
    let what = describe(&item.work);
    match deps.store.quarantine_due(item).await {
        Ok(moved) => {
            tracing::error!(
                item = %what,
                due_at = %domain::clock::rfc3339(item.due_at),
                error = %e,
                moved,
                "{QUARANTINED}"
            );
            moved
        }
        Err(qe) => {
            tracing::error!(item = %what, error = %e, quarantine_error = %qe, "poison due item not quarantined; retried next pass");
            false
        }
    }
}

/// The item's table key as an operator would look it up; an Idempotency-Key (the client's
/// own string) by the start of its SHA-256 only.
fn describe(work: &DueWork) -> String {
    match work {
        DueWork::Event(id) => format!("EVENT#{id}"),
        DueWork::Call(id) | DueWork::Scheduled(id) => format!("CALL#{id}"),
        DueWork::Idempotency { account_id, key } => format!(
            "IDEMPOTENCY#{account_id}#(sha256 {})",
            &domain::signature::sha256_hex(key.as_bytes())[..16]
        ),
        DueWork::Unreadable { pk, sk, .. } => format!("{pk} / {sk}"),
    }
}
