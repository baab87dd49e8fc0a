//! Generating an account's API key: the one operation that touches DynamoDB and Secrets
//! Manager together, shared by the settings API, the operator CLI and the local stack.
//!
//! The order of the two writes is what keeps an account from being locked out: the new
//! secret version is written first, under a version id equal to the new key's hash, and only
//! then is the hash committed to the account. Readers (the webhook signer) always ask for the
//! version whose id is the account's committed hash, so:
//!
//! - the secret write fails: nothing was committed; the old key authenticates, signs and is
//!   the one the integration page shows;
//! - the hash commit fails: the new version is an orphan nobody asks for; same as above;
//! - the commit happened but its answer was lost: the account is read back, and if it carries
//!   the new hash the rotation succeeded and the key is shown; if even that answer never
//!   reaches the caller, the new key authenticates, signs and is the one shown (its last
//!   four characters), so generating another key is the way out, and nothing dead-letters.
//!
//! Never both keys, never neither.

use crate::api_key;
use crate::error::{ApiError, SecretError, StoreError};
use crate::ids::AccountId;
use crate::model::{Account, ApiKeyInfo};
use crate::ports::secrets::{account_key_secret_name, SecretStore};
use crate::ports::store::AccountStore;
use chrono::{DateTime, Utc};

/// The new key (plaintext, to be shown once) and the account as stored.
pub struct Rotated {
    pub key: api_key::NewApiKey,
    pub account: Account,
}

/// Replaces the account's key: secret version first, then the hash (see the module comment).
/// The DynamoDB write is conditional on the account not having changed since it was read, so
/// of two racing rotations exactly one wins (the other gets `Conflict`, a 409) and exactly one
/// key is valid. Whenever the rotation does not end committed, the secret's current value is
/// put back to the account's committed key (best effort: signing never depends on it, it only
/// keeps the secret's "current" value meaningful for operators).
pub async fn rotate_api_key(
    store: &dyn AccountStore,
    secrets: &dyn SecretStore,
    secret_prefix: &str,
    current: &Account,
    now: DateTime<Utc>,
) -> Result<Rotated, ApiError> {
    let key = api_key::generate().map_err(ApiError::internal)?;
    let mut next = current.clone();
    next.api_key = Some(ApiKeyInfo {
        hash: key.hash.clone(),
        prefix: api_key::KEY_PREFIX.to_string(),
        last4: key.last4.clone(),
        created_at: now,
    });
    let name = account_key_secret_name(secret_prefix, &current.id);
    if let Err(e) = secrets.put_version(&name, &key.plaintext, &key.hash).await {
        // The write may have happened with its answer lost: the version must not stay current.
        restore_current(store, secrets, &name, &current.id).await;
        return Err(e.into());
    }
    match store.save_account(current, &next).await {
        Ok(account) => Ok(Rotated { key, account }),
        Err(StoreError::Conflict(_)) => {
            restore_current(store, secrets, &name, &current.id).await;
            Err(ApiError::Conflict(
                "the account changed while the key was being generated (another rotation?); reload and retry".into(),
            ))
        }
        Err(e) => {
            // A commit whose answer was lost: the account read back says whether it happened.
            if let Ok(Some(latest)) = store.account(&current.id).await {
                if latest.api_key.as_ref().map(|k| k.hash.as_str()) == Some(key.hash.as_str()) {
                    return Ok(Rotated {
                        key,
                        account: latest,
                    });
                }
            }
            restore_current(store, secrets, &name, &current.id).await;
            Err(e.into())
        }
    }
}

/// Makes the committed key's version current again after a rotation that did not commit.
/// Failures are only logged: this is tidiness, not correctness (readers ask by hash).
async fn restore_current(
    store: &dyn AccountStore,
    secrets: &dyn SecretStore,
    name: &str,
    account_id: &AccountId,
) {
    let committed = match store.account(account_id).await {
        Ok(Some(a)) => a.api_key.map(|k| k.hash),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(%account_id, error = %e, "rotation: could not read the committed key back");
            None
        }
    };
    let Some(hash) = committed else { return };
    match secrets.make_current(name, &hash).await {
        Ok(()) | Err(SecretError::NotFound(_)) => {}
        Err(e) => {
            tracing::warn!(%account_id, error = %e, "rotation: could not make the committed key's secret current again")
        }
    }
}
