//! The local stack behind `make run`, in reusable parts: an API Gateway stand-in that calls
//! the functions' `handle` exactly as Lambda would, an SQS poller standing in for the event
//! source mapping, the reconciler's schedule, a simulated voice provider, a webhook receiver and the emulator's resources.
//! See docs/local-stack.md. (The operator CLI `bvai-admin` is its own crate, `admin/`.)

pub mod apigw;
pub mod gateway;
pub mod openapi;
pub mod page;
pub mod poller;
pub mod provider_sim;
pub mod receiver;
pub mod reconcile_timer;
pub mod resources;
pub mod server;
pub mod stack;

/// Human-readable log lines for the console (the functions log JSON in Lambda; locally a
/// person reads this). `RUST_LOG` overrides the filter.
pub fn init_console_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,aws_config=warn,aws_smithy_runtime=warn")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .compact()
        .try_init();
}
