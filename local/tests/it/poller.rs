//! The SQS poller against the emulator: Lambda-shaped batches, partial batch responses,
//! whole-batch failures (error, panic, unknown item identifier, function timeout) that delete
//! nothing, concurrent batches up to the limit, and the batching window.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use integration_tests::Emulator;
use local_stack::poller::{
    fallible_sqs_handler, sqs_handler, BatchOutcome, HandlerError, Poller, PollerConfig,
    PollerError, POLLER_CONCURRENCY, POLLER_FUNCTION_TIMEOUT,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A queue whose messages come back one second after a failed receive.
async fn queue(emulator: &Emulator) -> String {
    queue_with_visibility(emulator, 1).await
}

/// A queue with the given visibility timeout (longer than any batching window in a test, or a
/// message would come back, and be received again, inside its own batch).
async fn queue_with_visibility(emulator: &Emulator, seconds: u32) -> String {
    emulator
        .sqs()
        .create_queue()
        .queue_name(Emulator::unique("poller"))
        .attributes(QueueAttributeName::VisibilityTimeout, seconds.to_string())
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("url")
        .to_string()
}

fn config() -> PollerConfig {
    PollerConfig {
        batch_size: 10,
        wait_time_seconds: 2,
        batching_window: Duration::ZERO,
        concurrency: 1,
        function_timeout: Duration::from_secs(30),
        error_backoff: Duration::from_millis(100),
    }
}

async fn send(emulator: &Emulator, url: &str, body: &str) -> String {
    emulator
        .sqs()
        .send_message()
        .queue_url(url)
        .message_body(body)
        .message_attributes(
            "kind",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(format!("kind-{body}"))
                .build()
                .expect("attr"),
        )
        .message_attributes(
            "raw",
            MessageAttributeValue::builder()
                .data_type("Binary")
                .binary_value(Blob::new(vec![0u8, 255]))
                .build()
                .expect("attr"),
        )
        .send()
        .await
        .expect("send")
        .message_id()
        .expect("id")
        .to_string()
}

/// Polls until `n` messages were received in total (long polling; bounded).
async fn receive(poller: &Poller, n: usize) -> Vec<BatchOutcome> {
    let mut outcomes = Vec::new();
    let mut got = 0;
    for _ in 0..10 {
        let o = poller.poll_once().await.expect("poll");
        got += o.received;
        if o.received > 0 {
            outcomes.push(o);
        }
        if got >= n {
            return outcomes;
        }
    }
    panic!("received {got} of {n} messages");
}

async fn messages_left(emulator: &Emulator, url: &str) -> u64 {
    let attrs = emulator
        .sqs()
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("attributes");
    let a = attrs.attributes().expect("attributes");
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .map(|k| a.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
    .sum()
}

/// Signals `run` to stop and waits (bounded) until it has.
async fn stop(tx: tokio::sync::watch::Sender<bool>, task: tokio::task::JoinHandle<()>) {
    tx.send(true).expect("signal");
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops promptly")
        .expect("no panic");
}

fn failures(ids: &[String]) -> SqsBatchResponse {
    let mut r = SqsBatchResponse::default();
    for id in ids {
        let mut f = BatchItemFailure::default();
        f.item_identifier = id.clone();
        r.batch_item_failures.push(f);
    }
    r
}

#[tokio::test]
async fn deletes_successes_and_leaves_reported_failures() {
    let emulator = Emulator::connect().await;
    let url = queue(&emulator).await;
    let ok1 = send(&emulator, &url, "ok-1").await;
    let bad = send(&emulator, &url, "fail").await;
    let ok2 = send(&emulator, &url, "ok-2").await;

    let seen: Arc<Mutex<Vec<SqsEvent>>> = Arc::default();
    let s = seen.clone();
    // Fails "fail" on its first receive only.
    let handler = sqs_handler(move |event: SqsEvent| {
        s.lock().expect("lock").push(event.clone());
        async move {
            let failed: Vec<String> = event
                .records
                .iter()
                .filter(|r| {
                    r.body.as_deref() == Some("fail")
                        && r.attributes
                            .get("ApproximateReceiveCount")
                            .map(String::as_str)
                            == Some("1")
                })
                .filter_map(|r| r.message_id.clone())
                .collect();
            failures(&failed)
        }
    });
    let poller = Poller::new(emulator.sqs(), &url, config(), handler)
        .await
        .expect("poller");

    let outcomes = receive(&poller, 3).await;
    let deleted: usize = outcomes.iter().map(|o| o.deleted).sum();
    let failed: Vec<String> = outcomes.iter().flat_map(|o| o.failed.clone()).collect();
    assert_eq!(deleted, 2);
    assert_eq!(failed, vec![bad.clone()]);
    assert!(outcomes.iter().all(|o| o.batch_error.is_none()));
    assert_eq!(
        messages_left(&emulator, &url).await,
        1,
        "only the failure stays"
    );

    // The records look like Lambda's.
    let events = seen.lock().expect("lock").clone();
    let records: Vec<_> = events.iter().flat_map(|e| e.records.clone()).collect();
    let mut ids: Vec<String> = records
        .iter()
        .filter_map(|r| r.message_id.clone())
        .collect();
    ids.sort();
    let mut expected = vec![ok1, bad.clone(), ok2];
    expected.sort();
    assert_eq!(ids, expected);
    let r = records
        .iter()
        .find(|r| r.body.as_deref() == Some("ok-1"))
        .expect("ok-1");
    assert_eq!(r.event_source.as_deref(), Some("aws:sqs"));
    assert_eq!(r.event_source_arn.as_deref(), Some(poller.queue_arn()));
    assert!(poller.queue_arn().starts_with("arn:aws:sqs:us-east-1:"));
    assert_eq!(r.aws_region.as_deref(), Some("us-east-1"));
    assert!(r.receipt_handle.as_deref().is_some_and(|h| !h.is_empty()));
    assert!(r.md5_of_body.is_some());
    assert_eq!(
        r.attributes
            .get("ApproximateReceiveCount")
            .map(String::as_str),
        Some("1")
    );
    assert!(r
        .attributes
        .get("SentTimestamp")
        .is_some_and(|t| t.parse::<i64>().is_ok()));
    let kind = r.message_attributes.get("kind").expect("kind attribute");
    assert_eq!(kind.string_value.as_deref(), Some("kind-ok-1"));
    assert_eq!(kind.data_type.as_deref(), Some("String"));
    let raw = r.message_attributes.get("raw").expect("raw attribute");
    assert_eq!(
        raw.binary_value.as_deref().map(Vec::as_slice),
        Some(&[0u8, 255][..])
    );
    // Serialized as Lambda sends it.
    let wire = serde_json::to_value(&events[0]).expect("serialize");
    let rec = &wire["Records"][0];
    assert_eq!(rec["eventSource"], "aws:sqs");
    assert!(rec["eventSourceARN"].is_string());
    assert!(rec["messageAttributes"]["kind"]["stringValue"].is_string());

    // The failure comes back after the visibility timeout, counted, and succeeds this time.
    let again = receive(&poller, 1).await;
    assert_eq!(again.iter().map(|o| o.deleted).sum::<usize>(), 1);
    let last = seen.lock().expect("lock").last().cloned().expect("event");
    assert_eq!(last.records[0].message_id.as_deref(), Some(bad.as_str()));
    assert_eq!(
        last.records[0]
            .attributes
            .get("ApproximateReceiveCount")
            .map(String::as_str),
        Some("2")
    );
    assert_eq!(messages_left(&emulator, &url).await, 0);
}

#[tokio::test]
async fn whole_batch_failures_delete_nothing() {
    let emulator = Emulator::connect().await;
    let url = queue(&emulator).await;
    let id = send(&emulator, &url, "only").await;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let handler = fallible_sqs_handler(move |event: SqsEvent| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        async move {
            assert_eq!(event.records.len(), 1);
            let result: Result<SqsBatchResponse, HandlerError> = match n {
                0 => panic!("delivery bug"),
                1 => Err("downstream unavailable".into()),
                2 => Ok(failures(&["not-in-this-batch".to_string()])),
                _ => Ok(failures(&[])),
            };
            result
        }
    });
    let poller = Poller::new(emulator.sqs(), &url, config(), handler)
        .await
        .expect("poller");

    for (round, why) in [
        "panicked",
        "returned an error",
        "not a message of this batch",
    ]
    .iter()
    .enumerate()
    {
        let outcome = receive(&poller, 1).await.remove(0);
        assert_eq!(outcome.received, 1, "round {round}");
        assert_eq!(outcome.deleted, 0, "round {round}");
        assert_eq!(outcome.failed, vec![id.clone()], "round {round}");
        assert!(
            outcome
                .batch_error
                .as_deref()
                .is_some_and(|e| e.contains(why)),
            "round {round}: {:?}",
            outcome.batch_error
        );
        assert_eq!(messages_left(&emulator, &url).await, 1, "round {round}");
    }
    let outcome = receive(&poller, 1).await.remove(0);
    assert_eq!(outcome.deleted, 1);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(messages_left(&emulator, &url).await, 0);
}

#[tokio::test]
async fn run_loop_handles_messages_and_stops() {
    let emulator = Emulator::connect().await;
    let url = queue(&emulator).await;
    let handled = Arc::new(tokio::sync::Notify::new());
    let h = handled.clone();
    let handler = sqs_handler(move |_event| {
        let h = h.clone();
        async move {
            h.notify_one();
            SqsBatchResponse::default()
        }
    });
    let poller = Poller::new(emulator.sqs(), &url, config(), handler)
        .await
        .expect("poller");
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(poller.run(rx));
    send(&emulator, &url, "x").await;
    tokio::time::timeout(Duration::from_secs(10), handled.notified())
        .await
        .expect("handled");
    stop(tx, task).await;
}

#[tokio::test]
async fn configuration_and_queue_errors_are_reported() {
    let emulator = Emulator::connect().await;
    let url = queue(&emulator).await;
    let h = || sqs_handler(|_| async { SqsBatchResponse::default() });
    for size in [0, 11] {
        let mut c = config();
        c.batch_size = size;
        assert!(matches!(
            Poller::new(emulator.sqs(), &url, c, h()).await,
            Err(PollerError::BatchSize(s)) if s == size
        ));
    }
    let mut c = config();
    c.wait_time_seconds = 21;
    assert!(matches!(
        Poller::new(emulator.sqs(), &url, c, h()).await,
        Err(PollerError::WaitTime(21))
    ));
    let missing = format!(
        "{}/123456789012/{}",
        emulator.endpoint,
        Emulator::unique("missing")
    );
    match Poller::new(emulator.sqs(), &missing, config(), h()).await {
        Err(PollerError::Sqs { operation, .. }) => assert_eq!(operation, "GetQueueAttributes"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a missing queue was accepted"),
    }
}

/// Waits (bounded) until `f` holds for the queue's (visible, in flight) message counts.
async fn await_queue(emulator: &Emulator, url: &str, what: &str, f: impl Fn(u64, u64) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let attrs = emulator
            .sqs()
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .expect("attributes");
        let a = attrs.attributes().expect("attributes");
        let n = |k: QueueAttributeName| a.get(&k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let (visible, in_flight) = (
            n(QueueAttributeName::ApproximateNumberOfMessages),
            n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        );
        if f(visible, in_flight) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: {visible} visible, {in_flight} in flight"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn runs_up_to_the_concurrency_limit_of_batches_at_once() {
    let emulator = Emulator::connect().await;
    let url = queue(&emulator).await;
    for i in 0..6 {
        send(&emulator, &url, &format!("m{i}")).await;
    }
    // Each batch (one message) holds until released; the watch counts batches in the handler.
    let (running_tx, mut running) = tokio::sync::watch::channel(0usize);
    let running_tx = Arc::new(running_tx);
    let (release_tx, release) = tokio::sync::watch::channel(false);
    let most = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let (r, m, d) = (running_tx.clone(), most.clone(), done.clone());
    let handler = sqs_handler(move |_event| {
        let (r, m, d, mut release) = (r.clone(), m.clone(), d.clone(), release.clone());
        async move {
            r.send_modify(|n| *n += 1);
            m.fetch_max(*r.borrow(), Ordering::SeqCst);
            release.wait_for(|go| *go).await.expect("release");
            r.send_modify(|n| *n -= 1);
            d.fetch_add(1, Ordering::SeqCst);
            SqsBatchResponse::default()
        }
    });
    let mut c = config();
    c.batch_size = 1;
    c.concurrency = 3;
    let poller = Poller::new(emulator.sqs(), &url, c, handler)
        .await
        .expect("poller");
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(poller.run(rx));

    tokio::time::timeout(Duration::from_secs(10), running.wait_for(|n| *n == 3))
        .await
        .expect("three batches at once")
        .expect("watch");
    // Three in flight, three still waiting on the queue: no fourth batch was taken.
    await_queue(&emulator, &url, "3 in flight", |v, f| (v, f) == (3, 3)).await;
    assert_eq!(most.load(Ordering::SeqCst), 3);

    release_tx.send(true).expect("release");
    await_queue(&emulator, &url, "all handled", |v, f| v + f == 0).await;
    assert_eq!(done.load(Ordering::SeqCst), 6);
    assert_eq!(
        most.load(Ordering::SeqCst),
        3,
        "never more than 3 batches at once"
    );
    stop(tx, task).await;
}

#[tokio::test]
async fn a_batch_that_outlives_the_function_timeout_fails_as_a_whole() {
    let emulator = Emulator::connect().await;
    let url = queue(&emulator).await;
    let ids = [
        send(&emulator, &url, "a").await,
        send(&emulator, &url, "b").await,
    ];
    let calls = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicUsize::new(0));
    let (c, s) = (calls.clone(), stopped.clone());
    // The first invocation hangs (one slow SDK call); the handler's future must be stopped,
    // as Lambda stops a timed-out invocation. The second one succeeds.
    struct Stopped(Arc<AtomicUsize>);
    impl Drop for Stopped {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let handler = sqs_handler(move |event: SqsEvent| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        let guard = Stopped(s.clone());
        async move {
            assert_eq!(event.records.len(), 2);
            if n == 0 {
                std::future::pending::<()>().await;
            }
            std::mem::forget(guard);
            SqsBatchResponse::default()
        }
    });
    let mut c = config();
    c.function_timeout = Duration::from_millis(300);
    let poller = Poller::new(emulator.sqs(), &url, c, handler)
        .await
        .expect("poller");

    let outcome = receive(&poller, 2).await.remove(0);
    assert_eq!((outcome.received, outcome.deleted), (2, 0));
    let mut failed = outcome.failed.clone();
    failed.sort();
    let mut expected = ids.to_vec();
    expected.sort();
    assert_eq!(failed, expected, "the whole batch failed");
    assert!(
        outcome
            .batch_error
            .as_deref()
            .is_some_and(|e| e.contains("timed out")),
        "{:?}",
        outcome.batch_error
    );
    assert_eq!(messages_left(&emulator, &url).await, 2, "nothing deleted");
    // The hung invocation was stopped, not left running.
    tokio::time::timeout(Duration::from_secs(5), async {
        while stopped.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the timed-out handler was stopped");

    // Both come back after the visibility timeout, received a second time, and succeed.
    let again = receive(&poller, 2).await;
    assert_eq!(again.iter().map(|o| o.deleted).sum::<usize>(), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(messages_left(&emulator, &url).await, 0);
}

#[tokio::test]
async fn the_batching_window_gathers_messages_that_arrive_during_it() {
    let emulator = Emulator::connect().await;
    let url = queue_with_visibility(&emulator, 30).await;
    let sizes: Arc<Mutex<Vec<usize>>> = Arc::default();
    let s = sizes.clone();
    let handler = sqs_handler(move |event: SqsEvent| {
        s.lock().expect("lock").push(event.records.len());
        async { SqsBatchResponse::default() }
    });
    let mut c = config();
    c.batching_window = Duration::from_secs(3);
    c.batch_size = 3;
    let poller = Arc::new(
        Poller::new(emulator.sqs(), &url, c, handler)
            .await
            .expect("poller"),
    );
    send(&emulator, &url, "first").await;
    let p = poller.clone();
    let started = tokio::time::Instant::now();
    let round = tokio::spawn(async move { p.poll_once().await.expect("poll") });
    // Once the first message is taken, two more arrive inside the window: one batch of three,
    // handed over as soon as it is full (well before the window ends).
    await_queue(&emulator, &url, "first taken", |v, f| (v, f) == (0, 1)).await;
    send(&emulator, &url, "second").await;
    send(&emulator, &url, "third").await;
    let outcome = round.await.expect("round");
    assert_eq!((outcome.received, outcome.deleted), (3, 3));
    assert_eq!(*sizes.lock().expect("lock"), vec![3]);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // A batch that does not fill waits for the whole window, then goes as it is.
    send(&emulator, &url, "alone").await;
    let started = tokio::time::Instant::now();
    let outcome = poller.poll_once().await.expect("poll");
    assert_eq!(outcome.received, 1);
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // Without a window the first receive's messages go at once.
    let mut c = config();
    c.batch_size = 3;
    let sizes0: Arc<Mutex<Vec<usize>>> = Arc::default();
    let s0 = sizes0.clone();
    let no_window = Poller::new(
        emulator.sqs(),
        &url,
        c,
        sqs_handler(move |event: SqsEvent| {
            s0.lock().expect("lock").push(event.records.len());
            async { SqsBatchResponse::default() }
        }),
    )
    .await
    .expect("poller");
    send(&emulator, &url, "solo").await;
    let started = tokio::time::Instant::now();
    assert_eq!(no_window.poll_once().await.expect("poll").received, 1);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(*sizes0.lock().expect("lock"), vec![1]);
}

#[test]
fn defaults_come_from_the_template_and_the_environment_overrides_two() {
    // The defaults equal template.yaml's values: tests/it/template_drift.rs checks that.
    let none = PollerConfig::from_lookup(|_| None).expect("defaults");
    assert_eq!(none.concurrency, 10);
    assert_eq!(none.function_timeout, Duration::from_secs(30));
    assert_eq!(none.batch_size, 10);
    assert_eq!(none.batching_window, Duration::ZERO);
    let retries = PollerConfig::retries();
    assert_eq!(retries.concurrency, 5);
    assert_eq!(retries.batching_window, Duration::ZERO);
    let set = PollerConfig::from_lookup(|k| match k {
        POLLER_CONCURRENCY => Some("3".into()),
        POLLER_FUNCTION_TIMEOUT => Some("1500ms".into()),
        _ => None,
    })
    .expect("overrides");
    assert_eq!(set.concurrency, 3);
    assert_eq!(set.function_timeout, Duration::from_millis(1500));
    for (name, value, expect) in [
        (POLLER_CONCURRENCY, "many", "POLLER_CONCURRENCY"),
        (POLLER_CONCURRENCY, "0", "concurrency"),
        (POLLER_FUNCTION_TIMEOUT, "soon", "POLLER_FUNCTION_TIMEOUT"),
        (POLLER_FUNCTION_TIMEOUT, "16m", "function timeout"),
    ] {
        let err = PollerConfig::from_lookup(|k| (k == name).then(|| value.to_string()))
            .expect_err(value)
            .to_string();
        assert!(err.contains(expect), "{value}: {err}");
    }
}
