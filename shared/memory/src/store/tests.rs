use super::*;
use crate::contract;
use chrono::TimeZone;
use domain::ids::{CallId, EventId};
use domain::model::{CallStatus, Direction};
use domain::ports::store::calls::{CallProgress, CreateCallOutcome};
use domain::ports::store::{AttemptLedger, CallStore, Claim, DeliveryLog, EventStore};
use domain::StoreError;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 15, 14, 30, 0).unwrap()
        + chrono::Duration::microseconds(1_234_567)
}

#[tokio::test]
async fn passes_the_store_contract() {
    let store = MemoryStore::new();
    contract::store(&store, now()).await.unwrap();
    // Twice on the same store: the contract only uses fresh ids.
    contract::store(&store, now()).await.unwrap();
}

#[tokio::test]
async fn each_contract_passes_on_its_own() {
    let store = MemoryStore::new();
    contract::accounts(&store, now()).await.unwrap();
    contract::calls(&store, now()).await.unwrap();
    contract::event_store(&store, now()).await.unwrap();
    contract::deliveries(&store, now()).await.unwrap();
    contract::attempts(&store, now()).await.unwrap();
}

/// Each promise of the store contract on its own test, on a fresh store.
mod contract_promises {
    use super::*;
    crate::store_contract_tests!(store: MemoryStore::new(), now: now());
}

fn queued_call() -> Call {
    Call::new(
        Uuid::new_v4(),
        "acct",
        Uuid::new_v4(),
        Direction::Outbound,
        CallStatus::Queued,
        "+14155550123",
        now(),
    )
}

#[tokio::test]
async fn times_come_back_as_dynamodb_keeps_them() {
    let store = MemoryStore::new();
    let call = queued_call();
    let rec = IdempotencyRecord {
        lease_until: None,
        account_id: "acct".into(),
        key: "k".into(),
        request_hash: "h".into(),
        call_id: call.id,
        response: None,
        expires_at: now() + chrono::Duration::hours(24),
    };
    store.create_call(&call, Some(&rec), now()).await.unwrap();
    let back = store.call(call.id).await.unwrap().unwrap();
    assert_eq!(back.created_at.timestamp_subsec_nanos(), 234_000_000);
    let rec_back = store
        .idempotency(&"acct".into(), "k", now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec_back.expires_at.timestamp_subsec_nanos(), 0);
    assert_eq!(rec_back.expires_at.timestamp(), rec.expires_at.timestamp());
}

#[tokio::test]
async fn idempotency_expiry_compares_whole_seconds_like_the_condition() {
    let store = MemoryStore::new();
    let first = queued_call();
    let expires = Utc.with_ymd_and_hms(2025, 6, 15, 15, 0, 0).unwrap();
    let rec = |c: &Call| IdempotencyRecord {
        lease_until: None,
        account_id: "acct".into(),
        key: "k".into(),
        request_hash: "h".into(),
        call_id: c.id,
        response: None,
        expires_at: expires,
    };
    store
        .create_call(&first, Some(&rec(&first)), now())
        .await
        .unwrap();
    // Half a second after the expiry: the read says gone (`expires_at > now` fails), but the
    // write condition (`#exp < :now` in whole seconds) still holds the key.
    let later = expires + chrono::Duration::milliseconds(500);
    assert_eq!(
        store.idempotency(&"acct".into(), "k", later).await.unwrap(),
        None
    );
    let second = queued_call();
    assert!(matches!(
        store
            .create_call(&second, Some(&rec(&second)), later)
            .await
            .unwrap(),
        CreateCallOutcome::IdempotencyKeyExists(_)
    ));
    let free = expires + chrono::Duration::seconds(1);
    assert_eq!(
        store
            .create_call(&second, Some(&rec(&second)), free)
            .await
            .unwrap(),
        CreateCallOutcome::Created
    );
}

#[tokio::test]
async fn dialing_an_unknown_call_leaves_a_fragment_as_the_unconditional_update_does() {
    let store = MemoryStore::new();
    let id = CallId::new_v4();
    let rec = IdempotencyRecord {
        lease_until: None,
        account_id: "acct".into(),
        key: "gone".into(),
        request_hash: "h".into(),
        call_id: id,
        response: None,
        expires_at: now(),
    };
    let answer = StoredResponse {
        status: 200,
        body: "{}".into(),
    };
    store
        .mark_call_dialing(id, "prov", now(), now(), Some((&rec, &answer)))
        .await
        .unwrap();
    assert!(matches!(store.call(id).await, Err(StoreError::Corrupt(_))));
    assert!(matches!(
        store.idempotency(&"acct".into(), "gone", now()).await,
        Err(StoreError::Corrupt(_))
    ));
    // The fragment exists: a create with that id loses, a callback cannot advance it.
    let mut call = queued_call();
    call.id = id;
    assert!(matches!(
        store.create_call(&call, None, now()).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(!store
        .advance_call(id, CallStatus::Ended, &CallProgress::default(), now())
        .await
        .unwrap());
}

#[tokio::test]
async fn finishing_keeps_the_attempt_taken_and_the_lease_is_exclusive_until_it_ends() {
    let store = MemoryStore::new();
    let event = EventId::new_v4();
    let lease = std::time::Duration::from_secs(30);
    assert_eq!(
        store
            .claim_attempt(event, "original", 1, now(), lease)
            .await
            .unwrap(),
        Claim::Won
    );
    let crash_recovery = now() + chrono::Duration::seconds(31);
    assert_eq!(
        store
            .claim_attempt(event, "original", 1, crash_recovery, lease)
            .await
            .unwrap(),
        Claim::Won
    );
    let row = domain::model::DeliveryAttempt {
        trigger: Default::default(),
        account_id: "acct".into(),
        event_id: event,
        call_id: CallId::new_v4(),
        attempt: 1,
        attempted_at: now(),
        url: None,
        outcome: domain::model::DeliveryOutcome::Delivered,
        http_status: Some(200),
        duration_ms: 1,
        error_class: None,
        response_excerpt: None,
        next_attempt_at: None,
    };
    store.finish_attempt("original", &row).await.unwrap();
    assert_eq!(
        store
            .claim_attempt(
                event,
                "original",
                1,
                crash_recovery + chrono::Duration::days(1),
                lease
            )
            .await
            .unwrap(),
        Claim::Done(Box::new(row))
    );
}

#[tokio::test]
async fn expired_events_are_still_read_and_the_log_skips_expired_rows() {
    let store = MemoryStore::new();
    let mut call = queued_call();
    call.status = CallStatus::Ended;
    store.create_call(&call, None, now()).await.unwrap();
    let event = domain::model::EventRecord {
        id: EventId::new_v4(),
        account_id: "acct".into(),
        call_id: call.id,
        event_type: domain::event_type::EventType::CallCompleted,
        payload: "{}".into(),
        created_at: now(),
    };
    let completion = domain::ports::store::calls::CallCompletion {
        summary: "",
        sentiment: "neutral",
        event: &event,
        event_expires_at: now() - chrono::Duration::days(1),
        event_due_at: now() - chrono::Duration::days(1),
    };
    assert!(store
        .complete_call(call.id, &CallProgress::default(), &completion, now())
        .await
        .unwrap());
    assert!(store.event(event.id).await.unwrap().is_some());

    // A row exactly at the retention horizon: inside the key range (`BETWEEN` includes it)
    // but expired by its TTL second, so only the TTL check leaves it out.
    let at = now() - chrono::Duration::days(30);
    let row = domain::model::DeliveryAttempt {
        trigger: Default::default(),
        account_id: "acct".into(),
        event_id: EventId::new_v4(),
        call_id: call.id,
        attempt: 1,
        attempted_at: at,
        url: None,
        outcome: domain::model::DeliveryOutcome::Skipped,
        http_status: None,
        duration_ms: 0,
        error_class: None,
        response_excerpt: None,
        next_attempt_at: None,
    };
    store.record_attempt(&row).await.unwrap();
    let query = domain::ports::store::deliveries::DeliveryQuery {
        outcome: None,
        limit: 10,
        after: None,
    };
    assert!(store
        .deliveries(&"acct".into(), &query, now())
        .await
        .unwrap()
        .attempts
        .is_empty());
    let earlier = now() - chrono::Duration::seconds(1);
    assert_eq!(
        store
            .deliveries(&"acct".into(), &query, earlier)
            .await
            .unwrap()
            .attempts
            .len(),
        1
    );
}
