//! The due index (mirrors `dynamo/due.rs`): here read straight off the items, which is what
//! the sparse index holds (an item is in it while it has a deadline). An item's partition is
//! its kind's shard of its identity (`DueWork::shard`), as the DynamoDB adapter writes it;
//! the items here are all written by this version, so only unreadable entries
//! ([`MemoryStore::poison_due`]) can sit in another partition (the legacy one, by default).
use super::{ms, CallItem, IdempotencyItem, MemoryStore, State};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::error::StoreError;
use domain::ids::{CallId, EventId};
use domain::ports::store::due::*;

/// Earliest first; items due at exactly `now` included (`due_at <= :now`); `shard: None`
/// reads every shard of the kind.
fn due_in(
    s: &State,
    kind: DueKind,
    shard: Option<DueShard>,
    now: DateTime<Utc>,
    limit: usize,
) -> Vec<Due> {
    let mut due: Vec<Due> = match kind {
        DueKind::Event => s
            .events
            .values()
            .filter_map(|e| {
                e.due_at.map(|at| Due {
                    work: DueWork::Event(e.record.id),
                    due_at: at,
                })
            })
            .collect(),
        DueKind::Call | DueKind::Scheduled => s
            .calls
            .values()
            .filter_map(|c| match c {
                // The item's `due_kind` follows its status (`DueKind::for_call`).
                CallItem::Full(c) if DueKind::for_call(c.status) == kind => {
                    c.due_at.map(|at| Due {
                        work: DueWork::call(kind, c.id),
                        due_at: at,
                    })
                }
                _ => None,
            })
            .collect(),
        DueKind::Idempotency => s
            .idempotency
            .values()
            .filter_map(|i| match i {
                IdempotencyItem::Record(r) if r.response.is_none() => r.lease_until.map(|at| Due {
                    work: DueWork::Idempotency {
                        account_id: r.account_id.clone(),
                        key: r.key.clone(),
                    },
                    due_at: at,
                }),
                _ => None,
            })
            .collect(),
    };
    due.retain(|d| shard.is_none() || d.work.shard() == shard);
    due.extend(
        s.unreadable_due
            .iter()
            .filter(|(_, (k, _))| match shard {
                Some(shard) => *k == shard.key(kind),
                None => DueShard::is_kind(k, kind),
            })
            .map(|((pk, sk), (_, at))| Due {
                work: DueWork::Unreadable {
                    kind,
                    pk: pk.clone(),
                    sk: sk.clone(),
                },
                due_at: *at,
            }),
    );
    due.retain(|d| s.quarantined.get(&d.work) != Some(&d.due_at));
    due.retain(|d| d.due_at <= ms(now));
    due.sort_by_key(|d| d.due_at);
    due.truncate(limit.clamp(1, 1000));
    due
}

#[async_trait]
impl DueStore for MemoryStore {
    async fn due_in_shard(
        &self,
        kind: DueKind,
        shard: DueShard,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Due>, StoreError> {
        Ok(due_in(&self.state(), kind, Some(shard), now, limit))
    }

    /// `due_at = :seen AND enqueued = false`, else `Ok(false)`; a missing event fails the
    /// condition too.
    async fn claim_event_repair(
        &self,
        event_id: EventId,
        seen: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        match s.events.get_mut(&event_id) {
            Some(e) if !e.enqueued && e.due_at == Some(ms(seen)) => {
                e.due_at = Some(ms(until));
                Ok(true)
            }
            Some(_) | None => Ok(false),
        }
    }

    /// Readable: `due_kind IN (:legacy, :its_shard) AND due_at = :seen`; unreadable: filed
    /// under its kind, any shard.
    async fn quarantine_due(&self, due: &Due) -> Result<bool, StoreError> {
        let mut s = self.state();
        if let DueWork::Unreadable { kind, pk, sk } = &due.work {
            return Ok(match s.unreadable_due.get_mut(&(pk.clone(), sk.clone())) {
                Some((k, _)) if DueShard::is_kind(k, *kind) => {
                    *k = QUARANTINE_KIND.to_string();
                    true
                }
                _ => false,
            });
        }
        // Still filed under its kind at the deadline seen (what the index shows now).
        if !due_in(&s, due.work.kind(), None, due.due_at, usize::MAX)
            .iter()
            .any(|d| d == due)
        {
            return Ok(false);
        }
        s.quarantined.insert(due.work.clone(), due.due_at);
        Ok(true)
    }

    /// `due_at = :seen`, else `Ok(false)`.
    async fn claim_call_repair(
        &self,
        call_id: CallId,
        seen: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        match s.calls.get_mut(&call_id) {
            Some(CallItem::Full(c)) if c.due_at == Some(ms(seen)) => {
                c.due_at = Some(ms(until));
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
