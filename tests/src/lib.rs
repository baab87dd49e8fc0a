//! Test support: the local AWS emulator, real HTTP peers on 127.0.0.1, API Gateway-shaped
//! requests, an SDK call counter, account fixtures, the one builder of the functions' `Deps`
//! (`deps`), the test application every fixture starts from (`app::TestApp`, in-memory or on
//! the emulator) and the template reader (`cfn`). Shared by every integration test.

pub mod apigw;
pub mod app;
pub mod atomic;
pub mod cfn;
pub mod counting;
pub mod deps;
pub mod emulator;
pub mod fixtures;
pub mod logs;
pub mod peer;
pub mod scale;
pub mod sqs;

pub use emulator::Emulator;
