//! Accounts, their key grants and their agents in DynamoDB.
use super::errors::transaction_error;
use super::item::{delete, put};
use super::item::{key_map, Item, ItemBuilder, ItemReader};
use super::{backend, keys, DynamoStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use domain::error::StoreError;
use domain::model::{Account, Agent, ApiKeyInfo, KeyGrant, Plan};
use domain::phone::PhoneNumber;
use domain::ports::store::AccountStore;
use uuid::Uuid;

fn account_item(a: &Account) -> Result<Item, StoreError> {
    let window = a
        .calling_window
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let key = a.api_key.as_ref();
    Ok(ItemBuilder::keyed(keys::account(&a.id))
        .s("type", "account")
        .s("account_id", &a.id)
        .s("name", &a.name)
        .s("plan", a.plan.as_str())
        .b("api_enabled", a.api_enabled)
        .opt_s("key_hash", key.map(|k| k.hash.clone()))
        .opt_s("key_prefix", key.map(|k| k.prefix.clone()))
        .opt_s("key_last4", key.map(|k| k.last4.clone()))
        .opt_time("key_created_at", key.map(|k| k.created_at))
        .opt_s("webhook_url", a.webhook_url.clone())
        .opt_s(
            "default_agent_id",
            a.default_agent_id.map(|u| u.to_string()),
        )
        .opt_s("calling_window", window)
        .time("created_at", a.created_at)
        .n("version", a.version)
        .build())
}

fn account_from(item: &Item) -> Result<Account, StoreError> {
    let r = ItemReader(item);
    let api_key = match r.opt_s("key_hash")? {
        Some(hash) => Some(ApiKeyInfo {
            hash: hash.to_string(),
            prefix: r.s("key_prefix")?.to_string(),
            last4: r.s("key_last4")?.to_string(),
            created_at: r.time("key_created_at")?,
        }),
        None => None,
    };
    Ok(Account {
        id: r.s("account_id")?.to_string(),
        name: r.s("name")?.to_string(),
        plan: plan_from(&r)?,
        api_enabled: r.b("api_enabled")?,
        api_key,
        webhook_url: r.opt_s("webhook_url")?.map(str::to_string),
        default_agent_id: r.opt_uuid("default_agent_id")?,
        calling_window: r.opt_json("calling_window")?,
        created_at: r.time("created_at")?,
        version: r.n("version")?,
    })
}

fn plan_from(r: &ItemReader) -> Result<Plan, StoreError> {
    let p = r.s("plan")?;
    Plan::parse(p).ok_or_else(|| StoreError::Corrupt(format!("unknown plan {p}")))
}

fn grant_item(hash: &str, a: &Account) -> Result<Item, StoreError> {
    let window = a
        .calling_window
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(ItemBuilder::keyed(keys::api_key(hash))
        .s("type", "api_key")
        .s("account_id", &a.id)
        .s("plan", a.plan.as_str())
        .b("api_enabled", a.api_enabled)
        .opt_s(
            "default_agent_id",
            a.default_agent_id.map(|u| u.to_string()),
        )
        .opt_s("calling_window", window)
        .build())
}

fn grant_from(item: &Item) -> Result<KeyGrant, StoreError> {
    let r = ItemReader(item);
    Ok(KeyGrant {
        account_id: r.s("account_id")?.to_string(),
        plan: plan_from(&r)?,
        api_enabled: r.b("api_enabled")?,
        default_agent_id: r.opt_uuid("default_agent_id")?,
        calling_window: r.opt_json("calling_window")?,
    })
}

fn agent_item(a: &Agent) -> Item {
    ItemBuilder::keyed(keys::agent(&a.account_id, &a.id))
        .s("type", "agent")
        .s("account_id", &a.account_id)
        .s("agent_id", a.id.to_string())
        .s("name", &a.name)
        .s("provider_agent_id", &a.provider_agent_id)
        .opt_s(
            "phone_number",
            a.phone_number.as_ref().map(|p| p.as_str().to_string()),
        )
        .build()
}

fn agent_from(item: &Item) -> Result<Agent, StoreError> {
    let r = ItemReader(item);
    let phone_number = r
        .opt_s("phone_number")?
        .map(|p| {
            PhoneNumber::parse(p).map_err(|e| StoreError::Corrupt(format!("agent phone: {e}")))
        })
        .transpose()?;
    Ok(Agent {
        id: r.uuid("agent_id")?,
        account_id: r.s("account_id")?.to_string(),
        name: r.s("name")?.to_string(),
        provider_agent_id: r.s("provider_agent_id")?.to_string(),
        phone_number,
    })
}

#[async_trait]
impl AccountStore for DynamoStore {
    async fn key_grant(&self, key_hash: &str) -> Result<Option<KeyGrant>, StoreError> {
        let item = self.read(keys::api_key(key_hash)).await?;
        item.as_ref().map(grant_from).transpose()
    }

    async fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        let item = self.read(keys::account(id)).await?;
        item.as_ref().map(account_from).transpose()
    }

    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        let mut items = vec![put(
            &self.table,
            account_item(account)?,
            Some("attribute_not_exists(pk)"),
            &[],
        )?];
        if let Some(k) = &account.api_key {
            items.push(put(&self.table, grant_item(&k.hash, account)?, None, &[])?);
        }
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(transaction_error)?;
        Ok(())
    }

    async fn save_account(
        &self,
        previous: &Account,
        next: &Account,
    ) -> Result<Account, StoreError> {
        let mut stored = next.clone();
        stored.version = previous.version + 1;
        let mut items = vec![put(
            &self.table,
            account_item(&stored)?,
            Some("version = :v"),
            &[(":v", AttributeValue::N(previous.version.to_string()))],
        )?];
        let old_hash = previous.api_key.as_ref().map(|k| k.hash.as_str());
        let new_hash = stored.api_key.as_ref().map(|k| k.hash.as_str());
        if let Some(old) = old_hash {
            if Some(old) != new_hash {
                items.push(delete(&self.table, key_map(keys::api_key(old)))?);
            }
        }
        if let Some(new) = new_hash {
            items.push(put(&self.table, grant_item(new, &stored)?, None, &[])?);
        }
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(transaction_error)?;
        Ok(stored)
    }

    async fn put_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        let index = ItemBuilder::keyed(keys::provider_agent(&agent.provider_agent_id))
            .s("type", "provider_agent")
            .s("account_id", &agent.account_id)
            .s("agent_id", agent.id.to_string())
            .build();
        let items = vec![
            put(&self.table, agent_item(agent), None, &[])?,
            put(
                &self.table,
                index,
                Some("attribute_not_exists(pk) OR agent_id = :id"),
                &[(":id", AttributeValue::S(agent.id.to_string()))],
            )?,
        ];
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(transaction_error)?;
        Ok(())
    }

    async fn agent(&self, account_id: &str, agent_id: Uuid) -> Result<Option<Agent>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(keys::agent(account_id, &agent_id))))
            .send()
            .await
            .map_err(backend)?;
        out.item().map(agent_from).transpose()
    }

    async fn agents(&self, account_id: &str) -> Result<Vec<Agent>, StoreError> {
        let mut agents = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", AttributeValue::S(keys::account(account_id).0))
                .expression_attribute_values(
                    ":prefix",
                    AttributeValue::S(keys::AGENT_PREFIX.into()),
                )
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            for item in out.items() {
                agents.push(agent_from(item)?);
            }
            match out.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => break,
            }
        }
        agents.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(agents)
    }

    async fn agent_by_provider_id(
        &self,
        provider_agent_id: &str,
    ) -> Result<Option<Agent>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(keys::provider_agent(provider_agent_id))))
            .send()
            .await
            .map_err(backend)?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let r = ItemReader(item);
        self.agent(r.s("account_id")?, r.uuid("agent_id")?).await
    }
}
