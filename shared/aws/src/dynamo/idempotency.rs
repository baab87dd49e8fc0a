//! Idempotency records: one item per (account, Idempotency-Key), written in the same
//! transaction as the call it created (`calls.rs`), holding the answer once there is one.

use super::due::set_due;
use super::item::{key_map, ttl, Item, ItemBuilder, ItemReader};
use super::{keys, DynamoStore};
use aws_sdk_dynamodb::types::{AttributeValue, Update};
use chrono::{DateTime, Utc};
use domain::error::StoreError;
use domain::ids::AccountId;
use domain::model::{IdempotencyRecord, StoredResponse};
use domain::ports::store::due::{DueKind, DueShard};

pub(crate) fn idempotency_item(rec: &IdempotencyRecord) -> Item {
    let mut item = ItemBuilder::keyed(keys::idempotency(&rec.account_id, &rec.key))
        .s("type", "idempotency")
        .s("account_id", &rec.account_id)
        .s("idempotency_key", &rec.key)
        .s("request_hash", &rec.request_hash)
        .s("call_id", rec.call_id.to_string())
        .opt_n("response_status", rec.response.as_ref().map(|r| r.status))
        .opt_s(
            "response_body",
            rec.response.as_ref().map(|r| r.body.clone()),
        )
        .n(super::TTL_ATTRIBUTE, ttl(rec.expires_at))
        .opt_time("lease_until", rec.lease_until)
        .build();
    // A running request's key is due for release when its lease ends.
    if let (None, Some(lease)) = (&rec.response, rec.lease_until) {
        set_due(
            &mut item,
            DueKind::Idempotency,
            DueShard::idempotency(&rec.account_id, &rec.key),
            lease,
        );
    }
    item
}

pub(crate) fn idempotency_from(item: &Item) -> Result<IdempotencyRecord, StoreError> {
    let r = ItemReader(item);
    let response = match (
        r.opt_n::<u16>("response_status")?,
        r.opt_s("response_body")?,
    ) {
        (Some(status), Some(body)) => Some(StoredResponse {
            status,
            body: body.to_string(),
        }),
        _ => None,
    };
    let expires: i64 = r.n(super::TTL_ATTRIBUTE)?;
    Ok(IdempotencyRecord {
        account_id: r.s("account_id")?.into(),
        key: r.s("idempotency_key")?.to_string(),
        request_hash: r.s("request_hash")?.to_string(),
        call_id: r.uuid("call_id")?,
        response,
        expires_at: DateTime::from_timestamp(expires, 0).unwrap_or_default(),
        lease_until: r.opt_time("lease_until")?,
    })
}

impl DynamoStore {
    /// The update that stores a finished request's answer on its idempotency record.
    pub(crate) fn remember_answer_update(
        &self,
        rec: &IdempotencyRecord,
        resp: &StoredResponse,
    ) -> Result<Update, StoreError> {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_map(keys::idempotency(&rec.account_id, &rec.key))))
            .update_expression(
                "SET response_status = :s, response_body = :b REMOVE due_kind, due_at",
            )
            .expression_attribute_values(":s", AttributeValue::N(resp.status.to_string()))
            .expression_attribute_values(":b", AttributeValue::S(resp.body.clone()))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))
    }

    pub(crate) async fn read_idempotency(
        &self,
        account_id: &AccountId,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let item = self.read(keys::idempotency(account_id, key)).await?;
        Ok(item
            .as_ref()
            .map(idempotency_from)
            .transpose()?
            .filter(|r| r.expires_at > now))
    }
}
