//! The reconciler: run every minute (EventBridge schedule in `template.yaml`; every
//! `RECONCILE_EVERY` in the local stack), it finishes the work whose deadline passed with
//! nobody finishing it, read from the due index (`domain::ports::store::due`), never a scan:
//!
//! - an event stored but not on the queue after `ENQUEUE_GRACE` -> sent ([`repair::event`]);
//! - a `queued` call past its request's lease -> `dial_unknown`; a `dial_unknown` call past
//!   its deadline, or a `dialing` one never reported past `CALL_STALE_AFTER` -> `failed` (for
//!   want of news: late callbacks still revive it); an `ended` call past its analysis grace,
//!   or an `in_progress` one whose end never came past `CALL_STALE_AFTER` -> completed with an
//!   event built from what is known ([`repair::call`]);
//! - an Idempotency-Key without an answer past its lease -> released ([`repair::idempotency`]);
//! - a `scheduled` call (held until its window opens, or `not_before`) whose time came ->
//!   claimed (`scheduled` -> `queued`), re-checked (account, API toggle, do-not-call list,
//!   destination policy, agent, calling window) and dialed through `domain::dial`, the code
//!   path trigger-call uses; or re-scheduled, failed with a reason, or cancelled
//!   ([`repair::scheduled`]). At most one reconciler period late.
//!
//! Every repair is a conditional write on the item's state (and the one with an outside
//! effect, sending an event, is claimed first), so two runs at once, or a run repeated after a
//! crash, repair each item once.

pub mod config;
pub mod deps;
pub mod metrics;
pub mod pace;
pub mod pass;
pub mod repair;
pub mod report;

pub use config::Config;
pub use deps::{Deps, Ports};
pub use pace::{Pace, DEFAULT_CONCURRENCY, DEFAULT_SCHEDULED_CALLS_PER_SECOND};
pub use pass::{run, MAX_PAGES, PAGE, PASS_BUDGET, QUARANTINED};
pub use report::Report;
