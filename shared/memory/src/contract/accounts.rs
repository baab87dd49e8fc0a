//! `AccountStore`: accounts are created once; saves are checked against the version read,
//! move the key grant with the key, and are all or nothing; a provider agent id belongs to
//! one agent only. (The key's rate counters: [`super::rate_counters`].)

use super::{is_conflict, key_info, unique, unique_account, Kept};
use chrono::{DateTime, SubsecRound, Utc};
use domain::model::{Account, Agent, Plan};
use domain::ports::store::Store;
use uuid::Uuid;

/// A new account under a fresh id with a fresh key, stored; returns it and its key's hash.
async fn created(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Result<(Account, String), super::ContractError> {
    let t = now.trunc_subsecs(3);
    let hash = unique("ha");
    let mut account = Account::new(unique_account("acct"), "Contract Co", Plan::Agency, t);
    account.api_key = Some(key_info(&hash, t));
    store.create_account(&account).await?;
    Ok((account, hash))
}

/// An account reads back as created, its key grants it, and it is created only once.
pub async fn create_once(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let (account, hash_a) = created(store, now).await?;
    ensure_eq!(
        store.account(&account.id).await?,
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
    Ok(())
}

/// Rotating to key B: A's grant goes, B's comes, the version is bumped.
pub async fn a_save_moves_the_key_grant(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let t = now.trunc_subsecs(3);
    let (account, hash_a) = created(store, now).await?;
    let hash_b = unique("hb");
    let mut next = account.clone();
    next.api_key = Some(key_info(&hash_b, t));
    next.api_enabled = false;
    let saved = store.save_account(&account, &next).await?;
    ensure_eq!(saved.version, account.version + 1, "version after save");
    ensure_eq!(
        store.account(&account.id).await?,
        Some(saved.clone()),
        "saved account"
    );
    ensure_eq!(store.key_grant(&hash_a).await?, None, "old key's grant");
    ensure_eq!(
        store.key_grant(&hash_b).await?,
        Some(saved.grant()),
        "new key's grant"
    );
    Ok(())
}

/// A stale writer (still holding the first version) loses, and writes nothing: neither its
/// account fields, nor key C's grant, nor the removal of B's grant.
pub async fn a_stale_save_writes_nothing(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let t = now.trunc_subsecs(3);
    let (account, _) = created(store, now).await?;
    let (hash_b, hash_c) = (unique("hb"), unique("hc"));
    let mut next = account.clone();
    next.api_key = Some(key_info(&hash_b, t));
    next.api_enabled = false;
    let saved = store.save_account(&account, &next).await?;

    let mut stale = account.clone();
    stale.api_key = Some(key_info(&hash_c, t));
    stale.name = "Stale".into();
    ensure!(
        is_conflict(&store.save_account(&account, &stale).await),
        "saving over a newer version must be a Conflict"
    );
    ensure_eq!(
        store.account(&account.id).await?,
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
    Ok(())
}

/// The operator's recipient-hours policy is saved on the account, rides on the key's grant,
/// and clears back to the default (`None`).
pub async fn recipient_hours_ride_on_the_grant(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let (saved, hash) = created(store, now).await?;
    let id = saved.id.clone();
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
        store.key_grant(&hash).await?,
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
        store.key_grant(&hash).await?,
        Some(cleared.grant()),
        "cleared recipient hours on the grant"
    );
    Ok(())
}

/// Saving an account nobody created is a `Conflict`, not a create.
pub async fn saving_a_missing_account_conflicts(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let missing = Account::new(
        unique_account("acct"),
        "Nobody",
        Plan::Agency,
        now.trunc_subsecs(3),
    );
    ensure!(
        is_conflict(&store.save_account(&missing, &missing).await),
        "saving an account that does not exist must be a Conflict"
    );
    Ok(())
}

/// An agent named "zed" of a fresh account, with a fresh provider agent id.
fn zed() -> Agent {
    Agent {
        id: Uuid::new_v4().into(),
        account_id: unique_account("acct"),
        name: "zed".into(),
        provider_agent_id: unique("agent"),
        phone_number: None,
    }
}

/// Agents are listed sorted by name (case-insensitive), scoped to their account, and found
/// by their provider agent id.
pub async fn agents_sorted_by_name_and_scoped(store: &dyn Store, _now: DateTime<Utc>) -> Kept {
    let zed = zed();
    let id = zed.account_id.clone();
    let amy = Agent {
        id: Uuid::new_v4().into(),
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
        store.agent(&"another".into(), zed.id).await?,
        None,
        "agent of another account"
    );
    ensure_eq!(
        store.agent_by_provider_id(&zed.provider_agent_id).await?,
        Some(zed.clone()),
        "agent by provider id"
    );
    Ok(())
}

/// Re-putting the owner is fine; another agent claiming its provider id loses entirely.
pub async fn a_provider_id_belongs_to_one_agent(store: &dyn Store, _now: DateTime<Utc>) -> Kept {
    let zed = zed();
    store.put_agent(&zed).await?;
    let mut renamed = zed.clone();
    renamed.name = "Zed".into();
    store.put_agent(&renamed).await?;
    let thief = Agent {
        id: Uuid::new_v4().into(),
        name: "Thief".into(),
        ..zed.clone()
    };
    ensure!(
        is_conflict(&store.put_agent(&thief).await),
        "an agent taking another's provider id must be a Conflict"
    );
    ensure_eq!(
        store.agent(&zed.account_id, thief.id).await?,
        None,
        "agent of the lost put"
    );
    ensure_eq!(
        store.agent_by_provider_id(&zed.provider_agent_id).await?,
        Some(renamed),
        "provider id still maps to its owner"
    );
    Ok(())
}
