//! The integration page's API: the API key, the on/off switch, the webhook URL, the default
//! agent, the agent list, the delivery log, a test send and redelivery, the webhook signing
//! secret (`docs/settings-api.md`;
//! routes declared by each handler module, served by `router::ROUTES`).
//!
//! Who is calling was settled before the request got here: API Gateway's JWT authorizer
//! checked the dashboard session and put its claims in the request context;
//! `lambda_glue::dashboard` turns them into the caller's account. Every route then works on
//! that account only.
//!
//! `handle` takes every dependency explicitly, so the Lambda entry point, the local stack and
//! the tests run exactly the same code.

pub mod agents;
pub mod api_key;
pub mod calls;
pub mod config;
pub mod ctx;
pub mod deliveries;
pub mod deps;
pub mod health;
pub mod integration;
pub mod metrics;
pub mod redeliver;
pub mod resend_dropped;
pub mod router;
pub mod signing_secret;
pub mod suppressions;
pub mod test_send;
pub mod update;

pub use config::Config;
pub use deps::{Deps, Ports};
pub use router::handle;
