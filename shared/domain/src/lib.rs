//! The domain core: what the product is, without any I/O.
//!
//! Models and rules (`model`, `phone`, `calling_window`, `recipient_hours`, `dial_rules`, `api_key`, `signature`, `payload`,
//! `webhook`, `webhook_url`), the port traits the functions depend on (`ports`), their error
//! types (`error`), and the services that only combine ports (`auth`, `completion`, `key_rotation`, `dead_request`).
//! Cargo keeps this crate free of the AWS SDK, `lambda_http`, `reqwest` and `tokio`: the
//! dependency-direction test (`tests/it/layers.rs`) fails if it gains one.

pub mod api_key;
pub mod auth;
pub mod bulk_cancel;
pub mod callback;
pub mod calling_window;
pub mod clock;
pub mod completion;
pub mod config;
pub mod country;
pub mod dead_request;
pub mod destination;
pub mod dial;
pub mod dial_rules;
pub mod error;
pub mod event_rules;
pub mod event_type;
pub mod held_calls;
pub mod key_rotation;
pub mod model;
pub mod number_type;
pub mod payload;
pub mod phone;
pub mod ports;
pub mod rate_limit;
pub mod recipient_hours;
pub mod revoke;
pub mod scrub;
pub mod signature;
pub mod webhook;
pub mod webhook_url;
pub mod zone;

pub use error::{ApiError, StoreError};
