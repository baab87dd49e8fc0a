//! The AWS adapters of the domain's ports: DynamoDB (`dynamo`, one module per aggregate),
//! SQS (`sqs`), Secrets Manager (`secrets_manager`), and the SDK configuration (`sdk`).

pub mod dynamo;
pub mod http_client;
pub mod sdk;
pub mod secrets_manager;
pub mod sqs;

pub use dynamo::DynamoStore;
pub use sdk::{lambda_sdk_config, sdk_config};
pub use secrets_manager::SecretsManager;
pub use sqs::SqsQueue;

/// The adapters a function builds once per cold start, from the one SDK configuration.
impl DynamoStore {
    pub fn from_sdk(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> DynamoStore {
        DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table)
    }
}

impl SqsQueue {
    pub fn from_sdk(sdk: &aws_config::SdkConfig, queue_url: impl Into<String>) -> SqsQueue {
        SqsQueue::new(aws_sdk_sqs::Client::new(sdk), queue_url)
    }
}

impl SecretsManager {
    pub fn from_sdk(sdk: &aws_config::SdkConfig) -> SecretsManager {
        SecretsManager::new(aws_sdk_secretsmanager::Client::new(sdk))
    }
}
