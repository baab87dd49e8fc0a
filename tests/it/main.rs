//! The integration tests: one binary (one link of the AWS SDK), one module per area.
//!
//! Everything here runs against moto on 127.0.0.1 (started by `make test` through the
//! `with-emulator` launcher, crate `emulator`) and real HTTP peers, except `rules`, which runs
//! the functions on the in-memory adapters. The support code (emulator, API Gateway requests,
//! peers, fixtures, the `Deps` helpers, the `TestApp` each test starts from) is the `integration_tests` library in `tests/src`. A
//! test that cannot reach the emulator fails; none skips.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod call_completed;
mod contracts;
mod docs_drift;
mod fairness;
mod iam_actions;
mod kit_docs;
mod layers;
mod lifecycle;
mod openapi;
mod rules;
mod sample_events;
mod scale;
mod sdk_http;
mod settings;
mod sharded_layout;
mod template_drift;
mod template_readiness;
mod trigger_call;
mod verify_example;
mod webhook_delivery;
