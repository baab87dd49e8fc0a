//! The local AWS emulator (moto's server, started around the tests by `make test` through the
//! `with-emulator` launcher, crate `emulator`).
//! A test that cannot reach it fails with instructions; it never skips.

use aws_adapters::DynamoStore;
use aws_config::SdkConfig;

pub struct Emulator {
    pub config: SdkConfig,
    pub endpoint: String,
}

impl Emulator {
    /// Connects to the emulator named by `AWS_ENDPOINT_URL`, panicking loudly if there is none.
    pub async fn connect() -> Emulator {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
        assert!(
            endpoint.starts_with("http://127.0.0.1") || endpoint.starts_with("http://localhost"),
            "AWS_ENDPOINT_URL is not set to a local emulator (got {endpoint:?}).\n\
             Integration tests need moto's server: run them with `make test`, or start one with\n\
             `cargo run -p emulator --bin with-emulator -- cargo test --workspace`."
        );
        let probe = reqwest::Client::new()
            .get(format!("{endpoint}/moto-api/"))
            .timeout(std::time::Duration::from_secs(5))
            .send()
            .await;
        if let Err(e) = probe {
            panic!("the AWS emulator at {endpoint} is not reachable ({e}); run the tests with `make test`");
        }
        Emulator::at(&endpoint).await
    }

    /// The SDK configuration for the emulator at `endpoint` (one the caller started itself,
    /// e.g. a test that must not share moto with the rest of the suite): the functions' own
    /// (`aws_adapters::lambda_sdk_config`), from the variables Lambda would set, pointed at
    /// the emulator, so that every test runs the configuration Lambda runs.
    pub async fn at(endpoint: &str) -> Emulator {
        let endpoint = endpoint.to_string();
        let config = local_stack::resources::emulator_sdk_config(&endpoint)
            .unwrap_or_else(|e| panic!("the emulator's SDK configuration: {e}"));
        Emulator { config, endpoint }
    }

    /// A unique name so parallel tests never share state.
    pub fn unique(prefix: &str) -> String {
        format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.config)
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.config)
    }

    pub fn secrets_client(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.config)
    }

    pub fn secrets(&self) -> aws_adapters::SecretsManager {
        aws_adapters::SecretsManager::new(self.secrets_client())
    }

    /// A fresh table with the production layout.
    pub async fn table(&self) -> DynamoStore {
        self.table_with_client(self.dynamodb()).await
    }

    /// A fresh table reached through the given client (e.g. one with a counting interceptor).
    pub async fn table_with_client(&self, client: aws_sdk_dynamodb::Client) -> DynamoStore {
        let store = DynamoStore::new(client, Emulator::unique("calls-table"));
        store
            .create_table()
            .await
            .expect("create table in the emulator");
        store
    }

    /// A fresh standard queue; returns its URL.
    pub async fn queue(&self) -> String {
        self.sqs()
            .create_queue()
            .queue_name(Emulator::unique("events"))
            .send()
            .await
            .expect("create queue in the emulator")
            .queue_url()
            .expect("queue url")
            .to_string()
    }
}
