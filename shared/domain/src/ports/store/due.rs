//! Work with a deadline: what the reconciler finds when nothing else finished it in time.
//!
//! Items that may need a repair carry a deadline (`due_at`) and a kind; the DynamoDB adapter
//! keeps them in a sparse index (`gsi2`: only items with a deadline are in it), so the
//! reconciler reads exactly the overdue work, oldest first, and never scans the table. Every
//! write that finishes the work clears the deadline in the same request.
//!
//! | kind | item | due | cleared by |
//! |---|---|---|---|
//! | `event` | a stored event | [`ENQUEUE_GRACE`](super::event_store::ENQUEUE_GRACE) after it was stored | `mark_event_enqueued` |
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
use crate::ids::{AccountId, CallId, EventId};
use crate::model::CallStatus;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use port_macro::port;

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

/// Partitions per kind in the due index: an item's `due_kind` is `<kind>#<n>`, `n` =
/// [`DueShard::of`] its identity (event id, call id, account and Idempotency-Key) modulo this.
///
/// The arithmetic (a GSI partition takes 1,000 WCU/s; the due index projects only the
/// item's names, so one index write is 1 WCU), from the capacity model's captured profiles
/// (docs/benchmarks.md, "Capacity model"): at the target (1,000 webhooks/s from 200 placed
/// and 800 inbound calls a second) the `call` kind takes about 4,400 WCU/s (a call's every
/// move of its deadline is a delete and a put in the index), 20,500 at the 5,000/s peak when
/// the inbound calls peak with the webhooks; the `event` kind 2,000 and 10,100. 32 shards
/// leave 140 WCU/s per `call` key at the target (goal 300) and 640 at the peak (goal 1,000);
/// 16 left 1,280 at the peak. The reconciler reads every shard of a kind in parallel (plus
/// [`DueShard::Legacy`]), 33 small queries a kind: cheap against a pass a minute.
pub const DUE_SHARDS: u16 = 32;

/// One partition of a kind in the due index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DueShard {
    /// `<kind>#<n>`, `n` below [`DUE_SHARDS`]: where every deadline is written.
    Shard(u16),
    /// The bare `<kind>`: deadlines written before the index was sharded (and items filed by
    /// hand). Never written any more; read once a pass until what is left there drains
    /// (docs/data-model.md, "Due work").
    Legacy,
}

impl DueShard {
    /// Every partition of a kind, the legacy one last.
    pub fn all() -> impl Iterator<Item = DueShard> {
        (0..DUE_SHARDS)
            .map(DueShard::Shard)
            .chain(std::iter::once(DueShard::Legacy))
    }

    /// The shard of an item with this identity: a stable hash ([`super::shard_of`], FNV-1a)
    /// modulo [`DUE_SHARDS`].
    pub fn of(identity: &str) -> DueShard {
        DueShard::Shard(super::shard_of(identity, DUE_SHARDS))
    }

    /// An event's shard (by its id).
    pub fn event(id: &EventId) -> DueShard {
        DueShard::of(&id.to_string())
    }

    /// A call's shard (by its id), whether filed under `call` or `scheduled`.
    pub fn call(id: &CallId) -> DueShard {
        DueShard::of(&id.to_string())
    }

    /// An Idempotency-Key record's shard (by account and key).
    pub fn idempotency(account_id: &AccountId, key: &str) -> DueShard {
        DueShard::of(&format!("{account_id}#{key}"))
    }

    /// The `due_kind` value of this partition of `kind`: `<kind>#<n>`, or the bare kind for
    /// the legacy one. The single spelling of the index's partition key (the DynamoDB
    /// adapter's `keys::due_kind` and the in-memory adapter both use it).
    pub fn key(self, kind: DueKind) -> String {
        match self {
            DueShard::Shard(n) => format!("{}#{n}", kind.as_str()),
            DueShard::Legacy => kind.as_str().to_string(),
        }
    }

    /// Whether a stored `due_kind` value files an item under `kind` (any shard, or legacy).
    pub fn is_kind(value: &str, kind: DueKind) -> bool {
        value
            .strip_prefix(kind.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('#'))
    }
}

/// Which item is due.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DueWork {
    Event(EventId),
    Call(CallId),
    /// A scheduled call to place.
    Scheduled(CallId),
    Idempotency {
        account_id: AccountId,
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

    /// The shard the item's deadline is written to; `None` for an unreadable entry (its name
    /// could not be read, so neither can its shard).
    pub fn shard(&self) -> Option<DueShard> {
        match self {
            DueWork::Event(id) => Some(DueShard::event(id)),
            DueWork::Call(id) | DueWork::Scheduled(id) => Some(DueShard::call(id)),
            DueWork::Idempotency { account_id, key } => {
                Some(DueShard::idempotency(account_id, key))
            }
            DueWork::Unreadable { .. } => None,
        }
    }

    /// A call item's work under `kind` (`scheduled` or `call`).
    pub fn call(kind: DueKind, id: CallId) -> DueWork {
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

#[port]
#[async_trait]
pub trait DueStore: Send + Sync {
    /// Up to `limit` items of `kind` in one partition ([`DueShard`]) due at or before `now`,
    /// earliest first. The reconciler reads every shard of a kind this way, in parallel.
    async fn due_in_shard(
        &self,
        kind: DueKind,
        shard: DueShard,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Due>, StoreError>;
    /// Up to `limit` items of `kind` due at or before `now`, earliest first, over every
    /// shard (the legacy one included): the shards read one after the other and merged. For
    /// tools and tests; the reconciler reads the shards itself ([`DueStore::due_in_shard`]).
    async fn due(
        &self,
        kind: DueKind,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Due>, StoreError> {
        let mut all = Vec::new();
        for shard in DueShard::all() {
            all.extend(self.due_in_shard(kind, shard, now, limit).await?);
        }
        all.sort_by_key(|d| d.due_at);
        all.truncate(limit.clamp(1, 1000));
        Ok(all)
    }
    /// Takes an event's enqueue repair: moves its deadline from `seen` to `until` only if the
    /// event is still not enqueued and still due at `seen`. `Ok(false)`: another reconciler
    /// took it, or it was enqueued meanwhile. A reconciler that dies after the claim leaves
    /// the event due again at `until`.
    async fn claim_event_repair(
        &self,
        event_id: EventId,
        seen: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Moves a poison item (one that cannot be read or repaired) out of its kind's partition
    /// into [`QUARANTINE_KIND`], keeping its `due_at`; nothing else on the item changes.
    /// Conditional: a readable item only if still due at `due.due_at`, an unreadable one
    /// only if still filed under its kind (any shard of it, [`DueShard::is_kind`]); `Ok(false)`, and nothing written, otherwise (it
    /// moved on, and is no longer the item that failed).
    async fn quarantine_due(&self, due: &Due) -> Result<bool, StoreError>;
    /// Takes a call's repair: moves its deadline from `seen` to `until` only if it is still
    /// `seen`. `Ok(false)`: another reconciler took it, or the call moved on meanwhile.
    async fn claim_call_repair(
        &self,
        call_id: CallId,
        seen: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}
