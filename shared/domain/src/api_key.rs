//! API keys: generated from the OS CSPRNG, shown once, stored only as a SHA-256.

use base64::Engine;

/// Fixed, recognisable prefix so secret scanners (and humans) can spot a leaked key.
pub const KEY_PREFIX: &str = "bvai_live_";

/// A freshly generated key. The plaintext lives only in this value, the one response that
/// returns it, and Secrets Manager.
pub struct NewApiKey {
    pub plaintext: String,
    pub hash: String,
    pub last4: String,
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey")
            .field("plaintext", &"<redacted>")
            .field("hash", &self.hash)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomError(String);

impl RandomError {
    pub(crate) fn new(reason: String) -> Self {
        RandomError(reason)
    }
}

/// 32 random bytes (256 bits) as unpadded base64url after the prefix.
pub fn generate() -> Result<NewApiKey, RandomError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
    let plaintext = format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let last4 = plaintext[plaintext.len() - 4..].to_string();
    Ok(NewApiKey {
        hash: hash(&plaintext),
        last4,
        plaintext,
    })
}

/// The lookup key of an API key: lowercase hex SHA-256 of its exact bytes.
pub fn hash(key: &str) -> String {
    crate::signature::sha256_hex(key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_random_and_hashed() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert!(a.plaintext.starts_with(KEY_PREFIX));
        assert_eq!(a.plaintext.len(), KEY_PREFIX.len() + 43);
        assert_ne!(a.plaintext, b.plaintext);
        assert_eq!(a.hash, hash(&a.plaintext));
        assert_eq!(a.hash.len(), 64);
        assert!(a.plaintext.ends_with(&a.last4));
        assert!(!format!("{a:?}").contains(&a.plaintext));
    }
}
