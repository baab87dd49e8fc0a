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

pub mod config;
pub mod metrics;
pub mod repair;

use aws_adapters::{DynamoStore, SecretsManager, SqsQueue};
use aws_config::SdkConfig;
pub use config::Config;
use domain::clock::{Clock, SystemClock};
use domain::config::Env;
use domain::error::ApiError;
use domain::error::StartupError;
use domain::ports::provider::VoiceProvider;
use domain::ports::queue::EventQueue;
use domain::ports::secrets::ProviderSecret;
use domain::ports::store::{Due, DueKind, DueShard, DueWork, Store};
use repair::Repaired;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Items read from the index per query; a pass reads at most [`MAX_PAGES`] pages per shard
/// of each kind and takes no new page after [`PASS_BUDGET`], so one run stays well inside its
/// 30 s timeout and the next run carries on.
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
    /// Repairs at once and the pace of placements (`RECONCILER_CONCURRENCY`,
    /// `SCHEDULED_CALLS_PER_SECOND`).
    pub pace: Pace,
}

/// The adapters the reconciler talks to: the real ones ([`Ports::aws`]) or a test's.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn EventQueue>,
    pub provider: Arc<dyn VoiceProvider>,
    pub clock: Arc<dyn Clock>,
}

impl Ports {
    /// The real adapters from the SDK configuration: the table, the events queue, and the
    /// provider client with the key from the provider secret.
    pub async fn aws(sdk: &SdkConfig, config: &Config) -> Result<Ports, StartupError> {
        let secret =
            ProviderSecret::load(&SecretsManager::from_sdk(sdk), &config.provider_secret_name)
                .await?;
        let provider = outbound::RetellClient::new(
            &config.provider_base_url,
            secret.api_key,
            config.provider_timeout,
        )
        .map_err(|e| StartupError::Client {
            what: "voice provider",
            reason: e.to_string(),
        })?;
        Ok(Ports {
            store: Arc::new(DynamoStore::from_sdk(sdk, config.table_name.clone())),
            queue: Arc::new(SqsQueue::from_sdk(sdk, config.events_queue_url.clone())),
            provider: Arc::new(provider),
            clock: Arc::new(SystemClock),
        })
    }
}

impl Deps {
    /// The one way `Deps` are built (`main.rs` through [`Deps::from_env`], the local stack,
    /// the bench, the tests).
    pub fn new(ports: Ports, config: &Config) -> Deps {
        Deps {
            store: ports.store,
            queue: ports.queue,
            clock: ports.clock,
            provider: ports.provider,
            dial_unknown_deadline: config.dial_unknown_deadline,
            call_stale_after: config.call_stale_after,
            pace: config.pace,
        }
    }

    /// The composition root of a cold start: the configuration from `env`, the real adapters.
    pub async fn from_env(sdk: &SdkConfig, env: &Env) -> Result<Deps, StartupError> {
        let config = Config::from_env(env)?;
        Ok(Deps::new(Ports::aws(sdk, &config).await?, &config))
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

    /// Counts the overdue items of `kind` a round read at `now`.
    fn note_due<'a>(
        &mut self,
        kind: DueKind,
        read: impl Iterator<Item = &'a Due>,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        let (mut n, mut oldest) = (0u64, None);
        for d in read {
            n += 1;
            oldest = oldest.max(Some((now - d.due_at).num_milliseconds()));
        }
        if n > 0 {
            *self.due.entry(kind.as_str()).or_default() += n;
            self.oldest_overdue_ms = self.oldest_overdue_ms.max(oldest);
        }
    }
}

/// Repairs in flight at once in a pass, over every shard of the kind being repaired
/// (`RECONCILER_CONCURRENCY`). A repair is a handful of store requests (an ended call's
/// completion: read, claim, the completion transaction, the event's enqueue and mark, about
/// 5, with a queue send): at ~5-10 ms a request one repair takes 30-50 ms, so 32 at once
/// clear 600-1,000 items a second, 12,000 in under the pass budget (docs/benchmarks.md,
/// "Reconciler"); each in-flight repair holds one connection of the SDK's pool.
pub const DEFAULT_CONCURRENCY: usize = 32;

/// Scheduled calls placed per second at most (`SCHEDULED_CALLS_PER_SECOND`). The provider's
/// contract (docs/voice-provider.md) documents no request rate, only the 429 it answers
/// above it; Retell's published limit is the account's concurrent calls. 10,000 held calls
/// opening at once within 10 minutes, one pass a minute, need 10,000 / (10 x ~19.5 s, the
/// budget less the quick repairs before them) = 52/s: 60/s places about 1,150 a pass, all of
/// them by the ninth pass (docs/benchmarks.md, "Reconciler"). An operator whose provider
/// contract allows less sets it lower: 10,000 / (rate x ~19.5 s) passes, one a minute.
pub const DEFAULT_SCHEDULED_CALLS_PER_SECOND: usize = 60;

/// How hard a pass works: repairs at once, and the pace of scheduled placements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Repairs in flight at once ([`DEFAULT_CONCURRENCY`]); at least 1.
    pub concurrency: usize,
    /// Scheduled calls placed per second at most ([`DEFAULT_SCHEDULED_CALLS_PER_SECOND`]);
    /// at least 1.
    pub scheduled_per_second: usize,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            concurrency: DEFAULT_CONCURRENCY,
            scheduled_per_second: DEFAULT_SCHEDULED_CALLS_PER_SECOND,
        }
    }
}

impl Pace {
    /// `RECONCILER_CONCURRENCY` and `SCHEDULED_CALLS_PER_SECOND`, the defaults when unset.
    pub fn from_env(env: &Env) -> Result<Pace, domain::error::ConfigError> {
        Ok(Pace {
            concurrency: env.count(domain::config::RECONCILER_CONCURRENCY, DEFAULT_CONCURRENCY)?,
            scheduled_per_second: env.count(
                domain::config::SCHEDULED_CALLS_PER_SECOND,
                DEFAULT_SCHEDULED_CALLS_PER_SECOND,
            )?,
        })
    }
}

/// Spaces scheduled placements `1 / rate` apart over the whole pass (every shard): each
/// placement takes the next free slot and waits for it (Tokio's clock, so paused test time
/// skips the waits).
struct Pacer {
    interval: std::time::Duration,
    next: std::sync::Mutex<tokio::time::Instant>,
}

impl Pacer {
    fn new(per_second: usize) -> Pacer {
        let per_second = u32::try_from(per_second.max(1)).unwrap_or(u32::MAX);
        Pacer {
            interval: std::time::Duration::from_secs(1) / per_second,
            next: std::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }

    /// Waits for the next free slot; `false`, at once and without taking it, when that slot
    /// comes after `deadline`.
    async fn wait(&self, deadline: tokio::time::Instant) -> bool {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let slot = (*next).max(tokio::time::Instant::now());
            if slot > deadline {
                return false;
            }
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
        true
    }
}

/// What one pass shares between its shards: when it started, the repairs in flight, the
/// pace of placements.
struct Pass<'a> {
    deps: &'a Deps,
    started: tokio::time::Instant,
    in_flight: tokio::sync::Semaphore,
    pacer: Pacer,
}

impl Pass<'_> {
    fn budget_spent(&self) -> bool {
        self.started.elapsed() > PASS_BUDGET
    }
}

/// One pass over every kind of due work. The kinds one after the other, in
/// [`DueKind::ALL`]'s order (the quick repairs first, the scheduled calls last). Within a
/// kind, rounds: a page of every shard of the index ([`DueShard::all`], the legacy partition
/// included) read at once, the pages merged oldest first, and their items repaired at once
/// up to [`Pace::concurrency`] in the whole pass (started in that order), scheduled calls
/// placed no faster than [`Pace::scheduled_per_second`]; a shard is read again while its
/// pages come back full and something on them moved, up to [`MAX_PAGES`] rounds. No new round
/// and no new repair after [`PASS_BUDGET`]. Every repair is conditional, so concurrency
/// inside a pass, like two passes at once, repairs each item once.
pub async fn run(deps: &Deps) -> Report {
    let pass = Pass {
        deps,
        started: tokio::time::Instant::now(),
        in_flight: tokio::sync::Semaphore::new(deps.pace.concurrency.max(1)),
        pacer: Pacer::new(deps.pace.scheduled_per_second),
    };
    let mut report = Report::default();
    for kind in DueKind::ALL {
        report.add(kind_pass(&pass, kind).await);
    }
    if report.errors > 0 || report.quarantined > 0 || !report.repaired.is_empty() {
        tracing::info!(repaired = ?report.repaired, errors = report.errors, quarantined = report.quarantined, "reconciler pass");
    }
    for line in metrics::lines(&report) {
        line.emit();
    }
    report
}

impl Report {
    fn add(&mut self, other: Report) {
        for (what, n) in other.repaired {
            *self.repaired.entry(what).or_default() += n;
        }
        self.errors += other.errors;
        self.quarantined += other.quarantined;
        for (kind, n) in other.due {
            *self.due.entry(kind).or_default() += n;
        }
        self.oldest_overdue_ms = self.oldest_overdue_ms.max(other.oldest_overdue_ms);
    }
}

/// What became of one item of a page.
enum Outcome {
    Repaired(Repaired),
    /// A poison item; `true` when it was moved aside.
    Quarantined(bool),
    Failed,
    /// Not taken: the pass budget was spent before its turn.
    Left,
}

/// Every shard of one kind, round by round.
async fn kind_pass(pass: &Pass<'_>, kind: DueKind) -> Report {
    let deps = pass.deps;
    let mut report = Report::default();
    let mut open: Vec<DueShard> = DueShard::all().collect();
    for _ in 0..MAX_PAGES {
        if open.is_empty() {
            break;
        }
        if pass.budget_spent() {
            tracing::warn!(
                kind = kind.as_str(),
                "pass budget spent; the next pass carries on"
            );
            break;
        }
        let now = deps.clock.now();
        let pages = futures::future::join_all(
            open.iter()
                .map(|shard| deps.store.due_in_shard(kind, *shard, now, PAGE)),
        )
        .await;
        // (shard's place in `open`, item), oldest first over every shard.
        let mut items: Vec<(usize, Due)> = Vec::new();
        let mut full = vec![false; open.len()];
        for (i, page) in pages.into_iter().enumerate() {
            match page {
                Ok(page) => {
                    full[i] = page.len() >= PAGE;
                    items.extend(page.into_iter().map(|due| (i, due)));
                }
                Err(e) => {
                    tracing::error!(kind = kind.as_str(), error = %e, "reading due work failed");
                    report.errors += 1;
                }
            }
        }
        items.sort_by_key(|(_, due)| due.due_at);
        report.note_due(kind, items.iter().map(|(_, due)| due), now);
        let outcomes =
            futures::future::join_all(items.iter().map(|(_, due)| repair_one(pass, kind, due)))
                .await;
        let mut progressed = vec![false; open.len()];
        for ((i, _), outcome) in items.iter().zip(outcomes) {
            match outcome {
                Outcome::Repaired(done) => {
                    progressed[*i] |= done != Repaired::Nothing;
                    *report.repaired.entry(done.as_str()).or_default() += 1;
                }
                Outcome::Quarantined(moved) => {
                    progressed[*i] |= moved;
                    report.quarantined += 1;
                }
                Outcome::Failed => report.errors += 1,
                Outcome::Left => {}
            }
        }
        // A short page is the shard's end; a page where nothing moved would come back the same.
        open = open
            .iter()
            .enumerate()
            .filter(|(i, _)| full[*i] && progressed[*i])
            .map(|(_, shard)| *shard)
            .collect();
    }
    report
}

/// One item, once a slot of the pass's concurrency is free (and, for a scheduled call, its
/// placement's turn under the provider's rate).
async fn repair_one(pass: &Pass<'_>, kind: DueKind, item: &Due) -> Outcome {
    // The semaphore is never closed; without a permit the repair still runs, unbounded.
    let _permit = pass.in_flight.acquire().await.ok();
    // A round holds up to a page of every shard (1,700 items): no new repair once the pass
    // budget is spent, so the pass ends inside its timeout and no claimed item is left behind
    // by it (the rest stay due for the next pass). Placing a scheduled call also waits for
    // its turn under the provider's rate, and is not taken if that turn comes after the
    // budget.
    if pass.budget_spent() {
        return Outcome::Left;
    }
    if kind == DueKind::Scheduled && !pass.pacer.wait(pass.started + PASS_BUDGET).await {
        return Outcome::Left;
    }
    match repair::repair(item, pass.deps).await {
        Ok(done) => Outcome::Repaired(done),
        Err(e) if is_poison(&e) => {
            // Retrying cannot fix an item that cannot be read: moved aside, so the items
            // behind it (and every later pass) are not blocked by it.
            Outcome::Quarantined(quarantine(item, &e, pass.deps).await)
        }
        Err(e) => {
            tracing::error!(kind = kind.as_str(), error = %e, "repair failed; retried next pass");
            Outcome::Failed
        }
    }
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
