//! `SecretStore`: current and explicit versions, idempotent rewrites of a version that do
//! not move the current one, `make_current`, `NotFound` for unknown secrets and versions,
//! refused ids.

use super::{unique, Kept};
use domain::error::SecretError;
use domain::ports::secrets::SecretStore;
use uuid::Uuid;

fn not_found<T>(r: &Result<T, SecretError>) -> bool {
    matches!(r, Err(SecretError::NotFound(_)))
}

fn backend<T>(r: &Result<T, SecretError>) -> bool {
    matches!(r, Err(SecretError::Backend(_)))
}

/// A version id of 32 or more characters, fresh.
fn version_id() -> String {
    Uuid::new_v4().to_string()
}

/// A fresh secret with `v1` put, then `v2` and `v3` as explicit versions, `v3` current;
/// returns its name and the ids of `v2` and `v3`.
async fn three_versions(
    secrets: &dyn SecretStore,
) -> Result<(String, String, String), super::ContractError> {
    let name = unique("contract/secret");
    let (v2, v3) = (
        version_id(),
        format!("{}{}", Uuid::new_v4().simple(), "0000"),
    );
    secrets.put(&name, "v1").await?;
    secrets.put_version(&name, "v2", &v2).await?;
    secrets.put_version(&name, "v3", &v3).await?;
    Ok((name, v2, v3))
}

/// An unknown secret is `NotFound`.
pub async fn an_unknown_secret_is_not_found(secrets: &dyn SecretStore) -> Kept {
    let name = unique("contract/secret");
    ensure!(
        not_found(&secrets.get(&name).await),
        "get of an unknown secret"
    );
    Ok(())
}

/// `put` and `put_version` each make their value current; a version reads back by id.
pub async fn writes_move_the_current_value(secrets: &dyn SecretStore) -> Kept {
    let name = unique("contract/secret");
    secrets.put(&name, "v1").await?;
    ensure_eq!(secrets.get(&name).await?, "v1", "current after put");
    let v2 = version_id();
    secrets.put_version(&name, "v2", &v2).await?;
    ensure_eq!(secrets.get(&name).await?, "v2", "current after put_version");
    ensure_eq!(secrets.get_version(&name, &v2).await?, "v2", "version v2");
    Ok(())
}

/// The same version again with the same value is ignored, with another value refused; an
/// out-of-order rewrite of an old version does not make it current again.
pub async fn a_version_is_written_once(secrets: &dyn SecretStore) -> Kept {
    let name = unique("contract/secret");
    let (v2, v3) = (
        version_id(),
        format!("{}{}", Uuid::new_v4().simple(), "0000"),
    );
    secrets.put(&name, "v1").await?;
    secrets.put_version(&name, "v2", &v2).await?;
    secrets.put_version(&name, "v2", &v2).await?;
    ensure!(
        backend(&secrets.put_version(&name, "other", &v2).await),
        "reusing a version id with another value must be refused"
    );
    secrets.put_version(&name, "v3", &v3).await?;
    secrets.put_version(&name, "v2", &v2).await?;
    ensure_eq!(
        secrets.get(&name).await?,
        "v3",
        "current after a rewrite of an old version"
    );
    Ok(())
}

/// `make_current` makes an old version current (twice is fine); other versions stay
/// readable.
pub async fn make_current_moves_the_current_value(secrets: &dyn SecretStore) -> Kept {
    let (name, v2, v3) = three_versions(secrets).await?;
    secrets.make_current(&name, &v2).await?;
    ensure_eq!(
        secrets.get(&name).await?,
        "v2",
        "current after make_current"
    );
    ensure_eq!(
        secrets.get_version(&name, &v3).await?,
        "v3",
        "old versions stay readable"
    );
    // v2's value is current under a new id now, so v2 is written once more: still v2.
    secrets.make_current(&name, &v2).await?;
    ensure_eq!(secrets.get(&name).await?, "v2", "make_current twice");
    Ok(())
}

/// An unknown version, or a version of an unknown secret, is `NotFound`.
pub async fn unknown_versions_are_not_found(secrets: &dyn SecretStore) -> Kept {
    let (name, v2, _) = three_versions(secrets).await?;
    let unknown = version_id();
    ensure!(
        not_found(&secrets.get_version(&name, &unknown).await),
        "get_version of an unknown version"
    );
    ensure!(
        not_found(&secrets.make_current(&name, &unknown).await),
        "make_current of an unknown version"
    );
    ensure!(
        not_found(&secrets.make_current(&unique("contract/none"), &v2).await),
        "make_current of an unknown secret"
    );
    Ok(())
}

/// A version id shorter than 32 characters is refused.
pub async fn a_short_version_id_is_refused(secrets: &dyn SecretStore) -> Kept {
    let name = unique("contract/secret");
    secrets.put(&name, "v1").await?;
    ensure!(
        backend(&secrets.put_version(&name, "short", "too-short").await),
        "a version id shorter than 32 characters must be refused"
    );
    Ok(())
}

/// `put_version` on a secret that does not exist creates it with that version.
pub async fn put_version_creates_a_secret(secrets: &dyn SecretStore) -> Kept {
    let created = unique("contract/secret");
    let v3 = format!("{}{}", Uuid::new_v4().simple(), "0000");
    secrets.put_version(&created, "first", &v3).await?;
    ensure_eq!(
        secrets.get_version(&created, &v3).await?,
        "first",
        "created version"
    );
    Ok(())
}
