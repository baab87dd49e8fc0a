//! The due index (`gsi2`, sparse): items with a reconciler deadline carry `due_kind` (the
//! partition: `<kind>#<n>`, the kind being `event`, `call`, `scheduled` (a call item whose
//! status is `scheduled`) or `idempotency`, `n` the item's shard, `DueShard`; the bare kind
//! is the legacy partition of items written before the sharding, read until it drains) and
//! `due_at` (the sort key, RFC 3339 with
//! milliseconds in UTC, so text order is time order). Writes that finish the work remove both
//! attributes, which takes the item out of the index. See `domain::ports::store::due`.

use super::errors::applied;
use super::item::{Item, ItemReader};
use super::{backend, keys, DynamoStore, GSI2};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use domain::clock::rfc3339_millis;
use domain::error::StoreError;
use domain::ids::{CallId, EventId};
use domain::ports::store::due::*;

pub const DUE_KIND: &str = "due_kind";
pub const DUE_AT: &str = "due_at";
/// The non-key attributes the index carries: what names each kind of item.
pub const PROJECTED: [&str; 4] = ["event_id", "call_id", "account_id", "idempotency_key"];
/// The update clause that takes an item out of the index.
pub const REMOVE_DUE: &str = "REMOVE due_kind, due_at";

/// Puts `item` in the index as `kind` in `shard` (`keys::due_kind`), due at `at`.
pub(crate) fn set_due(item: &mut Item, kind: DueKind, shard: DueShard, at: DateTime<Utc>) {
    item.insert(
        DUE_KIND.into(),
        AttributeValue::S(keys::due_kind(kind, shard)),
    );
    item.insert(DUE_AT.into(), AttributeValue::S(rfc3339_millis(at)));
}

/// The `SET` assignments and values that put an item in the index as `kind` in `shard`
/// (`keys::due_kind`), due at `at` (for update expressions).
pub(crate) fn due_assignments(
    kind: DueKind,
    shard: DueShard,
    at: DateTime<Utc>,
) -> (&'static str, [(&'static str, AttributeValue); 2]) {
    (
        "due_kind = :due_kind, due_at = :due_at",
        [
            (":due_kind", AttributeValue::S(keys::due_kind(kind, shard))),
            (":due_at", AttributeValue::S(rfc3339_millis(at))),
        ],
    )
}

fn work(kind: DueKind, item: &Item) -> Result<DueWork, StoreError> {
    let r = ItemReader(item);
    Ok(match kind {
        DueKind::Event => DueWork::Event(r.uuid("event_id")?),
        DueKind::Call | DueKind::Scheduled => DueWork::call(kind, r.uuid("call_id")?),
        DueKind::Idempotency => DueWork::Idempotency {
            account_id: r.s("account_id")?.into(),
            key: r.s("idempotency_key")?.to_string(),
        },
    })
}

#[async_trait]
impl DueStore for DynamoStore {
    async fn due_in_shard(
        &self,
        kind: DueKind,
        shard: DueShard,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Due>, StoreError> {
        let limit = i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI2)
            .key_condition_expression("due_kind = :k AND due_at <= :now")
            .expression_attribute_values(":k", AttributeValue::S(keys::due_kind(kind, shard)))
            .expression_attribute_values(":now", AttributeValue::S(rfc3339_millis(now)))
            .scan_index_forward(true)
            .limit(limit)
            .send()
            .await
            .map_err(backend)?;
        out.items()
            .iter()
            .map(|item| {
                let due_at = ItemReader(item).time(DUE_AT);
                match (work(kind, item), due_at) {
                    (Ok(work), Ok(due_at)) => Ok(Due { work, due_at }),
                    // One malformed item must not hide every item behind it: it is handed
                    // back by its key, for the reconciler to quarantine.
                    (work, due_at) => {
                        let r = ItemReader(item);
                        let detail = work
                            .err()
                            .map(|e| e.to_string())
                            .or(due_at.as_ref().err().map(|e| e.to_string()));
                        tracing::error!(
                            kind = kind.as_str(),
                            pk = r.s("pk").unwrap_or("?"),
                            sk = r.s("sk").unwrap_or("?"),
                            detail = detail.as_deref().unwrap_or("?"),
                            "unreadable due-index item"
                        );
                        Ok(Due {
                            work: DueWork::Unreadable {
                                kind,
                                pk: r.s("pk")?.to_string(),
                                sk: r.s("sk")?.to_string(),
                            },
                            due_at: due_at.unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
                        })
                    }
                }
            })
            .collect()
    }

    async fn quarantine_due(&self, due: &Due) -> Result<bool, StoreError> {
        let kind = due.work.kind();
        let key = match &due.work {
            DueWork::Event(id) => keys::event(id),
            DueWork::Call(id) | DueWork::Scheduled(id) => keys::call(id),
            DueWork::Idempotency { account_id, key } => keys::idempotency(account_id, key),
            DueWork::Unreadable { pk, sk, .. } => (pk.clone(), sk.clone()),
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(super::item::key_map(key)))
            .update_expression("SET due_kind = :q")
            .expression_attribute_values(":q", AttributeValue::S(QUARANTINE_KIND.into()))
            .expression_attribute_values(
                ":k",
                AttributeValue::S(keys::due_kind(kind, DueShard::Legacy)),
            );
        update = match due.work.shard() {
            // Its name (so its shard) is unreadable: still filed under its kind, any shard
            // (`DueShard::is_kind`; no kind's name begins another's).
            None => update
                .condition_expression("due_kind = :k OR begins_with(due_kind, :shards)")
                .expression_attribute_values(
                    ":shards",
                    AttributeValue::S(format!("{}#", kind.as_str())),
                ),
            // Its own shard, or the legacy partition an older version wrote it to.
            Some(shard) => update
                .condition_expression("(due_kind = :k OR due_kind = :ks) AND due_at = :seen")
                .expression_attribute_values(":ks", AttributeValue::S(keys::due_kind(kind, shard)))
                .expression_attribute_values(
                    ":seen",
                    AttributeValue::S(rfc3339_millis(due.due_at)),
                ),
        };
        applied(update.send().await.map_err(backend))
    }

    async fn claim_event_repair(
        &self,
        event_id: EventId,
        seen: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.claim(
            keys::event(&event_id),
            seen,
            until,
            Some(("enqueued", false)),
        )
        .await
    }

    async fn claim_call_repair(
        &self,
        call_id: CallId,
        seen: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.claim(keys::call(&call_id), seen, until, None).await
    }
}

impl DynamoStore {
    /// Moves an item's deadline from `seen` to `until` only if it is still `seen` (and, when
    /// given, a boolean attribute has the given value): one conditional UpdateItem.
    async fn claim(
        &self,
        key: (String, String),
        seen: DateTime<Utc>,
        until: DateTime<Utc>,
        also: Option<(&str, bool)>,
    ) -> Result<bool, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(super::item::key_map(key)))
            .update_expression("SET due_at = :until")
            .condition_expression(match also {
                Some((attr, _)) => format!("due_at = :seen AND {attr} = :also"),
                None => "due_at = :seen".to_string(),
            })
            .expression_attribute_values(":until", AttributeValue::S(rfc3339_millis(until)))
            .expression_attribute_values(":seen", AttributeValue::S(rfc3339_millis(seen)));
        if let Some((_, v)) = also {
            update = update.expression_attribute_values(":also", AttributeValue::Bool(v));
        }
        applied(update.send().await.map_err(backend))
    }
}
