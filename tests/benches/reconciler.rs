//! `make bench` (and `make bench-reconciler` alone): the reconciler's throughput, measured,
//! never asserted (issue 28; figures in docs/benchmarks.md, "Reconciler").
//!
//! On the in-memory adapters, every store request delayed by `BENCH_STORE_DELAY_MS` (5 ms)
//! through the fault wrapper (`FaultPlan::delay_always`), real time:
//!
//! 1. **Completions**: `BENCH_COMPLETIONS` (12,000) ended calls past their analysis grace,
//!    as a provider analysis outage leaves them; passes run back to back until none is left
//!    (in AWS one pass a minute: the figure that matters is the first pass's count and time).
//!    Then the same with `RECONCILER_CONCURRENCY=1` for one pass: the one-at-a-time rate of
//!    the previous version, per item.
//! 2. **Held calls**: `BENCH_HELD_CALLS` (10,000) scheduled calls due at once, a fake provider
//!    answering each placement after `BENCH_PROVIDER_DELAY_MS` (300 ms), placements paced
//!    at `SCHEDULED_CALLS_PER_SECOND` (the default unless set). Passes run back to back;
//!    the placement time in AWS is computed from them: pass `n` starts at minute `n`, so
//!    the last call is placed at `(passes - 1) min + the last pass's own time`.

use chrono::{DateTime, Utc};
use domain::clock::Clock;
use domain::model::{Call, CallStatus, Direction, Plan};
use domain::ports::store::{CallStore, Store};
use in_memory::faults::STORE_METHODS;
use in_memory::{
    FaultPlan, FaultyProvider, FaultyStore, FixedClock, MemoryQueue, MemorySecrets, MemoryStore,
    ScriptedProvider,
};
use integration_tests::deps::Tunables;
use integration_tests::fixtures;
use reconciler::repair::Repaired;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Bench {
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    plan: FaultPlan,
    clock: Arc<FixedClock>,
    provider: Arc<ScriptedProvider>,
    seeded: fixtures::Seeded,
}

impl Bench {
    async fn new(store_delay: Duration, provider_delay: Duration) -> Bench {
        let clock = Arc::new(FixedClock::new(
            "2026-06-16T15:00:00Z".parse().expect("time"),
        ));
        let store = Arc::new(MemoryStore::new());
        let secrets = MemorySecrets::new();
        let seeded = fixtures::seed(
            store.as_ref(),
            &secrets,
            "bench/api-key/",
            Plan::Agency,
            true,
            clock.now(),
        )
        .await;
        let plan = FaultPlan::new();
        for method in STORE_METHODS {
            plan.delay_always(method, store_delay);
        }
        plan.delay_always("create_phone_call", provider_delay);
        Bench {
            queue: Arc::new(MemoryQueue::new(clock.clone())),
            store,
            plan,
            clock,
            provider: Arc::new(ScriptedProvider::new()),
            seeded,
        }
    }

    fn deps(&self, pace: reconciler::Pace) -> reconciler::Deps {
        let ports = reconciler::Ports {
            store: Arc::new(FaultyStore::new(
                self.store.clone() as Arc<dyn Store>,
                self.plan.clone(),
            )),
            queue: self.queue.clone(),
            provider: Arc::new(FaultyProvider::new(
                self.provider.clone(),
                self.plan.clone(),
            )),
            clock: self.clock.clone(),
        };
        let tunables = Tunables {
            dial_unknown_deadline: Duration::from_secs(10 * 60),
            call_stale_after: Duration::from_secs(3 * 3600),
            reconciler_pace: pace,
            ..Tunables::default()
        };
        reconciler::Deps::new(ports, &tunables.reconciler())
    }

    /// `n` calls in `status`, due a minute ago, written straight into the store (no delay).
    async fn due_calls(&self, n: usize, status: CallStatus) {
        let now = self.clock.now();
        let due: DateTime<Utc> = now - chrono::Duration::minutes(1);
        for i in 0..n {
            let created = now - chrono::Duration::minutes(10);
            let mut call = Call::new(
                Uuid::new_v4(),
                self.seeded.account.id.clone(),
                self.seeded.agent.id,
                Direction::Outbound,
                status,
                "+15551234567",
                created,
            );
            call.due_at = Some(due);
            if status == CallStatus::Ended {
                call.provider_call_id = Some(format!("prov_{i}"));
                call.started_at = Some(created);
                call.ended_at = Some(created + chrono::Duration::minutes(3));
                call.duration_seconds = Some(180);
                call.disconnection_reason = Some("user_hangup".into());
            }
            self.store
                .create_call(&call, None, created)
                .await
                .expect("create call");
        }
    }
}

/// Passes back to back until one repairs nothing of `what`; each pass's count and time.
async fn passes(deps: &reconciler::Deps, what: Repaired, max: usize) -> Vec<(u64, Duration)> {
    let mut out = Vec::new();
    for _ in 0..max {
        let t = Instant::now();
        let report = reconciler::run(deps).await;
        let n = report.count(what);
        if report.errors > 0 {
            println!("  pass errors: {report:?}");
        }
        if n == 0 {
            break;
        }
        out.push((n, t.elapsed()));
    }
    out
}

fn show(label: &str, runs: &[(u64, Duration)]) {
    let total: u64 = runs.iter().map(|r| r.0).sum();
    let time: Duration = runs.iter().map(|r| r.1).sum();
    println!(
        "{label}: {total} in {} pass(es), {:.1} s of wall time, {:.0}/s",
        runs.len(),
        time.as_secs_f64(),
        total as f64 / time.as_secs_f64().max(1e-9)
    );
    for (i, (n, t)) in runs.iter().enumerate() {
        println!("  pass {}: {n} in {:.1} s", i + 1, t.as_secs_f64());
    }
}

#[tokio::main]
async fn main() {
    let store_delay = Duration::from_millis(setting("BENCH_STORE_DELAY_MS", 5));
    let provider_delay = Duration::from_millis(setting("BENCH_PROVIDER_DELAY_MS", 300));
    let completions = setting("BENCH_COMPLETIONS", 12_000) as usize;
    let held = setting("BENCH_HELD_CALLS", 10_000) as usize;
    let pace = reconciler::Pace {
        concurrency: setting(
            "RECONCILER_CONCURRENCY",
            reconciler::DEFAULT_CONCURRENCY as u64,
        ) as usize,
        scheduled_per_second: setting(
            "SCHEDULED_CALLS_PER_SECOND",
            reconciler::DEFAULT_SCHEDULED_CALLS_PER_SECOND as u64,
        ) as usize,
    };
    println!(
        "reconciler bench: store delay {} ms, provider delay {} ms, {pace:?}",
        store_delay.as_millis(),
        provider_delay.as_millis()
    );

    // 1. Completions, concurrent.
    let b = Bench::new(store_delay, provider_delay).await;
    b.due_calls(completions, CallStatus::Ended).await;
    let runs = passes(&b.deps(pace), Repaired::CallCompletedWithoutAnalysis, 50).await;
    show(
        &format!(
            "{completions} due completions, concurrency {}",
            pace.concurrency
        ),
        &runs,
    );
    println!(
        "  events queued: {}, store requests: {}",
        b.queue.sent_count(),
        STORE_METHODS.iter().map(|m| b.plan.calls(m)).sum::<u64>()
    );

    // 1b. The same backlog one repair at a time (the previous version's pace), one pass.
    let b = Bench::new(store_delay, provider_delay).await;
    b.due_calls(completions, CallStatus::Ended).await;
    let serial = reconciler::Pace {
        concurrency: 1,
        ..pace
    };
    let runs = passes(&b.deps(serial), Repaired::CallCompletedWithoutAnalysis, 1).await;
    show("one at a time, first pass only", &runs);
    if let Some((n, t)) = runs.first() {
        let per_item = t.as_secs_f64() / (*n as f64).max(1.0);
        println!(
            "  {:.1} ms an item: {completions} would take {:.0} s of repairs, {} passes of 20 s",
            per_item * 1000.0,
            per_item * completions as f64,
            (per_item * completions as f64 / 20.0).ceil()
        );
    }

    // 2. Held calls opening at once, paced.
    let b = Bench::new(store_delay, provider_delay).await;
    b.due_calls(held, CallStatus::Scheduled).await;
    let runs = passes(&b.deps(pace), Repaired::ScheduledCallDialed, 100).await;
    show(
        &format!(
            "{held} held calls placed at {} per second",
            pace.scheduled_per_second
        ),
        &runs,
    );
    if let Some((_, last)) = runs.last() {
        println!(
            "  provider requests: {}; with one pass a minute the last is placed {:.0} s after they open",
            b.provider.request_count(),
            (runs.len() as f64 - 1.0) * 60.0 + last.as_secs_f64()
        );
    }
}
