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
//! - request bodies are in memory (the services we call take JSON bodies); a streaming body
//!   is refused as a user error rather than sent half.

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
            .tls_backend_preconfigured(tls.as_ref().clone())
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
        let prepared = self.owner.client(self.timeouts).and_then(|client| {
            let request = to_reqwest(request)?;
            Ok(client.execute(request))
        });
        HttpConnectorFuture::new(async move {
            let response = prepared?.await.map_err(classify)?;
            from_reqwest(response).await
        })
    }
}

fn to_reqwest(request: HttpRequest) -> Result<reqwest::Request, ConnectorError> {
    let request = request
        .try_into_http1x()
        .map_err(|e| ConnectorError::user(e.into()))?;
    let (parts, body) = request.into_parts();
    let Some(bytes) = body.bytes() else {
        return Err(ConnectorError::user(
            "a streaming request body (this client sends in-memory bodies only)".into(),
        ));
    };
    let bytes = bytes::Bytes::copy_from_slice(bytes);
    reqwest::Request::try_from(http::Request::from_parts(parts, bytes))
        .map_err(|e| ConnectorError::user(e.into()))
}

async fn from_reqwest(response: reqwest::Response) -> Result<HttpResponse, ConnectorError> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(classify)?;
    let mut out = http::Response::new(SdkBody::from(body));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    HttpResponse::try_from(out).map_err(|e| ConnectorError::other(e.into(), None))
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
