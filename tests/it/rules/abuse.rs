//! Abuse resistance on the in-memory adapters (issue 13): the settings API's per-account
//! limits (all routes, and the costly ones on their own), the key's limit against a flood,
//! destinations refused before any write, and the local switch that admits loopback only.
//! Every refusal is counted: store calls, provider dials, requests at a real receiver.

use super::{error_code, App};
use domain::config::{self, Env};
use integration_tests::apigw::{parts, ApiRequest, Build};
use integration_tests::peer::{Reply, TestServer};
use serde_json::{json, Value};

const INTEGRATION: &str = "/api/integrations/api-webhooks";
const TEST_SEND: &str = "/api/integrations/api-webhooks/test";

fn limit_headers(res: &lambda_http::Response<lambda_http::Body>) -> Option<(u32, u32, u32)> {
    let n = |k: &str| -> Option<u32> { res.headers().get(k)?.to_str().ok()?.parse().ok() };
    Some((
        n("ratelimit-limit")?,
        n("ratelimit-remaining")?,
        n("ratelimit-reset")?,
    ))
}

#[tokio::test]
async fn the_settings_limit_counts_every_route_and_refuses_with_429() {
    let mut w = App::new(); // 20 s into its minute: 40 s until the window ends
    w.tunables.settings_rate_limit = 3;
    let s = w.agency().await;
    let deps = w.settings_deps();
    for remaining in [2, 1, 0] {
        let res = ::settings::handle(w.session(&s, "GET", INTEGRATION).build(), deps).await;
        assert_eq!(res.status(), 200);
        assert_eq!(limit_headers(&res), Some((3, remaining, 40)));
    }
    let agents_before = w.plan.calls("agent");
    let res = ::settings::handle(w.session(&s, "GET", "/api/agents").build(), deps).await;
    assert_eq!(limit_headers(&res), Some((3, 0, 40)));
    assert_eq!(
        res.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("40")
    );
    let (status, body) = parts(&res);
    assert_eq!((status, error_code(&body)), (429, "rate_limited"), "{body}");
    assert_eq!(w.plan.calls("count_use"), 4);
    assert_eq!(w.plan.calls("agents"), 0, "the refused route did not run");
    assert_eq!(w.plan.calls("agent"), agents_before);
    // Another account has its own budget.
    let other = w.agency().await;
    let res = ::settings::handle(w.session(&other, "GET", INTEGRATION).build(), deps).await;
    assert_eq!(res.status(), 200);
    assert_eq!(limit_headers(&res), Some((3, 2, 40)));
    // The next minute starts afresh.
    w.clock.advance(chrono::Duration::seconds(40));
    let res = ::settings::handle(w.session(&s, "GET", INTEGRATION).build(), deps).await;
    assert_eq!(res.status(), 200);
    assert_eq!(limit_headers(&res), Some((3, 2, 60)));
}

#[tokio::test]
async fn a_flood_of_test_sends_reaches_the_endpoint_only_up_to_the_costly_limit() {
    let receiver = TestServer::start(|_, _| async { Reply::status(200) }).await;
    let mut w = App::new();
    w.tunables.costly_rate_limit = 2;
    let s = w.agency().await;
    w.update_account(&s.account.id, |a| a.webhook_url = Some(receiver.url()))
        .await;
    let deps = w.settings_deps();
    let mut statuses = Vec::new();
    let mut remaining = Vec::new();
    for _ in 0..6 {
        let res = ::settings::handle(w.session(&s, "POST", TEST_SEND).build(), deps).await;
        remaining.push(limit_headers(&res).map(|h| (h.0, h.1)));
        statuses.push(parts(&res));
    }
    let codes: Vec<(u16, String)> = statuses
        .iter()
        .map(|(st, b): &(u16, Value)| (*st, error_code(b).to_string()))
        .collect();
    assert_eq!(codes[0].0, 200, "{statuses:?}");
    assert_eq!(codes[1].0, 200, "{statuses:?}");
    for c in &codes[2..] {
        assert_eq!(c, &(429, "rate_limited".to_string()));
    }
    assert_eq!(
        remaining,
        [
            Some((2, 1)),
            Some((2, 0)),
            Some((2, 0)),
            Some((2, 0)),
            Some((2, 0)),
            Some((2, 0))
        ],
        "the tighter (costly) limit is shown"
    );
    assert_eq!(receiver.requests().len(), 2, "only two POSTs left us");
    assert_eq!(w.delivery_log(&s.account.id).await.len(), 2);
    // The ordinary settings routes still answer: their own limit is not used up.
    let res = ::settings::handle(w.session(&s, "GET", INTEGRATION).build(), deps).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        limit_headers(&res).map(|h| (h.0, h.1)),
        Some((
            domain::rate_limit::DEFAULT_SETTINGS_PER_MINUTE,
            domain::rate_limit::DEFAULT_SETTINGS_PER_MINUTE - 7
        ))
    );
}

#[tokio::test]
async fn redeliver_and_recover_share_the_costly_limit() {
    let mut w = App::new();
    w.tunables.costly_rate_limit = 2;
    let s = w.agency().await;
    let deps = w.settings_deps();
    let redeliver = format!(
        "/api/integrations/api-webhooks/deliveries/{}/redeliver",
        uuid::Uuid::new_v4()
    );
    let (st, _) = parts(&::settings::handle(w.session(&s, "POST", &redeliver).build(), deps).await);
    assert_eq!(st, 404);
    let recover = w
        .session(
            &s,
            "POST",
            "/api/integrations/api-webhooks/deliveries/recover",
        )
        .json(&json!({"from": "2025-06-15T14:00:00Z", "to": "2025-06-15T15:00:00Z"}));
    let (st, body) = parts(&::settings::handle(recover.build(), deps).await);
    assert_ne!(st, 429, "{body}");
    let deliveries_before = w.plan.calls("deliveries_between");
    let queue_before = w.queue.sent().len();
    let (st, body) =
        parts(&::settings::handle(w.session(&s, "POST", &redeliver).build(), deps).await);
    assert_eq!((st, error_code(&body)), (429, "rate_limited"));
    let recover = w
        .session(
            &s,
            "POST",
            "/api/integrations/api-webhooks/deliveries/recover",
        )
        .json(&json!({"from": "2025-06-15T14:00:00Z", "to": "2025-06-15T15:00:00Z"}));
    let (st, body) = parts(&::settings::handle(recover.build(), deps).await);
    assert_eq!((st, error_code(&body)), (429, "rate_limited"));
    assert_eq!(w.plan.calls("deliveries_between"), deliveries_before);
    assert_eq!(
        w.queue.sent().len(),
        queue_before,
        "nothing queued past the limit"
    );
}

#[tokio::test]
async fn a_key_flood_dials_only_up_to_the_limit_and_each_refusal_costs_one_store_call() {
    let mut w = App::new();
    w.tunables.api_rate_limit = 5;
    let s = w.agency().await;
    let deps = w.trigger_call_deps();
    let mut refused = 0;
    for _ in 0..25 {
        let req = ApiRequest::post("/api/trigger-call")
            .bearer(&s.api_key)
            .json(&json!({"phone": "+15551234567"}));
        let (st, body) = parts(&::trigger_call::handle(req.build(), deps).await);
        match st {
            200 => {}
            429 => {
                assert_eq!(error_code(&body), "rate_limited");
                refused += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(refused, 20);
    assert_eq!(w.provider.requests().len(), 5);
    assert_eq!(w.plan.calls("use_key"), 25);
    assert_eq!(w.plan.calls("agent"), 5, "refusals read nothing else");
    assert_eq!(w.plan.calls("create_call"), 5);
    // Unknown keys are not counted against anyone and write nothing.
    let req = ApiRequest::post("/api/trigger-call")
        .bearer("bvai_live_not-a-key")
        .json(&json!({"phone": "+15551234567"}));
    let (st, body) = parts(&::trigger_call::handle(req.build(), deps).await);
    assert_eq!((st, error_code(&body)), (403, "invalid_api_key"));
}

#[tokio::test]
async fn destinations_are_refused_before_any_write_or_dial() {
    let w = App::new();
    let s = w.agency().await;
    let deps = w.trigger_call_deps();
    for phone in [
        "+979123456789",
        "+870773123456",
        "+881612345678",
        "+80812345678",
    ] {
        let req = ApiRequest::post("/api/trigger-call")
            .bearer(&s.api_key)
            .json(&json!({ "phone": phone }));
        let res = ::trigger_call::handle(req.build(), deps).await;
        assert!(limit_headers(&res).is_some(), "headers on the 422 too");
        let (st, body) = parts(&res);
        assert_eq!(
            (st, error_code(&body)),
            (422, "destination_not_allowed"),
            "{phone}"
        );
        assert_eq!(body["error"]["field"], "phone");
    }
    assert_eq!(w.plan.calls("agent"), 0);
    assert_eq!(w.plan.calls("create_call"), 0);
    assert!(w.provider.requests().is_empty());
}

/// Premium-rate, shared-cost, personal, UAN and pager numbers (libphonenumber's number types)
/// are refused by default, by name, before any read of the agent, write or dial; a country
/// list does not admit them; an operator allows one type at a time; ordinary numbers pass.
#[tokio::test]
async fn refused_number_types_are_named_and_allowed_per_type() {
    let w = App::new();
    let s = w.agency().await;
    let deps = w.trigger_call_deps();
    let send = |phone: &'static str| {
        let req = ApiRequest::post("/api/trigger-call")
            .bearer(&s.api_key)
            .json(&json!({ "phone": phone }));
        let deps = &deps;
        async move { parts(&::trigger_call::handle(req.build(), deps).await) }
    };
    // A US-only list, as a new account may have: +1 900 and 976 numbers are US numbers.
    w.update_account(&s.account.id, |a| {
        a.guardrails.allowed_countries = Some(vec!["US".into()])
    })
    .await;
    let refused = [
        ("+19002345678", "+1 900 numbers are premium-rate numbers"),
        ("+19765550123", "+1 976 numbers are premium-rate numbers"),
        (
            "+13129761234",
            "+1 312 976 numbers are premium-rate numbers",
        ),
        ("+15002345678", "+1 500 numbers are personal numbers"),
    ];
    for (phone, message) in refused {
        let (st, body) = send(phone).await;
        assert_eq!(
            (st, error_code(&body)),
            (422, "destination_not_allowed"),
            "{phone}"
        );
        assert_eq!(body["error"]["field"], "phone");
        let text = body["error"]["message"].as_str().unwrap();
        assert!(text.starts_with(message), "{phone}: {text}");
    }
    // Every country again: each type of the other countries, by its name.
    w.update_account(&s.account.id, |a| a.guardrails.allowed_countries = None)
        .await;
    for (phone, name) in [
        ("+447012345678", "personal_number"),
        ("+449012345678", "premium_rate"),
        ("+443001234567", "uan"),
        ("+4918012345", "shared_cost"),
        ("+4916412345", "pager"),
    ] {
        let (st, body) = send(phone).await;
        assert_eq!((st, error_code(&body)), (422, "destination_not_allowed"));
        let text = body["error"]["message"].as_str().unwrap();
        assert!(
            text.contains(&format!("(number type {name})")),
            "{phone}: {text}"
        );
    }
    assert_eq!(w.plan.calls("agent"), 0, "refused before the agent is read");
    assert_eq!(w.plan.calls("create_call"), 0);
    assert!(w.provider.requests().is_empty());

    // Ordinary geographic and mobile numbers pass.
    for phone in ["+14155550123", "+442079460000", "+447700900123"] {
        let (st, body) = send(phone).await;
        assert_eq!(st, 200, "{phone}: {body}");
    }
    assert_eq!(w.provider.requests().len(), 3);

    // The operator allows premium rate: +1 900 and +44 9 are placed, +44 70 still refused.
    w.update_account(&s.account.id, |a| {
        a.guardrails.allowed_number_types = vec![domain::number_type::NumberType::PremiumRate]
    })
    .await;
    for phone in ["+19002345678", "+449012345678"] {
        let (st, body) = send(phone).await;
        assert_eq!(st, 200, "{phone}: {body}");
    }
    let (st, body) = send("+447012345678").await;
    assert_eq!((st, error_code(&body)), (422, "destination_not_allowed"));
    assert_eq!(w.provider.requests().len(), 5);
}

#[tokio::test]
async fn the_local_switch_admits_loopback_only() {
    let receiver = TestServer::start(|_, _| async { Reply::status(200) }).await;
    let client =
        outbound::WebhookClient::new(std::time::Duration::from_secs(2), true).expect("client");
    for url in [
        "http://10.0.0.1:9/hook",
        "http://192.168.1.20/hook",
        "http://172.16.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/hook",
        "http://[fd00::1]/hook",
        "http://0.0.0.0:9/hook",
    ] {
        let r = client.post(url, &[], b"{}".to_vec()).await;
        assert_eq!(
            r.error_class,
            Some(domain::model::DeliveryErrorClass::BlockedAddress),
            "{url}: {r:?}"
        );
        assert_eq!(r.status, None);
    }
    let ok = client.post(&receiver.url(), &[], b"{}".to_vec()).await;
    assert!(ok.delivered(), "{ok:?}");
    let named = receiver.url().replace("127.0.0.1", "localhost");
    let ok = client.post(&named, &[], b"{}".to_vec()).await;
    assert!(ok.delivered(), "{ok:?}");
    assert_eq!(receiver.requests().len(), 2);
}

#[tokio::test]
async fn functions_refuse_to_start_with_the_local_switch_inside_lambda() {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build();
    let env = Env::default()
        .with(config::WEBHOOK_ALLOW_INSECURE_LOCAL, "1")
        .with(config::AWS_LAMBDA_FUNCTION_NAME, "bvai-settings")
        .with(config::TABLE_NAME, "t")
        .with(config::EVENTS_QUEUE_URL, "http://127.0.0.1:1/q");
    let err = ::settings::Deps::from_env(&sdk, &env)
        .await
        .err()
        .expect("settings refuses to start");
    assert!(
        err.to_string().contains(config::AWS_LAMBDA_FUNCTION_NAME),
        "{err}"
    );
    let err = ::webhook_delivery::Deps::from_env(&sdk, &env)
        .await
        .err()
        .expect("webhook-delivery refuses to start");
    assert!(
        err.to_string().contains(config::AWS_LAMBDA_FUNCTION_NAME),
        "{err}"
    );
    // Without the switch the same environment starts.
    let env = env.with(config::WEBHOOK_ALLOW_INSECURE_LOCAL, "0");
    assert!(::settings::Deps::from_env(&sdk, &env).await.is_ok());
}

/// Issue 26, item 3: any settings write, and a key rotation, used to rewrite the key grant
/// whole and with it its window counter, so alternating a PATCH with trigger-calls gave the
/// key a fresh allowance each time (20 accepted in a minute against a limit of 5). The
/// counter now survives every write path: 5 accepted in the minute, whatever is written in
/// between, and the rotated key inherits what the old one used.
#[tokio::test]
async fn settings_writes_and_rotations_do_not_refill_the_keys_limit() {
    let mut w = App::new();
    w.tunables.api_rate_limit = 5;
    w.tunables.settings_rate_limit = 1000;
    let s = w.agency().await;
    let (trigger, settings) = (w.trigger_call_deps(), w.settings_deps());
    let call = |key: String| {
        let deps = trigger.clone();
        async move {
            let req = ApiRequest::post("/api/trigger-call")
                .bearer(&key)
                .json(&json!({"phone": "+14155550123"}));
            parts(&::trigger_call::handle(req.build(), &deps).await).0
        }
    };
    let mut accepted = 0;
    for i in 0..20 {
        if call(s.api_key.clone()).await == 200 {
            accepted += 1;
        }
        let events = if i % 2 == 0 {
            json!(["call.completed", "call.failed"])
        } else {
            json!(["call.completed"])
        };
        let res = ::settings::handle(
            w.session(&s, "PATCH", INTEGRATION)
                .json(&json!({"events": events}))
                .build(),
            settings,
        )
        .await;
        assert_eq!(res.status(), 200);
    }
    assert_eq!(accepted, 5, "the limit held across 20 settings writes");
    // Rotating the key keeps the minute's count too: the new key is refused at once.
    let (st, body) = parts(
        &::settings::handle(
            w.session(&s, "POST", "/api/integrations/api-webhooks/api-key")
                .build(),
            settings,
        )
        .await,
    );
    assert_eq!(st, 201, "{body}");
    let new_key = body["api_key"].as_str().expect("the new key").to_string();
    assert_eq!(
        call(new_key.clone()).await,
        429,
        "a rotation refilled the limit"
    );
    assert_eq!(w.provider.requests().len(), 5);
    // The next minute starts afresh for the new key.
    w.clock.advance(chrono::Duration::seconds(60));
    assert_eq!(call(new_key).await, 200);
}
