//! The in-memory adapters' contracts (`in_memory::contract`) run against the real adapters on
//! the emulator: the same assertions pass on `MemoryStore` and `DynamoStore`, on
//! `MemorySecrets` and `SecretsManager`, on `MemoryQueue` and `SqsQueue`. This is what lets the
//! fast rule tests on the in-memory adapters stand for the real ones.

use aws_adapters::SqsQueue;
use chrono::Utc;
use integration_tests::Emulator;

/// The contract has racing writers (concurrent rate-counter uses, conditional claims): they
/// reach moto through `integration_tests::atomic`, which gives each request the atomicity
/// DynamoDB has and moto lacks under load.
#[tokio::test]
async fn the_dynamodb_store_keeps_the_store_contract() {
    let emu = Emulator::connect().await;
    let store = emu
        .table_with_client(integration_tests::atomic::atomic_dynamodb(&emu.config))
        .await;
    in_memory::contract::store(&store, Utc::now())
        .await
        .expect("DynamoStore keeps the store contract");
}

#[tokio::test]
async fn secrets_manager_keeps_the_secrets_contract() {
    let emu = Emulator::connect().await;
    in_memory::contract::secrets(&emu.secrets())
        .await
        .expect("SecretsManager keeps the secrets contract");
}

#[tokio::test]
async fn sqs_keeps_the_queue_contract() {
    let emu = Emulator::connect().await;
    let queue = SqsQueue::new(emu.sqs(), emu.queue().await);
    in_memory::contract::queue(&queue)
        .await
        .expect("SqsQueue keeps the queue contract");
}
