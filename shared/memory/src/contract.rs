//! Port contracts: the behaviour every adapter of a port must show, as functions over the
//! port trait, so the same assertions run against the in-memory adapters (this crate's unit
//! tests) and against DynamoDB, SQS and Secrets Manager on the local emulator (the
//! integration tests call them with a `DynamoStore`, `SqsQueue` or `SecretsManager`).
//!
//! Each function writes under fresh random ids (accounts, calls, events, secret names), so it
//! can run many times against one table and in parallel with other tests. `now` is the time
//! the records are written at; pass the real time against a real table (TTL deletions work on
//! real time there) and any time against memory. A broken promise is a
//! [`ContractError::Violated`] naming it; an unexpected port error is returned as it came.

use chrono::{DateTime, SubsecRound, Utc};
use domain::error::{QueueError, SecretError, StoreError};
use domain::model::{
    Account, Agent, ApiKeyInfo, Call, CallStatus, DeliveryAttempt, DeliveryOutcome, Direction,
    EventRecord, IdempotencyRecord, Plan, StoredResponse,
};
use domain::ports::queue::{DeliveryMessage, EventQueue};
use domain::ports::secrets::SecretStore;
use domain::ports::store::attempts::{LedgerClaim, LedgerState, ATTEMPT_TTL};
use domain::ports::store::calls::{CallCompletion, CallProgress, CreateCallOutcome};
use domain::ports::store::deliveries::{DeliveryCursor, DeliveryQuery};
use domain::ports::store::events::{EVENT_TTL, PLAIN_PAYLOAD_MAX_BYTES};
use domain::ports::store::{Claim, Due, DueKind, DueWork, Store};
use std::time::Duration;
use uuid::Uuid;

/// Why a contract failed.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("contract violated: {0}")]
    Violated(String),
    #[error("unexpected store error: {0}")]
    Store(#[from] StoreError),
    #[error("unexpected secrets error: {0}")]
    Secret(#[from] SecretError),
    #[error("unexpected queue error: {0}")]
    Queue(#[from] QueueError),
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(ContractError::Violated(format!($($fmt)+)));
        }
    };
}

/// `ensure!` that two values are equal, showing both.
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $what:expr) => {
        // A match keeps temporaries alive for the comparison, as `assert_eq!` does.
        match (&$left, &$right) {
            (l, r) => {
                if l != r {
                    return Err(ContractError::Violated(format!(
                        "{}: got {:?}, expected {:?}",
                        $what, l, r
                    )));
                }
            }
        }
    };
}

fn is_conflict<T>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

fn not_found<T>(r: &Result<T, SecretError>) -> bool {
    matches!(r, Err(SecretError::NotFound(_)))
}

fn backend<T>(r: &Result<T, SecretError>) -> bool {
    matches!(r, Err(SecretError::Backend(_)))
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::new_v4().simple())
}

fn key_info(hash: &str, at: DateTime<Utc>) -> ApiKeyInfo {
    ApiKeyInfo {
        hash: hash.to_string(),
        prefix: "bvai_".into(),
        last4: "abcd".into(),
        created_at: at,
    }
}

fn call(account_id: &str, at: DateTime<Utc>) -> Call {
    Call::new(
        Uuid::new_v4(),
        account_id,
        Uuid::new_v4(),
        Direction::Outbound,
        CallStatus::Queued,
        "+14155550123",
        at,
    )
}

fn idempotency_record(call: &Call, key: &str, expires_at: DateTime<Utc>) -> IdempotencyRecord {
    IdempotencyRecord {
        lease_until: None,
        account_id: call.account_id.clone(),
        key: key.to_string(),
        request_hash: "hash-1".into(),
        call_id: call.id,
        response: None,
        // Whole seconds: the TTL attribute keeps no more.
        expires_at: expires_at.trunc_subsecs(0),
    }
}

fn event_record(call: &Call, payload: String, at: DateTime<Utc>) -> EventRecord {
    EventRecord {
        id: Uuid::new_v4(),
        account_id: call.account_id.clone(),
        call_id: call.id,
        event_type: domain::events::EventType::CallCompleted,
        payload,
        created_at: at,
    }
}

/// Every storage contract.
pub async fn store(store: &dyn Store, now: DateTime<Utc>) -> Result<(), ContractError> {
    accounts(store, now).await?;
    rate_counters(store, now).await?;
    calls(store, now).await?;
    events(store, now).await?;
    call_events(store, now).await?;
    deliveries(store, now).await?;
    deliveries_between(store, now).await?;
    attempts(store, now).await?;
    due(store, now).await?;
    scheduled(store, now).await?;
    suppressions(store, now).await?;
    call_list(store, now).await?;
    endpoint_health(store, now).await?;
    Ok(())
}

/// Endpoint health records: absent means healthy; timeouts count on for one URL and restart
/// at 1 for another; a batch read returns exactly the accounts that have a record (others'
/// never); clearing removes it, and clearing nothing is no error.
pub async fn endpoint_health(store: &dyn Store, now: DateTime<Utc>) -> Result<(), ContractError> {
    let now = now.trunc_subsecs(3);
    let (a, b, none) = (unique("acct_eh"), unique("acct_eh"), unique("acct_eh"));
    let ids = [a.clone(), b.clone(), none.clone()];
    ensure!(
        store.endpoint_health(&ids).await?.is_empty(),
        "no record: healthy"
    );
    let url = "https://hooks.example.com/a";
    for n in 1..=3u32 {
        let at = now + chrono::Duration::seconds(i64::from(n));
        ensure_eq!(
            store.record_endpoint_timeout(&a, url, at).await?,
            n,
            "timeouts count on"
        );
    }
    ensure_eq!(
        store
            .record_endpoint_timeout(&b, "https://hooks.example.com/b", now)
            .await?,
        1,
        "another account's own count"
    );
    let read = store.endpoint_health(&ids).await?;
    ensure_eq!(read.len(), 2, "the two records");
    let ha = read
        .get(&a)
        .ok_or_else(|| ContractError::Violated("a's record".into()))?;
    ensure_eq!(ha.consecutive_timeouts, 3, "a's count");
    ensure_eq!(
        ha.last_timeout_at,
        Some(now + chrono::Duration::seconds(3)),
        "the last timeout"
    );
    ensure!(ha.is_hanging(now + chrono::Duration::seconds(4)), "hanging");
    ensure_eq!(
        store
            .record_endpoint_timeout(&a, "https://hooks.example.com/new", now)
            .await?,
        1,
        "a new URL starts again"
    );
    store.clear_endpoint_health(&a).await?;
    store.clear_endpoint_health(&none).await?;
    let read = store.endpoint_health(&ids).await?;
    ensure!(
        !read.contains_key(&a) && read.contains_key(&b),
        "cleared: a only"
    );
    Ok(())
}

/// An account's calls, newest first through its index: filters by status and creation time
/// (after inclusive, before exclusive), exact cursor paging, other accounts never seen, and
/// the key hash a call was created with read back.
pub async fn call_list(store: &dyn Store, now: DateTime<Utc>) -> Result<(), ContractError> {
    use domain::ports::store::calls::{CallCursor, CallQuery};
    let t0 = now.trunc_subsecs(3) - chrono::Duration::hours(1);
    let account = unique("acct_list");
    let other = unique("acct_other");
    let mut ids = Vec::new();
    for i in 0..7i64 {
        let status = if i % 2 == 0 {
            CallStatus::Scheduled
        } else {
            CallStatus::Queued
        };
        let c = Call {
            status,
            key_hash: Some(format!("hash-{}", i % 3)),
            ..Call::new(
                Uuid::new_v4(),
                account.as_str(),
                Uuid::new_v4(),
                Direction::Outbound,
                status,
                "+14155550123",
                t0 + chrono::Duration::seconds(i),
            )
        };
        store.create_call(&c, None, now).await?;
        ids.push(c.id);
    }
    // Two calls in the same millisecond are told apart by id; another account's call.
    let twin = call(&account, t0 + chrono::Duration::seconds(6));
    store.create_call(&twin, None, now).await?;
    store
        .create_call(&call(&other, t0 + chrono::Duration::seconds(3)), None, now)
        .await?;
    let query = |limit, after: Option<CallCursor>| CallQuery {
        status: None,
        created_after: None,
        created_before: None,
        limit,
        after,
    };
    // Paging by 3: every call of the account once, newest first.
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..5 {
        let after = cursor
            .take()
            .map(|c: String| CallCursor::decode(&c))
            .transpose()
            .map_err(|e| ContractError::Violated(format!("a cursor the store wrote: {e}")))?;
        let page = store.calls_of(&account, &query(3, after)).await?;
        ensure!(page.calls.len() <= 3, "a page holds at most its limit");
        seen.extend(page.calls.iter().map(|c| (c.created_at, c.id)));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    ensure_eq!(seen.len(), 8, "every call of the account, once");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    ensure_eq!(seen, sorted, "newest first, ties by id");
    let newest = store.calls_of(&account, &query(1, None)).await?;
    ensure_eq!(
        newest
            .calls
            .first()
            .map(|c| c.key_hash.is_some() || c.id == twin.id),
        Some(true),
        "the key hash reads back"
    );
    // Status filter.
    let scheduled = store
        .calls_of(
            &account,
            &CallQuery {
                status: Some(CallStatus::Scheduled),
                ..query(100, None)
            },
        )
        .await?;
    let expected: Vec<Uuid> = [6, 4, 2, 0].iter().map(|i| ids[*i]).collect();
    ensure_eq!(
        scheduled.calls.iter().map(|c| c.id).collect::<Vec<_>>(),
        expected,
        "the scheduled calls, newest first"
    );
    ensure_eq!(
        scheduled.calls[0].key_hash.as_deref(),
        Some("hash-0"),
        "the key hash of a listed call"
    );
    ensure_eq!(scheduled.next_cursor, None, "one page");
    // Creation-time range: after inclusive, before exclusive.
    let ranged = store
        .calls_of(
            &account,
            &CallQuery {
                created_after: Some(t0 + chrono::Duration::seconds(2)),
                created_before: Some(t0 + chrono::Duration::seconds(5)),
                ..query(100, None)
            },
        )
        .await?;
    ensure_eq!(
        ranged.calls.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![ids[4], ids[3], ids[2]],
        "calls created in [t0+2s, t0+5s)"
    );
    let empty = store
        .calls_of(
            &account,
            &CallQuery {
                created_after: Some(t0 + chrono::Duration::seconds(5)),
                created_before: Some(t0 + chrono::Duration::seconds(5)),
                ..query(100, None)
            },
        )
        .await?;
    ensure!(
        empty.calls.is_empty() && empty.next_cursor.is_none(),
        "an empty range"
    );
    ensure_eq!(
        store
            .calls_of(&unique("acct_none"), &query(10, None))
            .await?
            .calls
            .len(),
        0,
        "an account without calls"
    );
    Ok(())
}

/// Rate counters: `use_key` reads the grant and counts in the same request, per window (a
/// new window starts from 1, also after the key sat idle for any number of windows, 16 and
/// 32 included, where the DynamoDB adapter's slots wrap); an unknown key is `None` and writes
/// nothing; concurrent uses are all counted; guardrails ride on the grant; `count_use` counts
/// per account, scope and window.
pub async fn rate_counters(store: &dyn Store, now: DateTime<Utc>) -> Result<(), ContractError> {
    let t = now.trunc_subsecs(3);
    let id = unique("acct");
    let hash = unique("hr");
    let mut account = Account::new(&id, "Rate Co", Plan::Agency, t);
    account.api_key = Some(key_info(&hash, t));
    account.guardrails = domain::model::Guardrails {
        rate_limit_per_minute: Some(7),
        allowed_countries: Some(vec!["GB".into(), "US".into()]),
        non_geographic_allowed: true,
        allowed_number_types: vec![
            domain::number_type::NumberType::PremiumRate,
            domain::number_type::NumberType::Pager,
        ],
        countries_from_agents: true,
        recipient_hours: Some(domain::recipient_hours::RecipientHours {
            applies_to: domain::recipient_hours::AppliesTo::Everywhere,
            hours: domain::calling_window::DayWindow {
                start: 20 * 60,
                end: 2 * 60,
            },
        }),
        // Rides on the grant like the others (trigger-call refuses a suspended account from
        // the grant alone).
        suspended: Some(domain::model::Suspension {
            reason: "chargeback".into(),
            since: t,
        }),
    };
    store.create_account(&account).await?;
    let w = 29_000_000_i64;
    for expected in 1..=3u64 {
        let got = store.use_key(&hash, w).await?;
        ensure_eq!(
            got,
            Some((account.grant(), expected)),
            format!("use {expected} of window {w}")
        );
    }
    ensure_eq!(
        store.use_key(&hash, w + 1).await?.map(|g| g.1),
        Some(1),
        "the next window starts from 1"
    );
    for idle in [16, 32, 17, 2] {
        let base = store.use_key(&hash, w + 100).await?;
        ensure!(base.is_some(), "key known");
        let next = w + 100 + idle;
        ensure_eq!(
            store.use_key(&hash, next).await?.map(|g| g.1),
            Some(1),
            format!("first use after {idle} idle windows")
        );
        ensure_eq!(
            store.use_key(&hash, next).await?.map(|g| g.1),
            Some(2),
            format!("second use after {idle} idle windows")
        );
        // Back to a fixed base for the next round: the key sits idle long enough.
        let _ = store.use_key(&hash, w + 100 + 1000).await?;
    }
    let w2 = w + 5000;
    let (a, b, c, d) = tokio::join!(
        store.use_key(&hash, w2),
        store.use_key(&hash, w2),
        store.use_key(&hash, w2),
        store.use_key(&hash, w2)
    );
    let (e, f, g, h) = tokio::join!(
        store.use_key(&hash, w2),
        store.use_key(&hash, w2),
        store.use_key(&hash, w2),
        store.use_key(&hash, w2)
    );
    let mut counts = Vec::new();
    for r in [a, b, c, d, e, f, g, h] {
        match r? {
            Some((_, n)) => counts.push(n),
            None => return Err(ContractError::Violated("a known key was None".into())),
        }
    }
    counts.sort_unstable();
    ensure_eq!(
        counts,
        (1..=8).collect::<Vec<u64>>(),
        "eight concurrent uses counted once each"
    );
    // A settings write keeps the key's count (the grant is rewritten in place), and what it
    // changes reads back, an optional field removed included.
    let mut current = store
        .account(&id)
        .await?
        .ok_or_else(|| ContractError::Violated("account missing".into()))?;
    let mut changed = current.clone();
    changed.api_enabled = false;
    changed.guardrails.allowed_countries = None;
    current = store.save_account(&current, &changed).await?;
    ensure_eq!(
        store.use_key(&hash, w2).await?,
        Some((current.grant(), 9)),
        "a settings write does not refill the key's minute"
    );
    // A rotation moves the count to the new key, and the old key is gone.
    let new_hash = unique("hr");
    let mut rotated = current.clone();
    rotated.api_key = Some(key_info(&new_hash, t));
    current = store.save_account(&current, &rotated).await?;
    ensure_eq!(
        store.use_key(&new_hash, w2).await?,
        Some((current.grant(), 10)),
        "a rotation does not refill the account's minute"
    );
    ensure_eq!(
        store.use_key(&hash, w2).await?,
        None,
        "the old key no longer authenticates"
    );
    ensure_eq!(
        store.use_key(&new_hash, w2 + 1).await?.map(|g| g.1),
        Some(1),
        "the next window still starts from 1"
    );
    // Later checks use the current key.
    let hash = new_hash;
    let _ = &hash;
    let unknown = unique("hx");
    ensure_eq!(
        store.use_key(&unknown, w).await?,
        None,
        "an unknown key is None"
    );
    ensure_eq!(
        store.key_grant(&unknown).await?,
        None,
        "an unknown key's use writes no grant"
    );
    for expected in 1..=2u64 {
        ensure_eq!(
            store.count_use(&id, "settings", w).await?,
            expected,
            "settings uses"
        );
    }
    ensure_eq!(
        store.count_use(&id, "costly", w).await?,
        1,
        "scopes count apart"
    );
    ensure_eq!(
        store.count_use(&id, "settings", w + 1).await?,
        1,
        "windows count apart"
    );
    ensure_eq!(
        store.count_use(&unique("acct"), "settings", w).await?,
        1,
        "accounts count apart"
    );
    Ok(())
}

/// Accounts: create only once; saves checked against the version read, moving the key grant
/// with the key, all or nothing; agents with a provider id owned by one agent only.
pub async fn accounts(store: &dyn Store, now: DateTime<Utc>) -> Result<(), ContractError> {
    let t = now.trunc_subsecs(3);
    let id = unique("acct");
    let (hash_a, hash_b, hash_c) = (unique("ha"), unique("hb"), unique("hc"));
    let mut account = Account::new(&id, "Contract Co", Plan::Agency, t);
    account.api_key = Some(key_info(&hash_a, t));

    store.create_account(&account).await?;
    ensure_eq!(
        store.account(&id).await?,
        Some(account.clone()),
        "account read back"
    );
    ensure_eq!(
        store.key_grant(&hash_a).await?,
        Some(account.grant()),
        "grant of key A"
    );
    ensure!(
        is_conflict(&store.create_account(&account).await),
        "creating an existing account must be a Conflict"
    );

    // Rotate to key B: A's grant goes, B's comes, the version is bumped.
    let mut next = account.clone();
    next.api_key = Some(key_info(&hash_b, t));
    next.api_enabled = false;
    let saved = store.save_account(&account, &next).await?;
    ensure_eq!(saved.version, account.version + 1, "version after save");
    ensure_eq!(
        store.account(&id).await?,
        Some(saved.clone()),
        "saved account"
    );
    ensure_eq!(store.key_grant(&hash_a).await?, None, "old key's grant");
    ensure_eq!(
        store.key_grant(&hash_b).await?,
        Some(saved.grant()),
        "new key's grant"
    );

    // A stale writer (still holding the first version) loses, and writes nothing: neither its
    // account fields, nor key C's grant, nor the removal of B's grant.
    let mut stale = account.clone();
    stale.api_key = Some(key_info(&hash_c, t));
    stale.name = "Stale".into();
    ensure!(
        is_conflict(&store.save_account(&account, &stale).await),
        "saving over a newer version must be a Conflict"
    );
    ensure_eq!(
        store.account(&id).await?,
        Some(saved.clone()),
        "account after lost save"
    );
    ensure_eq!(
        store.key_grant(&hash_c).await?,
        None,
        "grant of the lost save's key"
    );
    ensure_eq!(
        store.key_grant(&hash_b).await?,
        Some(saved.grant()),
        "grant kept"
    );
    // The operator's recipient-hours policy is saved on the account, rides on the key's
    // grant, and clears back to the default (`None`).
    let mut with_policy = saved.clone();
    with_policy.guardrails.recipient_hours = Some(domain::recipient_hours::RecipientHours {
        applies_to: domain::recipient_hours::AppliesTo::Off,
        hours: domain::calling_window::DayWindow {
            start: 22 * 60,
            end: 6 * 60,
        },
    });
    let policy_saved = store.save_account(&saved, &with_policy).await?;
    ensure_eq!(
        store
            .account(&id)
            .await?
            .map(|a| a.guardrails.recipient_hours),
        Some(with_policy.guardrails.recipient_hours),
        "recipient hours saved"
    );
    ensure_eq!(
        store.key_grant(&hash_b).await?,
        Some(policy_saved.grant()),
        "recipient hours on the grant"
    );
    let mut cleared = policy_saved.clone();
    cleared.guardrails.recipient_hours = None;
    let cleared = store.save_account(&policy_saved, &cleared).await?;
    ensure_eq!(
        store
            .account(&id)
            .await?
            .map(|a| a.guardrails.recipient_hours),
        Some(None),
        "recipient hours cleared"
    );
    ensure_eq!(
        store.key_grant(&hash_b).await?,
        Some(cleared.grant()),
        "cleared recipient hours on the grant"
    );
    let missing = Account::new(unique("acct"), "Nobody", Plan::Agency, t);
    ensure!(
        is_conflict(&store.save_account(&missing, &missing).await),
        "saving an account that does not exist must be a Conflict"
    );

    // Agents: sorted by name (case-insensitive), scoped to their account.
    let provider_id = unique("agent");
    let zed = Agent {
        id: Uuid::new_v4(),
        account_id: id.clone(),
        name: "zed".into(),
        provider_agent_id: provider_id.clone(),
        phone_number: None,
    };
    let amy = Agent {
        id: Uuid::new_v4(),
        name: "Amy".into(),
        provider_agent_id: unique("agent"),
        ..zed.clone()
    };
    store.put_agent(&zed).await?;
    store.put_agent(&amy).await?;
    ensure_eq!(
        store.agents(&id).await?,
        vec![amy.clone(), zed.clone()],
        "agents by name"
    );
    ensure_eq!(store.agent(&id, zed.id).await?, Some(zed.clone()), "agent");
    ensure_eq!(
        store.agent("another", zed.id).await?,
        None,
        "agent of another account"
    );
    ensure_eq!(
        store.agent_by_provider_id(&provider_id).await?,
        Some(zed.clone()),
        "agent by provider id"
    );
    // Re-putting the owner is fine; another agent claiming its provider id loses entirely.
    let mut renamed = zed.clone();
    renamed.name = "Zed".into();
    store.put_agent(&renamed).await?;
    let thief = Agent {
        id: Uuid::new_v4(),
        name: "Thief".into(),
        ..zed.clone()
    };
    ensure!(
        is_conflict(&store.put_agent(&thief).await),
        "an agent taking another's provider id must be a Conflict"
    );
    ensure_eq!(
        store.agent(&id, thief.id).await?,
        None,
        "agent of the lost put"
    );
    ensure_eq!(
        store.agent_by_provider_id(&provider_id).await?,
        Some(renamed),
        "provider id still maps to its owner"
    );
    Ok(())
}

/// Calls: creation with its Idempotency-Key all or nothing, expired keys free, the status
/// machine (queued -> dialing/failed, forward-only callbacks, completion once with its event),
/// inbound calls once per provider call id.
pub async fn calls(store: &dyn Store, now: DateTime<Utc>) -> Result<(), ContractError> {
    let t = now.trunc_subsecs(3);
    let account = unique("acct");
    let key = unique("idem");
    let first = call(&account, t);
    let rec = idempotency_record(&first, &key, now + chrono::Duration::hours(24));

    ensure_eq!(
        store.create_call(&first, Some(&rec), now).await?,
        CreateCallOutcome::Created,
        "first create"
    );
    ensure_eq!(
        store.call(first.id).await?,
        Some(first.clone()),
        "call read back"
    );
    ensure_eq!(
        store.idempotency(&account, &key, now).await?,
        Some(rec.clone()),
        "idempotency record"
    );

    // The same key again: the existing record answers, and the second call is not written.
    let second = call(&account, t);
    let again = idempotency_record(&second, &key, now + chrono::Duration::hours(24));
    ensure_eq!(
        store.create_call(&second, Some(&again), now).await?,
        CreateCallOutcome::IdempotencyKeyExists(rec.clone()),
        "create with a taken key"
    );
    ensure_eq!(
        store.call(second.id).await?,
        None,
        "call of the refused create"
    );

    // An existing call id: Conflict, and the new key is not taken either.
    let other_key = unique("idem");
    let dup = idempotency_record(&first, &other_key, now + chrono::Duration::hours(24));
    ensure!(
        is_conflict(&store.create_call(&first, Some(&dup), now).await),
        "creating an existing call (with a new key) must be a Conflict"
    );
    ensure_eq!(
        store.idempotency(&account, &other_key, now).await?,
        None,
        "key of the refused create"
    );
    ensure!(
        is_conflict(&store.create_call(&first, None, now).await),
        "creating an existing call must be a Conflict"
    );

    // An expired record is invisible and free, even before the TTL sweeper removes it.
    let old_key = unique("idem");
    let old_call = call(&account, t);
    let old = idempotency_record(&old_call, &old_key, now - chrono::Duration::seconds(10));
    store.create_call(&old_call, Some(&old), now).await?;
    ensure_eq!(
        store.idempotency(&account, &old_key, now).await?,
        None,
        "expired record"
    );
    let fresh_call = call(&account, t);
    let fresh = idempotency_record(&fresh_call, &old_key, now + chrono::Duration::hours(24));
    ensure_eq!(
        store.create_call(&fresh_call, Some(&fresh), now).await?,
        CreateCallOutcome::Created,
        "create over an expired record"
    );

    // queued -> dialing, with the answer remembered in the same write.
    let answer = StoredResponse {
        status: 200,
        body: format!(r#"{{"success":true,"call_id":"{}"}}"#, first.id),
    };
    store
        .mark_call_dialing(
            first.id,
            "prov_1",
            t,
            t + chrono::Duration::hours(2),
            Some((&rec, &answer)),
        )
        .await?;
    let dialing = store
        .call(first.id)
        .await?
        .ok_or_else(|| ContractError::Violated("dialing call vanished".into()))?;
    ensure_eq!(dialing.status, CallStatus::Dialing, "status after dialing");
    ensure_eq!(
        dialing.due_at,
        Some(t.trunc_subsecs(3) + chrono::Duration::hours(2)),
        "a dialing call's deadline"
    );
    ensure_eq!(
        dialing.provider_call_id.as_deref(),
        Some("prov_1"),
        "provider id"
    );
    ensure_eq!(
        store
            .idempotency(&account, &key, now)
            .await?
            .and_then(|r| r.response),
        Some(answer.clone()),
        "remembered answer"
    );
    // Marking it again (a late duplicate) keeps the status and the first provider id.
    store
        .mark_call_dialing(first.id, "prov_2", t, t, None)
        .await?;
    ensure_eq!(
        store.call(first.id).await?,
        Some(dialing.clone()),
        "call after a late dialing"
    );

    // Failing is only for queued calls; a lost condition writes nothing (the key stays).
    ensure!(
        is_conflict(
            &store
                .mark_call_failed(first.id, "late", t, Some(&rec))
                .await
        ),
        "failing a dialing call must be a Conflict"
    );
    ensure!(
        store.idempotency(&account, &key, now).await?.is_some(),
        "a lost mark_call_failed must not release the key"
    );
    store
        .mark_call_failed(fresh_call.id, "provider_unreachable", t, Some(&fresh))
        .await?;
    let failed = store.call(fresh_call.id).await?;
    ensure_eq!(
        failed.as_ref().map(|c| c.status),
        Some(CallStatus::Failed),
        "failed status"
    );
    ensure_eq!(
        failed.and_then(|c| c.failure_reason).as_deref(),
        Some("provider_unreachable"),
        "failure reason"
    );
    ensure_eq!(
        store.idempotency(&account, &old_key, now).await?,
        None,
        "released key"
    );

    // Callbacks move forward only.
    let progress = CallProgress {
        started_at: Some(t),
        ..CallProgress::default()
    };
    ensure!(
        store
            .advance_call(first.id, CallStatus::InProgress, &progress, t)
            .await?,
        "dialing -> in_progress must advance"
    );
    ensure!(
        !store
            .advance_call(first.id, CallStatus::InProgress, &progress, t)
            .await?,
        "in_progress -> in_progress must not"
    );
    ensure!(
        !store
            .advance_call(first.id, CallStatus::Dialing, &progress, t)
            .await?,
        "in_progress -> dialing must not"
    );
    ensure!(
        !store
            .advance_call(Uuid::new_v4(), CallStatus::Ended, &progress, t)
            .await?,
        "an unknown call must not advance"
    );
    ensure!(
        !store
            .advance_call(fresh_call.id, CallStatus::Ended, &progress, t)
            .await?,
        "a failed call must not advance"
    );
    let ended = CallProgress {
        ended_at: Some(t + chrono::Duration::seconds(42)),
        duration_seconds: Some(42),
        disconnection_reason: Some("user_hangup".into()),
        provider_call_id: Some("prov_3".into()),
        ..CallProgress::default()
    };
    ensure!(
        store
            .advance_call(first.id, CallStatus::Ended, &ended, t)
            .await?,
        "in_progress -> ended must advance"
    );
    let c = store.call(first.id).await?;
    ensure_eq!(
        c.as_ref()
            .map(|c| (c.started_at, c.ended_at, c.duration_seconds)),
        Some((Some(t), ended.ended_at, Some(42))),
        "progress kept"
    );
    ensure_eq!(
        c.and_then(|c| c.provider_call_id).as_deref(),
        Some("prov_1"),
        "a callback never replaces the provider id"
    );

    // Completion: once, with its event, all or nothing.
    let event = event_record(&first, r#"{"event":"call.completed"}"#.into(), t);
    let completion = CallCompletion {
        summary: "ok",
        sentiment: "positive",
        event: &event,
        event_expires_at: now + EVENT_TTL,
        event_due_at: now + EVENT_TTL,
    };
    ensure!(
        store
            .complete_call(first.id, &CallProgress::default(), &completion, t)
            .await?,
        "first completion must win"
    );
    let completed = store.call(first.id).await?;
    ensure_eq!(
        completed.as_ref().map(|c| (c.status, c.event_id)),
        Some((CallStatus::Completed, Some(event.id))),
        "completed call"
    );
    let stored = store.event(event.id).await?;
    ensure_eq!(
        stored.as_ref().map(|e| &e.record),
        Some(&event),
        "stored event"
    );
    ensure_eq!(
        stored.map(|e| e.enqueued),
        Some(false),
        "a new event is not enqueued"
    );
    let event2 = event_record(&first, r#"{"event":"again"}"#.into(), t);
    let completion2 = CallCompletion {
        event: &event2,
        ..completion.clone()
    };
    ensure!(
        !store
            .complete_call(first.id, &CallProgress::default(), &completion2, t)
            .await?,
        "a second completion must lose"
    );
    ensure_eq!(
        store.event(event2.id).await?,
        None,
        "event of the lost completion"
    );
    ensure!(
        !store
            .complete_call(fresh_call.id, &CallProgress::default(), &completion2, t)
            .await?,
        "a failed call must not complete"
    );
    ensure!(
        !store
            .complete_call(Uuid::new_v4(), &CallProgress::default(), &completion2, t)
            .await?,
        "an unknown call must not complete"
    );
    // An event id that already exists: Conflict (not "already completed"), call untouched.
    let other = call(&account, t);
    store.create_call(&other, None, now).await?;
    let reused = CallCompletion {
        event: &event,
        ..completion.clone()
    };
    ensure!(
        is_conflict(
            &store
                .complete_call(other.id, &CallProgress::default(), &reused, t)
                .await
        ),
        "completing with an existing event id must be a Conflict"
    );
    ensure_eq!(
        store.call(other.id).await?,
        Some(other.clone()),
        "call of the lost completion"
    );

    // Inbound: one call per provider call id; the loser learns the owner.
    let provider_call = unique("inbound");
    let mut inbound = call(&account, t);
    inbound.direction = Direction::Inbound;
    inbound.status = CallStatus::InProgress;
    inbound.provider_call_id = Some(provider_call.clone());
    ensure_eq!(
        store.create_inbound_call(&inbound).await?,
        inbound.id,
        "inbound created"
    );
    let twin = Call {
        id: Uuid::new_v4(),
        ..inbound.clone()
    };
    ensure_eq!(
        store.create_inbound_call(&twin).await?,
        inbound.id,
        "inbound owner"
    );
    ensure_eq!(store.call(twin.id).await?, None, "the losing inbound call");
    ensure_eq!(
        store.call_id_by_provider_call(&provider_call).await?,
        Some(inbound.id),
        "provider call index"
    );
    ensure_eq!(
        store.call(inbound.id).await?,
        Some(inbound),
        "inbound call read back"
    );
    Ok(())
}

/// Events: `enqueued` only for existing events; large payloads compressed and returned
/// byte for byte; payloads too large even compressed refused.
pub async fn events(store: &dyn Store, now: DateTime<Utc>) -> Result<(), ContractError> {
    let t = now.trunc_subsecs(3);
    ensure!(
        is_conflict(&store.mark_event_enqueued(Uuid::new_v4()).await),
        "marking an unknown event enqueued must be a Conflict"
    );
    let account = unique("acct");
    let account = account.as_str();
    let complete = |payload: String| async move {
        let c = call(account, t);
        store.create_call(&c, None, now).await?;
        let event = event_record(&c, payload, t);
        let completion = CallCompletion {
            summary: "",
            sentiment: "unknown",
            event: &event,
            event_expires_at: now + EVENT_TTL,
            event_due_at: now + EVENT_TTL,
        };
        let done = store
            .complete_call(c.id, &CallProgress::default(), &completion, t)
            .await;
        Ok::<_, StoreError>((c, event, done))
    };

    let large: String = (0..20_000)
        .map(|i| format!("{{\"role\":\"agent\",\"content\":\"word {i} é\"}},"))
        .collect();
    ensure!(
        large.len() > PLAIN_PAYLOAD_MAX_BYTES,
        "test payload is large"
    );
    let (_, event, done) = complete(large.clone()).await?;
    ensure!(done?, "completion with a large payload");
    let stored = store
        .event(event.id)
        .await?
        .ok_or_else(|| ContractError::Violated("large event missing".into()))?;
    ensure!(
        stored.compressed,
        "a large payload must be stored compressed"
    );
    ensure!(
        stored.record.payload == large,
        "a large payload must round-trip"
    );
    ensure_eq!(
        stored.expires_at,
        (now + EVENT_TTL).trunc_subsecs(0),
        "event expiry (whole seconds)"
    );
    store.mark_event_enqueued(event.id).await?;
    ensure_eq!(
        store.event(event.id).await?.map(|e| e.enqueued),
        Some(true),
        "enqueued flag"
    );

    // Pseudo-random hex compresses to about half: a megabyte of it cannot be stored.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: String = (0..1_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from_digit((x % 16) as u32, 16).unwrap_or('0')
        })
        .collect();
    let (c, event, done) = complete(noise).await?;
    ensure!(
        matches!(done, Err(StoreError::Backend(_))),
        "an event too large even compressed must be a Backend error, got {done:?}"
    );
    ensure_eq!(store.event(event.id).await?, None, "the refused event");
    ensure_eq!(
        store.call(c.id).await?.map(|c| c.status),
        Some(CallStatus::Queued),
        "the call of the refused event"
    );
    Ok(())
}

/// Events written with a call's move (`call.started`, `call.failed`): both or neither; no move
/// is `Ok(false)` with nothing written; an event that exists already with the call's
/// condition met is a `Conflict` that moves nothing; the event is stored with its type,
/// unqueued, with its reconciler deadline.
pub async fn call_events(store: &dyn Store, now: DateTime<Utc>) -> Result<(), ContractError> {
    use domain::events::{self, EventType, FailureReason};
    let t = now.trunc_subsecs(3);
    let account_id = unique("acct");
    let mut account = Account::new(account_id.clone(), "Events", Plan::Agency, t);
    account.events = EventType::ALL.to_vec();
    let dialing = || async {
        let c = call(&account_id, t);
        store.create_call(&c, None, t).await?;
        store
            .mark_call_dialing(
                c.id,
                &unique("prov"),
                t,
                t + chrono::Duration::hours(2),
                None,
            )
            .await?;
        store
            .call(c.id)
            .await?
            .ok_or_else(|| ContractError::Violated("dialing call missing".into()))
    };
    let progress = CallProgress {
        due_at: Some(t + chrono::Duration::hours(2)),
        ..CallProgress::default()
    };

    let c = dialing().await?;
    let started = events::call_started(&c, "Ava", t, t)
        .map_err(|e| ContractError::Violated(e.to_string()))?;
    ensure!(
        store
            .advance_call_with_event(c.id, CallStatus::InProgress, &progress, t, &started)
            .await?,
        "the call moves with its event"
    );
    let stored = store
        .event(started.record.id)
        .await?
        .ok_or_else(|| ContractError::Violated("call.started not stored".into()))?;
    ensure_eq!(
        stored.record.event_type,
        EventType::CallStarted,
        "event type"
    );
    ensure_eq!(stored.record.payload, started.record.payload, "payload");
    ensure!(!stored.enqueued, "a new event is not enqueued");
    ensure_eq!(stored.due_at, Some(started.due_at), "the event's deadline");
    ensure_eq!(
        store.call(c.id).await?.map(|c| c.status),
        Some(CallStatus::InProgress),
        "the moved call"
    );
    ensure!(
        !store
            .advance_call_with_event(c.id, CallStatus::InProgress, &progress, t, &started)
            .await?,
        "a call already in progress does not move again"
    );

    // The event exists, the call's condition holds: a conflict, and the call stays.
    let other = dialing().await?;
    let res = store
        .advance_call_with_event(other.id, CallStatus::InProgress, &progress, t, &started)
        .await;
    ensure!(
        is_conflict(&res),
        "an existing event must be a Conflict, got {res:?}"
    );
    ensure_eq!(
        store.call(other.id).await?.map(|c| c.status),
        Some(CallStatus::Dialing),
        "the call of a refused event"
    );

    let failed = events::call_failed(Some(&account), &other, FailureReason::DialOutcomeUnknown, t)
        .map_err(|e| ContractError::Violated(e.to_string()))?
        .ok_or_else(|| ContractError::Violated("subscribed account gets call.failed".into()))?;
    let reason = "dial_outcome_unknown: test";
    ensure!(
        store
            .settle_call_with_event(
                other.id,
                CallStatus::Dialing,
                CallStatus::Failed,
                Some(reason),
                t,
                None,
                &failed
            )
            .await?,
        "the call settles with its event"
    );
    let settled = store
        .call(other.id)
        .await?
        .ok_or_else(|| ContractError::Violated("settled call missing".into()))?;
    ensure_eq!(
        (
            settled.status,
            settled.failure_reason.as_deref(),
            settled.due_at
        ),
        (CallStatus::Failed, Some(reason), None),
        "the settled call"
    );
    ensure_eq!(
        store
            .event(failed.record.id)
            .await?
            .map(|e| e.record.event_type),
        Some(EventType::CallFailed),
        "call.failed stored"
    );
    ensure!(
        !store
            .settle_call_with_event(
                other.id,
                CallStatus::Dialing,
                CallStatus::Failed,
                Some(reason),
                t,
                None,
                &failed
            )
            .await?,
        "a call no longer `from` does not settle"
    );

    // A call the reconciler fails for an account not subscribed to call.failed: its one
    // call.completed, recorded on the call, so a later completion stores no second event.
    let unsubscribed = Account {
        events: vec![EventType::CallCompleted],
        ..account.clone()
    };
    let silent = dialing().await?;
    let completed = events::failure_ending(
        Some(&unsubscribed),
        &silent,
        FailureReason::DialOutcomeUnknown,
        "Ava",
        t,
    )
    .map_err(|e| ContractError::Violated(e.to_string()))?
    .ok_or_else(|| ContractError::Violated("the default subscription gets an event".into()))?;
    ensure_eq!(
        completed.record.event_type,
        EventType::CallCompleted,
        "the event of an unsubscribed account"
    );
    ensure!(
        store
            .settle_call_with_event(
                silent.id,
                CallStatus::Dialing,
                CallStatus::Failed,
                Some(reason),
                t,
                None,
                &completed
            )
            .await?,
        "the call settles with its call.completed"
    );
    let settled = store
        .call(silent.id)
        .await?
        .ok_or_else(|| ContractError::Violated("settled call missing".into()))?;
    ensure_eq!(
        (settled.status, settled.event_id),
        (CallStatus::Failed, Some(completed.record.id)),
        "failed, with its call.completed recorded as its event"
    );
    ensure!(
        !store
            .complete_call(
                silent.id,
                &CallProgress::default(),
                &CallCompletion {
                    summary: "",
                    sentiment: "unknown",
                    event: &completed.record,
                    event_expires_at: t + EVENT_TTL,
                    event_due_at: t,
                },
                t,
            )
            .await?,
        "a call with its event is never completed again"
    );
    Ok(())
}

fn attempt(account: &str, at: DateTime<Utc>, n: u32, outcome: DeliveryOutcome) -> DeliveryAttempt {
    DeliveryAttempt {
        trigger: Default::default(),
        account_id: account.to_string(),
        event_id: Uuid::new_v4(),
        call_id: Uuid::new_v4(),
        attempt: n,
        attempted_at: at,
        url: Some("https://example.com/hook".into()),
        outcome,
        http_status: Some(500),
        duration_ms: 12,
        error_class: None,
        response_excerpt: None,
        next_attempt_at: None,
    }
}

/// Reads every page of the log with `limit`, following the cursors as a client would
/// (through their string form), and checks each page's size.
async fn read_all(
    store: &dyn Store,
    account: &str,
    outcome: Option<DeliveryOutcome>,
    limit: usize,
    now: DateTime<Utc>,
    mut between_pages: impl FnMut(usize) -> Option<DeliveryAttempt>,
) -> Result<Vec<DeliveryAttempt>, ContractError> {
    let mut all = Vec::new();
    let mut after = None;
    for page_no in 0.. {
        let page = store
            .deliveries(
                account,
                &DeliveryQuery {
                    outcome,
                    limit,
                    after,
                },
                now,
            )
            .await?;
        ensure!(
            page.attempts.len() <= limit,
            "page {page_no} is larger than the limit"
        );
        all.extend(page.attempts);
        let Some(cursor) = page.next_cursor else {
            break;
        };
        ensure!(
            all.len() % limit == 0,
            "a page before the last one is short"
        );
        let decoded = DeliveryCursor::decode(&cursor)
            .map_err(|e| ContractError::Violated(format!("cursor does not decode: {e}")))?;
        ensure_eq!(decoded.outcome(), outcome, "cursor's filter");
        if let Some(a) = between_pages(page_no) {
            store.record_attempt(&a).await?;
        }
        after = Some(decoded);
        ensure!(page_no < 1000, "the log never ends");
    }
    Ok(all)
}

/// The delivery log: newest first, pages that neither skip nor repeat a row (also when rows
/// share a millisecond, and when newer rows arrive between pages), the outcome filter, expired
/// rows left out, the same attempt written twice kept once.
pub async fn deliveries(store: &dyn Store, now: DateTime<Utc>) -> Result<(), ContractError> {
    let t = now.trunc_subsecs(3);
    let account = unique("acct");
    let outcomes = [
        DeliveryOutcome::Failed,
        DeliveryOutcome::Delivered,
        DeliveryOutcome::Failed,
        DeliveryOutcome::Dropped,
        DeliveryOutcome::Failed,
        DeliveryOutcome::Delivered,
        DeliveryOutcome::Skipped,
    ];
    let mut written = Vec::new();
    for (i, outcome) in outcomes.into_iter().enumerate() {
        // Pairs of rows share a millisecond; their order comes from the event id.
        let at = t - chrono::Duration::seconds(60) + chrono::Duration::milliseconds(i as i64 / 2);
        let a = attempt(&account, at, 1 + (i as u32 % 3), outcome);
        store.record_attempt(&a).await?;
        written.push(a);
    }
    // Expired (older than the retention) and another account's row: never listed.
    store
        .record_attempt(&attempt(
            &account,
            t - chrono::Duration::days(31),
            1,
            DeliveryOutcome::Failed,
        ))
        .await?;
    store
        .record_attempt(&attempt(&unique("acct"), t, 1, DeliveryOutcome::Failed))
        .await?;
    // The same attempt again with its final outcome: one row, the last write.
    let mut rewritten = written[0].clone();
    rewritten.outcome = DeliveryOutcome::Dropped;
    store.record_attempt(&rewritten).await?;
    written[0] = rewritten;

    let key = |a: &DeliveryAttempt| {
        domain::ports::store::deliveries::delivery_sort_key(a.attempted_at, &a.event_id, a.attempt)
    };
    written.sort_by_key(|a| std::cmp::Reverse(key(a)));

    for limit in [1, 2, 3, 7, 100] {
        let all = read_all(store, &account, None, limit, now, |_| None).await?;
        ensure_eq!(all, written, format!("the whole log in pages of {limit}"));
    }
    for outcome in DeliveryOutcome::ALL {
        let expected: Vec<_> = written
            .iter()
            .filter(|a| a.outcome == outcome)
            .cloned()
            .collect();
        let all = read_all(store, &account, Some(outcome), 1, now, |_| None).await?;
        ensure_eq!(all, expected, format!("the {outcome:?} log"));
    }
    // Rows newer than the first page, written while paging, do not shift the later pages.
    let newer = attempt(&account, t, 1, DeliveryOutcome::Delivered);
    let mut newer_once = Some(newer.clone());
    let all = read_all(store, &account, None, 2, now, |_| newer_once.take()).await?;
    ensure_eq!(all, written, "pages while newer rows arrive");
    let first = store
        .deliveries(
            &account,
            &DeliveryQuery {
                outcome: None,
                limit: 1,
                after: None,
            },
            now,
        )
        .await?;
    ensure_eq!(first.attempts, vec![newer], "the newest row first");

    // A cursor past the retention horizon ends the log.
    let expired_cursor = DeliveryCursor::new(
        None,
        domain::ports::store::deliveries::delivery_sort_key(
            t - chrono::Duration::days(31),
            &Uuid::new_v4(),
            1,
        ),
    );
    let page = store
        .deliveries(
            &account,
            &DeliveryQuery {
                outcome: None,
                limit: 10,
                after: Some(expired_cursor),
            },
            now,
        )
        .await?;
    ensure!(
        page.attempts.is_empty() && page.next_cursor.is_none(),
        "a cursor beyond the retention must end the log"
    );
    Ok(())
}

/// The delivery log by outcome and time range (what bulk recovery reads): oldest first, both
/// bounds inclusive to the millisecond, only the asked outcome and account, nothing older than
/// the retention even when asked for, an empty or inverted range empty.
pub async fn deliveries_between(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Result<(), ContractError> {
    let t = now.trunc_subsecs(3);
    let account = unique("acct");
    let at = |mins: i64| t - chrono::Duration::minutes(mins);
    let rows = [
        attempt(&account, at(50), 4, DeliveryOutcome::Dropped),
        attempt(&account, at(40), 4, DeliveryOutcome::Dropped),
        attempt(&account, at(40), 1, DeliveryOutcome::Skipped),
        attempt(&account, at(30), 2, DeliveryOutcome::Failed),
        attempt(&account, at(20), 4, DeliveryOutcome::Dropped),
        attempt(&account, at(10), 4, DeliveryOutcome::Dropped),
    ];
    for a in &rows {
        store.record_attempt(a).await?;
    }
    store
        .record_attempt(&attempt(
            &account,
            t - chrono::Duration::days(31),
            4,
            DeliveryOutcome::Dropped,
        ))
        .await?;
    store
        .record_attempt(&attempt(
            &unique("acct"),
            at(20),
            4,
            DeliveryOutcome::Dropped,
        ))
        .await?;
    let got = store
        .deliveries_between(&account, DeliveryOutcome::Dropped, at(40), at(20), now)
        .await?;
    ensure_eq!(
        got,
        vec![rows[1].clone(), rows[4].clone()],
        "dropped rows from 40 to 20 minutes ago, bounds included, oldest first"
    );
    let got = store
        .deliveries_between(
            &account,
            DeliveryOutcome::Skipped,
            at(40),
            at(40) + chrono::Duration::microseconds(500),
            now,
        )
        .await?;
    ensure_eq!(got, vec![rows[2].clone()], "a range of one millisecond");
    let got = store
        .deliveries_between(
            &account,
            DeliveryOutcome::Dropped,
            t - chrono::Duration::days(60),
            t,
            now,
        )
        .await?;
    ensure_eq!(got.len(), 4, "expired rows are never served");
    ensure!(
        store
            .deliveries_between(&account, DeliveryOutcome::Dropped, at(10), at(20), now)
            .await?
            .is_empty(),
        "an inverted range is empty"
    );
    Ok(())
}

/// The attempt ledger: one winner per attempt, a live claim reported in flight, the claim
/// taken over once its lease is over, a finished attempt never claimed again and reported
/// with the row it was finished with, and a delivered attempt closing its series only.
pub async fn attempts(store: &dyn Store, now: DateTime<Utc>) -> Result<(), ContractError> {
    let event = Uuid::new_v4();
    let lease = Duration::from_secs(60);
    let claim = |series: &'static str, n: u32, at: DateTime<Utc>| {
        store.claim_attempt(event, series, n, at, lease)
    };
    let row = |n: u32, outcome: DeliveryOutcome| DeliveryAttempt {
        trigger: Default::default(),
        account_id: "contract-acct".into(),
        event_id: event,
        call_id: Uuid::nil(),
        attempt: n,
        attempted_at: now,
        url: Some("https://hooks.example.com/in".into()),
        outcome,
        http_status: (outcome == DeliveryOutcome::Delivered).then_some(200),
        duration_ms: 12,
        error_class: None,
        response_excerpt: Some("ok".into()),
        next_attempt_at: None,
    };
    ensure_eq!(claim("original", 1, now).await?, Claim::Won, "first claim");
    ensure_eq!(
        claim("original", 1, now).await?,
        Claim::InFlight,
        "second claim"
    );
    ensure_eq!(
        claim("original", 2, now).await?,
        Claim::Won,
        "another attempt"
    );
    ensure_eq!(
        claim("redelivery-x", 1, now).await?,
        Claim::Won,
        "another series"
    );
    let at_lease_end = now + chrono::Duration::seconds(60);
    ensure_eq!(
        claim("original", 1, at_lease_end).await?,
        Claim::InFlight,
        "claim at the lease's last millisecond"
    );
    let after_lease = at_lease_end + chrono::Duration::milliseconds(1);
    ensure_eq!(
        claim("original", 1, after_lease).await?,
        Claim::Won,
        "take-over after the lease"
    );
    ensure_eq!(
        claim("original", 1, after_lease).await?,
        Claim::InFlight,
        "the take-over renewed the lease"
    );
    ensure_eq!(
        store.delivered_attempt(event, "original").await?,
        None,
        "nothing delivered yet"
    );
    ensure_eq!(
        store.finished_attempt(event, "original", 1).await?,
        None,
        "an attempt in flight has no finished row"
    );
    ensure_eq!(
        store.finished_attempt(event, "original", 9).await?,
        None,
        "an attempt never claimed has none"
    );
    let failed = row(1, DeliveryOutcome::Failed);
    store.finish_attempt("original", &failed).await?;
    ensure_eq!(
        store.finished_attempt(event, "original", 1).await?,
        Some(failed.clone()),
        "a finished attempt's row, read without claiming"
    );
    ensure_eq!(
        store.finished_attempt(event, "redelivery-x", 1).await?,
        None,
        "only its own series"
    );
    ensure_eq!(
        claim("original", 1, now + ATTEMPT_TTL).await?,
        Claim::Done(Box::new(failed.clone())),
        "a finished attempt, however late, with its row"
    );
    ensure_eq!(
        store.delivered_attempt(event, "original").await?,
        None,
        "a failed attempt does not close the series"
    );
    // Finished without a claim (the write is unconditional): still never claimed.
    let delivered = row(3, DeliveryOutcome::Delivered);
    store.finish_attempt("original", &delivered).await?;
    ensure_eq!(
        claim("original", 3, now).await?,
        Claim::Done(Box::new(delivered)),
        "finished unclaimed"
    );
    ensure_eq!(
        store.delivered_attempt(event, "original").await?,
        Some(3),
        "the delivered attempt closes the series"
    );
    ensure_eq!(
        store.delivered_attempt(event, "redelivery-x").await?,
        None,
        "only its own series"
    );
    ensure_eq!(
        store.delivered_attempt(Uuid::new_v4(), "original").await?,
        None,
        "only its own event"
    );
    // Every claim of the event, of every series: in flight with its lease, or done with its row.
    ensure_eq!(
        claim("redelivery-x", 0, now).await?,
        Claim::Won,
        "a series' marker"
    );
    let mut claims = store.series_claims(event).await?;
    claims.sort_by(|a, b| (&a.series, a.attempt).cmp(&(&b.series, b.attempt)));
    // Leases are kept to the millisecond.
    let lease_end = |at: DateTime<Utc>| LedgerState::InFlight {
        lease_until: (at + chrono::Duration::seconds(60)).trunc_subsecs(3),
    };
    let expected = vec![
        LedgerClaim {
            series: "original".into(),
            attempt: 1,
            state: LedgerState::Done(Box::new(failed)),
        },
        LedgerClaim {
            series: "original".into(),
            attempt: 2,
            state: lease_end(now),
        },
        LedgerClaim {
            series: "original".into(),
            attempt: 3,
            state: LedgerState::Done(Box::new(row(3, DeliveryOutcome::Delivered))),
        },
        LedgerClaim {
            series: "redelivery-x".into(),
            attempt: 0,
            state: lease_end(now),
        },
        LedgerClaim {
            series: "redelivery-x".into(),
            attempt: 1,
            state: lease_end(now),
        },
    ];
    ensure_eq!(claims, expected, "the event's claims");
    ensure!(
        store.series_claims(Uuid::new_v4()).await?.is_empty(),
        "only its own event's claims"
    );
    Ok(())
}

/// Secrets: current and explicit versions, idempotent rewrites of a version that do not move
/// the current one, `make_current`, `NotFound` for unknown secrets and versions, refused ids.
pub async fn secrets(secrets: &dyn SecretStore) -> Result<(), ContractError> {
    let name = unique("contract/secret");
    ensure!(
        not_found(&secrets.get(&name).await),
        "get of an unknown secret"
    );

    secrets.put(&name, "v1").await?;
    ensure_eq!(secrets.get(&name).await?, "v1", "current after put");
    let v2 = Uuid::new_v4().to_string();
    let v3 = format!("{}{}", Uuid::new_v4().simple(), "0000");
    secrets.put_version(&name, "v2", &v2).await?;
    ensure_eq!(secrets.get(&name).await?, "v2", "current after put_version");
    ensure_eq!(secrets.get_version(&name, &v2).await?, "v2", "version v2");

    // The same version again with the same value is ignored; with another value refused.
    secrets.put_version(&name, "v2", &v2).await?;
    ensure!(
        backend(&secrets.put_version(&name, "other", &v2).await),
        "reusing a version id with another value must be refused"
    );
    secrets.put_version(&name, "v3", &v3).await?;
    // An out-of-order rewrite of v2 does not make it current again...
    secrets.put_version(&name, "v2", &v2).await?;
    ensure_eq!(
        secrets.get(&name).await?,
        "v3",
        "current after a rewrite of an old version"
    );
    // ...make_current does.
    secrets.make_current(&name, &v2).await?;
    ensure_eq!(
        secrets.get(&name).await?,
        "v2",
        "current after make_current"
    );
    ensure_eq!(
        secrets.get_version(&name, &v3).await?,
        "v3",
        "old versions stay readable"
    );
    // v2's value is current under a new id now, so v2 is written once more: still v2.
    secrets.make_current(&name, &v2).await?;
    ensure_eq!(secrets.get(&name).await?, "v2", "make_current twice");

    let unknown = Uuid::new_v4().to_string();
    ensure!(
        not_found(&secrets.get_version(&name, &unknown).await),
        "get_version of an unknown version"
    );
    ensure!(
        not_found(&secrets.make_current(&name, &unknown).await),
        "make_current of an unknown version"
    );
    ensure!(
        not_found(&secrets.make_current(&unique("contract/none"), &v2).await),
        "make_current of an unknown secret"
    );
    ensure!(
        backend(&secrets.put_version(&name, "short", "too-short").await),
        "a version id shorter than 32 characters must be refused"
    );

    // put_version on a secret that does not exist creates it with that version.
    let created = unique("contract/secret");
    secrets.put_version(&created, "first", &v3).await?;
    ensure_eq!(
        secrets.get_version(&created, &v3).await?,
        "first",
        "created version"
    );
    Ok(())
}

/// The queue accepts every delay, those beyond SQS's limit included (they are capped, and the
/// consumer honours `not_before`), and sends many messages at once with a result for each.
pub async fn queue(queue: &dyn EventQueue) -> Result<(), ContractError> {
    let msg = DeliveryMessage::first(Uuid::new_v4(), unique("acct"), Uuid::new_v4());
    for delay in [
        Duration::ZERO,
        Duration::from_millis(1500),
        Duration::from_secs(1800),
    ] {
        queue.send(&msg, delay).await?;
    }
    // More than one SQS batch, each message on its own result.
    let many: Vec<DeliveryMessage> = (0..12)
        .map(|_| DeliveryMessage::first(Uuid::new_v4(), unique("acct"), Uuid::new_v4()))
        .collect();
    let results = queue.send_many(&many, Duration::from_secs(2)).await;
    ensure_eq!(results.len(), many.len(), "one result per message");
    for r in results {
        r?;
    }
    Ok(())
}

/// Whether `work` is among the items of `kind` due at `at` (read with a generous limit; the
/// deadlines below are set in 2001 so they sort before any other test's work in a shared
/// table).
async fn is_due(
    store: &dyn Store,
    kind: DueKind,
    at: DateTime<Utc>,
    work: &DueWork,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(store
        .due(kind, at, 1000)
        .await?
        .into_iter()
        .find(|d: &Due| &d.work == work)
        .map(|d| d.due_at))
}

/// The due index and the lifecycle writes that keep it: every deadline set is found once it
/// passes (and not before), every write that finishes the work takes it out, the repairs are
/// conditional (a second run changes nothing), and an event's repair is claimed once.
pub async fn due(store: &dyn Store, now: DateTime<Utc>) -> Result<(), ContractError> {
    let t0 = DateTime::parse_from_rfc3339("2001-01-01T00:00:00.000Z")
        .map_err(|e| ContractError::Violated(e.to_string()))?
        .with_timezone(&Utc);
    let s = chrono::Duration::seconds;
    let account = unique("acct_due");

    // A queued call and its running request's key, each due when the lease ends.
    let c = Call {
        due_at: Some(t0),
        ..call(&account, now)
    };
    let mut rec = idempotency_record(&c, "due-key", now + chrono::Duration::hours(24));
    rec.lease_until = Some(t0 + s(1));
    let created = store.create_call(&c, Some(&rec), now).await?;
    ensure_eq!(created, CreateCallOutcome::Created, "create");
    let call_work = DueWork::Call(c.id);
    let key_work = DueWork::Idempotency {
        account_id: account.clone(),
        key: "due-key".into(),
    };
    ensure!(
        is_due(
            store,
            DueKind::Call,
            t0 - chrono::Duration::milliseconds(1),
            &call_work
        )
        .await?
        .is_none(),
        "a call is not due before its deadline"
    );
    ensure_eq!(
        is_due(store, DueKind::Call, t0, &call_work).await?,
        Some(t0),
        "a queued call is due at its lease"
    );
    ensure!(
        is_due(store, DueKind::Idempotency, t0, &key_work)
            .await?
            .is_none(),
        "the key is not due before its lease"
    );
    ensure_eq!(
        is_due(store, DueKind::Idempotency, t0 + s(1), &key_work).await?,
        Some(t0 + s(1)),
        "a key without an answer is due at its lease"
    );
    let read = store.idempotency(&account, "due-key", now).await?;
    ensure_eq!(
        read.and_then(|r| r.lease_until),
        Some(t0 + s(1)),
        "the lease reads back"
    );

    // The answer is lost: dial_unknown with its deadline, the key answered (no longer due).
    let answer = StoredResponse {
        status: 502,
        body: r#"{"success":false}"#.into(),
    };
    ensure!(
        store
            .mark_call_dial_unknown(c.id, now, t0 + s(2), Some((&rec, &answer)))
            .await?,
        "a queued call moves to dial_unknown"
    );
    let read = store.call(c.id).await?;
    ensure_eq!(
        read.as_ref().map(|c| (c.status, c.due_at)),
        Some((CallStatus::DialUnknown, Some(t0 + s(2)))),
        "dial_unknown with its deadline"
    );
    ensure_eq!(
        is_due(store, DueKind::Call, t0 + s(2), &call_work).await?,
        Some(t0 + s(2)),
        "the deadline moved"
    );
    ensure!(
        is_due(store, DueKind::Idempotency, t0 + s(5), &key_work)
            .await?
            .is_none(),
        "an answered key is not due"
    );
    let read = store.idempotency(&account, "due-key", now).await?;
    ensure_eq!(
        read.and_then(|r| r.response),
        Some(answer.clone()),
        "the answer is remembered"
    );
    ensure!(
        !store
            .mark_call_dial_unknown(c.id, now, t0 + s(2), Some((&rec, &answer)))
            .await?,
        "only a queued call moves to dial_unknown"
    );
    ensure!(
        !store.answer_dead_request(&rec, &answer).await?,
        "an answered key is never answered again"
    );

    // Resolved: failed, reason kept, out of the index; a second settle changes nothing.
    ensure!(
        store
            .settle_call(
                c.id,
                CallStatus::DialUnknown,
                CallStatus::Failed,
                Some("dial_outcome_unknown"),
                now,
                None,
            )
            .await?,
        "dial_unknown settles to failed"
    );
    ensure!(
        !store
            .settle_call(
                c.id,
                CallStatus::DialUnknown,
                CallStatus::Failed,
                Some("again"),
                now,
                None,
            )
            .await?,
        "settle is conditional on the status"
    );
    let read = store.call(c.id).await?;
    ensure_eq!(
        read.as_ref()
            .map(|c| (c.status, c.failure_reason.clone(), c.due_at)),
        Some((
            CallStatus::Failed,
            Some("dial_outcome_unknown".to_string()),
            None
        )),
        "failed, with the first reason, no deadline"
    );
    ensure!(
        is_due(store, DueKind::Call, t0 + s(10), &call_work)
            .await?
            .is_none(),
        "a settled call is out of the index"
    );
    // Failed only for want of news: a late callback still moves it on, and clears the reason.
    let started = CallProgress {
        started_at: Some(now),
        ..CallProgress::default()
    };
    ensure!(
        store
            .advance_call(c.id, CallStatus::InProgress, &started, now)
            .await?,
        "a dial_outcome_unknown failure still moves forward"
    );
    let read = store.call(c.id).await?;
    ensure_eq!(
        read.as_ref().map(|c| (c.status, c.failure_reason.clone())),
        Some((CallStatus::InProgress, None)),
        "revived, without its failure reason"
    );

    // A dead request's key: answered only for its own call and only without an answer; the
    // answer takes it out of the index and is what a retry reads.
    let c2 = Call {
        due_at: Some(t0),
        ..call(&account, now)
    };
    let mut rec2 = idempotency_record(&c2, "due-key-2", now + chrono::Duration::hours(24));
    rec2.lease_until = Some(t0);
    store.create_call(&c2, Some(&rec2), now).await?;
    let key_work = DueWork::Idempotency {
        account_id: account.clone(),
        key: "due-key-2".into(),
    };
    ensure_eq!(
        is_due(store, DueKind::Idempotency, t0 + s(1), &key_work).await?,
        Some(t0),
        "a held key is due at its lease"
    );
    let other = IdempotencyRecord {
        call_id: Uuid::new_v4(),
        ..rec2.clone()
    };
    let unknown = StoredResponse {
        status: 502,
        body: "{\"success\":false}".into(),
    };
    ensure!(
        !store.answer_dead_request(&other, &unknown).await?,
        "a key held by another call is not answered"
    );
    ensure!(
        store.answer_dead_request(&rec2, &unknown).await?,
        "answered"
    );
    ensure_eq!(
        store
            .idempotency(&account, "due-key-2", now)
            .await?
            .and_then(|r| r.response),
        Some(unknown.clone()),
        "the answer is what the key replays"
    );
    ensure!(
        is_due(store, DueKind::Idempotency, t0 + s(10), &key_work)
            .await?
            .is_none(),
        "an answered key is out of the index"
    );
    ensure!(
        !store.answer_dead_request(&rec2, &answer).await?,
        "answered once: a second answer changes nothing"
    );
    ensure!(
        store
            .settle_call(
                c2.id,
                CallStatus::Queued,
                CallStatus::DialUnknown,
                None,
                now,
                Some(t0 + s(3))
            )
            .await?,
        "queued settles to dial_unknown"
    );

    // An ended call waits for its analysis; completing it takes it out and puts its event in.
    let c3 = call(&account, now);
    store.create_call(&c3, None, now).await?;
    let ended = CallProgress {
        ended_at: Some(now),
        due_at: Some(t0 + s(4)),
        ..CallProgress::default()
    };
    ensure!(
        store
            .advance_call(c3.id, CallStatus::Ended, &ended, now)
            .await?,
        "ended"
    );
    ensure_eq!(
        is_due(store, DueKind::Call, t0 + s(4), &DueWork::Call(c3.id)).await?,
        Some(t0 + s(4)),
        "an ended call is due at its grace"
    );
    ensure!(
        !store
            .claim_call_repair(c3.id, t0 + s(3), t0 + s(30))
            .await?,
        "a call claim names the deadline it saw"
    );
    ensure!(
        store
            .claim_call_repair(c3.id, t0 + s(4), t0 + s(30))
            .await?,
        "call claimed"
    );
    ensure!(
        !store
            .claim_call_repair(c3.id, t0 + s(4), t0 + s(30))
            .await?,
        "call claimed once"
    );
    ensure_eq!(
        store.call(c3.id).await?.and_then(|c| c.due_at),
        Some(t0 + s(30)),
        "the call claim's end reads back"
    );
    let event = event_record(&c3, r#"{"event":"call.completed"}"#.into(), now);
    let completion = CallCompletion {
        summary: "",
        sentiment: "unknown",
        event: &event,
        event_expires_at: now + EVENT_TTL,
        event_due_at: t0 + s(5),
    };
    ensure!(
        store
            .complete_call(c3.id, &CallProgress::default(), &completion, now)
            .await?,
        "completed"
    );
    ensure!(
        is_due(store, DueKind::Call, t0 + s(10), &DueWork::Call(c3.id))
            .await?
            .is_none(),
        "a completed call is out of the index"
    );
    let ev = DueWork::Event(event.id);
    ensure_eq!(
        is_due(store, DueKind::Event, t0 + s(5), &ev).await?,
        Some(t0 + s(5)),
        "a new event is due for enqueuing"
    );
    ensure!(
        !store
            .claim_event_repair(event.id, t0 + s(4), t0 + s(60))
            .await?,
        "a claim names the deadline it saw"
    );
    ensure!(
        store
            .claim_event_repair(event.id, t0 + s(5), t0 + s(60))
            .await?,
        "claimed"
    );
    ensure!(
        !store
            .claim_event_repair(event.id, t0 + s(5), t0 + s(60))
            .await?,
        "claimed once"
    );
    ensure!(
        is_due(store, DueKind::Event, t0 + s(59), &ev)
            .await?
            .is_none(),
        "a claimed event is not due until the claim ends"
    );
    let stored = store.event(event.id).await?;
    ensure_eq!(
        stored.and_then(|e| e.due_at),
        Some(t0 + s(60)),
        "the claim's end reads back"
    );
    store.mark_event_enqueued(event.id).await?;
    ensure!(
        is_due(store, DueKind::Event, t0 + s(120), &ev)
            .await?
            .is_none(),
        "an enqueued event is out of the index"
    );
    ensure!(
        !store
            .claim_event_repair(event.id, t0 + s(60), t0 + s(120))
            .await?,
        "an enqueued event cannot be claimed"
    );

    // A poison item is quarantined: conditional on the deadline seen, out of its kind's
    // partition once moved, and back when a write gives it a new deadline.
    let c4 = Call {
        due_at: Some(t0 + s(6)),
        ..call(&account, now)
    };
    store.create_call(&c4, None, now).await?;
    let poison = Due {
        work: DueWork::Call(c4.id),
        due_at: t0 + s(6),
    };
    ensure!(
        !store
            .quarantine_due(&Due {
                due_at: t0 + s(7),
                ..poison.clone()
            })
            .await?,
        "a quarantine names the deadline it saw"
    );
    ensure!(
        !store
            .quarantine_due(&Due {
                work: DueWork::Scheduled(c4.id),
                ..poison.clone()
            })
            .await?,
        "a quarantine names the kind it was filed under"
    );
    ensure!(store.quarantine_due(&poison).await?, "quarantined");
    ensure!(
        is_due(store, DueKind::Call, t0 + s(10), &poison.work)
            .await?
            .is_none(),
        "a quarantined item is out of its kind's index"
    );
    ensure!(!store.quarantine_due(&poison).await?, "quarantined once");
    ensure_eq!(
        store.call(c4.id).await?.map(|c| (c.status, c.due_at)),
        Some((CallStatus::Queued, Some(t0 + s(6)))),
        "nothing else on the item changes"
    );
    ensure!(
        store
            .settle_call(
                c4.id,
                CallStatus::Queued,
                CallStatus::DialUnknown,
                None,
                now,
                Some(t0 + s(8))
            )
            .await?,
        "a quarantined call still moves"
    );
    ensure_eq!(
        is_due(store, DueKind::Call, t0 + s(10), &poison.work).await?,
        Some(t0 + s(8)),
        "a new deadline files it under its kind again"
    );
    Ok(())
}

/// Scheduled calls: a `scheduled` call is filed under the `scheduled` due kind at its time
/// (and its key, written with its 202 answer, is not due); the claim (`scheduled` ->
/// `queued`) wins once and moves it to the `call` kind; a cancel and a claim exclude each
/// other; callbacks never move a scheduled or canceled call; a claimed call can be
/// re-scheduled.
pub async fn scheduled(store: &dyn Store, now: DateTime<Utc>) -> Result<(), ContractError> {
    let t0 = DateTime::parse_from_rfc3339("2001-01-01T00:00:00.000Z")
        .map_err(|e| ContractError::Violated(e.to_string()))?
        .with_timezone(&Utc);
    let s = chrono::Duration::seconds;
    let account = unique("acct_sched");
    let c = Call {
        status: CallStatus::Scheduled,
        due_at: Some(t0),
        ..call(&account, now)
    };
    let mut rec = idempotency_record(&c, "sched-key", now + chrono::Duration::hours(24));
    rec.response = Some(StoredResponse {
        status: 202,
        body: "{\"status\":\"scheduled\"}".into(),
    });
    ensure_eq!(
        store.create_call(&c, Some(&rec), now).await?,
        CreateCallOutcome::Created,
        "create a scheduled call"
    );
    let work = DueWork::Scheduled(c.id);
    ensure_eq!(
        is_due(store, DueKind::Scheduled, t0, &work).await?,
        Some(t0),
        "a scheduled call is due under `scheduled` at its time"
    );
    ensure!(
        is_due(store, DueKind::Call, t0, &DueWork::Call(c.id))
            .await?
            .is_none(),
        "a scheduled call is not `call` work"
    );
    ensure!(
        is_due(
            store,
            DueKind::Idempotency,
            t0 + s(1),
            &DueWork::Idempotency {
                account_id: account.clone(),
                key: "sched-key".into()
            }
        )
        .await?
        .is_none(),
        "an answered key is not due"
    );
    ensure_eq!(
        store
            .idempotency(&account, "sched-key", now)
            .await?
            .and_then(|r| r.response)
            .map(|r| r.status),
        Some(202),
        "the key holds the 202"
    );
    ensure!(
        !store
            .advance_call(c.id, CallStatus::InProgress, &CallProgress::default(), now)
            .await?,
        "a callback does not move a scheduled call"
    );
    // The claim wins once.
    let lease = t0 + s(120);
    ensure!(
        store
            .settle_call(
                c.id,
                CallStatus::Scheduled,
                CallStatus::Queued,
                None,
                now,
                Some(lease)
            )
            .await?,
        "the first claim wins"
    );
    ensure!(
        !store
            .settle_call(
                c.id,
                CallStatus::Scheduled,
                CallStatus::Queued,
                None,
                now,
                Some(lease)
            )
            .await?,
        "a second claim loses"
    );
    ensure!(
        !store
            .settle_call(
                c.id,
                CallStatus::Scheduled,
                CallStatus::Canceled,
                None,
                now,
                None
            )
            .await?,
        "a cancel after the claim loses"
    );
    ensure!(
        is_due(store, DueKind::Scheduled, lease, &work)
            .await?
            .is_none(),
        "a claimed call leaves the `scheduled` kind"
    );
    ensure_eq!(
        is_due(store, DueKind::Call, lease, &DueWork::Call(c.id)).await?,
        Some(lease),
        "a claimed call is `call` work at its lease"
    );
    // Re-scheduled (its window closed again).
    let later = t0 + s(3600);
    ensure!(
        store
            .settle_call(
                c.id,
                CallStatus::Queued,
                CallStatus::Scheduled,
                None,
                now,
                Some(later)
            )
            .await?,
        "re-schedule"
    );
    ensure_eq!(
        is_due(store, DueKind::Scheduled, later, &work).await?,
        Some(later),
        "a re-scheduled call is `scheduled` work again"
    );
    // A cancel wins over a later claim.
    ensure!(
        store
            .settle_call(
                c.id,
                CallStatus::Scheduled,
                CallStatus::Canceled,
                Some("number_suppressed"),
                now,
                None
            )
            .await?,
        "the cancel wins"
    );
    ensure!(
        !store
            .settle_call(
                c.id,
                CallStatus::Scheduled,
                CallStatus::Queued,
                None,
                now,
                Some(lease)
            )
            .await?,
        "a claim after the cancel loses"
    );
    let stored = store
        .call(c.id)
        .await?
        .ok_or_else(|| ContractError::Violated("canceled call vanished".into()))?;
    ensure_eq!(stored.status, CallStatus::Canceled, "canceled");
    ensure_eq!(
        stored.failure_reason.as_deref(),
        Some("number_suppressed"),
        "the cancel's reason"
    );
    ensure_eq!(stored.due_at, None, "a canceled call has no deadline");
    ensure!(
        !store
            .advance_call(c.id, CallStatus::Ended, &CallProgress::default(), now)
            .await?,
        "a callback does not move a canceled call"
    );
    Ok(())
}

/// The do-not-call list: per account, idempotent adds (the first time kept), removal says
/// whether the number was there, pages in number order with an exact cursor.
pub async fn suppressions(store: &dyn Store, now: DateTime<Utc>) -> Result<(), ContractError> {
    use domain::ports::store::suppressions::decode_cursor;
    let now = now.trunc_subsecs(3);
    let account = unique("acct_dnc");
    let other = unique("acct_dnc");
    let numbers = ["+14155550101", "+14155550102", "+442071838750"];
    for (i, n) in numbers.iter().enumerate() {
        ensure!(
            store
                .suppress(&account, n, now + chrono::Duration::seconds(i as i64))
                .await?,
            "a new number is added"
        );
    }
    ensure!(
        !store
            .suppress(&account, numbers[0], now + chrono::Duration::hours(1))
            .await?,
        "adding it again is not new"
    );
    ensure!(
        store.is_suppressed(&account, numbers[1]).await?,
        "a listed number is suppressed"
    );
    ensure!(
        !store.is_suppressed(&other, numbers[1]).await?,
        "another account's list is its own"
    );
    let first = store.suppressions(&account, None, 2).await?;
    ensure_eq!(
        first
            .items
            .iter()
            .map(|s| s.phone.as_str())
            .collect::<Vec<_>>(),
        vec![numbers[0], numbers[1]],
        "first page, in number order"
    );
    ensure_eq!(
        first.items[0].created_at,
        now,
        "the first add's time is kept"
    );
    let cursor = first
        .next_cursor
        .as_deref()
        .and_then(decode_cursor)
        .ok_or_else(|| ContractError::Violated("first page has a cursor".into()))?;
    let second = store.suppressions(&account, Some(&cursor), 2).await?;
    ensure_eq!(
        second
            .items
            .iter()
            .map(|s| s.phone.as_str())
            .collect::<Vec<_>>(),
        vec![numbers[2]],
        "second page"
    );
    ensure_eq!(second.next_cursor, None, "the last page has no cursor");
    ensure!(
        store.unsuppress(&account, numbers[1]).await?,
        "removing a listed number"
    );
    ensure!(
        !store.unsuppress(&account, numbers[1]).await?,
        "removing it again"
    );
    ensure!(
        !store.is_suppressed(&account, numbers[1]).await?,
        "a removed number is callable"
    );
    ensure!(
        store.suppressions(&other, None, 10).await?.items.is_empty(),
        "another account's list is empty"
    );
    Ok(())
}
