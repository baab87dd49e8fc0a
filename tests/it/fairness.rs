//! Fairness between accounts end to end: the local stack's resources (the template's queue and
//! DLQ) on the emulator, the local poller with the template's event source settings (10
//! concurrent batches of 10, 2 s window, 30 s function timeout), webhook-delivery with the
//! spec's 10 s timeout and the default per-account cap, and real receivers on 127.0.0.1.
//!
//! Account A has 500 events queued and an endpoint that never answers; account B's new event must
//! be delivered within 20 s ([`BOUND`], the issue's target; docs/webhooks.md, "Fairness between
//! accounts"; the figure is recorded in docs/benchmarks.md).
//!
//! The scenario gets a moto server of its own, as `make run` has: moto's ReceiveMessage costs
//! time in proportion to the queue's length, so on the suite's shared server the figure would
//! measure the other tests' load instead of the design.

use aws_adapters::DynamoStore;
use aws_sdk_sqs::types::QueueAttributeName;
use domain::config;
use domain::model::{DeliveryOutcome, Plan};
use futures::StreamExt;
use integration_tests::app::{first_attempt, TestApp};
use integration_tests::peer::{Reply, TestServer};
use integration_tests::Emulator;
use local_stack::poller::{sqs_handler, Poller, PollerConfig};
use local_stack::resources::{self, ResourceNames};
use std::sync::Arc;
use std::time::{Duration, Instant};
use webhook_delivery::slots;

const BACKLOG: usize = 500;
/// The target. Without the fair step it fails: then every batch holds ten hanging
/// POSTs for the 10 s timeout, ten batches at a time, and B waits at least
/// 500 / 100 x 10 s = 50 s. Reaching it on moto needs the emulator launcher's speed fix to
/// moto's SQS clock (local/emulator/src/moto_server.py): without it each receive past 500
/// queued messages cost about 0.3 s and B waited 22-27 s (docs/benchmarks.md).
const BOUND: Duration = Duration::from_secs(20);

async fn queue_count(sqs: &aws_sdk_sqs::Client, url: &str, name: QueueAttributeName) -> u64 {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .expect("queue attributes")
        .attributes()
        .and_then(|a| a.get(&name))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A moto server for this test alone (from `$VENV`, default the workspace's `.venv`).
async fn own_moto() -> (emulator::Moto, Emulator) {
    // Fails loudly (no skip) if the suite's emulator is not there either: same setup needed.
    Emulator::connect().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let venv = std::env::var("VENV").map_or_else(|_| root.join(".venv"), |v| root.join(v));
    let port = emulator::free_port().expect("a free port");
    let log = std::env::temp_dir().join(format!("moto-fairness-{port}.log"));
    let moto = emulator::Moto::start(
        &emulator::Moto::binary(&venv),
        port,
        &log,
        Duration::from_secs(60),
        emulator::Group::Shared,
    )
    .expect("start moto for the fairness scenario");
    let emu = Emulator::at(moto.endpoint()).await;
    (moto, emu)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hanging_account_with_a_backlog_does_not_hold_up_another_accounts_event() {
    let (moto, emulator) = own_moto().await;
    let names = ResourceNames {
        table: Emulator::unique("fair-table"),
        queue: Emulator::unique("fair-events"),
        dead_letter_queue: Emulator::unique("fair-events-dlq"),
        provider_secret: Emulator::unique("fair/provider"),
    };
    let res = resources::ensure(&emulator.config, &names, "fair-test-provider-key")
        .await
        .expect("the local stack's resources");
    // The delivery function as deployed: the spec's 10 s timeout, the default cap and re-park;
    // both accounts' keys under the app's prefix.
    let store = DynamoStore::new(emulator.dynamodb(), &res.table);
    let mut app = TestApp::emulator_on(emulator, store, res.queue_url.clone());
    app.retune(|t| {
        t.webhook_timeout = Duration::from_secs(10);
        t.account_concurrency = config::DEFAULT_ACCOUNT_CONCURRENCY;
        t.repark_delay = config::DEFAULT_REPARK_DELAY;
    });
    let (a, b) = (
        app.account_with(Plan::Agency, true).await,
        app.account_with(Plan::Agency, true).await,
    );

    // A's endpoint never answers; B's answers at once.
    let hanging = TestServer::start(|_, _| std::future::pending::<Reply>()).await;
    let healthy = TestServer::start(|_, _| async { Reply::status(200) }).await;
    for (s, server) in [(&a, &hanging), (&b, &healthy)] {
        let url = format!("{}/hooks", server.url());
        app.update_account(&s.account.id, |acc| acc.webhook_url = Some(url))
            .await;
    }

    // A's backlog: 500 stored events, each queued through the product's queue adapter (one
    // at a time: moto refuses concurrent transactions on one account's calls).
    let queue = app.ports().queue;
    let sent = futures::stream::iter(0..BACKLOG)
        .map(|_| async {
            let e = app.stored_event(&a).await;
            queue
                .send(&first_attempt(&e), Duration::ZERO)
                .await
                .expect("enqueue");
        })
        .buffered(1)
        .count()
        .await;
    assert_eq!(sent, BACKLOG);

    // The app serves the poller's batches from its task.
    let app = Arc::new(app);
    let served = app.clone();
    let handler = sqs_handler(move |event| {
        let app = served.clone();
        async move { webhook_delivery::handle(event, app.webhook_delivery_deps()).await }
    });
    let poller = Poller::new(
        app.emu.sqs(),
        &res.queue_url,
        PollerConfig::default(),
        handler,
    )
    .await
    .expect("poller");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let poller_task = tokio::spawn(poller.run(stopped));

    // A's endpoint is hanging on as many POSTs as A is allowed; now B's event arrives.
    hanging
        .wait_for(config::DEFAULT_ACCOUNT_CONCURRENCY, Duration::from_secs(30))
        .await;
    let e = app.stored_event(&b).await;
    let t0 = Instant::now();
    queue
        .send(&first_attempt(&e), Duration::ZERO)
        .await
        .expect("enqueue B");
    let got = healthy.wait_for(1, BOUND).await;
    let waited = t0.elapsed();
    eprintln!(
        "FAIRNESS: B delivered {:.2} s after it was queued behind {BACKLOG} events of a hanging account",
        waited.as_secs_f64()
    );
    assert!(waited < BOUND, "{waited:?}");

    // B: one POST of its event, logged delivered.
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("x-event-id"), Some(e.id.to_string().as_str()));
    // A: the fairness step is work-conserving, so A's first batches, before anything showed
    // that its endpoint hangs, are all POSTed: at most one wave of the poller's batches. Once
    // those POSTs have timed out (and its health record counts the timeouts), A is slow:
    // never more than its cap at once. Its endpoint never answers, so the receiver cannot tell when
    // our client gave up; counted instead by when the POSTs arrived.
    let posts_a = hanging.requests();
    let first = posts_a.iter().map(|r| r.at).min().expect("A got POSTs");
    let timeout = app.tunables.webhook_timeout;
    let wave = PollerConfig::default().concurrency
        * usize::try_from(PollerConfig::default().batch_size).expect("batch size");
    let in_window = |from: Duration, to: Duration| {
        posts_a
            .iter()
            .filter(|r| r.at >= first + from && r.at < first + to)
            .count()
    };
    assert!(in_window(Duration::ZERO, timeout) <= wave);
    assert!(
        in_window(timeout + slots::SLOW_DELIVERY, 2 * timeout)
            <= config::DEFAULT_ACCOUNT_CONCURRENCY,
        "capped once slow"
    );
    // The row is written after the receiver answered: polled until it is there (bounded).
    let mut poll = tokio::time::interval(Duration::from_millis(100));
    let log_b = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            poll.tick().await;
            let rows = app.delivery_log(&b.account.id).await;
            if !rows.is_empty() {
                return rows;
            }
        }
    })
    .await
    .expect("B's attempt logged");
    assert_eq!(log_b.len(), 1);
    assert_eq!(log_b[0].outcome, DeliveryOutcome::Delivered);
    // Re-parking is not an attempt: A's log only has the POSTs its endpoint actually got.
    let log_a = app.delivery_log(&a.account.id).await;
    assert!(
        log_a.len() <= hanging.requests().len(),
        "{} rows for {} POSTs",
        log_a.len(),
        hanging.requests().len()
    );
    assert!(log_a.iter().all(|r| r.outcome == DeliveryOutcome::Failed));
    // Nothing went to the dead-letter queue.
    let sqs = app.emu.sqs();
    let dlq = queue_count(
        &sqs,
        &res.dead_letter_queue_url,
        QueueAttributeName::ApproximateNumberOfMessages,
    )
    .await;
    assert_eq!(dlq, 0);

    stop.send(true).expect("stop");
    let _ = tokio::time::timeout(Duration::from_secs(5), poller_task).await;
    hanging.stop();
    healthy.stop();
    moto.stop();
}
