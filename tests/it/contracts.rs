//! The in-memory adapters' contracts (`in_memory::contract`) run against the real adapters on
//! the emulator: the same assertions pass on `MemoryStore` and `DynamoStore`, on
//! `MemorySecrets` and `SecretsManager`, on `MemoryQueue` and `SqsQueue`. This is what lets the
//! fast rule tests on the in-memory adapters stand for the real ones.
//!
//! Every promise is its own test (`contracts::store::calls::callbacks_move_forward_only`,
//! ...), on a fresh table, so a broken promise names itself and hides none of the others.

use aws_adapters::{DynamoStore, SqsQueue};
use chrono::Utc;
use integration_tests::Emulator;

/// A fresh table. The contract has racing writers (concurrent rate-counter uses, conditional
/// claims): they reach moto through `integration_tests::atomic`, which gives each request the
/// atomicity DynamoDB has and moto lacks under load.
async fn table() -> DynamoStore {
    let emu = Emulator::connect().await;
    emu.table_with_client(integration_tests::atomic::atomic_dynamodb(&emu.config))
        .await
}

async fn queue() -> SqsQueue {
    let emu = Emulator::connect().await;
    SqsQueue::new(emu.sqs(), emu.queue().await)
}

mod store {
    use super::*;
    in_memory::store_contract_tests!(store: table().await, now: Utc::now());
}

mod secrets_manager {
    use super::*;
    in_memory::secrets_contract_tests!(secrets: Emulator::connect().await.secrets());
}

mod sqs {
    use super::*;
    in_memory::queue_contract_tests!(queue: queue().await);
}
