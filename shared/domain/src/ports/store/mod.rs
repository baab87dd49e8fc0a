//! Storage ports: the traits the functions depend on. Adapters: `aws_adapters::dynamo`
//! (DynamoDB) and `in_memory::MemoryStore`.

pub mod accounts;
pub mod attempts;
pub mod calls;
pub mod deliveries;
pub mod due;
pub mod endpoints;
pub mod events;
pub mod suppressions;

pub use accounts::AccountStore;
pub use attempts::{AttemptLedger, Claim, LedgerClaim, LedgerState};
pub use calls::{CallStore, CreateCallOutcome};
pub use deliveries::{DeliveryLog, DeliveryPage};
pub use due::{Due, DueKind, DueStore, DueWork};
pub use endpoints::{EndpointHealth, EndpointHealthStore};
pub use events::EventStore;
pub use suppressions::{SuppressionPage, SuppressionStore};
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
