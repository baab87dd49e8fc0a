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
