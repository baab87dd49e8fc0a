//! `ScriptedProvider`: the voice provider in memory, answering what the test scripted.

use async_trait::async_trait;
use domain::ports::provider::{CreatePhoneCall, ProviderCall, ProviderError, VoiceProvider};
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

/// The in-memory [`VoiceProvider`]. Every request is recorded. Each request takes the next
/// scripted answer; when the script is empty it answers like a provider that accepted the call:
/// a fresh provider call id (`call_` and 32 hex digits) with status `registered`.
#[derive(Debug, Default)]
pub struct ScriptedProvider {
    state: Mutex<ProviderState>,
}

#[derive(Debug, Default)]
struct ProviderState {
    script: VecDeque<Result<ProviderCall, ProviderError>>,
    requests: Vec<CreatePhoneCall>,
}

impl ScriptedProvider {
    pub fn new() -> Self {
        ScriptedProvider::default()
    }

    fn state(&self) -> MutexGuard<'_, ProviderState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one answer to the script.
    pub fn then(&self, answer: Result<ProviderCall, ProviderError>) -> &Self {
        self.state().script.push_back(answer);
        self
    }

    /// Appends an accepted call with this provider call id.
    pub fn then_ok(&self, provider_call_id: impl Into<String>) -> &Self {
        self.then(Ok(ProviderCall {
            call_id: provider_call_id.into(),
            call_status: Some("registered".into()),
        }))
    }

    /// Appends a failure (`Timeout`, `Connect`, `Status`, `Body`).
    pub fn then_err(&self, error: ProviderError) -> &Self {
        self.then(Err(error))
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<CreatePhoneCall> {
        self.state().requests.clone()
    }

    pub fn request_count(&self) -> usize {
        self.state().requests.len()
    }

    /// Scripted answers not used yet.
    pub fn remaining_script(&self) -> usize {
        self.state().script.len()
    }
}

#[async_trait]
impl VoiceProvider for ScriptedProvider {
    async fn create_phone_call(
        &self,
        req: &CreatePhoneCall,
    ) -> Result<ProviderCall, ProviderError> {
        let mut s = self.state();
        s.requests.push(req.clone());
        s.script.pop_front().unwrap_or_else(|| {
            Ok(ProviderCall {
                call_id: format!("call_{}", uuid::Uuid::new_v4().simple()),
                call_status: Some("registered".into()),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn request(to: &str) -> CreatePhoneCall {
        CreatePhoneCall {
            from_number: "+14155550100".into(),
            to_number: to.into(),
            override_agent_id: "agent_1".into(),
            metadata: serde_json::json!({}),
            retell_llm_dynamic_variables: serde_json::Map::new(),
        }
    }

    #[tokio::test]
    async fn answers_the_script_then_accepts_with_fresh_ids() {
        let p = ScriptedProvider::new();
        p.then_err(ProviderError::Timeout(Duration::from_secs(10)))
            .then_err(ProviderError::Status {
                status: 422,
                excerpt: "bad number".into(),
            })
            .then_ok("call_fixed");
        assert!(matches!(
            p.create_phone_call(&request("+1")).await,
            Err(ProviderError::Timeout(_))
        ));
        assert!(matches!(
            p.create_phone_call(&request("+2")).await,
            Err(ProviderError::Status { status: 422, .. })
        ));
        assert_eq!(
            p.create_phone_call(&request("+3")).await.unwrap().call_id,
            "call_fixed"
        );
        let a = p.create_phone_call(&request("+4")).await.unwrap();
        let b = p.create_phone_call(&request("+5")).await.unwrap();
        assert_ne!(a.call_id, b.call_id);
        assert!(a.call_id.starts_with("call_"));
        assert_eq!(p.request_count(), 5);
        assert_eq!(p.remaining_script(), 0);
        let to: Vec<_> = p.requests().into_iter().map(|r| r.to_number).collect();
        assert_eq!(to, ["+1", "+2", "+3", "+4", "+5"]);
    }
}
