//! Which of our calls a callback is about.
//!
//! Outbound calls carry our `call_id` in the provider's metadata (trigger-call put it there).
//! Inbound calls carry nothing of ours: the provider's agent id names our agent and so the
//! account, and the first callback creates the call record, indexed by the provider's call id
//! so that every later (or concurrent) callback of that call finds the same record.

use crate::Deps;
use domain::callback::ProviderCallObject;
use domain::ids::CallId;
use domain::model::{Call, CallStatus, Direction};
use domain::ApiError;

pub enum Resolution {
    Call(Box<Call>),
    /// Nothing of ours: acknowledge, log, do nothing.
    Ignored(&'static str),
}

pub async fn resolve(obj: &ProviderCallObject, deps: &Deps) -> Result<Resolution, ApiError> {
    if let Some(call_id) = obj.our_call_id() {
        return outbound(call_id, obj, deps).await;
    }
    if !obj.is_inbound() {
        tracing::warn!(
            provider_call_id = %obj.call_id,
            "callback for an outbound call without our call id; not placed by us"
        );
        return Ok(Resolution::Ignored("unknown_call"));
    }
    inbound(obj, deps).await
}

async fn outbound(
    call_id: CallId,
    obj: &ProviderCallObject,
    deps: &Deps,
) -> Result<Resolution, ApiError> {
    let Some(call) = deps.store.call(call_id).await? else {
        tracing::warn!(%call_id, provider_call_id = %obj.call_id, "callback for an unknown call");
        return Ok(Resolution::Ignored("unknown_call"));
    };
    let account_differs = obj.our_account_id().is_some_and(|a| a != call.account_id);
    let provider_id_differs = call
        .provider_call_id
        .as_deref()
        .is_some_and(|p| p != obj.call_id);
    if account_differs || provider_id_differs {
        tracing::warn!(
            %call_id,
            provider_call_id = %obj.call_id,
            account_differs,
            provider_id_differs,
            "callback metadata does not match the call record"
        );
        return Ok(Resolution::Ignored("call_mismatch"));
    }
    Ok(Resolution::Call(Box::new(call)))
}

async fn inbound(obj: &ProviderCallObject, deps: &Deps) -> Result<Resolution, ApiError> {
    if let Some(id) = deps.store.call_id_by_provider_call(&obj.call_id).await? {
        return existing(id, deps).await;
    }
    let provider_agent = obj.agent_id.as_deref().unwrap_or("").trim();
    let agent = if provider_agent.is_empty() {
        None
    } else {
        deps.store.agent_by_provider_id(provider_agent).await?
    };
    let Some(agent) = agent else {
        tracing::warn!(
            provider_call_id = %obj.call_id,
            provider_agent_id = %provider_agent,
            "inbound callback for an unknown agent"
        );
        return Ok(Resolution::Ignored("unknown_agent"));
    };
    let now = deps.clock.now();
    let call = Call {
        provider_call_id: Some(obj.call_id.clone()),
        // Finished by the reconciler if the provider never reports its end.
        due_at: Some(now + deps.call_stale_after),
        ..Call::new(
            CallId::new_v4(),
            agent.account_id.clone(),
            agent.id,
            Direction::Inbound,
            // The provider has the call: the callback being applied moves it on from here.
            CallStatus::Dialing,
            obj.customer_number().unwrap_or_default(),
            now,
        )
    };
    let owner = deps.store.create_inbound_call(&call).await?;
    if owner == call.id {
        tracing::info!(call_id = %call.id, account_id = %call.account_id, "inbound call recorded");
        return Ok(Resolution::Call(Box::new(call)));
    }
    // A concurrent callback of the same call created the record first.
    existing(owner, deps).await
}

async fn existing(id: CallId, deps: &Deps) -> Result<Resolution, ApiError> {
    match deps.store.call(id).await? {
        Some(call) => Ok(Resolution::Call(Box::new(call))),
        None => Err(ApiError::internal(std::io::Error::other(format!(
            "provider call index points at missing call {id}"
        )))),
    }
}
