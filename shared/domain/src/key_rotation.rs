//! Generating an account's API key: the one operation that touches DynamoDB and Secrets
//! Manager together, shared by the settings API, the operator CLI and the local stack.

use crate::api_key;
use crate::error::{ApiError, StoreError};
use crate::model::{Account, ApiKeyInfo};
use crate::ports::secrets::{account_key_secret_name, SecretStore};
use crate::ports::store::AccountStore;
use chrono::{DateTime, Utc};

/// The new key (plaintext, to be shown once) and the account as stored.
pub struct Rotated {
    pub key: api_key::NewApiKey,
    pub account: Account,
}

/// Replaces the account's key. The DynamoDB write is conditional on the account not having
/// changed since it was read, so of two racing rotations exactly one wins (the other gets
/// `Conflict`, a 409) and exactly one key is valid. The secret is written only after the win,
/// as a version whose id is the key's hash, so readers ask for exactly the version of the
/// current key. Two sequential rotations can still write their secrets out of order; the
/// slower writer notices that its key is no longer the account's and makes the newer version
/// current again, so the current value always ends at the one valid key.
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
    let account = match store.save_account(current, &next).await {
        Ok(a) => a,
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::Conflict(
                "the account changed while the key was being generated (another rotation?); reload and retry".into(),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let name = account_key_secret_name(secret_prefix, &account.id);
    secrets
        .put_version(&name, &key.plaintext, &key.hash)
        .await?;
    if let Some(latest) = store.account(&account.id).await? {
        match latest.api_key {
            Some(k) if k.hash != key.hash => match secrets.make_current(&name, &k.hash).await {
                // The newer rotation's secret is not written yet: when it is, it becomes current.
                Ok(()) | Err(crate::error::SecretError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            },
            _ => {}
        }
    }
    Ok(Rotated { key, account })
}
