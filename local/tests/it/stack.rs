//! `make run` for real: the `local-stack` binary with its own emulator, every port chosen by
//! the OS. Places a call through the printed API, sees the simulated provider call back into
//! the gateway, and stops everything with SIGTERM.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The workspace's virtualenv (where `make venv` installs moto).
pub(crate) fn venv() -> PathBuf {
    match std::env::var("VENV") {
        Ok(v) if PathBuf::from(&v).is_absolute() => PathBuf::from(v),
        Ok(v) if !v.is_empty() => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(v),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv"),
    }
}

/// The running stack; stopped with SIGTERM (then SIGKILL) if the test fails half-way.
pub(crate) struct Stack {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Stack {
    fn start(dir: &Path) -> Stack {
        Stack::start_with(dir, &[])
    }

    /// The stack with extra environment variables (settings of the functions or the stack).
    pub(crate) fn start_with(dir: &Path, extra: &[(&str, &str)]) -> Stack {
        let moto = venv().join("bin/moto_server");
        assert!(
            moto.exists(),
            "{} not found: run `make venv` (make test does) before this test",
            moto.display()
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_local-stack"))
            .env("API_PORT", "0")
            .env("RECEIVER_PORT", "0")
            .env("PROVIDER_PORT", "0")
            .env("MOTO_PORT", "0")
            .env("LOCAL_DIR", dir)
            .env("VENV", venv())
            .env("SIM_CALL_SECONDS", "300ms")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start local-stack");
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().expect("lock").push(line);
                }
            });
        }
        Stack { child, lines }
    }

    pub(crate) fn output(&self) -> Vec<String> {
        self.lines.lock().expect("lock").clone()
    }

    /// Waits for a line containing `needle` (the process gives no other signal).
    pub(crate) async fn wait_for_line(&mut self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(l) = self.output().into_iter().find(|l| l.contains(needle)) {
                return l;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "local-stack exited ({status}) before printing {needle:?}:\n{}",
                    self.output().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "no line with {needle:?} within {within:?}:\n{}",
                self.output().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// Waits for the process to exit; its status.
    async fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[tokio::test]
async fn local_stack_runs_a_call_and_stops_cleanly() {
    let dir = std::env::temp_dir().join(format!("local-stack-{}", uuid::Uuid::new_v4().simple()));
    let mut stack = Stack::start(&dir);
    stack
        .wait_for_line("local stack ready", Duration::from_secs(120))
        .await;
    let file = dir.join("stack.json");
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("stack.json")).expect("JSON");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "stack.json is readable by its owner only");
    }
    let s = |k: &str| {
        info[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k} in stack.json"))
            .to_string()
    };
    let (api, key, receiver, provider, emulator) = (
        s("api_base_url"),
        s("api_key"),
        s("receiver_url"),
        s("provider_url"),
        s("emulator_url"),
    );
    assert_eq!(s("account_id"), "acct_demo");
    // The key is printed in the banner (and its curl line), never in a log line.
    let with_key: Vec<String> = stack
        .output()
        .into_iter()
        .filter(|l| l.contains(&key))
        .collect();
    assert_eq!(with_key.len(), 2, "{with_key:?}");
    assert!(with_key[1].trim_start().starts_with("curl -sS -X POST"));

    // The README's quickstart request, run as a newcomer would paste it.
    let curl = readme_quickstart_curl();
    let out = Command::new("bash")
        .args(["-c", &curl])
        .env("BVAI_API", &api)
        .env("BVAI_API_KEY", &key)
        .output()
        .expect("run the README's curl");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: Value = serde_json::from_slice(&out.stdout).expect("the README curl prints JSON");
    assert_eq!(body["success"], true, "{body}");
    let call_id = body["call_id"].as_str().expect("call_id").to_string();
    stack
        .wait_for_line("POST /api/trigger-call -> 200", Duration::from_secs(5))
        .await;
    stack
        .wait_for_line(
            "POST /v2/create-phone-call -> 201 sim_call_1",
            Duration::from_secs(5),
        )
        .await;
    let client = reqwest::Client::new();
    let res = client
        .get(format!("{api}/api/calls/{call_id}"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("get call");
    assert_eq!(res.status(), 200);

    // The simulated provider completes the call and the signed webhook reaches the receiver.
    stack
        .wait_for_line(
            &format!("call.completed call_id={call_id} attempt=1 verified=yes"),
            Duration::from_secs(30),
        )
        .await;
    let log = std::fs::read_to_string(s("receiver_log")).expect("receiver log");
    let entry: Value = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
        .find(|e| e["path"] == "/webhooks")
        .expect("the webhook in the receiver's log");
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(entry["body_base64"].as_str().expect("body"))
        .expect("base64");
    // Checked independently of the receiver: HMAC-SHA256 of the raw bytes with the API key.
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_bytes()).expect("hmac");
    mac.update(&raw);
    let expected = hex::encode(mac.finalize().into_bytes());
    assert_eq!(
        entry["headers"]["x-signature"].as_str(),
        Some(expected.as_str())
    );
    let payload: Value = serde_json::from_slice(&raw).expect("payload");
    assert_eq!(payload["event"], "call.completed");
    assert_eq!(payload["call_id"], call_id.as_str());
    assert_eq!(payload["metadata"]["source"], "readme");
    let res = client
        .get(format!("{api}/api/calls/{call_id}"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("get call");
    let call: Value = res.json().await.expect("json");
    assert_eq!(call["status"], "completed");

    // The functions' EMF metric lines (docs/deploy.md, "Metrics") reach the stack's output:
    // the real lines of this trigger-call, its callbacks and its delivery, valid EMF in the
    // local namespace, with ids and never the key, the number or the name.
    stack
        .wait_for_line("\"DeliveryAttempts\"", Duration::from_secs(10))
        .await;
    let raw_emf: Vec<String> = stack
        .output()
        .into_iter()
        .filter(|l| l.starts_with("{\"_aws\""))
        .collect();
    let emf: Vec<Value> = raw_emf
        .iter()
        .map(|l| lambda_glue::metrics::check(l).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let find = |function: &str, metric: &str, pred: &dyn Fn(&Value) -> bool| -> Value {
        emf.iter()
            .find(|v| v["Function"] == function && v.get(metric).is_some() && pred(v))
            .cloned()
            .unwrap_or_else(|| panic!("no {function} line with {metric}:\n{}", raw_emf.join("\n")))
    };
    for v in &emf {
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            lambda_glue::metrics::DEFAULT_NAMESPACE
        );
    }
    find("trigger-call", "TriggerRequests", &|v| {
        v["Result"] == "accepted"
    });
    let dial = find("trigger-call", "Dials", &|v| {
        v["call_id"] == call_id.as_str()
    });
    assert_eq!(
        (dial["Result"].as_str(), dial["account_id"].as_str()),
        (Some("placed"), Some("acct_demo"))
    );
    assert!(dial["DialLatency"].as_u64().is_some(), "{dial}");
    find("call-completed", "Callbacks", &|v| {
        v["Type"] == "call_analyzed" && v["Result"] == "applied"
    });
    find("call-completed", "Completions", &|v| {
        v["Path"] == "analyzed"
    });
    let delivered = find("webhook-delivery", "DeliveryAttempts", &|v| {
        v["Outcome"] == "delivered" && v["account_id"] == "acct_demo"
    });
    assert_eq!(delivered["ErrorClass"], "none");
    for m in [
        "FirstPostDelay",
        "DeliveryLatencyFirstAttempt",
        "DeliveryLatency",
        "DeliveryDueLag",
    ] {
        assert!(delivered[m].as_u64().is_some(), "{m} in {delivered}");
    }
    for line in &raw_emf {
        for secret in [key.as_str(), "+14155550123", "4155550123", "Jane"] {
            assert!(!line.contains(secret), "{secret} in an EMF line: {line}");
        }
    }

    // `make smoke` (scripts/smoke.sh, the post-deploy smoke test of docs/deploy.md) passes
    // against the local stack's URL and key: seven checks, ending in a delivered webhook.
    let smoke = Command::new("make")
        .args(["-s", "smoke"])
        .arg(format!("URL={api}"))
        .arg(format!("KEY={key}"))
        .arg("WAIT=60")
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .env_remove("TOKEN")
        .output()
        .expect("run make smoke");
    let smoke_out = String::from_utf8_lossy(&smoke.stdout).into_owned();
    assert!(
        smoke.status.success(),
        "make smoke failed:\n{smoke_out}\n{}",
        String::from_utf8_lossy(&smoke.stderr)
    );
    assert_eq!(
        smoke_out.lines().filter(|l| l.starts_with("ok ")).count(),
        7,
        "{smoke_out}"
    );
    assert!(
        smoke_out.contains("delivered: attempt 1, HTTP 200")
            && smoke_out.contains(&format!("smoke test passed: 7 checks against {api}")),
        "{smoke_out}"
    );
    assert!(
        !smoke_out.contains(&key),
        "the smoke test never prints the key"
    );

    // The other parts answer.
    let res = client
        .post(&receiver)
        .body("{}")
        .send()
        .await
        .expect("receiver");
    assert_eq!(res.status(), 401, "an unsigned request is refused");
    let log = std::fs::read_to_string(s("receiver_log")).expect("receiver log");
    assert_eq!(
        log.lines().count(),
        3,
        "the two webhooks (README call, smoke test) and the refused request"
    );
    let res = client
        .post(format!("{provider}/v2/create-phone-call"))
        .json(&json!({}))
        .send()
        .await
        .expect("provider");
    assert_eq!(res.status(), 401);
    let res = client
        .get(format!("{emulator}/moto-api/"))
        .send()
        .await
        .expect("emulator");
    assert!(res.status().is_success());

    // SIGTERM stops everything it started.
    stack.terminate();
    let status = stack
        .wait_exit(Duration::from_secs(15))
        .await
        .expect("local-stack exits after SIGTERM");
    assert!(status.success(), "exit status {status}");
    let out = stack.output().join("\n");
    assert!(out.contains("stopping (SIGTERM)"), "{out}");
    assert!(out.contains("emulator stopped"), "{out}");
    for url in [&api, &emulator, &receiver, &provider] {
        let down = client
            .get(url.as_str())
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        assert!(down.is_err(), "{url} still answers after the stack stopped");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The trigger-call command of the README's quickstart (between the `quickstart-curl` markers).
fn readme_quickstart_curl() -> String {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let start = readme
        .find("<!-- quickstart-curl -->")
        .expect("quickstart-curl marker in README.md");
    let rest = &readme[start..];
    let end = rest
        .find("<!-- /quickstart-curl -->")
        .expect("closing marker");
    let block = &rest[..end];
    let code = block
        .split("```")
        .nth(1)
        .expect("a code block inside the markers");
    let code = code.trim_start_matches("sh").trim();
    assert!(
        code.starts_with("curl"),
        "the quickstart block is a curl command: {code}"
    );
    code.to_string()
}

/// The running stack's API, key and provider simulator (from its `stack.json`), for the tests
/// that place calls and turn the simulator's fault knobs.
struct StackApi {
    client: reqwest::Client,
    api: String,
    key: String,
    provider: String,
}

impl StackApi {
    /// A stack of its own (in a fresh folder, with `extra` in its environment), ready, and
    /// its API.
    async fn start(extra: &[(&str, &str)]) -> (Stack, PathBuf, StackApi) {
        let dir =
            std::env::temp_dir().join(format!("local-stack-{}", uuid::Uuid::new_v4().simple()));
        let mut stack = Stack::start_with(&dir, extra);
        stack
            .wait_for_line("local stack ready", Duration::from_secs(120))
            .await;
        let sa = StackApi::from_dir(&dir);
        (stack, dir, sa)
    }

    fn from_dir(dir: &Path) -> StackApi {
        let info: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("stack.json")).expect("stack.json"),
        )
        .expect("JSON");
        let field = |name: &str| info[name].as_str().expect(name).to_string();
        StackApi {
            client: reqwest::Client::new(),
            api: field("api_base_url"),
            key: field("api_key"),
            provider: field("provider_url"),
        }
    }

    /// Sets the simulator's fault knobs (docs/local-stack.md "Fault knobs").
    async fn knobs(&self, v: Value) {
        let res = self
            .client
            .post(format!("{}/sim/faults", self.provider))
            .json(&v)
            .send()
            .await
            .expect("set knobs");
        assert_eq!(res.status(), 200, "knobs {v}");
    }

    /// `POST /api/trigger-call` for the demo number with `idempotency_key`.
    async fn trigger(&self, idempotency_key: &str) -> (u16, Value) {
        let res = self
            .client
            .post(format!("{}/api/trigger-call", self.api))
            .bearer_auth(&self.key)
            .header("idempotency-key", idempotency_key)
            .json(&json!({"phone": "+15551234567"}))
            .send()
            .await
            .expect("trigger-call");
        let status = res.status().as_u16();
        (status, res.json::<Value>().await.expect("JSON answer"))
    }
}

/// The call-lifecycle faults, shown with the simulator's knobs (docs/local-stack.md): a lost
/// provider answer is `dial_unknown`, replayed to the retry without a second dial and completed
/// by the late callbacks; a missing `call_analyzed` still ends in a webhook after the grace; a
/// 500 with no call placed is resolved as failed after the dial deadline.
#[tokio::test]
async fn local_stack_shows_the_lifecycle_faults() {
    let (mut stack, dir, sa) = StackApi::start(&[
        ("PROVIDER_TIMEOUT_MS", "500"),
        ("SIM_ACCEPT_HOLD", "2s"),
        ("CALL_ANALYSIS_GRACE", "2s"),
        ("DIAL_UNKNOWN_DEADLINE", "3s"),
        ("RECONCILE_EVERY", "1s"),
    ])
    .await;
    let (client, api, key) = (sa.client.clone(), sa.api.clone(), sa.key.clone());
    let knobs = |v: Value| sa.knobs(v);
    let trigger = |k: &'static str| sa.trigger(k);
    let status_of = |call_id: String| {
        let (client, api, key) = (client.clone(), api.clone(), key.clone());
        async move {
            let res = client
                .get(format!("{api}/api/calls/{call_id}"))
                .bearer_auth(&key)
                .send()
                .await
                .expect("get call");
            res.json::<Value>().await.expect("JSON")["status"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }
    };

    // 1. The provider accepts but its answer comes after our timeout.
    knobs(json!({"create_call": "timeout_after_accept"})).await;
    let (status, first) = trigger("lifecycle-1").await;
    assert_eq!(
        (status, first["error"]["code"].as_str()),
        (502, Some("provider_outcome_unknown")),
        "{first}"
    );
    let unknown_id = first["error"]["call_id"].as_str().unwrap().to_string();
    let (status, again) = trigger("lifecycle-1").await;
    assert_eq!((status, &again), (502, &first), "the retry is replayed");
    stack
        .wait_for_line(
            &format!("call.completed call_id={unknown_id} attempt=1 verified=yes"),
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(status_of(unknown_id.clone()).await, "completed");
    let dials = stack
        .output()
        .iter()
        .filter(|l| l.contains("POST /v2/create-phone-call"))
        .count();
    assert_eq!(dials, 1, "one dial for the key and its retry");

    // 2. No call_analyzed: the webhook comes after the grace, built without the analysis.
    knobs(json!({"omit_events": ["call_analyzed"]})).await;
    let (status, placed) = trigger("lifecycle-2").await;
    assert_eq!(status, 200, "{placed}");
    let no_analysis_id = placed["call_id"].as_str().unwrap().to_string();
    stack
        .wait_for_line(
            &format!("call.completed call_id={no_analysis_id} attempt=1 verified=yes"),
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(status_of(no_analysis_id).await, "completed");

    // 3. A 500 and no call placed: unknown, then failed after the dial deadline.
    knobs(json!({"create_call": "http_500"})).await;
    let (status, failed) = trigger("lifecycle-3").await;
    assert_eq!(
        (status, failed["error"]["code"].as_str()),
        (502, Some("provider_outcome_unknown")),
        "{failed}"
    );
    let failed_id = failed["error"]["call_id"].as_str().unwrap().to_string();
    assert_eq!(status_of(failed_id.clone()).await, "dial_unknown");
    let deadline = Instant::now() + Duration::from_secs(30);
    while status_of(failed_id.clone()).await != "failed" {
        assert!(Instant::now() < deadline, "not failed after the deadline");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stack.terminate();
    let _ = stack.wait_exit(Duration::from_secs(15)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 25, window 2, for real: a call ended by the reconciler, not by the provider, still
/// reaches the customer's receiver, exactly once, for an account on the default subscription.
/// (a) The provider accepts the call and never calls back: failed after `CALL_STALE_AFTER`.
/// (b) The dial's outcome is unclear (a 500) and no callback comes: failed after
/// `DIAL_UNKNOWN_DEADLINE`. On main before this change neither sent a webhook. A normal call
/// placed last, and delivered after several more reconciler passes, bounds the wait for a
/// second webhook of (a) or (b).
#[tokio::test]
async fn local_stack_reports_calls_the_provider_never_reports_with_one_webhook_each() {
    let (mut stack, dir, sa) = StackApi::start(&[
        ("CALL_STALE_AFTER", "3s"),
        ("DIAL_UNKNOWN_DEADLINE", "3s"),
        ("RECONCILE_EVERY", "1s"),
    ])
    .await;
    let knobs = |v: Value| sa.knobs(v);
    let trigger = || async { sa.trigger(&uuid::Uuid::new_v4().to_string()).await };
    let webhooks_of = |stack: &Stack, call_id: &str| {
        stack
            .output()
            .iter()
            .filter(|l| l.contains("receiver: POST") && l.contains(&format!("call_id={call_id} ")))
            .count()
    };

    // (a) Accepted, then silence.
    knobs(json!({"omit_events": ["call_started", "call_ended", "call_analyzed"]})).await;
    let (status, placed) = trigger().await;
    assert_eq!(status, 200, "{placed}");
    let silent = placed["call_id"].as_str().unwrap().to_string();
    // (b) An unclear dial (the provider answers 500), and no callback.
    knobs(json!({"create_call": "http_500", "omit_events": ["call_started", "call_ended", "call_analyzed"]})).await;
    let (status, unclear) = trigger().await;
    assert_eq!(
        (status, unclear["error"]["code"].as_str()),
        (502, Some("provider_outcome_unknown")),
        "{unclear}"
    );
    let unclear = unclear["error"]["call_id"].as_str().unwrap().to_string();
    for id in [&silent, &unclear] {
        stack
            .wait_for_line(
                &format!("call.completed call_id={id} attempt=1 verified=yes"),
                Duration::from_secs(60),
            )
            .await;
    }
    // A normal call after them: by the time its webhook arrives, the reconciler has run
    // several more passes over the two failed calls.
    knobs(json!({})).await;
    let (status, normal) = trigger().await;
    assert_eq!(status, 200, "{normal}");
    let normal = normal["call_id"].as_str().unwrap().to_string();
    stack
        .wait_for_line(
            &format!("call.completed call_id={normal} attempt=1 verified=yes"),
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(webhooks_of(&stack, &silent), 1, "one webhook for (a)");
    assert_eq!(webhooks_of(&stack, &unclear), 1, "one webhook for (b)");
    let received: Vec<Value> = std::fs::read_to_string(dir.join("webhooks.jsonl"))
        .expect("webhooks.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    for id in [&silent, &unclear] {
        let bodies: Vec<Value> = received
            .iter()
            .filter_map(|r| {
                use base64::Engine;
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(r["body_base64"].as_str()?)
                    .ok()?;
                serde_json::from_slice::<Value>(&raw).ok()
            })
            .filter(|b| b["call_id"] == json!(id))
            .collect();
        assert_eq!(bodies.len(), 1, "{id}: {bodies:?}");
        assert_eq!(bodies[0]["event"], "call.completed");
        assert_eq!(bodies[0]["duration_seconds"], 0);
        assert_eq!(bodies[0]["transcript"], json!([]));
    }
    let dials = stack
        .output()
        .iter()
        .filter(|l| l.contains("POST /v2/create-phone-call"))
        .count();
    assert_eq!(dials, 3, "one dial per call, none repeated");
    stack.terminate();
    let _ = stack.wait_exit(Duration::from_secs(15)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Held and scheduled calls (issue 17): placed by the reconciler on its short schedule,
/// exactly one dial per call; a cancelled one and one to a number put on the do-not-call list
/// are never dialed; a suppressed number is refused at once.
#[tokio::test]
async fn local_stack_places_scheduled_calls_and_honours_cancels_and_the_do_not_call_list() {
    let dir = std::env::temp_dir().join(format!("local-stack-{}", uuid::Uuid::new_v4().simple()));
    let mut stack = Stack::start_with(&dir, &[("RECONCILE_EVERY", "1s")]);
    stack
        .wait_for_line("local stack ready", Duration::from_secs(120))
        .await;
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("stack.json")).expect("stack.json"))
            .expect("JSON");
    let (api, key) = (
        info["api_base_url"].as_str().unwrap().to_string(),
        info["api_key"].as_str().unwrap().to_string(),
    );
    let client = reqwest::Client::new();
    let in_two_seconds = domain::clock::rfc3339(chrono::Utc::now() + chrono::Duration::seconds(2));
    let schedule = |phone: &'static str| {
        let (client, api, key, at) = (
            client.clone(),
            api.clone(),
            key.clone(),
            in_two_seconds.clone(),
        );
        async move {
            let res = client
                .post(format!("{api}/api/trigger-call"))
                .bearer_auth(&key)
                .json(&json!({"phone": phone, "not_before": at, "when_closed": "hold"}))
                .send()
                .await
                .expect("trigger-call");
            (
                res.status().as_u16(),
                res.json::<Value>().await.expect("JSON"),
            )
        }
    };
    let call = |method: reqwest::Method, id: String| {
        let (client, api, key) = (client.clone(), api.clone(), key.clone());
        async move {
            let res = client
                .request(method, format!("{api}/api/calls/{id}"))
                .bearer_auth(&key)
                .send()
                .await
                .expect("calls API");
            (
                res.status().as_u16(),
                res.json::<Value>().await.expect("JSON"),
            )
        }
    };
    let suppressions = format!("{api}/api/integrations/api-webhooks/suppressions");

    let (status, placed) = schedule("+15551234567").await;
    assert_eq!(
        (status, placed["status"].as_str()),
        (202, Some("scheduled")),
        "{placed}"
    );
    let placed_id = placed["call_id"].as_str().unwrap().to_string();
    let (_, cancelled) = schedule("+15551234567").await;
    let cancelled_id = cancelled["call_id"].as_str().unwrap().to_string();
    let (status, got) = call(reqwest::Method::DELETE, cancelled_id.clone()).await;
    assert_eq!(
        (status, got["status"].as_str()),
        (200, Some("canceled")),
        "{got}"
    );
    let (_, suppressed) = schedule("+15559876543").await;
    let suppressed_id = suppressed["call_id"].as_str().unwrap().to_string();
    let res = client
        .put(format!("{suppressions}/%2B15559876543"))
        .send()
        .await
        .expect("PUT suppression");
    assert_eq!(res.status(), 200);
    let (status, refused) = schedule("+15559876543").await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (422, Some("number_suppressed")),
        "{refused}"
    );

    stack
        .wait_for_line(
            &format!("call.completed call_id={placed_id} attempt=1 verified=yes"),
            Duration::from_secs(60),
        )
        .await;
    // A few more passes: nothing else is dialed.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, got) = call(reqwest::Method::GET, suppressed_id.clone()).await;
        if got["status"] == "canceled" {
            assert_eq!(got["failure_reason"], "number_suppressed");
            break;
        }
        assert!(Instant::now() < deadline, "not cancelled: {got}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, got) = call(reqwest::Method::GET, placed_id.clone()).await;
    assert_eq!(got["status"], "completed", "{got}");
    let (status, got) = call(reqwest::Method::DELETE, placed_id).await;
    assert_eq!(
        (status, got["error"]["code"].as_str()),
        (409, Some("call_not_scheduled"))
    );
    let dials = stack
        .output()
        .iter()
        .filter(|l| l.contains("POST /v2/create-phone-call"))
        .count();
    assert_eq!(
        dials, 1,
        "one dial: the cancelled and the suppressed calls never rang"
    );
    let (_, list) = {
        let res = client.get(&suppressions).send().await.expect("GET list");
        (
            res.status().as_u16(),
            res.json::<Value>().await.expect("JSON"),
        )
    };
    assert_eq!(list["suppressions"][0]["phone"], "+15559876543");
    stack.terminate();
    let _ = stack.wait_exit(Duration::from_secs(15)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A receiver running `docs/examples/verify_standardwebhooks.py` (the official Standard
/// Webhooks library) with one signing secret; its stdout lines, `verified <event> <id>`.
struct ExampleReceiver {
    child: Child,
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl ExampleReceiver {
    fn start(secret: &str) -> ExampleReceiver {
        let python = venv().join("bin/python3");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../docs/examples/verify_standardwebhooks.py");
        let mut child = Command::new(&python)
            .arg(&script)
            .env("WEBHOOK_SECRET", secret)
            .env("PORT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e} (run `make venv`)", python.display()));
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        out.read_line(&mut first).expect("the example's first line");
        let port = first
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the example did not start (is standardwebhooks installed? `make venv`): {first:?}"));
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                sink.lock().expect("lock").push(line);
            }
        });
        ExampleReceiver { child, port, lines }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    fn verified(&self, event: &str) -> usize {
        let prefix = format!("verified {event} ");
        self.lines
            .lock()
            .expect("lock")
            .iter()
            .filter(|l| l.starts_with(&prefix))
            .count()
    }

    async fn wait_verified(&self, event: &str, n: usize, stack: &Stack) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.verified(event) < n {
            assert!(
                Instant::now() < deadline,
                "{event}: {} of {n} verified; receiver: {:?}\nstack:\n{}",
                self.verified(event),
                self.lines.lock().expect("lock"),
                stack.output().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for ExampleReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Issue 16 through `make run`: the demo account subscribes to all three events; a receiver
/// that verifies with the official Standard Webhooks library (the docs' Python example, with
/// the secret as the API shows it) verifies `call.started`, `call.completed` and `call.failed`
/// (a call the provider never reports, failed by the reconciler); after a rotation the
/// receiver holding only the old secret still verifies (the overlap's second signature) and
/// one holding only the new secret verifies too. Every attempt in the delivery log is
/// delivered, each with its trigger, status and duration.
#[tokio::test]
async fn local_stack_events_verify_with_the_official_library_across_a_rotation() {
    let dir = std::env::temp_dir().join(format!("local-stack-{}", uuid::Uuid::new_v4().simple()));
    let mut stack = Stack::start_with(
        &dir,
        &[("RECONCILE_EVERY", "1s"), ("CALL_STALE_AFTER", "3s")],
    );
    stack
        .wait_for_line("local stack ready", Duration::from_secs(120))
        .await;
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("stack.json")).expect("stack.json"))
            .expect("JSON");
    let s = |k: &str| {
        info[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k}"))
            .to_string()
    };
    let (api, key, provider) = (s("api_base_url"), s("api_key"), s("provider_url"));
    let client = reqwest::Client::new();
    let integration = format!("{api}/api/integrations/api-webhooks");

    // The secret as the dashboard reveals it (the same one make run wrote to stack.json).
    let revealed: Value = client
        .get(format!("{integration}/signing-secret"))
        .send()
        .await
        .expect("GET signing-secret")
        .json()
        .await
        .expect("JSON");
    let old = revealed["signing_secret"]
        .as_str()
        .expect("secret")
        .to_string();
    assert_eq!(old, s("webhook_signing_secret"));
    assert!(old.starts_with("whsec_"));

    let a = ExampleReceiver::start(&old);
    let res = client
        .patch(&integration)
        .json(&json!({"webhook_url": a.url(), "events": ["call.started", "call.completed", "call.failed"]}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let trigger = || {
        let (client, api, key) = (client.clone(), api.clone(), key.clone());
        async move {
            let res = client
                .post(format!("{api}/api/trigger-call"))
                .bearer_auth(&key)
                .json(&json!({"phone": "+15551234567"}))
                .send()
                .await
                .expect("trigger-call");
            assert_eq!(res.status(), 200);
        }
    };

    // A call that connects: call.started, then call.completed.
    trigger().await;
    a.wait_verified("call.started", 1, &stack).await;
    a.wait_verified("call.completed", 1, &stack).await;

    // A call the provider never reports: the reconciler fails it (CALL_STALE_AFTER 3 s).
    let res = client
        .post(format!("{provider}/sim/faults"))
        .json(&json!({"omit_events": ["call_started", "call_ended", "call_analyzed"]}))
        .send()
        .await
        .expect("sim faults");
    assert_eq!(res.status(), 200);
    trigger().await;
    a.wait_verified("call.failed", 1, &stack).await;
    let res = client
        .delete(format!("{provider}/sim/faults"))
        .send()
        .await
        .expect("sim faults");
    assert!(res.status().is_success());

    // Rotation: a new secret; the old one keeps signing during the overlap.
    let rotated: Value = client
        .post(format!("{integration}/signing-secret"))
        .send()
        .await
        .expect("rotate")
        .json()
        .await
        .expect("JSON");
    let new = rotated["signing_secret"]
        .as_str()
        .expect("secret")
        .to_string();
    assert_ne!(new, old);
    assert!(rotated["previous_expires_at"].is_string(), "{rotated}");
    trigger().await;
    a.wait_verified("call.started", 2, &stack).await;
    a.wait_verified("call.completed", 2, &stack).await;
    let b = ExampleReceiver::start(&new);
    let res = client
        .patch(&integration)
        .json(&json!({"webhook_url": b.url()}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(res.status(), 200);
    trigger().await;
    b.wait_verified("call.started", 1, &stack).await;
    b.wait_verified("call.completed", 1, &stack).await;

    // Exactly what was expected, each once; the log shows every attempt delivered.
    assert_eq!(
        (
            a.verified("call.started"),
            a.verified("call.completed"),
            a.verified("call.failed")
        ),
        (2, 2, 1)
    );
    assert_eq!(
        (b.verified("call.started"), b.verified("call.completed")),
        (1, 1)
    );
    let log: Value = client
        .get(format!("{integration}/deliveries?limit=100"))
        .send()
        .await
        .expect("deliveries")
        .json()
        .await
        .expect("JSON");
    let rows = log["deliveries"].as_array().expect("deliveries");
    assert_eq!(rows.len(), 7, "{log}");
    for row in rows {
        assert_eq!(row["outcome"], "delivered", "{row}");
        assert_eq!(row["trigger"], "automatic", "{row}");
        assert_eq!(row["http_status"], 204, "{row}");
        assert!(row["duration_ms"].is_u64(), "{row}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 26, for real: a call scheduled with the demo key is cancelled when the key is
/// regenerated (the settings route the page uses), listed as `canceled` / `key_rotated` with
/// the new key through `GET /api/calls`, reported with one webhook, and never dialed.
#[tokio::test]
async fn local_stack_rotation_cancels_the_old_keys_scheduled_call() {
    let (mut stack, dir, sa) = StackApi::start(&[("RECONCILE_EVERY", "1s")]).await;
    let not_before = (chrono::Utc::now() + chrono::Duration::minutes(10))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let res = sa
        .client
        .post(format!("{}/api/trigger-call", sa.api))
        .bearer_auth(&sa.key)
        .json(&json!({"phone": "+14155550123", "not_before": not_before}))
        .send()
        .await
        .expect("trigger-call");
    assert_eq!(res.status(), 202);
    let held: Value = res.json().await.expect("JSON");
    let call_id = held["call_id"].as_str().expect("call_id").to_string();

    let res = sa
        .client
        .post(format!("{}/api/integrations/api-webhooks/api-key", sa.api))
        .send()
        .await
        .expect("rotate");
    assert_eq!(res.status(), 201);
    let rotated: Value = res.json().await.expect("JSON");
    assert_eq!(rotated["canceled_scheduled_calls"], 1, "{rotated}");
    let new_key = rotated["api_key"].as_str().expect("new key").to_string();

    let res = sa
        .client
        .get(format!("{}/api/calls?status=canceled", sa.api))
        .bearer_auth(&new_key)
        .send()
        .await
        .expect("list");
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.expect("JSON");
    let row = page["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .find(|c| c["call_id"] == json!(call_id))
        .unwrap_or_else(|| panic!("the cancelled call is listed: {page}"))
        .clone();
    assert_eq!(row["failure_reason"], "key_rotated");
    // The old key no longer answers.
    let res = sa
        .client
        .get(format!("{}/api/calls", sa.api))
        .bearer_auth(&sa.key)
        .send()
        .await
        .expect("list with the old key");
    assert_eq!(res.status(), 403);
    stack
        .wait_for_line(
            &format!("call.completed call_id={call_id} attempt=1"),
            Duration::from_secs(60),
        )
        .await;
    let dials = stack
        .output()
        .iter()
        .filter(|l| l.contains("POST /v2/create-phone-call"))
        .count();
    assert_eq!(dials, 0, "the old key's call was dialed");
    stack.terminate();
    let _ = stack.wait_exit(Duration::from_secs(15)).await;
    let _ = std::fs::remove_dir_all(&dir);
}
