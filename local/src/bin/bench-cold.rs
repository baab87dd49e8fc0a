//! `bench-cold` (`make bench-cold`, docs/benchmarks.md): the cold start of every function
//! against two anchors built in the same run (`anchor-hello`: only `lambda_runtime`;
//! `anchor-slim-sdk`: lambda_http, aws-config and the three SDK clients without their legacy
//! default features).
//!
//! Each binary is started `--runs` times (round robin, after one unrecorded warm-up run each)
//! against a Lambda Runtime API stub on 127.0.0.1 of its own, and against one moto emulator
//! (started by the project's launcher, with the resources `make run` creates). Per run:
//!
//! - init: exec -> the first `GET /2018-06-01/runtime/invocation/next`;
//! - first invocation: the sample event handed out -> its response posted;
//! - peak RSS: `VmHWM` of the process once it polls again after the first invocation.
//!
//! It prints the medians, with ratios to the anchors. Figures are printed, never asserted: the
//! benchmark is not part of `make test` or CI.

use clap::Parser;
use emulator::{free_port, sdk_environment, Group, Moto, SDK_VARIABLES_REMOVED};
use local_stack::resources::{self, ResourceNames, Resources};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "Cold starts of every function against two anchors (docs/benchmarks.md)")]
struct Args {
    /// Where the release binaries are.
    #[arg(long, default_value = "target/release")]
    dir: PathBuf,
    /// Recorded runs per binary (medians are printed).
    #[arg(long, default_value_t = 15)]
    runs: usize,
    /// The sample events.
    #[arg(long, default_value = "events")]
    events: PathBuf,
    /// The virtualenv with the emulator (`make venv`).
    #[arg(long, env = "VENV", default_value = ".venv")]
    venv: PathBuf,
    /// Only these binaries (default: all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// A binary and the sample event its first invocation gets.
struct Target {
    name: &'static str,
    event: &'static str,
}

const HELLO: &str = "anchor-hello";
const SLIM: &str = "anchor-slim-sdk";

const TARGETS: &[Target] = &[
    Target {
        name: HELLO,
        event: "reconciler.json",
    },
    Target {
        name: SLIM,
        event: "settings-get.json",
    },
    Target {
        name: "trigger-call",
        event: "trigger-call.json",
    },
    Target {
        name: "settings",
        event: "settings-get.json",
    },
    Target {
        name: "call-completed",
        event: "call-completed.json",
    },
    Target {
        name: "webhook-delivery",
        event: "webhook-delivery.json",
    },
    Target {
        name: "reconciler",
        event: "reconciler.json",
    },
];

/// A run can take this long at most (init, one invocation, the next poll).
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-cold: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let targets: Vec<&Target> = TARGETS
        .iter()
        .filter(|t| args.only.is_empty() || args.only.iter().any(|o| o == t.name))
        .collect();
    let mut prepared = Vec::new();
    for t in &targets {
        let binary = args.dir.join(t.name);
        let size = std::fs::metadata(&binary)
            .map_err(|e| format!("{}: {e} (make bench-cold builds it)", binary.display()))?
            .len();
        let event = std::fs::read(args.events.join(t.event))
            .map_err(|e| format!("{}: {e}", args.events.join(t.event).display()))?;
        prepared.push(Prepared {
            name: t.name,
            binary,
            size,
            event,
            runs: Vec::new(),
            answer: String::new(),
        });
    }

    let port = free_port().map_err(|e| format!("no free port for the emulator: {e}"))?;
    let log = std::env::temp_dir().join(format!("moto-bench-cold-{port}.log"));
    let moto = Moto::start(
        &Moto::binary(&args.venv),
        port,
        &log,
        Duration::from_secs(30),
        Group::Shared,
    )
    .map_err(|e| e.to_string())?;
    let resources = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?
        .block_on(create_resources(moto.endpoint()))?;
    eprintln!(
        "bench-cold: moto on {} (log {}), {} runs per binary after one warm-up",
        moto.endpoint(),
        log.display(),
        args.runs
    );

    let logs = std::env::temp_dir().join("bench-cold");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let env = environment(moto.endpoint(), &resources);
    for round in 0..=args.runs {
        for p in prepared.iter_mut() {
            let log = logs.join(format!("{}.log", p.name));
            let (figures, answer) =
                cold_start(&p.binary, p.name, &p.event, &env, &log).map_err(|e| {
                    format!(
                        "{} (round {round}): {e}; its output is in {}",
                        p.name,
                        log.display()
                    )
                })?;
            // Round 0 warms the page cache and moto; it is not recorded.
            if round > 0 {
                p.runs.push(figures);
            }
            p.answer = answer;
        }
        eprint!(".");
    }
    eprintln!();
    moto.stop();
    print_table(&prepared);
    Ok(())
}

struct Prepared {
    name: &'static str,
    binary: PathBuf,
    size: u64,
    event: Vec<u8>,
    runs: Vec<Figures>,
    answer: String,
}

#[derive(Debug, Clone, Copy)]
struct Figures {
    init: Duration,
    first: Duration,
    rss_kib: u64,
}

async fn create_resources(endpoint: &str) -> Result<Resources, String> {
    let sdk = resources::emulator_sdk_config(endpoint).map_err(|e| e.to_string())?;
    resources::ensure(&sdk, &ResourceNames::local(), "bench-cold-provider-key")
        .await
        .map_err(|e| e.to_string())
}

/// The environment of every function (the template's variables, pointed at the emulator),
/// and of the anchors, which ignore what they do not read. Nothing else from this shell.
fn environment(endpoint: &str, r: &Resources) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = sdk_environment(endpoint)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    for (k, v) in [
        ("PATH", "/usr/bin:/bin"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench-cold"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench-cold"),
        ("LOG_LEVEL", "info"),
        ("TABLE_NAME", &r.table),
        ("EVENTS_QUEUE_URL", &r.queue_url),
        ("PROVIDER_SECRET_NAME", &r.provider_secret_name),
        // Never reached by the sample events (the trigger's key is not a stored key).
        ("PROVIDER_BASE_URL", "http://127.0.0.1:9"),
    ] {
        env.push((k.to_string(), v.to_string()));
    }
    env.retain(|(k, _)| !SDK_VARIABLES_REMOVED.contains(&k.as_str()));
    env
}

/// What the stub has seen of one process.
#[derive(Default)]
struct Seen {
    first_poll: Option<Instant>,
    response: Option<(Instant, String)>,
    second_poll: bool,
    init_error: Option<String>,
    done: bool,
}

type Shared = Arc<(Mutex<Seen>, Condvar)>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Seen> {
    shared.0.lock().unwrap_or_else(|p| p.into_inner())
}

/// One cold start: stub up, process started, first event handed out, peak RSS read once it
/// polls again, process killed.
fn cold_start(
    binary: &Path,
    name: &str,
    event: &[u8],
    env: &[(String, String)],
    log: &Path,
) -> Result<(Figures, String), String> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let shared: Shared = Arc::new((Mutex::new(Seen::default()), Condvar::new()));
    let stub = {
        let shared = shared.clone();
        let event = event.to_vec();
        let name = name.to_string();
        std::thread::spawn(move || accept(listener, shared, event, name))
    };
    let out = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;

    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;

    let outcome = {
        let mut seen = lock(&shared);
        let deadline = started + RUN_TIMEOUT;
        loop {
            if seen.second_poll || seen.init_error.is_some() {
                break Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                break Err(format!("exited ({status}) before its second poll"));
            }
            let now = Instant::now();
            if now >= deadline {
                break Err(format!("no second poll within {} s", RUN_TIMEOUT.as_secs()));
            }
            // Woken by the stub; the short bound only notices a process that died.
            seen = shared
                .1
                .wait_timeout(seen, (deadline - now).min(Duration::from_millis(50)))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    };
    let rss_kib = peak_rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    {
        let mut seen = lock(&shared);
        seen.done = true;
        shared.1.notify_all();
    }
    // Wake the accept loop so that it sees `done`.
    let _ = TcpStream::connect(addr);
    let _ = stub.join();
    outcome?;

    let seen = lock(&shared);
    if let Some(e) = &seen.init_error {
        return Err(format!("init error: {e}"));
    }
    let (Some(first_poll), Some((responded, answer))) = (seen.first_poll, seen.response.clone())
    else {
        return Err("polled again without answering the first event".into());
    };
    Ok((
        Figures {
            init: first_poll - started,
            first: responded - first_poll,
            rss_kib: rss_kib?,
        },
        answer,
    ))
}

fn peak_rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmHWM in /proc/{pid}/status"))
}

fn accept(listener: TcpListener, shared: Shared, event: Vec<u8>, name: String) {
    let event = Arc::new(event);
    let mut connections = Vec::new();
    for stream in listener.incoming() {
        if lock(&shared).done {
            break;
        }
        let Ok(stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        let (shared, event, name) = (shared.clone(), event.clone(), name.clone());
        connections.push(std::thread::spawn(move || {
            serve(stream, &shared, &event, &name)
        }));
    }
    for c in connections {
        let _ = c.join();
    }
}

/// The Runtime API, as much of it as a cold start uses.
fn serve(mut stream: TcpStream, shared: &Shared, event: &[u8], name: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = Vec::new();
    loop {
        let (method, path, body) = match read_request(&mut stream, &mut buf, shared) {
            Some(r) => r,
            None => return,
        };
        let now = Instant::now();
        let reply: Vec<u8> = if method == "GET" && path == "/2018-06-01/runtime/invocation/next" {
            let mut seen = lock(shared);
            if seen.first_poll.is_some() {
                // The next poll: the process is idle. Hold it until the run ends.
                seen.second_poll = true;
                shared.1.notify_all();
                while !seen.done {
                    seen = shared.1.wait(seen).unwrap_or_else(|p| p.into_inner());
                }
                return;
            }
            seen.first_poll = Some(now);
            drop(seen);
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() + 30_000)
                .unwrap_or(0);
            let mut head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                 Lambda-Runtime-Aws-Request-Id: 8476a536-e9f4-11e8-9739-2dfe598c3fcd\r\n\
                 Lambda-Runtime-Deadline-Ms: {deadline}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:{name}\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1\r\n\
                 Content-Length: {}\r\n\r\n",
                event.len()
            )
            .into_bytes();
            head.extend_from_slice(event);
            head
        } else if method == "POST" && path.starts_with("/2018-06-01/runtime/invocation/") {
            let kind = if path.ends_with("/response") {
                "response"
            } else {
                "error"
            };
            let status = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("statusCode").map(|s| s.to_string()));
            let answer = match status {
                Some(s) => format!("{kind} {s}"),
                None => kind.to_string(),
            };
            let mut seen = lock(shared);
            seen.response.get_or_insert((now, answer));
            shared.1.notify_all();
            accepted()
        } else if method == "POST" && path == "/2018-06-01/runtime/init/error" {
            let mut seen = lock(shared);
            seen.init_error = Some(String::from_utf8_lossy(&body).into_owned());
            shared.1.notify_all();
            accepted()
        } else {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()
        };
        if stream.write_all(&reply).is_err() {
            return;
        }
    }
}

fn accepted() -> Vec<u8> {
    b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}"
        .to_vec()
}

/// One HTTP/1.1 request (head and `Content-Length` body); `None` when the connection closes
/// or the run is over.
fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    shared: &Shared,
) -> Option<(String, String, Vec<u8>)> {
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if lock(shared).done {
                    return None;
                }
            }
            Err(_) => return None,
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if lock(shared).done {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
    let body = buf[head_end..head_end + length].to_vec();
    buf.drain(..head_end + length);
    Some((method, path, body))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

struct Row {
    name: &'static str,
    size_mb: f64,
    init_ms: f64,
    first_ms: f64,
    rss_mb: f64,
    answer: String,
}

fn print_table(prepared: &[Prepared]) {
    let rows: Vec<Row> = prepared
        .iter()
        .map(|p| Row {
            name: p.name,
            size_mb: p.size as f64 / 1e6,
            init_ms: median(p.runs.iter().map(|r| r.init.as_secs_f64() * 1e3).collect()),
            first_ms: median(p.runs.iter().map(|r| r.first.as_secs_f64() * 1e3).collect()),
            rss_mb: median(
                p.runs
                    .iter()
                    .map(|r| r.rss_kib as f64 * 1024.0 / 1e6)
                    .collect(),
            ),
            answer: p.answer.clone(),
        })
        .collect();
    let anchor = |name: &str| rows.iter().find(|r| r.name == name);
    let ratio = |v: f64, a: Option<f64>| match a {
        Some(a) if a > 0.0 => format!("{:.2}x", v / a),
        _ => "-".into(),
    };
    let (hello, slim) = (anchor(HELLO), anchor(SLIM));
    println!(
        "| binary | size | init | first invocation | peak RSS | size / slim | init / slim | RSS / slim | init / hello | first answer |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.1} MB | {:.1} ms | {:.1} ms | {:.1} MB | {} | {} | {} | {} | {} |",
            r.name,
            r.size_mb,
            r.init_ms,
            r.first_ms,
            r.rss_mb,
            ratio(r.size_mb, slim.map(|s| s.size_mb)),
            ratio(r.init_ms, slim.map(|s| s.init_ms)),
            ratio(r.rss_mb, slim.map(|s| s.rss_mb)),
            ratio(r.init_ms, hello.map(|s| s.init_ms)),
            r.answer,
        );
    }
}
