//! The emulator's resources: created as the template defines them, and idempotently.

use aws_sdk_sqs::types::QueueAttributeName;
use integration_tests::Emulator;
use local_stack::resources::{self, ResourceNames, MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT_SECONDS};
use serde_json::Value;

#[tokio::test]
async fn creates_everything_once_and_keeps_what_exists() {
    let emulator = Emulator::connect().await;
    let names = ResourceNames {
        table: Emulator::unique("res-table"),
        queue: Emulator::unique("res-events"),
        dead_letter_queue: Emulator::unique("res-dlq"),
        provider_secret: format!("test/{}/provider", uuid::Uuid::new_v4().simple()),
    };
    let first = resources::ensure(&emulator.config, &names, "first-provider-key-0123")
        .await
        .expect("ensure");
    assert_eq!(first.provider_secret.api_key, "first-provider-key-0123");
    assert_eq!(first.table, names.table);

    // The table has the production layout: the store works on it.
    let table = emulator
        .dynamodb()
        .describe_table()
        .table_name(&names.table)
        .send()
        .await
        .expect("table exists");
    let mut gsis: Vec<String> = table
        .table()
        .map(|t| {
            t.global_secondary_indexes()
                .iter()
                .filter_map(|g| g.index_name().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    gsis.sort();
    // gsi1: the delivery log by outcome; gsi2: the reconciler's due work; gsi3: an
    // account's calls by creation time.
    assert_eq!(
        gsis,
        [
            aws_adapters::dynamo::GSI1,
            aws_adapters::dynamo::GSI2,
            aws_adapters::dynamo::GSI3
        ]
    );

    let attrs = emulator
        .sqs()
        .get_queue_attributes()
        .queue_url(&first.queue_url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("queue attributes");
    let a = attrs.attributes().expect("attributes");
    let redrive: Value = serde_json::from_str(
        a.get(&QueueAttributeName::RedrivePolicy)
            .expect("redrive policy"),
    )
    .expect("redrive JSON");
    assert_eq!(
        redrive["deadLetterTargetArn"],
        first.dead_letter_queue_arn.as_str()
    );
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        MAX_RECEIVE_COUNT.to_string()
    );
    assert_eq!(
        a.get(&QueueAttributeName::VisibilityTimeout)
            .map(String::as_str),
        Some(VISIBILITY_TIMEOUT_SECONDS.to_string().as_str())
    );
    assert!(first
        .dead_letter_queue_arn
        .ends_with(&names.dead_letter_queue));
    assert!(first.queue_arn.ends_with(&names.queue));

    // Again, with another key: same resources, and the existing secret stands.
    let second = resources::ensure(&emulator.config, &names, "second-provider-key-0123")
        .await
        .expect("ensure again");
    assert_eq!(second.queue_url, first.queue_url);
    assert_eq!(second.retries_queue_url, first.retries_queue_url);
    assert_eq!(second.dead_letter_queue_url, first.dead_letter_queue_url);
    assert_eq!(second.provider_secret.api_key, "first-provider-key-0123");
    let queues = emulator
        .sqs()
        .list_queues()
        .queue_name_prefix(&names.queue)
        .send()
        .await
        .expect("list");
    // The events queue and its retries lane (`<queue>-retries`), each once.
    assert_eq!(queues.queue_urls().len(), 2, "{:?}", queues.queue_urls());
    assert!(queues
        .queue_urls()
        .iter()
        .any(|u| u.ends_with(&names.retries_queue())));
}

#[tokio::test]
async fn a_malformed_provider_secret_is_reported() {
    let emulator = Emulator::connect().await;
    let name = format!("test/{}/provider", uuid::Uuid::new_v4().simple());
    emulator
        .secrets_client()
        .create_secret()
        .name(&name)
        .secret_string(r#"{"placeholder": "set the provider api_key after deploying"}"#)
        .send()
        .await
        .expect("create secret");
    let names = ResourceNames {
        table: Emulator::unique("res-table"),
        queue: Emulator::unique("res-events"),
        dead_letter_queue: Emulator::unique("res-dlq"),
        provider_secret: name.clone(),
    };
    let err = resources::ensure(&emulator.config, &names, "k")
        .await
        .expect_err("placeholder secret refused");
    let msg = err.to_string();
    assert!(msg.contains(&name) && msg.contains("malformed"), "{msg}");
    assert!(
        !msg.contains("placeholder"),
        "secret values never appear: {msg}"
    );
}
