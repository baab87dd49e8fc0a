//! JSON logs for CloudWatch. Nothing secret is ever passed to a log macro: handlers log codes,
//! ids and hashes, never headers or keys.
//!
//! Each line is one JSON object that Lambda's JSON log format understands (docs/deploy.md,
//! "Logs"): `timestamp` in RFC 3339 (UTC, microseconds) and `level` in upper case (`ERROR`,
//! `WARN`, `INFO`, `DEBUG`, `TRACE`), so the function's `ApplicationLogLevel` filters them by
//! their real level; without a valid timestamp Lambda would file every line as INFO. The
//! message and the event's fields are under `fields` (`fields.message`, which the delivery
//! metric filters of template.yaml match).

use tracing_subscriber::fmt::MakeWriter;

/// The level filter: `RUST_LOG` if set, else `LOG_LEVEL` (template.yaml sets it from the
/// `LogLevel` parameter), else `info`.
fn filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| {
            tracing_subscriber::EnvFilter::try_new(
                std::env::var("LOG_LEVEL").unwrap_or_else(|_| "info".into()),
            )
        })
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
}

/// The subscriber every function logs through, writing to `writer` (stdout in Lambda; a
/// buffer in the log-shape test).
pub fn subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter())
        .with_current_span(false)
        .with_target(false)
        // RFC 3339 in UTC, e.g. 2026-11-30T06:21:31.123456Z (Lambda requires RFC 3339).
        .with_timer(tracing_subscriber::fmt::time::SystemTime)
        .with_writer(writer)
        .finish()
}

/// Installs the subscriber for the process (also forwarding `log` records of dependencies).
pub fn init() {
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = subscriber(std::io::stdout).try_init();
}
