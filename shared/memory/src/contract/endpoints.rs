//! `EndpointHealthStore`: absent means healthy; timeouts count on for one URL and restart at
//! 1 for another; a batch read returns exactly the accounts that have a record (others'
//! never); clearing removes it, and clearing nothing is no error.

use super::{unique_account, violated, Kept};
use chrono::{DateTime, SubsecRound, Utc};
use domain::ports::store::Store;

const URL: &str = "https://hooks.example.com/a";

/// No record: healthy, and not in a batch read.
pub async fn no_record_is_healthy(store: &dyn Store, _now: DateTime<Utc>) -> Kept {
    let ids = [
        unique_account("acct_eh"),
        unique_account("acct_eh"),
        unique_account("acct_eh"),
    ];
    ensure!(
        store.endpoint_health(&ids).await?.is_empty(),
        "no record: healthy"
    );
    Ok(())
}

/// Timeouts count on per account for one URL, the last one's time kept; a new URL starts
/// again from 1; a batch read holds exactly the accounts with a record.
pub async fn timeouts_count_on_per_url(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let now = now.trunc_subsecs(3);
    let (a, b, none) = (
        unique_account("acct_eh"),
        unique_account("acct_eh"),
        unique_account("acct_eh"),
    );
    let ids = [a.clone(), b.clone(), none.clone()];
    for n in 1..=3u32 {
        let at = now + chrono::Duration::seconds(i64::from(n));
        ensure_eq!(
            store.record_endpoint_timeout(&a, URL, at).await?,
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
    let ha = read.get(&a).ok_or_else(|| violated("a's record"))?;
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
    Ok(())
}

/// Clearing removes that account's record only; clearing an account without one is no
/// error.
pub async fn clearing_removes_that_record_only(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let now = now.trunc_subsecs(3);
    let (a, b, none) = (
        unique_account("acct_eh"),
        unique_account("acct_eh"),
        unique_account("acct_eh"),
    );
    let ids = [a.clone(), b.clone(), none.clone()];
    store.record_endpoint_timeout(&a, URL, now).await?;
    store
        .record_endpoint_timeout(&b, "https://hooks.example.com/b", now)
        .await?;
    store.clear_endpoint_health(&a).await?;
    store.clear_endpoint_health(&none).await?;
    let read = store.endpoint_health(&ids).await?;
    ensure!(
        !read.contains_key(&a) && read.contains_key(&b),
        "cleared: a only"
    );
    Ok(())
}
