//! The provider simulator over real HTTP, with a real HTTP server receiving its callbacks.

use chrono::Utc;
use domain::signature::verify_provider_callback;
use integration_tests::peer::{Recorded, Reply, TestServer};
use local_stack::provider_sim::{ProviderSim, SimConfig, SimTimings};
use local_stack::server::{Listener, Server};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "sim-provider-key";

async fn start_sim(callback_url: String) -> Server {
    let mut config = SimConfig::new(KEY, callback_url);
    config.timings = SimTimings {
        answer_after: Duration::from_millis(50),
        call_length: Duration::from_millis(300),
        analysis_after: Duration::from_millis(50),
    };
    config.callback_retry_delay = Duration::from_millis(50);
    let sim = ProviderSim::new(config, Arc::new(domain::clock::SystemClock)).expect("sim");
    sim.serve(Listener::bind(0).await.expect("bind"))
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
