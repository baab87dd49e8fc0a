//! The AWS SDK's HTTP client: reqwest, the same client stack and root store the outbound
//! clients use (issue 14, docs/benchmarks.md).
//!
//! Without it every function linked two HTTP clients: the SDK's own (aws-smithy-http-client:
//! hyper-util's pooled client, hyper-rustls, and h2 for HTTP/2, which none of DynamoDB, SQS
//! or Secrets Manager needs) beside reqwest, and loaded the platform's root certificates
//! twice. The functions are now built without the SDK's `default-https-client` feature and
//! hand it this client in [`crate::sdk_config`].
//!
//! What the SDK expects of a client, kept here:
//!
//! - its connect and read timeouts (`HttpConnectorSettings`) are applied; one reqwest client
//!   per distinct pair, built on first use and pooled;
//! - transport failures are classified the way its retry strategy reads them: a timeout is a
//!   timeout, a failure to connect or to send or read is I/O (transient, retried), anything
//!   else is "other";
//! - the request body is read through the SDK's body, as its own client polls it, so that
//!   its stalled-stream protection of uploads sees it read (read at once into memory: the
//!   services we call take small JSON bodies); without that, every request longer than the
//!   protection's grace period (an SQS long poll) failed as a stalled upload;
//! - the response body is handed over unread, as a stream: the SDK reads it, so a body cut
//!   short is retried and a stalled one is caught by its stalled-stream protection, as with
//!   its own client.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Timeouts = (Option<Duration>, Option<Duration>);

/// The SDK's HTTP client (see the module doc). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct SdkHttpClient {
    clients: Arc<Mutex<Vec<(Timeouts, reqwest::Client)>>>,
}

impl SdkHttpClient {
    pub fn new() -> SdkHttpClient {
        SdkHttpClient::default()
    }

    fn client(&self, timeouts: Timeouts) -> Result<reqwest::Client, ConnectorError> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, c)) = clients.iter().find(|(t, _)| *t == timeouts) {
            return Ok(c.clone());
        }
        let tls = tls_roots::client_config().map_err(|e| ConnectorError::other(e.into(), None))?;
        let mut b = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if let Some(t) = timeouts.0 {
            b = b.connect_timeout(t);
        }
        if let Some(t) = timeouts.1 {
            b = b.read_timeout(t);
        }
        let c = b
            .build()
            .map_err(|e| ConnectorError::other(e.into(), None))?;
        clients.push((timeouts, c.clone()));
        Ok(c)
    }
}

impl HttpClient for SdkHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Connector {
            owner: self.clone(),
            timeouts: (settings.connect_timeout(), settings.read_timeout()),
        })
    }
}

#[derive(Debug)]
struct Connector {
    owner: SdkHttpClient,
    timeouts: Timeouts,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let owner = self.owner.clone();
        let timeouts = self.timeouts;
        HttpConnectorFuture::new(async move {
            let request = to_reqwest(request).await?;
            let response = owner
                .client(timeouts)?
                .execute(request)
                .await
                .map_err(classify)?;
            from_reqwest(response)
        })
    }
}

/// The request with its body read through the SDK's own body (so that what wraps it, such as
/// the stalled-stream protection of uploads, sees it read) and sent with a known length.
async fn to_reqwest(request: HttpRequest) -> Result<reqwest::Request, ConnectorError> {
    use http_body_util::BodyExt;
    let request = request
        .try_into_http1x()
        .map_err(|e| ConnectorError::user(e.into()))?;
    let (parts, body) = request.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(ConnectorError::user)?
        .to_bytes();
    reqwest::Request::try_from(http::Request::from_parts(parts, bytes))
        .map_err(|e| ConnectorError::user(e.into()))
}

/// The response with its body unread: the SDK reads it itself, as from its own client, so
/// that a body cut short is a response error its retry strategy retries, and a stalled body
/// meets its stalled-stream protection.
fn from_reqwest(response: reqwest::Response) -> Result<HttpResponse, ConnectorError> {
    let response = http::Response::from(response).map(SdkBody::from_body_1_x);
    HttpResponse::try_from(response).map_err(|e| ConnectorError::other(e.into(), None))
}

/// How the SDK's retry strategy should read a transport failure.
fn classify(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(e.into())
    } else if e.is_connect() || e.is_request() || e.is_body() {
        ConnectorError::io(e.into())
    } else if e.is_builder() {
        ConnectorError::user(e.into())
    } else {
        ConnectorError::other(e.into(), None)
    }
}
