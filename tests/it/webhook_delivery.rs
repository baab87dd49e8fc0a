//! webhook-delivery against the emulator with real HTTP receivers on 127.0.0.1 and the retry
//! schedule shortened by configuration.

use async_trait::async_trait;
use aws_adapters::SecretsManager;
use aws_adapters::SqsQueue;
use base64::Engine;
use chrono::{DateTime, Utc};
use domain::model::{DeliveryErrorClass, DeliveryOutcome, DeliveryTrigger, EventRecord};
use domain::ports::queue::{DeliveryMessage, EventQueue};
use domain::ports::store::deliveries::DeliveryQuery;
use domain::ports::store::{AccountStore, DeliveryLog};
use domain::webhook::signing_secret::SigningSecret;
use hmac::{Hmac, KeyInit, Mac};
use in_memory::faults::{FaultPlan, FaultyQueue, FaultySecrets, FaultyStore};
use in_memory::FixedClock;
use integration_tests::app::{first_attempt, OnEmulator, TestApp};
use integration_tests::counting::counting_secrets;
use integration_tests::deps::Ports;
use integration_tests::fixtures::{self, Seeded};
use integration_tests::peer::{Reply, TestServer};
use integration_tests::sqs::{depth, drain, event_for, pump};
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;
use webhook_delivery::handle;

/// The emulator flavour.
type App = TestApp<OnEmulator>;

/// The emulator app (short retry delays, loopback receivers allowed) with a seeded account
/// whose webhook URL is `webhook_url`, one stored event, and the account's signing secret,
/// created with its webhook URL (as the settings PATCH does).
async fn setup(webhook_url: Option<String>) -> (App, Seeded, EventRecord, Option<SigningSecret>) {
    let mut app = TestApp::emulator().await;
    let seeded = app.agency().await;
    app.retune(|t| t.retry_delays = "1s,2s,3s".into());
    let with_url = webhook_url.is_some();
    app.update_account(&seeded.account.id, |a| a.webhook_url = webhook_url)
        .await;
    let signing = match with_url {
        true => Some(
            fixtures::signing_secret(app.store.as_ref(), app.secrets.as_ref(), &seeded.account.id)
                .await,
        ),
        false => None,
    };
    let event = app.stored_event(&seeded).await;
    (app, seeded, event, signing)
}

async fn log(app: &App, seeded: &Seeded) -> Vec<domain::model::DeliveryAttempt> {
    let page = app
        .store
        .deliveries(
            &seeded.account.id,
            &DeliveryQuery {
                outcome: None,
                limit: 100,
                after: None,
            },
            Utc::now(),
        )
        .await
        .expect("read log");
    let mut rows = page.attempts;
    rows.reverse(); // oldest first
    rows
}

/// A request's `webhook-signature` holds a valid signature by `secret` (any of its
/// space-separated signatures), computed here independently of the signer.
fn verifies(secret: &SigningSecret, r: &integration_tests::peer::Recorded) -> bool {
    let (Some(id), Some(ts), Some(sigs)) = (
        r.header("webhook-id"),
        r.header("webhook-timestamp"),
        r.header("webhook-signature"),
    ) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&secret.key().unwrap()).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&r.body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    sigs.split(' ').any(|s| s == expected)
}

fn hmac_hex(key: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn delivers_the_stored_bytes_signed_and_never_twice() {
    let receiver = TestServer::fixed(200, serde_json::json!({"ok": true})).await;
    let (app, seeded, event, signing) = setup(Some(format!("{}/hooks/bvai", receiver.url()))).await;
    let d = app.webhook_delivery_deps();
    let res = handle(event_for(&[first_attempt(&event)]), d).await;
    assert!(res.batch_item_failures.is_empty());
    let got = receiver.requests();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/hooks/bvai");
    assert_eq!(
        r.body.as_ref(),
        event.payload.as_bytes(),
        "the stored bytes, unchanged"
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("user-agent").unwrap().starts_with("BuildVoiceAI"));
    // Independent computation over the raw bytes received.
    assert_eq!(
        r.header("x-signature").unwrap(),
        hmac_hex(&seeded.api_key, &r.body)
    );
    assert_eq!(r.header("x-event-id"), Some(event.id.to_string().as_str()));
    assert_eq!(r.header("x-attempt"), Some("1"));
    let id = r.header("webhook-id").unwrap();
    let ts = r.header("webhook-timestamp").unwrap();
    assert_eq!(id, event.id.to_string());
    assert!((ts.parse::<i64>().unwrap() - Utc::now().timestamp()).abs() < 60);
    // webhook-signature: keyed with the signing secret's decoded bytes, not the API key.
    let key = signing.as_ref().unwrap().key().unwrap();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&r.body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(r.header("webhook-signature"), Some(expected.as_str()));
    let payload: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(payload["event"], "call.completed");

    let rows = log(&app, &seeded).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].outcome, DeliveryOutcome::Delivered);
    assert_eq!(rows[0].http_status, Some(200));
    assert_eq!(rows[0].attempt, 1);
    assert_eq!(rows[0].event_id, event.id);
    assert_eq!(rows[0].call_id, event.call_id);
    assert_eq!(rows[0].response_excerpt.as_deref(), Some("{\"ok\":true}"));
    assert_eq!(rows[0].trigger, DeliveryTrigger::Automatic);

    // SQS delivers the same message again: no second POST, no second row.
    let res = handle(event_for(&[first_attempt(&event)]), d).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(log(&app, &seeded).await.len(), 1);
}

#[tokio::test]
async fn fails_twice_then_succeeds_on_schedule() {
    let receiver =
        TestServer::start(|_, i| async move { Reply::status(if i < 2 { 500 } else { 204 }) }).await;
    let (app, seeded, event, _signing) = setup(Some(receiver.url())).await;
    let d = app.webhook_delivery_deps();
    app.emu
        .sqs()
        .send_message()
        .queue_url(&app.queue_url)
        .message_body(first_attempt(&event).to_body().unwrap())
        .send()
        .await
        .unwrap();
    let done = || receiver.requests().len() >= 3;
    pump(
        &app.emu.sqs(),
        &app.queue_url,
        |ev| handle(ev, d),
        done,
        Duration::from_secs(30),
    )
    .await;
    // Nothing more is scheduled once it succeeded (delayed messages counted too).
    assert_eq!(depth(&app.emu.sqs(), &app.queue_url).await, 0);
    let got = receiver.requests();
    assert_eq!(got.len(), 3, "exactly three POSTs");
    let gap1 = got[1].at - got[0].at;
    let gap2 = got[2].at - got[1].at;
    // SQS delays have whole-second granularity and the pump polls once a second.
    let tolerance = Duration::from_millis(2500);
    assert!(
        gap1 >= Duration::from_millis(900) && gap1 <= Duration::from_secs(1) + tolerance,
        "{gap1:?}"
    );
    assert!(
        gap2 >= Duration::from_millis(1900) && gap2 <= Duration::from_secs(2) + tolerance,
        "{gap2:?}"
    );
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r.body, got[0].body, "same bytes on every attempt");
        assert_eq!(r.header("x-event-id"), Some(event.id.to_string().as_str()));
        assert_eq!(r.header("webhook-id"), Some(event.id.to_string().as_str()));
        assert_eq!(r.header("x-attempt"), Some((i + 1).to_string().as_str()));
    }
    let rows = log(&app, &seeded).await;
    let outcomes: Vec<_> = rows
        .iter()
        .map(|r| (r.attempt, r.outcome, r.http_status))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (1, DeliveryOutcome::Failed, Some(500)),
            (2, DeliveryOutcome::Failed, Some(500)),
            (3, DeliveryOutcome::Delivered, Some(204)),
        ]
    );
    assert_eq!(rows[0].error_class, Some(DeliveryErrorClass::HttpStatus));
    let next = rows[0].next_attempt_at.expect("next attempt time logged");
    assert!((next - rows[0].attempted_at).num_milliseconds() >= 1000);
    assert_eq!(rows[2].next_attempt_at, None);
}

#[tokio::test]
async fn always_failing_endpoint_gets_four_posts_then_the_event_is_dropped() {
    let receiver = TestServer::fixed(503, serde_json::json!({"error": "down"})).await;
    let (mut app, seeded, event, _signing) = setup(Some(receiver.url())).await;
    app.retune(|t| t.retry_delays = "1s,1s,1s".into());
    let d = app.webhook_delivery_deps();
    app.emu
        .sqs()
        .send_message()
        .queue_url(&app.queue_url)
        .message_body(first_attempt(&event).to_body().unwrap())
        .send()
        .await
        .unwrap();
    let store = app.store.clone();
    let account = seeded.account.id.clone();
    let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = dropped.clone();
    pump(
        &app.emu.sqs(),
        &app.queue_url,
        |ev| {
            let (store, account, flag, d) = (store.clone(), account.clone(), flag.clone(), d);
            async move {
                let res = handle(ev, d).await;
                let page = store
                    .deliveries(
                        &account,
                        &DeliveryQuery {
                            outcome: Some(DeliveryOutcome::Dropped),
                            limit: 10,
                            after: None,
                        },
                        Utc::now(),
                    )
                    .await
                    .unwrap();
                flag.store(
                    !page.attempts.is_empty(),
                    std::sync::atomic::Ordering::SeqCst,
                );
                res
            }
        },
        || dropped.load(std::sync::atomic::Ordering::SeqCst),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        receiver.requests().len(),
        4,
        "the first try and three retries"
    );
    assert_eq!(
        depth(&app.emu.sqs(), &app.queue_url).await,
        0,
        "nothing after the last retry"
    );
    let outcomes: Vec<_> = log(&app, &seeded).await.iter().map(|r| r.outcome).collect();
    use DeliveryOutcome::*;
    assert_eq!(outcomes, vec![Failed, Failed, Failed, Dropped]);
}

#[tokio::test]
async fn an_endpoint_that_hangs_times_out_and_is_retried() {
    let receiver = TestServer::start(|_, _| async {
        tokio::time::sleep(Duration::from_secs(20)).await;
        Reply::status(200)
    })
    .await;
    let (mut app, seeded, event, _signing) = setup(Some(receiver.url())).await;
    app.retune(|t| t.webhook_timeout = Duration::from_millis(300));
    let d = app.webhook_delivery_deps();
    let res = handle(event_for(&[first_attempt(&event)]), d).await;
    assert!(res.batch_item_failures.is_empty());
    let rows = log(&app, &seeded).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].outcome, DeliveryOutcome::Failed);
    assert_eq!(rows[0].error_class, Some(DeliveryErrorClass::Timeout));
    assert!(
        rows[0].duration_ms >= 250 && rows[0].duration_ms < 5000,
        "{}",
        rows[0].duration_ms
    );
    let next = pump_one(&app).await;
    assert_eq!(next.attempt, 2);
}

/// Waits for the one scheduled message and returns it (removed from the queue).
async fn pump_one(app: &App) -> DeliveryMessage {
    for _ in 0..20 {
        let msgs = drain(&app.emu.sqs(), &app.queue_url).await;
        if let Some(m) = msgs.into_iter().next() {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("no message was scheduled");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let target = TestServer::fixed(200, serde_json::json!({})).await;
    let location = format!("{}/elsewhere", target.url());
    let receiver = TestServer::start(move |_, _| {
        let location = location.clone();
        async move { Reply::status(302).with_header("location", &location) }
    })
    .await;
    let (app, seeded, event, _signing) = setup(Some(receiver.url())).await;
    let d = app.webhook_delivery_deps();
    handle(event_for(&[first_attempt(&event)]), d).await;
    assert_eq!(receiver.requests().len(), 1);
    assert!(
        target.requests().is_empty(),
        "the redirect target was never contacted"
    );
    let rows = log(&app, &seeded).await;
    assert_eq!(rows[0].outcome, DeliveryOutcome::Failed);
    assert_eq!(rows[0].error_class, Some(DeliveryErrorClass::Redirect));
    assert_eq!(rows[0].http_status, Some(302));
}

#[tokio::test]
async fn connection_refused_is_a_connect_failure() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (app, seeded, event, _signing) = setup(Some(format!("http://127.0.0.1:{port}/hook"))).await;
    let d = app.webhook_delivery_deps();
    handle(event_for(&[first_attempt(&event)]), d).await;
    let rows = log(&app, &seeded).await;
    assert_eq!(rows[0].error_class, Some(DeliveryErrorClass::Connect));
    assert_eq!(rows[0].outcome, DeliveryOutcome::Failed);
}

#[tokio::test]
async fn loopback_is_refused_when_the_local_switch_is_off() {
    let receiver = TestServer::fixed(200, serde_json::json!({})).await;
    let port = receiver.addr.port();
    for url in [
        format!("https://localhost:{port}/hook"),
        format!("https://127.0.0.1:{port}/hook"),
        format!("https://[::ffff:127.0.0.1]:{port}/hook"),
        format!("http://localhost:{port}/hook"),
    ] {
        let (mut app, seeded, event, _signing) = setup(Some(url.clone())).await;
        app.retune(|t| t.allow_insecure_local = false);
        let d = app.webhook_delivery_deps();
        handle(event_for(&[first_attempt(&event)]), d).await;
        let rows = log(&app, &seeded).await;
        assert_eq!(
            rows[0].error_class,
            Some(DeliveryErrorClass::BlockedAddress),
            "{url}"
        );
    }
    assert!(
        receiver.requests().is_empty(),
        "nothing reached the loopback receiver"
    );
}

/// The API toggle gates API requests only: switched off between attempts, the retry still
/// goes out (end to end on the emulator, through a real receiver).
#[tokio::test]
async fn switching_api_access_off_between_attempts_does_not_stop_webhooks() {
    let receiver =
        TestServer::start(|_, i| async move { Reply::status(if i == 0 { 500 } else { 200 }) })
            .await;
    let (app, seeded, event, _signing) = setup(Some(receiver.url())).await;
    let d = app.webhook_delivery_deps();
    handle(event_for(&[first_attempt(&event)]), d).await;
    assert_eq!(receiver.requests().len(), 1);
    fixtures::update_account(app.store.as_ref(), &seeded.account.id, |a| {
        a.api_enabled = false
    })
    .await;
    let next = pump_one(&app).await;
    assert_eq!(next.attempt, 2);
    let res = handle(event_for(&[next]), d).await;
    assert!(res.batch_item_failures.is_empty());
    let posts = receiver.requests();
    assert_eq!(posts.len(), 2, "the retry went out with API access off");
    assert_eq!(posts[1].header("x-attempt"), Some("2"));
    let rows = log(&app, &seeded).await;
    assert_eq!(
        rows.iter().map(|r| r.outcome).collect::<Vec<_>>(),
        vec![DeliveryOutcome::Failed, DeliveryOutcome::Delivered]
    );
}

#[tokio::test]
async fn no_webhook_url_is_skipped() {
    let (app, seeded, event, _signing) = setup(None).await;
    let d = app.webhook_delivery_deps();
    handle(event_for(&[first_attempt(&event)]), d).await;
    let rows = log(&app, &seeded).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].outcome, DeliveryOutcome::Skipped);
    assert_eq!(depth(&app.emu.sqs(), &app.queue_url).await, 0);
}

#[tokio::test]
async fn a_batch_is_delivered_concurrently() {
    let receiver = TestServer::start(|_, _| async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Reply::status(200)
    })
    .await;
    let (mut app, seeded, event, _signing) = setup(Some(receiver.url())).await;
    let mut msgs = vec![first_attempt(&event)];
    for _ in 0..9 {
        let e = fixtures::stored_event(app.store.as_ref(), &seeded).await;
        msgs.push(DeliveryMessage::first(
            e.id,
            seeded.account.id.clone(),
            e.call_id,
        ));
    }
    // One account's ten messages: the per-account cap (fairness) is lifted to the batch size,
    // as this is about the batch's concurrency (tests/it/rules/fairness.rs covers the cap).
    app.retune(|t| t.account_concurrency = 10);
    let d = app.webhook_delivery_deps();
    let res = handle(event_for(&msgs), d).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(receiver.requests().len(), 10);
    assert!(
        receiver.max_in_flight() >= 8,
        "only {} requests were in flight at once",
        receiver.max_in_flight()
    );
}

/// A queue that records what is sent and passes it on to the real SQS adapter.
struct RecordingQueue {
    inner: SqsQueue,
    sent: Mutex<Vec<(DeliveryMessage, Duration)>>,
}

#[async_trait]
impl EventQueue for RecordingQueue {
    async fn send(
        &self,
        msg: &DeliveryMessage,
        delay: Duration,
    ) -> Result<(), domain::error::QueueError> {
        self.sent.lock().unwrap().push((msg.clone(), delay));
        self.inner.send(msg, delay).await
    }
}

#[tokio::test]
async fn delays_beyond_sqs_limit_are_honoured_exactly() {
    let receiver =
        TestServer::start(|_, i| async move { Reply::status(if i == 0 { 500 } else { 200 }) })
            .await;
    let (mut app, _seeded, event, _signing) = setup(Some(receiver.url())).await;
    let t0: DateTime<Utc> = "2025-06-15T14:30:00Z".parse().unwrap();
    let clock = Arc::new(FixedClock::new(t0));
    let queue = Arc::new(RecordingQueue {
        inner: SqsQueue::new(app.emu.sqs().clone(), app.queue_url.clone()),
        sent: Mutex::new(vec![]),
    });
    app.set_clock(clock.clone());
    app.with_queue(queue.clone());
    app.retune(|t| t.retry_delays = "30m".into());
    let d = app.webhook_delivery_deps();
    handle(event_for(&[first_attempt(&event)]), d).await;
    let (next, delay) = queue.sent.lock().unwrap()[0].clone();
    assert_eq!(
        delay,
        Duration::from_secs(1800),
        "asked for the whole delay (SQS caps the hop at 900 s)"
    );
    assert_eq!(domain::ports::queue::delay_seconds(delay), 900);
    assert_eq!(next.attempt, 2);
    assert_eq!(next.not_before, Some(t0 + chrono::Duration::minutes(30)));
    // 15 minutes later the message shows up early: re-parked for the remaining 15 minutes.
    clock.set(t0 + chrono::Duration::minutes(15));
    handle(event_for(std::slice::from_ref(&next)), d).await;
    assert_eq!(receiver.requests().len(), 1, "not sent before its time");
    let (parked, wait) = queue.sent.lock().unwrap()[1].clone();
    assert_eq!(parked, next);
    assert_eq!(wait, Duration::from_secs(900));
    // At 30 minutes it is sent.
    clock.set(t0 + chrono::Duration::minutes(30));
    handle(event_for(&[parked]), d).await;
    assert_eq!(receiver.requests().len(), 2);
    assert_eq!(receiver.requests()[1].header("x-attempt"), Some("2"));
}

#[tokio::test]
async fn signing_key_is_cached_by_hash_and_rotation_is_picked_up_at_once() {
    let receiver = TestServer::fixed(200, serde_json::json!({})).await;
    let (mut app, seeded, event, _signing) = setup(Some(receiver.url())).await;
    let (sm_client, sm_calls) = counting_secrets(&app.emu.config);
    let counted: Arc<SecretsManager> = Arc::new(SecretsManager::new(sm_client));
    app.swap_ports(move |p| Ports {
        secrets: counted.clone(),
        ..p
    });
    let d = app.webhook_delivery_deps();
    handle(event_for(&[first_attempt(&event)]), d).await;
    let e2 = fixtures::stored_event(app.store.as_ref(), &seeded).await;
    handle(
        event_for(&[DeliveryMessage::first(
            e2.id,
            seeded.account.id.clone(),
            e2.call_id,
        )]),
        d,
    )
    .await;
    assert_eq!(
        sm_calls.count(),
        2,
        "the API key and the signing secret once; a warm delivery makes no Secrets Manager call"
    );

    let account = app
        .store
        .account(&seeded.account.id)
        .await
        .unwrap()
        .unwrap();
    let secrets = app.emu.secrets();
    let rotated = domain::key_rotation::rotate_api_key(
        app.store.as_ref(),
        &secrets,
        &seeded.secret_prefix,
        &account,
        Utc::now(),
    )
    .await
    .unwrap();
    let e3 = fixtures::stored_event(app.store.as_ref(), &seeded).await;
    handle(
        event_for(&[DeliveryMessage::first(
            e3.id,
            seeded.account.id.clone(),
            e3.call_id,
        )]),
        d,
    )
    .await;
    let got = receiver.requests();
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[2].header("x-signature").unwrap(),
        hmac_hex(&rotated.key.plaintext, &got[2].body)
    );
    assert_ne!(
        got[2].header("x-signature").unwrap(),
        hmac_hex(&seeded.api_key, &got[2].body)
    );
    assert_eq!(sm_calls.count(), 3, "the new key, read once");
}

async fn settings_call(
    app: &App,
    seeded: &Seeded,
    req: integration_tests::apigw::ApiRequest,
) -> (u16, serde_json::Value) {
    app.settings(req.claims(serde_json::json!({"custom:account_id": seeded.account.id})))
        .await
}

#[tokio::test]
async fn test_send_posts_a_signed_sample_now_and_logs_it() {
    let receiver =
        TestServer::start(|_, i| async move { Reply::status(if i == 0 { 200 } else { 500 }) })
            .await;
    let (app, seeded, _event, signing) = setup(Some(receiver.url())).await;
    let test = || integration_tests::apigw::ApiRequest::post("/api/integrations/api-webhooks/test");
    let (status, body) = settings_call(&app, &seeded, test()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["delivered"], true);
    assert_eq!(body["status_code"], 200);
    assert!(body["duration_ms"].is_u64());
    assert_eq!(body["error"], serde_json::Value::Null);
    let got = receiver.requests();
    assert_eq!(got.len(), 1);
    let sample = got[0].json();
    assert_eq!(sample["event"], "call.completed");
    assert_eq!(sample["test"], true);
    assert_eq!(
        got[0].header("x-signature").unwrap(),
        hmac_hex(&seeded.api_key, &got[0].body)
    );
    assert_eq!(got[0].header("x-event-id"), body["event_id"].as_str());
    assert!(
        verifies(signing.as_ref().unwrap(), &got[0]),
        "a test send is signed with the signing secret like a delivery"
    );

    // A failing endpoint: reported, logged, never retried.
    let (status, body) = settings_call(&app, &seeded, test()).await;
    assert_eq!(status, 200);
    assert_eq!(body["delivered"], false);
    assert_eq!(body["status_code"], 500);
    assert_eq!(body["error"]["class"], "http_status");
    let rows = log(&app, &seeded).await;
    let outcomes: Vec<_> = rows.iter().map(|r| (r.outcome, r.trigger)).collect();
    assert_eq!(
        outcomes,
        vec![
            (DeliveryOutcome::Delivered, DeliveryTrigger::Test),
            (DeliveryOutcome::Failed, DeliveryTrigger::Test)
        ]
    );
    // Both sends have returned and their attempts are logged, so a retry, had either sent one,
    // is on the queue now: counted with the delayed messages, no wait can hide it.
    assert_eq!(
        depth(&app.emu.sqs(), &app.queue_url).await,
        0,
        "a test send is never retried"
    );

    // Without a URL there is nothing to test.
    fixtures::update_account(app.store.as_ref(), &seeded.account.id, |a| {
        a.webhook_url = None
    })
    .await;
    let (status, body) = settings_call(&app, &seeded, test()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("no_webhook_url"))
    );
}

#[tokio::test]
async fn redeliver_sends_a_dropped_event_again_as_a_new_series() {
    let receiver =
        TestServer::start(|_, i| async move { Reply::status(if i == 0 { 500 } else { 200 }) })
            .await;
    let (mut app, seeded, event, _signing) = setup(Some(receiver.url())).await;
    app.retune(|t| t.retry_delays = "".into());
    let d = app.webhook_delivery_deps();
    handle(event_for(&[first_attempt(&event)]), d).await;
    assert_eq!(
        log(&app, &seeded).await[0].outcome,
        DeliveryOutcome::Dropped
    );
    let path = format!(
        "/api/integrations/api-webhooks/deliveries/{}/redeliver",
        event.id
    );
    let (status, body) = settings_call(
        &app,
        &seeded,
        integration_tests::apigw::ApiRequest::post(&path),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let msg = pump_one(&app).await;
    assert_eq!(msg.attempt, 1);
    assert_eq!(msg.event_id, event.id);
    assert_eq!(
        msg.redelivery.map(|r| r.to_string()).as_deref(),
        body["redelivery_id"].as_str()
    );
    handle(event_for(std::slice::from_ref(&msg)), d).await;
    let got = receiver.requests();
    assert_eq!(
        got.len(),
        2,
        "the redelivery was sent although attempt 1 of the original series was made"
    );
    assert_eq!(got[1].body, got[0].body);
    assert_eq!(got[1].header("x-event-id"), got[0].header("x-event-id"));
    let rows = log(&app, &seeded).await;
    let outcomes: Vec<_> = rows.iter().map(|r| (r.outcome, r.trigger)).collect();
    assert_eq!(
        outcomes,
        vec![
            (DeliveryOutcome::Dropped, DeliveryTrigger::Automatic),
            (DeliveryOutcome::Delivered, DeliveryTrigger::Redelivery)
        ]
    );
    // The same redelivery message again is a duplicate: no third POST.
    handle(event_for(&[msg]), d).await;
    assert_eq!(receiver.requests().len(), 2);

    // Another account's event, and ids that are no events, are all 404.
    let secrets = app.emu.secrets();
    let other = fixtures::agency(app.store.as_ref(), &secrets).await;
    let theirs = fixtures::stored_event(app.store.as_ref(), &other).await;
    for id in [
        theirs.id.to_string(),
        Uuid::new_v4().to_string(),
        "not-an-id".into(),
    ] {
        let path = format!("/api/integrations/api-webhooks/deliveries/{id}/redeliver");
        let (status, body) = settings_call(
            &app,
            &seeded,
            integration_tests::apigw::ApiRequest::post(&path),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("event_not_found")),
            "{id}"
        );
    }
    assert_eq!(
        depth(&app.emu.sqs(), &app.queue_url).await,
        0,
        "nothing queued for refused redeliveries"
    );
}

/// Every port of the delivery function behind the fault plan's wrappers, on the emulator's
/// table, queue and Secrets Manager, with a clock the test moves (the claim lease is the
/// queue's visibility timeout, 190 s).
fn faulty(app: &mut App, plan: &FaultPlan, clock: &Arc<FixedClock>) {
    let plan = plan.clone();
    app.swap_ports(move |p| Ports {
        store: Arc::new(FaultyStore::new(p.store.clone(), plan.clone())),
        queue: Arc::new(FaultyQueue::new(p.queue.clone(), plan.clone())),
        secrets: Arc::new(FaultySecrets::new(p.secrets.clone(), plan.clone())),
        ..p
    });
    app.set_clock(clock.clone());
}

/// Waits until `n` messages have arrived on the queue (delays of a second), returns them.
async fn receive(app: &App, n: usize) -> Vec<DeliveryMessage> {
    let mut all = Vec::new();
    for _ in 0..40 {
        all.extend(drain(&app.emu.sqs(), &app.queue_url).await);
        if all.len() >= n {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{} of {n} messages arrived", all.len());
}

fn outcomes(rows: &[domain::model::DeliveryAttempt]) -> Vec<(u32, DeliveryOutcome)> {
    rows.iter().map(|r| (r.attempt, r.outcome)).collect()
}

/// End to end on DynamoDB and SQS, each write window of point 1 in turn: the next attempt is
/// queued but SQS's answer is lost (attempt 1 comes back: finished, not POSTed again, queued
/// again), the log write after a 2xx fails (attempt 2 comes back: not POSTed again, logged),
/// and a late copy of attempt 1 arrives after attempt 2 was delivered (ignored). One POST per
/// attempt, one log row per attempt.
#[tokio::test]
async fn each_write_window_after_a_post_repeats_no_post_and_loses_no_row() {
    let receiver =
        TestServer::start(|_, i| async move { Reply::status(if i == 0 { 500 } else { 200 }) })
            .await;
    let (mut app, seeded, event, _signing) = setup(Some(receiver.url())).await;
    let plan = FaultPlan::new();
    let clock = Arc::new(FixedClock::new(Utc::now()));
    faulty(&mut app, &plan, &clock);
    let d = app.webhook_delivery_deps();
    plan.fail_after_effect("send", 1);
    let res = handle(event_for(&[first_attempt(&event)]), d).await;
    assert_eq!(res.batch_item_failures.len(), 1);
    let res = handle(event_for(&[first_attempt(&event)]), d).await;
    assert!(
        res.batch_item_failures.is_empty(),
        "finished: its writes redone"
    );
    assert_eq!(receiver.requests().len(), 1);
    let next = receive(&app, 2).await;
    assert!(next.iter().all(|m| m.attempt == 2), "attempt 2, twice");
    plan.fail_next("record_attempt");
    let res = handle(event_for(&next[..1]), d).await;
    assert_eq!(res.batch_item_failures.len(), 1, "the log write failed");
    let res = handle(event_for(&next[1..]), d).await;
    assert!(res.batch_item_failures.is_empty());
    let res = handle(event_for(&[first_attempt(&event)]), d).await;
    assert!(res.batch_item_failures.is_empty());
    let attempts: Vec<_> = receiver
        .requests()
        .iter()
        .map(|r| r.header("x-attempt").unwrap_or("").to_string())
        .collect();
    assert_eq!(attempts, ["1", "2"], "one POST per attempt");
    assert_eq!(
        outcomes(&log(&app, &seeded).await),
        [
            (1, DeliveryOutcome::Failed),
            (2, DeliveryOutcome::Delivered)
        ]
    );
    assert_eq!(
        depth(&app.emu.sqs(), &app.queue_url).await,
        0,
        "nothing more queued"
    );
}

/// End to end: Lambda's timeout while one DynamoDB call hangs gives the whole batch back.
/// Delivered messages are not POSTed again; the hung attempt is sent once its lease is over.
#[tokio::test]
async fn a_whole_batch_timeout_while_one_call_hangs_posts_each_event_once() {
    let receiver = TestServer::fixed(200, serde_json::json!({})).await;
    let (mut app, seeded, event, _signing) = setup(Some(receiver.url())).await;
    let mut msgs = vec![first_attempt(&event)];
    for _ in 0..2 {
        let ev = fixtures::stored_event(app.store.as_ref(), &seeded).await;
        msgs.push(DeliveryMessage::first(
            ev.id,
            seeded.account.id.clone(),
            ev.call_id,
        ));
    }
    let plan = FaultPlan::new();
    let clock = Arc::new(FixedClock::new(Utc::now()));
    faulty(&mut app, &plan, &clock);
    let d = app.webhook_delivery_deps();
    plan.hang("account", 2);
    let batch = event_for(&msgs);
    let two_logged = async {
        while log(&app, &seeded).await.len() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        _ = handle(batch.clone(), d) => panic!("the hung call should block the batch"),
        r = tokio::time::timeout(Duration::from_secs(20), two_logged) => r.expect("two delivered"),
    }
    clock.advance(chrono::Duration::seconds(190));
    assert_eq!(handle(batch.clone(), d).await.batch_item_failures.len(), 1);
    clock.advance(chrono::Duration::seconds(190));
    assert!(handle(batch.clone(), d)
        .await
        .batch_item_failures
        .is_empty());
    let mut ids: Vec<_> = receiver
        .requests()
        .iter()
        .map(|r| r.header("x-event-id").unwrap_or("").to_string())
        .collect();
    assert_eq!(ids.len(), 3);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "one POST per event");
    let rows = log(&app, &seeded).await;
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.outcome == DeliveryOutcome::Delivered));
}

/// End to end: Secrets Manager fails once. The attempt is a failed row with error class
/// `internal` in the customer's log, and the retry comes from the schedule (a new SQS
/// message), not from SQS redelivery.
#[tokio::test]
async fn an_internal_error_is_a_failed_row_and_a_scheduled_retry() {
    let receiver = TestServer::fixed(200, serde_json::json!({})).await;
    let (mut app, seeded, event, _signing) = setup(Some(receiver.url())).await;
    let plan = FaultPlan::new();
    let clock = Arc::new(FixedClock::new(Utc::now()));
    faulty(&mut app, &plan, &clock);
    let d = app.webhook_delivery_deps();
    plan.fail_next("get_version");
    let res = handle(event_for(&[first_attempt(&event)]), d).await;
    assert!(res.batch_item_failures.is_empty());
    assert!(receiver.requests().is_empty());
    let rows = log(&app, &seeded).await;
    assert_eq!(outcomes(&rows), [(1, DeliveryOutcome::Failed)]);
    assert_eq!(rows[0].error_class, Some(DeliveryErrorClass::Internal));
    let next = receive(&app, 1).await;
    assert_eq!(next[0].attempt, 2);
    assert!(handle(event_for(&next), d)
        .await
        .batch_item_failures
        .is_empty());
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(
        outcomes(&log(&app, &seeded).await),
        [
            (1, DeliveryOutcome::Failed),
            (2, DeliveryOutcome::Delivered)
        ]
    );
}
