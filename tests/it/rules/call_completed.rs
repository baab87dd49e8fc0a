//! call-completed's rules on the in-memory store and queue: signatures, forward-only status,
//! one event and one message per call however the callbacks repeat, race or fail to queue.

use super::{provider_call_json, App, Seeded, Stage, NOW_MS};
use domain::ids::{CallId, EventId};
use domain::model::{Call, CallStatus};
use domain::ports::queue::DeliveryMessage;
use domain::ports::store::EventStore;
use domain::signature::sign_provider_callback;
use integration_tests::apigw::{parts, Build};
use integration_tests::app::callback_request;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

async fn env() -> (App, Seeded) {
    let app = App::new();
    let seeded = app.agency().await;
    (app, seeded)
}

/// The provider's callback body for `call` at `stage`.
fn body(seeded: &Seeded, call: &Call, stage: Stage) -> String {
    json!({"event": stage.event(), "call": provider_call_json(call, &seeded.agent, stage)})
        .to_string()
}

#[tokio::test]
async fn missing_bad_foreign_or_stale_signatures_are_refused_and_change_nothing() {
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    let raw = body(&seeded, &call, Stage::Analyzed);
    let good = app.sign_callback(&raw);
    let foreign = sign_provider_callback("someone-elses-key", raw.as_bytes(), NOW_MS);
    let stale = sign_provider_callback(
        &app.tunables.provider_key,
        raw.as_bytes(),
        NOW_MS - 5 * 60 * 1000 - 1,
    );
    let mut flipped = good.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == '0' { '1' } else { '0' });
    let tampered = raw.replace("asked about pricing", "asked for a refund");
    for (body, sig) in [
        (raw.as_str(), None),
        (raw.as_str(), Some("garbage")),
        (raw.as_str(), Some(foreign.as_str())),
        (raw.as_str(), Some(stale.as_str())),
        (raw.as_str(), Some(flipped.as_str())),
        (tampered.as_str(), Some(good.as_str())),
    ] {
        let (status, res) = app.call_completed(callback_request(body, sig)).await;
        assert_eq!(status, 401, "{sig:?}: {res}");
        assert_eq!(res["error"]["code"], "invalid_signature");
    }
    assert_eq!(app.call(call.id).await, call, "the call is unchanged");
    assert_eq!(app.plan.calls("call"), 0, "refused before any read");
    assert_eq!(app.stored_event_count(), 0);
    assert_eq!(app.queue.sent_count(), 0);
    // The untampered body with its signature is accepted.
    assert_eq!(
        app.call_completed(callback_request(&raw, Some(&good)))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn status_moves_forward_only() {
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    let (status, res) = app.callback(&call, &seeded.agent, Stage::Started).await;
    assert_eq!(
        (status, res["changed"].clone()),
        (200, json!(true)),
        "{res}"
    );
    assert_eq!(app.call(call.id).await.status, CallStatus::InProgress);
    let (_, res) = app.callback(&call, &seeded.agent, Stage::Ended).await;
    assert_eq!(res["changed"], true);
    let ended = app.call(call.id).await;
    assert_eq!(ended.status, CallStatus::Ended);
    assert_eq!(ended.duration_seconds, Some(185));

    // A late call_started after call_ended changes nothing.
    app.clock.advance(chrono::Duration::seconds(30));
    let (status, res) = app.callback(&call, &seeded.agent, Stage::Started).await;
    assert_eq!((status, res["changed"].clone()), (200, json!(false)));
    assert_eq!(app.call(call.id).await, ended, "late callback wrote");
    assert_eq!(app.queue.sent_count(), 0, "only call_analyzed queues");
    assert_eq!(app.stored_event_count(), 0);
}

#[tokio::test]
async fn call_analyzed_stores_one_event_and_queues_one_message() {
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    let (status, res) = app.callback(&call, &seeded.agent, Stage::Analyzed).await;
    assert_eq!(status, 200, "{res}");
    let event_id: EventId = res["event_id"].as_str().unwrap().parse().unwrap();
    let after = app.call(call.id).await;
    assert_eq!(after.status, CallStatus::Completed);
    assert_eq!(after.event_id, Some(event_id));
    let stored = app.store.event(event_id).await.unwrap().expect("stored");
    assert!(stored.enqueued);
    let payload: Value = serde_json::from_str(&stored.record.payload).unwrap();
    assert_eq!(payload["event"], "call.completed");
    assert_eq!(payload["agent_name"], "Sales Qualifier");
    assert_eq!(payload["duration_seconds"], 185);
    assert_eq!(payload["sentiment"], "positive");
    let sent = app.queue.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].message,
        DeliveryMessage::first(event_id, seeded.account.id.clone(), call.id)
    );
    assert_eq!(sent[0].delay_seconds, 0);

    // Repeats of any callback: nothing more stored or queued, the call stays completed.
    for stage in [
        Stage::Analyzed,
        Stage::Ended,
        Stage::Started,
        Stage::Analyzed,
    ] {
        app.clock.advance(chrono::Duration::seconds(10));
        let (status, res) = app.callback(&call, &seeded.agent, stage).await;
        assert_eq!(
            (status, res["changed"].clone()),
            (200, json!(false)),
            "{stage:?}: {res}"
        );
    }
    assert_eq!(app.call(call.id).await, after);
    assert_eq!(app.stored_event_count(), 1);
    assert_eq!(app.queue.sent_count(), 1);
    assert_eq!(
        app.plan.calls("complete_call"),
        1,
        "repeats never try a second completion"
    );
}

/// Two deliveries of `call_analyzed` at once, both reading the call before either writes (the
/// store's completion is held back so they interleave): one event, one message.
#[tokio::test]
async fn two_concurrent_call_analyzed_store_one_event_and_queue_one_message() {
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    app.plan
        .delay("complete_call", 1, Duration::from_millis(50))
        .delay("complete_call", 2, Duration::from_millis(50));
    let (a, b) = (
        app.signed_callback(&call, &seeded.agent, Stage::Analyzed),
        app.signed_callback(&call, &seeded.agent, Stage::Analyzed),
    );
    let (ra, rb) = futures::join!(
        ::call_completed::handle(a.build(), app.call_completed_deps()),
        ::call_completed::handle(b.build(), app.call_completed_deps())
    );
    let (ra, rb) = (parts(&ra), parts(&rb));
    assert_eq!((ra.0, rb.0), (200, 200), "{ra:?} {rb:?}");
    assert_eq!(app.plan.calls("call"), 2, "both read the call");
    assert_eq!(
        app.plan.calls("complete_call"),
        2,
        "both tried to complete it"
    );
    let changed: Vec<bool> = [&ra.1, &rb.1]
        .iter()
        .map(|r| r["changed"].as_bool().unwrap())
        .collect();
    assert_eq!(changed.iter().filter(|c| **c).count(), 1, "{ra:?} {rb:?}");
    assert_eq!(app.stored_event_count(), 1);
    let sent = app.queue.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        Some(sent[0].message.event_id),
        app.call(call.id).await.event_id
    );
}

#[tokio::test]
async fn a_failed_send_stores_the_event_unqueued_and_the_retry_queues_it_once() {
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    app.plan.fail_next("send");
    let (status, res) = app.callback(&call, &seeded.agent, Stage::Analyzed).await;
    assert_eq!(status, 500, "the provider must retry: {res}");
    let event_id = app.call(call.id).await.event_id.expect("event stored");
    let stored = app.store.event(event_id).await.unwrap().expect("event");
    assert!(!stored.enqueued);
    assert_eq!(app.queue.sent_count(), 0);
    assert_eq!(app.stored_event_count(), 1);

    // The provider's retry sends the stored event; later repeats send nothing.
    let (status, res) = app.callback(&call, &seeded.agent, Stage::Analyzed).await;
    assert_eq!(
        (status, res["changed"].clone()),
        (200, json!(true)),
        "{res}"
    );
    assert_eq!(res["event_id"], event_id.to_string());
    for _ in 0..2 {
        let (status, res) = app.callback(&call, &seeded.agent, Stage::Analyzed).await;
        assert_eq!((status, res["changed"].clone()), (200, json!(false)));
    }
    let sent = app.queue.sent();
    assert_eq!(sent.len(), 1, "queued exactly once");
    assert_eq!(sent[0].message.event_id, event_id);
    assert!(app.store.event(event_id).await.unwrap().unwrap().enqueued);
    assert_eq!(app.stored_event_count(), 1);
    assert_eq!(app.plan.calls("send"), 2);
}

/// The message went out but marking the event enqueued failed: answered 200 (the message is
/// on the queue); a repeated callback re-sends it, which the delivery function dedupes.
#[tokio::test]
async fn a_failed_enqueued_mark_still_answers_200_with_one_event() {
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    app.plan.fail_next("mark_event_enqueued");
    let (status, res) = app.callback(&call, &seeded.agent, Stage::Analyzed).await;
    assert_eq!(
        (status, res["changed"].clone()),
        (200, json!(true)),
        "{res}"
    );
    assert_eq!(app.queue.sent_count(), 1);
    assert_eq!(app.stored_event_count(), 1);
    let event_id = app.call(call.id).await.event_id.unwrap();
    assert!(!app.store.event(event_id).await.unwrap().unwrap().enqueued);
}

#[tokio::test]
async fn a_failed_completion_write_answers_500_and_the_retry_completes_once() {
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    app.plan.fail_next("complete_call");
    let (status, _) = app.callback(&call, &seeded.agent, Stage::Analyzed).await;
    assert_eq!(status, 500);
    assert_eq!(app.call(call.id).await, call, "nothing written");
    assert_eq!((app.stored_event_count(), app.queue.sent_count()), (0, 0));
    let (status, res) = app.callback(&call, &seeded.agent, Stage::Analyzed).await;
    assert_eq!((status, res["changed"].clone()), (200, json!(true)));
    assert_eq!((app.stored_event_count(), app.queue.sent_count()), (1, 1));
}

#[tokio::test]
async fn callbacks_about_calls_that_are_not_ours_are_acknowledged_and_ignored() {
    let (app, seeded) = env().await;
    let call = app.dialing_call(&seeded).await;
    // An outbound call id we never created.
    let mut stranger = call.clone();
    stranger.id = CallId::new_v4();
    let (status, res) = app
        .callback(&stranger, &seeded.agent, Stage::Analyzed)
        .await;
    assert_eq!(
        (status, res["ignored"].clone()),
        (200, json!("unknown_call")),
        "{res}"
    );
    // Our call id with another account in the metadata.
    let mut mismatch = call.clone();
    mismatch.account_id = "acct_other".into();
    let (status, res) = app
        .callback(&mismatch, &seeded.agent, Stage::Analyzed)
        .await;
    assert_eq!(
        (status, res["ignored"].clone()),
        (200, json!("call_mismatch")),
        "{res}"
    );
    // An event we do not handle.
    let raw = json!({"event": "call_transferred", "call": provider_call_json(&call, &seeded.agent, Stage::Ended)}).to_string();
    let (status, res) = app
        .call_completed(callback_request(&raw, Some(&app.sign_callback(&raw))))
        .await;
    assert_eq!(
        (status, res["ignored"].clone()),
        (200, json!("unsupported_event"))
    );
    assert_eq!(app.call(call.id).await, call);
    assert_eq!((app.stored_event_count(), app.queue.sent_count()), (0, 0));
}

#[tokio::test]
async fn a_call_that_failed_to_be_placed_gets_no_event() {
    use domain::ports::store::CallStore;
    let (app, seeded) = env().await;
    let now = app.now();
    let call = Call::new(
        Uuid::new_v4(),
        seeded.account.id.clone(),
        seeded.agent.id,
        domain::model::Direction::Outbound,
        CallStatus::Queued,
        "+15551234567",
        now,
    );
    app.store.create_call(&call, None, now).await.unwrap();
    app.store
        .mark_call_failed(call.id, "provider_http_500", now, None)
        .await
        .unwrap();
    let (status, res) = app.callback(&call, &seeded.agent, Stage::Analyzed).await;
    assert_eq!(
        (status, res["ignored"].clone()),
        (200, json!("call_failed")),
        "{res}"
    );
    assert_eq!(app.call(call.id).await.status, CallStatus::Failed);
    assert_eq!((app.stored_event_count(), app.queue.sent_count()), (0, 0));
}

/// A transcript that does not compress, 5 MB of it (under the 6 MiB callback limit): the
/// payload is cut to fit the event item, the oldest turns giving way to a marker, and the one
/// event is stored, queued and delivered; the provider is answered 200, not 500 forever.
#[tokio::test]
async fn an_incompressible_5_mb_transcript_is_cut_to_fit_and_delivered() {
    use domain::ports::store::event_store::{stored_payload_bytes, MAX_STORED_PAYLOAD_BYTES};
    use integration_tests::peer::TestServer;
    let (app, seeded) = env().await;
    let receiver = TestServer::fixed(200, json!({})).await;
    let url = format!("{}/hooks/bvai", receiver.url());
    app.update_account(&seeded.account.id, |a| a.webhook_url = Some(url))
        .await;
    let call = app.dialing_call(&seeded).await;
    const TURNS: usize = 2500;
    let transcript = integration_tests::fixtures::incompressible_transcript(5_000_000, TURNS, 11);
    let mut obj = provider_call_json(&call, &seeded.agent, Stage::Analyzed);
    obj["transcript_object"] = transcript.clone();
    let raw = json!({"event": "call_analyzed", "call": obj}).to_string();
    assert!(
        raw.len() > 5_000_000 && raw.len() < 6 * 1024 * 1024,
        "{}",
        raw.len()
    );

    let (status, res) = app
        .call_completed(callback_request(&raw, Some(&app.sign_callback(&raw))))
        .await;
    assert_eq!(status, 200, "{res}");
    let event_id: EventId = res["event_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.stored_event_count(), 1);
    assert_eq!(app.plan.calls("complete_call"), 1);
    let stored = app.store.event(event_id).await.unwrap().expect("stored");
    assert!(stored.compressed && stored.enqueued);
    let bytes = stored_payload_bytes(&stored.record.payload);
    assert!(bytes <= MAX_STORED_PAYLOAD_BYTES, "{bytes}");
    // Most of the room is used: a cut that kept far fewer turns would be a loss for the customer.
    assert!(bytes > MAX_STORED_PAYLOAD_BYTES * 9 / 10, "{bytes}");

    let payload: Value = serde_json::from_str(&stored.record.payload).expect("valid JSON");
    let kept = payload["transcript"].as_array().expect("transcript");
    let marker = kept[0]["content"].as_str().expect("marker");
    let omitted: usize = marker
        .strip_prefix("[transcript truncated: ")
        .and_then(|m| m.strip_suffix(" earlier turns omitted]"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no marker: {marker}"));
    assert_eq!(omitted + kept.len() - 1, TURNS);
    assert!(omitted > TURNS / 2 && kept.len() > 100, "{omitted} omitted");
    assert_eq!(kept[0]["timestamp"], payload["started_at"]);
    assert_eq!(
        kept.last().unwrap()["content"],
        transcript[TURNS - 1]["content"],
        "the latest turns are kept"
    );
    assert_eq!(kept[1]["content"], transcript[omitted]["content"]);
    assert_eq!(payload["summary"], "The customer asked about pricing.");
    assert_eq!(payload["call_id"], call.id.to_string());
    assert_eq!(app.call(call.id).await.status, CallStatus::Completed);

    // Queued once, and delivered: the receiver gets exactly the stored bytes.
    let sent = app.queue.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].message.event_id, event_id);
    let msgs = app.queue.take_due();
    assert_eq!(msgs.len(), 1);
    let batch = app.deliver(&msgs).await;
    assert!(batch.batch_item_failures.is_empty());
    let posts = receiver.requests();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].body.as_ref(), stored.record.payload.as_bytes());

    // The provider's retry of the same callback changes nothing.
    let (status, res) = app
        .call_completed(callback_request(&raw, Some(&app.sign_callback(&raw))))
        .await;
    assert_eq!(
        (status, res["changed"].clone()),
        (200, json!(false)),
        "{res}"
    );
    assert_eq!(app.stored_event_count(), 1);
    assert_eq!(app.queue.sent_count(), 1);
}

/// Issue 26: the provider key is the HMAC key of the callbacks' signatures, so an empty or
/// short one is refused when the secret is read at cold start (every function that loads it
/// goes through `ProviderSecret::load`): the error names the secret and the minimum, never the
/// value. A key of the minimum length, padded or not, loads.
#[tokio::test]
async fn an_empty_or_short_provider_key_is_refused_at_cold_start() {
    use domain::error::SecretError;
    use domain::ports::secrets::{ProviderSecret, SecretStore, MIN_PROVIDER_KEY_CHARS};
    let w = App::new();
    let name = "buildvoiceai/test/provider";
    let short = "k".repeat(MIN_PROVIDER_KEY_CHARS - 1);
    let padded = format!("  {short}  \n");
    for key in ["", "   ", "sk_short", short.as_str(), padded.as_str()] {
        w.secrets
            .put(name, &json!({ "api_key": key }).to_string())
            .await
            .expect("put");
        let err = ProviderSecret::load(w.secrets.as_ref(), name)
            .await
            .expect_err("a short key is refused");
        assert!(
            matches!(&err, SecretError::ProviderKeyTooShort { name: n, min }
                if n == name && *min == MIN_PROVIDER_KEY_CHARS),
            "{key:?}: {err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains(name) && message.contains(&MIN_PROVIDER_KEY_CHARS.to_string()),
            "{message}"
        );
        if !key.trim().is_empty() {
            assert!(
                !message.contains(key.trim()),
                "the key is never shown: {message}"
            );
        }
    }
    let ok = "k".repeat(MIN_PROVIDER_KEY_CHARS);
    w.secrets
        .put(name, &json!({ "api_key": ok }).to_string())
        .await
        .expect("put");
    let secret = ProviderSecret::load(w.secrets.as_ref(), name)
        .await
        .expect("a key of the minimum length loads");
    assert_eq!(secret.api_key, ok);
    // The tests' own provider key passes the rule it is held to in production.
    assert!(w.tunables.provider_key.len() >= MIN_PROVIDER_KEY_CHARS);
}
