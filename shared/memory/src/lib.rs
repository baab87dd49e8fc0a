//! In-memory adapters of the domain's ports, with the real adapters' semantics, fault-injecting
//! wrappers, and port contracts that any adapter must pass.
//!
//! - [`MemoryStore`] mirrors `aws_adapters::DynamoStore` condition by condition;
//!   [`MemoryQueue`] the SQS adapter's delay rule, with an injected clock deciding what is due;
//!   [`MemorySecrets`] Secrets Manager's version rules; [`ScriptedProvider`] answers what a
//!   test scripted; [`FixedClock`] is moved by hand.
//! - [`faults`] wraps any adapter to fail, lose answers, stall or hang on chosen calls.
//! - [`contract`] holds the assertions every adapter of a port must pass, so the same checks
//!   run here and against DynamoDB/Secrets Manager on the local emulator.

pub mod clock;
pub mod contract;
pub mod faults;
pub mod provider;
pub mod queue;
pub mod secrets;
pub mod store;

pub use clock::FixedClock;
pub use faults::{FaultPlan, FaultyProvider, FaultyQueue, FaultySecrets, FaultyStore};
pub use provider::ScriptedProvider;
pub use queue::{MemoryQueue, QueuedMessage};
pub use secrets::MemorySecrets;
pub use store::MemoryStore;
