//! Call records, the provider-call index and idempotency records.
use crate::error::StoreError;
use crate::ids::{AccountId, CallId};
use crate::model::{Call, CallStatus, EventRecord, IdempotencyRecord, StoredResponse};
use crate::ports::store::event_store::NewEvent;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use port_macro::port;

/// Largest page of an account's calls.
pub const MAX_CALL_PAGE: usize = 100;
/// Rows read from the index per page at most, whatever the filter keeps: a status filter over
/// a long history answers a short page with a cursor instead of reading without end.
pub const MAX_CALL_ROWS_READ: usize = 1_000;
/// Longest cursor string accepted.
const MAX_CALL_CURSOR_CHARS: usize = 256;

/// The sort key of a call in its account's list (`gsi3sk`): creation time (fixed-width
/// milliseconds, so string order is time order), then the id. Cursors carry it.
pub fn call_list_sort_key(created_at: DateTime<Utc>, id: &CallId) -> String {
    format!("{}#{id}", crate::clock::rfc3339_millis(created_at))
}

/// Partitions of an account's call list (`gsi3`, projection ALL: every write of a call item
/// rewrites its copy there).
///
/// The arithmetic, from the capacity model's captured profiles (docs/benchmarks.md, "Capacity
/// model"): every write of a call item rewrites its list entry, so the busiest account (20 %
/// of the calls: 200 a second at the 1,000 webhooks/s target, 1,000 at the 5,000/s peak when
/// inbound calls peak with the webhooks) writes about 850 WCU/s on its list key at the
/// target and 4,060 at the peak. 8 shards by call id leave about 105 and 510 WCU/s a key
/// (goals 300 and 1,000; 4 left 1,015 at the peak). A page reads every shard (and the legacy
/// key), 9 small queries merged by sort key; a projection that leaves out what changes (so updates would not write the index)
/// cannot be changed on the existing index (CloudFormation updates a GSI's throughput only),
/// see docs/data-model.md.
pub const LIST_SHARDS: u16 = 8;

/// One partition of an account's call list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ListShard {
    /// Where every call item is listed: `n` below [`LIST_SHARDS`], from the call id.
    Shard(u16),
    /// The account's single key of the previous layout: call items written before the upgrade
    /// stay there (an update does not rewrite `gsi3pk`); read as one more shard.
    Legacy,
}

impl ListShard {
    pub fn of(call_id: &CallId) -> ListShard {
        ListShard::Shard(super::shard_of(&call_id.to_string(), LIST_SHARDS))
    }

    /// Every partition of the list, the legacy one last.
    pub fn all() -> impl Iterator<Item = ListShard> {
        (0..LIST_SHARDS)
            .map(ListShard::Shard)
            .chain(std::iter::once(ListShard::Legacy))
    }
}

/// Which of an account's calls to list, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallQuery {
    pub status: Option<CallStatus>,
    /// Calls created at or after this instant.
    pub created_after: Option<DateTime<Utc>>,
    /// Calls created strictly before this instant.
    pub created_before: Option<DateTime<Utc>>,
    /// Calls per page, 1 to [`MAX_CALL_PAGE`] (clamped).
    pub limit: usize,
    /// Continue below this cursor (from a previous page of the same query).
    pub after: Option<CallCursor>,
}

/// One page of an account's calls.
#[derive(Debug, Clone, PartialEq)]
pub struct CallPage {
    pub calls: Vec<Call>,
    /// Opaque; `None` when nothing is left.
    pub next_cursor: Option<String>,
}

/// Where a page of calls ended: the list sort key below which the next page starts. Encoded
/// as unpadded base64url of a small JSON object; the account is never part of it (it comes
/// from the caller), so a cursor only ever moves inside the caller's own calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallCursor(String);

impl CallCursor {
    pub fn new(sort_key: String) -> CallCursor {
        CallCursor(sort_key)
    }

    pub fn sort_key(&self) -> &str {
        &self.0
    }

    pub fn encode(&self) -> String {
        use base64::Engine;
        let json = serde_json::json!({"v": 1, "sk": self.0});
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string())
    }

    pub fn decode(s: &str) -> Result<CallCursor, super::deliveries::InvalidCursor> {
        use super::deliveries::InvalidCursor;
        use base64::Engine;
        let bad = || InvalidCursor("the cursor is not one this API returned");
        if s.is_empty() || s.len() > MAX_CALL_CURSOR_CHARS {
            return Err(InvalidCursor("the cursor is empty or too long"));
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| bad())?;
        let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        let sk = json
            .get("sk")
            .and_then(|v| v.as_str())
            .filter(|_| json.get("v").and_then(|v| v.as_u64()) == Some(1))
            .ok_or_else(bad)?;
        // Only a key exactly as `call_list_sort_key` writes it.
        let (time, id) = sk.split_once('#').ok_or_else(bad)?;
        let time = DateTime::parse_from_rfc3339(time).map_err(|_| bad())?;
        let id = CallId::parse(id).map_err(|_| bad())?;
        if call_list_sort_key(time.with_timezone(&Utc), &id) != sk {
            return Err(bad());
        }
        Ok(CallCursor(sk.to_string()))
    }
}

impl CallPage {
    /// A page from the calls a read matched, newest first with their sort keys (at most
    /// `limit + 1`), and the sort key of the last row the read examined when it stopped
    /// before the end of the range (the read bound): every adapter pages the same way.
    pub fn from_rows(
        mut matched: Vec<(String, Call)>,
        limit: usize,
        stopped_at: Option<String>,
    ) -> CallPage {
        let next = if matched.len() > limit {
            matched.truncate(limit);
            matched.last().map(|(sk, _)| sk.clone())
        } else {
            stopped_at
        };
        CallPage {
            calls: matched.into_iter().map(|(_, c)| c).collect(),
            next_cursor: next.map(|sk| CallCursor::new(sk).encode()),
        }
    }
}

/// The sort-key bounds of a query, shared by every adapter: `(lower inclusive, upper
/// exclusive)`; the cursor tightens the upper bound. `None` when the range is empty.
pub fn call_key_range(q: &CallQuery) -> Option<(Option<String>, Option<String>)> {
    let lower = q.created_after.map(crate::clock::rfc3339_millis);
    let mut upper = q.created_before.map(crate::clock::rfc3339_millis);
    if let Some(c) = &q.after {
        let sk = c.sort_key().to_string();
        upper = Some(match upper {
            Some(u) if u < sk => u,
            _ => sk,
        });
    }
    match (&lower, &upper) {
        (Some(l), Some(u)) if l >= u => None,
        _ => Some((lower, upper)),
    }
}

/// What `create_call` did.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateCallOutcome {
    Created,
    /// The Idempotency-Key is already taken (by a finished or a running request); nothing was
    /// written.
    IdempotencyKeyExists(IdempotencyRecord),
}

/// What a provider callback learned about a call. `None` fields are left as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallProgress {
    /// Recorded only if the call has none yet (trigger-call normally wrote it).
    pub provider_call_id: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i64>,
    pub disconnection_reason: Option<String>,
    /// The call's reconciler deadline after this move (`Call::due_at`): set when given,
    /// cleared otherwise (an `ended` call gets its analysis grace; a call moving to
    /// `in_progress` no longer needs its dial deadline).
    pub due_at: Option<DateTime<Utc>>,
}

/// The provider's analysis, kept on the completed call record.
#[derive(Debug, Clone, PartialEq)]
pub struct CallCompletion<'a> {
    pub summary: &'a str,
    /// `positive`, `neutral`, `negative` or `unknown`.
    pub sentiment: &'a str,
    /// The one `call.completed` event of the call, stored in the same transaction.
    pub event: &'a EventRecord,
    pub event_expires_at: DateTime<Utc>,
    /// When the reconciler enqueues the event if nobody marked it enqueued before.
    pub event_due_at: DateTime<Utc>,
}

#[port]
#[async_trait]
pub trait CallStore: Send + Sync {
    /// Writes a new call record and, when given, its idempotency record, atomically.
    async fn create_call(
        &self,
        call: &Call,
        idempotency: Option<&IdempotencyRecord>,
        now: DateTime<Utc>,
    ) -> Result<CreateCallOutcome, StoreError>;
    /// The provider accepted the call: `queued` -> `dialing` with its id and its next deadline
    /// (`due_at`: if no callback finishes it by then, the reconciler does), and the answer
    /// remembered for the Idempotency-Key, in one write.
    async fn mark_call_dialing(
        &self,
        call_id: CallId,
        provider_call_id: &str,
        at: DateTime<Utc>,
        due_at: DateTime<Utc>,
        idempotency: Option<(&IdempotencyRecord, &StoredResponse)>,
    ) -> Result<(), StoreError>;
    /// The provider's answer was lost: `queued` -> `dial_unknown` with its deadline
    /// (`due_at`), and the answer for the Idempotency-Key (a 502 naming the call) remembered,
    /// in one write: a retry replays it and never dials again. `Ok(false)`, and nothing
    /// written, when the call is no longer `queued` (a callback already proved it placed).
    async fn mark_call_dial_unknown(
        &self,
        call_id: CallId,
        at: DateTime<Utc>,
        due_at: DateTime<Utc>,
        idempotency: Option<(&IdempotencyRecord, &StoredResponse)>,
    ) -> Result<bool, StoreError>;
    /// Remembers a finished request's answer on its idempotency record.
    async fn remember_answer(
        &self,
        record: &IdempotencyRecord,
        response: &StoredResponse,
    ) -> Result<(), StoreError>;
    /// The reconciler's move of a call nothing else moved on in time: `from` -> `to` with an
    /// optional failure reason and the next deadline (cleared when `None`), only if the call
    /// is still `from`. `Ok(false)`, and nothing written, otherwise.
    async fn settle_call(
        &self,
        call_id: CallId,
        from: CallStatus,
        to: CallStatus,
        reason: Option<&str>,
        at: DateTime<Utc>,
        due_at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError>;
    /// Answers an Idempotency-Key whose request died (`crate::dead_request`): stores `response`
    /// and takes the record out of the due index, only if the record still belongs to
    /// `record.call_id` and has no answer. `Ok(false)`, and nothing written, otherwise.
    async fn answer_dead_request(
        &self,
        record: &IdempotencyRecord,
        response: &StoredResponse,
    ) -> Result<bool, StoreError>;
    /// The provider failed: `queued` -> `failed` with the reason; the Idempotency-Key is
    /// released so the client can retry with it.
    async fn mark_call_failed(
        &self,
        call_id: CallId,
        reason: &str,
        at: DateTime<Utc>,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError>;
    async fn call(&self, id: CallId) -> Result<Option<Call>, StoreError>;
    /// The live (unexpired) record of an Idempotency-Key.
    async fn idempotency(
        &self,
        account_id: &AccountId,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;
    /// Moves the call forward to `to` (`in_progress` or `ended`) with what a callback learned.
    /// Only forward: `Ok(false)`, and nothing written, when the call is already at or past
    /// `to` (by `CallStatus::rank`) or does not exist.
    async fn advance_call(
        &self,
        call_id: CallId,
        to: CallStatus,
        progress: &CallProgress,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// [`CallStore::advance_call`] and the event it causes (`call.started`, `call.failed`:
    /// `crate::event_rules`) in one transaction: both or neither. `Ok(false)`, and nothing
    /// written, when the call does not move; `Conflict` when the call would move but the
    /// event exists already (a concurrent path stored it: retry, and the re-read call decides).
    async fn advance_call_with_event(
        &self,
        call_id: CallId,
        to: CallStatus,
        progress: &CallProgress,
        at: DateTime<Utc>,
        event: &NewEvent,
    ) -> Result<bool, StoreError>;
    /// [`CallStore::settle_call`] and the event it causes (the reconciler's `call.failed`, or
    /// `call.completed`: `crate::event_rules::failure_ending`) in one transaction: both or neither.
    /// A `call.completed` is recorded on the call as its event (`Call::event_id`), as
    /// [`CallStore::complete_call`] does, so no later completion stores a second one. `Ok(false)`, and nothing written, when the call is no
    /// longer `from`; `Conflict` when the event exists already.
    #[allow(clippy::too_many_arguments)]
    async fn settle_call_with_event(
        &self,
        call_id: CallId,
        from: CallStatus,
        to: CallStatus,
        reason: Option<&str>,
        at: DateTime<Utc>,
        due_at: Option<DateTime<Utc>>,
        event: &NewEvent,
    ) -> Result<bool, StoreError>;
    /// Completes the call and stores its one event, in one transaction: the call moves to
    /// `completed` with the event's id only if it has no event yet and is not past `completed`,
    /// and the event item is new. `Ok(false)`, and nothing written, when the condition fails
    /// (another callback completed it first, or the call is unknown or failed).
    async fn complete_call(
        &self,
        call_id: CallId,
        progress: &CallProgress,
        completion: &CallCompletion<'_>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// One page of the account's calls, newest first (by creation, then id), through its index
    /// (never a scan): the status filter is applied to what the index reads, at most
    /// [`MAX_CALL_ROWS_READ`] rows a page, so a page may be short with a cursor.
    async fn calls_of(
        &self,
        account_id: &AccountId,
        query: &CallQuery,
    ) -> Result<CallPage, StoreError>;
    /// Our call id for a provider call id, from the index written with inbound calls.
    async fn call_id_by_provider_call(
        &self,
        provider_call_id: &str,
    ) -> Result<Option<CallId>, StoreError>;
    /// Writes a new inbound call with its provider-call index entry, atomically, unless the
    /// provider call id is already indexed. Returns the id of the call that owns the provider
    /// call id: `call.id` when created, the existing call's when another callback won.
    async fn create_inbound_call(&self, call: &Call) -> Result<CallId, StoreError>;
}
