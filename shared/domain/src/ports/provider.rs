//! The voice provider port (the adapter is `outbound::RetellClient`; the contract we rely on is
//! docs/voice-provider.md).

use async_trait::async_trait;
use port_macro::port;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What we ask the provider to do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreatePhoneCall {
    pub from_number: String,
    pub to_number: String,
    pub override_agent_id: String,
    /// Our `call_id` and `account_id`, so callbacks map back to our call.
    pub metadata: serde_json::Value,
    /// Only `name` and `email`: they reach the agent's prompt, so nothing secret.
    pub retell_llm_dynamic_variables: serde_json::Map<String, serde_json::Value>,
}

/// The part of the provider's call object we read on creation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProviderCall {
    pub call_id: String,
    #[serde(default)]
    pub call_status: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("provider timed out after {0:?}")]
    Timeout(Duration),
    /// No connection could be made: the request was never sent.
    #[error("provider unreachable: {0}")]
    Connect(String),
    /// The connection failed after the request may have been sent (a reset, a closed stream).
    #[error("provider connection failed: {0}")]
    Transport(String),
    #[error("provider answered HTTP {status}: {excerpt}")]
    Status { status: u16, excerpt: String },
    #[error("provider answered with an unreadable body: {0}")]
    Body(String),
}

impl ProviderError {
    /// True only for an answer that proves no call was placed: the request never left (no
    /// connection) or the provider refused it (4xx). Everything else (a timeout after sending,
    /// a reset, a 5xx, an unreadable 2xx) leaves the outcome unknown: the call may ring.
    pub fn proves_not_placed(&self) -> bool {
        match self {
            ProviderError::Connect(_) => true,
            ProviderError::Status { status, .. } => (400..500).contains(status),
            ProviderError::Timeout(_) | ProviderError::Transport(_) | ProviderError::Body(_) => {
                false
            }
        }
    }

    /// The stable reason stored on the call record and shown to the customer
    /// (`failure_reason`): a code and, for an HTTP refusal, its status. Never the provider's
    /// own words, which may carry internal detail; those go to [`ProviderError::detail`].
    pub fn reason(&self) -> String {
        match self {
            ProviderError::Timeout(_) => "provider_timeout".to_string(),
            ProviderError::Connect(_) => "provider_unreachable".to_string(),
            ProviderError::Transport(_) => "provider_connection_lost".to_string(),
            ProviderError::Status { status, .. } => format!("provider_http_{status}"),
            ProviderError::Body(_) => "provider_bad_response".to_string(),
        }
    }

    /// The whole error (the provider's error body included) scrubbed for a log line.
    pub fn detail(&self) -> String {
        crate::scrub::scrub(&self.to_string())
    }
}

#[port]
#[async_trait]
pub trait VoiceProvider: Send + Sync {
    async fn create_phone_call(&self, req: &CreatePhoneCall)
        -> Result<ProviderCall, ProviderError>;
}
