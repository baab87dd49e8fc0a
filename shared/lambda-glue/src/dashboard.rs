//! Who is calling a dashboard route: the account named by the dashboard session's JWT. The
//! settings API's routes and trigger-call's calling-rules check (`template.yaml`: the
//! `DashboardJwt` authorizer) identify their caller here, and count it against the account's
//! per-minute limits, one way for both functions.
//!
//! In AWS, API Gateway's JWT authorizer (template.yaml) verifies the token's signature, issuer,
//! audience and expiry before the function runs, and hands over the verified claims in
//! `requestContext.authorizer.jwt.claims`. This module trusts those claims and nothing else:
//! no header or body can name an account. No claims (or no account claim) is 401
//! `unauthenticated`; a claim naming an account that does not exist is 401 as well, because
//! the session does not belong to a known account (the page should sign in again); an account
//! whose plan lacks the integration is 403 `plan_required`, on every route.

use chrono::{DateTime, Utc};
use domain::config::{self, Env, Unset, Var};
use domain::error::ConfigError;
use domain::ids::AccountId;
use domain::model::Account;
use domain::ports::store::AccountStore;
use domain::rate_limit::{self, RateStatus, Scope};
use domain::ApiError;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

/// The claim naming the caller's account (`ACCOUNT_ID_CLAIM`): declared here once for every
/// function that serves a dashboard route, each listing it in its `Config::VARS`.
pub const CLAIM_VAR: Var = Var {
    name: config::ACCOUNT_ID_CLAIM,
    unset: Unset::Default(config::DEFAULT_ACCOUNT_ID_CLAIM),
    meaning: "the JWT claim holding the dashboard user's account id",
};

/// The dashboard's requests per minute per account (`SETTINGS_RATE_LIMIT_PER_MINUTE`), counted
/// in one window by every function that serves a dashboard route.
pub const RATE_LIMIT_VAR: Var = Var {
    name: config::SETTINGS_RATE_LIMIT_PER_MINUTE,
    unset: Unset::Default("120"),
    meaning: "settings API requests per minute per account; the calling-rules check counts as one",
};

/// [`CLAIM_VAR`] from `env`.
pub fn claim_from_env(env: &Env) -> String {
    env.optional(config::ACCOUNT_ID_CLAIM)
        .unwrap_or_else(|| config::DEFAULT_ACCOUNT_ID_CLAIM.to_string())
}

/// [`RATE_LIMIT_VAR`] from `env`.
pub fn rate_limit_from_env(env: &Env) -> Result<u32, ConfigError> {
    config::per_minute(
        env,
        config::SETTINGS_RATE_LIMIT_PER_MINUTE,
        rate_limit::DEFAULT_SETTINGS_PER_MINUTE,
    )
}

/// Longest account id accepted from a claim.
const MAX_ACCOUNT_ID_CHARS: usize = 128;

/// The account id claim of the authorizer's context, if the request has a usable one.
///
/// Ids are limited to printable ASCII without `#` (the table's key separator) and at most
/// [`MAX_ACCOUNT_ID_CHARS`] characters; anything else is treated as no claim.
pub fn account_id(req: &Request, claim: &str) -> Result<AccountId, ApiError> {
    let claims = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| &jwt.claims),
        _ => None,
    };
    let id = claims
        .and_then(|c| c.get(claim))
        .map(|v| v.trim())
        .filter(|v| is_valid_account_id(v))
        .ok_or(ApiError::Unauthenticated)?;
    Ok(AccountId::new(id))
}

fn is_valid_account_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ACCOUNT_ID_CHARS
        && id.bytes().all(|b| b.is_ascii_graphic() && b != b'#')
}

/// The caller's account, checked: it exists and its plan includes the integration. `claim`
/// names the JWT claim holding the account id (`ACCOUNT_ID_CLAIM`).
pub async fn account(
    req: &Request,
    store: &dyn AccountStore,
    claim: &str,
) -> Result<Account, ApiError> {
    let id = account_id(req, claim)?;
    let account = store.account(&id).await?.ok_or_else(|| {
        tracing::info!(account_id = %id, "session names an unknown account");
        ApiError::Unauthenticated
    })?;
    require_plan(&account)?;
    Ok(account)
}

/// 403 `plan_required` unless the account's plan includes the integration.
pub fn require_plan(account: &Account) -> Result<(), ApiError> {
    if account.plan.has_api_access() {
        Ok(())
    } else {
        Err(ApiError::PlanRequired)
    }
}

/// Counts the request against each of the account's per-minute `limits` (the settings limit,
/// `SETTINGS_RATE_LIMIT_PER_MINUTE`, on every dashboard route; a costly route also its own),
/// one store request each: the status to show (the tightest), or 429 `rate_limited` past any.
pub async fn count(
    store: &dyn AccountStore,
    account_id: &AccountId,
    now: DateTime<Utc>,
    limits: &[(Scope, u32)],
) -> Result<RateStatus, ApiError> {
    let window = rate_limit::window(now);
    let mut tightest: Option<RateStatus> = None;
    for &(scope, limit) in limits {
        let uses = store
            .count_use(account_id, scope.as_str(), window.minute)
            .await?;
        let status = rate_limit::judge(uses, limit, window)?;
        if tightest.is_none_or(|t| status.remaining < t.remaining) {
            tightest = Some(status);
        }
    }
    tightest.ok_or_else(|| ApiError::internal(std::io::Error::other("no rate limit scope")))
}

/// The caller of a dashboard route, identified ([`account`]) and counted ([`count`]).
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: Account,
    /// For the answer's `RateLimit-*` headers.
    pub rate: RateStatus,
}

/// Identifies the caller and counts the request against `limits`: what every dashboard route
/// does before it runs. Requests refused before the account is known (401, 403
/// `plan_required`) are not counted.
pub async fn caller(
    req: &Request,
    store: &dyn AccountStore,
    claim: &str,
    now: DateTime<Utc>,
    limits: &[(Scope, u32)],
) -> Result<Caller, ApiError> {
    let account = account(req, store, claim).await?;
    let rate = count(store, &account.id, now, limits).await?;
    Ok(Caller { account, rate })
}

/// 403 `account_suspended` for a suspended account: it may read its settings (the page shows
/// the suspension) and do nothing else.
pub fn refuse_suspended(account: &Account) -> Result<(), ApiError> {
    match account.guardrails.suspended {
        Some(_) => Err(ApiError::AccountSuspended),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_plain() {
        assert!(is_valid_account_id("acct_01"));
        assert!(is_valid_account_id("4b0d6c1e-8a57-4c1e-9a0e-2f3b5d7c9e11"));
        assert!(!is_valid_account_id(""));
        assert!(!is_valid_account_id("a#b"));
        assert!(!is_valid_account_id("a b"));
        assert!(!is_valid_account_id("ä"));
        assert!(!is_valid_account_id(&"a".repeat(129)));
    }
}
