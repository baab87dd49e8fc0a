//! The domain core: what the product is, without any I/O.
//!
//! Layered so every reference points down (`tests/it/layers.rs` fails on a cycle, and on a
//! vocabulary module or a port naming anything above the vocabulary):
//!
//! - vocabulary: `model`, `ids`, `event_type`, `error`, `error_code`, `clock`, `answer`,
//!   `phone`, `country`, `number_type`, `calling_window`, `recipient_hours`, `zone`, `scrub`;
//! - ports: the traits the functions depend on (`ports`), naming only the vocabulary;
//! - rules: `event_rules`, `payload`, `callback`, `destination`, `dial_rules`, `held_calls`,
//!   `rate_limit`, `api_key`, `signature`, `webhook`, `webhook_url`, `config`;
//! - services that only combine ports: `completion`, `dial`, `dead_request`, `revoke`,
//!   `bulk_cancel`, `auth`, `key_rotation`.
//!
//! The layers test reads the vocabulary from this list. `docs/architecture.md` shows the graph
//! as the code has it.
//!
//! Cargo keeps this crate free of the AWS SDK, `lambda_http`, `reqwest` and `tokio`: the
//! dependency-direction test (`tests/it/layers.rs`) fails if it gains one.

pub mod answer;
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
pub mod error_code;
pub mod event_rules;
pub mod event_type;
pub mod held_calls;
pub mod ids;
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

pub use error::{ApiError, ErrorCode, StoreError};
pub use ids::{AccountId, AgentId, CallId, EventId};
