//! `SuppressionStore` (the do-not-call list): per account, idempotent adds (the first time
//! kept), removal says whether the number was there, pages in number order with an exact
//! cursor.

use super::{unique_account, violated, ContractError, Kept};
use chrono::{DateTime, SubsecRound, Utc};
use domain::ids::AccountId;
use domain::ports::store::suppressions::decode_cursor;
use domain::ports::store::Store;

const NUMBERS: [&str; 3] = ["+14155550101", "+14155550102", "+442071838750"];

/// A fresh account's list of [`NUMBERS`], added a second apart from `now`.
async fn listed(store: &dyn Store, now: DateTime<Utc>) -> Result<AccountId, ContractError> {
    let account = unique_account("acct_dnc");
    for (i, n) in NUMBERS.iter().enumerate() {
        ensure!(
            store
                .suppress(&account, n, now + chrono::Duration::seconds(i as i64))
                .await?,
            "a new number is added"
        );
    }
    Ok(account)
}

/// Adding a listed number again is not new; the list is the account's own.
pub async fn adds_are_idempotent_and_per_account(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let now = now.trunc_subsecs(3);
    let account = listed(store, now).await?;
    let other = unique_account("acct_dnc");
    ensure!(
        !store
            .suppress(&account, NUMBERS[0], now + chrono::Duration::hours(1))
            .await?,
        "adding it again is not new"
    );
    ensure!(
        store.is_suppressed(&account, NUMBERS[1]).await?,
        "a listed number is suppressed"
    );
    ensure!(
        !store.is_suppressed(&other, NUMBERS[1]).await?,
        "another account's list is its own"
    );
    Ok(())
}

/// Pages in number order, with the first add's time kept (a second add changes nothing) and
/// a cursor that resumes exactly; another account's list is empty.
pub async fn pages_in_number_order(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let now = now.trunc_subsecs(3);
    let account = listed(store, now).await?;
    store
        .suppress(&account, NUMBERS[0], now + chrono::Duration::hours(1))
        .await?;
    let first = store.suppressions(&account, None, 2).await?;
    ensure_eq!(
        first
            .items
            .iter()
            .map(|s| s.phone.as_str())
            .collect::<Vec<_>>(),
        vec![NUMBERS[0], NUMBERS[1]],
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
        .ok_or_else(|| violated("first page has a cursor"))?;
    let second = store.suppressions(&account, Some(&cursor), 2).await?;
    ensure_eq!(
        second
            .items
            .iter()
            .map(|s| s.phone.as_str())
            .collect::<Vec<_>>(),
        vec![NUMBERS[2]],
        "second page"
    );
    ensure_eq!(second.next_cursor, None, "the last page has no cursor");
    ensure!(
        store
            .suppressions(&unique_account("acct_dnc"), None, 10)
            .await?
            .items
            .is_empty(),
        "another account's list is empty"
    );
    Ok(())
}

/// Removing a listed number says it was there, once; the number is callable again.
pub async fn a_removal_says_whether_the_number_was_there(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Kept {
    let account = listed(store, now.trunc_subsecs(3)).await?;
    ensure!(
        store.unsuppress(&account, NUMBERS[1]).await?,
        "removing a listed number"
    );
    ensure!(
        !store.unsuppress(&account, NUMBERS[1]).await?,
        "removing it again"
    );
    ensure!(
        !store.is_suppressed(&account, NUMBERS[1]).await?,
        "a removed number is callable"
    );
    Ok(())
}
