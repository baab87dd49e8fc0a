//! Creates, in the emulator, what `template.yaml` creates in AWS: the table, the events queue
//! and the retries queue with their dead-letter queue and redrive policy, and the provider secret. Every step is
//! "create if missing", so running it against a live emulator twice changes nothing.

use aws_adapters::DynamoStore;
use aws_adapters::SecretsManager;
use aws_config::SdkConfig;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata as _;
use aws_sdk_sqs::types::QueueAttributeName;
use domain::config::Env;
use domain::error::ConfigError;
use domain::ports::secrets::{ProviderSecret, SecretStore};
use std::collections::HashMap;

/// The events queue's redrive threshold, as in `template.yaml` (`EventsQueue.RedrivePolicy`).
/// It does not count delivery attempts (those travel in the message body); it only catches
/// messages the delivery function itself keeps failing on.
pub const MAX_RECEIVE_COUNT: u32 = 12;
/// The events queue's visibility timeout in seconds, as in `template.yaml`.
pub const VISIBILITY_TIMEOUT_SECONDS: u32 = 190;
/// Retention of the events queue (4 days) and of the DLQ (14 days), as in `template.yaml`.
pub const QUEUE_RETENTION_SECONDS: u32 = 345_600;
pub const DLQ_RETENTION_SECONDS: u32 = 1_209_600;

/// The functions' SDK configuration (`aws_adapters::lambda_sdk_config`) for the emulator at
/// `endpoint`: the launcher's variables (`emulator::sdk_environment`), its removed ones blank
/// (an empty value is unset), nothing from this process's environment. The tests'
/// `Emulator` and `bench-cold` use it.
///
/// One difference: the SDK's attempt and operation timeouts are longer than Lambda's (10 s and
/// 30 s, against 2 s and 5 s), because one emulator process serves every test of a parallel
/// run on a small machine and can answer seconds late under that load; a stall is tested
/// with the production values against a hanging endpoint (`tests/it/sdk_http.rs`).
pub fn emulator_sdk_config(endpoint: &str) -> Result<SdkConfig, ConfigError> {
    let env = Env::default()
        .with_all(emulator::sdk_environment(endpoint))
        .with_all(emulator::SDK_VARIABLES_REMOVED.map(|k| (k, "")))
        .with(domain::config::SDK_ATTEMPT_TIMEOUT_MS, "10000")
        .with(domain::config::SDK_OPERATION_TIMEOUT_MS, "30000");
    aws_adapters::lambda_sdk_config(&env)
}

/// Names of the resources to ensure.
#[derive(Debug, Clone)]
pub struct ResourceNames {
    pub table: String,
    pub queue: String,
    pub dead_letter_queue: String,
    pub provider_secret: String,
}

impl ResourceNames {
    /// The local stack's fixed names.
    pub fn local() -> ResourceNames {
        ResourceNames {
            table: "bvai-local".into(),
            queue: "bvai-local-events".into(),
            dead_letter_queue: "bvai-local-events-dlq".into(),
            provider_secret: "buildvoiceai/local/provider".into(),
        }
    }

    /// The retries lane's queue: the events queue's name with `-retries`.
    pub fn retries_queue(&self) -> String {
        format!("{}-retries", self.queue)
    }
}

/// What exists after [`ensure`].
#[derive(Debug, Clone)]
pub struct Resources {
    pub table: String,
    pub queue_url: String,
    pub queue_arn: String,
    /// The retries lane's queue (`ResourceNames::retries_queue`).
    pub retries_queue_url: String,
    pub dead_letter_queue_url: String,
    pub dead_letter_queue_arn: String,
    pub provider_secret_name: String,
    /// The provider secret as stored (an existing secret wins over the key passed in).
    pub provider_secret: ProviderSecret,
}

#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    #[error("table {table}: {message}")]
    Table { table: String, message: String },
    #[error("queue {queue}: {message}")]
    Queue { queue: String, message: String },
    #[error("secret {name}: {message}")]
    Secret { name: String, message: String },
}

/// Creates whatever is missing. `provider_key` is used only if the provider secret does not
/// exist yet.
pub async fn ensure(
    sdk: &SdkConfig,
    names: &ResourceNames,
    provider_key: &str,
) -> Result<Resources, ResourceError> {
    DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), &names.table)
        .create_table()
        .await
        .map_err(|e| ResourceError::Table {
            table: names.table.clone(),
            message: e.to_string(),
        })?;

    let sqs = aws_sdk_sqs::Client::new(sdk);
    let (dlq_url, dlq_arn) = queue(
        &sqs,
        &names.dead_letter_queue,
        HashMap::from([(
            QueueAttributeName::MessageRetentionPeriod,
            DLQ_RETENTION_SECONDS.to_string(),
        )]),
    )
    .await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": MAX_RECEIVE_COUNT,
    })
    .to_string();
    let attributes = HashMap::from([
        (
            QueueAttributeName::VisibilityTimeout,
            VISIBILITY_TIMEOUT_SECONDS.to_string(),
        ),
        (
            QueueAttributeName::MessageRetentionPeriod,
            QUEUE_RETENTION_SECONDS.to_string(),
        ),
        (QueueAttributeName::RedrivePolicy, redrive),
    ]);
    let (queue_url, queue_arn) = queue(&sqs, &names.queue, attributes.clone()).await?;
    // An existing queue gets the template's settings too (they are idempotent to set).
    sqs.set_queue_attributes()
        .queue_url(&queue_url)
        .set_attributes(Some(attributes.clone()))
        .send()
        .await
        .map_err(|e| ResourceError::Queue {
            queue: names.queue.clone(),
            message: describe(e.code(), e.message(), &e),
        })?;

    // The retries lane (template.yaml's `RetriesQueue`): same settings, same dead-letter queue.
    let retries_name = names.retries_queue();
    let (retries_queue_url, _) = queue(&sqs, &retries_name, attributes.clone()).await?;
    sqs.set_queue_attributes()
        .queue_url(&retries_queue_url)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(|e| ResourceError::Queue {
            queue: retries_name.clone(),
            message: describe(e.code(), e.message(), &e),
        })?;

    let provider_secret = provider_secret(sdk, &names.provider_secret, provider_key).await?;
    Ok(Resources {
        table: names.table.clone(),
        queue_url,
        queue_arn,
        retries_queue_url,
        dead_letter_queue_url: dlq_url,
        dead_letter_queue_arn: dlq_arn,
        provider_secret_name: names.provider_secret.clone(),
        provider_secret,
    })
}

fn describe(code: Option<&str>, message: Option<&str>, e: &dyn std::fmt::Display) -> String {
    match (code, message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        _ => e.to_string(),
    }
}

/// The queue's URL and ARN, creating it with `attributes` if it does not exist.
async fn queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> Result<(String, String), ResourceError> {
    use aws_sdk_sqs::error::ProvideErrorMetadata;
    let err = |message: String| ResourceError::Queue {
        queue: name.to_string(),
        message,
    };
    let url = match sqs.get_queue_url().queue_name(name).send().await {
        Ok(out) => out.queue_url().map(str::to_string),
        Err(e)
            if e.code() == Some("AWS.SimpleQueueService.NonExistentQueue")
                || e.code() == Some("QueueDoesNotExist") =>
        {
            None
        }
        Err(e) => return Err(err(describe(e.code(), e.message(), &e))),
    };
    let url = match url {
        Some(u) => u,
        None => sqs
            .create_queue()
            .queue_name(name)
            .set_attributes(Some(attributes))
            .send()
            .await
            .map_err(|e| err(describe(e.code(), e.message(), &e)))?
            .queue_url()
            .map(str::to_string)
            .ok_or_else(|| err("CreateQueue returned no URL".into()))?,
    };
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| err(describe(e.code(), e.message(), &e)))?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| err("no QueueArn".into()))?;
    Ok((url, arn))
}

async fn provider_secret(
    sdk: &SdkConfig,
    name: &str,
    provider_key: &str,
) -> Result<ProviderSecret, ResourceError> {
    let err = |message: String| ResourceError::Secret {
        name: name.to_string(),
        message,
    };
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let exists = match client.describe_secret().secret_id(name).send().await {
        Ok(_) => true,
        Err(e) if e.code() == Some("ResourceNotFoundException") => false,
        Err(e) => return Err(err(describe(e.code(), e.message(), &e))),
    };
    if !exists {
        let value = serde_json::json!({ "api_key": provider_key }).to_string();
        match client
            .create_secret()
            .name(name)
            .description("Voice provider API key (local emulator)")
            .secret_string(value)
            .send()
            .await
        {
            Ok(_) => {}
            // Created meanwhile by someone else: theirs stands.
            Err(e) if e.code() == Some("ResourceExistsException") => {}
            Err(e) => return Err(err(describe(e.code(), e.message(), &e))),
        }
    }
    let store = SecretsManager::new(client);
    ProviderSecret::load(&store as &dyn SecretStore, name)
        .await
        .map_err(|e| err(e.to_string()))
}
