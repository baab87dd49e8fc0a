//! `bvai-admin`, the operator CLI that runs against AWS (and the emulator): its tasks, also
//! used by the local stack's seeding: accounts, agents,
//! calling windows, webhook URLs, key generation, the table. Everything goes through the
//! shared store and `key_rotation`, so there is exactly one implementation of each write.
//!
//! Works against real AWS and the emulator alike (AWS SDK default configuration;
//! `AWS_ENDPOINT_URL` points it at the emulator).

use aws_adapters::DynamoStore;
use domain::calling_window::CallingWindow;
use domain::clock::{rfc3339, Clock};
use domain::ids::{AccountId, AgentId};
use domain::model::{Account, Agent, Plan};
use domain::number_type::NumberType;
use domain::phone::PhoneNumber;
use domain::ports::secrets::SecretStore;
use domain::ports::store::AccountStore;
use domain::recipient_hours::{AppliesTo, RecipientHours, RecipientHoursJson};
use domain::{ApiError, StoreError};
use serde_json::{json, Value};
use std::sync::Arc;

pub mod dlq;
pub mod error;

pub use error::AdminError;

/// How many times a read-modify-write is retried when another writer got there first.
const SAVE_ATTEMPTS: usize = 3;

/// The operator's handle on one table and the account key secrets.
pub struct Admin {
    store: DynamoStore,
    secrets: Arc<dyn SecretStore>,
    secret_prefix: String,
    clock: Arc<dyn Clock>,
}

impl Admin {
    pub fn new(
        store: DynamoStore,
        secrets: Arc<dyn SecretStore>,
        secret_prefix: impl Into<String>,
        clock: Arc<dyn Clock>,
    ) -> Admin {
        Admin {
            store,
            secrets,
            secret_prefix: secret_prefix.into(),
            clock,
        }
    }

    pub fn store(&self) -> &DynamoStore {
        &self.store
    }

    fn store_err(&self) -> impl Fn(StoreError) -> AdminError + '_ {
        move |source| AdminError::Store {
            table: self.store.table().to_string(),
            source,
        }
    }

    /// Creates the table (for the emulator; in AWS the template creates it). Idempotent.
    pub async fn create_table(&self) -> Result<(), AdminError> {
        self.store.create_table().await.map_err(self.store_err())
    }

    pub async fn create_account(
        &self,
        id: &str,
        name: &str,
        plan: Plan,
    ) -> Result<Account, AdminError> {
        validate_account_id(id)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(AdminError::Invalid(
                "--name must be 1 to 200 characters".into(),
            ));
        }
        let mut account = Account::new(id, name, plan, self.clock.now());
        // New accounts start with an allowed-country list (docs/calling-compliance.md): the
        // countries of their agents' numbers, which follow the agents added until an operator
        // sets the destinations; US and CA while there are none.
        account.guardrails.allowed_countries = Some(domain::destination::default_countries([]));
        account.guardrails.countries_from_agents = true;
        match self.store.create_account(&account).await {
            Ok(()) => Ok(account),
            Err(StoreError::Conflict(_)) => Err(AdminError::AlreadyExists(format!(
                "account {id} already exists"
            ))),
            Err(e) => Err(self.store_err()(e)),
        }
    }

    pub async fn account(&self, id: &AccountId) -> Result<Account, AdminError> {
        self.store
            .account(id)
            .await
            .map_err(self.store_err())?
            .ok_or_else(|| AdminError::NotFound(format!("account {id} not found")))
    }

    /// Reads the account, applies `change`, saves with the version check; retries if another
    /// writer won in between.
    pub async fn update_account(
        &self,
        id: &AccountId,
        change: impl Fn(&mut Account) -> Result<(), AdminError>,
    ) -> Result<Account, AdminError> {
        for _ in 0..SAVE_ATTEMPTS {
            let current = self.account(id).await?;
            let mut next = current.clone();
            change(&mut next)?;
            match self.store.save_account(&current, &next).await {
                Ok(saved) => return Ok(saved),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(self.store_err()(e)),
            }
        }
        Err(AdminError::Other(format!(
            "account {id} kept changing while it was being saved; try again"
        )))
    }

    /// Creates an agent of the account; with `make_default` it becomes the default agent.
    pub async fn create_agent(
        &self,
        account_id: &AccountId,
        name: &str,
        provider_agent_id: &str,
        phone: Option<&str>,
        make_default: bool,
    ) -> Result<Agent, AdminError> {
        let account = self.account(account_id).await?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(AdminError::Invalid(
                "--name must be 1 to 200 characters".into(),
            ));
        }
        let provider_agent_id = provider_agent_id.trim();
        if provider_agent_id.is_empty() {
            return Err(AdminError::Invalid(
                "--provider-agent-id must not be empty".into(),
            ));
        }
        let phone_number = phone
            .map(|p| {
                PhoneNumber::parse(p).map_err(|e| AdminError::Invalid(format!("--phone: {e}")))
            })
            .transpose()?;
        let agent = Agent {
            id: AgentId::new_v4(),
            account_id: account_id.clone(),
            name: name.to_string(),
            provider_agent_id: provider_agent_id.to_string(),
            phone_number,
        };
        match self.store.put_agent(&agent).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(AdminError::AlreadyExists(format!(
                    "provider agent id {provider_agent_id} already belongs to another agent"
                )))
            }
            Err(e) => return Err(self.store_err()(e)),
        }
        let follow = account.guardrails.countries_from_agents && agent.phone_number.is_some();
        if make_default || follow {
            // The query may not see the agent just written yet: it is added by hand.
            let mut numbers: Vec<PhoneNumber> = if follow {
                self.store
                    .agents(account_id)
                    .await
                    .map_err(self.store_err())?
                    .into_iter()
                    .filter(|a| a.id != agent.id)
                    .filter_map(|a| a.phone_number)
                    .collect()
            } else {
                Vec::new()
            };
            numbers.extend(agent.phone_number.clone());
            let countries = domain::destination::default_countries(&numbers);
            self.update_account(account_id, |a| {
                if make_default {
                    a.default_agent_id = Some(agent.id);
                }
                if a.guardrails.countries_from_agents && follow {
                    a.guardrails.allowed_countries = Some(countries.clone());
                }
                Ok(())
            })
            .await?;
        }
        Ok(agent)
    }

    /// Sets (or with `None` clears) the account's calling window.
    pub async fn set_calling_window(
        &self,
        account_id: &AccountId,
        window: Option<CallingWindow>,
    ) -> Result<Account, AdminError> {
        self.update_account(account_id, |a| {
            a.calling_window = window.clone();
            Ok(())
        })
        .await
    }

    /// Sets (or clears) the webhook URL. HTTPS only, unless `allow_insecure_local` (the local
    /// stack's receiver on http://127.0.0.1).
    pub async fn set_webhook_url(
        &self,
        account_id: &AccountId,
        url: Option<&str>,
        allow_insecure_local: bool,
    ) -> Result<Account, AdminError> {
        let url = url
            .map(|u| validate_webhook_url(u, allow_insecure_local))
            .transpose()?;
        self.update_account(account_id, |a| {
            a.webhook_url = url.clone();
            Ok(())
        })
        .await
    }

    /// Sets (or with `None` returns to the default) the account's recipient-hours policy
    /// (`domain::recipient_hours`).
    pub async fn set_recipient_hours(
        &self,
        account_id: &AccountId,
        policy: Option<RecipientHours>,
    ) -> Result<Account, AdminError> {
        self.update_account(account_id, |a| {
            a.guardrails.recipient_hours = policy;
            Ok(())
        })
        .await
    }

    /// The operator's kill switch: suspends the account (every API and settings request but
    /// the settings GET refused with 403 `account_suspended`, no held call dialed; webhooks
    /// keep flowing), with the operator's reason.
    pub async fn suspend(
        &self,
        account_id: &AccountId,
        reason: &str,
    ) -> Result<Account, AdminError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(AdminError::Invalid(
                "--reason must say why (it is kept for operators, never shown to the customer)"
                    .into(),
            ));
        }
        let since = self.clock.now();
        self.update_account(account_id, |a| {
            a.guardrails.suspended = Some(domain::model::Suspension {
                reason: reason.to_string(),
                since,
            });
            Ok(())
        })
        .await
    }

    /// Lifts a suspension: requests are served again and held calls are placed at their next
    /// check.
    pub async fn resume(&self, account_id: &AccountId) -> Result<Account, AdminError> {
        self.update_account(account_id, |a| {
            a.guardrails.suspended = None;
            Ok(())
        })
        .await
    }

    /// Sets the account's requests per minute per API key (`None`: back to the default,
    /// `API_RATE_LIMIT_PER_MINUTE`).
    pub async fn set_rate_limit(
        &self,
        account_id: &AccountId,
        per_minute: Option<u32>,
    ) -> Result<Account, AdminError> {
        if per_minute == Some(0) {
            return Err(AdminError::Invalid(
                "--per-minute must be at least 1 (to stop all calls, suspend the account: bvai-admin suspend)".into(),
            ));
        }
        self.update_account(account_id, |a| {
            a.guardrails.rate_limit_per_minute = per_minute;
            Ok(())
        })
        .await
    }

    /// Sets which numbers the account may call (`domain::destination`), all of it at once: a
    /// list of countries (ISO 3166-1 alpha-2, `None`: every country), whether the
    /// non-geographic premium, satellite and international-network codes are allowed, and
    /// which of the number types refused by default (`domain::number_type`) are (none: every
    /// one refused). The country list no longer follows the agents' numbers afterwards.
    pub async fn set_destinations(
        &self,
        account_id: &AccountId,
        countries: Option<&str>,
        allow_non_geographic: bool,
        allow_types: &[NumberType],
    ) -> Result<Account, AdminError> {
        let countries = countries
            .map(|c| {
                domain::destination::parse_countries(c)
                    .map_err(|e| AdminError::Invalid(format!("--countries: {e}")))
            })
            .transpose()?;
        let types = domain::destination::normalise_types(allow_types);
        self.update_account(account_id, |a| {
            a.guardrails.allowed_countries = countries.clone();
            a.guardrails.non_geographic_allowed = allow_non_geographic;
            a.guardrails.allowed_number_types = types.clone();
            a.guardrails.countries_from_agents = false;
            Ok(())
        })
        .await
    }

    /// Generates a new API key (the old one stops working) and returns it: the only time the
    /// plaintext is visible.
    pub async fn generate_key(&self, account_id: &AccountId) -> Result<String, AdminError> {
        for _ in 0..SAVE_ATTEMPTS {
            let current = self.account(account_id).await?;
            match domain::key_rotation::rotate_api_key(
                &self.store,
                self.secrets.as_ref(),
                &self.secret_prefix,
                &current,
                self.clock.now(),
            )
            .await
            {
                Ok(rotated) => {
                    // What the old key scheduled dies with it; the events are queued by the
                    // reconciler (no queue here), which also refuses any call of the old key.
                    if let Some(old) = current.api_key.as_ref() {
                        if let Err(e) = domain::bulk_cancel::cancel_scheduled_calls(
                            &self.store,
                            None,
                            &rotated.account,
                            domain::bulk_cancel::Revoke::Key(&old.hash),
                            self.clock.now(),
                        )
                        .await
                        {
                            eprintln!("warning: the old key's scheduled calls were not all canceled now ({e}); the reconciler cancels them when due");
                        }
                    }
                    return Ok(rotated.key.plaintext);
                }
                Err(ApiError::Conflict(_)) => continue,
                Err(ApiError::Internal(source)) => {
                    return Err(AdminError::Other(source.to_string()))
                }
                Err(e) => return Err(AdminError::Other(e.to_string())),
            }
        }
        Err(AdminError::Other(format!(
            "account {account_id} kept changing while the key was generated; try again"
        )))
    }

    /// The account as an operator may see it: settings, the key's prefix and last four
    /// characters only, and the agents. Never a secret.
    pub async fn show_account(&self, id: &AccountId) -> Result<Value, AdminError> {
        let a = self.account(id).await?;
        let agents = self.store.agents(id).await.map_err(self.store_err())?;
        Ok(json!({
            "id": a.id,
            "name": a.name,
            "plan": a.plan.as_str(),
            "api_enabled": a.api_enabled,
            "api_key": a.api_key.as_ref().map(|k| json!({
                "prefix": k.prefix,
                "last4": k.last4,
                "created_at": rfc3339(k.created_at),
            })),
            "webhook_url": a.webhook_url,
            "default_agent_id": a.default_agent_id,
            "calling_window": a.calling_window,
            "rate_limit_per_minute": a.guardrails.rate_limit_per_minute,
            "allowed_countries": a.guardrails.allowed_countries,
            "non_geographic_allowed": a.guardrails.non_geographic_allowed,
            "allowed_number_types": a.guardrails.allowed_number_types,
            "countries_from_agents": a.guardrails.countries_from_agents,
            "recipient_hours": recipient_hours_json(&a),
            "created_at": rfc3339(a.created_at),
            "version": a.version,
            "agents": agents.iter().map(|g| json!({
                "id": g.id,
                "name": g.name,
                "provider_agent_id": g.provider_agent_id,
                "phone_number": g.phone_number.as_ref().map(|p| p.as_str()),
            })).collect::<Vec<_>>(),
        }))
    }
}

/// Account ids go into table keys and secret names: letters, digits, `_` and `-`, 1-64.
pub fn validate_account_id(id: &str) -> Result<(), AdminError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(AdminError::Invalid(format!(
            "invalid account id {id:?}: use 1 to 64 letters, digits, '_' or '-'"
        )))
    }
}

/// Parses a calling window from its JSON form (see `domain::calling_window`).
pub fn parse_calling_window(json: &str) -> Result<CallingWindow, AdminError> {
    serde_json::from_str(json).map_err(|e| {
        AdminError::Invalid(format!(
            "invalid calling window: {e}. Expected e.g. {{\"time_zone\": \"America/New_York\", \"days\": {{\"mon\": {{\"start\": \"09:00\", \"end\": \"17:00\"}}, \"sat\": \"off\"}}}}"
        ))
    })
}

/// A recipient-hours policy from the command line's `--applies-to`, `--start`, `--end`.
pub fn parse_recipient_hours(
    applies_to: AppliesTo,
    start: &str,
    end: &str,
) -> Result<RecipientHours, AdminError> {
    RecipientHours::try_from(RecipientHoursJson {
        applies_to,
        start: start.to_string(),
        end: end.to_string(),
    })
    .map_err(|e| AdminError::Invalid(format!("invalid recipient hours: {e}")))
}

/// The account's recipient-hours policy in force, and whether it is the default.
pub fn recipient_hours_json(a: &Account) -> Value {
    let mut v = serde_json::to_value(a.guardrails.recipient_hours()).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "default".into(),
            a.guardrails.recipient_hours.is_none().into(),
        );
    }
    v
}

fn validate_webhook_url(raw: &str, allow_insecure_local: bool) -> Result<String, AdminError> {
    // The same rules as the settings API (`domain::webhook_url`): the local switch admits
    // http and loopback only, never private or metadata addresses.
    domain::webhook_url::validate(raw.trim(), allow_insecure_local)
        .map(|u| u.to_string())
        .map_err(|e| AdminError::Invalid(format!("invalid webhook URL {raw:?}: {e}")))
}

/// The dead-letter queue tools over the AWS SDK's default configuration.
pub async fn dead_letters_from_environment(
    dlq_url: &str,
    events_queue_url: &str,
) -> dlq::DeadLetters {
    let sdk = aws_adapters::sdk_config().await;
    dlq::DeadLetters::new(aws_sdk_sqs::Client::new(&sdk), dlq_url, events_queue_url)
}

/// Builds an [`Admin`] from the AWS SDK's default configuration.
/// The name prefix of the per-account API key secrets, as the deployed functions use it
/// (`buildvoiceai/<stage>/api-key/`, template.yaml's `API_KEY_SECRET_PREFIX`): `--secret-prefix`
/// if given, else derived from `--stage`. Only against the local emulator (an
/// `AWS_ENDPOINT_URL` on a loopback address) may both be left out, and the local default
/// (`domain::config::DEFAULT_API_KEY_SECRET_PREFIX`) applies: a key written under a prefix the
/// stack does not read would authenticate trigger-call while webhook-delivery, finding no
/// secret, dead-letters every event.
pub fn resolve_secret_prefix(
    explicit: Option<&str>,
    stage: Option<&str>,
    endpoint_url: Option<&str>,
) -> Result<String, AdminError> {
    let explicit = explicit.map(str::trim).filter(|p| !p.is_empty());
    let stage = stage.map(str::trim).filter(|s| !s.is_empty());
    let from_stage = match stage {
        Some(stage) => {
            let valid = stage.len() <= 16
                && stage.starts_with(|c: char| c.is_ascii_lowercase())
                && stage
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !valid {
                return Err(AdminError::Invalid(format!(
                    "--stage {stage:?} is not a stage name (a-z, 0-9, -; up to 16, as template.yaml's Stage)"
                )));
            }
            Some(format!("buildvoiceai/{stage}/api-key/"))
        }
        None => None,
    };
    match (explicit, from_stage) {
        (Some(p), Some(s)) if p != s => Err(AdminError::Invalid(format!(
            "--secret-prefix {p} is not the prefix of --stage ({s})"
        ))),
        (Some(p), _) if !p.ends_with('/') => Err(AdminError::Invalid(format!(
            "--secret-prefix {p} must end with '/' (the stack's ApiKeySecretPrefix output)"
        ))),
        (Some(p), _) => Ok(p.to_string()),
        (None, Some(s)) => Ok(s),
        (None, None) if endpoint_url.is_some_and(is_loopback_endpoint) => {
            Ok(domain::config::DEFAULT_API_KEY_SECRET_PREFIX.to_string())
        }
        (None, None) => Err(AdminError::Invalid(
            "no API key secret prefix: pass --stage <stage> (or set STAGE), or --secret-prefix \
             (API_KEY_SECRET_PREFIX, the stack's ApiKeySecretPrefix output)"
                .into(),
        )),
    }
}

/// Whether an endpoint URL names this machine (the local emulator), not an AWS endpoint.
fn is_loopback_endpoint(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub async fn from_environment(table: &str, secret_prefix: &str) -> Admin {
    let sdk = aws_adapters::sdk_config().await;
    Admin::new(
        DynamoStore::from_sdk(&sdk, table),
        Arc::new(aws_adapters::SecretsManager::from_sdk(&sdk)),
        secret_prefix,
        Arc::new(domain::clock::SystemClock),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_prefix_is_required_outside_the_emulator() {
        let local = Some("http://127.0.0.1:4566");
        assert_eq!(
            resolve_secret_prefix(None, Some("prod"), None).unwrap(),
            "buildvoiceai/prod/api-key/"
        );
        assert_eq!(
            resolve_secret_prefix(Some("buildvoiceai/prod/api-key/"), Some("prod"), None).unwrap(),
            "buildvoiceai/prod/api-key/"
        );
        assert!(
            resolve_secret_prefix(Some("buildvoiceai/dev/api-key/"), Some("prod"), None).is_err()
        );
        assert!(resolve_secret_prefix(Some("buildvoiceai/prod/api-key"), None, None).is_err());
        assert!(resolve_secret_prefix(None, Some("Prod!"), None).is_err());
        for endpoint in [
            None,
            Some("https://dynamodb.us-east-1.amazonaws.com"),
            Some("http://10.0.0.5:4566"),
        ] {
            let err = resolve_secret_prefix(None, None, endpoint)
                .unwrap_err()
                .to_string();
            assert!(err.contains("--stage"), "{endpoint:?}: {err}");
        }
        for endpoint in [
            local,
            Some("http://localhost:5000"),
            Some("http://[::1]:5000/"),
        ] {
            assert_eq!(
                resolve_secret_prefix(None, None, endpoint).unwrap(),
                domain::config::DEFAULT_API_KEY_SECRET_PREFIX,
                "{endpoint:?}"
            );
        }
    }

    #[test]
    fn account_ids() {
        assert!(validate_account_id("acct_demo-1").is_ok());
        assert!(validate_account_id("").is_err());
        assert!(validate_account_id("a/b").is_err());
        assert!(validate_account_id("café").is_err());
        assert!(validate_account_id(&"a".repeat(65)).is_err());
    }

    #[test]
    fn webhook_urls() {
        assert_eq!(
            validate_webhook_url("https://example.com/hook", false)
                .ok()
                .as_deref(),
            Some("https://example.com/hook")
        );
        assert!(validate_webhook_url("http://example.com/hook", false).is_err());
        assert!(validate_webhook_url("http://127.0.0.1:3001/webhooks", true).is_ok());
        assert!(validate_webhook_url("ftp://example.com", true).is_err());
        assert!(validate_webhook_url("https://user:pw@example.com", false).is_err());
        assert!(validate_webhook_url("not a url", false).is_err());
    }

    #[test]
    fn calling_windows() {
        let w = parse_calling_window(
            r#"{"time_zone": "Europe/Berlin", "days": {"mon": {"start": "09:00", "end": "17:00"}}}"#,
        )
        .expect("valid");
        assert_eq!(w.time_zone.name(), "Europe/Berlin");
        let e = parse_calling_window(r#"{"time_zone": "Mars/Base", "days": {}}"#)
            .expect_err("invalid zone");
        assert!(e.to_string().contains("Mars/Base"), "{e}");
        assert!(parse_calling_window("{").is_err());
    }
}
