//! `DeliveryLog`: newest first, pages that neither skip nor repeat a row (also when rows
//! share a millisecond, and when newer rows arrive between pages), the outcome filter, expired
//! rows left out, the same attempt written twice kept once; and by outcome and time range
//! (what bulk recovery reads): oldest first, both bounds inclusive to the millisecond, only
//! the asked outcome and account, nothing older than the retention even when asked for, an
//! empty or inverted range empty.

use super::{unique_account, ContractError, Kept};
use chrono::{DateTime, SubsecRound, Utc};
use domain::ids::{AccountId, CallId, EventId};
use domain::model::{DeliveryAttempt, DeliveryOutcome};
use domain::ports::store::deliveries::{delivery_sort_key, DeliveryCursor, DeliveryQuery};
use domain::ports::store::Store;

fn attempt(
    account: &AccountId,
    at: DateTime<Utc>,
    n: u32,
    outcome: DeliveryOutcome,
) -> DeliveryAttempt {
    DeliveryAttempt {
        trigger: Default::default(),
        account_id: account.clone(),
        event_id: EventId::new_v4(),
        call_id: CallId::new_v4(),
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
    account: &AccountId,
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

/// A fresh account's log: seven rows a minute ago (pairs sharing a millisecond, ordered by
/// event id), one of them written twice (the last write kept), plus an expired row and
/// another account's row, which are never listed. Returns the account and its listed rows,
/// newest first.
async fn a_log(
    store: &dyn Store,
    t: DateTime<Utc>,
) -> Result<(AccountId, Vec<DeliveryAttempt>), ContractError> {
    let account = unique_account("acct");
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
        .record_attempt(&attempt(
            &unique_account("acct"),
            t,
            1,
            DeliveryOutcome::Failed,
        ))
        .await?;
    // The same attempt again with its final outcome: one row, the last write.
    let mut rewritten = written[0].clone();
    rewritten.outcome = DeliveryOutcome::Dropped;
    store.record_attempt(&rewritten).await?;
    written[0] = rewritten;

    let key = |a: &DeliveryAttempt| delivery_sort_key(a.attempted_at, &a.event_id, a.attempt);
    written.sort_by_key(|a| std::cmp::Reverse(key(a)));
    Ok((account, written))
}

/// The whole log, in pages of any size: every listed row once, newest first.
pub async fn pages_neither_skip_nor_repeat(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let (account, written) = a_log(store, now.trunc_subsecs(3)).await?;
    for limit in [1, 2, 3, 7, 100] {
        let all = read_all(store, &account, None, limit, now, |_| None).await?;
        ensure_eq!(all, written, format!("the whole log in pages of {limit}"));
    }
    Ok(())
}

/// Each outcome's log holds that outcome's rows only, the cursors keeping the filter.
pub async fn the_outcome_filter(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let (account, written) = a_log(store, now.trunc_subsecs(3)).await?;
    for outcome in DeliveryOutcome::ALL {
        let expected: Vec<_> = written
            .iter()
            .filter(|a| a.outcome == outcome)
            .cloned()
            .collect();
        let all = read_all(store, &account, Some(outcome), 1, now, |_| None).await?;
        ensure_eq!(all, expected, format!("the {outcome:?} log"));
    }
    Ok(())
}

/// Rows newer than the first page, written while paging, do not shift the later pages; a
/// new first page starts with them.
pub async fn newer_rows_do_not_shift_later_pages(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let t = now.trunc_subsecs(3);
    let (account, written) = a_log(store, t).await?;
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
    Ok(())
}

/// A cursor past the retention horizon ends the log.
pub async fn a_cursor_past_the_retention_ends_the_log(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Kept {
    let t = now.trunc_subsecs(3);
    let (account, _) = a_log(store, t).await?;
    let expired_cursor = DeliveryCursor::new(
        None,
        delivery_sort_key(t - chrono::Duration::days(31), &EventId::new_v4(), 1),
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

/// A fresh account's rows from 50 to 10 minutes ago (four dropped, one skipped, one
/// failed), plus an expired dropped row and another account's dropped row.
async fn a_range(
    store: &dyn Store,
    t: DateTime<Utc>,
) -> Result<(AccountId, Vec<DeliveryAttempt>), ContractError> {
    let account = unique_account("acct");
    let at = |mins: i64| t - chrono::Duration::minutes(mins);
    let rows = vec![
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
            &unique_account("acct"),
            at(20),
            4,
            DeliveryOutcome::Dropped,
        ))
        .await?;
    Ok((account, rows))
}

/// Only the asked outcome and account, oldest first, both bounds included to the
/// millisecond.
pub async fn between_is_oldest_first_with_bounds_included(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Kept {
    let t = now.trunc_subsecs(3);
    let at = |mins: i64| t - chrono::Duration::minutes(mins);
    let (account, rows) = a_range(store, t).await?;
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
    Ok(())
}

/// Nothing older than the retention, even when the range asks for it.
pub async fn between_never_serves_expired_rows(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let t = now.trunc_subsecs(3);
    let (account, _) = a_range(store, t).await?;
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
    Ok(())
}

/// A range whose start is after its end is empty.
pub async fn between_an_inverted_range_is_empty(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let t = now.trunc_subsecs(3);
    let at = |mins: i64| t - chrono::Duration::minutes(mins);
    let (account, _) = a_range(store, t).await?;
    ensure!(
        store
            .deliveries_between(&account, DeliveryOutcome::Dropped, at(10), at(20), now)
            .await?
            .is_empty(),
        "an inverted range is empty"
    );
    Ok(())
}
