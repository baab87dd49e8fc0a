//! The DynamoDB adapter of every storage port (`domain::ports::store`).
//!
//! One table, generic `pk`/`sk` keys, three GSIs (`gsi3`: an account's calls by creation time; `gsi1`: the delivery log by outcome; `gsi2`:
//! the reconciler's due work, `due.rs`), and a TTL attribute `expires_at`. The item layout is documented in `docs/data-model.md`; the key
//! builders below are the only place it is spelled out in code.

pub mod accounts;
pub mod attempts;
pub mod calls;
pub mod deliveries;
pub mod due;
pub mod endpoints;
mod errors;
pub mod event_store;
mod idempotency;
pub mod item;
mod provider_calls;
pub mod suppressions;
mod table;

use aws_sdk_dynamodb::Client;
use domain::error::StoreError;
pub(crate) use errors::backend;

/// The delivery log by outcome.
pub const GSI1: &str = "gsi1";
/// The reconciler's due work (sparse: only items with a deadline), `due.rs`.
pub const GSI2: &str = "gsi2";
/// An account's calls, newest first (`calls.rs`, `CallStore::calls_of`).
pub const GSI3: &str = "gsi3";
/// Name of the TTL attribute (epoch seconds). Expired items may linger until DynamoDB deletes
/// them, so every read that cares filters them out itself.
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// The SDK configuration's sleep (Tokio's in the functions), for a pause between attempts.
fn sleep_impl(c: &Client) -> Option<aws_smithy_async::rt::sleep::SharedAsyncSleep> {
    c.config().sleep_impl()
}

/// Attempts of a transaction that conflicts with another ([`DynamoStore::transact`]).
pub const TRANSACT_ATTEMPTS: u32 = 3;

/// The DynamoDB adapter of every storage port.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    pub(crate) client: Client,
    pub(crate) table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    /// `items` in one `TransactWriteItems` request, answered as the SDK answers it: each
    /// caller reads the cancellation reasons it cares about (`errors`). A transaction
    /// cancelled only by `TransactionConflict` (another transaction on one of its items; no
    /// condition failed) is sent again, up to [`TRANSACT_ATTEMPTS`] in all, after a short
    /// jittered pause (`errors::conflict_backoff`).
    pub(crate) async fn transact(
        &self,
        items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
    ) -> Result<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput,
        aws_sdk_dynamodb::error::SdkError<
            aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >,
    > {
        let mut attempt = 1;
        loop {
            let res = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            match res {
                // Another transaction held one of the items: nothing was written, and the
                // same request a moment later usually goes through. Retried here, before any
                // caller's fallback (a placed call left `queued`, a callback answered 5xx).
                Err(e) if attempt < TRANSACT_ATTEMPTS && errors::only_transaction_conflicts(&e) => {
                    let delay = errors::conflict_backoff(attempt, uuid::Uuid::new_v4().as_u128());
                    tracing::warn!(
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        "transaction conflict; retrying"
                    );
                    if let Some(sleep) = sleep_impl(&self.client) {
                        use aws_smithy_async::rt::sleep::AsyncSleep;
                        sleep.sleep(delay).await;
                    }
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// One strongly consistent GetItem by key: every read of a single item goes through here.
    pub(crate) async fn read(
        &self,
        key: (String, String),
    ) -> Result<Option<item::Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item::key_map(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        Ok(out.item)
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// Key builders: the single definition of the table layout.
pub mod keys {
    use domain::ids::{AccountId, AgentId, CallId, EventId};

    pub fn account(id: &AccountId) -> (String, String) {
        (format!("ACCOUNT#{id}"), "ACCOUNT".into())
    }
    /// The account's endpoint health (`dynamo::endpoints`).
    pub fn endpoint_health(id: &AccountId) -> (String, String) {
        (format!("ACCOUNT#{id}"), "ENDPOINT_HEALTH".into())
    }
    pub const API_KEY_PREFIX: &str = "APIKEY#";
    pub fn api_key(hash: &str) -> (String, String) {
        (format!("{API_KEY_PREFIX}{hash}"), "APIKEY".into())
    }
    pub use domain::ports::store::calls::ListShard;
    /// `gsi3pk` of a call item: its shard of the account's call list (`CALLS#{id}#{n}`,
    /// `ListShard::of` the call id), or the account's single key of the previous layout.
    pub fn account_calls(account_id: &AccountId, shard: ListShard) -> String {
        match shard {
            ListShard::Shard(n) => format!("CALLS#{account_id}#{n}"),
            ListShard::Legacy => format!("CALLS#{account_id}"),
        }
    }
    pub use domain::ports::store::calls::call_list_sort_key;
    /// One window of an account's per-minute limit (`scope`: settings, costly); expires.
    pub fn rate(account_id: &AccountId, scope: &str, window: i64) -> (String, String) {
        (format!("RATE#{account_id}#{scope}"), format!("W#{window}"))
    }
    pub fn agent(account_id: &AccountId, agent_id: &AgentId) -> (String, String) {
        (format!("ACCOUNT#{account_id}"), format!("AGENT#{agent_id}"))
    }
    pub const AGENT_PREFIX: &str = "AGENT#";
    pub fn provider_agent(provider_agent_id: &str) -> (String, String) {
        (
            format!("PROVIDER_AGENT#{provider_agent_id}"),
            "PROVIDER_AGENT".into(),
        )
    }
    pub fn call(id: &CallId) -> (String, String) {
        (format!("CALL#{id}"), "CALL".into())
    }
    pub fn provider_call(provider_call_id: &str) -> (String, String) {
        (
            format!("PROVIDER_CALL#{provider_call_id}"),
            "PROVIDER_CALL".into(),
        )
    }
    pub fn idempotency(account_id: &AccountId, key: &str) -> (String, String) {
        (
            format!("IDEMPOTENCY#{account_id}#{key}"),
            "IDEMPOTENCY".into(),
        )
    }
    pub fn event(id: &EventId) -> (String, String) {
        (format!("EVENT#{id}"), "EVENT".into())
    }
    pub use domain::ports::store::deliveries::{LogShard, DELIVERY_PREFIX};
    /// In the event's shard of the account's log (`LogShard::of`), sorted by time
    /// (`delivery_sort_key`).
    pub fn delivery(
        account_id: &AccountId,
        attempted_at: chrono::DateTime<chrono::Utc>,
        event_id: &EventId,
        attempt: u32,
    ) -> (String, String) {
        (
            delivery_log(account_id, LogShard::of(event_id)),
            domain::ports::store::deliveries::delivery_sort_key(attempted_at, event_id, attempt),
        )
    }
    /// One partition of the account's delivery log: `ACCOUNT#{id}#LOG#{n}`, or the account's
    /// own partition for the rows the previous layout wrote (read only).
    pub fn delivery_log(account_id: &AccountId, shard: LogShard) -> String {
        match shard {
            LogShard::Shard(n) => format!("ACCOUNT#{account_id}#LOG#{n}"),
            LogShard::Legacy => account(account_id).0,
        }
    }
    pub const SUPPRESSION_PREFIX: &str = "SUPPRESSION#";
    /// A number on the account's do-not-call list, in the account's partition.
    pub fn suppression(account_id: &AccountId, phone: &str) -> (String, String) {
        (
            format!("ACCOUNT#{account_id}"),
            format!("{SUPPRESSION_PREFIX}{phone}"),
        )
    }
    /// `due_kind` (the due index's partition key, `gsi2`) of an item due as `kind` in
    /// `shard`: `<kind>#<n>` (`DueShard::of` the item's identity), or the bare kind for the
    /// legacy partition (read only). Every write of a deadline names its partition through
    /// this (`due::set_due`, `due::due_assignments`), and every read of the index too.
    pub fn due_kind(
        kind: domain::ports::store::DueKind,
        shard: domain::ports::store::DueShard,
    ) -> String {
        shard.key(kind)
    }
    /// `gsi1pk` of a delivery row: its outcome in its shard of the account's log
    /// (`ACCOUNT#{id}#OUTCOME#{outcome}#{n}`; the legacy rows without the shard).
    pub fn delivery_by_outcome(account_id: &AccountId, outcome: &str, shard: LogShard) -> String {
        match shard {
            LogShard::Shard(n) => format!("ACCOUNT#{account_id}#OUTCOME#{outcome}#{n}"),
            LogShard::Legacy => format!("ACCOUNT#{account_id}#OUTCOME#{outcome}"),
        }
    }
}
