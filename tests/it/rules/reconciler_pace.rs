//! The reconciler working concurrently (issue 28): every shard of the due index read in one
//! pass, the repairs run at once (bounded), two passes at once still repairing each item
//! once, scheduled placements paced, the legacy (unsharded) partition still drained. On the
//! in-memory adapters; every test counts repairs, events, messages and provider requests.

use super::App;
use domain::ids::CallId;
use domain::model::{Call, CallStatus, Direction};
use domain::ports::store::{CallStore, DueKind, DueShard, DueStore, DUE_SHARDS};
use reconciler::repair::Repaired;
use std::collections::BTreeSet;
use std::time::Duration;
use uuid::Uuid;

/// `n` calls in `status` due a minute ago, straight into the store.
async fn due_calls(w: &App, s: &super::Seeded, n: usize, status: CallStatus) -> Vec<CallId> {
    let now = w.now();
    let created = now - chrono::Duration::minutes(10);
    let mut ids = Vec::new();
    for i in 0..n {
        let mut call = Call::new(
            Uuid::new_v4(),
            s.account.id.clone(),
            s.agent.id,
            Direction::Outbound,
            status,
            "+15551234567",
            created,
        );
        call.due_at = Some(now - chrono::Duration::minutes(1));
        if status == CallStatus::Ended {
            call.provider_call_id = Some(format!("prov_{i}"));
            call.started_at = Some(created);
            call.ended_at = Some(created + chrono::Duration::minutes(3));
            call.duration_seconds = Some(180);
        }
        w.store.create_call(&call, None, created).await.unwrap();
        ids.push(call.id);
    }
    ids
}

#[test]
fn an_items_shard_is_stable_and_every_shard_is_used() {
    let id: CallId = "4b0d6c1e-8a57-4c1e-9a0e-2f3b5d7c9e11".parse().unwrap();
    // FNV-1a of the id's text: the same on every machine and in every version.
    assert_eq!(DueShard::call(&id), DueShard::call(&id));
    assert_eq!(DueShard::call(&id), DueShard::of(&id.to_string()));
    assert_eq!(DueShard::Shard(3).key(DueKind::Call), "call#3");
    assert_eq!(DueShard::Legacy.key(DueKind::Event), "event");
    assert!(DueShard::is_kind("call#3", DueKind::Call));
    assert!(DueShard::is_kind("call", DueKind::Call));
    assert!(!DueShard::is_kind("call#3", DueKind::Scheduled));
    assert!(!DueShard::is_kind("callx", DueKind::Call));
    let used: BTreeSet<DueShard> = (0..2000)
        .map(|_| DueShard::call(&CallId::new_v4()))
        .collect();
    assert_eq!(used.len(), usize::from(DUE_SHARDS), "{used:?}");
    assert_eq!(DueShard::all().count(), usize::from(DUE_SHARDS) + 1);
}

/// More items than one page in every shard together, each store request slowed so that the
/// repairs interleave, two passes at once: each call completed once, one event and one
/// message each, the counts of both reports adding up.
#[tokio::test]
async fn two_concurrent_passes_over_every_shard_repair_each_item_once() {
    let w = App::new();
    let s = w.agency().await;
    let n = 300;
    let ids = due_calls(&w, &s, n, CallStatus::Ended).await;
    let shards: BTreeSet<_> = ids.iter().map(DueShard::call).collect();
    assert!(
        shards.len() > 8,
        "the calls spread over the shards: {shards:?}"
    );
    for method in ["call", "claim_call_repair", "complete_call"] {
        w.plan.delay_always(method, Duration::from_millis(1));
    }
    let (a, b) = tokio::join!(w.reconcile(), w.reconcile());
    let total = |what| a.count(what) + b.count(what);
    assert_eq!(
        total(Repaired::CallCompletedWithoutAnalysis),
        n as u64,
        "{a:?} {b:?}"
    );
    assert_eq!(
        (a.errors, b.errors, a.quarantined, b.quarantined),
        (0, 0, 0, 0)
    );
    assert_eq!(w.stored_event_count(), n, "one event per call");
    assert_eq!(w.queue.sent_count(), n, "one message per event");
    for id in &ids {
        assert_eq!(w.call(*id).await.status, CallStatus::Completed);
    }
    // One index read a shard and kind for each pass (a short page ends the shard), the legacy
    // partition included.
    let reads = w.plan.calls("due_in_shard");
    assert_eq!(
        reads,
        2 * 4 * (u64::from(DUE_SHARDS) + 1),
        "every shard of every kind read once a pass"
    );
    let again = w.reconcile().await;
    assert!(again.repaired.is_empty(), "{again:?}");
    assert_eq!((w.stored_event_count(), w.queue.sent_count()), (n, n));
}

/// The pass keeps at most `concurrency` repairs in flight: with every claim taking 100 ms
/// (Tokio's paused clock), 40 repairs 4 at a time take 10 rounds, 1 s; all at once would
/// take 100 ms, one at a time 4 s.
#[tokio::test(start_paused = true)]
async fn repairs_in_flight_never_exceed_the_concurrency() {
    let mut w = App::new();
    w.tunables.reconciler_pace.concurrency = 4;
    let s = w.agency().await;
    let n = 40;
    due_calls(&w, &s, n, CallStatus::Ended).await;
    w.plan
        .delay_always("claim_call_repair", Duration::from_millis(100));
    let started = tokio::time::Instant::now();
    let report = w.reconcile().await;
    let took = started.elapsed();
    assert_eq!(
        report.count(Repaired::CallCompletedWithoutAnalysis),
        n as u64,
        "{report:?}"
    );
    assert_eq!(w.plan.calls("claim_call_repair"), n as u64);
    assert!(
        took >= Duration::from_millis(1000) && took < Duration::from_millis(1100),
        "{took:?}"
    );
}

/// Scheduled calls due at once are placed no faster than `scheduled_per_second` (Tokio's
/// paused clock: the pacing waits are skipped, their total is what the test reads).
#[tokio::test(start_paused = true)]
async fn held_calls_are_placed_at_the_configured_pace() {
    let mut w = App::new();
    w.tunables.reconciler_pace.scheduled_per_second = 10;
    let s = w.agency().await;
    let n = 25;
    due_calls(&w, &s, n, CallStatus::Scheduled).await;
    let started = tokio::time::Instant::now();
    let report = w.reconcile().await;
    let took = started.elapsed();
    assert_eq!(
        report.count(Repaired::ScheduledCallDialed),
        n as u64,
        "{report:?}"
    );
    assert_eq!(w.provider.request_count(), n, "each placed once");
    // 25 placements 100 ms apart, the first at once: 2.4 s.
    assert!(
        took >= Duration::from_millis(2400) && took < Duration::from_millis(2500),
        "{took:?}"
    );
}

/// A pass whose budget is spent takes no new placement: with 1 per second, a pass places
/// about `PASS_BUDGET` seconds' worth and leaves the rest due for the next pass.
#[tokio::test(start_paused = true)]
async fn placements_stop_at_the_pass_budget_and_the_next_pass_carries_on() {
    let mut w = App::new();
    w.tunables.reconciler_pace.scheduled_per_second = 1;
    let s = w.agency().await;
    let n = 30;
    due_calls(&w, &s, n, CallStatus::Scheduled).await;
    let first = w.reconcile().await;
    let placed = first.count(Repaired::ScheduledCallDialed) as usize;
    let budget = reconciler::PASS_BUDGET.as_secs() as usize;
    assert_eq!(placed, budget + 1, "{first:?}");
    assert_eq!(first.errors, 0);
    let second = w.reconcile().await;
    assert_eq!(
        second.count(Repaired::ScheduledCallDialed) as usize,
        n - placed,
        "{second:?}"
    );
    assert_eq!(w.provider.request_count(), n, "each placed once");
}

/// An item filed by the previous version under the bare kind (the legacy partition) is read
/// and repaired like the others.
#[tokio::test]
async fn an_item_in_the_legacy_partition_is_read() {
    let w = App::new();
    let poison = w
        .store
        .poison_due(DueKind::Call, w.now() - chrono::Duration::hours(1));
    let legacy = w
        .store
        .due_in_shard(DueKind::Call, DueShard::Legacy, w.now(), 10)
        .await
        .unwrap();
    assert_eq!(legacy.len(), 1, "{legacy:?}");
    for shard in (0..DUE_SHARDS).map(DueShard::Shard) {
        assert!(w
            .store
            .due_in_shard(DueKind::Call, shard, w.now(), 10)
            .await
            .unwrap()
            .is_empty());
    }
    let report = w.reconcile().await;
    assert_eq!(report.quarantined, 1, "{report:?} {poison:?}");
}

/// A round holds a page of every shard: with repairs slower than the budget allows, the
/// pass takes no new repair after `PASS_BUDGET` (it would otherwise run past the function's
/// timeout), and the next pass repairs the rest, each once.
#[tokio::test(start_paused = true)]
async fn a_backlog_larger_than_a_pass_stops_at_the_budget_and_the_next_pass_carries_on() {
    let mut w = App::new();
    w.tunables.reconciler_pace.concurrency = 1;
    let s = w.agency().await;
    let n = 60;
    due_calls(&w, &s, n, CallStatus::Ended).await;
    w.plan
        .delay_always("claim_call_repair", Duration::from_secs(1));
    let started = tokio::time::Instant::now();
    let first = w.reconcile().await;
    let took = started.elapsed();
    let done = first.count(Repaired::CallCompletedWithoutAnalysis) as usize;
    let budget = reconciler::PASS_BUDGET.as_secs() as usize;
    // One repair a second, one at a time: the ones started by the budget's end.
    assert_eq!(done, budget + 1, "{first:?}");
    assert!(
        took < reconciler::PASS_BUDGET + Duration::from_secs(2),
        "{took:?}"
    );
    let second = w.reconcile().await;
    let third = w.reconcile().await;
    assert_eq!(
        done + [second, third]
            .iter()
            .map(|r| r.count(Repaired::CallCompletedWithoutAnalysis) as usize)
            .sum::<usize>(),
        n
    );
    assert_eq!((w.stored_event_count(), w.queue.sent_count()), (n, n));
}
