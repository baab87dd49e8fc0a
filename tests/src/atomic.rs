//! moto applies concurrent requests without isolation: two conditional transactions checked
//! against the same version can both pass, and a cancelled transaction can restore a snapshot
//! over writes committed meanwhile. DynamoDB serialises conflicting writes and never does
//! either. Tests about racing writers therefore reach the emulator through this HTTP client,
//! which lets one request through at a time: every request becomes atomic, as in DynamoDB,
//! while the racing tasks still interleave request by request.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct OneRequestAtATime {
    inner: SharedHttpClient,
    turn: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug)]
pub struct OneRequestAtATimeConnector {
    inner: SharedHttpConnector,
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl HttpClient for OneRequestAtATime {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(OneRequestAtATimeConnector {
            inner: self.inner.http_connector(settings, components),
            turn: self.turn.clone(),
        })
    }
}

impl HttpConnector for OneRequestAtATimeConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, turn) = (self.inner.clone(), self.turn.clone());
        HttpConnectorFuture::new(async move {
            let _turn = turn.lock().await;
            inner.call(request).await
        })
    }
}

/// A DynamoDB-faithful (one request at a time) HTTP client for the emulator.
pub fn one_request_at_a_time() -> OneRequestAtATime {
    // The functions' own transport (reqwest on the shared root store), one request at a time.
    let inner = SharedHttpClient::new(aws_adapters::http_client::SdkHttpClient::new());
    OneRequestAtATime {
        inner,
        turn: Arc::new(tokio::sync::Mutex::new(())),
    }
}

/// A DynamoDB client on the emulator whose requests are atomic.
pub fn atomic_dynamodb(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    let conf = aws_sdk_dynamodb::config::Builder::from(config)
        .http_client(one_request_at_a_time())
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}
