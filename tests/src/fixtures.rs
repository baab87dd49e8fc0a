//! Accounts, agents and keys seeded through the store and secrets ports: the emulator's
//! adapters for the end-to-end tests, the in-memory ones for the rule tests.

use chrono::{DateTime, Utc};
use domain::calling_window::DayWindow;
use domain::ids::{AccountId, AgentId, CallId, EventId};
use domain::model::{Account, Agent, Call, Plan};
use domain::phone::PhoneNumber;
use domain::ports::secrets::SecretStore;
use domain::ports::store::Store;
use domain::recipient_hours::{AppliesTo, RecipientHours};
use serde_json::Value;
use uuid::Uuid;

/// A recipient-hours policy that never refuses (`applies_to: off`).
pub const RECIPIENT_HOURS_OFF: RecipientHours = RecipientHours {
    applies_to: AppliesTo::Off,
    hours: DayWindow {
        start: domain::recipient_hours::DEFAULT_START,
        end: domain::recipient_hours::DEFAULT_END,
    },
};

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
pub async fn agency(store: &dyn Store, secrets: &dyn SecretStore) -> Seeded {
    account_with(store, secrets, Plan::Agency, true).await
}

pub async fn account_with(
    store: &dyn Store,
    secrets: &dyn SecretStore,
    plan: Plan,
    with_default_agent: bool,
) -> Seeded {
    seed(
        store,
        secrets,
        &secret_prefix(),
        plan,
        with_default_agent,
        Utc::now(),
    )
    .await
}

/// An account of `plan` created at `now`, with a key under `prefix` and an agent with a phone
/// number (its default agent if `with_default_agent`).
///
/// Its recipient hours are off ([`RECIPIENT_HOURS_OFF`]), so a test that is not about them
/// places calls at any hour of the real or the fixed clock; the tests of the rule set the
/// policy they test (`a.guardrails.recipient_hours = None` for the default).
pub async fn seed(
    store: &dyn Store,
    secrets: &dyn SecretStore,
    prefix: &str,
    plan: Plan,
    with_default_agent: bool,
    now: DateTime<Utc>,
) -> Seeded {
    let id = format!("acct_{}", Uuid::new_v4().simple());
    let account = Account::new(&id, "Northwind Sales", plan, now);
    store
        .create_account(&account)
        .await
        .expect("create account");
    let agent = agent(store, &account.id, "Sales Qualifier", Some("+14155550100")).await;
    let mut next = account.clone();
    next.guardrails.recipient_hours = Some(RECIPIENT_HOURS_OFF);
    if with_default_agent {
        next.default_agent_id = Some(agent.id);
    }
    let account = store
        .save_account(&account, &next)
        .await
        .expect("set default agent");
    let rotated = domain::key_rotation::rotate_api_key(store, secrets, prefix, &account, now)
        .await
        .expect("generate key");
    Seeded {
        account: rotated.account,
        api_key: rotated.key.plaintext,
        agent,
        secret_prefix: prefix.to_string(),
    }
}

pub async fn agent(
    store: &dyn Store,
    account_id: impl Into<AccountId>,
    name: &str,
    phone: Option<&str>,
) -> Agent {
    let agent = Agent {
        id: AgentId::new_v4(),
        account_id: account_id.into(),
        name: name.to_string(),
        provider_agent_id: format!("prov_agent_{}", Uuid::new_v4().simple()),
        phone_number: phone.map(|p| PhoneNumber::parse(p).expect("valid phone")),
    };
    store.put_agent(&agent).await.expect("put agent");
    agent
}

/// Applies a change to the stored account (reads it fresh first).
pub async fn update_account(
    store: &dyn Store,
    id: impl Into<AccountId>,
    f: impl FnOnce(&mut Account),
) -> Account {
    let id: AccountId = id.into();
    let current = store
        .account(&id)
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

/// A completed outbound call of the seeded account with its stored `call.completed` event,
/// written through the real store (the same writes the call-completed function makes).
/// Returns the event.
pub async fn stored_event(store: &dyn Store, seeded: &Seeded) -> domain::model::EventRecord {
    use domain::model::{Call, CallStatus, Direction, EventRecord};
    use domain::ports::store::calls::{CallCompletion, CallProgress};
    let now = Utc::now();
    let call = Call {
        name: Some("Jane Smith".into()),
        metadata: serde_json::json!({"source": "test"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        ..Call::new(
            CallId::new_v4(),
            seeded.account.id.clone(),
            seeded.agent.id,
            Direction::Outbound,
            CallStatus::Queued,
            "+15551234567",
            now,
        )
    };
    store
        .create_call(&call, None, now)
        .await
        .expect("create call");
    let provider: domain::callback::ProviderCallObject = serde_json::from_value(serde_json::json!({
        "call_id": format!("prov_{}", call.id.as_uuid().simple()),
        "agent_id": seeded.agent.provider_agent_id,
        "call_status": "ended",
        "direction": "outbound",
        "from_number": "+14155550100",
        "to_number": "+15551234567",
        "start_timestamp": 1750001400000i64,
        "end_timestamp": 1750001585000i64,
        "duration_ms": 185000,
        "metadata": {"call_id": call.id.to_string(), "account_id": seeded.account.id},
        "transcript_object": [{"role": "agent", "content": "Hi, this is Ava. Ünïcödé ☎️", "words": [{"word": "Hi,", "start": 1.0, "end": 1.3}]}],
        "call_analysis": {"call_summary": "Asked about pricing.", "user_sentiment": "Positive"}
    }))
    .expect("provider call object");
    let payload = domain::payload::CallCompleted::build(&call, &seeded.agent.name, &provider)
        .to_payload()
        .expect("payload");
    let event = EventRecord {
        id: EventId::new_v4(),
        account_id: seeded.account.id.clone(),
        call_id: call.id,
        event_type: domain::event_type::EventType::CallCompleted,
        payload,
        created_at: now,
    };
    let completion = CallCompletion {
        summary: "Asked about pricing.",
        sentiment: "positive",
        event: &event,
        event_expires_at: now + chrono::Duration::days(30),
        event_due_at: now + chrono::Duration::days(30),
    };
    let done = store
        .complete_call(call.id, &CallProgress::default(), &completion, now)
        .await
        .expect("complete call");
    assert!(done, "the call was completed and its event stored");
    event
}

/// A provider `transcript_object` of about `content_bytes` bytes of content that does not
/// compress: `turns` utterances of pseudo-random base64 words (xorshift64 from `seed`, so every
/// run is the same), alternating agent and user, one timed word each (turn `i` at `i` s).
/// gzip cannot take base64 of random bytes below three quarters of its size.
pub fn incompressible_transcript(
    content_bytes: usize,
    turns: usize,
    seed: u64,
) -> serde_json::Value {
    use base64::Engine as _;
    let mut x = seed.max(1);
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let per_turn = content_bytes / turns.max(1);
    let utterances: Vec<serde_json::Value> = (0..turns)
        .map(|i| {
            let mut words = Vec::new();
            let mut len = 0;
            while len < per_turn {
                let raw: Vec<u8> = next()
                    .to_le_bytes()
                    .into_iter()
                    .chain(next().to_le_bytes())
                    .collect();
                let word = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&raw[..12]);
                len += word.len() + 1;
                words.push(word);
            }
            serde_json::json!({
                "role": if i % 2 == 0 { "agent" } else { "user" },
                "content": words.join(" "),
                "words": [{"word": words[0], "start": i as f64, "end": i as f64 + 0.5}]
            })
        })
        .collect();
    serde_json::Value::Array(utterances)
}

/// The account's webhook signing secret as the dashboard reveals it, created first if the
/// account has none (`domain::webhook::signing_secret::ensure`), under the default prefix.
pub async fn signing_secret(
    store: &dyn Store,
    secrets: &dyn SecretStore,
    account_id: impl Into<AccountId>,
) -> domain::webhook::signing_secret::SigningSecret {
    let account_id: &AccountId = &account_id.into();
    use domain::webhook::signing_secret::{ensure, SecretCache};
    let prefix = domain::config::DEFAULT_WEBHOOK_SECRET_PREFIX;
    let account = store
        .account(account_id)
        .await
        .expect("read account")
        .expect("account exists");
    let account = ensure(store, secrets, prefix, &account, Utc::now(), false)
        .await
        .expect("signing secret");
    let version = account.webhook_secret.expect("secret").version;
    SecretCache::new()
        .get(secrets, prefix, account_id, &version)
        .await
        .expect("read signing secret")
}

// ------------------------------------------------------------------ the provider's example call

/// The provider's example call: started 15:30:00Z, ended 15:33:05Z.
pub const START_MS: i64 = 1_750_001_400_000;
pub const END_MS: i64 = 1_750_001_585_000;
/// Our clock's start: shortly after that call ended.
pub const NOW_MS: i64 = 1_750_001_600_000;

pub fn at_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("valid time")
}

/// The provider's stages of one call.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Stage {
    Started,
    Ended,
    Analyzed,
}

impl Stage {
    pub fn event(self) -> &'static str {
        match self {
            Stage::Started => "call_started",
            Stage::Ended => "call_ended",
            Stage::Analyzed => "call_analyzed",
        }
    }
}

/// The provider's call object for one of our outbound calls at `stage`.
pub fn provider_call_json(call: &Call, agent: &Agent, stage: Stage) -> Value {
    let mut obj = serde_json::json!({
        "call_id": call.provider_call_id.clone().unwrap_or_else(|| "prov_unset".into()),
        "agent_id": agent.provider_agent_id,
        "call_status": if stage == Stage::Started { "ongoing" } else { "ended" },
        "direction": "outbound",
        "from_number": "+14155550100",
        "to_number": call.phone_number,
        "start_timestamp": START_MS,
        "metadata": {"call_id": call.id.to_string(), "account_id": call.account_id},
    });
    if stage != Stage::Started {
        obj["end_timestamp"] = END_MS.into();
        obj["duration_ms"] = (END_MS - START_MS).into();
        obj["disconnection_reason"] = "user_hangup".into();
        obj["transcript_object"] = serde_json::json!([
            {"role": "agent", "content": "Hi, this is Ava from Northwind.", "words": []},
            {"role": "user", "content": "Hello, what is this about?", "words": []}
        ]);
    }
    if stage == Stage::Analyzed {
        obj["call_analysis"] = serde_json::json!({
            "call_summary": "The customer asked about pricing.",
            "user_sentiment": "Positive",
            "call_successful": true,
            "in_voicemail": false
        });
    }
    obj
}
