//! JSON logs for CloudWatch. Nothing secret is ever passed to a log macro: handlers log codes,
//! ids and hashes, never headers or keys.
//!
//! Only our own crates log at `LOG_LEVEL`; every other crate (the Lambda runtime, lambda_http,
//! the AWS SDK, hyper, reqwest, ...) is capped at `info` whatever the level, because at debug
//! and trace they log whole invocation events, headers and request bodies: API keys, JWTs,
//! signatures, phone numbers, transcripts. `RUST_LOG` is not read, so it cannot lift the cap.

/// The crates whose events follow `LOG_LEVEL` (targets are module paths).
pub const OWN_CRATES: &[&str] = &[
    "trigger_call",
    "settings",
    "call_completed",
    "webhook_delivery",
    "reconciler",
    "domain",
    "lambda_glue",
    "aws_adapters",
    "outbound",
];

/// The filter for `level` (`error` to `trace`; anything else is `info`): our crates at that
/// level, every other crate at `info` or quieter.
pub fn filter(level: &str) -> tracing_subscriber::EnvFilter {
    use tracing_subscriber::filter::LevelFilter;
    let level = level
        .trim()
        .parse::<LevelFilter>()
        .unwrap_or(LevelFilter::INFO);
    let others = match level {
        LevelFilter::TRACE | LevelFilter::DEBUG => LevelFilter::INFO,
        quieter => quieter,
    };
    let mut directives = vec![others.to_string()];
    directives.extend(OWN_CRATES.iter().map(|c| format!("{c}={level}")));
    tracing_subscriber::EnvFilter::try_new(directives.join(","))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
}

pub fn init() {
    let filter = filter(&std::env::var("LOG_LEVEL").unwrap_or_else(|_| "info".into()));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .try_init();
}
