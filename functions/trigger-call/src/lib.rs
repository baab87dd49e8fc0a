//! Placing calls, reading and cancelling them (routes in [`ROUTES`]), and the integration page's
//! calling-rules check (`calling_rules`, one of [`DASHBOARD_ROUTES`]): a thin layer over the
//! domain.
//!
//! `handle` takes every dependency explicitly, so the Lambda entry point, the local stack and
//! the tests run exactly the same code.

pub mod calling_rules;
pub mod calls;
pub mod config;
pub mod ctx;
pub mod deps;
pub mod idempotency;
pub mod metrics;
pub mod request;
pub mod router;
pub mod trigger;

pub use config::Config;
pub use ctx::{authenticate, Ctx, Handler};
pub use deps::{Deps, Ports};
pub use router::{handle, DASHBOARD_ROUTES, ROUTES, TRIGGER_CALL};
