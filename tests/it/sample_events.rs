//! Every handler runs on its sample event from `sample-events/` (the files the README's
//! `cargo lambda invoke` examples use), with the placeholders filled in for a seeded account.

use chrono::Utc;
use domain::model::{Call, CallStatus, Direction};
use domain::ports::store::CallStore;
use integration_tests::deps::{retell, Ports, Tunables};
use integration_tests::fixtures;
use integration_tests::peer::TestServer;
use integration_tests::sqs::drain;
use integration_tests::Emulator;
use serde_json::{json, Value};

const SAMPLE_CALL_ID: &str = "4b0d6c1e-8a57-4c1e-9a0e-2f3b5d7c9e11";
const SAMPLE_EVENT_ID: &str = "9d3f1a2b-4c5d-4e6f-8a7b-9c0d1e2f3a4b";
const PROVIDER_KEY: &str = "sample-provider-key";

fn sample(name: &str, replace: &[(&str, &str)]) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sample-events")
        .join(name);
    let mut text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    text
}

fn http_event(name: &str, replace: &[(&str, &str)]) -> lambda_http::Request {
    lambda_http::request::from_str(&sample(name, replace)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test]
async fn every_handler_runs_on_its_sample_event() {
    let emu = Emulator::connect().await;
    let store = emu.table().await;
    let secrets = emu.secrets();
    let seeded = fixtures::agency(&store, &secrets).await;
    let account = seeded.account.id.clone();
    let queue_url = emu.queue().await;
    let tunables = Tunables {
        provider_key: PROVIDER_KEY.into(),
        ..Tunables::for_account(&seeded)
    };
    let receiver = TestServer::fixed(200, json!({})).await;
    fixtures::update_account(&store, &account, |a| a.webhook_url = Some(receiver.url())).await;
    let subs: Vec<(&str, &str)> = vec![
        ("acct_demo", &account),
        ("bvai_live_REPLACE_WITH_YOUR_API_KEY", &seeded.api_key),
    ];

    // trigger-call
    let provider = TestServer::fixed(
        201,
        json!({"call_id": "prov_1", "call_status": "registered"}),
    )
    .await;
    let ports = Ports {
        provider: retell(&provider.url(), &tunables),
        ..Ports::emulator(&emu, &store, &queue_url)
    };
    let tc = ports.trigger_call(&tunables);
    let res = trigger_call::handle(http_event("trigger-call.json", &subs), &tc).await;
    let (status, body) = integration_tests::apigw::parts(&res);
    assert_eq!(
        (status, body["success"].clone()),
        (200, json!(true)),
        "{body}"
    );

    // The calls route, on a call with the sample's id.
    let now = Utc::now();
    let call = Call::new(
        SAMPLE_CALL_ID.parse().unwrap(),
        account.clone(),
        seeded.agent.id,
        Direction::Outbound,
        CallStatus::Queued,
        "+15551234567",
        now,
    );
    store.create_call(&call, None, now).await.unwrap();
    let res = trigger_call::handle(http_event("get-call.json", &subs), &tc).await;
    let (status, body) = integration_tests::apigw::parts(&res);
    assert_eq!(
        (status, body["call_id"].as_str()),
        (200, Some(SAMPLE_CALL_ID)),
        "{body}"
    );

    // settings, with the JWT claims API Gateway adds
    let sd = ports.settings(&Tunables {
        allow_insecure_local: false,
        ..tunables.clone()
    });
    let res = settings::handle(http_event("settings-get.json", &subs), &sd).await;
    let (status, body) = integration_tests::apigw::parts(&res);
    assert_eq!(
        (status, body["api_enabled"].clone()),
        (200, json!(true)),
        "{body}"
    );

    // The provider callback, re-signed now with the provider key (the sample's signature is a
    // placeholder and its timestamp long past).
    let mut ev: Value = serde_json::from_str(&sample("call-completed.json", &subs)).unwrap();
    let raw = ev["body"].as_str().unwrap().to_string();
    ev["headers"]["x-retell-signature"] = Value::String(domain::signature::sign_provider_callback(
        PROVIDER_KEY,
        raw.as_bytes(),
        Utc::now().timestamp_millis(),
    ));
    let cc = ports.call_completed(&tunables);
    let res = call_completed::handle(
        lambda_http::request::from_str(&ev.to_string()).unwrap(),
        &cc,
    )
    .await;
    assert_eq!(res.status(), 200);
    let queued = drain(&emu.sqs(), &queue_url).await;
    assert_eq!(queued.len(), 1, "the callback queued the call's event");
    assert_eq!(queued[0].call_id.to_string(), SAMPLE_CALL_ID);

    // webhook-delivery, on the sample SQS batch pointing at that event.
    let event_id = queued[0].event_id.to_string();
    let delivery = ports.webhook_delivery(&tunables);
    let mut subs = subs.clone();
    subs.push((SAMPLE_EVENT_ID, &event_id));
    let sqs_event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_str(&sample("webhook-delivery.json", &subs)).expect("SQS event");
    let res = webhook_delivery::handle(sqs_event, &delivery).await;
    assert!(res.batch_item_failures.is_empty());
    let got = receiver.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("x-event-id"), Some(event_id.as_str()));
    assert_eq!(got[0].json()["call_id"], SAMPLE_CALL_ID);

    // reconciler, on the sample schedule event, a day later: after the happy path nothing is
    // left overdue (every deadline set on the way was cleared), so it repairs nothing.
    let _: serde_json::Value =
        serde_json::from_str(&sample("reconciler.json", &[])).expect("schedule event");
    let later = Ports {
        clock: std::sync::Arc::new(in_memory::FixedClock::new(
            Utc::now() + chrono::Duration::days(1),
        )),
        ..ports.clone()
    };
    let report = reconciler::run(&later.reconciler(&tunables)).await;
    assert_eq!(report, reconciler::Report::default(), "nothing overdue");
    assert!(drain(&emu.sqs(), &queue_url).await.is_empty());
}
