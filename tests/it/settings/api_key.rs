//! The API key: shown once, rotated (also racing, and with a slow or failing secret write).

use super::*;

#[tokio::test]
async fn the_new_key_is_shown_once_equals_the_secret_and_the_old_key_stops_working() {
    let (mut app, seeded) = app().await;
    let provider = provider().await;
    app.set_provider(retell(&provider.url(), &app.tunables));
    let old_key = seeded.api_key.clone();
    let (status, body) = trigger(&app, &old_key).await;
    assert_eq!(status, 200, "the seeded key works before rotation: {body}");
    let call_id = body["call_id"].as_str().expect("call id").to_string();

    let mut responses: Vec<Value> = Vec::new();
    responses.push(
        app.settings(app.session(&seeded, "GET", INTEGRATION))
            .await
            .1,
    );
    let (status, rotated) = app.settings(app.session(&seeded, "POST", API_KEY)).await;
    assert_eq!(status, 201, "{rotated}");
    responses.push(rotated.clone());
    let key = rotated["api_key"]
        .as_str()
        .expect("key in body")
        .to_string();

    // Shape: recognisable prefix, 256 random bits (43 base64url characters).
    assert!(key.starts_with(domain::api_key::KEY_PREFIX));
    let random = &key[domain::api_key::KEY_PREFIX.len()..];
    assert_eq!(random.len(), 43);
    assert!(random
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(rotated["success"], true);
    assert_eq!(rotated["prefix"], "bvai_live_");
    assert_eq!(rotated["last4"], key[key.len() - 4..]);
    assert_eq!(
        rotated["created_at"],
        domain::clock::rfc3339(app.fixed_clock().now())
    );
    assert_eq!(
        rotated["message"],
        "store this key now; it is shown only once"
    );
    assert_ne!(key, old_key);

    // Secrets Manager holds exactly this key; DynamoDB only its SHA-256.
    assert_eq!(secret(&app, &seeded).await, key);
    let account = app.account(&seeded.account.id).await;
    assert_eq!(
        account.api_key.as_ref().map(|k| k.hash.clone()),
        Some(domain::api_key::hash(&key))
    );
    let scan = app
        .emu
        .dynamodb()
        .scan()
        .table_name(app.store.table())
        .send()
        .await
        .expect("scan");
    let dump = format!("{:?}", scan.items());
    assert!(dump.contains(&domain::api_key::hash(&key)));
    assert!(!dump.contains(&key), "the plaintext key is not in DynamoDB");
    assert_eq!(grant_items(&app, &seeded).await, 1);

    // The previous key is refused at once, by both public routes; the new one works.
    let (status, body) = trigger(&app, &old_key).await;
    assert_eq!((status, code(&body)), (403, "invalid_api_key"));
    let get_call = |k: &str| {
        ApiRequest::get(&format!("/api/calls/{call_id}"))
            .bearer(k)
            .build()
    };
    let (status, body) =
        parts(&trigger_call::handle(get_call(&old_key), app.trigger_call_deps()).await);
    assert_eq!((status, code(&body)), (403, "invalid_api_key"));
    let (status, _) = parts(&trigger_call::handle(get_call(&key), app.trigger_call_deps()).await);
    assert_eq!(status, 200);
    let (status, body) = trigger(&app, &key).await;
    assert_eq!(status, 200, "{body}");

    // Every other route's answer, none of which may carry the key.
    responses.push(
        app.settings(app.session(&seeded, "GET", INTEGRATION))
            .await
            .1,
    );
    responses.push(
        patch(
            &app,
            &seeded,
            json!({"webhook_url": "https://hooks.example.com/in"}),
        )
        .await
        .1,
    );
    responses.push(app.settings(app.session(&seeded, "GET", AGENTS)).await.1);
    responses.push(
        app.settings(app.session(&seeded, "GET", DELIVERIES))
            .await
            .1,
    );
    let with_key = responses
        .iter()
        .filter(|r| r.to_string().contains(&key))
        .count();
    assert_eq!(with_key, 1, "the key appears in exactly one response");
    let after = &responses[2];
    assert_eq!(after["api_key"]["last4"], rotated["last4"]);
    assert_eq!(after["api_key"]["created_at"], rotated["created_at"]);

    // Regenerating again replaces the secret's value and revokes this key too.
    let res = settings::handle(
        app.session(&seeded, "POST", API_KEY).build(),
        app.settings_deps(),
    )
    .await;
    assert_eq!(
        res.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "the key must not be cached anywhere"
    );
    let (status, again) = parts(&res);
    assert_eq!(status, 201);
    let newer = again["api_key"].as_str().expect("key").to_string();
    assert_ne!(newer, key);
    assert_eq!(secret(&app, &seeded).await, newer);
    assert_eq!(trigger(&app, &key).await.0, 403);
    assert_eq!(grant_items(&app, &seeded).await, 1);
}

#[tokio::test]
async fn key_generation_takes_no_fields() {
    let (app, seeded) = app().await;
    let before = app.account(&seeded.account.id).await;
    let (status, body) = app
        .settings(
            app.session(&seeded, "POST", API_KEY)
                .json(&json!({"name": "ci"})),
        )
        .await;
    assert_eq!(
        (status, code(&body), field(&body)),
        (400, "unknown_field", "name")
    );
    let (status, body) = app
        .settings(
            app.session(&seeded, "POST", API_KEY)
                .header("content-type", "application/json")
                .body("{"),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_json"));
    let (status, body) = app
        .settings(
            app.session(&seeded, "POST", API_KEY)
                .header("content-type", "text/plain")
                .body("rotate"),
        )
        .await;
    assert_eq!((status, code(&body)), (415, "unsupported_media_type"));
    assert_eq!(
        app.account(&seeded.account.id).await,
        before,
        "no key was generated"
    );
    // An empty object is fine.
    let (status, _) = app
        .settings(app.session(&seeded, "POST", API_KEY).json(&json!({})))
        .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn a_rotation_based_on_a_stale_read_is_refused() {
    // The mechanism behind "two racing rotations leave one key", step by step: the second
    // writer read the account before the first one wrote.
    let (app, seeded) = app().await;
    let prefix = seeded.secret_prefix.clone();
    let snapshot = app.account(&seeded.account.id).await;
    let first = domain::key_rotation::rotate_api_key(
        app.store.as_ref(),
        app.secrets.as_ref(),
        &prefix,
        &snapshot,
        Utc::now(),
    )
    .await
    .expect("the first rotation wins");
    let second = domain::key_rotation::rotate_api_key(
        app.store.as_ref(),
        app.secrets.as_ref(),
        &prefix,
        &snapshot,
        Utc::now(),
    )
    .await
    .err()
    .expect("the stale rotation loses");
    assert_eq!((second.status(), second.code().as_str()), (409, "conflict"));
    let key = first.key.plaintext;
    assert_eq!(
        secret(&app, &seeded).await,
        key,
        "the loser's secret version is not left current"
    );
    assert_eq!(grant_items(&app, &seeded).await, 1);
    assert!(domain::auth::authenticate(
        Some(&format!("Bearer {key}")),
        app.store.as_ref(),
        chrono::Utc::now(),
        u32::MAX
    )
    .await
    .is_ok());
    assert_eq!(
        app.account(&seeded.account.id)
            .await
            .api_key
            .map(|k| k.hash),
        Some(domain::api_key::hash(&key))
    );
}

#[tokio::test]
async fn racing_rotation_requests_leave_exactly_one_valid_key() {
    let (mut app, seeded) = app().await;
    let store = app.atomic_store();
    let provider = provider().await;
    app.set_provider(retell(&provider.url(), &app.tunables));
    let mut keys_seen: Vec<String> = vec![seeded.api_key.clone()];
    for round in 0..20 {
        let (a, b) = tokio::join!(
            app.settings(app.session(&seeded, "POST", API_KEY)),
            app.settings(app.session(&seeded, "POST", API_KEY))
        );
        let mut won = Vec::new();
        for (status, body) in [a, b] {
            match status {
                201 => won.push(body["api_key"].as_str().expect("key").to_string()),
                409 => {
                    assert_eq!(code(&body), "conflict");
                    // A stable message: DynamoDB's cancellation reasons go to the logs only.
                    let m = body["error"]["message"].as_str().unwrap_or_default();
                    assert!(
                        !m.contains("Conditional") && !m.contains("transaction"),
                        "{m}"
                    );
                }
                other => panic!("round {round}: unexpected {other}: {body}"),
            }
        }
        assert_eq!(won.len(), 1, "round {round}: exactly one rotation succeeds");
        keys_seen.extend(won.iter().cloned());
        let mut valid = Vec::new();
        for k in &keys_seen {
            if domain::auth::authenticate(
                Some(&format!("Bearer {k}")),
                store.as_ref(),
                chrono::Utc::now(),
                u32::MAX,
            )
            .await
            .is_ok()
            {
                valid.push(k.clone());
            }
        }
        assert_eq!(
            valid, won,
            "round {round}: only the winner's key authenticates"
        );
        assert_eq!(grant_items(&app, &seeded).await, 1);
        assert_eq!(
            secret(&app, &seeded).await,
            won[0],
            "round {round}: the secret is the valid key"
        );
    }
    let last = keys_seen.last().expect("a key");
    let (status, body) = trigger(&app, last).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = trigger(&app, &keys_seen[keys_seen.len() - 2]).await;
    assert_eq!((status, code(&body)), (403, "invalid_api_key"));
}

/// A SecretStore over the real Secrets Manager whose first `put` waits until released, to
/// reproduce a slow secret write.
struct HeldFirstPut {
    inner: SecretsManager,
    held: tokio::sync::Mutex<bool>,
    reached: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

#[async_trait::async_trait]
impl SecretStore for HeldFirstPut {
    async fn get(&self, name: &str) -> Result<String, domain::error::SecretError> {
        self.inner.get(name).await
    }
    async fn put(&self, name: &str, value: &str) -> Result<(), domain::error::SecretError> {
        self.inner.put(name, value).await
    }
    async fn get_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<String, domain::error::SecretError> {
        self.inner.get_version(name, version).await
    }
    async fn make_current(
        &self,
        name: &str,
        version: &str,
    ) -> Result<(), domain::error::SecretError> {
        self.inner.make_current(name, version).await
    }
    async fn put_version(
        &self,
        name: &str,
        value: &str,
        version: &str,
    ) -> Result<(), domain::error::SecretError> {
        let first = {
            let mut held = self.held.lock().await;
            !std::mem::replace(&mut *held, true)
        };
        if first {
            let released = self.release.notified();
            self.reached.notify_one();
            released.await;
        }
        self.inner.put_version(name, value, version).await
    }
}

#[tokio::test]
async fn a_slow_secret_write_never_overwrites_a_later_rotation() {
    let (app, seeded) = app().await;
    let held = Arc::new(HeldFirstPut {
        inner: app.emu.secrets(),
        held: tokio::sync::Mutex::new(false),
        reached: tokio::sync::Notify::new(),
        release: tokio::sync::Notify::new(),
    });
    let slow_deps = Ports {
        secrets: held.clone(),
        ..app.ports()
    }
    .settings(&app.tunables);
    let reached = held.reached.notified();
    let slow = tokio::spawn({
        let req = app.session(&seeded, "POST", API_KEY).build();
        async move { parts(&settings::handle(req, &slow_deps).await) }
    });
    // The first rotation is committed in DynamoDB, its secret write pending. (If it finished
    // instead, the held write was never reached: fail rather than wait forever.)
    let mut slow = slow;
    tokio::select! {
        _ = reached => {}
        finished = &mut slow => panic!("the first rotation finished without writing its secret: {finished:?}"),
    }
    let (status, later) = app.settings(app.session(&seeded, "POST", API_KEY)).await;
    assert_eq!(status, 201, "{later}");
    held.release.notify_one();
    // The slow rotation writes its secret only now, then its commit loses to the later one.
    let (status, body) = slow.await.expect("slow rotation task");
    assert_eq!((status, code(&body)), (409, "conflict"));
    let valid = later["api_key"].as_str().expect("key");
    assert_eq!(
        secret(&app, &seeded).await,
        valid,
        "the secret is the one valid key"
    );
}

/// Rotation failure points on the real adapters (DynamoDB and Secrets Manager in moto) behind
/// the fault wrappers: a failed secret write and a failed commit leave the old key
/// authenticating and signing; a commit whose answer was lost is read back and shown.
#[tokio::test]
async fn rotation_failure_points_never_leave_the_account_without_a_working_key() {
    let (mut app, seeded) = app().await;
    let plan = FaultPlan::new();
    let deps = Ports {
        store: Arc::new(FaultyStore::new(app.store.clone(), plan.clone())),
        secrets: Arc::new(FaultySecrets::new(app.secrets.clone(), plan.clone())),
        ..app.ports()
    }
    .settings(&app.tunables);
    let provider = provider().await;
    app.set_provider(retell(&provider.url(), &app.tunables));
    let signing_key = |hash: String| {
        let secrets = app.secrets.clone();
        let prefix = seeded.secret_prefix.clone();
        let id = seeded.account.id.clone();
        async move {
            domain::webhook::signing_key::KeyCache::new()
                .get(secrets.as_ref(), &prefix, &id, &hash)
                .await
                .expect("the committed key has its signing secret")
        }
    };
    let old = seeded.api_key.clone();
    for (fault, method) in [("fail", "put_version"), ("fail", "save_account")] {
        plan.fail_next(method);
        let (status, body) = send_with(&deps, app.session(&seeded, "POST", API_KEY)).await;
        assert_eq!(
            (status, code(&body)),
            (500, "internal_error"),
            "{fault} {method}"
        );
        assert!(body.get("api_key").is_none());
        assert_eq!(
            trigger(&app, &old).await.0,
            200,
            "{method}: the old key works"
        );
        let committed = app
            .account(&seeded.account.id)
            .await
            .api_key
            .expect("key")
            .hash;
        assert_eq!(committed, domain::api_key::hash(&old));
        assert_eq!(signing_key(committed).await, old, "{method}: and signs");
        assert_eq!(secret(&app, &seeded).await, old, "{method}: and is current");
    }
    assert_eq!(
        (plan.calls("put_version"), plan.calls("save_account")),
        (2, 1),
        "the failed secret write never reached the commit"
    );
    plan.fail_after_effect("save_account", 2);
    let (status, body) = send_with(&deps, app.session(&seeded, "POST", API_KEY)).await;
    assert_eq!(status, 201, "the lost commit answer is read back: {body}");
    let key = body["api_key"].as_str().expect("key").to_string();
    assert_eq!(trigger(&app, &key).await.0, 200);
    assert_eq!(
        (trigger(&app, &old).await.0),
        403,
        "the old key is replaced"
    );
    assert_eq!(signing_key(domain::api_key::hash(&key)).await, key);
    assert_eq!(secret(&app, &seeded).await, key);
    assert_eq!(grant_items(&app, &seeded).await, 1);
}
