//! The webhook signing secret on the in-memory adapters: created once with the first webhook
//! URL, revealed unchanged, rotated with a 24-hour overlap in which `webhook-signature` carries
//! both signatures, only the new one after it (the clock moved); every failure point of a
//! rotation leaves the old secret signing; no delivery is ever sent unsigned; the secret never
//! reaches the logs.

use super::{error_code, App, Seeded};
use domain::ids::{CallId, EventId};
use domain::model::{DeliveryErrorClass, DeliveryOutcome, DeliveryTrigger, EventRecord};
use domain::ports::queue::DeliveryMessage;
use domain::webhook::signing_secret::SigningSecret;
use integration_tests::app::first_attempt;
use integration_tests::peer::{Recorded, Reply, TestServer};
use integration_tests::sqs::event_for;
use serde_json::{json, Value};

const INTEGRATION: &str = "/api/integrations/api-webhooks";
const SECRET: &str = "/api/integrations/api-webhooks/signing-secret";

/// The in-memory app with its seeded account and a receiver answering 204.
async fn env() -> (App, Seeded, TestServer) {
    let receiver = TestServer::start(|_, _| async move { Reply::status(204) }).await;
    let mut app = App::new();
    app.tunables.allow_insecure_local = true;
    let seeded = app.agency().await;
    (app, seeded, receiver)
}

async fn set_url(app: &App, seeded: &Seeded, receiver: &TestServer) -> (u16, Value) {
    let url = format!("{}/hooks", receiver.url());
    app.settings(
        app.session(seeded, "PATCH", INTEGRATION)
            .json(&json!({ "webhook_url": url })),
    )
    .await
}

async fn reveal(app: &App, seeded: &Seeded) -> (u16, Value) {
    app.settings(app.session(seeded, "GET", SECRET)).await
}

async fn rotate(app: &App, seeded: &Seeded) -> (u16, Value) {
    app.settings(app.session(seeded, "POST", SECRET)).await
}

/// One automatic delivery of a new event; the request the receiver got for it.
async fn deliver(
    app: &App,
    seeded: &Seeded,
    receiver: &TestServer,
) -> (EventRecord, Option<Recorded>) {
    let event = app.stored_event(seeded).await;
    let before = receiver.requests().len();
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert!(res.batch_item_failures.is_empty());
    let got = receiver.requests();
    (event, got.get(before).cloned())
}

fn secret_of(body: &Value) -> SigningSecret {
    SigningSecret::parse(body["signing_secret"].as_str().expect("signing_secret"))
        .expect("a whsec_ secret")
}

/// The signatures of `webhook-signature` that `secret` verifies (computed independently).
fn verified_by(secret: &SigningSecret, r: &Recorded) -> usize {
    use base64::Engine;
    use hmac::{Hmac, KeyInit, Mac};
    let id = r.header("webhook-id").expect("webhook-id");
    let ts = r.header("webhook-timestamp").expect("webhook-timestamp");
    let mut mac =
        <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&secret.key().expect("key")).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&r.body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    r.header("webhook-signature")
        .unwrap_or("")
        .split(' ')
        .filter(|s| *s == expected)
        .count()
}

fn signatures(r: &Recorded) -> usize {
    r.header("webhook-signature")
        .unwrap_or("")
        .split(' ')
        .count()
}

#[tokio::test]
async fn the_first_webhook_url_creates_the_secret_once_and_get_reveals_it_unchanged() {
    let (app, seeded, receiver) = env().await;
    // No URL, no secret: nothing to reveal or rotate, and nothing written.
    assert_eq!(reveal(&app, &seeded).await.0, 422);
    assert_eq!(error_code(&rotate(&app, &seeded).await.1), "no_webhook_url");
    assert_eq!(app.plan.calls("put_version"), 0);

    let (status, body) = set_url(&app, &seeded, &receiver).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.plan.calls("put_version"), 1, "created with the URL");
    assert!(body["signing_secret"]["created_at"].is_string(), "{body}");
    assert_eq!(body["signing_secret"]["previous_expires_at"], Value::Null);
    assert!(
        !body.to_string().contains("whsec_"),
        "the GET never shows it"
    );
    // Setting the URL again, or another one, creates nothing.
    set_url(&app, &seeded, &receiver).await;
    assert_eq!(app.plan.calls("put_version"), 1);

    let (status, first) = reveal(&app, &seeded).await;
    assert_eq!(status, 200, "{first}");
    let (_, second) = reveal(&app, &seeded).await;
    assert_eq!(first, second, "GET reveals the same secret");
    let secret = secret_of(&first);
    assert_eq!(secret.key().unwrap().len(), 32);
    assert_eq!(
        app.account(&seeded.account.id)
            .await
            .webhook_secret
            .unwrap()
            .version,
        secret.version()
    );
    assert_eq!(
        app.plan.calls("put_version"),
        1,
        "revealing creates nothing"
    );
    assert_eq!(
        app.plan.calls("get_version"),
        1,
        "cached after the first read"
    );

    // A delivery is signed with it, and X-Signature is still the API key's.
    let (_, got) = deliver(&app, &seeded, &receiver).await;
    let got = got.expect("delivered");
    assert_eq!((signatures(&got), verified_by(&secret, &got)), (1, 1));
    assert_eq!(
        got.header("x-signature"),
        Some(domain::signature::x_signature(&seeded.api_key, &got.body).as_str())
    );
}

#[tokio::test]
async fn rotation_signs_with_both_for_the_overlap_then_only_the_new_one() {
    let (app, seeded, receiver) = env().await;
    set_url(&app, &seeded, &receiver).await;
    let old = secret_of(&reveal(&app, &seeded).await.1);
    let (status, body) = rotate(&app, &seeded).await;
    assert_eq!(status, 201, "{body}");
    let new = secret_of(&body);
    assert_ne!(new, old);
    let rotated_at = app.now();
    assert_eq!(
        body["previous_expires_at"],
        domain::clock::rfc3339(rotated_at + chrono::Duration::hours(24))
    );
    assert_eq!(
        secret_of(&reveal(&app, &seeded).await.1),
        new,
        "GET shows the new one"
    );

    // During the overlap: `v1,<new> v1,<old>`, each verifies with its own secret.
    app.clock.advance(chrono::Duration::hours(23));
    let (_, got) = deliver(&app, &seeded, &receiver).await;
    let got = got.expect("delivered");
    assert_eq!(signatures(&got), 2);
    assert_eq!(verified_by(&new, &got), 1);
    assert_eq!(verified_by(&old, &got), 1);
    // The new secret's signature comes first.
    let first = got
        .header("webhook-signature")
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let only_first = Recorded {
        headers: [("webhook-signature".to_string(), first.to_string())]
            .into_iter()
            .chain(
                got.headers
                    .clone()
                    .into_iter()
                    .filter(|(k, _)| k != "webhook-signature"),
            )
            .collect(),
        ..got.clone()
    };
    assert_eq!(verified_by(&new, &only_first), 1);

    // After it: the new one only.
    app.clock.set(rotated_at + chrono::Duration::hours(24));
    let (_, got) = deliver(&app, &seeded, &receiver).await;
    let got = got.expect("delivered");
    assert_eq!(signatures(&got), 1);
    assert_eq!((verified_by(&new, &got), verified_by(&old, &got)), (1, 0));
    let (_, body) = app.settings(app.session(&seeded, "GET", INTEGRATION)).await;
    assert_eq!(body["signing_secret"]["previous_expires_at"], Value::Null);
}

#[tokio::test]
async fn a_retry_queued_before_a_rotation_is_signed_with_the_new_secret() {
    let receiver =
        TestServer::start(|_, i| async move { Reply::status(if i == 0 { 503 } else { 204 }) })
            .await;
    let (app, seeded, _) = env().await;
    set_url(&app, &seeded, &receiver).await;
    let old = secret_of(&reveal(&app, &seeded).await.1);
    let (_, first) = deliver(&app, &seeded, &receiver).await;
    assert_eq!(verified_by(&old, &first.expect("attempt 1")), 1);
    let (_, body) = rotate(&app, &seeded).await;
    let new = secret_of(&body);
    // Attempt 2 comes due (30 s later) and is signed at send time: both signatures.
    let due = app.queue.next_due_at().expect("a retry");
    app.clock.set(due);
    ::webhook_delivery::handle(
        event_for(&app.queue.take_due()),
        app.webhook_delivery_deps(),
    )
    .await;
    let got = receiver.requests();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].header("x-attempt"), Some("2"));
    assert_eq!(
        (verified_by(&new, &got[1]), verified_by(&old, &got[1])),
        (1, 1)
    );
}

/// Each write of a rotation failing, one at a time: the answer is an error, the old secret
/// stays the account's and keeps signing alone, and the next rotation works.
#[tokio::test]
async fn every_failure_point_of_a_rotation_leaves_the_old_secret_signing() {
    for (method, after_effect) in [
        ("put_version", false),
        ("put_version", true),
        ("save_webhook_secret", false),
    ] {
        let (app, seeded, receiver) = env().await;
        set_url(&app, &seeded, &receiver).await;
        let old = secret_of(&reveal(&app, &seeded).await.1);
        let n = app.plan.calls(method) + 1;
        if after_effect {
            app.plan.fail_after_effect(method, n);
        } else {
            app.plan.fail_nth(method, n);
        }
        let (status, body) = rotate(&app, &seeded).await;
        assert_eq!(status, 500, "{method}: {body}");
        assert!(!body.to_string().contains("whsec_"), "{body}");
        assert_eq!(secret_of(&reveal(&app, &seeded).await.1), old, "{method}");
        let (_, got) = deliver(&app, &seeded, &receiver).await;
        let got = got.expect("delivered");
        assert_eq!(
            (signatures(&got), verified_by(&old, &got)),
            (1, 1),
            "{method}"
        );
        let (status, body) = rotate(&app, &seeded).await;
        assert_eq!(status, 201, "{method}: the next rotation works");
        assert_ne!(secret_of(&body), old);
    }
    // The reference written but its answer lost: read back, the rotation stands.
    let (app, seeded, receiver) = env().await;
    set_url(&app, &seeded, &receiver).await;
    let old = secret_of(&reveal(&app, &seeded).await.1);
    app.plan.fail_after_effect(
        "save_webhook_secret",
        app.plan.calls("save_webhook_secret") + 1,
    );
    let (status, body) = rotate(&app, &seeded).await;
    assert_eq!(status, 201, "{body}");
    let new = secret_of(&body);
    assert_ne!(new, old);
    let (_, got) = deliver(&app, &seeded, &receiver).await;
    let got = got.expect("delivered");
    assert_eq!((verified_by(&new, &got), verified_by(&old, &got)), (1, 1));
}

#[tokio::test]
async fn racing_rotations_one_wins_the_other_is_409() {
    let (app, seeded, receiver) = env().await;
    set_url(&app, &seeded, &receiver).await;
    let stale = app.account(&seeded.account.id).await;
    assert_eq!(rotate(&app, &seeded).await.0, 201);
    let lost = domain::webhook::signing_secret::rotate(
        app.settings_deps().store.as_ref(),
        app.settings_deps().secrets.as_ref(),
        &app.settings_deps().webhook_secret_prefix,
        &stale,
        app.now(),
        chrono::Duration::hours(24),
    )
    .await;
    assert!(matches!(
        lost,
        Err(domain::webhook::signing_secret::SigningSecretError::Conflict)
    ));
}

/// An account whose URL predates signing secrets: its first delivery creates one; if that
/// cannot be done, the attempt fails (internal, retried) and nothing is POSTed unsigned.
#[tokio::test]
async fn a_url_without_a_secret_gets_one_on_first_use_and_nothing_goes_out_unsigned() {
    let (app, seeded, receiver) = env().await;
    let url = format!("{}/hooks", receiver.url());
    app.update_account(&seeded.account.id, |a| a.webhook_url = Some(url))
        .await;
    assert!(app
        .account(&seeded.account.id)
        .await
        .webhook_secret
        .is_none());

    app.plan.fail_always("put_version");
    let (_, got) = deliver(&app, &seeded, &receiver).await;
    assert!(got.is_none(), "never sent unsigned");
    let rows = app.delivery_log(&seeded.account.id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].outcome, DeliveryOutcome::Failed);
    assert_eq!(rows[0].error_class, Some(DeliveryErrorClass::Internal));
    assert!(rows[0].next_attempt_at.is_some(), "retried on the schedule");

    app.plan.clear();
    let (_, got) = deliver(&app, &seeded, &receiver).await;
    let got = got.expect("delivered once the secret exists");
    let account = app.account(&seeded.account.id).await;
    assert!(account.webhook_secret.is_some());
    let secret = secret_of(&reveal(&app, &seeded).await.1);
    assert_eq!(verified_by(&secret, &got), 1);
    assert_eq!(receiver.requests().len(), 1);
}

/// Creating, revealing, rotating and signing never log the secret; the response body excerpt
/// stays in the delivery log and out of the function's logs.
#[tokio::test]
async fn secrets_and_response_bodies_never_reach_the_logs() {
    // Alone in a process: see `integration_tests::logs::isolated`.
    if !integration_tests::logs::isolated(
        "rules::signing_secret::secrets_and_response_bodies_never_reach_the_logs",
    ) {
        return;
    }
    let sink = integration_tests::logs::Capture::default();
    let writer = sink.clone();
    let _guard = tracing::subscriber::set_default(lambda_glue::telemetry::subscriber_at(
        "trace",
        move || writer.clone(),
    ));
    let receiver = TestServer::start(|_, _| async move {
        Reply::json(500, json!({"marker": "body-excerpt-canary"}))
    })
    .await;
    let (app, seeded, _) = env().await;
    set_url(&app, &seeded, &receiver).await;
    let old = secret_of(&reveal(&app, &seeded).await.1);
    let new = secret_of(&rotate(&app, &seeded).await.1);
    deliver(&app, &seeded, &receiver).await;
    app.settings(app.session(&seeded, "POST", "/api/integrations/api-webhooks/test"))
        .await;
    let rows = app.delivery_log(&seeded.account.id).await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r
        .response_excerpt
        .as_deref()
        .unwrap_or("")
        .contains("body-excerpt-canary")));
    // The work was logged (alone in its process, every line reaches the capture): the
    // failed delivery's warning at least, so the absence below is not vacuous.
    let text = sink.text();
    assert!(text.contains("\"level\":\"WARN\""), "{text}");
    for secret in [&old, &new] {
        let b64 = secret.expose().trim_start_matches("whsec_");
        assert!(!text.contains(b64), "a signing secret in the logs");
    }
    assert!(
        !text.contains("body-excerpt-canary"),
        "a response body in the logs"
    );
}

/// Each kind of attempt says what made it; redelivery and recovery are covered end to end
/// (tests/it/webhook_delivery.rs, tests/it/settings/), the message decides here.
#[test]
fn the_message_decides_the_trigger() {
    let mut m = DeliveryMessage::first(EventId::nil(), "a", CallId::nil());
    assert_eq!(m.trigger(), DeliveryTrigger::Automatic);
    m.redelivery = Some(uuid::Uuid::nil());
    assert_eq!(
        m.trigger(),
        DeliveryTrigger::Redelivery,
        "queued before triggers existed"
    );
    m.trigger = Some(DeliveryTrigger::Recovery);
    assert_eq!(m.trigger(), DeliveryTrigger::Recovery);
    let body = m.to_body().unwrap();
    assert!(body.contains(r#""trigger":"recovery""#), "{body}");
    assert_eq!(DeliveryMessage::parse(&body).unwrap(), m);
}

/// A committed rotation is never answered with an error: the new secret is shown from what
/// was written, not read back, so a failing secret read cannot make the dashboard retry (a
/// second rotation would end the overlap of the secret receivers still hold).
#[tokio::test]
async fn a_committed_rotation_answers_201_even_when_secret_reads_fail() {
    let (app, seeded, receiver) = env().await;
    set_url(&app, &seeded, &receiver).await;
    let old = secret_of(&reveal(&app, &seeded).await.1);
    let reads = app.plan.calls("get_version");
    app.plan.fail_always("get_version");
    let (status, body) = rotate(&app, &seeded).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(app.plan.calls("get_version"), reads, "nothing read back");
    let new = secret_of(&body);
    assert_ne!(new, old);
    app.plan.clear();
    let (_, got) = deliver(&app, &seeded, &receiver).await;
    let got = got.expect("delivered");
    assert_eq!((verified_by(&new, &got), verified_by(&old, &got)), (1, 1));
}

/// An account whose webhook URL predates signing secrets keeps its receivers working: for
/// `LEGACY_SIGNATURE_WINDOW` (30 days) after its secret is created, `webhook-signature` also
/// carries the signature keyed with the API key's bytes (what `whsec_` + base64(API key)
/// verifies, as before); after the window, or once the secret is rotated, only the secret's.
/// A URL set after signing secrets exist gets no legacy signature.
#[tokio::test]
async fn a_url_older_than_signing_secrets_gets_the_legacy_signature_for_the_window() {
    use base64::Engine;
    let (app, seeded, receiver) = env().await;
    let url = format!("{}/hooks", receiver.url());
    app.update_account(&seeded.account.id, |a| a.webhook_url = Some(url))
        .await;
    let legacy = SigningSecret::parse(&format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(seeded.api_key.as_bytes())
    ))
    .expect("the hand-built legacy secret");
    let (_, got) = deliver(&app, &seeded, &receiver).await;
    let got = got.expect("delivered");
    let secret = secret_of(&reveal(&app, &seeded).await.1);
    assert_eq!(signatures(&got), 2);
    assert_eq!(
        (verified_by(&secret, &got), verified_by(&legacy, &got)),
        (1, 1)
    );
    let created = app
        .account(&seeded.account.id)
        .await
        .webhook_secret
        .unwrap();
    assert_eq!(
        created.legacy_until,
        Some(created.created_at + domain::webhook::signing_secret::LEGACY_SIGNATURE_WINDOW)
    );

    // After the window: the secret's signature alone.
    app.clock.advance(
        domain::webhook::signing_secret::LEGACY_SIGNATURE_WINDOW + chrono::Duration::seconds(1),
    );
    let (_, got) = deliver(&app, &seeded, &receiver).await;
    let got = got.expect("delivered");
    assert_eq!(signatures(&got), 1);
    assert_eq!(
        (verified_by(&secret, &got), verified_by(&legacy, &got)),
        (1, 0)
    );

    // A rotation inside the window ends it (the customer uses signing secrets).
    let (app, seeded, receiver) = env().await;
    let url = format!("{}/hooks", receiver.url());
    app.update_account(&seeded.account.id, |a| a.webhook_url = Some(url))
        .await;
    let old = secret_of(&reveal(&app, &seeded).await.1);
    let new = secret_of(&rotate(&app, &seeded).await.1);
    let (_, got) = deliver(&app, &seeded, &receiver).await;
    let got = got.expect("delivered");
    let legacy = SigningSecret::parse(&format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(seeded.api_key.as_bytes())
    ))
    .unwrap();
    assert_eq!(
        (
            signatures(&got),
            verified_by(&new, &got),
            verified_by(&old, &got),
            verified_by(&legacy, &got)
        ),
        (2, 1, 1, 0)
    );

    // A first URL set through the API: no legacy signature.
    let (app, seeded, receiver) = env().await;
    set_url(&app, &seeded, &receiver).await;
    let (_, got) = deliver(&app, &seeded, &receiver).await;
    assert_eq!(signatures(&got.expect("delivered")), 1);
    assert_eq!(
        app.account(&seeded.account.id)
            .await
            .webhook_secret
            .unwrap()
            .legacy_until,
        None
    );
}
