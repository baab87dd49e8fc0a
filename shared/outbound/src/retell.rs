//! The Retell-compatible adapter of the voice provider port (docs/voice-provider.md).

use async_trait::async_trait;
use domain::ports::provider::*;
use std::time::Duration;

/// Retell's `POST /v2/create-phone-call`.
#[derive(Clone)]
pub struct RetellClient {
    http: reqwest::Client,
    base_url: String,
    api_key: String,
    timeout: Duration,
}

impl std::fmt::Debug for RetellClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetellClient")
            .field("base_url", &self.base_url)
            .finish()
    }
}

impl RetellClient {
    pub fn new(
        base_url: &str,
        api_key: String,
        timeout: Duration,
    ) -> Result<Self, crate::BuildError> {
        Ok(RetellClient::with_http(
            RetellClient::http(timeout)?,
            base_url,
            api_key,
            timeout,
        ))
    }

    /// The HTTP client alone: a cold start builds it while the provider secret is fetched.
    pub fn http(timeout: Duration) -> Result<reqwest::Client, crate::BuildError> {
        Ok(reqwest::Client::builder()
            .tls_backend_preconfigured(tls_roots::client_config()?)
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("BuildVoiceAI/", env!("CARGO_PKG_VERSION")))
            .build()?)
    }

    /// The client around an HTTP client from [`RetellClient::http`].
    pub fn with_http(
        http: reqwest::Client,
        base_url: &str,
        api_key: String,
        timeout: Duration,
    ) -> RetellClient {
        RetellClient {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key,
            timeout,
        }
    }
}

const EXCERPT_BYTES: usize = 200;

#[async_trait]
impl VoiceProvider for RetellClient {
    async fn create_phone_call(
        &self,
        req: &CreatePhoneCall,
    ) -> Result<ProviderCall, ProviderError> {
        let res = self
            .http
            .post(format!("{}/v2/create-phone-call", self.base_url))
            .bearer_auth(&self.api_key)
            .json(req)
            .send()
            .await
            .map_err(|e| {
                // No connection, so nothing was sent: the one transport failure that proves
                // the call was not placed. Checked first: a connect timeout is both.
                if e.is_connect() {
                    ProviderError::Connect(e.without_url().to_string())
                } else if e.is_timeout() {
                    ProviderError::Timeout(self.timeout)
                } else {
                    ProviderError::Transport(e.without_url().to_string())
                }
            })?;
        let status = res.status();
        let bytes = res.bytes().await.map_err(|e| {
            if e.is_timeout() {
                ProviderError::Timeout(self.timeout)
            } else {
                ProviderError::Body(e.without_url().to_string())
            }
        })?;
        if !status.is_success() {
            let text =
                String::from_utf8_lossy(&bytes[..bytes.len().min(EXCERPT_BYTES)]).to_string();
            return Err(ProviderError::Status {
                status: status.as_u16(),
                excerpt: text,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ProviderError::Body(e.to_string()))
    }
}
