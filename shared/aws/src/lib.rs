//! The AWS adapters of the domain's ports: DynamoDB (`dynamo`, one module per aggregate),
//! SQS (`sqs`), Secrets Manager (`secrets_manager`), and the SDK configuration (`sdk`).

pub mod dynamo;
pub mod sdk;
pub mod secrets_manager;
pub mod sqs;

pub use dynamo::DynamoStore;
pub use sdk::sdk_config;
pub use secrets_manager::SecretsManager;
pub use sqs::SqsQueue;
