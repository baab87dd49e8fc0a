//! Accounts, their key grants and their agents in DynamoDB.
use super::errors::transaction_error;
use super::item::{delete, put};
use super::item::{key_map, Item, ItemBuilder, ItemReader};
use super::{backend, keys, DynamoStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};
use domain::error::StoreError;
use domain::event_type::EventType;
use domain::ids::{AccountId, AgentId};
use domain::model::{Account, Agent, ApiKeyInfo, KeyGrant, Plan, WebhookSecretInfo};
use domain::phone::PhoneNumber;
use domain::ports::store::AccountStore;

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
        .opt_s("guardrails", guardrails_json(a)?)
        .opt_s("events", events_json(a))
        .opt_s(
            "webhook_secret",
            webhook_secret_json(a.webhook_secret.as_ref())?,
        )
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
        id: r.s("account_id")?.into(),
        name: r.s("name")?.to_string(),
        plan: plan_from(&r)?,
        api_enabled: r.b("api_enabled")?,
        api_key,
        webhook_url: r.opt_s("webhook_url")?.map(str::to_string),
        default_agent_id: r.opt_uuid("default_agent_id")?,
        calling_window: r.opt_json("calling_window")?,
        guardrails: r.opt_json("guardrails")?.unwrap_or_default(),
        events: events_from(&r)?,
        webhook_secret: r.opt_json("webhook_secret")?,
        created_at: r.time("created_at")?,
        version: r.n("version")?,
    })
}

/// The signing secret's reference as the item's `webhook_secret` attribute (JSON).
fn webhook_secret_json(s: Option<&WebhookSecretInfo>) -> Result<Option<String>, StoreError> {
    s.map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Corrupt(e.to_string()))
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
        .opt_s("guardrails", guardrails_json(a)?)
        .build())
}

/// The webhook event subscription as a JSON array of names, left out while it is the default
/// (so an account item written before subscriptions existed has the default).
fn events_json(a: &Account) -> Option<String> {
    if a.events.as_slice() == EventType::DEFAULT.as_slice() {
        return None;
    }
    let names: Vec<&str> = a.events.iter().map(|t| t.as_str()).collect();
    serde_json::to_string(&names).ok()
}

fn events_from(r: &ItemReader) -> Result<Vec<EventType>, StoreError> {
    let Some(names) = r.opt_json::<Vec<String>>("events")? else {
        return Ok(domain::event_type::default_events());
    };
    let events = names
        .iter()
        .map(|n| {
            EventType::parse(n)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown event type {n}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(domain::event_type::normalize(&events))
}

/// The operator's guardrails as a JSON attribute, left out while they are the defaults.
fn guardrails_json(a: &Account) -> Result<Option<String>, StoreError> {
    if a.guardrails.is_default() {
        return Ok(None);
    }
    serde_json::to_string(&a.guardrails)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The grant's optional attributes: removed by [`grant_update`] when the account has none.
const GRANT_OPTIONAL: [&str; 3] = ["default_agent_id", "calling_window", "guardrails"];

/// The key grant rewritten in place: every attribute of [`grant_item`] set, the optional ones
/// the account no longer has removed, and nothing else touched, so the key's rate counter
/// (`rl_*`) survives every settings write (issue 26: a PATCH used to refill the limit).
fn grant_update(table: &str, hash: &str, a: &Account) -> Result<TransactWriteItem, StoreError> {
    let item = grant_item(hash, a)?;
    let mut update = Update::builder()
        .table_name(table)
        .set_key(Some(key_map(keys::api_key(hash))));
    let mut sets = Vec::new();
    for (i, (name, value)) in item
        .iter()
        .filter(|(n, _)| n.as_str() != "pk" && n.as_str() != "sk")
        .enumerate()
    {
        sets.push(format!("#a{i} = :v{i}"));
        update = update
            .expression_attribute_names(format!("#a{i}"), name)
            .expression_attribute_values(format!(":v{i}"), value.clone());
    }
    let mut removes = Vec::new();
    for (i, name) in GRANT_OPTIONAL
        .iter()
        .filter(|n| !item.contains_key(**n))
        .enumerate()
    {
        removes.push(format!("#r{i}"));
        update = update.expression_attribute_names(format!("#r{i}"), *name);
    }
    let mut expression = format!("SET {}", sets.join(", "));
    if !removes.is_empty() {
        expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
    }
    Ok(TransactWriteItem::builder()
        .update(
            update
                .update_expression(expression)
                .build()
                .map_err(|e| StoreError::Backend(e.to_string()))?,
        )
        .build())
}

fn grant_from(item: &Item) -> Result<KeyGrant, StoreError> {
    let r = ItemReader(item);
    let pk = r.s("pk")?;
    Ok(KeyGrant {
        key_hash: pk
            .strip_prefix(keys::API_KEY_PREFIX)
            .ok_or_else(|| StoreError::Corrupt(format!("key grant key {pk}")))?
            .to_string(),
        account_id: r.s("account_id")?.into(),
        plan: plan_from(&r)?,
        api_enabled: r.b("api_enabled")?,
        default_agent_id: r.opt_uuid("default_agent_id")?,
        calling_window: r.opt_json("calling_window")?,
        guardrails: r.opt_json("guardrails")?.unwrap_or_default(),
    })
}

/// The key grant item's window counter lives in one of [`RATE_SLOTS`] attributes
/// (`rl_<window mod RATE_SLOTS>`) next to `rl_w`, the last window counted. Every use adds to
/// its window's slot and removes all the others, so the item holds at most one slot: the
/// last counted window's. A slot that exists for a window other than `rl_w` is therefore
/// left from a window a multiple of `RATE_SLOTS` minutes ago (the key idle since): only then
/// does a use take a second request, which starts the slot afresh.
const RATE_SLOTS: i64 = 16;

fn rate_slot(window: i64) -> String {
    format!("rl_{}", window.rem_euclid(RATE_SLOTS))
}

fn rate_uses(
    item: Option<&std::collections::HashMap<String, AttributeValue>>,
    slot: &str,
) -> Result<Option<(KeyGrant, u64)>, StoreError> {
    match item {
        None => Err(StoreError::Backend(
            "UpdateItem returned no attributes".into(),
        )),
        Some(item) => {
            let grant = grant_from(item)?;
            let uses: u64 = ItemReader(item).n(slot)?;
            Ok(Some((grant, uses)))
        }
    }
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
        account_id: r.s("account_id")?.into(),
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

    /// One UpdateItem of the key grant (ReturnValues ALL_NEW), conditioned on the item
    /// existing, so an unknown key writes nothing. A second request only in the rare case of a
    /// stale slot (see [`RATE_SLOTS`]); a third only when another use restarted it meanwhile.
    async fn use_key(
        &self,
        key_hash: &str,
        window: i64,
    ) -> Result<Option<(KeyGrant, u64)>, StoreError> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
        let slot = rate_slot(window);
        let others: Vec<String> = (0..RATE_SLOTS)
            .map(rate_slot)
            .filter(|s| *s != slot)
            .collect();
        let remove = (0..others.len())
            .map(|i| format!("#o{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut restart = false;
        for _ in 0..3 {
            let (update, condition) = if restart {
                (
                    format!("SET #cur = :one, rl_w = :w REMOVE {remove}"),
                    "attribute_exists(pk) AND (attribute_not_exists(rl_w) OR rl_w <> :w)",
                )
            } else {
                (
                    format!("ADD #cur :one SET rl_w = :w REMOVE {remove}"),
                    "attribute_exists(pk) AND (attribute_not_exists(#cur) OR rl_w = :w)",
                )
            };
            let mut req = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key_map(keys::api_key(key_hash))))
                .update_expression(update)
                .condition_expression(condition)
                .expression_attribute_names("#cur", &slot)
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .expression_attribute_values(":w", AttributeValue::N(window.to_string()))
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            for (i, name) in others.iter().enumerate() {
                req = req.expression_attribute_names(format!("#o{i}"), name);
            }
            match req.send().await {
                Ok(out) => return rate_uses(out.attributes.as_ref(), &slot),
                Err(e) => match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                        if c.item.is_none() {
                            return Ok(None);
                        }
                        // The slot was stale (ADD refused) or was just restarted by another
                        // use (restart refused): take the other path.
                        restart = !restart;
                    }
                    _ => return Err(backend(e)),
                },
            }
        }
        Err(StoreError::Conflict(
            "the key's rate counter kept changing".into(),
        ))
    }

    async fn count_use(
        &self,
        account_id: &AccountId,
        scope: &str,
        window: i64,
    ) -> Result<u64, StoreError> {
        use aws_sdk_dynamodb::types::ReturnValue;
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(keys::rate(account_id, scope, window))))
            .update_expression("ADD uses :one SET #ttl = :ttl")
            .expression_attribute_names("#ttl", super::TTL_ATTRIBUTE)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":ttl", AttributeValue::N(((window + 2) * 60).to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(backend)?;
        match out.attributes.as_ref() {
            Some(item) => ItemReader(item).n("uses"),
            None => Err(StoreError::Backend(
                "UpdateItem returned no attributes".into(),
            )),
        }
    }

    async fn account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
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
        self.transact(items).await.map_err(transaction_error)?;
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
        match (old_hash, new_hash) {
            // The same key: its grant rewritten in place, its rate counter untouched.
            (Some(old), Some(new)) if old == new => {
                items.push(grant_update(&self.table, new, &stored)?);
            }
            (old, new) => {
                // A new key (or none) replaces the old grant. The old key's counter moves to
                // the new one, so a rotation does not refill the account's limit either; a
                // use of the old key between this read and the write is the only one lost.
                let mut counter = Item::new();
                if let Some(old) = old {
                    if new.is_some() {
                        if let Some(grant) = self.read(keys::api_key(old)).await? {
                            counter.extend(
                                grant
                                    .into_iter()
                                    .filter(|(name, _)| name.starts_with("rl_")),
                            );
                        }
                    }
                    items.push(delete(&self.table, key_map(keys::api_key(old)))?);
                }
                if let Some(new) = new {
                    let mut item = grant_item(new, &stored)?;
                    item.extend(counter);
                    items.push(put(&self.table, item, None, &[])?);
                }
            }
        }
        self.transact(items).await.map_err(transaction_error)?;
        Ok(stored)
    }

    async fn save_webhook_secret(
        &self,
        previous: &Account,
        secret: &WebhookSecretInfo,
    ) -> Result<Account, StoreError> {
        let json = webhook_secret_json(Some(secret))?.unwrap_or_default();
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(keys::account(&previous.id))))
            .update_expression("SET webhook_secret = :s, version = :next")
            .condition_expression("version = :v")
            .expression_attribute_values(":s", AttributeValue::S(json))
            .expression_attribute_values(":v", AttributeValue::N(previous.version.to_string()))
            .expression_attribute_values(
                ":next",
                AttributeValue::N((previous.version + 1).to_string()),
            )
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(backend)?;
        let item = out
            .attributes()
            .ok_or_else(|| StoreError::Corrupt("update returned no account".into()))?;
        account_from(item)
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
        self.transact(items).await.map_err(transaction_error)?;
        Ok(())
    }

    async fn agent(
        &self,
        account_id: &AccountId,
        agent_id: AgentId,
    ) -> Result<Option<Agent>, StoreError> {
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

    async fn agents(&self, account_id: &AccountId) -> Result<Vec<Agent>, StoreError> {
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
        self.agent(&r.s("account_id")?.into(), r.uuid("agent_id")?)
            .await
    }
}
