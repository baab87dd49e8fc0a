//! Work with a deadline: what the reconciler finds when nothing else finished it in time.
//!
//! Items that may need a repair carry a deadline (`due_at`) and a kind; the DynamoDB adapter
//! keeps them in a sparse index (`gsi2`: only items with a deadline are in it), so the
//! reconciler reads exactly the overdue work, oldest first, and never scans the table. Every
//! write that finishes the work clears the deadline in the same request.
//!
//! | kind | item | due | cleared by |
//! |---|---|---|---|
//! | `event` | a stored event | [`ENQUEUE_GRACE`](super::events::ENQUEUE_GRACE) after it was stored | `mark_event_enqueued` |
//! | `scheduled` | a `scheduled` call (held or `not_before`) | its `scheduled_for` | the claim (`settle_call` -> `queued`), a cancel |
//! | `call` | a `queued` call | its request's lease | `mark_call_dialing` / `_failed` / `_dial_unknown` |
//! | `call` | a `dial_unknown` call | its dial deadline | any callback moving it on |
//! | `call` | an `ended` call | its analysis grace | `complete_call` |
//! | `idempotency` | a record without an answer | its lease | the answer, or the release |
//!
//! The repairs themselves are conditional writes on the item's state, so two reconcilers on
//! the same item cannot both act; the repairs with an external effect (sending an event's
//! queue message, completing a call without its analysis, which sends one) are taken first
//! with [`DueStore::claim_event_repair`] and [`DueStore::claim_call_repair`].

use crate::error::StoreError;
use crate::model::CallStatus;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DueKind {
    Event,
    Call,
    /// A `scheduled` call, due at its `scheduled_for`: the reconciler places it.
    Scheduled,
    Idempotency,
}

impl DueKind {
    /// The order of a reconciler pass: the quick repairs first, the scheduled calls (each
    /// waits for the provider's answer) last, so a backlog of held calls coming due at once
    /// cannot spend every pass's budget before the other repairs run.
    pub const ALL: [DueKind; 4] = [
        DueKind::Event,
        DueKind::Call,
        DueKind::Idempotency,
        DueKind::Scheduled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DueKind::Event => "event",
            DueKind::Call => "call",
            DueKind::Scheduled => "scheduled",
            DueKind::Idempotency => "idempotency",
        }
    }

    /// The kind a call item's deadline is filed under: `scheduled` while the call is
    /// `scheduled`, `call` otherwise. Every write of a call's deadline uses this.
    pub fn for_call(status: CallStatus) -> DueKind {
        match status {
            CallStatus::Scheduled => DueKind::Scheduled,
            _ => DueKind::Call,
        }
    }
}

/// Which item is due.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DueWork {
    Event(Uuid),
    Call(Uuid),
    /// A scheduled call to place.
    Scheduled(Uuid),
    Idempotency {
        account_id: String,
        key: String,
    },
    /// An index entry the store could not read (an attribute that names the item is missing
    /// or malformed), by its table key. Nothing can repair it; the reconciler quarantines it
    /// ([`DueStore::quarantine_due`]) so the items behind it are not blocked.
    Unreadable {
        kind: DueKind,
        pk: String,
        sk: String,
    },
}

/// The `due_kind` a poison item is moved to ([`DueStore::quarantine_due`]): out of every
/// partition a reconciler pass reads, still in the index (by its old `due_at`) for an
/// operator to find (docs/deploy.md, "Quarantined due items").
pub const QUARANTINE_KIND: &str = "quarantine";

impl DueWork {
    /// The kind the item is filed under in the index.
    pub fn kind(&self) -> DueKind {
        match self {
            DueWork::Event(_) => DueKind::Event,
            DueWork::Call(_) => DueKind::Call,
            DueWork::Scheduled(_) => DueKind::Scheduled,
            DueWork::Idempotency { .. } => DueKind::Idempotency,
            DueWork::Unreadable { kind, .. } => *kind,
        }
    }

    /// A call item's work under `kind` (`scheduled` or `call`).
    pub fn call(kind: DueKind, id: Uuid) -> DueWork {
        match kind {
            DueKind::Scheduled => DueWork::Scheduled(id),
            _ => DueWork::Call(id),
        }
    }
}

/// One overdue item, as the index showed it (eventually consistent: re-read before acting).
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    pub work: DueWork,
    pub due_at: DateTime<Utc>,
}

#[async_trait]
pub trait DueStore: Send + Sync {
    /// Up to `limit` items of `kind` due at or before `now`, earliest first.
    async fn due(
        &self,
        kind: DueKind,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Due>, StoreError>;
    /// Takes an event's enqueue repair: moves its deadline from `seen` to `until` only if the
    /// event is still not enqueued and still due at `seen`. `Ok(false)`: another reconciler
    /// took it, or it was enqueued meanwhile. A reconciler that dies after the claim leaves
    /// the event due again at `until`.
    async fn claim_event_repair(
        &self,
        event_id: Uuid,
        seen: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Moves a poison item (one that cannot be read or repaired) out of its kind's partition
    /// into [`QUARANTINE_KIND`], keeping its `due_at`; nothing else on the item changes.
    /// Conditional: a readable item only if still due at `due.due_at`, an unreadable one
    /// only if still filed under its kind; `Ok(false)`, and nothing written, otherwise (it
    /// moved on, and is no longer the item that failed).
    async fn quarantine_due(&self, due: &Due) -> Result<bool, StoreError>;
    /// Takes a call's repair: moves its deadline from `seen` to `until` only if it is still
    /// `seen`. `Ok(false)`: another reconciler took it, or the call moved on meanwhile.
    async fn claim_call_repair(
        &self,
        call_id: Uuid,
        seen: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}
