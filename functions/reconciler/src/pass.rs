//! One pass over the due index ([`run`]): the kinds one after the other, each shard's pages
//! read at once, their items repaired at once up to the pace, within the pass budget.

use crate::deps::Deps;
use crate::pace::Pacer;
use crate::repair::Repaired;
use crate::report::Report;
use crate::{metrics, repair};
use domain::error::ApiError;
use domain::ports::store::{Due, DueKind, DueShard, DueWork};

/// Items read from the index per query; a pass reads at most [`MAX_PAGES`] pages per shard
/// of each kind and takes no new page after [`PASS_BUDGET`], so one run stays well inside its
/// 30 s timeout and the next run carries on.
pub const PAGE: usize = 100;
pub const MAX_PAGES: usize = 10;
pub const PASS_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

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
