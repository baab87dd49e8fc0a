//! The shared core: domain types, validation, signing, ports and their AWS adapters, and the
//! HTTP error mapping. Functions depend on this crate; it never knows a function.

pub mod api_key;
pub mod auth;
pub mod aws;
pub mod calling_window;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod error;
pub mod event;
pub mod http;
pub mod key_rotation;
pub mod model;
pub mod phone;
pub mod provider;
pub mod queue;
pub mod secrets;
pub mod signature;
pub mod store;
pub mod telemetry;
pub mod webhook_url;

pub use error::{ApiError, StoreError};
