//! The provider-call index: the provider's call id -> our call id, so callbacks find our call
//! (written with the call by trigger-call's dialing step and by inbound calls, `calls.rs`).

use super::item::{Item, ItemBuilder, ItemReader};
use super::{keys, DynamoStore};
use domain::error::StoreError;
use domain::model::Call;

pub(crate) fn provider_call_item(provider_call_id: &str, call: &Call) -> Item {
    ItemBuilder::keyed(keys::provider_call(provider_call_id))
        .s("type", "provider_call")
        .s("provider_call_id", provider_call_id)
        .s("call_id", call.id.to_string())
        .s("account_id", &call.account_id)
        .build()
}

impl DynamoStore {
    pub(crate) async fn read_provider_call(
        &self,
        provider_call_id: &str,
    ) -> Result<Option<domain::ids::CallId>, StoreError> {
        let item = self.read(keys::provider_call(provider_call_id)).await?;
        item.as_ref()
            .map(|item| ItemReader(item).uuid("call_id"))
            .transpose()
    }
}
