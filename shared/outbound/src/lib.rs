//! Outbound HTTP adapters: the voice provider's client (`retell`) and the guarded webhook
//! client (`webhook_client`) that signs nothing itself and refuses non-public addresses.

pub mod retell;
pub mod webhook_client;

pub use retell::RetellClient;
pub use webhook_client::WebhookClient;

/// Why an outbound client could not be built (a startup error).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Tls(#[from] tls_roots::TlsError),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}
