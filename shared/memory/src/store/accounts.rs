//! Accounts, key grants and agents (mirrors `dynamo/accounts.rs`).
use super::{cancelled, ms, MemoryStore};
use async_trait::async_trait;
use domain::error::StoreError;
use domain::ids::{AccountId, AgentId};
use domain::model::{Account, Agent, KeyGrant, WebhookSecretInfo};
use domain::ports::store::AccountStore;

/// The account as an item round trip returns it (times to the millisecond).
fn stored(a: &Account) -> Account {
    let mut a = a.clone();
    a.created_at = ms(a.created_at);
    if let Some(k) = a.api_key.as_mut() {
        k.created_at = ms(k.created_at);
    }
    a
}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn key_grant(&self, key_hash: &str) -> Result<Option<KeyGrant>, StoreError> {
        Ok(self.state().grants.get(key_hash).cloned())
    }

    async fn use_key(
        &self,
        key_hash: &str,
        window: i64,
    ) -> Result<Option<(KeyGrant, u64)>, StoreError> {
        let mut s = self.state();
        let Some(grant) = s.grants.get(key_hash).cloned() else {
            return Ok(None);
        };
        let uses = s
            .key_uses
            .entry(key_hash.to_string())
            .or_insert((window, 0));
        if uses.0 != window {
            *uses = (window, 0);
        }
        uses.1 += 1;
        Ok(Some((grant, uses.1)))
    }

    async fn count_use(
        &self,
        account_id: &AccountId,
        scope: &str,
        window: i64,
    ) -> Result<u64, StoreError> {
        let mut s = self.state();
        s.account_uses
            .retain(|(_, _, w), _| *w >= window.saturating_sub(1));
        let n = s
            .account_uses
            .entry((account_id.clone(), scope.to_string(), window))
            .or_insert(0);
        *n += 1;
        Ok(*n)
    }

    async fn account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        Ok(self.state().accounts.get(id).cloned())
    }

    /// Transaction: the account item only if new (`attribute_not_exists(pk)`), its grant
    /// unconditionally (an existing grant with the same hash is overwritten, as in the table).
    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        let mut s = self.state();
        if s.accounts.contains_key(&account.id) {
            let mut reasons = vec!["ConditionalCheckFailed"];
            if account.api_key.is_some() {
                reasons.push("None");
            }
            return Err(cancelled(&reasons));
        }
        let account = stored(account);
        if let Some(k) = &account.api_key {
            s.grants.insert(k.hash.clone(), account.grant());
            s.key_uses.remove(&k.hash);
        }
        s.accounts.insert(account.id.clone(), account);
        Ok(())
    }

    /// Transaction: the account item only if its `version` is still `previous.version` (a
    /// missing item fails too), the old key's grant deleted when the key changed, the new
    /// key's grant written with the old one's window counter (the same key's grant updated in
    /// place, its counter kept).
    async fn save_account(
        &self,
        previous: &Account,
        next: &Account,
    ) -> Result<Account, StoreError> {
        let mut s = self.state();
        let mut next = stored(next);
        next.version = previous.version + 1;
        let old_hash = previous.api_key.as_ref().map(|k| k.hash.clone());
        let new_hash = next.api_key.as_ref().map(|k| k.hash.clone());
        let version_holds = s
            .accounts
            .get(&next.id)
            .is_some_and(|a| a.version == previous.version);
        if !version_holds {
            let mut reasons = vec!["ConditionalCheckFailed"];
            if old_hash.is_some() && old_hash != new_hash {
                reasons.push("None");
            }
            if new_hash.is_some() {
                reasons.push("None");
            }
            return Err(cancelled(&reasons));
        }
        // The same key: its grant rewritten in place, the window counter kept. A new key: the
        // old key's counter moves to it (the adapter reads it and writes it with the new
        // grant), so neither a settings write nor a rotation refills the limit.
        let mut counter = None;
        if let Some(old) = &old_hash {
            if Some(old) != new_hash.as_ref() {
                s.grants.remove(old);
                counter = s.key_uses.remove(old);
            }
        }
        if let Some(new) = new_hash {
            if let Some(c) = counter {
                s.key_uses.insert(new.clone(), c);
            }
            s.grants.insert(new, next.grant());
        }
        s.accounts.insert(next.id.clone(), next.clone());
        Ok(next)
    }

    /// Transaction: the agent item unconditionally, its provider-id index entry only if new or
    /// already this agent's (`attribute_not_exists(pk) OR agent_id = :id`). The index entry of
    /// a provider id the agent no longer uses stays, as in the table.
    /// A conditional write of the account item only (`version = previous.version`).
    async fn save_webhook_secret(
        &self,
        previous: &Account,
        secret: &WebhookSecretInfo,
    ) -> Result<Account, StoreError> {
        let mut s = self.state();
        let Some(account) = s
            .accounts
            .get_mut(&previous.id)
            .filter(|a| a.version == previous.version)
        else {
            return Err(super::condition_failed());
        };
        account.webhook_secret = Some(secret.clone());
        account.version += 1;
        Ok(account.clone())
    }

    async fn put_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        let mut s = self.state();
        if s.provider_agents
            .get(&agent.provider_agent_id)
            .is_some_and(|(_, id)| *id != agent.id)
        {
            return Err(cancelled(&["None", "ConditionalCheckFailed"]));
        }
        s.provider_agents.insert(
            agent.provider_agent_id.clone(),
            (agent.account_id.clone(), agent.id),
        );
        s.agents
            .insert((agent.account_id.clone(), agent.id), agent.clone());
        Ok(())
    }

    async fn agent(
        &self,
        account_id: &AccountId,
        agent_id: AgentId,
    ) -> Result<Option<Agent>, StoreError> {
        Ok(self
            .state()
            .agents
            .get(&(account_id.clone(), agent_id))
            .cloned())
    }

    async fn agents(&self, account_id: &AccountId) -> Result<Vec<Agent>, StoreError> {
        let mut agents: Vec<Agent> = self
            .state()
            .agents
            .values()
            .filter(|a| a.account_id == account_id)
            .cloned()
            .collect();
        agents.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(agents)
    }

    /// The index entry, then the agent it names (two reads in the adapter).
    async fn agent_by_provider_id(
        &self,
        provider_agent_id: &str,
    ) -> Result<Option<Agent>, StoreError> {
        let s = self.state();
        let Some((account_id, agent_id)) = s.provider_agents.get(provider_agent_id) else {
            return Ok(None);
        };
        Ok(s.agents.get(&(account_id.clone(), *agent_id)).cloned())
    }
}
