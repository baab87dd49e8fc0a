//! The settings API's rules on the in-memory store and secrets: routing before identity, the
//! caller's account from the JWT claims, the key shown once, PATCH validation writing nothing,
//! and failing writes (store, secrets) answered without damage to what worked before.

use super::{error_code, App, Seeded};
use domain::model::Plan;
use domain::ports::secrets::{account_key_secret_name, SecretStore};
use integration_tests::apigw::{parts, ApiRequest, Build};
use serde_json::{json, Value};

const INTEGRATION: &str = "/api/integrations/api-webhooks";
const API_KEY: &str = "/api/integrations/api-webhooks/api-key";

/// The in-memory app with its seeded account.
async fn env_with(allow_insecure_local: bool) -> (App, Seeded) {
    let mut app = App::new();
    app.tunables.allow_insecure_local = allow_insecure_local;
    let seeded = app.agency().await;
    (app, seeded)
}

async fn env() -> (App, Seeded) {
    env_with(false).await
}

async fn patch(app: &App, seeded: &Seeded, body: Value) -> (u16, Value) {
    app.settings(app.session(seeded, "PATCH", INTEGRATION).json(&body))
        .await
}

/// trigger-call's answer for this key (the cross-function effect of the settings).
async fn trigger_with(app: &App, key: &str) -> (u16, Value) {
    let req = ApiRequest::post("/api/trigger-call")
        .bearer(key)
        .json(&json!({"phone": "+15551234567"}));
    app.trigger_call(req).await
}

async fn secret(app: &App, seeded: &Seeded) -> String {
    app.secrets
        .get(&account_key_secret_name(
            &app.tunables.secret_prefix,
            &seeded.account.id,
        ))
        .await
        .expect("the account's key secret")
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_are_answered_before_the_caller_is_identified() {
    let (app, seeded) = env().await;
    let (status, res) = app.settings(ApiRequest::get("/api/nope")).await;
    assert_eq!((status, error_code(&res)), (404, "not_found"));
    let res = ::settings::handle(
        ApiRequest::new("DELETE", INTEGRATION).build(),
        app.settings_deps(),
    )
    .await;
    assert_eq!(res.status(), 405);
    assert_eq!(
        res.headers().get("allow").and_then(|v| v.to_str().ok()),
        Some("GET, PATCH")
    );
    assert_eq!(error_code(&parts(&res).1), "method_not_allowed");
    // With a session the answers are the same.
    assert_eq!(
        app.settings(app.session(&seeded, "GET", "/api/nope"))
            .await
            .0,
        404
    );
    assert_eq!(
        app.settings(app.session(&seeded, "PUT", API_KEY)).await.0,
        405
    );
    assert_eq!(app.plan.calls("account"), 0, "no route, no identity lookup");
}

#[tokio::test]
async fn a_missing_or_unknown_account_claim_is_401_on_every_route() {
    let (app, seeded) = env().await;
    let claim = app.tunables.account_claim.clone();
    let sessions = [
        None,
        Some(json!({"sub": "user-1"})),
        Some(json!({"sub": "user-1", (claim.as_str()): ""})),
        Some(json!({"sub": "user-1", (claim.as_str()): "acct#x"})),
        Some(json!({"sub": "user-1", (claim.as_str()): "acct_does_not_exist"})),
    ];
    for session in sessions {
        for (method, path) in [
            ("GET", INTEGRATION),
            ("PATCH", INTEGRATION),
            ("POST", API_KEY),
        ] {
            let mut req = ApiRequest::new(method, path).json(&json!({"api_enabled": false}));
            if let Some(c) = &session {
                req = req.claims(c.clone());
            }
            let (status, res) = app.settings(req).await;
            assert_eq!(
                (status, error_code(&res)),
                (401, "unauthenticated"),
                "{session:?} {method} {path}"
            );
        }
    }
    // Only the well-formed id was looked up (once per route); nothing was written.
    assert_eq!(app.plan.calls("account"), 3);
    assert_eq!(app.plan.calls("save_account"), 0);
    assert_eq!(app.plan.calls("put_version"), 0);
    assert!(app.account(&seeded.account.id).await.api_enabled);
}

#[tokio::test]
async fn a_plan_without_the_integration_is_403() {
    let (app, _seeded) = env().await;
    let pro = app.account_with(Plan::Pro, true).await;
    let claim = app.tunables.account_claim.clone();
    for (method, path) in [("GET", INTEGRATION), ("POST", API_KEY)] {
        let req = ApiRequest::new(method, path).claims(json!({(claim.as_str()): pro.account.id}));
        let (status, res) = app.settings(req).await;
        assert_eq!((status, error_code(&res)), (403, "plan_required"));
    }
    assert_eq!(app.plan.calls("put_version"), 0);
}

#[tokio::test]
async fn a_new_key_is_shown_once_and_replaces_the_old_one_everywhere() {
    let (app, seeded) = env().await;
    let old = seeded.api_key.clone();
    assert_eq!(trigger_with(&app, &old).await.0, 200);
    let (status, res) = app.settings(app.session(&seeded, "POST", API_KEY)).await;
    assert_eq!(status, 201, "{res}");
    let key = res["api_key"]
        .as_str()
        .expect("the plaintext, once")
        .to_string();
    assert_ne!(key, old);
    assert!(key.starts_with(res["prefix"].as_str().unwrap()));
    assert!(key.ends_with(res["last4"].as_str().unwrap()));
    assert_eq!(
        secret(&app, &seeded).await,
        key,
        "the webhook signing secret is the new key"
    );

    let (status, view) = app.settings(app.session(&seeded, "GET", INTEGRATION)).await;
    assert_eq!(status, 200);
    assert_eq!(view["api_key"]["prefix"], res["prefix"]);
    assert_eq!(view["api_key"]["last4"], res["last4"]);
    assert!(
        !view.to_string().contains(&key),
        "GET never shows the key: {view}"
    );
    assert_eq!(
        view["api_key"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["prefix", "last4", "created_at"]
    );

    assert_eq!(trigger_with(&app, &key).await.0, 200);
    let (status, res) = trigger_with(&app, &old).await;
    assert_eq!((status, error_code(&res)), (403, "invalid_api_key"));
    assert_eq!(app.plan.calls("put_version"), 1);
}

#[tokio::test]
async fn key_generation_with_fields_is_refused_and_writes_nothing() {
    let (app, seeded) = env().await;
    let (status, res) = app
        .settings(
            app.session(&seeded, "POST", API_KEY)
                .json(&json!({"name": "ci"})),
        )
        .await;
    assert_eq!((status, error_code(&res)), (400, "unknown_field"));
    assert_eq!(res["error"]["field"], "name");
    assert_eq!(
        (
            app.plan.calls("save_account"),
            app.plan.calls("put_version")
        ),
        (0, 0)
    );
    assert_eq!(trigger_with(&app, &seeded.api_key).await.0, 200);
}

#[tokio::test]
async fn invalid_webhook_urls_are_400_naming_the_field_and_write_nothing() {
    let (app, seeded) = env().await;
    let before = app.account(&seeded.account.id).await;
    for url in [
        "",
        "http://hooks.example.com/in",
        "hooks.example.com/in",
        "https://admin:hunter2@hooks.example.com/in",
        "https://localhost/in",
        "https://127.0.0.1/in",
        "https://10.0.0.5/in",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/in",
    ] {
        let (status, res) = patch(
            &app,
            &seeded,
            json!({"webhook_url": url, "api_enabled": false}),
        )
        .await;
        assert_eq!(
            (status, error_code(&res)),
            (400, "invalid_webhook_url"),
            "{url:?}: {res}"
        );
        assert_eq!(res["error"]["field"], "webhook_url");
    }
    for (body, code, field) in [
        (json!({"webhook_url": 7}), "invalid_type", "webhook_url"),
        (
            json!({"webhookUrl": "https://x.example"}),
            "unknown_field",
            "webhookUrl",
        ),
        (json!({"api_enabled": "no"}), "invalid_type", "api_enabled"),
    ] {
        let (status, res) = patch(&app, &seeded, body).await;
        assert_eq!(
            (status, error_code(&res), res["error"]["field"].as_str()),
            (400, code, Some(field))
        );
    }
    assert_eq!(app.plan.calls("save_account"), 0);
    assert_eq!(app.account(&seeded.account.id).await, before);
}

#[tokio::test]
async fn loopback_http_urls_are_admitted_only_with_the_local_switch() {
    let (app, seeded) = env_with(true).await;
    let (status, res) = patch(
        &app,
        &seeded,
        json!({"webhook_url": "http://127.0.0.1:9/in"}),
    )
    .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["webhook_url"], "http://127.0.0.1:9/in");
    assert_eq!(
        app.account(&seeded.account.id).await.webhook_url.as_deref(),
        Some("http://127.0.0.1:9/in")
    );
}

#[tokio::test]
async fn a_patch_applies_only_its_fields_and_switching_api_off_blocks_the_next_trigger() {
    let (app, seeded) = env().await;
    let (status, res) = patch(
        &app,
        &seeded,
        json!({"webhook_url": "https://Hooks.Example.com/in", "api_enabled": false}),
    )
    .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["webhook_url"], "https://hooks.example.com/in");
    assert_eq!(res["api_enabled"], false);
    assert_eq!(
        res["default_agent"]["id"],
        seeded.agent.id.to_string(),
        "untouched"
    );
    let (status, got) = app.settings(app.session(&seeded, "GET", INTEGRATION)).await;
    assert_eq!((status, &got), (200, &res));
    let (status, res) = trigger_with(&app, &seeded.api_key).await;
    assert_eq!((status, error_code(&res)), (403, "api_access_disabled"));
    assert_eq!(app.provider.request_count(), 0);
    assert_eq!(app.plan.calls("save_account"), 1);
}

#[tokio::test]
async fn another_accounts_agent_cannot_be_the_default() {
    let (app, seeded) = env().await;
    let other = app.agency().await;
    let (status, res) = patch(
        &app,
        &seeded,
        json!({"default_agent_id": other.agent.id.to_string()}),
    )
    .await;
    assert_eq!((status, error_code(&res)), (404, "agent_not_found"));
    assert_eq!(res["error"]["field"], "default_agent_id");
    assert_eq!(app.plan.calls("save_account"), 0);
    assert_eq!(
        app.account(&seeded.account.id).await.default_agent_id,
        Some(seeded.agent.id)
    );
}

#[tokio::test]
async fn a_failing_settings_write_answers_500_and_changes_nothing() {
    let (app, seeded) = env().await;
    let before = app.account(&seeded.account.id).await;
    app.plan.fail_next("save_account");
    let (status, res) = patch(&app, &seeded, json!({"api_enabled": false})).await;
    assert_eq!((status, error_code(&res)), (500, "internal_error"), "{res}");
    assert!(!res.to_string().contains("injected"));
    assert_eq!(app.account(&seeded.account.id).await, before);
    assert_eq!(
        trigger_with(&app, &seeded.api_key).await.0,
        200,
        "API access still on"
    );
}

#[tokio::test]
async fn a_throttled_account_read_is_429() {
    let (app, seeded) = env().await;
    app.plan.throttle_always("account");
    let (status, res) = app.settings(app.session(&seeded, "GET", INTEGRATION)).await;
    assert_eq!((status, error_code(&res)), (429, "throttled"));
}

// ---------------------------------------------------------------------------------------------
// Rotation without a lockout window: one test per failure point. Each asserts that exactly
// one key authenticates, signs webhooks (the secret version of the committed hash, read the
// way the delivery function reads it) and is the one the integration page shows.

/// `key` is the account's one working key: trigger-call accepts it and refuses `dead`,
/// the webhook signer gets it for the committed hash, and GET shows its last four.
async fn only_working_key(app: &App, seeded: &Seeded, key: &str, dead: &[&str]) {
    assert_eq!(
        trigger_with(app, key).await.0,
        200,
        "the working key authenticates"
    );
    for d in dead {
        let (status, res) = trigger_with(app, d).await;
        assert_eq!((status, error_code(&res)), (403, "invalid_api_key"));
    }
    let hash = domain::api_key::hash(key);
    let committed = app
        .account(&seeded.account.id)
        .await
        .api_key
        .expect("a key");
    assert_eq!(
        committed.hash, hash,
        "the committed hash is the working key's"
    );
    let signing = domain::webhook::signing_key::KeyCache::new()
        .get(
            app.secrets.as_ref(),
            &app.tunables.secret_prefix,
            &seeded.account.id,
            &hash,
        )
        .await
        .expect("the committed key has its signing secret");
    assert_eq!(signing, key, "webhooks are signed with the working key");
    let (status, view) = app.settings(app.session(seeded, "GET", INTEGRATION)).await;
    assert_eq!(status, 200);
    assert_eq!(
        view["api_key"]["last4"].as_str(),
        Some(&key[key.len() - 4..]),
        "the page shows the working key"
    );
}

/// A failed rotation: 500 with no key material in the body.
async fn rotation_fails(app: &App, seeded: &Seeded) {
    let (status, res) = app.settings(app.session(seeded, "POST", API_KEY)).await;
    assert_eq!((status, error_code(&res)), (500, "internal_error"), "{res}");
    assert!(res.get("api_key").is_none());
    assert!(
        !res.to_string().contains("bvai_"),
        "no key material in the error: {res}"
    );
}

#[tokio::test]
async fn rotation_secret_write_fails_old_key_keeps_working_and_a_retry_recovers() {
    let (app, seeded) = env().await;
    let old = seeded.api_key.clone();
    app.plan.fail_next("put_version");
    rotation_fails(&app, &seeded).await;
    assert_eq!(app.plan.calls("save_account"), 0, "nothing committed");
    only_working_key(&app, &seeded, &old, &[]).await;
    assert_eq!(
        secret(&app, &seeded).await,
        old,
        "the secret was not touched"
    );

    let (status, res) = app.settings(app.session(&seeded, "POST", API_KEY)).await;
    assert_eq!(status, 201, "{res}");
    let key = res["api_key"].as_str().unwrap().to_string();
    only_working_key(&app, &seeded, &key, &[&old]).await;
    assert_eq!(secret(&app, &seeded).await, key);
    assert_eq!(
        (
            app.plan.calls("put_version"),
            app.plan.calls("save_account")
        ),
        (2, 1)
    );
}

#[tokio::test]
async fn rotation_secret_written_but_its_answer_lost_old_key_keeps_working_and_current() {
    let (app, seeded) = env().await;
    let old = seeded.api_key.clone();
    app.plan.fail_after_effect("put_version", 1);
    rotation_fails(&app, &seeded).await;
    assert_eq!(app.plan.calls("save_account"), 0, "nothing committed");
    only_working_key(&app, &seeded, &old, &[]).await;
    assert_eq!(
        secret(&app, &seeded).await,
        old,
        "the orphan version is not left current"
    );
    assert_eq!(app.plan.calls("make_current"), 1);
}

#[tokio::test]
async fn rotation_hash_commit_fails_old_key_keeps_working_and_current() {
    let (app, seeded) = env().await;
    let old = seeded.api_key.clone();
    app.plan.fail_next("save_account");
    rotation_fails(&app, &seeded).await;
    assert_eq!(
        (
            app.plan.calls("put_version"),
            app.plan.calls("save_account"),
            app.plan.calls("make_current")
        ),
        (1, 1, 1),
        "secret written first, the commit tried once, the old version made current again"
    );
    only_working_key(&app, &seeded, &old, &[]).await;
    assert_eq!(secret(&app, &seeded).await, old);
}

#[tokio::test]
async fn rotation_commit_whose_answer_was_lost_is_read_back_and_shown() {
    let (app, seeded) = env().await;
    let old = seeded.api_key.clone();
    app.plan.fail_after_effect("save_account", 1);
    let (status, res) = app.settings(app.session(&seeded, "POST", API_KEY)).await;
    assert_eq!(status, 201, "the read-back finds the commit: {res}");
    let key = res["api_key"].as_str().unwrap().to_string();
    only_working_key(&app, &seeded, &key, &[&old]).await;
    assert_eq!(secret(&app, &seeded).await, key);
    assert_eq!(
        (
            app.plan.calls("save_account"),
            app.plan.calls("make_current")
        ),
        (1, 0)
    );
}

#[tokio::test]
async fn rotation_answer_lost_after_commit_leaves_the_new_key_working_and_shown() {
    let (app, seeded) = env().await;
    let old = seeded.api_key.clone();
    let prefix_len = app.plan.calls("account");
    // The commit happens, its answer is lost, and so is the read-back: the caller never
    // learns the key (as when the response itself is lost after the commit).
    app.plan.fail_after_effect("save_account", 1);
    app.plan.fail_nth("account", prefix_len + 2);
    rotation_fails(&app, &seeded).await;
    let committed = app
        .account(&seeded.account.id)
        .await
        .api_key
        .expect("a key");
    assert_ne!(
        committed.hash,
        domain::api_key::hash(&old),
        "the commit happened"
    );
    // The new key (never shown) is the only one: it signs, and the page shows its last4, so
    // the customer sees a different key and generates another one.
    let new_key = secret(&app, &seeded).await;
    assert_eq!(domain::api_key::hash(&new_key), committed.hash);
    only_working_key(&app, &seeded, &new_key, &[&old]).await;

    let (status, res) = app.settings(app.session(&seeded, "POST", API_KEY)).await;
    assert_eq!(status, 201, "{res}");
    let key = res["api_key"].as_str().unwrap().to_string();
    only_working_key(&app, &seeded, &key, &[&old, &new_key]).await;
}
