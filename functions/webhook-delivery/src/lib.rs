//! The SQS consumer that delivers `call.completed` events to customers' endpoints.
//!
//! A pipeline of small named steps, in the manner of Svix's server: first, for the whole
//! batch, [`fair`] (cap each account's concurrent deliveries, re-park the excess); then, per
//! message, [`prepare`] (parse the
//! message, honour `not_before`, load the event, claim the attempt, read the integration and
//! the signing keys; move a hanging endpoint's first attempt to the retries lane), [`send`]
//! (sign and POST the stored bytes), then [`outcome::success`] or [`outcome::failure`] (log
//! the attempt; schedule the next one or drop the event), then [`outcome::health`] (the
//! endpoint's fleet-wide timeout count).
//!
//! `handle` answers with a partial batch response: only messages that hit a transient
//! error (DynamoDB, SQS, Secrets Manager) come back. The messages of a batch are processed
//! concurrently.

pub mod config;
pub mod deps;
pub mod fair;
pub mod lanes;
pub mod metrics;
pub mod outcome;
pub mod pipeline;
pub mod prepare;
pub mod send;
pub mod slots;
pub mod transient;

pub use config::Config;
pub use deps::{Deps, Ports};
pub use pipeline::{handle, process};
pub use transient::TransientError;
