//! `POST /hooks/voice-provider`: the voice provider's call callbacks -> the call record -> one
//! `call.completed` event on the events queue.
//!
//! `handle` takes every dependency explicitly, so the Lambda entry point, the local stack and
//! the tests run exactly the same code.

pub mod answer;
pub mod callback;
pub mod caused_events;
pub mod complete;
pub mod config;
pub mod ctx;
pub mod deps;
pub mod metrics;
pub mod progress;
pub mod resolve;
pub mod router;

pub use config::Config;
pub use ctx::{Ctx, Handler};
pub use deps::{Deps, Ports};
pub use router::{handle, PROVIDER_CALLBACK, ROUTES};
