//! The call lifecycle under faults against the emulator (DynamoDB with its due index, SQS) and
//! real HTTP peers: the production Retell client against a provider that times out after
//! accepting, resets the connection, answers an unreadable 201 or a 500; signed callbacks into
//! call-completed; the reconciler over the table's `gsi2`. Counts: provider requests, events
//! in the table, messages on the queue.

use crate::rules::Stage;
use aws_adapters::SqsQueue;
use aws_sdk_dynamodb::types::AttributeValue;
use domain::clock::Clock;
use domain::ids::CallId;
use domain::model::{Call, CallStatus};
use domain::ports::queue::EventQueue;
use domain::ports::store::CallStore;
use in_memory::{FaultPlan, FaultyQueue};
use integration_tests::app::{OnEmulator, TestApp};
use integration_tests::deps::retell;
use integration_tests::fixtures::Seeded;
use integration_tests::peer::{Reply, TestServer};
use reconciler::repair::Repaired;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

const PROVIDER_KEY: &str = "key_test_provider_lifecycle_0123";

/// The emulator flavour.
type App = TestApp<OnEmulator>;

/// The emulator app (its provider the test's, its clock fixed) with a seeded account, and
/// the events queue behind a fault plan (call-completed's sends fail when the test says).
async fn env(provider_url: &str) -> (App, Seeded, FaultPlan) {
    let mut app = TestApp::emulator().await;
    let seeded = app.agency().await;
    app.retune(|t| {
        t.provider_key = PROVIDER_KEY.into();
        t.provider_timeout = Duration::from_millis(300);
    });
    app.set_provider(retell(provider_url, &app.tunables));
    app.fix_clock(chrono::Utc::now());
    let send_faults = FaultPlan::new();
    let faulty_queue: Arc<dyn EventQueue> = Arc::new(FaultyQueue::new(
        Arc::new(SqsQueue::new(app.emu.sqs(), &app.queue_url)),
        send_faults.clone(),
    ));
    app.with_queue(faulty_queue);
    (app, seeded, send_faults)
}

async fn trigger(app: &App, seeded: &Seeded, key: &str) -> (u16, Value) {
    let req = app
        .api(seeded, "POST", "/api/trigger-call")
        .header("idempotency-key", key)
        .json(&json!({"phone": "+15551234567"}));
    app.trigger_call(req).await
}

async fn call_of(app: &App, id: &Value) -> Call {
    let id: CallId = id.as_str().expect("call id").parse().expect("uuid");
    app.store.call(id).await.unwrap().expect("call exists")
}

/// Messages on the events queue (received and deleted).
async fn drain(app: &App) -> usize {
    integration_tests::sqs::drain(&app.emu.sqs(), &app.queue_url)
        .await
        .len()
}

fn advance(app: &App, d: Duration) {
    app.fixed_clock()
        .advance(chrono::Duration::from_std(d).unwrap());
}

/// A provider that reads each request and then resets the connection without an answer.
async fn resetting_provider() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut got = Vec::new();
                // Until the body (JSON ending in '}') is in.
                while !got.ends_with(b"}") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = socket.set_zero_linger();
                drop(socket);
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn every_lost_provider_answer_dials_once_and_the_late_callbacks_send_one_event() {
    let hanging = TestServer::start(|_, _| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Reply::json(201, json!({"call_id": "prov_late"}))
    })
    .await;
    let garbage = TestServer::fixed(201, json!({})).await;
    let failing = TestServer::fixed(500, json!({"error": "internal"})).await;
    let (reset_url, resets) = resetting_provider().await;
    let count_hanging = || hanging.requests().len();
    let count_resets = || resets.load(Ordering::SeqCst);
    let count_garbage = || garbage.requests().len();
    let count_failing = || failing.requests().len();
    let cases: [(&str, String, &dyn Fn() -> usize); 4] = [
        ("timeout after accept", hanging.url(), &count_hanging),
        ("reset after accept", reset_url, &count_resets),
        ("201 {}", garbage.url(), &count_garbage),
        ("500", failing.url(), &count_failing),
    ];
    for (what, url, provider_requests) in cases {
        let (app, seeded, _send_faults) = env(&url).await;
        let (status, first) = trigger(&app, &seeded, "order-7").await;
        assert_eq!(
            (status, first["error"]["code"].as_str()),
            (502, Some("provider_outcome_unknown")),
            "{what}: {first}"
        );
        for _ in 0..3 {
            let (status, again) = trigger(&app, &seeded, "order-7").await;
            assert_eq!((status, &again), (502, &first), "{what}");
        }
        assert_eq!(
            provider_requests(),
            1,
            "{what}: one provider request in total"
        );
        let call = call_of(&app, &first["error"]["call_id"]).await;
        assert_eq!(call.status, CallStatus::DialUnknown, "{what}");
        assert!(call.due_at.is_some(), "{what}: due for the reconciler");

        for stage in [Stage::Started, Stage::Ended, Stage::Analyzed] {
            let (status, res) = app.callback(&call, &seeded.agent, stage).await;
            assert_eq!(status, 200, "{what} {stage:?}: {res}");
        }
        let done = call_of(&app, &first["error"]["call_id"]).await;
        assert_eq!(done.status, CallStatus::Completed, "{what}");
        assert_eq!(done.due_at, None, "{what}");
        assert_eq!(
            app.items_of_type("event").await.len(),
            1,
            "{what}: one event"
        );
        assert_eq!(drain(&app).await, 1, "{what}: one queue message");
        assert_eq!(provider_requests(), 1, "{what}");
    }
}

/// The handler is dropped while the provider request is in flight.
async fn drop_mid_dial(app: &App, seeded: &Seeded, key: &str) {
    let dropped = tokio::time::timeout(Duration::from_millis(150), trigger(app, seeded, key)).await;
    assert!(dropped.is_err(), "the request was expected to hang");
}

#[tokio::test]
async fn the_reconciler_finds_all_overdue_work_in_the_index_and_two_runs_repair_it_once() {
    // 500 for the first request (dial_unknown); hang for the second (dropped); then 201s.
    let provider = TestServer::start(|_, i| async move {
        match i {
            0 => Reply::json(500, json!({"error": "internal"})),
            1 => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Reply::status(504)
            }
            n => Reply::json(201, json!({"call_id": format!("prov_{n}")})),
        }
    })
    .await;
    let (mut app, seeded, send_faults) = env(&provider.url()).await;
    let (status, unknown) = trigger(&app, &seeded, "k-unknown").await;
    assert_eq!(status, 502);
    let unknown = call_of(&app, &unknown["error"]["call_id"]).await;
    drop_mid_dial(&app, &seeded, "k-dropped").await;
    let held = app
        .store
        .idempotency(&seeded.account.id, "k-dropped", app.fixed_clock().now())
        .await
        .unwrap()
        .expect("held key");
    // A placed call that ended without analysis, and one whose event never reached SQS.
    let (s1, r1) = trigger(&app, &seeded, "k-ended").await;
    let (s2, r2) = trigger(&app, &seeded, "k-analyzed").await;
    assert_eq!((s1, s2), (200, 200), "{r1} {r2}");
    let ended = call_of(&app, &r1["call_id"]).await;
    let analyzed = call_of(&app, &r2["call_id"]).await;
    assert_eq!(
        app.callback(&ended, &seeded.agent, Stage::Ended).await.0,
        200
    );
    send_faults.fail_next("send");
    assert_eq!(
        app.callback(&analyzed, &seeded.agent, Stage::Analyzed)
            .await
            .0,
        500
    );
    assert_eq!(
        (app.items_of_type("event").await.len(), drain(&app).await),
        (1, 0)
    );
    assert_eq!(provider.requests().len(), 4);

    // Nothing is due yet.
    let early = reconciler::run(app.reconciler_deps()).await;
    assert!(early.repaired.is_empty(), "{early:?}");

    // Past every deadline: the grace (10 min) and the dial deadline (15 min). The two passes
    // race through a client that gives each DynamoDB request the atomicity moto lacks on its
    // own (integration_tests::atomic), as DynamoDB does.
    advance(
        &app,
        app.tunables.dial_unknown_deadline + Duration::from_secs(1),
    );
    app.atomic_store();
    let racing = app.reconciler_deps();
    let (a, b) = tokio::join!(reconciler::run(racing), reconciler::run(racing));
    let total = |what| a.count(what) + b.count(what);
    assert_eq!((a.errors, b.errors), (0, 0), "{a:?} {b:?}");
    assert_eq!(
        total(Repaired::CallCompletedWithoutAnalysis),
        1,
        "{a:?} {b:?}"
    );
    assert_eq!(total(Repaired::EventEnqueued), 1, "{a:?} {b:?}");
    assert_eq!(total(Repaired::CallFailed), 1, "{a:?} {b:?}");
    assert_eq!(total(Repaired::CallMarkedDialUnknown), 1, "{a:?} {b:?}");
    assert_eq!(total(Repaired::KeyAnsweredUnknown), 1, "{a:?} {b:?}");
    // One event per ended call: the two completed ones, and the failed dial_unknown call's
    // call.completed (the account is on the default subscription; issue 25).
    assert_eq!(
        app.items_of_type("event").await.len(),
        3,
        "one event per ended call"
    );
    assert_eq!(drain(&app).await, 3, "one message per event");
    assert_eq!(
        app.store.call(unknown.id).await.unwrap().unwrap().status,
        CallStatus::Failed
    );
    assert_eq!(
        app.store.call(held.call_id).await.unwrap().unwrap().status,
        CallStatus::DialUnknown
    );
    assert_eq!(
        app.store.call(ended.id).await.unwrap().unwrap().status,
        CallStatus::Completed
    );

    // The dropped request's key answers the 502 naming its call and dials nothing; nothing
    // else is due.
    let (status, res) = trigger(&app, &seeded, "k-dropped").await;
    assert_eq!(status, 502, "{res}");
    assert_eq!(res["error"]["call_id"], json!(held.call_id.to_string()));
    assert_eq!(provider.requests().len(), 4);
    let again = reconciler::run(app.reconciler_deps()).await;
    assert!(again.repaired.is_empty(), "{again:?}");
    assert_eq!(
        (app.items_of_type("event").await.len(), drain(&app).await),
        (3, 0)
    );
}

/// Issue 25, poison items, on the table's real index: an item filed in `gsi2` under `call`
/// that names no call (a hand edit, a bug of an older version) sat at the head of the index
/// and failed the page's read on every pass, so nothing behind it was ever repaired. Now it
/// is moved to the `quarantine` kind, logged with its key, and the call behind it is
/// repaired in the same pass.
#[tokio::test]
async fn an_unreadable_due_item_is_quarantined_and_the_item_behind_it_repaired() {
    let provider = TestServer::start(|_, i| async move {
        Reply::json(201, json!({"call_id": format!("prov_{i}")}))
    })
    .await;
    let (app, seeded, _send_faults) = env(&provider.url()).await;
    let (status, placed) = trigger(&app, &seeded, "k-behind").await;
    assert_eq!(status, 200, "{placed}");
    let behind = call_of(&app, &placed["call_id"]).await;
    app.emu
        .dynamodb()
        .put_item()
        .table_name(app.store.table())
        .item("pk", AttributeValue::S("CALL#not-a-uuid".into()))
        .item("sk", AttributeValue::S("CALL".into()))
        .item("due_kind", AttributeValue::S("call".into()))
        .item(
            "due_at",
            AttributeValue::S("2001-01-01T00:00:00.000Z".into()),
        )
        .send()
        .await
        .unwrap();
    advance(&app, app.tunables.call_stale_after + Duration::from_secs(1));
    let report = reconciler::run(app.reconciler_deps()).await;
    assert_eq!((report.quarantined, report.errors), (1, 0), "{report:?}");
    assert_eq!(report.count(Repaired::CallFailed), 1, "{report:?}");
    assert_eq!(
        app.store.call(behind.id).await.unwrap().unwrap().status,
        CallStatus::Failed
    );
    let poison = app
        .emu
        .dynamodb()
        .get_item()
        .table_name(app.store.table())
        .key("pk", AttributeValue::S("CALL#not-a-uuid".into()))
        .key("sk", AttributeValue::S("CALL".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        poison.item().and_then(|i| i.get("due_kind")),
        Some(&AttributeValue::S("quarantine".into()))
    );
    let again = reconciler::run(app.reconciler_deps()).await;
    assert_eq!((again.quarantined, again.errors), (0, 0), "{again:?}");
    assert!(again.repaired.is_empty(), "{again:?}");
}
