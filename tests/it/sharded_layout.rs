//! Issue 28's sharded keys on the table's real indexes (moto): the delivery log, the calls
//! list and the due index write to their shards and still read what the previous layout
//! wrote (the unsharded keys), merged in sort-key order, so paging and cursors are unchanged.

use aws_adapters::dynamo::keys;
use aws_adapters::DynamoStore;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use domain::ids::{AccountId, CallId, EventId};
use domain::model::{
    Call, CallStatus, DeliveryAttempt, DeliveryErrorClass, DeliveryOutcome, Direction,
};
use domain::ports::store::calls::{CallCursor, CallQuery, ListShard};
use domain::ports::store::deliveries::{DeliveryCursor, DeliveryQuery, LogShard};
use domain::ports::store::{CallStore, DeliveryLog, DueKind, DueShard, DueStore};
use integration_tests::Emulator;
use std::collections::HashMap;
use uuid::Uuid;

fn attempt(account: &AccountId, at: DateTime<Utc>, outcome: DeliveryOutcome) -> DeliveryAttempt {
    DeliveryAttempt {
        trigger: Default::default(),
        account_id: account.into(),
        event_id: EventId::new_v4(),
        call_id: CallId::new_v4(),
        attempt: 1,
        attempted_at: at,
        url: Some("https://example.com/hook".into()),
        outcome,
        http_status: Some(503),
        duration_ms: 12,
        error_class: Some(DeliveryErrorClass::HttpStatus),
        response_excerpt: None,
        next_attempt_at: None,
    }
}

async fn item(store: &DynamoStore, key: (String, String)) -> HashMap<String, AttributeValue> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(key.0))
        .key("sk", AttributeValue::S(key.1))
        .send()
        .await
        .unwrap()
        .item
        .expect("the item")
}

/// Rewrites an item under other attribute values (a key too: put under the new key, the old
/// item deleted), as the previous version would have written it.
async fn rewrite(store: &DynamoStore, key: (String, String), set: &[(&str, String)]) {
    let mut it = item(store, key.clone()).await;
    for (k, v) in set {
        it.insert(k.to_string(), AttributeValue::S(v.clone()));
    }
    store
        .client()
        .delete_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(key.0))
        .key("sk", AttributeValue::S(key.1))
        .send()
        .await
        .unwrap();
    store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(it))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_delivery_log_merges_its_shards_and_the_legacy_partition() {
    let emu = Emulator::connect().await;
    let store = emu.table().await;
    let account = AccountId::from(Emulator::unique("acct_log"));
    let now = Utc::now();
    let mut written = Vec::new();
    for i in 0..12 {
        let outcome = if i % 3 == 0 {
            DeliveryOutcome::Delivered
        } else {
            DeliveryOutcome::Failed
        };
        let a = attempt(&account, now - Duration::seconds(100 - i), outcome);
        store.record_attempt(&a).await.unwrap();
        let key = keys::delivery(&a.account_id, a.attempted_at, &a.event_id, a.attempt);
        let LogShard::Shard(n) = LogShard::of(&a.event_id) else {
            panic!("written to a shard")
        };
        let it = item(&store, key.clone()).await;
        assert_eq!(
            it["pk"].as_s().unwrap(),
            &format!("ACCOUNT#{account}#LOG#{n}")
        );
        assert_eq!(
            it["gsi1pk"].as_s().unwrap(),
            &format!("ACCOUNT#{account}#OUTCOME#{}#{n}", outcome.as_str())
        );
        // Every fourth row as the previous layout wrote it: in the account's partition.
        if i % 4 == 1 {
            rewrite(
                &store,
                key,
                &[
                    ("pk", format!("ACCOUNT#{account}")),
                    (
                        "gsi1pk",
                        format!("ACCOUNT#{account}#OUTCOME#{}", outcome.as_str()),
                    ),
                ],
            )
            .await;
        }
        written.push(a);
    }
    let shards: std::collections::BTreeSet<_> =
        written.iter().map(|a| LogShard::of(&a.event_id)).collect();
    assert!(shards.len() > 3, "{shards:?}");
    let newest_first = |outcome: Option<DeliveryOutcome>| -> Vec<EventId> {
        let mut ids: Vec<_> = written
            .iter()
            .filter(|a| outcome.is_none_or(|o| a.outcome == o))
            .map(|a| (a.attempted_at, a.event_id))
            .collect();
        ids.sort();
        ids.reverse();
        ids.into_iter().map(|(_, id)| id).collect()
    };
    for outcome in [
        None,
        Some(DeliveryOutcome::Failed),
        Some(DeliveryOutcome::Delivered),
    ] {
        // Pages of 3 through the whole log: every row once, newest first.
        let mut seen = Vec::new();
        let mut after: Option<DeliveryCursor> = None;
        loop {
            let page = store
                .deliveries(
                    &account,
                    &DeliveryQuery {
                        outcome,
                        limit: 3,
                        after: after.take(),
                    },
                    now,
                )
                .await
                .unwrap();
            assert!(page.attempts.len() <= 3);
            seen.extend(page.attempts.iter().map(|a| a.event_id));
            match page.next_cursor {
                Some(c) => after = Some(DeliveryCursor::decode(&c).unwrap()),
                None => break,
            }
        }
        assert_eq!(seen, newest_first(outcome), "{outcome:?}");
    }
    // The bulk recovery's range read: oldest first, legacy rows included.
    let failed = store
        .deliveries_between(
            &account,
            DeliveryOutcome::Failed,
            now - Duration::hours(1),
            now,
            now,
        )
        .await
        .unwrap();
    let mut expected = newest_first(Some(DeliveryOutcome::Failed));
    expected.reverse();
    assert_eq!(
        failed.iter().map(|a| a.event_id).collect::<Vec<_>>(),
        expected
    );
}

fn call(account: &AccountId, created: DateTime<Utc>, status: CallStatus) -> Call {
    Call::new(
        Uuid::new_v4(),
        account.to_string(),
        Uuid::new_v4(),
        Direction::Outbound,
        status,
        "+15551234567",
        created,
    )
}

#[tokio::test]
async fn the_call_list_merges_its_shards_and_the_legacy_key() {
    let emu = Emulator::connect().await;
    let store = emu.table().await;
    let account = AccountId::from(Emulator::unique("acct_calls"));
    let now = Utc::now();
    let mut calls = Vec::new();
    for i in 0..10 {
        let status = if i % 2 == 0 {
            CallStatus::Queued
        } else {
            CallStatus::Scheduled
        };
        let c = call(&account, now - Duration::seconds(60 - i), status);
        store.create_call(&c, None, now).await.unwrap();
        let it = item(&store, keys::call(&c.id)).await;
        assert_eq!(
            it["gsi3pk"].as_s().unwrap(),
            &keys::account_calls(&account, ListShard::of(&c.id))
        );
        if i % 3 == 0 {
            rewrite(
                &store,
                keys::call(&c.id),
                &[("gsi3pk", format!("CALLS#{account}"))],
            )
            .await;
        }
        calls.push(c);
    }
    for status in [None, Some(CallStatus::Scheduled)] {
        let mut seen = Vec::new();
        let mut after: Option<CallCursor> = None;
        loop {
            let page = store
                .calls_of(
                    &account,
                    &CallQuery {
                        status,
                        created_after: None,
                        created_before: None,
                        limit: 3,
                        after: after.take(),
                    },
                )
                .await
                .unwrap();
            seen.extend(page.calls.iter().map(|c| c.id));
            match page.next_cursor {
                Some(c) => after = Some(CallCursor::decode(&c).unwrap()),
                None => break,
            }
        }
        let mut expected: Vec<_> = calls
            .iter()
            .filter(|c| status.is_none_or(|s| c.status == s))
            .map(|c| (c.created_at, c.id))
            .collect();
        expected.sort();
        expected.reverse();
        assert_eq!(
            seen,
            expected.into_iter().map(|(_, id)| id).collect::<Vec<_>>(),
            "{status:?}"
        );
    }
}

#[tokio::test]
async fn a_deadline_of_the_previous_layout_is_read_claimed_and_moved_to_its_shard() {
    let emu = Emulator::connect().await;
    let store = emu.table().await;
    let account = AccountId::from(Emulator::unique("acct_due"));
    let now = Utc::now();
    let due_at = now - Duration::minutes(5);
    let mut c = call(&account, now - Duration::minutes(20), CallStatus::Queued);
    c.due_at = Some(due_at);
    store.create_call(&c, None, now).await.unwrap();
    let shard = DueShard::call(&c.id);
    let it = item(&store, keys::call(&c.id)).await;
    assert_eq!(
        it["due_kind"].as_s().unwrap(),
        &keys::due_kind(DueKind::Call, shard)
    );
    let in_shard = store
        .due_in_shard(DueKind::Call, shard, now, 100)
        .await
        .unwrap();
    assert!(in_shard.iter().any(|d| d.work.shard() == Some(shard)));
    // As the previous version filed it: the bare kind.
    rewrite(&store, keys::call(&c.id), &[("due_kind", "call".into())]).await;
    let legacy = store
        .due_in_shard(DueKind::Call, DueShard::Legacy, now, 100)
        .await
        .unwrap();
    let mine: Vec<_> = legacy
        .iter()
        .filter(|d| d.work == domain::ports::store::DueWork::Call(c.id))
        .collect();
    assert_eq!(mine.len(), 1, "{legacy:?}");
    assert!(!store
        .due_in_shard(DueKind::Call, shard, now, 100)
        .await
        .unwrap()
        .iter()
        .any(|d| d.work == domain::ports::store::DueWork::Call(c.id)));
    // The claim moves only `due_at`; the next deadline written files it in its shard.
    let until = now + Duration::minutes(2);
    assert!(store.claim_call_repair(c.id, due_at, until).await.unwrap());
    assert!(store
        .settle_call(
            c.id,
            CallStatus::Queued,
            CallStatus::DialUnknown,
            None,
            now,
            Some(now + Duration::minutes(15)),
        )
        .await
        .unwrap());
    let it = item(&store, keys::call(&c.id)).await;
    assert_eq!(
        it["due_kind"].as_s().unwrap(),
        &keys::due_kind(DueKind::Call, shard)
    );
    // A quarantine of a legacy item: accepted there too.
    let mut q = call(&account, now - Duration::minutes(20), CallStatus::Queued);
    q.due_at = Some(due_at);
    store.create_call(&q, None, now).await.unwrap();
    rewrite(&store, keys::call(&q.id), &[("due_kind", "call".into())]).await;
    let due = domain::ports::store::Due {
        work: domain::ports::store::DueWork::Call(q.id),
        due_at,
    };
    assert!(store.quarantine_due(&due).await.unwrap());
    assert!(!store.quarantine_due(&due).await.unwrap(), "only once");
    assert_eq!(
        item(&store, keys::call(&q.id)).await["due_kind"]
            .as_s()
            .unwrap(),
        "quarantine"
    );
}
