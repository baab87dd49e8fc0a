//! The delivery log: one item per webhook attempt (or decision not to send), newest first,
//! filterable by outcome, kept [`RETENTION_DAYS`].
//!
//! Layout (see `keys::delivery`): the items live in one of the account's [`LOG_SHARDS`] log
//! partitions, chosen by the event ([`LogShard::of`]: `pk = ACCOUNT#{id}#LOG#{n}`,
//! `sk = DELIVERY#{attempted_at, ms}#{event_id}#{attempt:02}`), so the unfiltered log is one
//! reverse range query a shard, merged by sort key; `gsi1pk = ACCOUNT#{id}#OUTCOME#{outcome}#{n}`
//! with `gsi1sk = sk` serves the outcome filter the same way. Rows written before the log
//! was sharded sit in the account's own partition (`ACCOUNT#{id}`, and
//! `ACCOUNT#{id}#OUTCOME#{outcome}` on the index): [`LogShard::Legacy`], read as one more
//! shard until their TTL passes. The sort key is unique per attempt and totally ordered (and
//! the same whatever the shard), which is what makes cursor pagination exact: the next page
//! starts strictly after the last row of the previous one, even when many attempts share a
//! millisecond.
//!
//! Rows carry the TTL attribute (`attempted_at` + retention). DynamoDB deletes them lazily and
//! the emulator never does, so reads skip expired rows themselves.

use crate::error::StoreError;
use crate::ids::{AccountId, EventId};
use crate::model::{DeliveryAttempt, DeliveryOutcome};
use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, Utc};
use port_macro::port;

/// Partitions of one account's log (and of each of its outcome keys on `gsi1`).
///
/// The arithmetic: a delivery row (and its `gsi1` copy) is under 1 KB, 1 WCU; a webhook
/// writes about 1.1 rows (first attempts and retries). The busiest account at 20 % of the
/// 5,000 webhooks/s peak writes ~1,100 WCU/s to its log and as much to its `delivered` key on
/// `gsi1`: over a partition's 1,000 WCU/s, and split-for-heat cannot split a time-ordered key.
/// 8 shards by event leave ~140 WCU/s a key at the peak and ~30 at 1,000 webhooks/s (goals:
/// 1,000 and 300). A page reads every shard (and the legacy partition), 9 small queries.
pub const LOG_SHARDS: u16 = 8;

/// One partition of an account's delivery log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogShard {
    /// Where every row is written: `n` below [`LOG_SHARDS`], from the event id.
    Shard(u16),
    /// The account's own partition, where the previous layout wrote its rows: read only,
    /// until the last of them expires (30 days after the upgrade).
    Legacy,
}

impl LogShard {
    /// The shard of every attempt of one event (its rows stay together).
    pub fn of(event_id: &EventId) -> LogShard {
        LogShard::Shard(super::shard_of(&event_id.to_string(), LOG_SHARDS))
    }

    /// Every partition of the log, the legacy one last.
    pub fn all() -> impl Iterator<Item = LogShard> {
        (0..LOG_SHARDS)
            .map(LogShard::Shard)
            .chain(std::iter::once(LogShard::Legacy))
    }
}

/// How long attempts stay in the log.
pub const RETENTION_DAYS: i64 = 30;
/// Largest page the log serves.
pub const MAX_PAGE_SIZE: usize = 100;
/// Longest cursor string accepted (a real one is about 170 characters).
const MAX_CURSOR_CHARS: usize = 512;

/// One page of the delivery log.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryPage {
    pub attempts: Vec<DeliveryAttempt>,
    /// Opaque; `None` when this page is the last one.
    pub next_cursor: Option<String>,
}

impl DeliveryPage {
    /// A page from up to `limit + 1` rows read in log order with their sort keys: the extra
    /// row only says there is a next page, whose cursor is the last returned row's key. Every
    /// adapter pages the same way through this.
    pub fn from_rows(
        mut rows: Vec<(String, DeliveryAttempt)>,
        limit: usize,
        outcome: Option<DeliveryOutcome>,
    ) -> DeliveryPage {
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last()
                .map(|(sk, _)| DeliveryCursor::new(outcome, sk.clone()).encode())
        } else {
            None
        };
        DeliveryPage {
            attempts: rows.into_iter().map(|(_, a)| a).collect(),
            next_cursor,
        }
    }
}

/// What page of the log to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryQuery {
    pub outcome: Option<DeliveryOutcome>,
    /// Rows per page, 1 to [`MAX_PAGE_SIZE`] (clamped).
    pub limit: usize,
    /// Continue after this cursor (from a previous page with the same filter).
    pub after: Option<DeliveryCursor>,
}

/// Where a page ended: the sort key of its last row and the filter it was read with.
///
/// Encoded for clients as unpadded base64url of a small JSON object. The account is not part
/// of it: the partition always comes from the authenticated caller, so a cursor can only ever
/// position a read inside the caller's own log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryCursor {
    outcome: Option<DeliveryOutcome>,
    sort_key: String,
}

/// A cursor that was not produced by this log (or was altered).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidCursor(pub &'static str);

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorJson {
    v: u8,
    outcome: Option<DeliveryOutcome>,
    sk: String,
}

impl DeliveryCursor {
    /// The filter the cursor's page was read with; a cursor only continues that same filter.
    pub fn outcome(&self) -> Option<DeliveryOutcome> {
        self.outcome
    }

    /// A cursor that continues after the row with this sort key (written by an adapter).
    pub fn new(outcome: Option<DeliveryOutcome>, sort_key: String) -> DeliveryCursor {
        DeliveryCursor { outcome, sort_key }
    }

    /// The sort key of the last row of the previous page ([`delivery_sort_key`]).
    pub fn sort_key(&self) -> &str {
        &self.sort_key
    }

    pub fn encode(&self) -> String {
        let json = serde_json::json!({"v": 1, "outcome": self.outcome, "sk": self.sort_key});
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string())
    }

    pub fn decode(s: &str) -> Result<DeliveryCursor, InvalidCursor> {
        if s.is_empty() || s.len() > MAX_CURSOR_CHARS {
            return Err(InvalidCursor("the cursor is empty or too long"));
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| InvalidCursor("the cursor is not one this API returned"))?;
        let parsed: CursorJson = serde_json::from_slice(&bytes)
            .map_err(|_| InvalidCursor("the cursor is not one this API returned"))?;
        if parsed.v != 1 {
            return Err(InvalidCursor("the cursor is from an unsupported version"));
        }
        if !is_delivery_sort_key(&parsed.sk) {
            return Err(InvalidCursor("the cursor is not one this API returned"));
        }
        Ok(DeliveryCursor {
            outcome: parsed.outcome,
            sort_key: parsed.sk,
        })
    }
}

/// Prefix of every delivery-log sort key.
pub const DELIVERY_PREFIX: &str = "DELIVERY#";

/// The sort key of one attempt in its account's log. Newest last within the partition (the log
/// is read in reverse); the millisecond timestamp is fixed-width so string order is time order.
/// Cursors carry it, so it is part of this port's contract, not only of one adapter.
pub fn delivery_sort_key(attempted_at: DateTime<Utc>, event_id: &EventId, attempt: u32) -> String {
    format!(
        "{DELIVERY_PREFIX}{}#{event_id}#{attempt:02}",
        crate::clock::rfc3339_millis(attempted_at)
    )
}

/// The sort-key range `DeliveryLog::deliveries_between` reads, shared by every adapter: from
/// `since` (never below the retention horizon: expired rows are not served) to every row of
/// `until`'s millisecond (`$` sorts after `#`). `None` when the range is empty.
pub fn delivery_key_range(
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<(String, String)> {
    let since = since.max(now - chrono::Duration::days(RETENTION_DAYS));
    (since <= until).then(|| {
        (
            format!("{DELIVERY_PREFIX}{}", crate::clock::rfc3339_millis(since)),
            format!("{DELIVERY_PREFIX}{}$", crate::clock::rfc3339_millis(until)),
        )
    })
}

/// True only for sort keys exactly as [`delivery_sort_key`] writes them, so a forged cursor can
/// never smuggle another item type or a malformed key into a query.
fn is_delivery_sort_key(sk: &str) -> bool {
    let Some(rest) = sk.strip_prefix(DELIVERY_PREFIX) else {
        return false;
    };
    let mut parts = rest.split('#');
    let (Some(time), Some(event), Some(attempt), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(time) = DateTime::parse_from_rfc3339(time) else {
        return false;
    };
    let Ok(event) = EventId::parse(event) else {
        return false;
    };
    let Ok(attempt) = attempt.parse::<u32>() else {
        return false;
    };
    delivery_sort_key(time.with_timezone(&Utc), &event, attempt) == sk
}

#[port]
#[async_trait]
pub trait DeliveryLog: Send + Sync {
    /// Appends one attempt to its account's log. The key is unique per attempt (time, event,
    /// attempt number), so writing the same attempt again overwrites it instead of adding a row.
    async fn record_attempt(&self, attempt: &DeliveryAttempt) -> Result<(), StoreError>;

    /// One page of the account's log, newest first, expired rows left out.
    async fn deliveries(
        &self,
        account_id: &AccountId,
        query: &DeliveryQuery,
        now: DateTime<Utc>,
    ) -> Result<DeliveryPage, StoreError>;

    /// Every row of the account's log with this outcome attempted in `since..=until`, oldest
    /// first, expired rows left out. Served by the outcome index (one range query, paged
    /// through), never a scan: bulk recovery reads its dropped and skipped rows with it.
    async fn deliveries_between(
        &self,
        account_id: &AccountId,
        outcome: DeliveryOutcome,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<DeliveryAttempt>, StoreError>;
}
