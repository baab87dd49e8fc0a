//! `AccountStore`'s rate counters: `use_key` reads the grant and counts in the same request,
//! per window (a new window starts from 1, also after the key sat idle for any number of
//! windows, 16 and 32 included, where the DynamoDB adapter's slots wrap); an unknown key is
//! `None` and writes nothing; concurrent uses are all counted; a settings write or a key
//! rotation never refills the minute; guardrails ride on the grant; `count_use` counts per
//! account, scope and window.

use super::{key_info, unique, unique_account, violated, ContractError, Kept};
use chrono::{DateTime, SubsecRound, Utc};
use domain::model::{Account, Plan};
use domain::ports::store::Store;

/// The window the promises count in (any will do: every key is fresh).
const W: i64 = 29_000_000;

/// A fresh account with every guardrail set (they ride on the grant) and a fresh key;
/// returns it and its key's hash.
async fn keyed_account(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Result<(Account, String), ContractError> {
    let t = now.trunc_subsecs(3);
    let id = unique_account("acct");
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
    Ok((account, hash))
}

/// Uses count 1, 2, 3 in a window, with the grant (guardrails included); the next window
/// starts from 1.
pub async fn uses_count_per_window(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let (account, hash) = keyed_account(store, now).await?;
    for expected in 1..=3u64 {
        let got = store.use_key(&hash, W).await?;
        ensure_eq!(
            got,
            Some((account.grant(), expected)),
            format!("use {expected} of window {W}")
        );
    }
    ensure_eq!(
        store.use_key(&hash, W + 1).await?.map(|g| g.1),
        Some(1),
        "the next window starts from 1"
    );
    Ok(())
}

/// After 16, 32, 17 or 2 idle windows, the first use counts 1 and the second 2.
pub async fn a_window_after_idle_windows_starts_from_one(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Kept {
    let (_, hash) = keyed_account(store, now).await?;
    for idle in [16, 32, 17, 2] {
        let base = store.use_key(&hash, W + 100).await?;
        ensure!(base.is_some(), "key known");
        let next = W + 100 + idle;
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
        let _ = store.use_key(&hash, W + 100 + 1000).await?;
    }
    Ok(())
}

/// Eight uses at once (two rounds of four) count 1 to 8, each once; returns the window.
async fn eight_concurrent_uses(store: &dyn Store, hash: &str) -> Result<i64, ContractError> {
    let w2 = W + 5000;
    let (a, b, c, d) = tokio::join!(
        store.use_key(hash, w2),
        store.use_key(hash, w2),
        store.use_key(hash, w2),
        store.use_key(hash, w2)
    );
    let (e, f, g, h) = tokio::join!(
        store.use_key(hash, w2),
        store.use_key(hash, w2),
        store.use_key(hash, w2),
        store.use_key(hash, w2)
    );
    let mut counts = Vec::new();
    for r in [a, b, c, d, e, f, g, h] {
        match r? {
            Some((_, n)) => counts.push(n),
            None => return Err(violated("a known key was None")),
        }
    }
    counts.sort_unstable();
    ensure_eq!(
        counts,
        (1..=8).collect::<Vec<u64>>(),
        "eight concurrent uses counted once each"
    );
    Ok(w2)
}

/// Concurrent uses are all counted, each once.
pub async fn concurrent_uses_count_once_each(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let (_, hash) = keyed_account(store, now).await?;
    eight_concurrent_uses(store, &hash).await?;
    Ok(())
}

/// A settings write keeps the key's count (the grant is rewritten in place), and what it
/// changes reads back, an optional field removed included.
pub async fn a_settings_write_keeps_the_count(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let (account, hash) = keyed_account(store, now).await?;
    let w2 = W + 5000;
    store.use_key(&hash, w2).await?;
    let current = store
        .account(&account.id)
        .await?
        .ok_or_else(|| violated("account missing"))?;
    let mut changed = current.clone();
    changed.api_enabled = false;
    changed.guardrails.allowed_countries = None;
    let current = store.save_account(&current, &changed).await?;
    ensure_eq!(
        store.use_key(&hash, w2).await?,
        Some((current.grant(), 2)),
        "a settings write does not refill the key's minute"
    );
    Ok(())
}

/// A rotation moves the count to the new key, and the old key is gone.
pub async fn a_rotation_moves_the_count(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let t = now.trunc_subsecs(3);
    let (current, hash) = keyed_account(store, now).await?;
    let w2 = W + 5000;
    store.use_key(&hash, w2).await?;
    let new_hash = unique("hr");
    let mut rotated = current.clone();
    rotated.api_key = Some(key_info(&new_hash, t));
    let current = store.save_account(&current, &rotated).await?;
    ensure_eq!(
        store.use_key(&new_hash, w2).await?,
        Some((current.grant(), 2)),
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
    Ok(())
}

/// An unknown key is `None`, and its use writes no grant.
pub async fn an_unknown_key_is_none_and_writes_nothing(
    store: &dyn Store,
    _now: DateTime<Utc>,
) -> Kept {
    let unknown = unique("hx");
    ensure_eq!(
        store.use_key(&unknown, W).await?,
        None,
        "an unknown key is None"
    );
    ensure_eq!(
        store.key_grant(&unknown).await?,
        None,
        "an unknown key's use writes no grant"
    );
    Ok(())
}

/// `count_use` counts per account, scope and window.
pub async fn scoped_uses_count_per_account_scope_and_window(
    store: &dyn Store,
    _now: DateTime<Utc>,
) -> Kept {
    let id = unique_account("acct");
    for expected in 1..=2u64 {
        ensure_eq!(
            store.count_use(&id, "settings", W).await?,
            expected,
            "settings uses"
        );
    }
    ensure_eq!(
        store.count_use(&id, "costly", W).await?,
        1,
        "scopes count apart"
    );
    ensure_eq!(
        store.count_use(&id, "settings", W + 1).await?,
        1,
        "windows count apart"
    );
    ensure_eq!(
        store
            .count_use(&unique_account("acct"), "settings", W)
            .await?,
        1,
        "accounts count apart"
    );
    Ok(())
}
