//! Every handler runs on its sample event from `events/` (the files the README's
//! `cargo lambda invoke` examples use), with the placeholders filled in for a seeded account.

use chrono::Utc;
use domain::ids::CallId;
use domain::model::{Call, CallStatus, Direction};
use domain::ports::store::CallStore;
use integration_tests::app::TestApp;
use integration_tests::deps::retell;
use integration_tests::peer::TestServer;
use integration_tests::sqs::drain;
use serde_json::{json, Value};

const SAMPLE_CALL_ID: &str = "4b0d6c1e-8a57-4c1e-9a0e-2f3b5d7c9e11";
const SAMPLE_EVENT_ID: &str = "9d3f1a2b-4c5d-4e6f-8a7b-9c0d1e2f3a4b";
const PROVIDER_KEY: &str = "sample-provider-key";

fn sample(name: &str, replace: &[(&str, &str)]) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
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

/// A dashboard session token as API Gateway would pass it (the JWT authorizer checks it; the
/// function gets it in the Authorization header of the event).
const SAMPLE_JWT: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InNhbXBsZSJ9.eyJzdWIiOiJ1c2VyLTEiLCJjdXN0b206YWNjb3VudF9pZCI6ImFjY3RfZGVtbyJ9.c2lnbmF0dXJlLW9mLXRoZS1zYW1wbGUtand0";

#[tokio::test]
async fn every_handler_runs_on_its_sample_event() {
    let secrets = run_every_sample().await;
    assert!(secrets.len() >= 10);
}

/// Runs all five functions on their sample events with a real key, JWT and signature;
/// returns every secret and piece of personal data the events and answers carried.
async fn run_every_sample() -> Vec<String> {
    let mut app = TestApp::emulator().await;
    let seeded = app.agency().await;
    let account = seeded.account.id.clone();
    app.retune(|t| t.provider_key = PROVIDER_KEY.into());
    let receiver = TestServer::fixed(200, json!({})).await;
    app.update_account(&account, |a| a.webhook_url = Some(receiver.url()))
        .await;
    let subs: Vec<(&str, &str)> = vec![
        ("acct_demo", account.as_str()),
        ("bvai_live_REPLACE_WITH_YOUR_API_KEY", &seeded.api_key),
        ("eyJraWQiOi...dashboard-session-jwt", SAMPLE_JWT),
    ];

    // trigger-call
    let provider = TestServer::fixed(
        201,
        json!({"call_id": "prov_1", "call_status": "registered"}),
    )
    .await;
    app.set_provider(retell(&provider.url(), &app.tunables));
    let res = trigger_call::handle(
        http_event("trigger-call.json", &subs),
        app.trigger_call_deps(),
    )
    .await;
    let (status, body) = integration_tests::apigw::parts(&res);
    assert_eq!(
        (status, body["success"].clone()),
        (200, json!(true)),
        "{body}"
    );

    // The calls route, on a call with the sample's id.
    let now = Utc::now();
    let call = Call::new(
        SAMPLE_CALL_ID.parse::<CallId>().unwrap(),
        account.clone(),
        seeded.agent.id,
        Direction::Outbound,
        CallStatus::Queued,
        "+15551234567",
        now,
    );
    app.store.create_call(&call, None, now).await.unwrap();
    let res =
        trigger_call::handle(http_event("get-call.json", &subs), app.trigger_call_deps()).await;
    let (status, body) = integration_tests::apigw::parts(&res);
    assert_eq!(
        (status, body["call_id"].as_str()),
        (200, Some(SAMPLE_CALL_ID)),
        "{body}"
    );

    // settings, with the JWT claims API Gateway adds
    app.retune(|t| t.allow_insecure_local = false);
    let res = settings::handle(http_event("settings-get.json", &subs), app.settings_deps()).await;
    app.retune(|t| t.allow_insecure_local = true);
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
    let provider_signature = domain::signature::sign_provider_callback(
        PROVIDER_KEY,
        raw.as_bytes(),
        Utc::now().timestamp_millis(),
    );
    ev["headers"]["x-retell-signature"] = Value::String(provider_signature.clone());
    let res = call_completed::handle(
        lambda_http::request::from_str(&ev.to_string()).unwrap(),
        app.call_completed_deps(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let queued = drain(&app.emu.sqs(), &app.queue_url).await;
    assert_eq!(queued.len(), 1, "the callback queued the call's event");
    assert_eq!(queued[0].call_id.to_string(), SAMPLE_CALL_ID);

    // webhook-delivery, on the sample SQS batch pointing at that event.
    let event_id = queued[0].event_id.to_string();
    let mut subs = subs.clone();
    subs.push((SAMPLE_EVENT_ID, &event_id));
    let sqs_event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_str(&sample("webhook-delivery.json", &subs)).expect("SQS event");
    let res = webhook_delivery::handle(sqs_event, app.webhook_delivery_deps()).await;
    assert!(res.batch_item_failures.is_empty());
    let got = receiver.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("x-event-id"), Some(event_id.as_str()));
    assert_eq!(got[0].json()["call_id"], SAMPLE_CALL_ID);

    // reconciler, on the sample schedule event, an hour later (past every grace and lease,
    // before CALL_STALE_AFTER of the call trigger-call placed, which no callback reports
    // here): after the happy path nothing is overdue, so it repairs nothing.
    let _: serde_json::Value =
        serde_json::from_str(&sample("reconciler.json", &[])).expect("schedule event");
    app.fix_clock(Utc::now() + chrono::Duration::hours(1));
    let report = app.reconcile().await;
    assert_eq!(report, reconciler::Report::default(), "nothing overdue");
    assert!(drain(&app.emu.sqs(), &app.queue_url).await.is_empty());

    let mut secrets = vec![
        seeded.api_key.clone(),
        SAMPLE_JWT.to_string(),
        provider_signature.clone(),
        provider_signature
            .split_once(",d=")
            .map(|(_, d)| d.to_string())
            .unwrap_or_default(),
        PROVIDER_KEY.to_string(),
        "+15551234567".into(),
        "5551234567".into(),
        "+14155550100".into(),
        "Jane Smith".into(),
        "jane@example.com".into(),
        "Hi, this is Ava from Northwind.".into(),
        "Hello, what is this about?".into(),
        "The customer asked about pricing.".into(),
    ];
    for h in ["x-signature", "webhook-signature"] {
        let value = got[0].header(h).unwrap_or_else(|| panic!("{h} sent"));
        secrets.push(value.to_string());
    }
    secrets
}

/// Issue 13: at the most verbose level the template allows (`trace`), with the functions'
/// own filter, no key, JWT, signature, phone number or transcript text reaches the logs:
/// neither from our code nor from the runtime crates, which log whole events at trace.
#[tokio::test]
async fn no_secret_reaches_the_logs_at_the_most_verbose_level() {
    // Alone in a process: see `integration_tests::logs::isolated`.
    if !integration_tests::logs::isolated(
        "sample_events::no_secret_reaches_the_logs_at_the_most_verbose_level",
    ) {
        return;
    }
    let capture = integration_tests::logs::Capture::default();
    let writer = capture.clone();
    // The functions' own subscriber, at trace.
    let subscriber = lambda_glue::telemetry::subscriber_at("trace", move || writer.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    // What the runtime crates do at debug and trace: whole events, headers, bodies.
    let runtime_event = sample("trigger-call.json", &[]);
    tracing::trace!(target: "lambda_runtime::layers::trace", event = %runtime_event, "received event");
    tracing::debug!(target: "lambda_http", body = %runtime_event, "request");
    tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", body = %runtime_event, "sending");
    tracing::trace!(target: "hyper_util::client", headers = %runtime_event, "headers");
    // Our crates do log at trace (the filter is not simply "info").
    tracing::trace!(target: "trigger_call::probe", "own-crate-trace-probe");

    let secrets = run_every_sample().await;
    drop(_guard);
    let text = capture.text();
    let lines = text.lines().count();
    assert!(
        text.contains("own-crate-trace-probe"),
        "our trace events pass"
    );
    assert!(!text.contains("received event") && !text.contains("REPLACE_WITH_YOUR_API_KEY"));
    assert!(
        lines >= 3 && text.contains("call placed") && text.contains("\"delivered\""),
        "the functions logged their work ({lines} lines):\n{text}"
    );
    for secret in &secrets {
        assert!(!secret.is_empty());
        assert!(
            !text.contains(secret.as_str()),
            "{secret:?} appears in the logs:\n{text}"
        );
    }
}
