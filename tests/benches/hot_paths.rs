//! `make bench`: how fast the hot paths are, measured, never asserted.
//!
//! - pure CPU: request validation, phone parsing, calling-window checks, webhook signing;
//! - trigger-call end to end against the emulator and a local provider: latency percentiles
//!   and DynamoDB round trips per request;
//! - webhook delivery of a batch of 10 to a local receiver;
//! - the delivery pipeline's throughput on one core (issue 28): deliveries per second through
//!   `webhook_delivery::handle` on the in-memory store and queue, with real HTTP to a receiver
//!   on 127.0.0.1 on its own thread, next to a bare `reqwest` POST loop to the same receiver,
//!   both on a current-thread runtime, and their ratio.
//!
//! Emulator latency (about 7 ms a DynamoDB call) dominates the end-to-end figures; they are
//! for comparing builds on one machine, not for predicting AWS latency.

use domain::config::{self, Env};
use domain::ports::queue::DeliveryMessage;
use domain::ports::secrets::SecretStore;
use integration_tests::apigw::{ApiRequest, Build};
use integration_tests::counting::counting_dynamodb;
use integration_tests::fixtures;
use integration_tests::peer::TestServer;
use integration_tests::sqs::event_for;
use integration_tests::Emulator;
use serde_json::json;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn per_op(name: &str, iterations: u32, f: impl Fn()) {
    for _ in 0..iterations / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(iterations);
    println!("{name:<48} {ns:>10.0} ns/op");
}

fn percentiles(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{name:<48} p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  (n={})",
        p(0.5).as_secs_f64() * 1e3,
        p(0.9).as_secs_f64() * 1e3,
        p(0.99).as_secs_f64() * 1e3,
        samples.len()
    );
}

fn cpu() {
    let body = json!({"phone": "+15551234567", "name": "Jane Smith", "email": "jane@example.com",
        "agent_id": "4b0d6c1e-8a57-4c1e-9a0e-2f3b5d7c9e11", "metadata": {"source": "crm", "n": 7}});
    let raw = body.to_string();
    per_op("trigger-call body: parse + validate", 100_000, || {
        let map = lambda_glue::http::json_object(black_box(raw.as_bytes())).expect("object");
        black_box(trigger_call::request::parse(&map).expect("valid"));
    });
    per_op("phone: strict E.164", 1_000_000, || {
        black_box(domain::phone::PhoneNumber::parse(black_box("+15551234567")).ok());
    });
    per_op("phone: near miss with suggestion", 1_000_000, || {
        black_box(domain::phone::PhoneNumber::parse(black_box("+1 (555) 123-4567")).err());
    });
    let window: domain::calling_window::CallingWindow = serde_json::from_value(json!({
        "time_zone": "America/New_York",
        "days": {"mon": {"start": "09:00", "end": "17:00"}, "fri": {"start": "22:00", "end": "02:00"}}
    }))
    .expect("window");
    let now = chrono::Utc::now();
    per_op("calling window: is_open", 1_000_000, || {
        black_box(window.is_open(black_box(now)));
    });
    per_op("calling window: next_opening", 100_000, || {
        black_box(window.next_opening(black_box(now)));
    });
    let payload = "x".repeat(8 * 1024);
    let keys = domain::webhook::signing_secret::SigningKeys::new(vec![7; 32], None);
    let signed_at = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("a time");
    per_op(
        "webhook headers: sign 8 KiB (hex + Standard Webhooks)",
        100_000,
        || {
            black_box(domain::webhook::headers::webhook_headers(
                "call.completed",
                "bvai_live_key",
                &keys,
                domain::EventId::nil(),
                1,
                signed_at,
                black_box(payload.as_bytes()),
            ));
        },
    );
}

async fn end_to_end() {
    let emu = Emulator::connect().await;
    let (client, counter) = counting_dynamodb(&emu.config);
    let store = emu.table_with_client(client).await;
    let secrets = emu.secrets();
    let seeded = fixtures::agency(&store, &secrets).await;
    let provider = TestServer::fixed(
        201,
        json!({"call_id": "prov_1", "call_status": "registered"}),
    )
    .await;
    // The production composition root, configured as Lambda would be.
    let provider_secret = Emulator::unique("provider-secret");
    secrets
        .put(
            &provider_secret,
            &json!({"api_key": "bench-provider-key-0123456789"}).to_string(),
        )
        .await
        .expect("provider secret");
    let env = Env::process()
        .with(config::TABLE_NAME, store.table())
        .with(config::PROVIDER_SECRET_NAME, provider_secret)
        .with(config::PROVIDER_BASE_URL, provider.url())
        .with(config::PROVIDER_TIMEOUT_MS, "5000")
        // 200 requests with one key in well under a minute: above the default per-key limit
        // (issue 13), which is not what this measures.
        .with(config::API_RATE_LIMIT_PER_MINUTE, "100000");
    let config = trigger_call::Config::from_env(&env).expect("trigger-call config");
    let ports = trigger_call::Ports::aws(&emu.config, &config)
        .await
        .expect("trigger-call ports");
    // The same table through the client that counts its round trips.
    let ports = trigger_call::Ports {
        store: Arc::new(store.clone()),
        ..ports
    };
    let deps = trigger_call::Deps::new(ports, &config);
    let n = 200;
    let mut samples = Vec::with_capacity(n);
    counter.reset();
    for i in 0..n {
        let req = ApiRequest::post("/api/trigger-call")
            .bearer(&seeded.api_key)
            .header("idempotency-key", &format!("bench-{i}"))
            .json(&json!({"phone": "+15551234567", "name": "Jane"}))
            .build();
        let t = Instant::now();
        let res = trigger_call::handle(req, &deps).await;
        samples.push(t.elapsed());
        assert_eq!(res.status(), 200);
    }
    percentiles("trigger-call (emulator + local provider)", samples);
    println!(
        "{:<48} {:>10.2}",
        "DynamoDB round trips per trigger-call",
        counter.count() as f64 / n as f64
    );

    let receiver = TestServer::fixed(200, json!({})).await;
    fixtures::update_account(&store, &seeded.account.id, |a| {
        a.webhook_url = Some(receiver.url())
    })
    .await;
    let queue_url = emu.queue().await;
    let env = env
        .with(config::EVENTS_QUEUE_URL, queue_url)
        .with(config::API_KEY_SECRET_PREFIX, seeded.secret_prefix.clone())
        .with(config::WEBHOOK_TIMEOUT_MS, "10000")
        .with(config::WEBHOOK_ALLOW_INSECURE_LOCAL, "1");
    let delivery = webhook_delivery::Deps::from_env(&emu.config, &env)
        .await
        .expect("webhook-delivery deps");
    let mut samples = Vec::new();
    for _ in 0..20 {
        let mut msgs = Vec::new();
        for _ in 0..10 {
            let e = fixtures::stored_event(&store, &seeded).await;
            msgs.push(DeliveryMessage::first(
                e.id,
                seeded.account.id.clone(),
                e.call_id,
            ));
        }
        let t = Instant::now();
        let res = webhook_delivery::handle(event_for(&msgs), &delivery).await;
        samples.push(t.elapsed());
        assert!(res.batch_item_failures.is_empty());
    }
    percentiles("webhook-delivery: batch of 10 (emulator)", samples);
}

/// A receiver on its own thread (its own current-thread runtime): answers every POST 200
/// after reading the body. Returns its URL.
fn receiver_thread() -> String {
    use http_body_util::BodyExt;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("receiver runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr"))
                .expect("send addr");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        |req: hyper::Request<hyper::body::Incoming>| async move {
                            let _ = req.into_body().collect().await;
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(
                                http_body_util::Full::new(bytes::Bytes::from_static(b"ok")),
                            ))
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    let addr = rx.recv().expect("receiver address");
    format!("http://{addr}/webhooks")
}

/// Deliveries per second through the real pipeline (in-memory store, queue and secrets;
/// real HTTP), in batches of 10 as SQS hands them over.
async fn pipeline_rate(
    deps: &webhook_delivery::Deps,
    store: &in_memory::MemoryStore,
    seeded: &fixtures::Seeded,
    batches: usize,
) -> f64 {
    let mut prepared = Vec::with_capacity(batches);
    for _ in 0..batches {
        let mut msgs = Vec::with_capacity(10);
        for _ in 0..10 {
            let e = fixtures::stored_event(store, seeded).await;
            msgs.push(DeliveryMessage::first(
                e.id,
                seeded.account.id.clone(),
                e.call_id,
            ));
        }
        prepared.push(event_for(&msgs));
    }
    let t = Instant::now();
    for batch in prepared {
        let res = webhook_delivery::handle(batch, deps).await;
        assert!(res.batch_item_failures.is_empty());
    }
    (batches * 10) as f64 / t.elapsed().as_secs_f64()
}

/// POSTs per second of a bare `reqwest` loop: the same body, 10 at a time.
async fn bare_rate(client: &reqwest::Client, url: &str, body: &str, batches: usize) -> f64 {
    let t = Instant::now();
    for _ in 0..batches {
        let posts = (0..10).map(|_| async {
            let res = client
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .expect("post");
            assert!(res.status().is_success());
            let _ = res.bytes().await;
        });
        futures::future::join_all(posts).await;
    }
    (batches * 10) as f64 / t.elapsed().as_secs_f64()
}

/// The delivery pipeline against a bare POST loop, on one core (a current-thread runtime;
/// the receiver runs on its own thread).
fn pipeline_throughput() {
    let url = receiver_thread();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        use integration_tests::deps::{NoProvider, Ports, Tunables};
        let clock: Arc<dyn domain::clock::Clock> = Arc::new(domain::clock::SystemClock);
        let store = Arc::new(in_memory::MemoryStore::new());
        let secrets = Arc::new(in_memory::MemorySecrets::new());
        let tunables = Tunables::default();
        let seeded = fixtures::seed(
            store.as_ref(),
            secrets.as_ref(),
            &tunables.secret_prefix,
            domain::model::Plan::Agency,
            true,
            chrono::Utc::now(),
        )
        .await;
        fixtures::update_account(store.as_ref(), &seeded.account.id, |a| {
            a.webhook_url = Some(url.clone())
        })
        .await;
        fixtures::signing_secret(store.as_ref(), secrets.as_ref(), &seeded.account.id).await;
        let ports = Ports {
            store: store.clone(),
            queue: Arc::new(in_memory::MemoryQueue::new(clock.clone())),
            secrets: secrets.clone(),
            provider: Arc::new(NoProvider),
            clock,
        };
        // The fairness cap at the batch size: one account's batch is never re-parked (this
        // measures the pipeline, not the fairness policy).
        let deps = ports.webhook_delivery(&Tunables {
            account_concurrency: 10,
            ..tunables
        });
        let body = fixtures::stored_event(store.as_ref(), &seeded)
            .await
            .payload;
        let client = reqwest::Client::new();
        // Warm both (connections, caches), then alternate three rounds of each.
        pipeline_rate(&deps, &store, &seeded, 20).await;
        bare_rate(&client, &url, &body, 20).await;
        let (mut pipeline, mut bare) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            pipeline.push(pipeline_rate(&deps, &store, &seeded, 300).await);
            bare.push(bare_rate(&client, &url, &body, 300).await);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (p, b) = (median(&mut pipeline), median(&mut bare));
        println!(
            "{:<48} {:>10.0} /s  ({} B payload, batches of 10, median of 3)",
            "delivery pipeline, one core (in-memory + HTTP)",
            p,
            body.len()
        );
        println!(
            "{:<48} {:>10.0} /s",
            "bare reqwest POST loop, same receiver", b
        );
        println!("{:<48} {:>10.2}", "pipeline / bare (goal >= 0.5)", p / b);
    });
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn main() {
    println!("== CPU");
    cpu();
    println!("== end to end");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(end_to_end());
    drop(rt);
    println!("== delivery pipeline throughput, one core");
    pipeline_throughput();
    if let Some(kib) = rss_kib() {
        println!(
            "{:<48} {:>10} KiB",
            "peak resident memory (whole bench process)", kib
        );
    }
}
