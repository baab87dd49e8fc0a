//! The capture of the capacity model (`make bench-scale-profiles`, docs/benchmarks.md
//! "Capacity model"): the real functions, built as `deps` builds them for every test, on the
//! emulator's adapters behind a [`Recorder`], through one scenario each:
//!
//! - `outbound`: trigger-call, the provider's three callbacks, the event's first delivery (2xx);
//! - `inbound`: the three callbacks of an inbound call, its delivery (2xx);
//! - `retry`: a delivery whose first attempt fails (HTTP 500) and whose second succeeds;
//! - `held`: a call accepted for later (`not_before`), placed by the reconciler when due;
//! - `repair_*`: one reconciler repair of each kind: an event stored but never queued, a call
//!   whose request died before the provider answered (its `queued` record and its
//!   Idempotency-Key lease), a `dial_unknown` call past its deadline, a `dialing` call never
//!   reported (stale), an ended call past its analysis grace;
//! - `reconciler/pass`: a pass with nothing due (what every pass reads).
//!
//! Each scenario has its own table, queue and account, and a fixed clock that is moved past
//! the deadline a repair waits for. Only the steps named in a segment are recorded (seeding
//! is not). The provider is the in-memory scripted one (not AWS, not measured); webhooks are
//! POSTed for real to a receiver on 127.0.0.1. Lambda's event source mapping is played by a
//! client that is not recorded (its receives and deletes are the model's, from
//! `template.yaml`).

use super::recorder::Recorder;
use crate::apigw::{parts, ApiRequest, Build};
use crate::deps::{Ports, Tunables};
use crate::fixtures::{self, Seeded};
use crate::peer::{Reply, TestServer};
use crate::sqs::event_of;
use crate::Emulator;
use aws_adapters::{DynamoStore, SecretsManager, SqsQueue};
use domain::clock::Clock;
use domain::ports::provider::ProviderError;
use domain::ports::queue::EventQueue;
use domain::signature::sign_provider_callback;
use in_memory::{FaultPlan, FaultyProvider, FaultyQueue, FixedClock, ScriptedProvider};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const PROVIDER_KEY: &str = "key_capture_provider_0123456789ab";
/// The provider's example call: started 15:30:00Z, ended 15:33:05Z; our clock just after.
const START_MS: i64 = 1_750_001_400_000;
const END_MS: i64 = 1_750_001_585_000;
const NOW_MS: i64 = 1_750_001_600_000;
/// Turns of the captured calls' transcript: a payload of about 6 KB, the review's typical
/// call (issue 28).
const TRANSCRIPT_TURNS: usize = 36;

/// One recorded step.
pub struct Segment {
    pub name: String,
    /// What the reconciler reported, for its passes.
    pub repaired: Option<Value>,
    /// Calls to the voice provider and webhook POSTs the step made (not AWS; latency only).
    pub provider_calls: usize,
    pub webhook_posts: usize,
}

struct World {
    emu_sqs: aws_sdk_sqs::Client,
    rec: Recorder,
    store: DynamoStore,
    queue_url: String,
    /// The retries lane's queue (template.yaml's `RetriesQueue`).
    retries_url: String,
    clock: Arc<FixedClock>,
    seeded: Seeded,
    provider: Arc<ScriptedProvider>,
    plan: FaultPlan,
    ports: Ports,
    tunables: Tunables,
    receiver: TestServer,
    /// Answers of the receiver, in order (then 200).
    receiver_fails: Arc<AtomicUsize>,
    delivery: webhook_delivery::Deps,
    segments: std::sync::Mutex<Vec<Segment>>,
}

fn at_ms(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl World {
    async fn new(emu: &Emulator, rec: &Recorder) -> World {
        let config = rec.sdk_config(&emu.config);
        let store = emu
            .table_with_client(aws_sdk_dynamodb::Client::new(&config))
            .await;
        let queue_url = emu.queue().await;
        let retries_url = emu
            .sqs()
            .create_queue()
            .queue_name(Emulator::unique("retries"))
            .send()
            .await
            .expect("create the retries queue in the emulator")
            .queue_url()
            .expect("queue url")
            .to_string();
        let secrets = SecretsManager::new(aws_sdk_secretsmanager::Client::new(&config));
        let seeded = fixtures::agency(&store, &secrets).await;
        let receiver_fails = Arc::new(AtomicUsize::new(0));
        let fails = receiver_fails.clone();
        let receiver = TestServer::start(move |_, _| {
            let fails = fails.clone();
            async move {
                let left = fails.load(Ordering::SeqCst);
                if left > 0 {
                    fails.store(left - 1, Ordering::SeqCst);
                    Reply::json(500, json!({"error": "try later"}))
                } else {
                    Reply::json(200, json!({"ok": true}))
                }
            }
        })
        .await;
        fixtures::update_account(&store, &seeded.account.id, |a| {
            a.webhook_url = Some(format!("{}/webhooks", receiver.url()))
        })
        .await;
        fixtures::signing_secret(&store, &secrets, &seeded.account.id).await;
        let clock = Arc::new(FixedClock::new(at_ms(NOW_MS)));
        let provider = Arc::new(ScriptedProvider::new());
        let plan = FaultPlan::new();
        let tunables = Tunables {
            provider_key: PROVIDER_KEY.into(),
            // The first retry's delay as SQS carries it (DelaySeconds), short enough to wait.
            retry_delays: "1s,5m,30m".into(),
            ..Tunables::for_account(&seeded)
        };
        let ports = Ports {
            store: Arc::new(store.clone()),
            queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&config), &queue_url)),
            secrets: Arc::new(secrets),
            provider: Arc::new(FaultyProvider::new(provider.clone(), plan.clone())),
            clock: clock.clone(),
        };
        let mut delivery = ports.webhook_delivery(&tunables);
        delivery.retries = Some(Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(&config),
            &retries_url,
        )));
        World {
            emu_sqs: emu.sqs(),
            rec: rec.clone(),
            store,
            queue_url,
            retries_url,
            clock,
            seeded,
            provider,
            plan,
            ports,
            tunables,
            receiver,
            receiver_fails,
            delivery,
            segments: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` recorded as segment `name`.
    async fn step<T>(&self, name: &str, f: impl std::future::Future<Output = T>) -> T {
        let provider_before = self.provider.request_count();
        let posts_before = self.receiver.requests().len();
        self.rec.segment(Some(name));
        let out = f.await;
        self.rec.segment(None);
        self.segments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Segment {
                name: name.to_string(),
                repaired: None,
                provider_calls: self.provider.request_count() - provider_before,
                webhook_posts: self.receiver.requests().len() - posts_before,
            });
        out
    }

    fn advance(&self, d: Duration) {
        self.clock
            .advance(chrono::Duration::from_std(d).unwrap_or_default());
    }

    async fn trigger(&self, extra: Value) -> (u16, Value) {
        let mut body = json!({"phone": "+15551234567", "name": "Jane Smith"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let req = ApiRequest::post("/api/trigger-call")
            .bearer(&self.seeded.api_key)
            .header("idempotency-key", &format!("order-{}", Uuid::new_v4()))
            .json(&body);
        let deps = self.ports.trigger_call(&self.tunables);
        parts(&trigger_call::handle(req.build(), &deps).await)
    }

    async fn callback(&self, body: &Value, queue: Option<Arc<dyn EventQueue>>) -> (u16, Value) {
        let raw = body.to_string();
        let sig = sign_provider_callback(
            PROVIDER_KEY,
            raw.as_bytes(),
            self.clock.now().timestamp_millis(),
        );
        let req = ApiRequest::post(call_completed::PROVIDER_CALLBACK)
            .header("content-type", "application/json")
            .header("x-retell-signature", &sig)
            .body(&raw);
        let mut ports = self.ports.clone();
        if let Some(q) = queue {
            ports.queue = q;
        }
        let deps = ports.call_completed(&self.tunables);
        parts(&call_completed::handle(req.build(), &deps).await)
    }

    /// Receives what is on either lane's queue (as the event source mappings would,
    /// unrecorded), hands it to webhook-delivery (recorded by the caller's segment), deletes
    /// what succeeded.
    async fn deliver_next(&self, wait: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + wait;
        let mut lanes = [&self.queue_url, &self.retries_url].into_iter().cycle();
        loop {
            let queue_url = lanes.next().unwrap_or(&self.queue_url);
            let out = self
                .emu_sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await;
            let msgs = out.map(|o| o.messages().to_vec()).unwrap_or_default();
            if msgs.is_empty() {
                if tokio::time::Instant::now() >= deadline {
                    return 0;
                }
                continue;
            }
            let bodies: Vec<String> = msgs
                .iter()
                .map(|m| m.body().unwrap_or("").to_string())
                .collect();
            let mut event = event_of(&bodies);
            for (r, m) in event.records.iter_mut().zip(&msgs) {
                r.message_id = m.message_id().map(str::to_string);
                r.receipt_handle = m.receipt_handle().map(str::to_string);
            }
            let res = webhook_delivery::handle(event, &self.delivery).await;
            for m in &msgs {
                let failed = res
                    .batch_item_failures
                    .iter()
                    .any(|f| Some(f.item_identifier.as_str()) == m.message_id());
                if !failed {
                    let _ = self
                        .emu_sqs
                        .delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(m.receipt_handle().unwrap_or(""))
                        .send()
                        .await;
                }
            }
            return msgs.len();
        }
    }

    async fn reconcile(&self, name: &str) -> Value {
        let deps = self.ports.reconciler(&self.tunables);
        let report = self.step(name, reconciler::run(&deps)).await;
        let report = serde_json::to_value(&report).unwrap_or(Value::Null);
        if let Some(s) = self
            .segments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last_mut()
        {
            s.repaired = Some(report.clone());
        }
        report
    }

    /// Places an outbound call through trigger-call; returns its provider call id and the
    /// call id.
    async fn place(&self, name: &str) -> Result<(String, String), String> {
        let provider_id = format!("prov_{}", Uuid::new_v4().simple());
        self.provider.then_ok(provider_id.clone());
        let (status, body) = self
            .step(name, async { self.trigger(json!({})).await })
            .await;
        if status != 200 {
            return Err(format!("trigger-call answered {status}: {body}"));
        }
        let call_id = body["call_id"].as_str().unwrap_or("").to_string();
        Ok((provider_id, call_id))
    }
}

/// The transcript of a captured call.
fn transcript() -> Value {
    let lines = [
        "Hi, this is Ava from Northwind Sales, calling about the quote you asked for last week.",
        "Oh right, yes. I was comparing your plan with the one we have today, what changed?",
        "The enterprise plan now includes call recording, analytics and a dedicated manager.",
        "That sounds useful. What would it cost for about forty seats, billed every year?",
    ];
    Value::Array(
        (0..TRANSCRIPT_TURNS)
            .map(|i| {
                json!({
                    "role": if i % 2 == 0 { "agent" } else { "user" },
                    "content": lines[i % lines.len()],
                    "words": [],
                })
            })
            .collect(),
    )
}

/// The provider's callback body for a call at one stage (`call_started`, `call_ended`,
/// `call_analyzed`).
fn callback_body(event: &str, provider_id: &str, agent: &str, call: Option<(&str, &str)>) -> Value {
    let inbound = call.is_none();
    let mut c = json!({
        "call_id": provider_id,
        "agent_id": agent,
        "call_status": if event == "call_started" { "ongoing" } else { "ended" },
        "direction": if inbound { "inbound" } else { "outbound" },
        "from_number": if inbound { "+15557654321" } else { "+14155550100" },
        "to_number": if inbound { "+14155550100" } else { "+15551234567" },
        "start_timestamp": START_MS,
    });
    if let Some((call_id, account_id)) = call {
        c["metadata"] = json!({"call_id": call_id, "account_id": account_id});
    }
    if event != "call_started" {
        c["end_timestamp"] = END_MS.into();
        c["duration_ms"] = (END_MS - START_MS).into();
        c["disconnection_reason"] = "user_hangup".into();
        c["transcript_object"] = transcript();
    }
    if event == "call_analyzed" {
        c["call_analysis"] = json!({
            "call_summary": "The customer asked about pricing for forty seats on the enterprise plan.",
            "user_sentiment": "Positive",
            "call_successful": true,
            "in_voicemail": false
        });
    }
    json!({"event": event, "call": c})
}

const STAGES: [&str; 3] = ["call_started", "call_ended", "call_analyzed"];

fn expect(what: &str, ok: bool, detail: impl std::fmt::Display) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("{what}: {detail}"))
    }
}

/// Runs every scenario; returns the profiles (`bench/scale/profiles.json`'s content).
pub async fn capture(emu: &Emulator) -> Result<Value, String> {
    let rec = Recorder::new(&emu.endpoint);
    let mut worlds = Vec::new();

    // Outbound: trigger-call, three callbacks, the first delivery.
    let w = World::new(emu, &rec).await;
    let agent = w.seeded.agent.provider_agent_id.clone();
    let account = w.seeded.account.id.to_string();
    let (provider_id, call_id) = w.place("outbound/trigger-call/accepted").await?;
    for stage in STAGES {
        let body = callback_body(stage, &provider_id, &agent, Some((&call_id, &account)));
        let (status, reply) = w
            .step(
                &format!("outbound/call-completed/{stage}"),
                w.callback(&body, None),
            )
            .await;
        expect(stage, status == 200, format!("{status} {reply}"))?;
    }
    let n = w
        .step(
            "outbound/webhook-delivery/delivered",
            w.deliver_next(Duration::from_secs(5)),
        )
        .await;
    expect(
        "outbound delivery",
        n == 1 && w.receiver.requests().len() == 1,
        n,
    )?;
    worlds.push(w);

    // Inbound: three callbacks, the delivery.
    let w = World::new(emu, &rec).await;
    let agent = w.seeded.agent.provider_agent_id.clone();
    let provider_id = format!("prov_in_{}", Uuid::new_v4().simple());
    for stage in STAGES {
        let body = callback_body(stage, &provider_id, &agent, None);
        let (status, reply) = w
            .step(
                &format!("inbound/call-completed/{stage}"),
                w.callback(&body, None),
            )
            .await;
        expect(stage, status == 200, format!("{status} {reply}"))?;
    }
    let n = w
        .step(
            "inbound/webhook-delivery/delivered",
            w.deliver_next(Duration::from_secs(5)),
        )
        .await;
    expect(
        "inbound delivery",
        n == 1 && w.receiver.requests().len() == 1,
        n,
    )?;
    worlds.push(w);

    // A delivery that fails once, then succeeds.
    let w = World::new(emu, &rec).await;
    let agent = w.seeded.agent.provider_agent_id.clone();
    let provider_id = format!("prov_in_{}", Uuid::new_v4().simple());
    for stage in STAGES {
        let body = callback_body(stage, &provider_id, &agent, None);
        w.callback(&body, None).await;
    }
    w.receiver_fails.store(1, Ordering::SeqCst);
    let n = w
        .step(
            "retry/webhook-delivery/failed",
            w.deliver_next(Duration::from_secs(5)),
        )
        .await;
    expect("first attempt", n == 1, n)?;
    w.advance(Duration::from_secs(2));
    let n = w
        .step(
            "retry/webhook-delivery/delivered",
            w.deliver_next(Duration::from_secs(10)),
        )
        .await;
    expect(
        "second attempt",
        n == 1 && w.receiver.requests().len() == 2,
        n,
    )?;
    worlds.push(w);

    // A held call: accepted for later, placed by the reconciler when due.
    let w = World::new(emu, &rec).await;
    let not_before = at_ms(NOW_MS + 3_600_000).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (status, reply) = w
        .step(
            "held/trigger-call/scheduled",
            w.trigger(json!({"not_before": not_before})),
        )
        .await;
    expect("held call", status == 202, format!("{status} {reply}"))?;
    w.advance(Duration::from_secs(3_660));
    w.provider
        .then_ok(format!("prov_{}", Uuid::new_v4().simple()));
    let report = w.reconcile("held/reconciler/placed").await;
    expect(
        "held call placed",
        report["repaired"]["scheduled_call_dialed"] == 1,
        &report,
    )?;
    worlds.push(w);

    // An event stored but never queued (the send failed): the reconciler queues it.
    let w = World::new(emu, &rec).await;
    let agent = w.seeded.agent.provider_agent_id.clone();
    let provider_id = format!("prov_in_{}", Uuid::new_v4().simple());
    let failing: Arc<dyn EventQueue> =
        Arc::new(FaultyQueue::new(w.ports.queue.clone(), w.plan.clone()));
    w.plan.fail_always("send");
    for stage in STAGES {
        let body = callback_body(stage, &provider_id, &agent, None);
        w.callback(&body, Some(failing.clone())).await;
    }
    w.plan.clear();
    w.advance(Duration::from_secs(600));
    let report = w.reconcile("repair_event/reconciler/enqueued").await;
    expect(
        "event repaired",
        report["repaired"]["event_enqueued"] == 1,
        &report,
    )?;
    worlds.push(w);

    // A request that died before the provider answered: its queued call and its
    // Idempotency-Key lease.
    let w = World::new(emu, &rec).await;
    w.plan.hang("create_phone_call", 1);
    {
        // The request dies (dropped, as a killed execution environment) once it is waiting
        // for the provider: its call record and key lease are written.
        let request = w.trigger(json!({}));
        tokio::pin!(request);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while w.plan.calls("create_phone_call") == 0 {
            tokio::select! {
                answered = &mut request => return Err(format!("the request answered: {answered:?}")),
                _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
            expect(
                "the provider was called",
                tokio::time::Instant::now() < deadline,
                "in 10 s",
            )?;
        }
    }
    w.plan.clear();
    w.advance(Duration::from_secs(600));
    let report = w.reconcile("repair_lease/reconciler/dial_unknown").await;
    expect(
        "lease repaired",
        report["repaired"]
            .as_object()
            .is_some_and(|m| !m.is_empty()),
        &report,
    )?;
    worlds.push(w);

    // An unclear provider answer: dial_unknown, failed at its deadline.
    let w = World::new(emu, &rec).await;
    w.provider
        .then_err(ProviderError::Timeout(Duration::from_secs(5)));
    let (status, reply) = w.trigger(json!({})).await;
    expect("dial unknown", status == 502, format!("{status} {reply}"))?;
    w.advance(Duration::from_secs(16 * 60));
    let report = w.reconcile("repair_dial_unknown/reconciler/failed").await;
    expect(
        "dial_unknown repaired",
        report["repaired"]["call_failed"] == 1,
        &report,
    )?;
    worlds.push(w);

    // A dialing call the provider never reported: failed when stale.
    let w = World::new(emu, &rec).await;
    w.provider
        .then_ok(format!("prov_{}", Uuid::new_v4().simple()));
    let (status, reply) = w.trigger(json!({})).await;
    expect("dialing", status == 200, format!("{status} {reply}"))?;
    w.advance(Duration::from_secs(3 * 3600 + 60));
    let report = w.reconcile("repair_stale/reconciler/failed").await;
    expect(
        "stale repaired",
        report["repaired"]["call_failed"] == 1,
        &report,
    )?;
    worlds.push(w);

    // An ended call whose analysis never came: completed after its grace.
    let w = World::new(emu, &rec).await;
    let agent = w.seeded.agent.provider_agent_id.clone();
    let account = w.seeded.account.id.to_string();
    let provider_id = format!("prov_{}", Uuid::new_v4().simple());
    w.provider.then_ok(provider_id.clone());
    let (_, reply) = w.trigger(json!({})).await;
    let call_id = reply["call_id"].as_str().unwrap_or("").to_string();
    for stage in ["call_started", "call_ended"] {
        let body = callback_body(stage, &provider_id, &agent, Some((&call_id, &account)));
        w.callback(&body, None).await;
    }
    w.advance(Duration::from_secs(11 * 60));
    let report = w.reconcile("repair_grace/reconciler/completed").await;
    expect(
        "grace repaired",
        report["repaired"]["call_completed_without_analysis"] == 1,
        &report,
    )?;
    worlds.push(w);

    // A pass with nothing due.
    let w = World::new(emu, &rec).await;
    w.reconcile("reconciler/reconciler/pass").await;
    worlds.push(w);

    let requests = rec.requests();
    let mut segments = Vec::new();
    for w in &worlds {
        let segs = w.segments.lock().unwrap_or_else(|p| p.into_inner());
        for s in segs.iter() {
            let reqs: Vec<Value> = requests
                .iter()
                .filter(|r| r.segment == s.name)
                .map(|r| r.entry.clone())
                .collect();
            let mut parts = s.name.splitn(3, '/');
            let scenario = parts.next().unwrap_or("");
            let function = parts.next().unwrap_or("");
            segments.push(json!({
                "name": s.name,
                "scenario": scenario,
                "function": function,
                "repaired": s.repaired.as_ref().map(|r| r["repaired"].clone()),
                "provider_calls": s.provider_calls,
                "webhook_posts": s.webhook_posts,
                "requests": reqs,
            }));
        }
    }
    let _ = &worlds.first().map(|w| &w.store);
    Ok(json!({
        "format": 1,
        "about": "AWS requests of the real functions per scenario step, recorded on the emulator by `make bench-scale-profiles` (tests/src/scale); read by tools/capacity_model.py (docs/benchmarks.md, \"Capacity model\").",
        // How many values each sharded key's `<n>` takes (the code's constants), so the
        // model divides a shard's load by the right count.
        "shards": {
            "due_kind": domain::ports::store::due::DUE_SHARDS,
            "delivery_log": domain::ports::store::deliveries::LOG_SHARDS,
            "call_list": domain::ports::store::calls::LIST_SHARDS,
        },
        "segments": segments,
    }))
}
