//! `MemorySecrets`: Secrets Manager in memory, with the adapter's and the service's version
//! rules.

use async_trait::async_trait;
use domain::error::SecretError;
use domain::ports::secrets::SecretStore;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// The in-memory adapter of [`SecretStore`].
///
/// What it reproduces, from `aws_adapters::secrets_manager` and the service behind it:
/// - `put` writes a new version with a fresh UUID id (the SDK's generated request token) and
///   makes it current, creating the secret if it does not exist.
/// - `put_version` uses the caller's id, which must be 32 to 64 characters (else the service's
///   `InvalidParameterException`, a `Backend` error). Writing an existing id again with the
///   same value is ignored (the current version does not move); with another value it is the
///   service's `ResourceExistsException` (`Backend`).
/// - `get` reads the current version, `get_version` one version: `NotFound` for an unknown
///   secret or version, `Backend` for an id that is not 32 to 64 characters (the service's
///   validation), `Malformed` for a version without a string value (see
///   [`MemorySecrets::put_binary`]).
/// - `make_current` of a version that is not current writes its value again as a new version
///   with a fresh id (the adapter does not move labels); of the current one it does nothing.
#[derive(Debug, Default)]
pub struct MemorySecrets {
    secrets: Mutex<HashMap<String, Secret>>,
}

#[derive(Debug, Clone)]
struct Secret {
    /// In creation order; `None` is a binary value, which the port cannot read.
    versions: Vec<(String, Option<String>)>,
    current: String,
}

impl Secret {
    fn version(&self, id: &str) -> Option<&Option<String>> {
        self.versions
            .iter()
            .find(|(v, _)| v == id)
            .map(|(_, value)| value)
    }
}

fn valid_version_id(id: &str) -> Result<(), SecretError> {
    if (32..=64).contains(&id.chars().count()) {
        Ok(())
    } else {
        Err(SecretError::Backend(
            "InvalidParameterException: ClientRequestToken must be 32-64 characters long.".into(),
        ))
    }
}

fn readable(name: &str, value: &Option<String>) -> Result<String, SecretError> {
    value
        .clone()
        .ok_or_else(|| SecretError::Malformed(name.to_string()))
}

impl MemorySecrets {
    pub fn new() -> Self {
        MemorySecrets::default()
    }

    fn secrets(&self) -> MutexGuard<'_, HashMap<String, Secret>> {
        self.secrets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Test setup without `.await`: like `put`.
    pub fn insert(&self, name: &str, value: &str) {
        // A fresh UUID is always a valid, unused id, so this write cannot fail.
        let _ = self.write(name, Some(value), &uuid::Uuid::new_v4().to_string());
    }

    /// Stores a binary value as the new current version, which the port reads as `Malformed`
    /// (a secret someone wrote with `SecretBinary`).
    pub fn put_binary(&self, name: &str) {
        let _ = self.write(name, None, &uuid::Uuid::new_v4().to_string());
    }

    /// The version ids of a secret, oldest first; empty if there is no such secret.
    pub fn versions(&self, name: &str) -> Vec<String> {
        self.secrets()
            .get(name)
            .map(|s| s.versions.iter().map(|(id, _)| id.clone()).collect())
            .unwrap_or_default()
    }

    /// The current version id of a secret.
    pub fn current_version(&self, name: &str) -> Option<String> {
        self.secrets().get(name).map(|s| s.current.clone())
    }

    fn write(&self, name: &str, value: Option<&str>, version_id: &str) -> Result<(), SecretError> {
        valid_version_id(version_id)?;
        let mut secrets = self.secrets();
        let Some(secret) = secrets.get_mut(name) else {
            secrets.insert(
                name.to_string(),
                Secret {
                    versions: vec![(version_id.to_string(), value.map(str::to_string))],
                    current: version_id.to_string(),
                },
            );
            return Ok(());
        };
        match secret.version(version_id) {
            Some(existing) if existing.as_deref() == value => Ok(()),
            Some(_) => Err(SecretError::Backend(format!(
                "ResourceExistsException: You can't use ClientRequestToken {version_id} because that value is already in use for a version of secret {name}."
            ))),
            None => {
                secret
                    .versions
                    .push((version_id.to_string(), value.map(str::to_string)));
                secret.current = version_id.to_string();
                Ok(())
            }
        }
    }

    fn read_version(&self, name: &str, version_id: &str) -> Result<String, SecretError> {
        // The service validates the request before it looks the secret up.
        valid_version_id(version_id)?;
        let secrets = self.secrets();
        let secret = secrets
            .get(name)
            .ok_or_else(|| SecretError::NotFound(name.to_string()))?;
        let value = secret
            .version(version_id)
            .ok_or_else(|| SecretError::NotFound(name.to_string()))?;
        readable(name, value)
    }
}

#[async_trait]
impl SecretStore for MemorySecrets {
    async fn get(&self, name: &str) -> Result<String, SecretError> {
        let secrets = self.secrets();
        let secret = secrets
            .get(name)
            .ok_or_else(|| SecretError::NotFound(name.to_string()))?;
        let value = secret
            .version(&secret.current)
            .ok_or_else(|| SecretError::NotFound(name.to_string()))?;
        readable(name, value)
    }

    async fn put(&self, name: &str, value: &str) -> Result<(), SecretError> {
        self.write(name, Some(value), &uuid::Uuid::new_v4().to_string())
    }

    async fn put_version(
        &self,
        name: &str,
        value: &str,
        version_id: &str,
    ) -> Result<(), SecretError> {
        self.write(name, Some(value), version_id)
    }

    async fn get_version(&self, name: &str, version_id: &str) -> Result<String, SecretError> {
        self.read_version(name, version_id)
    }

    async fn make_current(&self, name: &str, version_id: &str) -> Result<(), SecretError> {
        let current = self
            .current_version(name)
            .ok_or_else(|| SecretError::NotFound(name.to_string()))?;
        if current == version_id {
            return Ok(());
        }
        let value = self.read_version(name, version_id)?;
        self.write(name, Some(&value), &uuid::Uuid::new_v4().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passes_the_secrets_contract() {
        crate::contract::secrets(&MemorySecrets::new())
            .await
            .unwrap();
    }

    /// Each promise of the secrets contract on its own test.
    mod contract {
        use super::*;
        crate::secrets_contract_tests!(secrets: MemorySecrets::new());
    }

    #[tokio::test]
    async fn versions_and_current_follow_the_writes() {
        let s = MemorySecrets::new();
        s.insert("k", "one");
        let first = s.current_version("k").unwrap();
        assert_eq!(first.len(), 36, "put uses a UUID version id");
        let v2 = "a".repeat(32);
        s.put_version("k", "two", &v2).await.unwrap();
        assert_eq!(s.versions("k"), vec![first.clone(), v2.clone()]);
        s.make_current("k", &first).await.unwrap();
        let versions = s.versions("k");
        assert_eq!(versions.len(), 3, "make_current writes a new version");
        assert_eq!(s.current_version("k").as_ref(), versions.last());
        assert_eq!(s.get("k").await.unwrap(), "one");
        assert_eq!(s.get_version("k", &first).await.unwrap(), "one");
        assert!(s.versions("none").is_empty());
    }

    #[tokio::test]
    async fn errors_are_the_adapters() {
        let s = MemorySecrets::new();
        assert!(matches!(s.get("x").await, Err(SecretError::NotFound(n)) if n == "x"));
        let id = "b".repeat(64);
        assert!(matches!(
            s.get_version("x", &id).await,
            Err(SecretError::NotFound(_))
        ));
        assert!(matches!(
            s.get_version("x", "short").await,
            Err(SecretError::Backend(_))
        ));
        assert!(matches!(
            s.put_version("x", "v", &"c".repeat(65)).await,
            Err(SecretError::Backend(_))
        ));
        assert!(
            s.versions("x").is_empty(),
            "a refused write creates nothing"
        );
        s.put_binary("x");
        assert!(matches!(s.get("x").await, Err(SecretError::Malformed(n)) if n == "x"));
        let binary = s.current_version("x").unwrap();
        assert!(matches!(
            s.get_version("x", &binary).await,
            Err(SecretError::Malformed(_))
        ));
        s.put("x", "{}").await.unwrap();
        assert_eq!(s.get("x").await.unwrap(), "{}");
    }
}
