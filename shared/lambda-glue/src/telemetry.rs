//! JSON logs for CloudWatch. Nothing secret is ever passed to a log macro: handlers log codes,
//! ids and hashes, never headers or keys.
//!
//! Each line is one JSON object that Lambda's JSON log format understands (docs/deploy.md,
//! "Logs"): `timestamp` in RFC 3339 (UTC, microseconds) and `level` in upper case (`ERROR`,
//! `WARN`, `INFO`, `DEBUG`, `TRACE`), so the function's `ApplicationLogLevel` filters them by
//! their real level; without a valid timestamp Lambda would file every line as INFO. The
//! message and the event's fields are under `fields` (`fields.message`, which the delivery
//! metric filters of template.yaml match).
//!
//! Only our own crates log at `LOG_LEVEL`; every other crate (the Lambda runtime, lambda_http,
//! the AWS SDK, hyper, reqwest, ...) is capped at `info` whatever the level, because at debug
//! and trace they log whole invocation events, headers and request bodies: API keys, JWTs,
//! signatures, phone numbers, transcripts. `RUST_LOG` is not read, so it cannot lift the cap.

use tracing_subscriber::fmt::MakeWriter;

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
/// level, every other crate at `info` or quieter. Targets are matched by prefix, as
/// `EnvFilter` matches them, without its regex engine (docs/benchmarks.md).
pub fn filter(level: &str) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::LevelFilter;
    let level = level
        .trim()
        .parse::<LevelFilter>()
        .unwrap_or(LevelFilter::INFO);
    let others = match level {
        LevelFilter::TRACE | LevelFilter::DEBUG => LevelFilter::INFO,
        quieter => quieter,
    };
    tracing_subscriber::filter::Targets::new()
        .with_default(others)
        .with_targets(OWN_CRATES.iter().map(|c| (*c, level)))
}

/// The subscriber every function logs through, at `LOG_LEVEL` (template.yaml sets it from the
/// `LogLevel` parameter; default `info`), writing to `writer` (stdout in Lambda; a buffer in
/// the log-shape test).
pub fn subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    subscriber_at(
        &std::env::var("LOG_LEVEL").unwrap_or_else(|_| "info".into()),
        writer,
    )
}

/// [`subscriber`] at a given level (the secrets-in-logs test runs it at `trace`).
pub fn subscriber_at<W>(level: &str, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt;
    tracing_subscriber::registry().with(filter(level)).with(
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(false)
            .with_target(false)
            // RFC 3339 in UTC, e.g. 2026-11-30T06:21:31.123456Z (Lambda requires RFC 3339).
            .with_timer(tracing_subscriber::fmt::time::SystemTime)
            .with_writer(writer),
    )
}

/// Installs the subscriber for the process (also forwarding `log` records of dependencies).
pub fn init() {
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = subscriber(std::io::stdout).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn own_crates_follow_the_level_and_every_other_crate_is_capped_at_info() {
        let f = filter("trace");
        assert!(f.would_enable("trigger_call::calls", &Level::TRACE));
        assert!(f.would_enable("domain", &Level::DEBUG));
        assert!(f.would_enable("lambda_runtime", &Level::INFO));
        assert!(!f.would_enable("lambda_runtime::requests", &Level::DEBUG));
        assert!(!f.would_enable("aws_smithy_runtime::client", &Level::TRACE));
        assert!(!f.would_enable("hyper", &Level::DEBUG));
    }

    #[test]
    fn a_quieter_level_quiets_every_crate_and_an_unknown_one_is_info() {
        let f = filter(" warn ");
        assert!(!f.would_enable("settings", &Level::INFO));
        assert!(f.would_enable("settings", &Level::WARN));
        assert!(!f.would_enable("lambda_http", &Level::INFO));
        assert!(f.would_enable("lambda_http", &Level::ERROR));
        let f = filter("loud");
        assert!(f.would_enable("webhook_delivery", &Level::INFO));
        assert!(!f.would_enable("webhook_delivery", &Level::DEBUG));
    }
}
