//! The SDK's HTTP client (`aws_adapters::http_client::SdkHttpClient`, reqwest on the shared
//! root store) under transport faults: what the SDK's retry strategy sees must be what its
//! own client gave it, or a dropped connection would fail a write that a retry would have
//! saved, and a hung endpoint would hang the function.
//!
//! A raw TCP server plays DynamoDB and breaks the exchange on purpose; the tests count the
//! requests it received. The last tests check the functions' own configuration
//! (`aws_adapters::lambda_sdk_config`) the same way: what it signs with, and how often it tries.

use aws_sdk_dynamodb::config::StalledStreamProtectionConfig;
use aws_sdk_dynamodb::config::{retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_dynamodb::error::SdkError;
use aws_smithy_runtime_api::client::result::DispatchFailure;
use domain::ids::CallId;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the fake DynamoDB does with the n-th request (0-based).
#[derive(Clone, Copy)]
enum Act {
    /// Reads the request, then closes the connection without a response.
    Drop,
    /// Reads the request and never answers.
    Hang,
    /// Sends the headers and 10 of the 100 body bytes they announce, then closes.
    Truncate,
    /// Answers after 2.5 s (an SQS long poll takes up to 20 s).
    Slow,
    /// Answers `ListTables` with no tables.
    Answer,
    /// Answers 400 `TransactionCanceledException`, the first item's reason
    /// `TransactionConflict` (another transaction held it).
    Conflict,
    /// Answers 400 `TransactionCanceledException`, the first item's condition failed.
    ConditionFailed,
}

struct FakeDynamo {
    endpoint: String,
    requests: Arc<AtomicUsize>,
    /// Every request's head (request line and headers), in arrival order.
    heads: Arc<Mutex<Vec<String>>>,
}

impl FakeDynamo {
    fn start(script: Vec<Act>) -> FakeDynamo {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (seen, kept) = (requests.clone(), heads.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (seen, kept) = (seen.clone(), kept.clone());
                let script = script.clone();
                std::thread::spawn(move || serve(stream, &seen, &kept, &script));
            }
        });
        FakeDynamo {
            endpoint,
            requests,
            heads,
        }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Serves one connection: each request read whole, then acted on by the script.
fn serve(mut stream: TcpStream, seen: &AtomicUsize, heads: &Mutex<Vec<String>>, script: &[Act]) {
    loop {
        let Some(head) = read_request(&mut stream) else {
            return;
        };
        heads.lock().unwrap().push(head);
        let n = seen.fetch_add(1, Ordering::SeqCst);
        match script.get(n).copied().unwrap_or(Act::Answer) {
            Act::Drop => return,
            Act::Hang => {
                std::thread::sleep(Duration::from_secs(30));
                return;
            }
            Act::Truncate => {
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: 100\r\n\r\n";
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(br#"{"TableNam"#);
                return;
            }
            Act::Conflict | Act::ConditionFailed => {
                let code = if matches!(script.get(n), Some(Act::Conflict)) {
                    "TransactionConflict"
                } else {
                    "ConditionalCheckFailed"
                };
                let body = format!(
                    r#"{{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","message":"Transaction cancelled, please refer cancellation reasons for specific reasons [{code}, None]","CancellationReasons":[{{"Code":"{code}","Message":"x"}},{{"Code":"None"}}]}}"#
                );
                let head = format!(
                    "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\nx-amzn-requestid: r{n}\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                if stream.write_all(head.as_bytes()).is_err()
                    || stream.write_all(body.as_bytes()).is_err()
                {
                    return;
                }
            }
            Act::Slow | Act::Answer => {
                if matches!(script.get(n), Some(Act::Slow)) {
                    std::thread::sleep(Duration::from_millis(2500));
                }
                let body = br#"{"TableNames":[]}"#;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\nx-amzn-requestid: r{n}\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                if stream.write_all(head.as_bytes()).is_err() || stream.write_all(body).is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads one request (headers and a `content-length` body) and gives its head, lower-cased;
/// `None` when the peer is gone.
fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).ok().map(|()| head)
}

async fn client(endpoint: &str, attempts: u32, read_timeout: Duration) -> aws_sdk_dynamodb::Client {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(aws_adapters::http_client::SdkHttpClient::new())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "sdk-http",
        ))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(attempts)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        // A short grace period, so that a slow answer outlasts it within a second or two.
        .stalled_stream_protection(
            StalledStreamProtectionConfig::enabled()
                .grace_period(Duration::from_secs(1))
                .build(),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .read_timeout(read_timeout)
                .build(),
        )
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&sdk)
}

/// `ListTables`, which must fail before any answer reached the SDK: how it failed, as the
/// SDK's retry strategy saw it.
async fn dispatch_failure(dynamo: &aws_sdk_dynamodb::Client) -> DispatchFailure {
    match dynamo.list_tables().send().await {
        Err(SdkError::DispatchFailure(failure)) => failure,
        other => panic!("not a dispatch failure: {other:?}"),
    }
}

#[tokio::test]
async fn a_connection_dropped_before_the_answer_is_retried_and_the_call_succeeds() {
    let fake = FakeDynamo::start(vec![Act::Drop, Act::Answer]);
    let dynamo = client(&fake.endpoint, 3, Duration::from_secs(5)).await;
    let out = dynamo.list_tables().send().await;
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(
        fake.requests(),
        2,
        "one dropped attempt, one answered retry"
    );
}

#[tokio::test]
async fn a_body_cut_short_after_the_headers_is_retried_and_the_call_succeeds() {
    let fake = FakeDynamo::start(vec![Act::Truncate, Act::Answer]);
    let dynamo = client(&fake.endpoint, 3, Duration::from_secs(5)).await;
    let out = dynamo.list_tables().send().await;
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(fake.requests(), 2, "one truncated answer, one whole retry");
}

#[tokio::test]
async fn a_request_answered_after_the_stall_grace_period_is_not_a_stalled_upload() {
    // Its body was read at once: the SDK's upload protection must see it read, or every
    // request that outlasts the grace period (an SQS long poll) fails as a stalled upload.
    let fake = FakeDynamo::start(vec![Act::Slow]);
    let dynamo = client(&fake.endpoint, 1, Duration::from_secs(10)).await;
    let out = dynamo.list_tables().limit(5).send().await;
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(fake.requests(), 1);
}

#[tokio::test]
async fn connections_dropped_every_time_end_in_an_io_dispatch_failure_after_every_attempt() {
    let fake = FakeDynamo::start(vec![Act::Drop, Act::Drop, Act::Drop, Act::Answer]);
    let dynamo = client(&fake.endpoint, 3, Duration::from_secs(5)).await;
    let failure = dispatch_failure(&dynamo).await;
    assert!(failure.is_io(), "{failure:?}");
    assert_eq!(
        fake.requests(),
        3,
        "every attempt the retry config allows, no more"
    );
}

#[tokio::test]
async fn an_endpoint_that_never_answers_is_a_timeout_not_a_hang() {
    let fake = FakeDynamo::start(vec![Act::Hang, Act::Hang]);
    let dynamo = client(&fake.endpoint, 2, Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let failure = dispatch_failure(&dynamo).await;
    assert!(failure.is_timeout(), "{failure:?}");
    assert_eq!(
        fake.requests(),
        2,
        "a timeout is retried like the SDK's own client does"
    );
    // Two 300 ms read timeouts, not the server's 30 s.
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_refused_connection_is_an_io_failure() {
    // A port nothing listens on (bound, then released).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dynamo = client(
        &format!("http://127.0.0.1:{port}"),
        2,
        Duration::from_secs(5),
    )
    .await;
    let failure = dispatch_failure(&dynamo).await;
    assert!(failure.is_io(), "{failure:?}");
}

/// The functions' configuration, from the variables Lambda sets, pointed at the fake.
fn lambda_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    lambda_client_in(endpoint, domain::config::Env::default())
}

fn lambda_client_in(endpoint: &str, env: domain::config::Env) -> aws_sdk_dynamodb::Client {
    let env = env
        .with("AWS_REGION", "eu-west-1")
        .with("AWS_ACCESS_KEY_ID", "AKIDLAMBDAROLE")
        .with("AWS_SECRET_ACCESS_KEY", "role-secret")
        .with("AWS_SESSION_TOKEN", "role-session-token")
        .with("AWS_ENDPOINT_URL", endpoint);
    aws_sdk_dynamodb::Client::new(&aws_adapters::lambda_sdk_config(&env).unwrap())
}

#[tokio::test]
async fn the_functions_sign_with_the_execution_roles_credentials_from_the_environment() {
    let fake = FakeDynamo::start(vec![Act::Answer]);
    let out = lambda_client(&fake.endpoint).list_tables().send().await;
    assert!(out.is_ok(), "{out:?}");
    let heads = fake.heads();
    assert_eq!(heads.len(), 1);
    let head = &heads[0];
    // Lower-cased by the fake: the key id, the region and the service in the signature's
    // scope, and the session token beside it.
    assert!(
        head.contains("credential=akidlambdarole/")
            && head.contains("/eu-west-1/dynamodb/aws4_request"),
        "{head}"
    );
    assert!(
        head.contains("x-amz-security-token: role-session-token"),
        "{head}"
    );
    assert!(
        !head.contains("role-secret"),
        "the secret key never travels: {head}"
    );
}

#[tokio::test]
async fn the_functions_retry_a_dropped_connection_three_times_in_all() {
    let fake = FakeDynamo::start(vec![Act::Drop, Act::Drop, Act::Drop, Act::Answer]);
    dispatch_failure(&lambda_client(&fake.endpoint)).await;
    assert_eq!(fake.requests(), 3, "the standard strategy's three attempts");
}

/// Issue 25: a stalled reply must become a handled error well inside the function's timeout,
/// not a process killed at it halfway through its writes. With the production timeouts
/// (2 s per attempt, 5 s in all), a DynamoDB that never answers fails the request with a
/// timeout after the attempts that fit, in about 5 s, not after the server's 30 s.
#[tokio::test]
async fn the_functions_end_a_stalled_reply_with_a_timeout_inside_the_operation_budget() {
    let fake = FakeDynamo::start(vec![Act::Hang; 4]);
    let dynamo = lambda_client(&fake.endpoint);
    let started = std::time::Instant::now();
    let out = dynamo.list_tables().send().await;
    let took = started.elapsed();
    assert!(
        matches!(out, Err(SdkError::TimeoutError(_))),
        "the operation timeout ends it: {out:?}"
    );
    assert!(
        took >= domain::config::DEFAULT_SDK_OPERATION_TIMEOUT && took < Duration::from_secs(12),
        "ended by the 5 s operation timeout, not the fake's 30 s: {took:?}"
    );
    assert!(
        (2..=3).contains(&fake.requests()),
        "each 2 s attempt timed out and was retried: {} requests",
        fake.requests()
    );
}

/// The same through the store, with short timeouts from the environment: the port gets a
/// store error (a handled 5xx, a retried message), never a hang.
#[tokio::test]
async fn a_store_call_on_a_stalled_dynamodb_is_an_error_not_a_hang() {
    use domain::ports::store::CallStore;
    let fake = FakeDynamo::start(vec![Act::Hang; 4]);
    let env = domain::config::Env::default()
        .with(domain::config::SDK_ATTEMPT_TIMEOUT_MS, "200")
        .with(domain::config::SDK_OPERATION_TIMEOUT_MS, "3000");
    let store = aws_adapters::DynamoStore::new(lambda_client_in(&fake.endpoint, env), "t");
    let started = std::time::Instant::now();
    let out = store.call(domain::CallId::new_v4()).await;
    assert!(
        matches!(out, Err(domain::StoreError::Backend(_))),
        "{out:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(6));
    // 200 ms attempts, the first retry's backoff at most 1 s: at least one retry fits.
    assert!(fake.requests() >= 2, "retried within the budget");
}

/// mark_call_dialing with its key: a two-item transaction.
async fn mark_dialing(fake: &FakeDynamo) -> Result<(), domain::StoreError> {
    use domain::ports::store::CallStore;
    let store = aws_adapters::DynamoStore::new(lambda_client(&fake.endpoint), "t");
    let now = chrono::Utc::now();
    let call_id = CallId::new_v4();
    let rec = domain::model::IdempotencyRecord {
        account_id: "acct".into(),
        key: "k".into(),
        request_hash: "h".into(),
        call_id,
        response: None,
        expires_at: now + chrono::Duration::hours(24),
        lease_until: Some(now + chrono::Duration::seconds(30)),
    };
    let answer = domain::dead_request::placed_answer(call_id);
    store
        .mark_call_dialing(
            call_id,
            "prov_1",
            now,
            now + chrono::Duration::hours(3),
            Some((&rec, &answer)),
        )
        .await
}

/// Issue 25: a `TransactionConflict` (another transaction on the call) is retried before any
/// fallback, so a placed call is recorded `dialing` instead of being left to become
/// `dial_unknown`.
#[tokio::test]
async fn a_transaction_conflict_is_retried_before_any_fallback() {
    let fake = FakeDynamo::start(vec![Act::Conflict, Act::Answer]);
    mark_dialing(&fake).await.unwrap();
    assert_eq!(
        fake.requests(),
        2,
        "the conflict, then the same transaction"
    );
    let heads = fake.heads();
    assert!(
        heads
            .iter()
            .all(|h| h.contains("x-amz-target: dynamodb_20120810.transactwriteitems")),
        "no fallback write: {heads:?}"
    );
}

#[tokio::test]
async fn conflicts_are_retried_a_bounded_number_of_times_then_the_fallback_runs() {
    let attempts = aws_adapters::dynamo::TRANSACT_ATTEMPTS as usize;
    let fake = FakeDynamo::start(vec![Act::Conflict; attempts]);
    mark_dialing(&fake).await.unwrap();
    let heads = fake.heads();
    let transactions = heads
        .iter()
        .filter(|h| h.contains("transactwriteitems"))
        .count();
    assert_eq!(transactions, attempts, "{heads:?}");
    // Then the fallback: the provider id, and the key's answer, as single updates.
    assert_eq!(heads.len(), attempts + 2, "{heads:?}");
}

#[tokio::test]
async fn a_failed_condition_is_not_retried() {
    let fake = FakeDynamo::start(vec![Act::ConditionFailed]);
    mark_dialing(&fake).await.unwrap();
    let transactions = fake
        .heads()
        .iter()
        .filter(|h| h.contains("transactwriteitems"))
        .count();
    assert_eq!(
        transactions, 1,
        "a lost condition is an answer, not a conflict"
    );
}
