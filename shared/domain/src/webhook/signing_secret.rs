//! The account's webhook signing secret: what keys the Standard Webhooks `webhook-signature`
//! (`X-Signature` stays keyed with the API key, as the spec requires).
//!
//! The secret is `whsec_` + standard base64 of 32 random bytes, the form the official Standard
//! Webhooks libraries take as it is; the HMAC key is the decoded bytes. It lives in Secrets
//! Manager (`ports::secrets::webhook_secret_name`); the account item only names it
//! ([`WebhookSecretInfo`]: the SHA-256 of its text, which is also its secret version id).
//!
//! **Creation.** An account gets its secret with its first webhook URL (the settings PATCH) or,
//! for an account that has a URL but no secret yet (set before signing secrets existed, or a
//! creation that failed), lazily by [`ensure`] on first use: the delivery function, a test
//! send, or the dashboard's `GET .../signing-secret`. A delivery is never sent unsigned: when
//! no secret can be read or created, the attempt fails (internal, retried on the schedule).
//!
//! **Rotation** ([`rotate`]) writes in this order, like the API key's:
//! 1. the new secret as a new version of the account's secret, under its own version id;
//! 2. the account's reference: the new version current, the old one kept as `previous` until
//!    `now + overlap` (one conditional UpdateItem).
//!
//! Readers only ever ask for the versions the account names. So a failed (or lost) step 1
//! changes nothing, a failed step 2 leaves an orphan version nobody asks for, and the old
//! secret keeps signing throughout; once step 2 is in, every attempt (retries already queued
//! included: they are signed when sent) carries the new signature and, until the overlap
//! ends, the old one too (`v1,<new> v1,<old>`). A second rotation within the overlap keeps
//! only the secret it replaces as `previous`.

use crate::api_key::RandomError;
use crate::error::{ApiError, SecretError, StoreError};
use crate::ids::AccountId;
use crate::model::{Account, PreviousWebhookSecret, WebhookSecretInfo};
use crate::ports::secrets::{webhook_secret_name, SecretStore};
use crate::ports::store::AccountStore;
use crate::signature::sha256_hex;
use base64::Engine;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a secret (the Standard Webhooks recommendation: 24 to 64).
pub const SECRET_BYTES: usize = 32;
/// How often [`ensure`] re-reads and retries when another write got in between.
const ENSURE_ATTEMPTS: usize = 3;

/// A secret's text, kept out of `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(String);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

impl SigningSecret {
    /// A new secret from the OS CSPRNG.
    pub fn generate() -> Result<SigningSecret, RandomError> {
        let mut bytes = [0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| RandomError::new(e.to_string()))?;
        Ok(SigningSecret(format!(
            "{SECRET_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )))
    }

    /// A stored secret; `None` unless it is `whsec_` + standard base64 of at least one byte.
    pub fn parse(text: &str) -> Option<SigningSecret> {
        let secret = SigningSecret(text.to_string());
        secret.key().filter(|k| !k.is_empty()).map(|_| secret)
    }

    /// The text the customer copies (`whsec_...`).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The secret's version id and reference: lowercase hex SHA-256 of its text.
    pub fn version(&self) -> String {
        sha256_hex(self.0.as_bytes())
    }

    /// The HMAC key: the bytes the base64 after `whsec_` decodes to.
    pub fn key(&self) -> Option<Vec<u8>> {
        let b64 = self.0.strip_prefix(SECRET_PREFIX)?;
        base64::engine::general_purpose::STANDARD.decode(b64).ok()
    }
}

/// The keys one attempt is signed with: the current secret's, and the previous one's with the
/// end of its overlap. Which of them sign is decided at send time ([`SigningKeys::active`]).
#[derive(Clone)]
pub struct SigningKeys {
    current: Vec<u8>,
    previous: Option<(Vec<u8>, DateTime<Utc>)>,
    legacy: Option<(Vec<u8>, DateTime<Utc>)>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("previous_until", &self.previous.as_ref().map(|p| p.1))
            .finish_non_exhaustive()
    }
}

impl SigningKeys {
    pub fn new(current: Vec<u8>, previous: Option<(Vec<u8>, DateTime<Utc>)>) -> Self {
        SigningKeys {
            current,
            previous,
            legacy: None,
        }
    }

    /// The keys that sign at `now`: the current one first, then the previous one while its
    /// overlap lasts, then the legacy API-key bytes while the migration window lasts.
    pub fn active(&self, now: DateTime<Utc>) -> Vec<&[u8]> {
        let mut keys = vec![self.current.as_slice()];
        for (key, until) in [&self.previous, &self.legacy].into_iter().flatten() {
            if *until > now {
                keys.push(key.as_slice());
            }
        }
        keys
    }

    /// Adds the legacy signature keyed with the API key's bytes while `info.legacy_until`
    /// lasts (an account whose webhook URL predates signing secrets: see
    /// [`LEGACY_SIGNATURE_WINDOW`]).
    pub fn with_legacy(mut self, info: &WebhookSecretInfo, api_key: &str) -> Self {
        self.legacy = info
            .legacy_until
            .map(|until| (api_key.as_bytes().to_vec(), until));
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SigningSecretError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Random(#[from] RandomError),
    /// The version read back does not hash to the version asked for, or is not a `whsec_`
    /// secret (never shows the value).
    #[error("the stored signing secret of account {0} does not match its reference")]
    Stale(String),
    #[error("account {0} not found")]
    NoAccount(crate::ids::AccountId),
    #[error("the account changed while its signing secret was being rotated")]
    Conflict,
}

impl From<SigningSecretError> for ApiError {
    fn from(e: SigningSecretError) -> Self {
        match e {
            SigningSecretError::Conflict => ApiError::Conflict(
                "the account changed while the signing secret was being rotated (another rotation?); reload and retry".into(),
            ),
            SigningSecretError::NoAccount(_) => ApiError::Unauthenticated,
            other => ApiError::internal(other),
        }
    }
}

/// Secrets read from Secrets Manager, by version id, for a warm function: a rotated secret
/// has a new version id, so it is fetched at once; a warm path makes no Secrets Manager call.
#[derive(Default)]
pub struct SecretCache {
    by_version: Mutex<HashMap<String, SigningSecret>>,
}

impl std::fmt::Debug for SecretCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretCache(<redacted>)")
    }
}

impl SecretCache {
    pub fn new() -> Self {
        SecretCache::default()
    }

    /// The secret of `account_id` whose version id is `version`, checked against it.
    pub async fn get(
        &self,
        secrets: &dyn SecretStore,
        prefix: &str,
        account_id: &AccountId,
        version: &str,
    ) -> Result<SigningSecret, SigningSecretError> {
        if let Some(s) = self.lock().get(version) {
            return Ok(s.clone());
        }
        let text = secrets
            .get_version(&webhook_secret_name(prefix, account_id), version)
            .await?;
        let secret = SigningSecret::parse(&text)
            .filter(|s| s.version() == version)
            .ok_or_else(|| SigningSecretError::Stale(account_id.to_string()))?;
        let mut map = self.lock();
        if map.len() >= 10_000 {
            map.clear();
        }
        map.insert(version.to_string(), secret.clone());
        Ok(secret)
    }

    /// The keys that sign the account's deliveries (the previous one only while it may still
    /// sign at `now`).
    pub async fn signing_keys(
        &self,
        secrets: &dyn SecretStore,
        prefix: &str,
        account_id: &AccountId,
        info: &WebhookSecretInfo,
        now: DateTime<Utc>,
    ) -> Result<SigningKeys, SigningSecretError> {
        let current = self.key(secrets, prefix, account_id, &info.version).await?;
        let previous = match info.previous_at(now) {
            Some(p) => Some((
                self.key(secrets, prefix, account_id, &p.version).await?,
                p.expires_at,
            )),
            None => None,
        };
        Ok(SigningKeys::new(current, previous))
    }

    async fn key(
        &self,
        secrets: &dyn SecretStore,
        prefix: &str,
        account_id: &AccountId,
        version: &str,
    ) -> Result<Vec<u8>, SigningSecretError> {
        self.get(secrets, prefix, account_id, version)
            .await?
            .key()
            .ok_or_else(|| SigningSecretError::Stale(account_id.to_string()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SigningSecret>> {
        self.by_version.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How long an account whose webhook URL predates signing secrets keeps getting the legacy
/// `webhook-signature` (keyed with the API key's bytes, as before) beside the new secret's,
/// from the moment its secret is created: time for its receivers to switch.
pub const LEGACY_SIGNATURE_WINDOW: chrono::Duration = chrono::Duration::days(30);

/// The account as stored, with a signing secret: `account` itself when it has one, else a new
/// secret is created (secret version first, then the reference, conditional on the account's
/// version). When another writer got in first, the account is read again and its secret (if
/// it now has one) is used, so concurrent first uses agree on one secret.
///
/// `legacy`: the account's webhook URL predates signing secrets (its receivers verify with the
/// API key): the new secret gets a [`LEGACY_SIGNATURE_WINDOW`].
pub async fn ensure(
    store: &dyn AccountStore,
    secrets: &dyn SecretStore,
    prefix: &str,
    account: &Account,
    now: DateTime<Utc>,
    legacy: bool,
) -> Result<Account, SigningSecretError> {
    let mut current = account.clone();
    for _ in 0..ENSURE_ATTEMPTS {
        if current.webhook_secret.is_some() {
            return Ok(current);
        }
        let legacy_until = legacy.then(|| now + LEGACY_SIGNATURE_WINDOW);
        match install(store, secrets, prefix, &current, None, legacy_until, now).await {
            Ok((saved, _)) => {
                tracing::info!(account_id = %saved.id, "webhook signing secret created");
                return Ok(saved);
            }
            Err(SigningSecretError::Conflict) => {
                current = store
                    .account(&current.id)
                    .await?
                    .ok_or_else(|| SigningSecretError::NoAccount(current.id.clone()))?;
            }
            Err(e) => return Err(e),
        }
    }
    Err(SigningSecretError::Conflict)
}

/// The keys that sign an account's webhook (a delivery or a test send) at `now`: its secret,
/// created first when it has none (a URL without a secret predates signing secrets, so it
/// gets the legacy window), the previous one during a rotation's overlap, and the API key's
/// bytes during the legacy window. Never sent unsigned: no secret, no keys.
pub async fn delivery_keys(
    store: &dyn AccountStore,
    secrets: &dyn SecretStore,
    prefix: &str,
    cache: &SecretCache,
    account: &Account,
    api_key: &str,
    now: DateTime<Utc>,
) -> Result<SigningKeys, SigningSecretError> {
    let account = ensure(store, secrets, prefix, account, now, true).await?;
    let info = account
        .webhook_secret
        .as_ref()
        .ok_or(SigningSecretError::Conflict)?;
    Ok(cache
        .signing_keys(secrets, prefix, &account.id, info, now)
        .await?
        .with_legacy(info, api_key))
}

/// A new secret for the account; the one it replaces keeps signing until `now + overlap`.
/// Of two racing rotations one wins, the other is `Conflict` (a 409). Returns the saved
/// account and the new secret itself, so the caller can show it without reading it back (a
/// failed read there would turn a committed rotation into an error, and a retry of it would
/// rotate again and end the overlap of the secret receivers still hold).
pub async fn rotate(
    store: &dyn AccountStore,
    secrets: &dyn SecretStore,
    prefix: &str,
    account: &Account,
    now: DateTime<Utc>,
    overlap: chrono::Duration,
) -> Result<(Account, SigningSecret), SigningSecretError> {
    let previous = account
        .webhook_secret
        .as_ref()
        .map(|s| PreviousWebhookSecret {
            version: s.version.clone(),
            expires_at: now + overlap,
        });
    // A rotation ends any legacy window: the customer uses the signing secret.
    let (saved, secret) = install(store, secrets, prefix, account, previous, None, now).await?;
    tracing::info!(account_id = %saved.id, "webhook signing secret rotated");
    Ok((saved, secret))
}

/// Writes a new secret version, then the reference to it (see the module comment); the saved
/// account and the new secret.
async fn install(
    store: &dyn AccountStore,
    secrets: &dyn SecretStore,
    prefix: &str,
    account: &Account,
    previous: Option<PreviousWebhookSecret>,
    legacy_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(Account, SigningSecret), SigningSecretError> {
    let secret = SigningSecret::generate()?;
    let info = WebhookSecretInfo {
        version: secret.version(),
        created_at: now,
        previous,
        legacy_until,
    };
    secrets
        .put_version(
            &webhook_secret_name(prefix, &account.id),
            secret.expose(),
            &info.version,
        )
        .await?;
    match store.save_webhook_secret(account, &info).await {
        Ok(saved) => Ok((saved, secret)),
        Err(StoreError::Conflict(_)) => Err(SigningSecretError::Conflict),
        Err(e) => {
            // A write whose answer was lost: the account read back says whether it happened.
            if let Ok(Some(latest)) = store.account(&account.id).await {
                if latest.webhook_secret.as_ref().map(|s| s.version.as_str())
                    == Some(info.version.as_str())
                {
                    return Ok((latest, secret));
                }
            }
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_whsec_base64_of_32_bytes() {
        let a = SigningSecret::generate().unwrap();
        let b = SigningSecret::generate().unwrap();
        assert_ne!(a, b);
        assert!(a.expose().starts_with("whsec_"));
        assert_eq!(a.key().unwrap().len(), 32);
        assert_eq!(a.version().len(), 64);
        assert_eq!(SigningSecret::parse(a.expose()), Some(a.clone()));
        assert_eq!(SigningSecret::parse("whsec_"), None);
        assert_eq!(SigningSecret::parse("whsec_!!"), None);
        assert_eq!(SigningSecret::parse("bvai_live_x"), None);
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn the_previous_key_signs_until_its_overlap_ends() {
        let until = DateTime::parse_from_rfc3339("2025-06-15T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let keys = SigningKeys::new(vec![1], Some((vec![2], until)));
        let before = until - chrono::Duration::seconds(1);
        assert_eq!(keys.active(before), vec![&[1u8][..], &[2u8][..]]);
        assert_eq!(keys.active(until), vec![&[1u8][..]]);
        assert_eq!(SigningKeys::new(vec![1], None).active(before).len(), 1);
    }
}
