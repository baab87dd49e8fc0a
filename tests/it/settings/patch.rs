//! The settings: GET shows them, PATCH changes only what it is given and refuses the rest.

use super::*;
use domain::ids::AgentId;

#[tokio::test]
async fn patch_changes_only_the_given_fields_and_null_clears() {
    let (app, seeded) = app().await;
    let second = fixtures::agent(&*app.store, &seeded.account.id, "Renewals", None).await;
    let before = app.account(&seeded.account.id).await;

    let (status, body) = patch(
        &app,
        &seeded,
        json!({"webhook_url": "https://Hooks.Example.com/bvai?src=1"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["webhook_url"], "https://hooks.example.com/bvai?src=1");
    assert_eq!(body["api_enabled"], true);
    assert_eq!(body["default_agent"]["id"], seeded.agent.id.to_string());
    assert_eq!(
        body["api_key"]["last4"],
        seeded
            .account
            .api_key
            .as_ref()
            .map(|k| k.last4.clone())
            .unwrap()
    );

    let (status, body) = patch(
        &app,
        &seeded,
        json!({"default_agent_id": second.id.to_string(), "api_enabled": false}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["default_agent"],
        json!({"id": second.id.to_string(), "name": "Renewals"})
    );
    assert_eq!(body["api_enabled"], false);
    assert_eq!(body["webhook_url"], "https://hooks.example.com/bvai?src=1");

    let stored = app.account(&seeded.account.id).await;
    assert_eq!(stored.default_agent_id, Some(second.id));
    assert!(!stored.api_enabled);
    assert_eq!(
        stored.webhook_url.as_deref(),
        Some("https://hooks.example.com/bvai?src=1")
    );
    assert_eq!(stored.api_key, before.api_key, "the key is untouched");
    // The grant trigger-call reads follows the account.
    let grant = app
        .store
        .key_grant(&domain::api_key::hash(&seeded.api_key))
        .await
        .unwrap()
        .expect("grant");
    assert_eq!(grant.default_agent_id, Some(second.id));
    assert!(!grant.api_enabled);

    let (status, body) = patch(
        &app,
        &seeded,
        json!({"webhook_url": null, "default_agent_id": null}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["webhook_url"], Value::Null);
    assert_eq!(body["default_agent"], Value::Null);
    assert_eq!(body["api_enabled"], false);
    let stored = app.account(&seeded.account.id).await;
    assert_eq!(stored.webhook_url, None);
    assert_eq!(stored.default_agent_id, None);

    // The same change again is a no-op that still answers with the state.
    let version = stored.version;
    let (status, body) = patch(&app, &seeded, json!({"webhook_url": null})).await;
    assert_eq!(status, 200);
    assert_eq!(body["webhook_url"], Value::Null);
    assert_eq!(app.account(&seeded.account.id).await.version, version);

    // GET agrees with the PATCH answers.
    let (_, got) = app.settings(app.session(&seeded, "GET", INTEGRATION)).await;
    assert_eq!(got, body);
}

#[tokio::test]
async fn patch_refuses_ugly_bodies() {
    let (app, seeded) = app().await;
    let before = app.account(&seeded.account.id).await;
    let json_req = |body: &str| {
        app.session(&seeded, "PATCH", INTEGRATION)
            .header("content-type", "application/json")
            .body(body)
    };
    let cases: Vec<(ApiRequest, u16, &str, Option<&str>)> = vec![
        (
            json_req("{\"api_enabled\": fals"),
            400,
            "invalid_json",
            None,
        ),
        (json_req(""), 400, "invalid_json", None),
        (
            json_req("[{\"api_enabled\": false}]"),
            400,
            "invalid_body",
            None,
        ),
        (json_req("\"api_enabled\""), 400, "invalid_body", None),
        (json_req("{}"), 400, "empty_update", None),
        (
            json_req("{\"api_enabled\": false, \"apiEnabled\": true}"),
            400,
            "unknown_field",
            Some("apiEnabled"),
        ),
        (json_req("{\"✓\": 1}"), 400, "unknown_field", Some("✓")),
        (
            json_req("{\"api_enabled\": \"false\"}"),
            400,
            "invalid_type",
            Some("api_enabled"),
        ),
        (
            json_req("{\"api_enabled\": 0}"),
            400,
            "invalid_type",
            Some("api_enabled"),
        ),
        (
            json_req("{\"api_enabled\": null}"),
            400,
            "invalid_type",
            Some("api_enabled"),
        ),
        (
            json_req("{\"webhook_url\": 443}"),
            400,
            "invalid_type",
            Some("webhook_url"),
        ),
        (
            json_req("{\"webhook_url\": {\"url\": \"https://example.com\"}}"),
            400,
            "invalid_type",
            Some("webhook_url"),
        ),
        (
            json_req("{\"default_agent_id\": \"not-a-uuid\"}"),
            400,
            "invalid_default_agent_id",
            Some("default_agent_id"),
        ),
        (
            json_req("{\"default_agent_id\": 12}"),
            400,
            "invalid_type",
            Some("default_agent_id"),
        ),
        (
            // A valid change next to an invalid one: nothing is applied.
            json_req("{\"api_enabled\": false, \"webhook_url\": \"http://example.com\"}"),
            400,
            "invalid_webhook_url",
            Some("webhook_url"),
        ),
        (
            app.session(&seeded, "PATCH", INTEGRATION)
                .header("content-type", "text/plain")
                .body("{\"api_enabled\": false}"),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            app.session(&seeded, "PATCH", INTEGRATION)
                .body("{\"api_enabled\": false}"),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            json_req(&format!(
                "{{\"webhook_url\": \"https://example.com/{}\"}}",
                "a".repeat(70 * 1024)
            )),
            413,
            "payload_too_large",
            None,
        ),
    ];
    for (req, status, want_code, want_field) in cases {
        let (got, body) = app.settings(req).await;
        assert_eq!((got, code(&body)), (status, want_code), "{body}");
        assert_eq!(body["success"], false);
        if let Some(f) = want_field {
            assert_eq!(field(&body), f, "{body}");
        }
    }
    // Base64-encoded JSON (as API Gateway sends binary bodies) is read the same way.
    let (status, body) = app
        .settings(
            app.session(&seeded, "PATCH", INTEGRATION)
                .header("content-type", "application/json; charset=utf-8")
                .base64_body(br#"{"api_enabled": true}"#),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        app.account(&seeded.account.id).await,
        before,
        "no refused request changed anything"
    );
}

#[tokio::test]
async fn patch_refuses_every_invalid_webhook_url_class() {
    let (app, seeded) = app().await;
    let (status, _) = patch(
        &app,
        &seeded,
        json!({"webhook_url": "https://hooks.example.com/in"}),
    )
    .await;
    assert_eq!(status, 200);
    let before = app.account(&seeded.account.id).await;
    let too_long = format!("https://example.com/{}", "a".repeat(2030));
    let refused: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("not https", "http://hooks.example.com/in".into()),
        ("other scheme", "ftp://hooks.example.com/in".into()),
        ("javascript", "javascript:alert(1)".into()),
        ("relative", "/webhooks/in".into()),
        ("no scheme", "hooks.example.com/in".into()),
        ("too long", too_long),
        ("whitespace", " https://hooks.example.com/in".into()),
        ("newline", "https://hooks.example.com/in\n".into()),
        ("user", "https://admin@hooks.example.com/in".into()),
        (
            "user and password",
            "https://admin:hunter2@hooks.example.com/in".into(),
        ),
        ("localhost", "https://localhost/in".into()),
        ("localhost with port", "https://localhost:8443/in".into()),
        ("localhost upper case", "https://LOCALHOST/in".into()),
        ("localhost root dot", "https://localhost./in".into()),
        ("sub.localhost", "https://hooks.localhost/in".into()),
        ("private 10/8", "https://10.0.0.5/in".into()),
        ("private 172.16/12", "https://172.20.1.1/in".into()),
        ("private 192.168/16", "https://192.168.1.10/in".into()),
        ("loopback", "https://127.0.0.1/in".into()),
        (
            "loopback elsewhere in 127/8",
            "https://127.8.9.10/in".into(),
        ),
        ("link-local", "https://169.254.10.10/in".into()),
        (
            "cloud metadata",
            "https://169.254.169.254/latest/meta-data/".into(),
        ),
        ("CGNAT", "https://100.64.0.1/in".into()),
        ("multicast", "https://224.0.0.251/in".into()),
        ("unspecified", "https://0.0.0.0/in".into()),
        ("this network", "https://0.1.2.3/in".into()),
        ("broadcast", "https://255.255.255.255/in".into()),
        ("documentation TEST-NET-1", "https://192.0.2.1/in".into()),
        ("documentation TEST-NET-2", "https://198.51.100.1/in".into()),
        ("documentation TEST-NET-3", "https://203.0.113.1/in".into()),
        ("benchmarking", "https://198.18.0.1/in".into()),
        ("decimal IPv4", "https://2130706433/in".into()),
        ("decimal IPv4 over http", "http://2130706433/in".into()),
        ("hex IPv4", "https://0x7f.1/in".into()),
        ("hex IPv4 dword", "https://0x7f000001/in".into()),
        ("octal IPv4", "https://017700000001/in".into()),
        ("octal dotted IPv4", "https://0177.0.0.1/in".into()),
        ("short IPv4", "https://127.1/in".into()),
        ("percent-encoded IPv4", "https://%31%32%37.0.0.1/in".into()),
        ("decimal metadata", "https://2852039166/in".into()),
        ("IPv6 loopback", "https://[::1]/in".into()),
        ("IPv6 unspecified", "https://[::]/in".into()),
        ("IPv6 unique-local", "https://[fd12:3456:789a::1]/in".into()),
        ("IPv6 AWS metadata", "https://[fd00:ec2::254]/in".into()),
        ("IPv6 link-local", "https://[fe80::1]/in".into()),
        ("IPv6 multicast", "https://[ff02::1]/in".into()),
        ("IPv6 documentation", "https://[2001:db8::1]/in".into()),
        (
            "IPv4-mapped loopback",
            "https://[::ffff:127.0.0.1]/in".into(),
        ),
        ("IPv4-mapped hex", "https://[::ffff:7f00:1]/in".into()),
        ("IPv4-mapped private", "https://[::ffff:10.0.0.1]/in".into()),
        (
            "IPv4-mapped metadata",
            "https://[::ffff:169.254.169.254]/in".into(),
        ),
        ("IPv4-compatible", "https://[::127.0.0.1]/in".into()),
        ("NAT64", "https://[64:ff9b::a9fe:a9fe]/in".into()),
        ("6to4 private", "https://[2002:c0a8:101::1]/in".into()),
        (
            "bidi control",
            "https://hooks.exa\u{202e}mple.com/in".into(),
        ),
    ];
    for (class, url) in &refused {
        let (status, body) = patch(&app, &seeded, json!({"webhook_url": url})).await;
        assert_eq!(
            (status, code(&body), field(&body)),
            (400, "invalid_webhook_url", "webhook_url"),
            "{class}: {url:?} -> {body}"
        );
    }
    assert_eq!(
        app.account(&seeded.account.id).await,
        before,
        "no refused URL was stored"
    );

    for (url, stored) in [
        (
            "https://hooks.example.com:8443/in?x=1",
            "https://hooks.example.com:8443/in?x=1",
        ),
        ("https://93.184.215.14/in", "https://93.184.215.14/in"),
        (
            "https://[2606:4700:4700::1111]/in",
            "https://[2606:4700:4700::1111]/in",
        ),
        (
            "https://bücher.example/ein",
            "https://xn--bcher-kva.example/ein",
        ),
        (
            "https://example.com/hook/ü",
            "https://example.com/hook/%C3%BC",
        ),
        (
            "https://localhost.example.com/in",
            "https://localhost.example.com/in",
        ),
    ] {
        let (status, body) = patch(&app, &seeded, json!({"webhook_url": url})).await;
        assert_eq!(status, 200, "{url}: {body}");
        assert_eq!(body["webhook_url"], stored);
        assert_eq!(
            app.account(&seeded.account.id).await.webhook_url.as_deref(),
            Some(stored)
        );
    }
}

#[tokio::test]
async fn local_development_flag_admits_http_and_loopback_only() {
    let (mut app, seeded) = app().await;
    let (status, _) = patch(
        &app,
        &seeded,
        json!({"webhook_url": "http://127.0.0.1:9000/in"}),
    )
    .await;
    assert_eq!(status, 400, "refused without the flag");
    app.retune(|t| t.allow_insecure_local = true);
    for url in [
        "http://127.0.0.1:9000/in",
        "http://localhost:9000/in",
        "http://[::1]:9000/in",
    ] {
        let (status, body) = patch(&app, &seeded, json!({"webhook_url": url})).await;
        assert_eq!(status, 200, "{url}: {body}");
    }
    for url in [
        "http://10.0.0.1/in",
        "http://169.254.169.254/",
        "http://user:pw@127.0.0.1/in",
    ] {
        let (status, body) = patch(&app, &seeded, json!({"webhook_url": url})).await;
        assert_eq!((status, code(&body)), (400, "invalid_webhook_url"), "{url}");
    }
}

#[tokio::test]
async fn a_default_agent_must_belong_to_the_account() {
    let (app, seeded) = app().await;
    let other = fixtures::agency(&*app.store, app.secrets.as_ref()).await;
    let before = app.account(&seeded.account.id).await;
    for id in [other.agent.id, AgentId::new_v4()] {
        let (status, body) = patch(
            &app,
            &seeded,
            json!({"default_agent_id": id.to_string(), "api_enabled": false}),
        )
        .await;
        assert_eq!(
            (status, code(&body), field(&body)),
            (404, "agent_not_found", "default_agent_id")
        );
        assert!(
            !body.to_string().contains("Sales Qualifier"),
            "nothing about the other account's agent leaks"
        );
    }
    assert_eq!(app.account(&seeded.account.id).await, before);
    // The other account still sees its own agent as its default.
    let (_, body) = send_with(
        app.settings_deps(),
        app.in_session(&other.account.id, ApiRequest::get(INTEGRATION)),
    )
    .await;
    assert_eq!(body["default_agent"]["id"], other.agent.id.to_string());
}

#[tokio::test]
async fn a_deleted_default_agent_shows_as_null() {
    let (app, seeded) = app().await;
    app.emu
        .dynamodb()
        .delete_item()
        .table_name(app.store.table())
        .set_key(Some(aws_adapters::dynamo::item::key_map(keys::agent(
            &seeded.account.id,
            &seeded.agent.id,
        ))))
        .send()
        .await
        .expect("delete agent");
    let (status, body) = app.settings(app.session(&seeded, "GET", INTEGRATION)).await;
    assert_eq!(status, 200);
    assert_eq!(body["default_agent"], Value::Null);
}

#[tokio::test]
async fn switching_api_access_off_blocks_trigger_call_and_the_calls_route_on_the_next_request() {
    let (mut app, seeded) = app().await;
    let provider = provider().await;
    app.set_provider(retell(&provider.url(), &app.tunables));
    let key = seeded.api_key.clone();
    let (status, body) = trigger(&app, &key).await;
    assert_eq!(status, 200, "{body}");
    let call_id = body["call_id"].as_str().expect("call id").to_string();
    let get_call = || {
        ApiRequest::get(&format!("/api/calls/{call_id}"))
            .bearer(&key)
            .build()
    };

    let (status, body) = patch(&app, &seeded, json!({"api_enabled": false})).await;
    assert_eq!((status, &body["api_enabled"]), (200, &json!(false)));
    let (status, body) = trigger(&app, &key).await;
    assert_eq!((status, code(&body)), (403, "api_access_disabled"));
    let (status, body) = parts(&trigger_call::handle(get_call(), app.trigger_call_deps()).await);
    assert_eq!((status, code(&body)), (403, "api_access_disabled"));
    assert_eq!(provider.requests().len(), 1, "no call was placed while off");

    // The settings API itself keeps working, and switching back on restores access at once.
    let (status, body) = app.settings(app.session(&seeded, "GET", INTEGRATION)).await;
    assert_eq!((status, &body["api_enabled"]), (200, &json!(false)));
    let (status, _) = patch(&app, &seeded, json!({"api_enabled": true})).await;
    assert_eq!(status, 200);
    let (status, body) = trigger(&app, &key).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = parts(&trigger_call::handle(get_call(), app.trigger_call_deps()).await);
    assert_eq!(status, 200);
}

#[tokio::test]
async fn concurrent_patches_of_different_fields_both_apply() {
    let (mut app, seeded) = app().await;
    app.atomic_store();
    let patch = |body: Value| app.settings(app.session(&seeded, "PATCH", INTEGRATION).json(&body));
    let agents = [
        seeded.agent.clone(),
        fixtures::agent(&*app.store, &seeded.account.id, "Second", None).await,
    ];
    for round in 0..8 {
        let url = format!("https://hooks{round}.example.com/in");
        let agent = &agents[round % 2];
        let on = round % 3 != 0;
        let (a, b, c) = tokio::join!(
            patch(json!({"webhook_url": url})),
            patch(json!({"default_agent_id": agent.id.to_string()})),
            patch(json!({"api_enabled": on})),
        );
        for (status, body) in [a, b, c] {
            assert_eq!(status, 200, "round {round}: {body}");
        }
        let stored = app.account(&seeded.account.id).await;
        assert_eq!(stored.webhook_url.as_deref(), Some(url.as_str()));
        assert_eq!(stored.default_agent_id, Some(agent.id));
        assert_eq!(stored.api_enabled, on);
    }
}
