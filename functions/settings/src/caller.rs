//! Who is calling: the account named by the dashboard session's JWT.
//!
//! In AWS, API Gateway's JWT authorizer (template.yaml) verifies the token's signature, issuer,
//! audience and expiry before the function runs, and hands over the verified claims in
//! `requestContext.authorizer.jwt.claims`. This module trusts those claims and nothing else:
//! no header or body can name an account. No claims (or no account claim) is 401
//! `unauthenticated`; a claim naming an account that does not exist is 401 as well, because
//! the session does not belong to a known account (the page should sign in again); an account
//! whose plan lacks the integration is 403 `plan_required`, on every route.

use crate::Deps;
use domain::ids::AccountId;
use domain::model::Account;
use domain::ApiError;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

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

/// The caller's account, checked: it exists and its plan includes the integration.
pub async fn account(req: &Request, deps: &Deps) -> Result<Account, ApiError> {
    let id = account_id(req, &deps.account_claim)?;
    let account = deps.store.account(&id).await?.ok_or_else(|| {
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
