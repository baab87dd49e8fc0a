//! Ports: the traits the functions depend on. Their adapters live in `aws_adapters` (DynamoDB,
//! SQS, Secrets Manager), `outbound` (the voice provider) and `in_memory` (every port, for
//! rule tests).

pub mod provider;
pub mod queue;
pub mod secrets;
pub mod store;
