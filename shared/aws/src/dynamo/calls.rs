//! Call records in DynamoDB, and the transactions that write them together with their
//! idempotency record (`idempotency.rs`), provider-call index entry (`provider_calls.rs`) or
//! event (`event_store.rs`).
use super::due::{due_assignments, set_due, DUE_AT, REMOVE_DUE};
use super::errors::{applied, cancellation_reasons, is_condition_failure, transaction_error};
use super::idempotency::{idempotency_from, idempotency_item};
use super::item::put;
use super::item::{key_map, Item, ItemBuilder, ItemReader};
use super::provider_calls::provider_call_item;
use super::{backend, keys, DynamoStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};
use domain::error::StoreError;
use domain::event_type::EventType;
use domain::ids::{AccountId, CallId, EventId};
use domain::model::{Call, CallStatus, Direction, EventRecord, IdempotencyRecord, StoredResponse};
use domain::ports::store::calls::*;
use domain::ports::store::due::{DueKind, DueShard};
use domain::ports::store::event_store::NewEvent;
use std::collections::HashMap;

pub(crate) fn call_item(c: &Call) -> Result<Item, StoreError> {
    let metadata =
        serde_json::to_string(&c.metadata).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut item = ItemBuilder::keyed(keys::call(&c.id))
        .s("type", "call")
        .s("call_id", c.id.to_string())
        .s("account_id", &c.account_id)
        .s("agent_id", c.agent_id.to_string())
        .s("direction", c.direction.as_str())
        .s("status", c.status.as_str())
        .s("phone_number", &c.phone_number)
        .opt_s("name", c.name.clone())
        .opt_s("email", c.email.clone())
        .s("metadata", metadata)
        .opt_s("provider_call_id", c.provider_call_id.clone())
        .opt_s("failure_reason", c.failure_reason.clone())
        .time("created_at", c.created_at)
        .time("updated_at", c.updated_at)
        .opt_time("started_at", c.started_at)
        .opt_time("ended_at", c.ended_at)
        .opt_n("duration_seconds", c.duration_seconds)
        .opt_s("disconnection_reason", c.disconnection_reason.clone())
        .opt_s("event_id", c.event_id.map(|u| u.to_string()))
        .opt_s("key_hash", c.key_hash.clone())
        // The account's calls, newest first (`gsi3`, `CallStore::calls_of`).
        .s(
            "gsi3pk",
            keys::account_calls(&c.account_id, keys::ListShard::of(&c.id)),
        )
        .s("gsi3sk", keys::call_list_sort_key(c.created_at, &c.id))
        .build();
    if let Some(at) = c.due_at {
        set_due(
            &mut item,
            DueKind::for_call(c.status),
            DueShard::call(&c.id),
            at,
        );
    }
    Ok(item)
}

pub(crate) fn call_from(item: &Item) -> Result<Call, StoreError> {
    let r = ItemReader(item);
    let status = r.s("status")?;
    let direction = match r.s("direction")? {
        "inbound" => Direction::Inbound,
        _ => Direction::Outbound,
    };
    Ok(Call {
        id: r.uuid("call_id")?,
        account_id: r.s("account_id")?.into(),
        agent_id: r.uuid("agent_id")?,
        direction,
        status: CallStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("call status {status}")))?,
        phone_number: r.s("phone_number")?.to_string(),
        name: r.opt_s("name")?.map(str::to_string),
        email: r.opt_s("email")?.map(str::to_string),
        metadata: r.opt_json("metadata")?.unwrap_or_default(),
        provider_call_id: r.opt_s("provider_call_id")?.map(str::to_string),
        failure_reason: r.opt_s("failure_reason")?.map(str::to_string),
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
        started_at: r.opt_time("started_at")?,
        ended_at: r.opt_time("ended_at")?,
        duration_seconds: r.opt_n("duration_seconds")?,
        disconnection_reason: r.opt_s("disconnection_reason")?.map(str::to_string),
        event_id: r.opt_uuid("event_id")?,
        key_hash: r.opt_s("key_hash")?.map(str::to_string),
        due_at: r.opt_time(DUE_AT)?,
    })
}

/// An update of the call conditioned on its status being `queued`.
fn status_update(
    table: &str,
    call_id: CallId,
    set: &str,
    values: Vec<(&str, AttributeValue)>,
) -> Result<TransactWriteItem, StoreError> {
    status_update_from(table, call_id, CallStatus::Queued, set, values)
}

/// An update of the call conditioned on its status being `from` (`:from`).
fn status_update_from(
    table: &str,
    call_id: CallId,
    from: CallStatus,
    set: &str,
    values: Vec<(&str, AttributeValue)>,
) -> Result<TransactWriteItem, StoreError> {
    let mut u = Update::builder()
        .table_name(table)
        .set_key(Some(key_map(keys::call(&call_id))))
        .update_expression(set)
        .condition_expression("#status = :from")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":from", AttributeValue::S(from.as_str().into()));
    for (k, v) in values {
        u = u.expression_attribute_values(k, v);
    }
    Ok(TransactWriteItem::builder()
        .update(u.build().map_err(|e| StoreError::Backend(e.to_string()))?)
        .build())
}

/// The parts of an UpdateItem that moves a call to `to` only from a status of lower rank,
/// setting what `progress` knows plus `extra` assignments.
struct ForwardUpdate {
    update: String,
    condition: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

fn forward_update(
    call_id: &CallId,
    to: CallStatus,
    progress: &CallProgress,
    at: DateTime<Utc>,
    extra: &[(&str, AttributeValue)],
) -> ForwardUpdate {
    let mut sets = vec!["#status = :to".to_string(), "updated_at = :at".to_string()];
    let mut values = HashMap::from([
        (":to".to_string(), AttributeValue::S(to.as_str().into())),
        (
            ":at".to_string(),
            AttributeValue::S(domain::clock::rfc3339_millis(at)),
        ),
    ]);
    let mut set = |attr: &str, v: Option<AttributeValue>| {
        if let Some(v) = v {
            sets.push(format!("{attr} = :{attr}"));
            values.insert(format!(":{attr}"), v);
        }
    };
    let time =
        |t: Option<DateTime<Utc>>| t.map(|t| AttributeValue::S(domain::clock::rfc3339_millis(t)));
    set("started_at", time(progress.started_at));
    set("ended_at", time(progress.ended_at));
    set(
        "duration_seconds",
        progress
            .duration_seconds
            .map(|d| AttributeValue::N(d.to_string())),
    );
    set(
        "disconnection_reason",
        progress.disconnection_reason.clone().map(AttributeValue::S),
    );
    for (attr, v) in extra {
        set(attr, Some(v.clone()));
    }
    if let Some(p) = &progress.provider_call_id {
        sets.push("provider_call_id = if_not_exists(provider_call_id, :provider_call_id)".into());
        values.insert(":provider_call_id".into(), AttributeValue::S(p.clone()));
    }
    // A forward move leaves no failure behind (a revived `dial_outcome_unknown` call).
    let remove = match progress.due_at {
        Some(at) => {
            let (clause, vals) = due_assignments(DueKind::Call, DueShard::call(call_id), at);
            sets.push(clause.into());
            values.extend(vals.map(|(k, v)| (k.to_string(), v)));
            "REMOVE failure_reason"
        }
        None => "REMOVE failure_reason, due_kind, due_at",
    };
    let before: Vec<String> = CallStatus::ALL
        .iter()
        .filter(|s| s.rank() < to.rank() && s.callback_may_move())
        .enumerate()
        .map(|(i, s)| {
            values.insert(format!(":from{i}"), AttributeValue::S(s.as_str().into()));
            format!(":from{i}")
        })
        .collect();
    // A call failed only for want of news from the provider may still move forward
    // (`Call::may_still_progress`).
    values.insert(
        ":failed".into(),
        AttributeValue::S(CallStatus::Failed.as_str().into()),
    );
    values.insert(
        ":unknown_outcome".into(),
        AttributeValue::S(domain::model::DIAL_OUTCOME_UNKNOWN.into()),
    );
    let revivable = "(#status = :failed AND begins_with(failure_reason, :unknown_outcome))";
    let condition = if before.is_empty() {
        revivable.to_string()
    } else {
        format!("(#status IN ({}) OR {revivable})", before.join(", "))
    };
    ForwardUpdate {
        update: format!("SET {} {remove}", sets.join(", ")),
        condition,
        names: HashMap::from([("#status".to_string(), "status".to_string())]),
        values,
    }
}

/// `settle_call`'s SET (and REMOVE) clause and values.
fn settle_assignments(
    call_id: &CallId,
    to: CallStatus,
    reason: Option<&str>,
    at: DateTime<Utc>,
    due_at: Option<DateTime<Utc>>,
    completed_by: Option<EventId>,
) -> (String, Vec<(&'static str, AttributeValue)>) {
    let mut sets = vec!["#status = :to", "updated_at = :t"];
    let mut values = vec![
        (":to", AttributeValue::S(to.as_str().into())),
        (":t", AttributeValue::S(domain::clock::rfc3339_millis(at))),
    ];
    if let Some(id) = completed_by {
        sets.push("event_id = :eid");
        values.push((":eid", AttributeValue::S(id.to_string())));
    }
    if let Some(r) = reason {
        sets.push("failure_reason = :r");
        values.push((":r", AttributeValue::S(r.into())));
    }
    let remove = match due_at {
        Some(at) => {
            let (clause, vals) =
                due_assignments(DueKind::for_call(to), DueShard::call(call_id), at);
            sets.push(clause);
            values.extend(vals);
            ""
        }
        None => REMOVE_DUE,
    };
    (format!("SET {} {remove}", sets.join(", ")), values)
}

impl DynamoStore {
    /// Writes `items` in one transaction: `Ok(false)` when the first item's condition failed
    /// (the call was not in the state the change expects); any other cancellation is an error.
    async fn transact_unless_first_condition_fails(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<bool, StoreError> {
        match self.transact(items).await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(cancellation_reasons(&e).first()) => Ok(false),
            Err(e) => Err(transaction_error(e)),
        }
    }

    /// The call's change (`call`, conditional) and its new event (only if new, with its
    /// reconciler deadline) in one transaction. `Ok(false)` when the call's condition failed;
    /// any other cancellation (the event exists, a conflicting transaction) is an error.
    async fn write_with_event(
        &self,
        call: TransactWriteItem,
        event: &EventRecord,
        expires_at: DateTime<Utc>,
        due_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut item = super::event_store::event_item(event, expires_at)?;
        set_due(
            &mut item,
            DueKind::Event,
            DueShard::event(&event.id),
            due_at,
        );
        let items = vec![
            call,
            put(&self.table, item, Some("attribute_not_exists(pk)"), &[])?,
        ];
        self.transact_unless_first_condition_fails(items).await
    }
}

impl DynamoStore {
    /// One update on its own: a plain UpdateItem, a cheaper round trip than a transaction.
    async fn send_update(&self, u: Update) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(u.table_name)
            .set_key(Some(u.key))
            .update_expression(u.update_expression)
            .set_condition_expression(u.condition_expression)
            .set_expression_attribute_names(u.expression_attribute_names)
            .set_expression_attribute_values(u.expression_attribute_values)
            .send()
            .await
            .map(|_| ())
            .map_err(backend)
    }
}

#[async_trait]
impl CallStore for DynamoStore {
    async fn create_call(
        &self,
        call: &Call,
        idempotency: Option<&IdempotencyRecord>,
        now: DateTime<Utc>,
    ) -> Result<CreateCallOutcome, StoreError> {
        let Some(rec) = idempotency else {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(call_item(call)?))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await
                .map_err(backend)?;
            return Ok(CreateCallOutcome::Created);
        };
        // The idempotency record may exist but be expired (TTL deletion lags): then it is free.
        let idem_put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(idempotency_item(rec)))
            .condition_expression("attribute_not_exists(pk) OR #exp < :now")
            .expression_attribute_names("#exp", super::TTL_ATTRIBUTE)
            .expression_attribute_values(":now", AttributeValue::N(now.timestamp().to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let items = vec![
            put(
                &self.table,
                call_item(call)?,
                Some("attribute_not_exists(pk)"),
                &[],
            )?,
            TransactWriteItem::builder().put(idem_put).build(),
        ];
        match self.transact(items).await {
            Ok(_) => Ok(CreateCallOutcome::Created),
            Err(e) => {
                let reason = cancellation_reasons(&e).get(1);
                if let Some(reason) = reason.filter(|r| is_condition_failure(Some(r))) {
                    let existing = match reason.item() {
                        Some(item) if !item.is_empty() => Some(idempotency_from(item)?),
                        // Not every DynamoDB returns the old item; read it.
                        _ => {
                            self.read_idempotency(&rec.account_id, &rec.key, now)
                                .await?
                        }
                    };
                    return match existing {
                        Some(ex) => Ok(CreateCallOutcome::IdempotencyKeyExists(ex)),
                        None => Err(StoreError::Conflict("idempotency record vanished".into())),
                    };
                }
                Err(transaction_error(e))
            }
        }
    }

    async fn mark_call_dialing(
        &self,
        call_id: CallId,
        provider_call_id: &str,
        at: DateTime<Utc>,
        due_at: DateTime<Utc>,
        idempotency: Option<(&IdempotencyRecord, &StoredResponse)>,
    ) -> Result<(), StoreError> {
        let at_s = domain::clock::rfc3339_millis(at);
        let (due, [k, d]) = due_assignments(DueKind::Call, DueShard::call(&call_id), due_at);
        let mut items = vec![status_update(
            &self.table,
            call_id,
            &format!("SET #status = :dialing, provider_call_id = :p, updated_at = :t, {due}"),
            vec![
                (
                    ":dialing",
                    AttributeValue::S(CallStatus::Dialing.as_str().into()),
                ),
                (":p", AttributeValue::S(provider_call_id.into())),
                (":t", AttributeValue::S(at_s.clone())),
                k,
                d,
            ],
        )?];
        if let Some((rec, resp)) = idempotency {
            items.push(
                TransactWriteItem::builder()
                    .update(self.remember_answer_update(rec, resp)?)
                    .build(),
            );
        }
        let res = if items.len() == 1 {
            // One item: a plain conditional update is a cheaper round trip than a transaction.
            let item = items.remove(0);
            let u = item
                .update
                .ok_or_else(|| StoreError::Backend("update missing".into()))?;
            self.send_update(u).await
        } else {
            self.transact(items)
                .await
                .map(|_| ())
                .map_err(transaction_error)
        };
        match res {
            Ok(()) => Ok(()),
            // A provider callback raced ahead of us and already moved the call on: keep its
            // status, record the provider id, and still remember the answer.
            Err(StoreError::Conflict(_)) => {
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key_map(keys::call(&call_id))))
                    .update_expression("SET provider_call_id = if_not_exists(provider_call_id, :p)")
                    .expression_attribute_values(":p", AttributeValue::S(provider_call_id.into()))
                    .send()
                    .await
                    .map_err(backend)?;
                if let Some((rec, resp)) = idempotency {
                    self.send_update(self.remember_answer_update(rec, resp)?)
                        .await?;
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn mark_call_failed(
        &self,
        call_id: CallId,
        reason: &str,
        at: DateTime<Utc>,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let mut items = vec![status_update(
            &self.table,
            call_id,
            "SET #status = :failed, failure_reason = :r, updated_at = :t REMOVE due_kind, due_at",
            vec![
                (
                    ":failed",
                    AttributeValue::S(CallStatus::Failed.as_str().into()),
                ),
                (":r", AttributeValue::S(reason.into())),
                (":t", AttributeValue::S(domain::clock::rfc3339_millis(at))),
            ],
        )?];
        if let Some(rec) = idempotency {
            items.push(super::item::delete(
                &self.table,
                key_map(keys::idempotency(&rec.account_id, &rec.key)),
            )?);
        }
        self.transact(items).await.map_err(transaction_error)?;
        Ok(())
    }

    async fn mark_call_dial_unknown(
        &self,
        call_id: CallId,
        at: DateTime<Utc>,
        due_at: DateTime<Utc>,
        idempotency: Option<(&IdempotencyRecord, &StoredResponse)>,
    ) -> Result<bool, StoreError> {
        let (due, [k, d]) = due_assignments(DueKind::Call, DueShard::call(&call_id), due_at);
        let mut items = vec![status_update(
            &self.table,
            call_id,
            &format!("SET #status = :unknown, updated_at = :t, {due}"),
            vec![
                (
                    ":unknown",
                    AttributeValue::S(CallStatus::DialUnknown.as_str().into()),
                ),
                (":t", AttributeValue::S(domain::clock::rfc3339_millis(at))),
                k,
                d,
            ],
        )?];
        if let Some((rec, resp)) = idempotency {
            items.push(
                TransactWriteItem::builder()
                    .update(self.remember_answer_update(rec, resp)?)
                    .build(),
            );
        }
        self.transact_unless_first_condition_fails(items).await
    }

    async fn remember_answer(
        &self,
        record: &IdempotencyRecord,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        self.send_update(self.remember_answer_update(record, response)?)
            .await
    }

    async fn settle_call(
        &self,
        call_id: CallId,
        from: CallStatus,
        to: CallStatus,
        reason: Option<&str>,
        at: DateTime<Utc>,
        due_at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let (set, values) = settle_assignments(&call_id, to, reason, at, due_at, None);
        let update = status_update_from(&self.table, call_id, from, &set, values)?
            .update
            .ok_or_else(|| StoreError::Backend("update missing".into()))?;
        applied(self.send_update(update).await)
    }

    async fn answer_dead_request(
        &self,
        record: &IdempotencyRecord,
        response: &StoredResponse,
    ) -> Result<bool, StoreError> {
        let mut update = self.remember_answer_update(record, response)?;
        update.condition_expression =
            Some("call_id = :c AND attribute_not_exists(response_status)".into());
        update
            .expression_attribute_values
            .get_or_insert_with(Default::default)
            .insert(":c".into(), AttributeValue::S(record.call_id.to_string()));
        applied(self.send_update(update).await)
    }

    async fn call(&self, id: CallId) -> Result<Option<Call>, StoreError> {
        let item = self.read(keys::call(&id)).await?;
        item.as_ref().map(call_from).transpose()
    }

    async fn idempotency(
        &self,
        account_id: &AccountId,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.read_idempotency(account_id, key, now).await
    }

    async fn advance_call(
        &self,
        call_id: CallId,
        to: CallStatus,
        progress: &CallProgress,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let u = forward_update(&call_id, to, progress, at, &[]);
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(keys::call(&call_id))))
            .update_expression(u.update)
            .condition_expression(u.condition)
            .set_expression_attribute_names(Some(u.names))
            .set_expression_attribute_values(Some(u.values))
            .send()
            .await;
        applied(res.map_err(backend))
    }

    async fn advance_call_with_event(
        &self,
        call_id: CallId,
        to: CallStatus,
        progress: &CallProgress,
        at: DateTime<Utc>,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        let u = forward_update(&call_id, to, progress, at, &[]);
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_map(keys::call(&call_id))))
            .update_expression(u.update)
            .condition_expression(u.condition)
            .set_expression_attribute_names(Some(u.names))
            .set_expression_attribute_values(Some(u.values))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        self.write_with_event(
            TransactWriteItem::builder().update(update).build(),
            &event.record,
            event.expires_at,
            event.due_at,
        )
        .await
    }

    async fn settle_call_with_event(
        &self,
        call_id: CallId,
        from: CallStatus,
        to: CallStatus,
        reason: Option<&str>,
        at: DateTime<Utc>,
        due_at: Option<DateTime<Utc>>,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        // The call's `call.completed` (the reconciler's failure of an account not subscribed to
        // `call.failed`) is recorded on the call as its completion is, so no later path stores
        // a second one.
        let completed_by =
            (event.record.event_type == EventType::CallCompleted).then_some(event.record.id);
        let (set, values) = settle_assignments(&call_id, to, reason, at, due_at, completed_by);
        let item = status_update_from(&self.table, call_id, from, &set, values)?;
        self.write_with_event(item, &event.record, event.expires_at, event.due_at)
            .await
    }

    async fn complete_call(
        &self,
        call_id: CallId,
        progress: &CallProgress,
        completion: &CallCompletion<'_>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let u = forward_update(
            &call_id,
            CallStatus::Completed,
            progress,
            at,
            &[
                ("summary", AttributeValue::S(completion.summary.into())),
                ("sentiment", AttributeValue::S(completion.sentiment.into())),
                (
                    "event_id",
                    AttributeValue::S(completion.event.id.to_string()),
                ),
            ],
        );
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_map(keys::call(&call_id))))
            .update_expression(u.update)
            .condition_expression(format!(
                "attribute_not_exists(event_id) AND {}",
                u.condition
            ))
            .set_expression_attribute_names(Some(u.names))
            .set_expression_attribute_values(Some(u.values))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        // Only the call's condition decides "already completed"; anything else (the event
        // exists, a conflicting transaction, throttling) is an error worth a retry.
        self.write_with_event(
            TransactWriteItem::builder().update(update).build(),
            completion.event,
            completion.event_expires_at,
            completion.event_due_at,
        )
        .await
    }

    /// Every shard of the account's list read at once (each up to `limit + 1` matches and
    /// its share of [`MAX_CALL_ROWS_READ`]), merged newest first. When a shard stopped at its
    /// read bound, only the rows at or above the highest such stop are known complete in
    /// every shard: the page ends there (short, with a cursor), as one partition's read did.
    async fn calls_of(
        &self,
        account_id: &AccountId,
        q: &CallQuery,
    ) -> Result<CallPage, StoreError> {
        let limit = q.limit.clamp(1, MAX_CALL_PAGE);
        let Some((lower, upper)) = call_key_range(q) else {
            return Ok(CallPage {
                calls: Vec::new(),
                next_cursor: None,
            });
        };
        let shards = keys::ListShard::all().count();
        let budget = (MAX_CALL_ROWS_READ / shards).max(limit + 1);
        let reads = keys::ListShard::all().map(|shard| {
            self.list_shard(
                keys::account_calls(account_id, shard),
                q,
                (&lower, &upper),
                limit,
                budget,
            )
        });
        let mut matched: Vec<(String, Call)> = Vec::new();
        let mut frontier: Option<String> = None;
        for (rows, stopped_at) in futures::future::try_join_all(reads).await? {
            matched.extend(rows);
            if let Some(at) = stopped_at {
                frontier = frontier.max(Some(at));
            }
        }
        if let Some(f) = &frontier {
            matched.retain(|(sk, _)| sk >= f);
        }
        matched.sort_by(|a, b| b.0.cmp(&a.0));
        if matched.len() > limit {
            matched.truncate(limit + 1);
            return Ok(CallPage::from_rows(matched, limit, None));
        }
        Ok(CallPage::from_rows(matched, limit, frontier))
    }

    async fn call_id_by_provider_call(
        &self,
        provider_call_id: &str,
    ) -> Result<Option<CallId>, StoreError> {
        self.read_provider_call(provider_call_id).await
    }

    async fn create_inbound_call(&self, call: &Call) -> Result<CallId, StoreError> {
        let provider_call_id = call
            .provider_call_id
            .as_deref()
            .ok_or_else(|| StoreError::Backend("inbound call without provider call id".into()))?;
        let index = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(provider_call_item(provider_call_id, call)))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let items = vec![
            TransactWriteItem::builder().put(index).build(),
            put(
                &self.table,
                call_item(call)?,
                Some("attribute_not_exists(pk)"),
                &[],
            )?,
        ];
        match self.transact(items).await {
            Ok(_) => Ok(call.id),
            Err(e) => {
                let reason = cancellation_reasons(&e).first();
                if is_condition_failure(reason) {
                    if let Some(item) = reason.and_then(|r| r.item()).filter(|i| !i.is_empty()) {
                        return ItemReader(item).uuid("call_id");
                    }
                    // Not every DynamoDB returns the old item; read it.
                    return self
                        .read_provider_call(provider_call_id)
                        .await?
                        .ok_or_else(|| {
                            StoreError::Conflict("provider call index vanished".into())
                        });
                }
                Err(transaction_error(e))
            }
        }
    }
}

impl DynamoStore {
    /// One shard of an account's call list, newest first in `(lower, upper)`: up to
    /// `limit + 1` calls the status filter keeps, reading at most `budget` rows; with the
    /// sort key of the last row read when it stopped at the budget before the end.
    async fn list_shard(
        &self,
        pk: String,
        q: &CallQuery,
        (lower, upper): (&Option<String>, &Option<String>),
        limit: usize,
        budget: usize,
    ) -> Result<(Vec<(String, Call)>, Option<String>), StoreError> {
        let condition = match (lower, upper) {
            (Some(_), Some(_)) => "gsi3pk = :pk AND gsi3sk BETWEEN :lo AND :hi",
            (Some(_), None) => "gsi3pk = :pk AND gsi3sk >= :lo",
            (None, Some(_)) => "gsi3pk = :pk AND gsi3sk < :hi",
            (None, None) => "gsi3pk = :pk",
        };
        let mut matched: Vec<(String, Call)> = Vec::new();
        let mut read = 0usize;
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(super::GSI3)
                .key_condition_expression(condition)
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .scan_index_forward(false)
                .limit(i32::try_from(budget - read).unwrap_or(1000))
                .set_exclusive_start_key(start.take());
            if let Some(lo) = lower {
                query = query.expression_attribute_values(":lo", AttributeValue::S(lo.clone()));
            }
            if let Some(hi) = upper {
                query = query.expression_attribute_values(":hi", AttributeValue::S(hi.clone()));
            }
            if let Some(status) = q.status {
                query = query
                    .filter_expression("#status = :status")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(
                        ":status",
                        AttributeValue::S(status.as_str().into()),
                    );
            }
            let out = query.send().await.map_err(backend)?;
            read += usize::try_from(out.scanned_count()).unwrap_or(0);
            for item in out.items() {
                let sk = ItemReader(item).s("gsi3sk")?.to_string();
                // BETWEEN includes its upper bound: the cursor's own row was served already.
                if upper.as_deref() == Some(sk.as_str()) {
                    continue;
                }
                matched.push((sk, call_from(item)?));
            }
            let last = out
                .last_evaluated_key()
                .and_then(|k| k.get("gsi3sk"))
                .and_then(|v| v.as_s().ok())
                .cloned();
            if matched.len() > limit || last.is_none() {
                return Ok((matched, None));
            }
            if read >= budget {
                return Ok((matched, last));
            }
            start = out.last_evaluated_key;
        }
    }
}
