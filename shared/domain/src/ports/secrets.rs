//! Secrets Manager: the per-account API key secret, the per-account webhook signing secret and
//! the provider secret.

use crate::error::SecretError;
use crate::ids::AccountId;
use async_trait::async_trait;
use port_macro::port;

#[port]
#[async_trait]
pub trait SecretStore: Send + Sync {
    async fn get(&self, name: &str) -> Result<String, SecretError>;
    /// Creates the secret or stores a new current version of it.
    async fn put(&self, name: &str, value: &str) -> Result<(), SecretError>;
    /// Like `put`, with a caller-chosen version id (32 to 64 characters), so readers can ask
    /// for exactly that version whatever became current since.
    async fn put_version(
        &self,
        name: &str,
        value: &str,
        version_id: &str,
    ) -> Result<(), SecretError>;
    /// The value of one version.
    async fn get_version(&self, name: &str, version_id: &str) -> Result<String, SecretError>;
    /// Makes `version_id` the current version (after an out-of-order write).
    async fn make_current(&self, name: &str, version_id: &str) -> Result<(), SecretError>;
}

/// Name of an account's API key secret: the configured prefix plus the account id, so IAM can
/// grant the functions exactly that prefix.
pub fn account_key_secret_name(prefix: &str, account_id: &AccountId) -> String {
    format!("{prefix}{account_id}")
}

/// Name of an account's webhook signing secret (`whsec_...`): its own prefix, so IAM grants the
/// signing secrets apart from the API keys.
pub fn webhook_secret_name(prefix: &str, account_id: &AccountId) -> String {
    format!("{prefix}{account_id}")
}

/// The shortest provider API key a function starts with, in characters (surrounding
/// whitespace not counted). The key is the HMAC key of the provider's callback signatures: an
/// empty key would let anyone sign a callback, and a short one could be guessed. The provider's
/// real keys are far longer (docs/deploy.md, step 4).
pub const MIN_PROVIDER_KEY_CHARS: usize = 16;

/// The voice provider's credentials, one JSON secret read once per cold start:
/// `{"api_key": "..."}`. The same key authenticates our requests and signs its callbacks.
#[derive(Clone, serde::Deserialize)]
pub struct ProviderSecret {
    pub api_key: String,
}

impl std::fmt::Debug for ProviderSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProviderSecret(<redacted>)")
    }
}

impl ProviderSecret {
    /// Reads and checks the secret: refused when it is not `{"api_key": "..."}` or when the
    /// key is empty or shorter than [`MIN_PROVIDER_KEY_CHARS`] (the error names the secret,
    /// never its value).
    pub async fn load(secrets: &dyn SecretStore, name: &str) -> Result<Self, SecretError> {
        let raw = secrets.get(name).await?;
        let secret: ProviderSecret =
            serde_json::from_str(&raw).map_err(|_| SecretError::Malformed(name.to_string()))?;
        if secret.api_key.trim().chars().count() < MIN_PROVIDER_KEY_CHARS {
            return Err(SecretError::ProviderKeyTooShort {
                name: name.to_string(),
                min: MIN_PROVIDER_KEY_CHARS,
            });
        }
        Ok(secret)
    }
}
