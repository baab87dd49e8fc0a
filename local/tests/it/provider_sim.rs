//! The provider simulator over real HTTP, with a real HTTP server receiving its callbacks.

use chrono::Utc;
use domain::signature::verify_provider_callback;
use integration_tests::peer::{Recorded, Reply, TestServer};
use local_stack::provider_sim::{ProviderSim, SimConfig, SimTimings};
use local_stack::server::{Listener, Server};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEY: &str = "sim-provider-key";

async fn start_sim(callback_url: String) -> Server {
    start_sim_with(callback_url, |_| ()).await.1
}

/// The simulator (kept, to read its counts) and its server, with `tweak` applied to the
/// test's configuration.
async fn start_sim_with(
    callback_url: String,
    tweak: impl FnOnce(&mut SimConfig),
) -> (Arc<ProviderSim>, Server) {
    let mut config = SimConfig::new(KEY, callback_url);
    config.timings = SimTimings {
        answer_after: Duration::from_millis(50),
        call_length: Duration::from_millis(300),
        analysis_after: Duration::from_millis(50),
    };
    config.callback_retry_delay = Duration::from_millis(50);
    tweak(&mut config);
    let sim = ProviderSim::new(config, Arc::new(domain::clock::SystemClock)).expect("sim");
    let server = sim.clone().serve(Listener::bind(0).await.expect("bind"));
    (sim, server)
}

fn assert_signed(r: &Recorded) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        verify_provider_callback(KEY, r.header("x-retell-signature"), &r.body, Utc::now()),
        Ok(()),
        "callback signature"
    );
}

async fn create(
    client: &reqwest::Client,
    sim: &Server,
    auth: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut req = client
        .post(format!("{}/v2/create-phone-call", sim.url()))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.expect("json body"))
}

#[tokio::test]
async fn outbound_call_sends_three_signed_callbacks_in_order() {
    let receiver = TestServer::fixed(200, json!({"ok": true})).await;
    let sim = start_sim(format!("{}/hooks/voice-provider", receiver.url())).await;
    let client = reqwest::Client::new();

    let (status, call) = create(
        &client,
        &sim,
        Some(&format!("Bearer {KEY}")),
        &json!({
            "from_number": "+14155550100",
            "to_number": "+15551234567",
            "override_agent_id": "agent_x",
            "metadata": {"call_id": "c-1", "account_id": "acct_1"},
            "retell_llm_dynamic_variables": {"name": "Jane", "email": "jane@example.com"}
        })
        .to_string(),
    )
    .await;
    assert_eq!(status, 201, "{call}");
    let call_id = call["call_id"].as_str().expect("call_id").to_string();
    assert!(call_id.starts_with("sim_call_"), "{call_id}");
    assert_eq!(call["call_status"], "registered");
    assert_eq!(call["direction"], "outbound");
    assert_eq!(call["agent_id"], "agent_x");
    assert_eq!(call["from_number"], "+14155550100");
    assert_eq!(call["to_number"], "+15551234567");
    assert_eq!(
        call["metadata"],
        json!({"call_id": "c-1", "account_id": "acct_1"})
    );

    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    let events: Vec<Value> = got.iter().map(Recorded::json).collect();
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(names, vec!["call_started", "call_ended", "call_analyzed"]);
    for r in &got {
        assert_eq!(r.path, "/hooks/voice-provider");
        assert_signed(r);
    }
    for e in &events {
        assert_eq!(e["call"]["call_id"], call_id.as_str());
        assert_eq!(e["call"]["agent_id"], "agent_x");
        assert_eq!(e["call"]["metadata"]["call_id"], "c-1");
    }
    let started = &events[0]["call"];
    assert_eq!(started["call_status"], "ongoing");
    assert!(started["start_timestamp"].is_i64());
    assert!(started.get("end_timestamp").is_none());

    let ended = &events[1]["call"];
    assert_eq!(ended["call_status"], "ended");
    let start = ended["start_timestamp"].as_i64().expect("start");
    let end = ended["end_timestamp"].as_i64().expect("end");
    assert_eq!(ended["duration_ms"].as_i64(), Some(end - start));
    assert!(end - start >= 300, "call lasted {} ms", end - start);
    assert_eq!(ended["disconnection_reason"], "user_hangup");
    let transcript = ended["transcript_object"].as_array().expect("transcript");
    assert!(transcript.len() >= 2);
    assert_eq!(transcript[0]["role"], "agent");
    assert!(transcript[0]["content"]
        .as_str()
        .is_some_and(|c| c.contains("Jane")));
    assert!(transcript
        .iter()
        .all(|u| u["words"].as_array().is_some_and(|w| !w.is_empty()
            && w[0]["start"].is_f64()
            && (u["role"] == "agent" || u["role"] == "user"))));
    assert!(ended.get("call_analysis").is_none());

    let analyzed = &events[2]["call"];
    assert_eq!(analyzed["call_analysis"]["user_sentiment"], "Positive");
    assert!(analyzed["call_analysis"]["call_summary"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert_eq!(analyzed["transcript_object"], ended["transcript_object"]);

    // The final state is readable.
    let res = client
        .get(format!("{}/v2/get-call/{call_id}", sim.url()))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let fetched: Value = res.json().await.expect("json");
    assert_eq!(fetched, *analyzed);
    sim.stop().await;
}

#[tokio::test]
async fn bad_requests_are_refused_and_place_no_call() {
    let receiver = TestServer::fixed(200, json!({})).await;
    let sim = start_sim(receiver.url()).await;
    let client = reqwest::Client::new();
    let good = format!("Bearer {KEY}");
    let valid = json!({"from_number": "+14155550100", "to_number": "+15551234567"});
    let cases: Vec<(Option<&str>, String, u16, &str)> = vec![
        (None, valid.to_string(), 401, "API key"),
        (Some("Bearer wrong"), valid.to_string(), 401, "API key"),
        (Some(KEY), valid.to_string(), 401, "API key"),
        (Some(&good), "{".into(), 400, "invalid JSON"),
        (Some(&good), "[]".into(), 400, "JSON object"),
        (
            Some(&good),
            json!({"from_number": "+14155550100"}).to_string(),
            400,
            "to_number is required",
        ),
        (
            Some(&good),
            json!({"from_number": "555-1234", "to_number": "+15551234567"}).to_string(),
            400,
            "from_number must be an E.164",
        ),
        (
            Some(&good),
            json!({"from_number": "+14155550100", "to_number": 15551234567u64}).to_string(),
            400,
            "to_number must be a string",
        ),
        (
            Some(&good),
            json!({"from_number": "+14155550100", "to_number": "+15551234567", "metadata": [1]})
                .to_string(),
            400,
            "metadata",
        ),
        (
            Some(&good),
            json!({"from_number": "+14155550100", "to_number": "+15551234567", "retell_llm_dynamic_variables": {"n": 1}})
                .to_string(),
            400,
            "retell_llm_dynamic_variables",
        ),
    ];
    for (auth, body, status, needle) in cases {
        let (got, v) = create(&client, &sim, auth, &body).await;
        assert_eq!(got, status, "{body}: {v}");
        assert!(
            v["message"].as_str().is_some_and(|m| m.contains(needle)),
            "{body}: {v}"
        );
        assert!(
            !v.to_string().contains(KEY),
            "the key must not be echoed: {v}"
        );
    }
    let res = client
        .get(format!("{}/v2/get-call/sim_call_999", sim.url()))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 404);
    let res = client
        .post(format!("{}/v1/unknown", sim.url()))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 404);

    // A valid inbound call afterwards: its three callbacks are the only ones that arrive.
    let res = client
        .post(format!("{}/sim/inbound-call", sim.url()))
        .json(&json!({"agent_id": "agent_in", "from_number": "+15557654321"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 201);
    let call: Value = res.json().await.expect("json");
    assert_eq!(call["direction"], "inbound");
    assert_eq!(call["from_number"], "+15557654321");
    assert_eq!(call["to_number"], "+14155550100");
    assert!(call.get("metadata").is_none());
    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 3);
    for r in &got {
        assert_signed(r);
        let e = r.json();
        assert_eq!(e["call"]["direction"], "inbound");
        assert_eq!(e["call"]["agent_id"], "agent_in");
        assert!(e["call"].get("metadata").is_none());
    }
    assert_eq!(got[2].json()["event"], "call_analyzed");

    let res = client
        .post(format!("{}/sim/inbound-call", sim.url()))
        .json(&json!({"from_number": "+15557654321"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 400);
    sim.stop().await;
}

#[tokio::test]
async fn callbacks_without_a_2xx_are_retried() {
    // The first callback is refused; the simulator sends it again before moving on.
    let receiver = TestServer::start(|_, i| async move {
        if i == 0 {
            Reply::status(500)
        } else {
            Reply::status(204)
        }
    })
    .await;
    let sim = start_sim(receiver.url()).await;
    let client = reqwest::Client::new();
    let (status, _) = create(
        &client,
        &sim,
        Some(&format!("Bearer {KEY}")),
        &json!({"from_number": "+14155550100", "to_number": "+15551234567"}).to_string(),
    )
    .await;
    assert_eq!(status, 201);
    let got = receiver.wait_for(4, Duration::from_secs(10)).await;
    let names: Vec<String> = got
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        names,
        vec![
            "call_started",
            "call_started",
            "call_ended",
            "call_analyzed"
        ]
    );
    assert_eq!(got[0].body, got[1].body, "a retry sends the same event");
    got.iter().for_each(assert_signed);
    sim.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Fault knobs
// ---------------------------------------------------------------------------------------------

const VALID: &str = r#"{"from_number": "+14155550100", "to_number": "+15551234567"}"#;

/// `POST /v2/create-phone-call` with a valid body, as trigger-call sends it.
async fn place(
    client: &reqwest::Client,
    sim: &Server,
) -> Result<reqwest::Response, reqwest::Error> {
    client
        .post(format!("{}/v2/create-phone-call", sim.url()))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(VALID)
        .send()
        .await
}

async fn faults(
    client: &reqwest::Client,
    sim: &Server,
    method: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let url = format!("{}/sim/faults", sim.url());
    let req = match method {
        "GET" => client.get(url),
        "DELETE" => client.delete(url),
        _ => client
            .post(url)
            .header("content-type", "application/json")
            .body(body.unwrap_or("").to_string()),
    };
    let res = req.send().await.expect("faults request");
    let status = res.status().as_u16();
    (status, res.json().await.expect("json body"))
}

/// The callbacks received, per provider call id, event names in arrival order.
fn by_call(got: &[Recorded]) -> BTreeMap<String, Vec<String>> {
    let mut calls: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in got {
        let e = r.json();
        calls
            .entry(e["call"]["call_id"].as_str().unwrap_or("?").to_string())
            .or_default()
            .push(e["event"].as_str().unwrap_or("?").to_string());
    }
    calls
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const NORMAL: [&str; 3] = ["call_started", "call_ended", "call_analyzed"];

#[tokio::test]
async fn fault_knobs_are_shown_set_validated_and_cleared() {
    let receiver = TestServer::fixed(200, json!({})).await;
    let (sim_state, sim) = start_sim_with(receiver.url(), |_| ()).await;
    let client = reqwest::Client::new();
    let normal = json!({"create_call": "ok", "omit_events": [], "duplicate_callbacks": false, "reverse_order": false});
    assert_eq!(
        faults(&client, &sim, "GET", None).await,
        (200, normal.clone())
    );

    let set = json!({"create_call": "http_500", "omit_events": ["call_analyzed"], "duplicate_callbacks": true, "reverse_order": true});
    assert_eq!(
        faults(&client, &sim, "POST", Some(&set.to_string())).await,
        (200, set.clone())
    );
    assert_eq!(faults(&client, &sim, "GET", None).await, (200, set.clone()));

    // Refused, and the knobs stay as they were.
    for (body, needle) in [
        (r#"{"create_call": "slow"}"#, "unknown variant `slow`"),
        (
            r#"{"omit_events": ["call_ringing"]}"#,
            "unknown variant `call_ringing`",
        ),
        (r#"{"duplicate_callbacks": 1}"#, "invalid type"),
        (r#"{"reverse": true}"#, "unknown field `reverse`"),
        (r#"[]"#, "JSON object"),
        (r#"not json"#, "invalid JSON"),
    ] {
        let (status, v) = faults(&client, &sim, "POST", Some(body)).await;
        assert_eq!(status, 400, "{body}: {v}");
        assert_eq!(v["status"], "error");
        let m = v["message"].as_str().unwrap_or("");
        assert!(
            m.contains(needle) && m.contains("timeout_after_accept"),
            "{body}: {m}"
        );
    }
    assert_eq!(faults(&client, &sim, "GET", None).await, (200, set));

    // Fields left out are normal; DELETE restores everything.
    let (status, v) = faults(&client, &sim, "POST", Some(r#"{"reverse_order": true}"#)).await;
    assert_eq!(status, 200);
    assert_eq!(
        v,
        json!({"create_call": "ok", "omit_events": [], "duplicate_callbacks": false, "reverse_order": true})
    );
    assert_eq!(
        faults(&client, &sim, "DELETE", None).await,
        (200, normal.clone())
    );
    assert_eq!(faults(&client, &sim, "GET", None).await, (200, normal));
    assert_eq!(sim_state.call_count(), 0, "setting knobs places no call");
    assert!(receiver.requests().is_empty());
    sim.stop().await;
}

#[tokio::test]
async fn http_500_places_no_call_and_sends_no_callback() {
    let receiver = TestServer::fixed(200, json!({})).await;
    let (sim_state, sim) = start_sim_with(receiver.url(), |_| ()).await;
    let client = reqwest::Client::new();
    faults(
        &client,
        &sim,
        "POST",
        Some(r#"{"create_call": "http_500"}"#),
    )
    .await;
    for _ in 0..2 {
        let res = place(&client, &sim).await.expect("an answer");
        assert_eq!(res.status(), 500);
        let v: Value = res.json().await.expect("json");
        assert!(
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains("http_500")),
            "{v}"
        );
    }
    assert_eq!(sim_state.call_count(), 0);
    // An invalid request is still refused as such.
    let res = client
        .post(format!("{}/v2/create-phone-call", sim.url()))
        .bearer_auth("wrong")
        .body(VALID)
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status(), 401);

    // Back to normal: the next call is the first one placed, and its callbacks are the only ones.
    faults(&client, &sim, "DELETE", None).await;
    let res = place(&client, &sim).await.expect("an answer");
    assert_eq!(res.status(), 201);
    let call: Value = res.json().await.expect("json");
    assert_eq!(call["call_id"], "sim_call_1");
    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(
        by_call(&got),
        BTreeMap::from([("sim_call_1".to_string(), names(&NORMAL))])
    );
    assert_eq!(sim_state.call_count(), 1);
    sim.stop().await;
}

#[tokio::test]
async fn garbage_2xx_places_the_call_and_answers_an_empty_object() {
    let receiver = TestServer::fixed(200, json!({})).await;
    let (sim_state, sim) = start_sim_with(receiver.url(), |_| ()).await;
    let client = reqwest::Client::new();
    faults(
        &client,
        &sim,
        "POST",
        Some(r#"{"create_call": "garbage_2xx"}"#),
    )
    .await;
    let res = place(&client, &sim).await.expect("an answer");
    assert_eq!(res.status(), 201);
    assert_eq!(res.text().await.expect("body"), "{}");
    assert_eq!(sim_state.call_count(), 1);
    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(
        by_call(&got),
        BTreeMap::from([("sim_call_1".to_string(), names(&NORMAL))])
    );
    // The call exists at the provider although its answer did not say which one it is.
    let res = client
        .get(format!("{}/v2/get-call/sim_call_1", sim.url()))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    sim.stop().await;
}

#[tokio::test]
async fn timeout_after_accept_places_the_call_and_answers_after_the_client_gave_up() {
    let receiver = TestServer::fixed(200, json!({})).await;
    let hold = Duration::from_millis(1500);
    let (sim_state, sim) = start_sim_with(receiver.url(), |c| c.accept_hold = hold).await;
    faults(
        &reqwest::Client::new(),
        &sim,
        "POST",
        Some(r#"{"create_call": "timeout_after_accept"}"#),
    )
    .await;

    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let err = place(&impatient, &sim)
        .await
        .expect_err("the client gives up");
    assert!(err.is_timeout(), "{err:?}");
    // The call was placed anyway: all its callbacks come.
    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(
        by_call(&got),
        BTreeMap::from([("sim_call_1".to_string(), names(&NORMAL))])
    );

    // A client that waits gets the (late) 201 with the call.
    let patient = reqwest::Client::new();
    let started = Instant::now();
    let res = place(&patient, &sim).await.expect("a late answer");
    assert!(
        started.elapsed() >= hold,
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(res.status(), 201);
    let call: Value = res.json().await.expect("json");
    assert_eq!(call["call_id"], "sim_call_2");
    assert_eq!(sim_state.call_count(), 2);
    let got = receiver.wait_for(6, Duration::from_secs(10)).await;
    assert_eq!(by_call(&got).get("sim_call_2"), Some(&names(&NORMAL)));
    assert_eq!(got.len(), 6);
    sim.stop().await;
}

#[tokio::test]
async fn reset_after_accept_places_the_call_and_resets_the_connection() {
    let receiver = TestServer::fixed(200, json!({})).await;
    let (sim_state, sim) = start_sim_with(receiver.url(), |_| ()).await;
    let client = reqwest::Client::new();
    faults(
        &client,
        &sim,
        "POST",
        Some(r#"{"create_call": "reset_after_accept"}"#),
    )
    .await;
    let err = place(&client, &sim).await.expect_err("no answer");
    assert!(!err.is_timeout() && !err.is_connect(), "{err:?}");
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    let mut reset = false;
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            reset |= io.kind() == std::io::ErrorKind::ConnectionReset;
        }
        source = e.source();
    }
    assert!(reset, "a connection reset: {err:?}");
    assert_eq!(sim_state.call_count(), 1);
    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(
        by_call(&got),
        BTreeMap::from([("sim_call_1".to_string(), names(&NORMAL))])
    );
    // The simulator itself goes on serving.
    assert_eq!(faults(&client, &sim, "GET", None).await.0, 200);
    sim.stop().await;
}

#[tokio::test]
async fn omitted_callbacks_are_never_sent_and_knobs_apply_to_later_calls_only() {
    let receiver = TestServer::fixed(200, json!({})).await;
    let (_, sim) = start_sim_with(receiver.url(), |_| ()).await;
    let client = reqwest::Client::new();
    // Placed before the knobs: played normally.
    assert_eq!(place(&client, &sim).await.expect("answer").status(), 201);
    let (status, _) = faults(
        &client,
        &sim,
        "POST",
        Some(r#"{"omit_events": ["call_started", "call_analyzed"]}"#),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(place(&client, &sim).await.expect("answer").status(), 201);
    // sim_call_1's three and sim_call_2's call_ended.
    receiver.wait_for(4, Duration::from_secs(10)).await;
    // A normal call placed after sim_call_2 ended finishes well after sim_call_2's omitted
    // call_analyzed would have come: once its three are in, nothing else is on the way.
    faults(&client, &sim, "DELETE", None).await;
    assert_eq!(place(&client, &sim).await.expect("answer").status(), 201);
    let got = receiver.wait_for(7, Duration::from_secs(10)).await;
    assert_eq!(
        by_call(&got),
        BTreeMap::from([
            ("sim_call_1".to_string(), names(&NORMAL)),
            ("sim_call_2".to_string(), names(&["call_ended"])),
            ("sim_call_3".to_string(), names(&NORMAL)),
        ])
    );
    assert_eq!(got.len(), 7);
    sim.stop().await;
}

#[tokio::test]
async fn duplicate_callbacks_are_sent_twice_at_once() {
    // The receiver takes a moment to answer, so two copies sent at once are seen in flight
    // together.
    let receiver = TestServer::start(|_, _| async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Reply::status(200)
    })
    .await;
    let (_, sim) = start_sim_with(receiver.url(), |_| ()).await;
    let client = reqwest::Client::new();
    faults(
        &client,
        &sim,
        "POST",
        Some(r#"{"duplicate_callbacks": true}"#),
    )
    .await;
    assert_eq!(place(&client, &sim).await.expect("answer").status(), 201);
    let got = receiver.wait_for(6, Duration::from_secs(10)).await;
    assert_eq!(
        by_call(&got),
        BTreeMap::from([(
            "sim_call_1".to_string(),
            names(&[
                "call_started",
                "call_started",
                "call_ended",
                "call_ended",
                "call_analyzed",
                "call_analyzed"
            ])
        )])
    );
    for pair in got.chunks(2) {
        assert_eq!(pair[0].body, pair[1].body, "the same callback twice");
        pair.iter().for_each(assert_signed);
    }
    assert_eq!(
        receiver.max_in_flight(),
        2,
        "the two copies are sent concurrently"
    );
    // Nothing more for that call: a later normal call's callbacks are the only others.
    faults(&client, &sim, "DELETE", None).await;
    assert_eq!(place(&client, &sim).await.expect("answer").status(), 201);
    let got = receiver.wait_for(9, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 9);
    assert_eq!(by_call(&got).get("sim_call_2"), Some(&names(&NORMAL)));
    sim.stop().await;
}

#[tokio::test]
async fn reverse_order_sends_the_callbacks_last_first() {
    let receiver = TestServer::fixed(200, json!({})).await;
    let (_, sim) = start_sim_with(receiver.url(), |_| ()).await;
    let client = reqwest::Client::new();
    faults(&client, &sim, "POST", Some(r#"{"reverse_order": true}"#)).await;
    assert_eq!(place(&client, &sim).await.expect("answer").status(), 201);
    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(
        by_call(&got),
        BTreeMap::from([(
            "sim_call_1".to_string(),
            names(&["call_analyzed", "call_ended", "call_started"])
        )])
    );
    // Each callback still carries the call as it stood at that stage.
    assert!(got[0].json()["call"].get("call_analysis").is_some());
    assert_eq!(got[1].json()["call"]["call_status"], "ended");
    assert!(got[1].json()["call"].get("call_analysis").is_none());
    assert_eq!(got[2].json()["call"]["call_status"], "ongoing");
    got.iter().for_each(assert_signed);

    // The knobs combine: reversed, doubled, call_ended left out.
    faults(
        &client,
        &sim,
        "POST",
        Some(r#"{"reverse_order": true, "duplicate_callbacks": true, "omit_events": ["call_ended"]}"#),
    )
    .await;
    assert_eq!(place(&client, &sim).await.expect("answer").status(), 201);
    let got = receiver.wait_for(7, Duration::from_secs(10)).await;
    assert_eq!(
        by_call(&got).get("sim_call_2"),
        Some(&names(&[
            "call_analyzed",
            "call_analyzed",
            "call_started",
            "call_started"
        ]))
    );
    // Inbound calls follow the knobs too.
    let res = client
        .post(format!("{}/sim/inbound-call", sim.url()))
        .json(&json!({"agent_id": "agent_in", "from_number": "+15557654321"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 201);
    let got = receiver.wait_for(11, Duration::from_secs(10)).await;
    assert_eq!(
        by_call(&got).get("sim_call_3"),
        Some(&names(&[
            "call_analyzed",
            "call_analyzed",
            "call_started",
            "call_started"
        ]))
    );
    assert_eq!(got.len(), 11);
    sim.stop().await;
}
