//! The verification example of docs/webhooks.md, run: `docs/examples/verify_standardwebhooks.py`
//! (the official `standardwebhooks` package from PyPI, pinned in
//! tools/requirements-webhooks.txt and installed by `make venv`/`make test`) verifies real
//! deliveries of the delivery function (emulator, real HTTP), before and after a rotation.
//!
//! The deliveries go to a capturing receiver; each captured request (its exact body and
//! headers) is then handed to two copies of the example, one holding only the old secret and
//! one holding only the new one, within seconds (the library checks the timestamp against
//! the real clock). Python or the package missing fails the test, loudly.

use domain::ports::queue::DeliveryMessage;
use domain::ports::store::AccountStore;
use domain::webhook::signing_secret::SigningSecret;
use integration_tests::app::first_attempt;
use integration_tests::app::{OnEmulator, TestApp};
use integration_tests::fixtures::Seeded;
use integration_tests::peer::{Recorded, Reply, TestServer};
use integration_tests::sqs::drain;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The example, listening on a free port with `secret`; killed on drop.
struct Example {
    child: Child,
    url: String,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Example {
    fn start(secret: &SigningSecret) -> Example {
        let root = repo_root();
        let venv = std::env::var("VENV").map_or_else(|_| root.join(".venv"), |v| root.join(v));
        let python = venv.join("bin/python");
        assert!(
            python.exists(),
            "{} is missing: run `make venv` (the example needs Python and the standardwebhooks package)",
            python.display()
        );
        let mut child = Command::new(&python)
            .arg(root.join("docs/examples/verify_standardwebhooks.py"))
            .env("WEBHOOK_SECRET", secret.expose())
            .env("PORT", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout
            .read_line(&mut first)
            .expect("the example's first line");
        let Some(port) = first.trim().strip_prefix("listening on ") else {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            panic!(
                "the example did not start (is standardwebhooks installed? `make venv`): {first}{err}"
            );
        };
        Example {
            url: format!("http://127.0.0.1:{port}/webhooks"),
            child,
            stdout,
        }
    }

    /// Hands the captured delivery to the example exactly as it was received: its status
    /// (204 verified, 400 not) and, when verified, the line it printed.
    async fn verify(&mut self, r: &Recorded) -> u16 {
        let mut req = reqwest::Client::new().post(&self.url).body(r.body.to_vec());
        for h in [
            "content-type",
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "x-signature",
        ] {
            req = req.header(h, r.header(h).unwrap_or_else(|| panic!("{h} was sent")));
        }
        let status = req
            .send()
            .await
            .expect("the example answers")
            .status()
            .as_u16();
        if status == 204 {
            let mut line = String::new();
            self.stdout.read_line(&mut line).expect("a verified line");
            assert_eq!(
                line.trim(),
                format!(
                    "verified call.completed {}",
                    r.header("webhook-id").unwrap()
                )
            );
        }
        status
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The emulator flavour.
type App = TestApp<OnEmulator>;

/// The emulator app (a failed attempt's retry due at once: the test feeds it back itself)
/// with a seeded account.
async fn app() -> (App, Seeded) {
    let mut app = TestApp::emulator().await;
    let seeded = app.agency().await;
    app.retune(|t| t.retry_delays = "0s".into());
    (app, seeded)
}

// Each step starts its function afresh (`TestApp::restart`), as a new invocation would.

async fn deliver_new_event(app: &mut App, seeded: &Seeded) {
    let event = app.stored_event(seeded).await;
    deliver(app, &[first_attempt(&event)]).await;
}

async fn deliver(app: &mut App, msgs: &[DeliveryMessage]) {
    app.restart();
    let res = app.deliver(msgs).await;
    assert!(res.batch_item_failures.is_empty());
}

async fn settings(app: &mut App, seeded: &Seeded, method: &str, path: &str) -> (u16, Value) {
    app.restart();
    app.settings(app.session(seeded, method, path)).await
}

fn secret_of(body: &serde_json::Value) -> SigningSecret {
    SigningSecret::parse(body["signing_secret"].as_str().expect("signing_secret")).expect("whsec_")
}

#[tokio::test]
async fn the_python_example_verifies_real_deliveries_across_a_rotation() {
    // The second request (event 2, attempt 1) fails, so its retry is made after the rotation.
    let receiver =
        TestServer::start(|_, i| async move { Reply::status(if i == 1 { 503 } else { 200 }) })
            .await;
    let (mut app, seeded) = app().await;
    let url = format!("{}/webhooks", receiver.url());
    // A URL set before signing secrets existed: the reveal creates the secret.
    app.update_account(&seeded.account.id, |a| a.webhook_url = Some(url))
        .await;
    let (status, body) = settings(
        &mut app,
        &seeded,
        "GET",
        "/api/integrations/api-webhooks/signing-secret",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let old = secret_of(&body);

    // Before the rotation: event 1 delivered, event 2's attempt 1 failed.
    deliver_new_event(&mut app, &seeded).await;
    deliver_new_event(&mut app, &seeded).await;
    let (status, body) = settings(
        &mut app,
        &seeded,
        "POST",
        "/api/integrations/api-webhooks/signing-secret",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let new = secret_of(&body);
    assert_ne!(new, old);
    // During the overlap: event 3, and event 2's retry (queued before the rotation).
    deliver_new_event(&mut app, &seeded).await;
    let retries = drain(&app.emu.sqs(), &app.queue_url).await;
    assert_eq!(retries.len(), 1, "event 2's attempt 2");
    assert_eq!(retries[0].attempt, 2);
    deliver(&mut app, &retries).await;
    // After the overlap (its end moved to now): event 4.
    let account = app
        .store
        .account(&seeded.account.id)
        .await
        .unwrap()
        .unwrap();
    let mut info = account.webhook_secret.clone().expect("a secret");
    info.previous.as_mut().expect("an overlap").expires_at = chrono::Utc::now();
    app.store
        .save_webhook_secret(&account, &info)
        .await
        .unwrap();
    deliver_new_event(&mut app, &seeded).await;

    let got = receiver.requests();
    assert_eq!(got.len(), 5);
    let attempts: Vec<_> = got.iter().map(|r| r.header("x-attempt").unwrap()).collect();
    assert_eq!(attempts, ["1", "1", "1", "2", "1"]);

    let mut with_old = Example::start(&old);
    let mut with_new = Example::start(&new);
    let mut verdicts = Vec::new();
    for r in &got {
        verdicts.push((with_old.verify(r).await, with_new.verify(r).await));
    }
    assert_eq!(
        verdicts,
        [
            (204, 400), // event 1, before the rotation: the old secret only
            (204, 400), // event 2, attempt 1, before the rotation
            (204, 204), // event 3, during the overlap: either secret
            (204, 204), // event 2's retry, signed during the overlap: either secret
            (400, 204), // event 4, after the overlap: the new secret only
        ]
    );
}
