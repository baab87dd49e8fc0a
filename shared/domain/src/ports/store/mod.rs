//! Storage ports: the traits the functions depend on. Adapters: `aws_adapters::dynamo`
//! (DynamoDB) and `in_memory::MemoryStore`.

pub mod accounts;
pub mod attempts;
pub mod calls;
pub mod deliveries;
pub mod due;
pub mod endpoints;
pub mod event_store;
pub mod suppressions;

pub use accounts::AccountStore;
pub use attempts::{AttemptLedger, Claim, LedgerClaim, LedgerState};
pub use calls::{CallStore, CreateCallOutcome};
pub use deliveries::{DeliveryLog, DeliveryPage};
pub use due::{Due, DueKind, DueShard, DueStore, DueWork, DUE_SHARDS};
pub use endpoints::{EndpointHealth, EndpointHealthStore};
pub use event_store::EventStore;
pub use suppressions::{SuppressionPage, SuppressionStore};

/// The shard of an item with this identity among `shards`: FNV-1a (64 bits) of its text
/// modulo `shards`, the same on every machine and in every version (the due index's
/// [`DueShard`], the delivery log's [`deliveries::LogShard`], the calls index's
/// [`calls::ListShard`]). `shards` 0 counts as 1.
pub fn shard_of(identity: &str, shards: u16) -> u16 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in identity.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    u16::try_from(h % u64::from(shards.max(1))).unwrap_or(0)
}
/// Every storage port at once, for functions that hold one `Arc<dyn Store>`.
pub trait Store:
    AccountStore
    + CallStore
    + EventStore
    + DeliveryLog
    + AttemptLedger
    + DueStore
    + SuppressionStore
    + EndpointHealthStore
{
}
impl<
        T: AccountStore
            + CallStore
            + EventStore
            + DeliveryLog
            + AttemptLedger
            + DueStore
            + SuppressionStore
            + EndpointHealthStore,
    > Store for T
{
}
