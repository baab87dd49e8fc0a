//! Counts the HTTP round trips an AWS SDK client makes, by operation, so tests can hold the
//! hot paths to their budget.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Default)]
pub struct CallCounter(Arc<Mutex<Vec<String>>>);

impl CallCounter {
    pub fn operations(&self) -> Vec<String> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
    pub fn count(&self) -> usize {
        self.operations().len()
    }
    pub fn reset(&self) {
        if let Ok(mut v) = self.0.lock() {
            v.clear();
        }
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_string())
            .unwrap_or_else(|| "unknown".into());
        if let Ok(mut v) = self.0.lock() {
            v.push(name);
        }
        Ok(())
    }
}

pub fn counting_dynamodb(
    config: &aws_config::SdkConfig,
) -> (aws_sdk_dynamodb::Client, CallCounter) {
    let counter = CallCounter::default();
    let conf = aws_sdk_dynamodb::config::Builder::from(config)
        .interceptor(counter.clone())
        .build();
    (aws_sdk_dynamodb::Client::from_conf(conf), counter)
}

pub fn counting_secrets(
    config: &aws_config::SdkConfig,
) -> (aws_sdk_secretsmanager::Client, CallCounter) {
    let counter = CallCounter::default();
    let conf = aws_sdk_secretsmanager::config::Builder::from(config)
        .interceptor(counter.clone())
        .build();
    (aws_sdk_secretsmanager::Client::from_conf(conf), counter)
}
