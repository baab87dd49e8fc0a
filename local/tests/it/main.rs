//! The local stack's tests: one binary, one module per part (the gateway, the SQS poller, the
//! provider simulator, the receiver, the emulator resources, and `make run`'s whole stack
//! started as a process). The operator CLI's tests are in admin/tests.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod gateway;
mod kit;
mod page;
mod poller;
mod provider_sim;
mod readme;
mod receiver;
mod resources;
mod stack;
