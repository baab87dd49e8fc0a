//! Bearer API key authentication for the public API.

use crate::api_key;
use crate::error::ApiError;
use crate::model::KeyGrant;
use crate::ports::store::AccountStore;
use crate::rate_limit::{self, RateStatus};
use chrono::{DateTime, Utc};

/// The key of an `Authorization: Bearer <key>` header, or the refusal (no I/O).
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, ApiError> {
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
    Ok(token)
}

/// Resolves `Authorization: Bearer <key>` to the account's grant and counts the request
/// against the key's per-minute limit (the account's own, set by an operator, or
/// `default_limit`), in the one store request that reads the grant. Each refusal has its own
/// code; none says anything about the account beyond what the caller already knows. Past the
/// limit: 429 `rate_limited`.
pub async fn authenticate(
    authorization: Option<&str>,
    store: &dyn AccountStore,
    now: DateTime<Utc>,
    default_limit: u32,
) -> Result<(KeyGrant, RateStatus), ApiError> {
    let token = bearer_token(authorization)?;
    let window = rate_limit::window(now);
    let (grant, uses) = store
        .use_key(&api_key::hash(token), window.minute)
        .await?
        .ok_or(ApiError::InvalidApiKey)?;
    if !grant.plan.has_api_access() {
        return Err(ApiError::PlanRequired);
    }
    if grant.guardrails.suspended.is_some() {
        return Err(ApiError::AccountSuspended);
    }
    if !grant.api_enabled {
        return Err(ApiError::ApiAccessDisabled);
    }
    let limit = grant
        .guardrails
        .rate_limit_per_minute
        .unwrap_or(default_limit);
    let status = rate_limit::judge(uses, limit, window)?;
    Ok((grant, status))
}
