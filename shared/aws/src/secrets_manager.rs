//! Secrets Manager adapter of the secrets port.
use async_trait::async_trait;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::Client;
use domain::error::SecretError;
use domain::ports::secrets::SecretStore;

fn sm_error<E: ProvideErrorMetadata>(name: &str, e: &E) -> SecretError {
    match e.code() {
        Some("ResourceNotFoundException") => SecretError::NotFound(name.to_string()),
        _ => SecretError::Backend(format!(
            "{}: {}",
            e.code().unwrap_or("unknown"),
            e.message().unwrap_or("")
        )),
    }
}

#[derive(Clone, Debug)]
pub struct SecretsManager {
    client: Client,
}

impl SecretsManager {
    pub fn new(client: Client) -> Self {
        SecretsManager { client }
    }
}

#[async_trait]
impl SecretStore for SecretsManager {
    async fn get(&self, name: &str) -> Result<String, SecretError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .map_err(|e| match e.code() {
                Some("ResourceNotFoundException") => SecretError::NotFound(name.to_string()),
                _ => SecretError::Backend(format!(
                    "{}: {}",
                    e.code().unwrap_or("unknown"),
                    e.message().unwrap_or("")
                )),
            })?;
        out.secret_string()
            .map(str::to_string)
            .ok_or_else(|| SecretError::Malformed(name.to_string()))
    }

    async fn put(&self, name: &str, value: &str) -> Result<(), SecretError> {
        self.write(name, value, None).await
    }

    async fn put_version(
        &self,
        name: &str,
        value: &str,
        version_id: &str,
    ) -> Result<(), SecretError> {
        self.write(name, value, Some(version_id)).await
    }

    async fn get_version(&self, name: &str, version_id: &str) -> Result<String, SecretError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(name)
            .version_id(version_id)
            .send()
            .await
            .map_err(|e| sm_error(name, &e))?;
        out.secret_string()
            .map(str::to_string)
            .ok_or_else(|| SecretError::Malformed(name.to_string()))
    }

    async fn make_current(&self, name: &str, version_id: &str) -> Result<(), SecretError> {
        let current = self
            .client
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .map_err(|e| sm_error(name, &e))?;
        if current.version_id() == Some(version_id) {
            return Ok(());
        }
        // Written again as a new version rather than by moving the AWSCURRENT label: the
        // version keeps its id for readers, and this works the same on every Secrets Manager
        // implementation (the local emulator does not move labels).
        let value = self.get_version(name, version_id).await?;
        self.write(name, &value, Some(&uuid::Uuid::new_v4().to_string()))
            .await
    }
}
impl SecretsManager {
    async fn write(
        &self,
        name: &str,
        value: &str,
        version_id: Option<&str>,
    ) -> Result<(), SecretError> {
        let res = self
            .client
            .put_secret_value()
            .secret_id(name)
            .secret_string(value)
            .set_client_request_token(version_id.map(str::to_string))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => {
                let created = self
                    .client
                    .create_secret()
                    .name(name)
                    .secret_string(value)
                    .set_client_request_token(version_id.map(str::to_string))
                    .description("Managed by the BuildVoiceAI API & Webhooks integration")
                    .send()
                    .await;
                match created {
                    Ok(_) => Ok(()),
                    // Created concurrently by another writer: store our value as a new version.
                    Err(e) if e.code() == Some("ResourceExistsException") => self
                        .client
                        .put_secret_value()
                        .secret_id(name)
                        .secret_string(value)
                        .set_client_request_token(version_id.map(str::to_string))
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| {
                            SecretError::Backend(e.code().unwrap_or("unknown").to_string())
                        }),
                    Err(e) => Err(SecretError::Backend(format!(
                        "{}: {}",
                        e.code().unwrap_or("unknown"),
                        e.message().unwrap_or("")
                    ))),
                }
            }
            Err(e) => Err(SecretError::Backend(format!(
                "{}: {}",
                e.code().unwrap_or("unknown"),
                e.message().unwrap_or("")
            ))),
        }
    }
}
