//! Call records, the provider-call index and idempotency records (mirrors `dynamo/calls.rs`).
use super::event_store::stored_event;
use super::{cancelled, condition_failed, ms, secs, CallItem, IdempotencyItem, MemoryStore, State};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::error::StoreError;
use domain::event_type::EventType;
use domain::ids::{AccountId, CallId};
use domain::model::{Call, CallStatus, IdempotencyRecord, StoredResponse};
use domain::ports::store::calls::*;
use domain::ports::store::event_store::NewEvent;

fn idempotency_key(account_id: &AccountId, key: &str) -> String {
    format!("IDEMPOTENCY#{account_id}#{key}")
}

/// The call as an item round trip returns it (times to the millisecond).
fn stored_call(c: &Call) -> Call {
    let mut c = c.clone();
    c.created_at = ms(c.created_at);
    c.updated_at = ms(c.updated_at);
    c.started_at = c.started_at.map(ms);
    c.ended_at = c.ended_at.map(ms);
    c.due_at = c.due_at.map(ms);
    c
}

/// `ItemReader`'s complaint about an item that has no `status` (the first attribute
/// `call_from` reads).
fn call_fragment(id: CallId) -> StoreError {
    StoreError::Corrupt(format!("CALL#{id}: attribute status is missing"))
}

/// `idempotency_from` on an item holding only the remembered answer.
fn answer_only(account_id: &AccountId, key: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "{}: attribute expires_at is missing",
        idempotency_key(account_id, key)
    ))
}

fn read_idempotency(
    item: &IdempotencyItem,
    account_id: &AccountId,
    key: &str,
) -> Result<IdempotencyRecord, StoreError> {
    match item {
        IdempotencyItem::Record(r) => Ok(r.clone()),
        IdempotencyItem::AnswerOnly(_) => Err(answer_only(account_id, key)),
    }
}

impl State {
    /// `remember_answer`: an unconditional UpdateItem, so it creates the item if it is gone.
    fn remember_answer(&mut self, rec: &IdempotencyRecord, resp: &StoredResponse) {
        let item = self
            .idempotency
            .entry(idempotency_key(&rec.account_id, &rec.key))
            .or_insert_with(|| IdempotencyItem::AnswerOnly(resp.clone()));
        match item {
            IdempotencyItem::Record(r) => r.response = Some(resp.clone()),
            IdempotencyItem::AnswerOnly(a) => *a = resp.clone(),
        }
    }

    /// The queued call, for the updates conditioned on `#status = :queued`.
    fn queued_call(&mut self, call_id: CallId) -> Option<&mut Call> {
        match self.calls.get_mut(&call_id) {
            Some(CallItem::Full(c)) if c.status == CallStatus::Queued => Some(c.as_mut()),
            _ => None,
        }
    }

    /// The call if it may move forward to `to`: `#status IN (every status ranked below)`.
    /// Or a call failed only for want of news from the provider (`may_still_progress`).
    fn forward_call(&mut self, call_id: CallId, to: CallStatus) -> Option<&mut Call> {
        match self.calls.get_mut(&call_id) {
            Some(CallItem::Full(c))
                if (c.status.rank() < to.rank() && c.status.callback_may_move())
                    || (c.status == CallStatus::Failed && c.may_still_progress()) =>
            {
                Some(c.as_mut())
            }
            _ => None,
        }
    }
}

/// `forward_update`'s SET clause: the new status, `updated_at`, what `progress` knows, and the
/// provider call id only if the call has none.
fn apply_progress(c: &mut Call, to: CallStatus, progress: &CallProgress, at: DateTime<Utc>) {
    c.status = to;
    c.updated_at = ms(at);
    if let Some(t) = progress.started_at {
        c.started_at = Some(ms(t));
    }
    if let Some(t) = progress.ended_at {
        c.ended_at = Some(ms(t));
    }
    if let Some(d) = progress.duration_seconds {
        c.duration_seconds = Some(d);
    }
    if let Some(r) = &progress.disconnection_reason {
        c.disconnection_reason = Some(r.clone());
    }
    if c.provider_call_id.is_none() {
        c.provider_call_id.clone_from(&progress.provider_call_id);
    }
    c.due_at = progress.due_at.map(ms);
    c.failure_reason = None;
}

#[async_trait]
impl CallStore for MemoryStore {
    /// Without a record: one conditional put. With one: a transaction of the call (only if
    /// new) and the record (only if new or expired by its TTL seconds: `#exp < :now`). A lost
    /// record condition answers with the record found, whatever the call's condition did.
    async fn create_call(
        &self,
        call: &Call,
        idempotency: Option<&IdempotencyRecord>,
        now: DateTime<Utc>,
    ) -> Result<CreateCallOutcome, StoreError> {
        let mut s = self.state();
        let call_taken = s.calls.contains_key(&call.id);
        let Some(rec) = idempotency else {
            if call_taken {
                return Err(condition_failed());
            }
            s.calls
                .insert(call.id, CallItem::Full(Box::new(stored_call(call))));
            return Ok(CreateCallOutcome::Created);
        };
        let key = idempotency_key(&rec.account_id, &rec.key);
        match s.idempotency.get(&key) {
            // A missing TTL attribute never compares lower: the condition fails, and the item
            // returned with the failure does not read as a record.
            Some(IdempotencyItem::AnswerOnly(_)) => {
                return Err(answer_only(&rec.account_id, &rec.key))
            }
            Some(IdempotencyItem::Record(r)) if r.expires_at.timestamp() >= now.timestamp() => {
                return Ok(CreateCallOutcome::IdempotencyKeyExists(r.clone()))
            }
            // Absent, or expired and waiting for the TTL sweeper: free.
            _ => {}
        }
        if call_taken {
            return Err(cancelled(&["ConditionalCheckFailed", "None"]));
        }
        let mut rec = rec.clone();
        rec.expires_at = secs(rec.expires_at);
        rec.lease_until = rec.lease_until.map(ms);
        s.idempotency.insert(key, IdempotencyItem::Record(rec));
        s.calls
            .insert(call.id, CallItem::Full(Box::new(stored_call(call))));
        Ok(CreateCallOutcome::Created)
    }

    /// `queued` -> `dialing` with the provider id (overwritten) and the answer remembered, in
    /// one write. When the call is not `queued` (a callback raced ahead, or there is no call),
    /// the adapter falls back to recording the provider id only if the call has none and still
    /// remembering the answer; both are unconditional updates, so on a missing call the first
    /// leaves a fragment item (read back as `Corrupt`).
    async fn mark_call_dialing(
        &self,
        call_id: CallId,
        provider_call_id: &str,
        at: DateTime<Utc>,
        due_at: DateTime<Utc>,
        idempotency: Option<(&IdempotencyRecord, &StoredResponse)>,
    ) -> Result<(), StoreError> {
        let mut s = self.state();
        if let Some(c) = s.queued_call(call_id) {
            c.status = CallStatus::Dialing;
            c.provider_call_id = Some(provider_call_id.to_string());
            c.updated_at = ms(at);
            c.due_at = Some(ms(due_at));
        } else {
            match s.calls.entry(call_id).or_insert(CallItem::Fragment) {
                CallItem::Full(c) if c.provider_call_id.is_none() => {
                    c.provider_call_id = Some(provider_call_id.to_string());
                }
                CallItem::Full(_) | CallItem::Fragment => {}
            }
        }
        if let Some((rec, resp)) = idempotency {
            s.remember_answer(rec, resp);
        }
        Ok(())
    }

    /// Transaction: `queued` -> `failed` (else `Conflict`, nothing written) and the
    /// idempotency record deleted.
    async fn mark_call_failed(
        &self,
        call_id: CallId,
        reason: &str,
        at: DateTime<Utc>,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let mut s = self.state();
        let Some(c) = s.queued_call(call_id) else {
            let reasons: &[&str] = match idempotency {
                Some(_) => &["ConditionalCheckFailed", "None"],
                None => &["ConditionalCheckFailed"],
            };
            return Err(cancelled(reasons));
        };
        c.status = CallStatus::Failed;
        c.failure_reason = Some(reason.to_string());
        c.updated_at = ms(at);
        c.due_at = None;
        if let Some(rec) = idempotency {
            s.idempotency
                .remove(&idempotency_key(&rec.account_id, &rec.key));
        }
        Ok(())
    }

    /// Transaction: `queued` -> `dial_unknown` with its deadline (else `Ok(false)`, nothing
    /// written) and the answer remembered.
    async fn mark_call_dial_unknown(
        &self,
        call_id: CallId,
        at: DateTime<Utc>,
        due_at: DateTime<Utc>,
        idempotency: Option<(&IdempotencyRecord, &StoredResponse)>,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        let Some(c) = s.queued_call(call_id) else {
            return Ok(false);
        };
        c.status = CallStatus::DialUnknown;
        c.updated_at = ms(at);
        c.due_at = Some(ms(due_at));
        if let Some((rec, resp)) = idempotency {
            s.remember_answer(rec, resp);
        }
        Ok(true)
    }

    async fn remember_answer(
        &self,
        record: &IdempotencyRecord,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        self.state().remember_answer(record, response);
        Ok(())
    }

    /// One conditional update: `#status = :from`, else `Ok(false)`.
    async fn settle_call(
        &self,
        call_id: CallId,
        from: CallStatus,
        to: CallStatus,
        reason: Option<&str>,
        at: DateTime<Utc>,
        due_at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        match s.calls.get_mut(&call_id) {
            Some(CallItem::Full(c)) if c.status == from => {
                c.status = to;
                c.updated_at = ms(at);
                if let Some(r) = reason {
                    c.failure_reason = Some(r.to_string());
                }
                c.due_at = due_at.map(ms);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Conditional: same call id and no answer, else `Ok(false)`.
    async fn answer_dead_request(
        &self,
        record: &IdempotencyRecord,
        response: &StoredResponse,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        let key = idempotency_key(&record.account_id, &record.key);
        match s.idempotency.get_mut(&key) {
            Some(IdempotencyItem::Record(r))
                if r.call_id == record.call_id && r.response.is_none() =>
            {
                r.response = Some(response.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn call(&self, id: CallId) -> Result<Option<Call>, StoreError> {
        match self.state().calls.get(&id) {
            None => Ok(None),
            Some(CallItem::Full(c)) => Ok(Some(c.as_ref().clone())),
            Some(CallItem::Fragment) => Err(call_fragment(id)),
        }
    }

    /// Live only while `expires_at` (whole seconds) is after `now`; the TTL sweeper lags.
    async fn idempotency(
        &self,
        account_id: &AccountId,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let s = self.state();
        let Some(item) = s.idempotency.get(&idempotency_key(account_id, key)) else {
            return Ok(None);
        };
        Ok(Some(read_idempotency(item, account_id, key)?).filter(|r| r.expires_at > now))
    }

    async fn advance_call(
        &self,
        call_id: CallId,
        to: CallStatus,
        progress: &CallProgress,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        match s.forward_call(call_id, to) {
            Some(c) => {
                apply_progress(c, to, progress, at);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// One transaction: the call moves as `advance_call` (else `Ok(false)`), the event only if
    /// new (else `Conflict`).
    async fn advance_call_with_event(
        &self,
        call_id: CallId,
        to: CallStatus,
        progress: &CallProgress,
        at: DateTime<Utc>,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        let mut stored = stored_event(&event.record, event.expires_at)?;
        stored.due_at = Some(ms(event.due_at));
        let mut s = self.state();
        let event_taken = s.events.contains_key(&stored.record.id);
        let Some(c) = s.forward_call(call_id, to) else {
            return Ok(false);
        };
        if event_taken {
            return Err(cancelled(&["None", "ConditionalCheckFailed"]));
        }
        apply_progress(c, to, progress, at);
        s.events.insert(stored.record.id, stored);
        Ok(true)
    }

    /// One transaction: the call moves as `settle_call` (else `Ok(false)`), the event only if
    /// new (else `Conflict`).
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
        let mut stored = stored_event(&event.record, event.expires_at)?;
        stored.due_at = Some(ms(event.due_at));
        let mut s = self.state();
        let event_taken = s.events.contains_key(&stored.record.id);
        match s.calls.get_mut(&call_id) {
            Some(CallItem::Full(c)) if c.status == from => {
                if event_taken {
                    return Err(cancelled(&["None", "ConditionalCheckFailed"]));
                }
                c.status = to;
                c.updated_at = ms(at);
                if let Some(r) = reason {
                    c.failure_reason = Some(r.to_string());
                }
                c.due_at = due_at.map(ms);
                if stored.record.event_type == EventType::CallCompleted {
                    c.event_id = Some(stored.record.id);
                }
            }
            _ => return Ok(false),
        }
        s.events.insert(stored.record.id, stored);
        Ok(true)
    }

    /// The event item is built first (a payload too large even compressed is a `Backend`
    /// error before anything is sent). Then one transaction: the call moves to `completed`
    /// only if it has no event and ranks below `completed` (else `Ok(false)`), and the event
    /// only if new (else `Conflict`: that is not "already completed").
    async fn complete_call(
        &self,
        call_id: CallId,
        progress: &CallProgress,
        completion: &CallCompletion<'_>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let event = stored_event(completion.event, completion.event_expires_at)?;
        let mut s = self.state();
        let event_taken = s.events.contains_key(&event.record.id);
        let Some(c) = s
            .forward_call(call_id, CallStatus::Completed)
            .filter(|c| c.event_id.is_none())
        else {
            return Ok(false);
        };
        if event_taken {
            return Err(cancelled(&["None", "ConditionalCheckFailed"]));
        }
        apply_progress(c, CallStatus::Completed, progress, at);
        c.event_id = Some(event.record.id);
        let mut event = event;
        event.due_at = Some(ms(completion.event_due_at));
        s.events.insert(event.record.id, event);
        Ok(true)
    }

    /// The adapter's query: the account's calls newest first within the range, the status
    /// filter applied to at most `MAX_CALL_ROWS_READ` rows read.
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
        let s = self.state();
        let mut rows: Vec<(String, &Call)> = s
            .calls
            .values()
            .filter_map(|c| match c {
                CallItem::Full(c) if c.account_id == account_id => {
                    Some((call_list_sort_key(c.created_at, &c.id), c.as_ref()))
                }
                _ => None,
            })
            .filter(|(sk, _)| lower.as_ref().is_none_or(|l| sk >= l))
            .filter(|(sk, _)| upper.as_ref().is_none_or(|u| sk < u))
            .collect();
        rows.sort_by(|a, b| b.0.cmp(&a.0));
        let mut matched = Vec::new();
        for (read, (sk, c)) in rows.iter().enumerate() {
            if q.status.is_none_or(|st| c.status == st) {
                matched.push((sk.clone(), (*c).clone()));
                if matched.len() > limit {
                    return Ok(CallPage::from_rows(matched, limit, None));
                }
            }
            if read + 1 >= MAX_CALL_ROWS_READ && read + 1 < rows.len() {
                return Ok(CallPage::from_rows(matched, limit, Some(sk.clone())));
            }
        }
        Ok(CallPage::from_rows(matched, limit, None))
    }

    async fn call_id_by_provider_call(
        &self,
        provider_call_id: &str,
    ) -> Result<Option<CallId>, StoreError> {
        Ok(self.state().provider_calls.get(provider_call_id).copied())
    }

    /// Transaction: the index entry only if new (else the owner's call id is the answer), the
    /// call only if new (else `Conflict`).
    async fn create_inbound_call(&self, call: &Call) -> Result<CallId, StoreError> {
        let provider_call_id = call
            .provider_call_id
            .as_deref()
            .ok_or_else(|| StoreError::Backend("inbound call without provider call id".into()))?;
        let mut s = self.state();
        if let Some(owner) = s.provider_calls.get(provider_call_id) {
            return Ok(*owner);
        }
        if s.calls.contains_key(&call.id) {
            return Err(cancelled(&["None", "ConditionalCheckFailed"]));
        }
        s.provider_calls
            .insert(provider_call_id.to_string(), call.id);
        s.calls
            .insert(call.id, CallItem::Full(Box::new(stored_call(call))));
        Ok(call.id)
    }
}
