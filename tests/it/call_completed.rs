//! The provider's callback -> call record -> one `call.completed` event on SQS, against the
//! emulator (real DynamoDB and SQS through the AWS SDK) with signed callbacks.

use async_trait::async_trait;
use aws_adapters::SqsQueue;
use aws_sdk_dynamodb::types::AttributeValue;
use domain::error::QueueError;
use domain::ids::{CallId, EventId};
use domain::model::{Agent, Call, CallStatus, Direction, EventRecord};
use domain::ports::queue::{DeliveryMessage, EventQueue};
use domain::ports::store::calls::{CallCompletion, CallProgress};
use domain::ports::store::event_store::{EventStore, PLAIN_PAYLOAD_MAX_BYTES};
use domain::ports::store::{AccountStore, CallStore, DeliveryLog};
use domain::signature::sign_provider_callback;
use integration_tests::apigw::{parts, ApiRequest, Build};
use integration_tests::app::callback_request;
use integration_tests::app::{OnEmulator, TestApp};
use integration_tests::deps::retell;
// The provider's call: started 15:30:00Z (START_MS), ended 15:33:05Z (END_MS), the provider
// contract's example; our clock, NOW_MS, is shortly after it ended: callbacks are signed then.
use integration_tests::fixtures::{self, at_ms, Seeded, END_MS, NOW_MS, START_MS};
use integration_tests::peer::{Reply, TestServer};
use integration_tests::Emulator;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const PROVIDER_KEY: &str = "key_test_provider_0123456789abcdef";
const ROUTE: &str = "/hooks/voice-provider";

/// The emulator flavour.
type App = TestApp<OnEmulator>;

async fn env() -> (App, Seeded) {
    env_with_queue(|q| Arc::new(q)).await
}

/// The emulator app with a seeded account, its clock fixed at the provider example's "now",
/// the provider's key signing callbacks, and an events queue that is `wrap(real SQS adapter)`.
async fn env_with_queue(wrap: impl FnOnce(SqsQueue) -> Arc<dyn EventQueue>) -> (App, Seeded) {
    let mut app = TestApp::emulator().await;
    let seeded = app.agency().await;
    app.fix_clock(at_ms(NOW_MS));
    // The provider's key signs its callbacks (and authenticates trigger-call's requests).
    app.retune(|t| t.provider_key = PROVIDER_KEY.into());
    let queue = wrap(SqsQueue::new(app.emu.sqs(), &app.queue_url));
    app.with_queue(queue);
    (app, seeded)
}

/// The provider's stages of one call.
#[derive(Clone, Copy, PartialEq)]
enum Stage {
    Started,
    Ended,
    Analyzed,
}

impl Stage {
    fn event(self) -> &'static str {
        match self {
            Stage::Started => "call_started",
            Stage::Ended => "call_ended",
            Stage::Analyzed => "call_analyzed",
        }
    }
}

/// A provider call object as the provider sends it at `stage`.
#[derive(Clone)]
struct ProviderCall {
    call_id: String,
    agent_id: String,
    direction: &'static str,
    from: String,
    to: String,
    metadata: Option<Value>,
    transcript: Value,
    sentiment: &'static str,
    summary: &'static str,
}

impl ProviderCall {
    fn outbound(call: &Call, agent: &Agent) -> ProviderCall {
        ProviderCall {
            call_id: call
                .provider_call_id
                .clone()
                .unwrap_or_else(|| "prov_unset".into()),
            agent_id: agent.provider_agent_id.clone(),
            direction: "outbound",
            from: "+14155550100".into(),
            to: call.phone_number.clone(),
            metadata: Some(json!({"call_id": call.id.to_string(), "account_id": call.account_id})),
            transcript: default_transcript(),
            sentiment: "Positive",
            summary: "The customer asked about pricing.",
        }
    }

    fn inbound(provider_agent_id: &str) -> ProviderCall {
        ProviderCall {
            call_id: format!("prov_in_{}", Uuid::new_v4().simple()),
            agent_id: provider_agent_id.into(),
            direction: "inbound",
            from: "+15557654321".into(),
            to: "+14155550100".into(),
            metadata: None,
            transcript: json!([
                {"role": "agent", "content": "Northwind, Ava speaking.", "words": [{"word": "Northwind,", "start": 0.4, "end": 0.9}]},
                {"role": "user", "content": "Hi, I'd like to reschedule my appointment.", "words": [{"word": "Hi,", "start": 3.7, "end": 3.9}]}
            ]),
            sentiment: "Neutral",
            summary: "The caller asked to reschedule.",
        }
    }

    fn body(&self, stage: Stage) -> Value {
        self.body_as(stage.event(), stage)
    }

    fn body_as(&self, event: &str, stage: Stage) -> Value {
        let mut call = json!({
            "call_id": self.call_id,
            "agent_id": self.agent_id,
            "call_status": if stage == Stage::Started { "ongoing" } else { "ended" },
            "direction": self.direction,
            "from_number": self.from,
            "to_number": self.to,
            "start_timestamp": START_MS,
        });
        if let Some(m) = &self.metadata {
            call["metadata"] = m.clone();
        }
        if stage != Stage::Started {
            call["end_timestamp"] = END_MS.into();
            call["duration_ms"] = (END_MS - START_MS).into();
            call["disconnection_reason"] = "user_hangup".into();
            call["transcript_object"] = self.transcript.clone();
        }
        if stage == Stage::Analyzed {
            call["call_analysis"] = json!({
                "call_summary": self.summary,
                "user_sentiment": self.sentiment,
                "call_successful": true,
                "in_voicemail": false
            });
        }
        json!({"event": event, "call": call})
    }
}

fn default_transcript() -> Value {
    json!([
        {"role": "agent", "content": "Hi, this is Ava from Northwind.", "words": [{"word": "Hi,", "start": 1.0, "end": 1.3}, {"word": "this", "start": 1.3, "end": 1.5}]},
        {"role": "user", "content": "Hello, what is this about?", "words": [{"word": "Hello,", "start": 4.2, "end": 4.6}]},
        {"role": "agent", "content": "Your enquiry about the enterprise plan — ça va?", "words": [{"word": "Your", "start": 6.75, "end": 7.0}]}
    ])
}

/// Sends a raw body with the given signature header (or none).
async fn post_raw(app: &App, body: &str, signature: Option<&str>) -> (u16, Value) {
    app.call_completed(callback_request(body, signature)).await
}

/// Sends a correctly signed callback.
async fn post(app: &App, body: &Value) -> (u16, Value) {
    let raw = body.to_string();
    let sig = app.sign_callback(&raw);
    post_raw(app, &raw, Some(&sig)).await
}

async fn raw_item(app: &App, pk: String, sk: String) -> HashMap<String, AttributeValue> {
    app.store
        .client()
        .get_item()
        .table_name(app.store.table())
        .key("pk", AttributeValue::S(pk))
        .key("sk", AttributeValue::S(sk))
        .consistent_read(true)
        .send()
        .await
        .expect("get item")
        .item
        .expect("item exists")
}

/// Receives every message on the queue (until a receive comes back empty).
async fn receive_all(app: &App) -> Vec<aws_sdk_sqs::types::Message> {
    let mut all = Vec::new();
    loop {
        let out = app
            .emu
            .sqs()
            .receive_message()
            .queue_url(&app.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive");
        let got = out.messages().to_vec();
        if got.is_empty() {
            return all;
        }
        all.extend(got);
    }
}

fn s(item: &HashMap<String, AttributeValue>, k: &str) -> String {
    item.get(k)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_else(|| panic!("attribute {k} missing or not a string"))
}

fn message(m: &aws_sdk_sqs::types::Message) -> DeliveryMessage {
    DeliveryMessage::parse(m.body().expect("message body")).expect("a delivery message")
}

fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("golden")
        .join(name);
    if std::env::var("UPDATE_GOLDEN").is_ok() {
        std::fs::write(&path, format!("{actual}\n")).expect("write golden file");
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        actual,
        expected.strip_suffix('\n').unwrap_or(&expected),
        "payload differs from {}",
        path.display()
    );
}

// ---------------------------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn valid_signature_is_accepted() {
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    let body = ProviderCall::outbound(&call, &seeded.agent).body(Stage::Started);
    let (status, res) = post(&app, &body).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(
        res,
        json!({"success": true, "call_id": call.id, "changed": true})
    );
    assert_eq!(app.call(call.id).await.status, CallStatus::InProgress);
}

#[tokio::test]
async fn expired_signature_is_refused_and_nothing_is_written() {
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    let raw = ProviderCall::outbound(&call, &seeded.agent)
        .body(Stage::Analyzed)
        .to_string();
    for offset_ms in [-(5 * 60 * 1000 + 1), 6 * 60 * 1000] {
        let sig = sign_provider_callback(PROVIDER_KEY, raw.as_bytes(), NOW_MS + offset_ms);
        let (status, res) = post_raw(&app, &raw, Some(&sig)).await;
        assert_eq!(status, 401, "{res}");
        assert_eq!(res["success"], false);
        assert_eq!(res["error"]["code"], "invalid_signature");
        assert!(!res.to_string().contains(&sig));
    }
    // Just inside the tolerance is fine.
    let sig = sign_provider_callback(PROVIDER_KEY, raw.as_bytes(), NOW_MS - 4 * 60 * 1000);
    let before = app.call(call.id).await;
    assert_eq!(
        before.status,
        CallStatus::Dialing,
        "the refused callbacks wrote nothing"
    );
    assert_eq!(
        app.queue_depth().await,
        0,
        "the refused callbacks enqueued nothing"
    );
    assert!(app.items_of_type("event").await.is_empty());
    let (status, _) = post_raw(&app, &raw, Some(&sig)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn tampered_body_or_digest_is_refused() {
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    let pc = ProviderCall::outbound(&call, &seeded.agent);
    let signed = pc.body(Stage::Analyzed).to_string();
    let sig = app.sign_callback(&signed);
    // The body changed after signing (a different summary).
    let tampered = signed.replace("asked about pricing", "asked for a refund");
    assert_ne!(tampered, signed);
    let (status, res) = post_raw(&app, &tampered, Some(&sig)).await;
    assert_eq!(
        (status, res["error"]["code"].clone()),
        (401, json!("invalid_signature"))
    );
    // The digest changed (last hex digit flipped).
    let mut bad = sig.clone();
    let last = bad.pop().expect("non-empty");
    bad.push(if last == '0' { '1' } else { '0' });
    let (status, _) = post_raw(&app, &signed, Some(&bad)).await;
    assert_eq!(status, 401);
    // The timestamp changed (the digest covers it).
    let shifted = sig.replacen(&format!("v={NOW_MS}"), &format!("v={}", NOW_MS - 1000), 1);
    let (status, _) = post_raw(&app, &signed, Some(&shifted)).await;
    assert_eq!(status, 401);
    assert_eq!(app.call(call.id).await.status, CallStatus::Dialing);
    assert_eq!(app.queue_depth().await, 0);
    assert!(app.items_of_type("event").await.is_empty());
}

#[tokio::test]
async fn missing_malformed_or_foreign_signature_is_refused() {
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    let raw = ProviderCall::outbound(&call, &seeded.agent)
        .body(Stage::Ended)
        .to_string();
    let foreign = sign_provider_callback("someone-elses-key", raw.as_bytes(), NOW_MS);
    for sig in [
        None,
        Some("garbage"),
        Some("v=abc,d=00"),
        Some(foreign.as_str()),
    ] {
        let (status, res) = post_raw(&app, &raw, sig).await;
        assert_eq!(status, 401, "{sig:?}: {res}");
        assert_eq!(res["error"]["code"], "invalid_signature");
    }
    // A body that is not even JSON is refused on the signature first (401, not 400).
    let (status, _) = post_raw(&app, "{not json", None).await;
    assert_eq!(status, 401);
    assert_eq!(app.call(call.id).await.status, CallStatus::Dialing);
}

// ---------------------------------------------------------------------------------------------
// Each event
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn call_started_marks_the_call_in_progress() {
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    let (status, _) = post(
        &app,
        &ProviderCall::outbound(&call, &seeded.agent).body(Stage::Started),
    )
    .await;
    assert_eq!(status, 200);
    let after = app.call(call.id).await;
    assert_eq!(after.status, CallStatus::InProgress);
    assert_eq!(after.started_at, Some(at_ms(START_MS)));
    assert_eq!(after.ended_at, None);
    assert_eq!(after.updated_at, at_ms(NOW_MS));
    assert_eq!(after.event_id, None);
    assert_eq!(
        app.queue_depth().await,
        0,
        "only call_analyzed emits the event"
    );
}

#[tokio::test]
async fn call_ended_records_end_duration_and_reason() {
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    let pc = ProviderCall::outbound(&call, &seeded.agent);
    assert_eq!(post(&app, &pc.body(Stage::Started)).await.0, 200);
    assert_eq!(post(&app, &pc.body(Stage::Ended)).await.0, 200);
    let after = app.call(call.id).await;
    assert_eq!(after.status, CallStatus::Ended);
    assert_eq!(after.started_at, Some(at_ms(START_MS)));
    assert_eq!(after.ended_at, Some(at_ms(END_MS)));
    assert_eq!(after.duration_seconds, Some(185));
    assert_eq!(after.disconnection_reason.as_deref(), Some("user_hangup"));
    assert_eq!(after.event_id, None);
    assert_eq!(app.queue_depth().await, 0);
}

#[tokio::test]
async fn call_analyzed_completes_the_call_and_queues_one_event() {
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    let pc = ProviderCall::outbound(&call, &seeded.agent);
    for stage in [Stage::Started, Stage::Ended] {
        assert_eq!(post(&app, &pc.body(stage)).await.0, 200);
    }
    let (status, res) = post(&app, &pc.body(Stage::Analyzed)).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["changed"], true);
    let event_id: EventId = res["event_id"]
        .as_str()
        .expect("event_id")
        .parse()
        .expect("uuid");

    // The call record.
    let after = app.call(call.id).await;
    assert_eq!(after.status, CallStatus::Completed);
    assert_eq!(after.event_id, Some(event_id));
    let (pk, sk) = aws_adapters::dynamo::keys::call(&call.id);
    let item = raw_item(&app, pk, sk).await;
    assert_eq!(s(&item, "summary"), "The customer asked about pricing.");
    assert_eq!(s(&item, "sentiment"), "positive");

    // The stored event: the payload, a 30-day TTL, marked enqueued.
    let stored = app
        .store
        .event(event_id)
        .await
        .expect("read event")
        .expect("event stored");
    assert!(stored.enqueued);
    assert!(!stored.compressed);
    assert_eq!(stored.record.account_id, seeded.account.id);
    assert_eq!(stored.record.call_id, call.id);
    assert_eq!(stored.record.created_at, at_ms(NOW_MS));
    assert_eq!(
        stored.expires_at,
        at_ms(NOW_MS) + chrono::Duration::days(30)
    );
    let payload: Value = serde_json::from_str(&stored.record.payload).expect("payload JSON");
    assert_eq!(payload["event"], "call.completed");
    assert_eq!(payload["call_id"], call.id.to_string());
    assert_eq!(payload["agent_id"], seeded.agent.id.to_string());
    assert_eq!(payload["agent_name"], "Sales Qualifier");
    assert_eq!(payload["direction"], "outbound");
    assert_eq!(payload["phone_number"], "+15551234567");
    assert_eq!(payload["duration_seconds"], 185);
    assert_eq!(payload["started_at"], "2025-06-15T15:30:00Z");
    assert_eq!(payload["ended_at"], "2025-06-15T15:33:05Z");
    assert_eq!(payload["sentiment"], "positive");
    assert_eq!(payload["transcript"][1]["role"], "human");
    assert_eq!(payload["metadata"], json!({}));

    // The message, received back from the queue.
    let msgs = receive_all(&app).await;
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(
        message(m),
        DeliveryMessage::first(event_id, seeded.account.id.clone(), call.id)
    );
    let body: Value = serde_json::from_str(m.body().expect("body")).expect("JSON body");
    assert_eq!(
        body,
        json!({"event_id": event_id, "account_id": seeded.account.id, "call_id": call.id, "attempt": 1})
    );
    let attrs = m.message_attributes().expect("message attributes");
    assert_eq!(attrs["event_id"].data_type(), "String");
    assert_eq!(
        attrs["event_id"].string_value(),
        Some(event_id.to_string().as_str())
    );
    assert_eq!(attrs["attempt"].data_type(), "Number");
    assert_eq!(attrs["attempt"].string_value(), Some("1"));
}

// ---------------------------------------------------------------------------------------------
// Out of order and repeated callbacks
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn out_of_order_callbacks_never_move_the_call_back() {
    let (app, seeded) = env().await;
    // Ended before started.
    let call = app.dialing_call(&seeded).await;
    let pc = ProviderCall::outbound(&call, &seeded.agent);
    assert_eq!(post(&app, &pc.body(Stage::Ended)).await.1["changed"], true);
    let (status, res) = post(&app, &pc.body(Stage::Started)).await;
    assert_eq!((status, res["changed"].clone()), (200, json!(false)));
    let after = app.call(call.id).await;
    assert_eq!(after.status, CallStatus::Ended);
    assert_eq!(after.ended_at, Some(at_ms(END_MS)));

    // Analyzed first, then the older events.
    let call = app.dialing_call(&seeded).await;
    let pc = ProviderCall::outbound(&call, &seeded.agent);
    assert_eq!(post(&app, &pc.body(Stage::Analyzed)).await.0, 200);
    let completed = app.call(call.id).await;
    assert_eq!(completed.status, CallStatus::Completed);
    assert_eq!(completed.started_at, Some(at_ms(START_MS)));
    assert_eq!(completed.duration_seconds, Some(185));
    app.fixed_clock().advance(chrono::Duration::seconds(30));
    for stage in [Stage::Ended, Stage::Started] {
        let (status, res) = post(&app, &pc.body(stage)).await;
        assert_eq!((status, res["changed"].clone()), (200, json!(false)));
    }
    assert_eq!(
        app.call(call.id).await,
        completed,
        "late callbacks changed nothing"
    );
    let msgs = receive_all(&app).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(message(&msgs[0]).call_id, call.id);
}

#[tokio::test]
async fn repeated_callbacks_change_nothing() {
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    let pc = ProviderCall::outbound(&call, &seeded.agent);
    for stage in [Stage::Started, Stage::Ended, Stage::Analyzed] {
        assert_eq!(post(&app, &pc.body(stage)).await.1["changed"], true);
        let mut snapshot = app.call(call.id).await;
        app.fixed_clock().advance(chrono::Duration::seconds(10));
        let (status, res) = post(&app, &pc.body(stage)).await;
        assert_eq!(status, 200);
        assert_eq!(res["changed"], false, "{res}");
        if stage == Stage::Started {
            // News of a call in progress: only its stale deadline moves, counted from now
            // (issue 25, long calls).
            let now = app.now();
            snapshot.updated_at = now;
            snapshot.due_at = Some(
                now + chrono::Duration::from_std(domain::config::DEFAULT_CALL_STALE_AFTER).unwrap(),
            );
        }
        assert_eq!(
            app.call(call.id).await,
            snapshot,
            "a repeated {} wrote",
            stage.event()
        );
    }
    let event_id = app.call(call.id).await.event_id.expect("event");
    let (_, res) = post(&app, &pc.body(Stage::Analyzed)).await;
    assert_eq!(res["event_id"], event_id.to_string());
    assert_eq!(app.items_of_type("event").await.len(), 1);
    let msgs = receive_all(&app).await;
    assert_eq!(msgs.len(), 1, "one event, queued once");
    assert_eq!(message(&msgs[0]).event_id, event_id);
}

/// Two deliveries of `call_analyzed` that both read the call before either wrote: the one
/// whose conditional write comes second must fail and write nothing, so there is one event.
/// (Driven step by step: moto's TransactWriteItems is not isolated between concurrent
/// requests, see docs/voice-provider.md, so a truly concurrent race would test moto.)
#[tokio::test]
async fn a_stale_completion_loses_and_writes_nothing() {
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    let stale = app.call(call.id).await;
    assert_eq!(
        stale.event_id, None,
        "the second delivery read a call without an event"
    );
    let (status, res) = post(
        &app,
        &ProviderCall::outbound(&call, &seeded.agent).body(Stage::Analyzed),
    )
    .await;
    assert_eq!(status, 200, "{res}");
    let first: EventId = res["event_id"].as_str().expect("id").parse().expect("uuid");
    let completed = app.call(call.id).await;

    // The second delivery's write, built from its stale read.
    let second = EventRecord {
        id: EventId::new_v4(),
        account_id: stale.account_id.clone(),
        call_id: stale.id,
        event_type: domain::event_type::EventType::CallCompleted,
        payload: r#"{"event":"call.completed"}"#.into(),
        created_at: at_ms(NOW_MS),
    };
    let created = app
        .store
        .complete_call(
            stale.id,
            &CallProgress {
                ended_at: Some(at_ms(END_MS + 1000)),
                ..CallProgress::default()
            },
            &CallCompletion {
                summary: "another summary",
                sentiment: "negative",
                event: &second,
                event_expires_at: at_ms(NOW_MS) + chrono::Duration::days(30),
                event_due_at: at_ms(NOW_MS) + chrono::Duration::days(30),
            },
            at_ms(NOW_MS + 1000),
        )
        .await
        .expect("complete");
    assert!(!created, "the stale completion must lose");
    assert_eq!(app.call(call.id).await, completed, "and change nothing");
    assert!(app.store.event(second.id).await.expect("read").is_none());
    assert_eq!(app.items_of_type("event").await.len(), 1);
    assert_eq!(completed.event_id, Some(first));
}

/// Two first callbacks of one inbound call that both found no record: the second's create
/// must find the first's record instead of making another.
#[tokio::test]
async fn a_second_inbound_create_finds_the_first_record() {
    let (app, seeded) = env().await;
    let pc = ProviderCall::inbound(&seeded.agent.provider_agent_id);
    let (status, res) = post(&app, &pc.body(Stage::Started)).await;
    assert_eq!(status, 200, "{res}");
    let first: CallId = res["call_id"].as_str().expect("id").parse().expect("uuid");
    let mut racer = app.call(first).await;
    racer.id = CallId::new_v4();
    racer.status = CallStatus::Dialing;
    let owner = app.store.create_inbound_call(&racer).await.expect("create");
    assert_eq!(owner, first);
    assert!(app.store.call(racer.id).await.expect("read").is_none());
    assert_eq!(app.items_of_type("call").await.len(), 1);
    assert_eq!(
        app.store
            .call_id_by_provider_call(&pc.call_id)
            .await
            .expect("read"),
        Some(first)
    );
}

// ---------------------------------------------------------------------------------------------
// Inbound calls, unknown agents and calls, other events, bad bodies
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn inbound_call_gets_one_record_and_one_event() {
    let (app, seeded) = env().await;
    let pc = ProviderCall::inbound(&seeded.agent.provider_agent_id);
    let (status, res) = post(&app, &pc.body(Stage::Started)).await;
    assert_eq!(status, 200, "{res}");
    let call_id: CallId = res["call_id"]
        .as_str()
        .expect("call id")
        .parse()
        .expect("uuid");
    let call = app.call(call_id).await;
    assert_eq!(call.direction, Direction::Inbound);
    assert_eq!(call.account_id, seeded.account.id);
    assert_eq!(call.agent_id, seeded.agent.id);
    assert_eq!(
        call.phone_number, "+15557654321",
        "the caller is the customer"
    );
    assert_eq!(call.provider_call_id.as_deref(), Some(pc.call_id.as_str()));
    assert_eq!(call.status, CallStatus::InProgress);
    assert!(call.metadata.is_empty());

    for stage in [
        Stage::Started,
        Stage::Ended,
        Stage::Analyzed,
        Stage::Analyzed,
    ] {
        let (status, res) = post(&app, &pc.body(stage)).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(
            res["call_id"],
            call_id.to_string(),
            "every callback finds the same record"
        );
    }
    assert_eq!(app.items_of_type("call").await.len(), 1);
    assert_eq!(app.items_of_type("provider_call").await.len(), 1);
    let call = app.call(call_id).await;
    assert_eq!(call.status, CallStatus::Completed);
    let msgs = receive_all(&app).await;
    assert_eq!(msgs.len(), 1);
    let m = message(&msgs[0]);
    assert_eq!(
        (m.call_id, m.account_id.as_str()),
        (call_id, seeded.account.id.as_str())
    );
    let stored = app
        .store
        .event(m.event_id)
        .await
        .expect("read")
        .expect("event");
    let payload: Value = serde_json::from_str(&stored.record.payload).expect("JSON");
    assert_eq!(payload["direction"], "inbound");
    assert_eq!(payload["phone_number"], "+15557654321");
    assert_eq!(payload["metadata"], json!({}));
    assert_eq!(payload["sentiment"], "neutral");
}

#[tokio::test]
async fn unknown_agent_is_acknowledged_and_ignored() {
    let (app, _seeded) = env().await;
    for agent in ["prov_agent_nobody", ""] {
        let pc = ProviderCall::inbound(agent);
        for stage in [Stage::Started, Stage::Analyzed] {
            let (status, res) = post(&app, &pc.body(stage)).await;
            assert_eq!(status, 200, "the provider must stop retrying");
            assert_eq!(res, json!({"success": true, "ignored": "unknown_agent"}));
        }
    }
    assert!(app.items_of_type("call").await.is_empty());
    assert!(app.items_of_type("provider_call").await.is_empty());
    assert!(app.items_of_type("event").await.is_empty());
    assert_eq!(app.queue_depth().await, 0);
}

#[tokio::test]
async fn unknown_or_mismatched_call_is_acknowledged_and_ignored() {
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    let agent = &seeded.agent;

    // Our metadata names a call that does not exist.
    let mut unknown = ProviderCall::outbound(&call, agent);
    unknown.metadata =
        Some(json!({"call_id": Uuid::new_v4().to_string(), "account_id": call.account_id}));
    // An outbound call with no metadata of ours (placed elsewhere).
    let mut foreign = ProviderCall::outbound(&call, agent);
    foreign.metadata = None;
    // Metadata naming our call but another account.
    let mut other_account = ProviderCall::outbound(&call, agent);
    other_account.metadata =
        Some(json!({"call_id": call.id.to_string(), "account_id": "acct_other"}));
    // Our call, but another provider call id than the one trigger-call recorded.
    let mut other_provider_call = ProviderCall::outbound(&call, agent);
    other_provider_call.call_id = "prov_someone_else".into();

    for (pc, reason) in [
        (unknown, "unknown_call"),
        (foreign, "unknown_call"),
        (other_account, "call_mismatch"),
        (other_provider_call, "call_mismatch"),
    ] {
        let (status, res) = post(&app, &pc.body(Stage::Analyzed)).await;
        assert_eq!(status, 200);
        assert_eq!(res, json!({"success": true, "ignored": reason}));
    }
    assert_eq!(app.call(call.id).await, call, "our call is untouched");
    assert!(app.items_of_type("event").await.is_empty());
    assert_eq!(app.queue_depth().await, 0);
}

#[tokio::test]
async fn unhandled_events_are_acknowledged_and_ignored() {
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    let pc = ProviderCall::outbound(&call, &seeded.agent);
    for event in ["transcript_updated", "call_analysed", ""] {
        let (status, res) = post(&app, &pc.body_as(event, Stage::Analyzed)).await;
        assert_eq!(status, 200);
        assert_eq!(
            res,
            json!({"success": true, "ignored": "unsupported_event"})
        );
    }
    assert_eq!(app.call(call.id).await, call);
    assert_eq!(app.queue_depth().await, 0);
}

#[tokio::test]
async fn failed_call_gets_no_event() {
    let (app, seeded) = env().await;
    let now = at_ms(START_MS);
    let mut call = app.dialing_call(&seeded).await;
    // A call trigger-call recorded as failed (the provider refused it).
    call.id = CallId::new_v4();
    call.status = CallStatus::Queued;
    call.provider_call_id = None;
    app.store
        .create_call(&call, None, now)
        .await
        .expect("create");
    app.store
        .mark_call_failed(call.id, "provider_http_500: boom", now, None)
        .await
        .expect("fail");
    let mut pc = ProviderCall::outbound(&call, &seeded.agent);
    pc.call_id = "prov_late".into();
    let (status, res) = post(&app, &pc.body(Stage::Started)).await;
    assert_eq!((status, res["changed"].clone()), (200, json!(false)));
    let (status, res) = post(&app, &pc.body(Stage::Analyzed)).await;
    assert_eq!(status, 200);
    assert_eq!(res["ignored"], "call_failed");
    assert_eq!(app.call(call.id).await.status, CallStatus::Failed);
    assert_eq!(app.queue_depth().await, 0);
}

#[tokio::test]
async fn signed_bad_bodies_are_400_and_write_nothing() {
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    let cases = [
        ("{not json", "invalid_json"),
        ("", "invalid_json"),
        ("[1,2]", "invalid_callback"),
        (r#"{"event":"call_started"}"#, "invalid_callback"),
        (
            r#"{"event":"call_started","call":{"call_id":""}}"#,
            "invalid_callback",
        ),
        (
            r#"{"event":"call_started","call":{"call_id":"p","start_timestamp":"yesterday"}}"#,
            "invalid_callback",
        ),
        (r#"{"event":7,"call":{"call_id":"p"}}"#, "invalid_callback"),
    ];
    for (body, code) in cases {
        let sig = app.sign_callback(body);
        let (status, res) = post_raw(&app, body, Some(&sig)).await;
        assert_eq!(status, 400, "{body}: {res}");
        assert_eq!(res["success"], false);
        assert_eq!(res["error"]["code"], code, "{body}: {res}");
    }
    assert_eq!(app.call(call.id).await, call);
    assert_eq!(app.items_of_type("call").await.len(), 1);
    assert_eq!(app.queue_depth().await, 0);
}

#[tokio::test]
async fn other_routes_and_methods() {
    let (app, _seeded) = env().await;
    let res =
        call_completed::handle(ApiRequest::get(ROUTE).build(), app.call_completed_deps()).await;
    assert_eq!(parts(&res).0, 405);
    let res = call_completed::handle(
        ApiRequest::post("/hooks/other").build(),
        app.call_completed_deps(),
    )
    .await;
    assert_eq!(parts(&res).0, 404);
}

// ---------------------------------------------------------------------------------------------
// The SQS failure case
// ---------------------------------------------------------------------------------------------

/// The real SQS adapter with one injected failure: the first send errors, later ones go
/// through to the emulator's queue.
struct FailsOnce {
    inner: SqsQueue,
    failed: AtomicBool,
}

#[async_trait]
impl EventQueue for FailsOnce {
    async fn send(&self, msg: &DeliveryMessage, delay: Duration) -> Result<(), QueueError> {
        if !self.failed.swap(true, Ordering::SeqCst) {
            return Err(QueueError::Backend("injected: SQS unavailable".into()));
        }
        self.inner.send(msg, delay).await
    }
}

#[tokio::test]
async fn sqs_failure_answers_5xx_and_the_retry_sends_the_stored_event() {
    let (app, seeded) = env_with_queue(|inner| {
        Arc::new(FailsOnce {
            inner,
            failed: AtomicBool::new(false),
        })
    })
    .await;
    let call = app.dialing_call(&seeded).await;
    let body = ProviderCall::outbound(&call, &seeded.agent).body(Stage::Analyzed);

    let (status, res) = post(&app, &body).await;
    assert_eq!(status, 500, "{res}");
    assert_eq!(res["error"]["code"], "internal_error");
    assert!(
        !res.to_string().contains("injected"),
        "no internals in the body"
    );
    // Stored, not queued.
    let event_id = app.call(call.id).await.event_id.expect("event stored");
    let stored = app
        .store
        .event(event_id)
        .await
        .expect("read")
        .expect("event");
    assert!(!stored.enqueued);
    assert_eq!(app.queue_depth().await, 0);

    // The provider retries: the stored event is sent, not a new one.
    let (status, res) = post(&app, &body).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["event_id"], event_id.to_string());
    assert!(
        app.store
            .event(event_id)
            .await
            .expect("read")
            .expect("event")
            .enqueued
    );
    // A further duplicate sends nothing more.
    assert_eq!(post(&app, &body).await.0, 200);

    let msgs = receive_all(&app).await;
    assert_eq!(msgs.len(), 1, "exactly one message in the end");
    assert_eq!(message(&msgs[0]).event_id, event_id);
    assert_eq!(app.items_of_type("event").await.len(), 1);
    let after = app
        .store
        .event(event_id)
        .await
        .expect("read")
        .expect("event");
    assert_eq!(
        after.record, stored.record,
        "the retry sent the stored payload unchanged"
    );
}

// ---------------------------------------------------------------------------------------------
// Golden payloads
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn golden_payload_outbound() {
    let (app, seeded) = env().await;
    // Fixed ids so the payload bytes are stable.
    let agent = Agent {
        id: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
            .parse()
            .expect("uuid"),
        account_id: seeded.account.id.clone(),
        name: "Sales Qualifier".into(),
        provider_agent_id: format!("prov_agent_{}", Uuid::new_v4().simple()),
        phone_number: None,
    };
    app.store.put_agent(&agent).await.expect("agent");
    let metadata = json!({
        "source": "your-custom-field",
        "crm": {"id": 42, "tags": ["vip", "émigré"], "owner": null},
        "a_key_sorted_first_alphabetically": true
    });
    let Value::Object(metadata) = metadata else {
        unreachable!()
    };
    let call_id: CallId = "4b0d6c1e-8a57-4c1e-9a0e-2f3b5d7c9e11"
        .parse()
        .expect("uuid");
    let call = app
        .dialing_call_with(&seeded, call_id, agent.id, metadata)
        .await;
    let (status, res) = post(
        &app,
        &ProviderCall::outbound(&call, &agent).body(Stage::Analyzed),
    )
    .await;
    assert_eq!(status, 200, "{res}");
    let event_id: EventId = res["event_id"].as_str().expect("id").parse().expect("uuid");
    let stored = app
        .store
        .event(event_id)
        .await
        .expect("read")
        .expect("event");
    golden("call_completed_outbound.json", &stored.record.payload);
}

#[tokio::test]
async fn golden_payload_inbound() {
    let (app, seeded) = env().await;
    let agent = Agent {
        id: "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
            .parse()
            .expect("uuid"),
        account_id: seeded.account.id.clone(),
        name: "Front Desk".into(),
        provider_agent_id: format!("prov_agent_{}", Uuid::new_v4().simple()),
        phone_number: None,
    };
    app.store.put_agent(&agent).await.expect("agent");
    let pc = ProviderCall::inbound(&agent.provider_agent_id);
    let (status, res) = post(&app, &pc.body(Stage::Analyzed)).await;
    assert_eq!(status, 200, "{res}");
    let call_id = res["call_id"].as_str().expect("call id").to_string();
    let event_id: EventId = res["event_id"].as_str().expect("id").parse().expect("uuid");
    let stored = app
        .store
        .event(event_id)
        .await
        .expect("read")
        .expect("event");
    // The inbound call's id is ours, generated on the first callback: the golden file holds
    // the nil UUID in its place.
    assert_eq!(stored.record.payload.matches(&call_id).count(), 1);
    let normalized = stored
        .record
        .payload
        .replace(&call_id, &Uuid::nil().to_string());
    golden("call_completed_inbound.json", &normalized);
}

// ---------------------------------------------------------------------------------------------
// Size: a two-hour call
// ---------------------------------------------------------------------------------------------

/// A dense two-hour conversation: a turn every 3 s, 14 words a turn (280 words a minute,
/// about twice normal speech: a worst case), words drawn pseudo-randomly from a vocabulary with
/// accented words (so it does not compress unrealistically well), and word timings as the
/// provider sends them.
fn two_hour_transcript() -> Value {
    const VOCABULARY: &str = "the a to and of I you it that is we for on with this be have \
        can your our will do not what about so just yes no okay right well pricing enterprise \
        contract renewal déjà naïve schedule Müller señor quarterly invoice integration \
        appointment Tuesday morning afternoon discount seats licence onboarding support \
        migration export dashboard webhook callback CRM pipeline follow-up email colleague \
        budget approval legal security compliance SSO audit trial upgrade downgrade cancel \
        résumé café façade Zürich København São Paulo 2025 42 15 percent thousand";
    let vocabulary: Vec<&str> = VOCABULARY.split_whitespace().collect();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next_word = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        vocabulary[(seed % vocabulary.len() as u64) as usize]
    };
    let turns: Vec<Value> = (0..2400)
        .map(|i| {
            let start = i as f64 * 3.0 + 0.25;
            let words: Vec<&str> = (0..14).map(|_| next_word()).collect();
            let timed: Vec<Value> = words
                .iter()
                .enumerate()
                .map(|(w, word)| {
                    let t = start + w as f64 * 0.2;
                    json!({"word": word, "start": t, "end": t + 0.18})
                })
                .collect();
            json!({
                "role": if i % 2 == 0 { "agent" } else { "user" },
                "content": words.join(" "),
                "words": timed
            })
        })
        .collect();
    Value::Array(turns)
}

#[tokio::test]
async fn two_hour_transcript_stays_in_dynamodb_and_the_message_stays_small() {
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    let mut pc = ProviderCall::outbound(&call, &seeded.agent);
    pc.transcript = two_hour_transcript();
    let mut body = pc.body(Stage::Analyzed);
    let end = START_MS + 2 * 3600 * 1000;
    body["call"]["end_timestamp"] = end.into();
    body["call"]["duration_ms"] = (end - START_MS).into();
    let raw = body.to_string();
    app.fixed_clock().set(at_ms(end + 30_000));
    let sig = app.sign_callback(&raw);
    let (status, res) = post_raw(&app, &raw, Some(&sig)).await;
    assert_eq!(status, 200, "{res}");
    let event_id: EventId = res["event_id"].as_str().expect("id").parse().expect("uuid");

    let stored = app
        .store
        .event(event_id)
        .await
        .expect("read")
        .expect("event");
    let payload_len = stored.record.payload.len();
    let (pk, sk) = aws_adapters::dynamo::keys::event(&event_id);
    let item = raw_item(&app, pk, sk).await;
    let stored_len = match item.get("payload_gz") {
        Some(AttributeValue::B(b)) => b.as_ref().len(),
        other => panic!("large payload not stored compressed: {other:?}"),
    };
    eprintln!(
        "two-hour call: callback {} bytes, payload {payload_len} bytes, stored {stored_len} bytes gzip",
        raw.len()
    );
    assert!(
        payload_len > 350 * 1024,
        "the test transcript should be past the plain-item comfort zone ({payload_len})"
    );
    assert!(payload_len > PLAIN_PAYLOAD_MAX_BYTES && stored.compressed);
    assert!(
        stored_len < 350 * 1024,
        "fits a DynamoDB item ({stored_len})"
    );
    let payload: Value = serde_json::from_str(&stored.record.payload).expect("payload JSON");
    assert_eq!(payload["duration_seconds"], 7200);
    assert_eq!(payload["transcript"].as_array().map(Vec::len), Some(2400));
    assert_eq!(
        payload["transcript"][2399]["timestamp"],
        "2025-06-15T17:29:57Z"
    );

    let msgs = receive_all(&app).await;
    assert_eq!(msgs.len(), 1);
    let body = msgs[0].body().expect("body");
    assert!(body.len() < 512, "message is {} bytes", body.len());
    assert!(!body.contains("transcript"));
    assert_eq!(message(&msgs[0]).event_id, event_id);
}

/// A 5 MB transcript that does not compress (random base64 words): the payload is cut to fit
/// the item (oldest turns out, a marker first), one event item within the limit, one message.
#[tokio::test]
async fn an_incompressible_5_mb_transcript_is_cut_to_fit_one_item() {
    use domain::ports::store::event_store::MAX_STORED_PAYLOAD_BYTES;
    const TURNS: usize = 2500;
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    let mut pc = ProviderCall::outbound(&call, &seeded.agent);
    pc.transcript = fixtures::incompressible_transcript(5_000_000, TURNS, 7);
    let last_turn = pc.transcript[TURNS - 1]["content"].clone();
    let raw = pc.body(Stage::Analyzed).to_string();
    assert!(
        raw.len() > 5_000_000 && raw.len() < 6 * 1024 * 1024,
        "{}",
        raw.len()
    );
    let sig = app.sign_callback(&raw);
    let (status, res) = post_raw(&app, &raw, Some(&sig)).await;
    assert_eq!(status, 200, "{res}");
    let event_id: EventId = res["event_id"].as_str().expect("id").parse().expect("uuid");

    let events = app.items_of_type("event").await;
    assert_eq!(events.len(), 1, "exactly one event item");
    let stored_len = match events[0].get("payload_gz") {
        Some(AttributeValue::B(b)) => b.as_ref().len(),
        other => panic!("payload not stored compressed: {other:?}"),
    };
    assert!(stored_len <= MAX_STORED_PAYLOAD_BYTES, "{stored_len}");
    let stored = app
        .store
        .event(event_id)
        .await
        .expect("read")
        .expect("event");
    let payload: Value = serde_json::from_str(&stored.record.payload).expect("payload JSON");
    let kept = payload["transcript"].as_array().expect("transcript");
    let marker = kept[0]["content"].as_str().expect("marker");
    let omitted: usize = marker
        .strip_prefix("[transcript truncated: ")
        .and_then(|m| m.strip_suffix(" earlier turns omitted]"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no marker: {marker}"));
    assert_eq!(omitted + kept.len() - 1, TURNS);
    assert!(omitted > TURNS / 2 && kept.len() > 100, "{omitted} omitted");
    assert_eq!(kept.last().expect("turn")["content"], last_turn);
    assert_eq!(payload["call_id"], call.id.to_string());
    eprintln!(
        "incompressible transcript: callback {} bytes, payload {} bytes, stored {stored_len} bytes gzip, {omitted} of {TURNS} turns omitted",
        raw.len(),
        stored.record.payload.len()
    );
    let after = app.call(call.id).await;
    assert_eq!(after.status, CallStatus::Completed);
    assert_eq!(after.event_id, Some(event_id));

    let msgs = receive_all(&app).await;
    assert_eq!(msgs.len(), 1, "one message");
    assert_eq!(message(&msgs[0]).event_id, event_id);
    assert!(
        app.store
            .event(event_id)
            .await
            .expect("read")
            .expect("event")
            .enqueued
    );

    // The provider's retry: 200, nothing more stored or queued.
    let sig = app.sign_callback(&raw);
    let (status, res) = post_raw(&app, &raw, Some(&sig)).await;
    assert_eq!(
        (status, res["changed"].clone()),
        (200, json!(false)),
        "{res}"
    );
    assert_eq!(app.items_of_type("event").await.len(), 1);
    assert_eq!(
        app.queue_depth().await,
        1,
        "only the one message (in flight)"
    );
}

// ---------------------------------------------------------------------------------------------
// End to end with trigger-call
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn callbacks_for_a_call_placed_by_trigger_call() {
    let (mut app, seeded) = env().await;
    let provider = TestServer::start(|_, _| async {
        Reply::json(
            201,
            json!({"call_id": "prov_e2e_1", "call_status": "registered", "direction": "outbound"}),
        )
    })
    .await;
    app.set_provider(retell(&provider.url(), &app.tunables));
    let req = app.api(&seeded, "POST", "/api/trigger-call").json(
        &json!({"phone": "+15551234567", "name": "Jane", "metadata": {"source": "crm", "lead": 7}}),
    );
    let (status, res) = app.trigger_call(req).await;
    assert_eq!(status, 200, "{res}");
    let call_id: CallId = res["call_id"].as_str().expect("id").parse().expect("uuid");

    // The provider echoes the metadata trigger-call sent it.
    let sent = provider.wait_for(1, Duration::from_secs(5)).await;
    let provider_metadata = sent[0].json()["metadata"].clone();
    let call = app.call(call_id).await;
    let mut pc = ProviderCall::outbound(&call, &seeded.agent);
    pc.metadata = Some(provider_metadata);
    for stage in [Stage::Started, Stage::Ended, Stage::Analyzed] {
        let (status, res) = post(&app, &pc.body(stage)).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["call_id"], call_id.to_string());
    }
    let msgs = receive_all(&app).await;
    assert_eq!(msgs.len(), 1);
    let stored = app
        .store
        .event(message(&msgs[0]).event_id)
        .await
        .expect("read")
        .expect("event");
    let payload: Value = serde_json::from_str(&stored.record.payload).expect("JSON");
    assert_eq!(payload["call_id"], call_id.to_string());
    assert_eq!(payload["metadata"], json!({"source": "crm", "lead": 7}));
    provider.stop();
}

/// `call.started` and `call.failed` through the real call-completed function, DynamoDB and SQS
/// (each stored with its call's move in one transaction, once however the callbacks repeat),
/// then the real delivery function POSTing to a receiver that counts POSTs per
/// `X-Event-Type`: one per subscribed event, none for the unsubscribed.
#[tokio::test]
async fn call_started_and_call_failed_are_stored_once_and_each_posted_once() {
    use domain::event_rules::event_id;
    use domain::event_type::EventType;
    let (app, seeded) = env().await;
    let receiver = TestServer::start(|_, _| async { Reply::status(200) }).await;
    let url = format!("{}/hooks/bvai", receiver.url());
    app.update_account(&seeded.account.id, |a| {
        a.webhook_url = Some(url);
        a.events = vec![EventType::CallStarted, EventType::CallFailed];
    })
    .await;

    // A call that connects: call_started twice, then its end and analysis.
    let started = app.dialing_call(&seeded).await;
    let p = ProviderCall::outbound(&started, &seeded.agent);
    for stage in [
        Stage::Started,
        Stage::Started,
        Stage::Ended,
        Stage::Analyzed,
    ] {
        let (status, res) = post(&app, &p.body(stage)).await;
        assert_eq!(status, 200, "{res}");
    }
    // A call that is never answered: call_ended twice, then its analysis.
    let unanswered = app.dialing_call(&seeded).await;
    let q = ProviderCall::outbound(&unanswered, &seeded.agent);
    let not_connected = |stage: Stage| {
        let mut b = q.body(stage);
        let c = b["call"].as_object_mut().expect("call");
        c.remove("start_timestamp");
        c.remove("duration_ms");
        c.insert("disconnection_reason".into(), "dial_no_answer".into());
        b
    };
    for stage in [Stage::Ended, Stage::Ended, Stage::Analyzed] {
        let (status, res) = post(&app, &not_connected(stage)).await;
        assert_eq!(status, 200, "{res}");
    }

    let s_id = event_id(started.id, EventType::CallStarted);
    let f_id = event_id(unanswered.id, EventType::CallFailed);
    let s = app.store.event(s_id).await.unwrap().expect("call.started");
    let f = app.store.event(f_id).await.unwrap().expect("call.failed");
    assert_eq!(
        (s.record.event_type, s.enqueued),
        (EventType::CallStarted, true)
    );
    assert_eq!(
        (f.record.event_type, f.enqueued),
        (EventType::CallFailed, true)
    );
    let fp: Value = serde_json::from_str(&f.record.payload).unwrap();
    assert_eq!(
        (fp["event"].as_str(), fp["reason"].as_str()),
        (Some("call.failed"), Some("no_answer"))
    );
    assert!(app
        .store
        .event(event_id(unanswered.id, EventType::CallStarted))
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        app.store.call(unanswered.id).await.unwrap().unwrap().status,
        CallStatus::Completed
    );

    // Four events queued once each: two call.completed (today's behaviour), one of each new.
    let msgs = integration_tests::sqs::drain(&app.emu.sqs(), &app.queue_url).await;
    let mut ids: Vec<EventId> = msgs.iter().map(|m| m.event_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((msgs.len(), ids.len()), (4, 4), "{msgs:?}");

    let res = app.deliver(&msgs).await;
    assert!(res.batch_item_failures.is_empty());
    let mut per_type: HashMap<String, usize> = HashMap::new();
    for r in receiver.requests() {
        let t = r.header("x-event-type").unwrap_or("").to_string();
        assert_eq!(
            r.json()["event"].as_str(),
            Some(t.as_str()),
            "header names the body's event"
        );
        *per_type.entry(t).or_default() += 1;
    }
    assert_eq!(
        per_type,
        HashMap::from([
            ("call.started".to_string(), 1),
            ("call.failed".to_string(), 1)
        ]),
        "call.completed is not subscribed: not POSTed"
    );
    let log = app
        .store
        .deliveries(
            &seeded.account.id,
            &domain::ports::store::deliveries::DeliveryQuery {
                outcome: Some(domain::model::DeliveryOutcome::Skipped),
                limit: 10,
                after: None,
            },
            app.now(),
        )
        .await
        .expect("log");
    assert_eq!(log.attempts.len(), 2, "both call.completed logged skipped");
    receiver.stop();
}

/// Issue 26: call-completed's cold start (`Deps::from_env`, what `main.rs` runs) stops with a
/// startup error naming the provider secret when its `api_key` is empty or short: callbacks
/// would otherwise be verified with a key anyone can sign with. With a real key it starts.
#[tokio::test]
async fn the_cold_start_refuses_an_empty_or_short_provider_key() {
    use domain::config::{self, Env};
    use domain::error::{SecretError, StartupError};
    use domain::ports::secrets::{SecretStore, MIN_PROVIDER_KEY_CHARS};
    let emu = Emulator::connect().await;
    let store = emu.table().await;
    let queue_url = emu.queue().await;
    let secrets = emu.secrets();
    let name = Emulator::unique("provider-secret");
    let vars = || {
        Env::process()
            .with(config::TABLE_NAME, store.table())
            .with(config::EVENTS_QUEUE_URL, queue_url.clone())
            .with(config::PROVIDER_SECRET_NAME, name.clone())
    };
    for key in ["", "short-key"] {
        secrets
            .put(&name, &json!({ "api_key": key }).to_string())
            .await
            .expect("put");
        let err = call_completed::Deps::from_env(&emu.config, &vars())
            .await
            .err()
            .expect("refused at start");
        assert!(
            matches!(&err, StartupError::Secret(SecretError::ProviderKeyTooShort { name: n, .. }) if *n == name),
            "{key:?}: {err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains(&name)
                && message.contains(&format!("shorter than {MIN_PROVIDER_KEY_CHARS} characters")),
            "{message}"
        );
    }
    secrets
        .put(&name, &json!({ "api_key": PROVIDER_KEY }).to_string())
        .await
        .expect("put");
    let deps = call_completed::Deps::from_env(&emu.config, &vars())
        .await
        .expect("starts with the real key");
    assert_eq!(deps.provider_secret.api_key, PROVIDER_KEY);
}
