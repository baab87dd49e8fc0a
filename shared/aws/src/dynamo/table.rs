//! The table's creation as `template.yaml` defines it (keys, the three indexes, TTL): for the
//! tests, the local stack and the operator CLI. Apart from `DynamoStore` itself, so the store
//! the port adapters share names none of them.

use super::errors::backend;
use super::{due, DynamoStore, GSI1, GSI2, GSI3, TTL_ATTRIBUTE};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use domain::error::StoreError;

impl DynamoStore {
    /// Creates the table as `template.yaml` defines it (used by tests, the local stack and
    /// the operator CLI; in AWS the template creates it). Succeeds if it already exists.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::*;
        let attr = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Backend(e.to_string()))
        };
        let key = |n: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
                .map_err(|e| StoreError::Backend(e.to_string()))
        };
        // An index on two string attributes with every attribute projected.
        let all_projected = |name: &str, hash: &str, range: &str| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(hash, KeyType::Hash)?)
                .key_schema(key(range, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(|e| StoreError::Backend(e.to_string()))
        };
        let gsi = all_projected(GSI1, "gsi1pk", "gsi1sk")?;
        // Only the attributes the reconciler needs to name the item (template.yaml the same).
        let gsi2 = GlobalSecondaryIndex::builder()
            .index_name(GSI2)
            .key_schema(key(due::DUE_KIND, KeyType::Hash)?)
            .key_schema(key(due::DUE_AT, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::Include)
                    .set_non_key_attributes(Some(
                        due::PROJECTED.iter().map(|a| a.to_string()).collect(),
                    ))
                    .build(),
            )
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        // The account's calls by creation time (`CallStore::calls_of`; template.yaml the same).
        let gsi3 = all_projected(GSI3, "gsi3pk", "gsi3sk")?;
        let res = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .attribute_definitions(attr("gsi1pk")?)
            .attribute_definitions(attr("gsi1sk")?)
            .attribute_definitions(attr(due::DUE_KIND)?)
            .attribute_definitions(attr(due::DUE_AT)?)
            .attribute_definitions(attr("gsi3pk")?)
            .attribute_definitions(attr("gsi3sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(gsi)
            .global_secondary_indexes(gsi2)
            .global_secondary_indexes(gsi3)
            .send()
            .await;
        match res {
            Ok(_) => {}
            Err(e) if e.code() == Some("ResourceInUseException") => return Ok(()),
            Err(e) => return Err(backend(e)),
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(TTL_ATTRIBUTE)
                    .enabled(true)
                    .build()
                    .map_err(|e| StoreError::Backend(e.to_string()))?,
            )
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}
