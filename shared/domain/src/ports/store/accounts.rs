//! Accounts, their key grants and their agents.
use crate::error::StoreError;
use crate::ids::{AccountId, AgentId};
use crate::model::{Account, Agent, KeyGrant, WebhookSecretInfo};
use async_trait::async_trait;
use port_macro::port;

#[port]
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// What the key with this SHA-256 authorises; one strongly consistent GetItem.
    async fn key_grant(&self, key_hash: &str) -> Result<Option<KeyGrant>, StoreError>;
    /// What the key authorises, counting this use in the key's per-minute window `window`
    /// (`rate_limit::window`): one request to the store (an UpdateItem of the key grant in
    /// DynamoDB) that returns the grant and the uses of this window, this one included. An
    /// unknown key writes nothing and is `None`. Uses of an earlier window do not count.
    async fn use_key(
        &self,
        key_hash: &str,
        window: i64,
    ) -> Result<Option<(KeyGrant, u64)>, StoreError>;
    /// Counts one use of the account's `scope` limit in `window`; returns the uses of the
    /// window, this one included (a window's counter expires with the window).
    async fn count_use(
        &self,
        account_id: &AccountId,
        scope: &str,
        window: i64,
    ) -> Result<u64, StoreError>;
    async fn account(&self, id: &AccountId) -> Result<Option<Account>, StoreError>;
    /// Creates an account; `Conflict` if the id is taken.
    async fn create_account(&self, account: &Account) -> Result<(), StoreError>;
    /// Writes `next` over `previous` in one transaction with its key grant (the old key's grant
    /// removed when the key changed). `Conflict` if anyone wrote the account since `previous`
    /// was read; returns the account as stored (version bumped).
    async fn save_account(&self, previous: &Account, next: &Account)
        -> Result<Account, StoreError>;
    /// Points the account at a new webhook signing secret (`webhook_signing_secret`): one
    /// conditional write of the account item alone (its key grant is untouched), only if
    /// nobody wrote the account since `previous` was read (`Conflict` otherwise, a missing
    /// account included). Returns the account as stored (version bumped).
    async fn save_webhook_secret(
        &self,
        previous: &Account,
        secret: &WebhookSecretInfo,
    ) -> Result<Account, StoreError>;
    /// Creates or replaces an agent and its provider-id index entry. `Conflict` if the
    /// provider agent id already belongs to another agent.
    async fn put_agent(&self, agent: &Agent) -> Result<(), StoreError>;
    /// The agent, only if it belongs to `account_id`.
    async fn agent(
        &self,
        account_id: &AccountId,
        agent_id: AgentId,
    ) -> Result<Option<Agent>, StoreError>;
    /// All agents of the account, sorted by name.
    async fn agents(&self, account_id: &AccountId) -> Result<Vec<Agent>, StoreError>;
    /// Our agent for a provider agent id (inbound calls).
    async fn agent_by_provider_id(
        &self,
        provider_agent_id: &str,
    ) -> Result<Option<Agent>, StoreError>;
}
