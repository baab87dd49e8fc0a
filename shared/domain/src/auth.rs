//! Bearer API key authentication for the public API.

use crate::api_key;
use crate::error::ApiError;
use crate::model::KeyGrant;
use crate::ports::store::AccountStore;

/// Resolves `Authorization: Bearer <key>` to the account's grant. Each refusal has its own
/// code; none says anything about the account beyond what the caller already knows.
pub async fn authenticate(
    authorization: Option<&str>,
    store: &dyn AccountStore,
) -> Result<KeyGrant, ApiError> {
    let header = authorization.ok_or(ApiError::MissingApiKey)?;
    let (scheme, token) = header
        .trim()
        .split_once(' ')
        .ok_or(ApiError::InvalidAuthScheme)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::InvalidAuthScheme);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(ApiError::InvalidApiKey);
    }
    let grant = store
        .key_grant(&api_key::hash(token))
        .await?
        .ok_or(ApiError::InvalidApiKey)?;
    if !grant.plan.has_api_access() {
        return Err(ApiError::PlanRequired);
    }
    if !grant.api_enabled {
        return Err(ApiError::ApiAccessDisabled);
    }
    Ok(grant)
}
