//! `CallStore::calls_of`: an account's calls, newest first through its index: filters by
//! status and creation time (after inclusive, before exclusive), exact cursor paging, other
//! accounts never seen, and the key hash a call was created with read back.

use super::{call, unique_account, ContractError, Kept};
use chrono::{DateTime, SubsecRound, Utc};
use domain::ids::{AccountId, CallId};
use domain::model::{Call, CallStatus, Direction};
use domain::ports::store::calls::{CallCursor, CallQuery};
use domain::ports::store::Store;
use uuid::Uuid;

/// A fresh account's eight calls: seven a second apart from `t0` (even ones scheduled, odd
/// ones queued, key hashes `hash-0` to `hash-2` in turn), and a twin of the last in the same
/// millisecond without a key hash; plus another account's call among them.
struct Listed {
    t0: DateTime<Utc>,
    account: AccountId,
    ids: Vec<CallId>,
    twin: Call,
}

async fn listed(store: &dyn Store, now: DateTime<Utc>) -> Result<Listed, ContractError> {
    let t0 = now.trunc_subsecs(3) - chrono::Duration::hours(1);
    let account = unique_account("acct_list");
    let other = unique_account("acct_other");
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
    Ok(Listed {
        t0,
        account,
        ids,
        twin,
    })
}

fn query(limit: usize, after: Option<CallCursor>) -> CallQuery {
    CallQuery {
        status: None,
        created_after: None,
        created_before: None,
        limit,
        after,
    }
}

/// Paging by 3: every call of the account once, newest first (ties by id), no page over its
/// limit; the newest call's key hash reads back.
pub async fn pages_hold_every_call_once_newest_first(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Kept {
    let Listed { account, twin, .. } = listed(store, now).await?;
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
    Ok(())
}

/// The status filter: only the scheduled calls, newest first, with their key hashes.
pub async fn the_status_filter(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let Listed { account, ids, .. } = listed(store, now).await?;
    let scheduled = store
        .calls_of(
            &account,
            &CallQuery {
                status: Some(CallStatus::Scheduled),
                ..query(100, None)
            },
        )
        .await?;
    let expected: Vec<CallId> = [6, 4, 2, 0].iter().map(|i| ids[*i]).collect();
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
    Ok(())
}

/// Creation-time range: after inclusive, before exclusive; an empty range is empty.
pub async fn the_creation_time_range(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let Listed {
        t0, account, ids, ..
    } = listed(store, now).await?;
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
    Ok(())
}

/// An account without calls lists none (other accounts' calls are never seen).
pub async fn an_account_without_calls_lists_none(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    listed(store, now).await?;
    ensure_eq!(
        store
            .calls_of(&unique_account("acct_none"), &query(10, None))
            .await?
            .calls
            .len(),
        0,
        "an account without calls"
    );
    Ok(())
}
