//! `MemoryStore`: every storage port in memory, with the DynamoDB adapter's semantics.
//!
//! Each method takes one lock over the whole state, so it is atomic the way one DynamoDB
//! request or transaction is: a transaction whose condition fails writes nothing. The
//! conditions, the order in which they are checked, and what a lost condition returns
//! (`StoreError::Conflict`, `Ok(false)`, `Claim::InFlight`...) follow `aws_adapters::dynamo`
//! method by method; each module names the adapter method it mirrors where it matters.
//!
//! What DynamoDB does to values on the way through is reproduced too, because a test that
//! passes here must not fail there: times are kept to the millisecond (`rfc3339_millis`), TTL
//! expiries to the second (epoch seconds), and an unconditional UpdateItem on a missing item
//! leaves a fragment that later reads report as `Corrupt`, as the adapter's reader would.
//!
//! The store never reads a clock: like the adapter, it takes `now` from its callers.

mod accounts;
mod attempts;
mod calls;
mod deliveries;
mod due;
mod endpoints;
mod event_store;
mod suppressions;

use chrono::{DateTime, SubsecRound, Utc};
use domain::ids::{AccountId, AgentId, CallId, EventId};
use domain::model::StoredResponse;
use domain::model::{Account, Agent, Call, DeliveryAttempt, IdempotencyRecord, KeyGrant};
use domain::ports::store::event_store::StoredEvent;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use uuid::Uuid;

/// The in-memory adapter of every storage port (`domain::ports::store::Store`).
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// Every stored event, for tests that count them (the ports only read events by id).
    pub fn events(&self) -> Vec<StoredEvent> {
        self.state().events.values().cloned().collect()
    }

    /// Puts an unreadable item in the due index under `kind`, due at `due_at` (what the
    /// table holds when an item carries `due_kind`/`due_at` but not the attribute that names
    /// it): `due` hands it back as `DueWork::Unreadable`. Returns its table key.
    pub fn poison_due(
        &self,
        kind: domain::ports::store::DueKind,
        due_at: DateTime<Utc>,
    ) -> (String, String) {
        let key = (format!("POISON#{}", Uuid::new_v4()), "CALL".to_string());
        self.state()
            .unreadable_due
            .insert(key.clone(), (kind.as_str().to_string(), ms(due_at)));
        key
    }

    /// The items moved to the quarantine kind (`DueStore::quarantine_due`), for tests.
    pub fn quarantined(&self) -> usize {
        let s = self.state();
        s.quarantined.len()
            + s.unreadable_due
                .values()
                .filter(|(k, _)| k == domain::ports::store::due::QUARANTINE_KIND)
                .count()
    }

    /// The whole state, for one atomic operation. A panic in another test thread while holding
    /// the lock leaves consistent data (every method checks before it writes), so a poisoned
    /// lock is simply taken over.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The table's items, one map per item type, keyed like the table (see `dynamo::keys`).
#[derive(Debug, Default)]
struct State {
    /// `ACCOUNT#{id}` / `ACCOUNT`.
    accounts: HashMap<AccountId, Account>,
    /// `APIKEY#{hash}`.
    grants: HashMap<String, KeyGrant>,
    /// The key grant item's window counter: key hash -> (window, uses in it). A settings
    /// write keeps it and a rotation moves it to the new key (`save_account`), as the
    /// adapter's in-place update and counter copy do.
    key_uses: HashMap<String, (i64, u64)>,
    /// `RATE#{account}#{scope}` / `W#{window}` -> uses.
    account_uses: HashMap<(AccountId, String, i64), u64>,
    /// `ACCOUNT#{account}` / `AGENT#{id}`.
    agents: HashMap<(AccountId, AgentId), Agent>,
    /// `PROVIDER_AGENT#{provider id}` -> (account id, agent id).
    provider_agents: HashMap<String, (AccountId, AgentId)>,
    /// `CALL#{id}`.
    calls: HashMap<CallId, CallItem>,
    /// `PROVIDER_CALL#{provider call id}` -> call id.
    provider_calls: HashMap<String, CallId>,
    /// `IDEMPOTENCY#{account}#{key}` (the formatted key, so two pairs that spell the same key
    /// share one item, as in the table).
    idempotency: HashMap<String, IdempotencyItem>,
    /// `EVENT#{id}` / `EVENT`.
    events: HashMap<EventId, StoredEvent>,
    /// `ACCOUNT#{account}` / `DELIVERY#...`, ordered by sort key like the partition.
    deliveries: HashMap<AccountId, BTreeMap<String, DeliveryAttempt>>,
    /// `EVENT#{id}` / `ATTEMPT#{series}#{attempt:02}`.
    attempts: HashMap<(EventId, String), AttemptItem>,
    /// `ACCOUNT#{account}` / `SUPPRESSION#{phone}`: account -> phone -> created_at.
    suppressions: HashMap<AccountId, BTreeMap<String, chrono::DateTime<Utc>>>,
    /// Items in the due index that cannot be read ([`MemoryStore::poison_due`]): key ->
    /// (`due_kind`, `due_at`).
    unreadable_due: BTreeMap<(String, String), (String, DateTime<Utc>)>,
    /// Readable items moved to the quarantine kind, with the `due_at` they had: out of their
    /// kind's index until a write gives them another deadline (which, in the table, sets
    /// `due_kind` again).
    quarantined: HashMap<domain::ports::store::DueWork, DateTime<Utc>>,
    /// `ACCOUNT#{account}` / `ENDPOINT_HEALTH`.
    endpoint_health: HashMap<AccountId, domain::ports::store::EndpointHealth>,
}

/// A call item as the table may hold it.
#[derive(Debug, Clone)]
enum CallItem {
    Full(Box<Call>),
    /// What `mark_call_dialing`'s unconditional fallback update leaves when no call item
    /// existed: the key and `provider_call_id` only. The adapter cannot read it back.
    Fragment,
}

/// An idempotency item as the table may hold it.
#[derive(Debug, Clone)]
enum IdempotencyItem {
    /// `expires_at` is whole seconds, as the TTL attribute keeps it.
    Record(IdempotencyRecord),
    /// What the unconditional "remember the answer" update leaves when the record was gone:
    /// the answer without the record's attributes. The adapter cannot read it back.
    AnswerOnly(StoredResponse),
}

/// A claim in the attempt ledger.
#[derive(Debug, Clone)]
struct AttemptItem {
    /// Epoch milliseconds; absent on an item `finish_attempt` created without a claim.
    lease_until_ms: Option<i64>,
    /// Set when the attempt is finished (the `done` state): the row `finish_attempt` stored.
    row: Option<Box<domain::model::DeliveryAttempt>>,
}

/// A time as stored by `ItemBuilder::time`: RFC 3339 with milliseconds, so sub-millisecond
/// digits are cut off.
fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(3)
}

/// A time as the TTL attribute keeps it: epoch seconds, read back with
/// `DateTime::from_timestamp(.., 0).unwrap_or_default()`.
fn secs(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or_default()
}

/// The message the adapter's `transaction_error` gives a cancelled transaction, with the
/// cancellation reason of each item in order.
fn cancelled(reasons: &[&str]) -> domain::StoreError {
    domain::StoreError::Conflict(format!("transaction cancelled: {reasons:?}"))
}

/// The message of a failed single conditional write.
fn condition_failed() -> domain::StoreError {
    domain::StoreError::Conflict("The conditional request failed".into())
}

#[cfg(test)]
mod tests;
