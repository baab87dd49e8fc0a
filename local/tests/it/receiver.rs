//! The webhook receiver over real HTTP: signature checks, status codes, the failure mode and
//! the JSON-lines log.

use base64::Engine;
use chrono::Utc;
use local_stack::receiver::{Receiver, ReceiverConfig};
use local_stack::server::{Listener, Server};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const KEY: &str = "bvai_live_receiver_test_key";
/// The signing secret the receiver holds: `whsec_` + base64("receiver-test-secret").
const SECRET: &str = "whsec_cmVjZWl2ZXItdGVzdC1zZWNyZXQ=";

/// The `webhook-signature` key that goes with an API key in these tests: the receiver's
/// signing secret for [`KEY`], the key's own bytes (a wrong secret) for any other.
fn signing_key(key: &str) -> Vec<u8> {
    if key == KEY {
        b"receiver-test-secret".to_vec()
    } else {
        key.as_bytes().to_vec()
    }
}

fn temp_log() -> PathBuf {
    std::env::temp_dir()
        .join(format!("receiver-test-{}", uuid::Uuid::new_v4().simple()))
        .join("webhooks.jsonl")
}

async fn start(fail_first: usize, log: &Path) -> Server {
    let receiver = Receiver::new(ReceiverConfig {
        api_key: KEY.into(),
        signing_secret: SECRET.into(),
        log_path: log.to_path_buf(),
        fail_first,
    })
    .expect("receiver");
    receiver.serve(Listener::bind(0).await.expect("bind"))
}

fn lines(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .expect("log file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// POSTs `body` signed as the delivery function signs it (with `key`).
async fn deliver(url: &str, key: &str, body: &[u8], event_id: &str) -> u16 {
    let ts = Utc::now().timestamp();
    reqwest::Client::new()
        .post(format!("{url}/webhooks"))
        .header("content-type", "application/json")
        .header("x-signature", domain::signature::x_signature(key, body))
        .header("webhook-id", event_id)
        .header("webhook-timestamp", ts.to_string())
        .header(
            "webhook-signature",
            domain::signature::standard_webhooks_signature(&signing_key(key), event_id, ts, body),
        )
        .header("x-webhook-attempt", "1")
        .body(body.to_vec())
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test]
async fn verifies_answers_and_logs_every_request() {
    let log = temp_log();
    let server = start(0, &log).await;
    let body =
        json!({"event": "call.completed", "call_id": "c-1", "summary": "Zoë ☎ called"}).to_string();

    assert_eq!(
        deliver(&server.url(), KEY, body.as_bytes(), "evt_1").await,
        200
    );
    assert_eq!(
        deliver(&server.url(), "another-key", body.as_bytes(), "evt_2").await,
        401
    );
    // Unsigned, and not even JSON.
    let res = reqwest::Client::new()
        .post(format!("{}/webhooks?x=1", server.url()))
        .body(vec![0xffu8, 0xfe])
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<Value>().await.expect("json"),
        json!({"error": "invalid signature"})
    );

    let l = lines(&log);
    assert_eq!(l.len(), 3);
    assert_eq!(l[0]["method"], "POST");
    assert_eq!(l[0]["path"], "/webhooks");
    assert_eq!(l[0]["signature_valid"], true);
    assert_eq!(l[0]["x_signature_valid"], true);
    assert_eq!(l[0]["standard_webhooks_valid"], true);
    assert_eq!(l[0]["status"], 200);
    assert_eq!(l[0]["headers"]["webhook-id"], "evt_1");
    assert_eq!(l[0]["headers"]["x-webhook-attempt"], "1");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(l[0]["body_base64"].as_str().expect("body"))
        .expect("base64");
    assert_eq!(raw, body.as_bytes(), "the exact bytes are kept");
    assert!(l[0]["received_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert_eq!(l[1]["signature_valid"], false);
    assert_eq!(l[1]["status"], 401);
    assert_eq!(l[2]["path"], "/webhooks?x=1");
    assert_eq!(l[2]["standard_webhooks_valid"], Value::Null);
    assert_eq!(l[2]["body_base64"], "//4=");
    server.stop().await;
    let _ = std::fs::remove_dir_all(log.parent().expect("dir"));
}

#[tokio::test]
async fn fails_the_first_n_requests_on_purpose() {
    let log = temp_log();
    let server = start(2, &log).await;
    let body = br#"{"event":"call.completed","call_id":"c-2"}"#;
    let statuses = [
        deliver(&server.url(), KEY, body, "evt_9").await,
        deliver(&server.url(), KEY, body, "evt_9").await,
        deliver(&server.url(), KEY, body, "evt_9").await,
    ];
    assert_eq!(statuses, [500, 500, 200]);
    let l = lines(&log);
    assert_eq!(
        l.iter().map(|r| r["status"].clone()).collect::<Vec<_>>(),
        vec![json!(500), json!(500), json!(200)]
    );
    assert!(l.iter().all(|r| r["signature_valid"] == true));
    server.stop().await;

    // Restarting appends to the same log.
    let server = start(0, &log).await;
    assert_eq!(deliver(&server.url(), KEY, body, "evt_10").await, 200);
    assert_eq!(lines(&log).len(), 4);
    server.stop().await;
    let _ = std::fs::remove_dir_all(log.parent().expect("dir"));
}

#[test]
fn an_unwritable_log_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("receiver-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    // The log path is a directory.
    let err = Receiver::new(ReceiverConfig {
        api_key: KEY.into(),
        signing_secret: SECRET.into(),
        log_path: dir.clone(),
        fail_first: 0,
    })
    .err()
    .expect("refused");
    assert!(
        err.to_string().contains(&dir.display().to_string()),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
