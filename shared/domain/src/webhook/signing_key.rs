//! The account's API key, needed in plaintext as the webhook signing secret.
//!
//! Read from Secrets Manager and cached in the warm function by the key's SHA-256 (which the
//! account item carries): a rotated key has a new hash, so it is fetched at once, and a warm
//! path makes no Secrets Manager call. The secret is checked against the hash, so a secret
//! that lags behind a rotation is never used to sign.

use crate::api_key;
use crate::error::SecretError;
use crate::ids::AccountId;
use crate::ports::secrets::{account_key_secret_name, SecretStore};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(
        "the stored key of account {0} does not match its current key hash (rotation in progress?)"
    )]
    Stale(String),
}

#[derive(Default)]
pub struct KeyCache {
    by_hash: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCache(<redacted>)")
    }
}

impl KeyCache {
    pub fn new() -> Self {
        KeyCache::default()
    }

    /// The plaintext key whose SHA-256 is `key_hash`.
    pub async fn get(
        &self,
        secrets: &dyn SecretStore,
        secret_prefix: &str,
        account_id: &AccountId,
        key_hash: &str,
    ) -> Result<String, SigningKeyError> {
        if let Some(k) = self.lock().get(key_hash) {
            return Ok(k.clone());
        }
        let key = secrets
            .get_version(
                &account_key_secret_name(secret_prefix, account_id),
                key_hash,
            )
            .await?;
        if api_key::hash(&key) != key_hash {
            return Err(SigningKeyError::Stale(account_id.to_string()));
        }
        let mut map = self.lock();
        // Keys of many accounts may be cached; old hashes are useless after a rotation, so
        // a simple bound keeps a long-lived function's memory flat.
        if map.len() >= 10_000 {
            map.clear();
        }
        map.insert(key_hash.to_string(), key.clone());
        Ok(key)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.by_hash.lock().unwrap_or_else(|p| p.into_inner())
    }
}
