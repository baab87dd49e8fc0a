//! Accounts, agents and keys seeded through the real store and secrets adapters.

use chrono::Utc;
use shared::model::{Account, Agent, Plan};
use shared::phone::PhoneNumber;
use shared::secrets::SecretStore;
use shared::store::{AccountStore, DynamoStore};
use uuid::Uuid;

pub struct Seeded {
    pub account: Account,
    pub api_key: String,
    pub agent: Agent,
    pub secret_prefix: String,
}

/// A unique secret-name prefix per test, so tests never share a secret.
pub fn secret_prefix() -> String {
    format!("test/{}/api-key/", Uuid::new_v4().simple())
}

/// An Agency account with API access on, a key, and a default agent with a phone number.
pub async fn agency(store: &DynamoStore, secrets: &dyn SecretStore) -> Seeded {
    account_with(store, secrets, Plan::Agency, true).await
}

pub async fn account_with(
    store: &DynamoStore,
    secrets: &dyn SecretStore,
    plan: Plan,
    with_default_agent: bool,
) -> Seeded {
    let id = format!("acct_{}", Uuid::new_v4().simple());
    let account = Account::new(&id, "Northwind Sales", plan, Utc::now());
    store
        .create_account(&account)
        .await
        .expect("create account");
    let agent = agent(store, &id, "Sales Qualifier", Some("+14155550100")).await;
    let mut next = account.clone();
    if with_default_agent {
        next.default_agent_id = Some(agent.id);
    }
    let account = store
        .save_account(&account, &next)
        .await
        .expect("set default agent");
    let prefix = secret_prefix();
    let rotated =
        shared::key_rotation::rotate_api_key(store, secrets, &prefix, &account, Utc::now())
            .await
            .expect("generate key");
    Seeded {
        account: rotated.account,
        api_key: rotated.key.plaintext,
        agent,
        secret_prefix: prefix,
    }
}

pub async fn agent(
    store: &DynamoStore,
    account_id: &str,
    name: &str,
    phone: Option<&str>,
) -> Agent {
    let agent = Agent {
        id: Uuid::new_v4(),
        account_id: account_id.to_string(),
        name: name.to_string(),
        provider_agent_id: format!("prov_agent_{}", Uuid::new_v4().simple()),
        phone_number: phone.map(|p| PhoneNumber::parse(p).expect("valid phone")),
    };
    store.put_agent(&agent).await.expect("put agent");
    agent
}

/// Applies a change to the stored account (reads it fresh first).
pub async fn update_account(
    store: &DynamoStore,
    id: &str,
    f: impl FnOnce(&mut Account),
) -> Account {
    let current = store
        .account(id)
        .await
        .expect("read account")
        .expect("account exists");
    let mut next = current.clone();
    f(&mut next);
    store
        .save_account(&current, &next)
        .await
        .expect("save account")
}
