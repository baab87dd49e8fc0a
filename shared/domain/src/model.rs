//! Domain types shared by every function. The storage layout lives in the DynamoDB adapter
//! (`aws_adapters::dynamo`, documented in docs/data-model.md), not here.

use crate::answer;
use crate::calling_window::CallingWindow;
use crate::ids::{AccountId, AgentId, CallId, EventId};
use crate::number_type::NumberType;
use crate::phone::PhoneNumber;
use crate::recipient_hours::RecipientHours;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Billing plan. Only Agency includes the API & Webhooks integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    Starter,
    Pro,
    Agency,
}

impl Plan {
    pub fn has_api_access(self) -> bool {
        matches!(self, Plan::Agency)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Starter => "starter",
            Plan::Pro => "pro",
            Plan::Agency => "agency",
        }
    }

    pub fn parse(s: &str) -> Option<Plan> {
        match s {
            "starter" => Some(Plan::Starter),
            "pro" => Some(Plan::Pro),
            "agency" => Some(Plan::Agency),
            _ => None,
        }
    }
}

/// Public facts about the current API key; the key itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyInfo {
    pub hash: String,
    pub prefix: String,
    pub last4: String,
    pub created_at: DateTime<Utc>,
}

/// The account's webhook signing secret, by reference: `version` is the lowercase hex SHA-256
/// of the secret's text (`whsec_...`), which is also its Secrets Manager version id, so readers
/// ask for exactly that version and check what they got against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSecretInfo {
    pub version: String,
    pub created_at: DateTime<Utc>,
    /// The secret this one replaced, still signing (second signature) until `expires_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousWebhookSecret>,
    /// For an account whose webhook URL predates signing secrets: until when
    /// `webhook-signature` also carries the signature keyed with the API key's bytes (what
    /// receivers verified before), so they keep working while they switch to this secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousWebhookSecret {
    pub version: String,
    pub expires_at: DateTime<Utc>,
}

impl WebhookSecretInfo {
    /// The previous secret, if it still signs at `now`.
    pub fn previous_at(&self, now: DateTime<Utc>) -> Option<&PreviousWebhookSecret> {
        self.previous.as_ref().filter(|p| p.expires_at > now)
    }
}

/// What an operator (`bvai-admin`) set for an account against abuse; copied onto the key grant
/// so trigger-call applies it without another read. The default is what every account gets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guardrails {
    /// Requests per minute per API key; `None`: `API_RATE_LIMIT_PER_MINUTE` (100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_minute: Option<u32>,
    /// ISO 3166-1 alpha-2 codes the account may call (`domain::destination`); `None`: every
    /// country (the non-geographic codes stay refused unless allowed below).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_countries: Option<Vec<String>>,
    /// The non-geographic premium, satellite and international-network codes
    /// (`domain::destination::NON_GEOGRAPHIC`) may be called.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub non_geographic_allowed: bool,
    /// The number types refused by default (`domain::number_type`: premium rate, shared cost,
    /// personal numbers, UAN, pagers) that this account may call; sorted, no duplicates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_number_types: Vec<NumberType>,
    /// `allowed_countries` is the new-account default (`domain::destination::
    /// default_countries`: the countries of the agents' numbers, or US and CA without any)
    /// and follows the agents an operator adds, until an operator sets the destinations
    /// (`bvai-admin set-destinations` clears it). Accounts created before the default have
    /// neither and keep what they had.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub countries_from_agents: bool,
    /// The recipient's quiet hours (`domain::recipient_hours`); `None`: the default,
    /// 08:00-21:00 in the recipient's zones for North American numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_hours: Option<RecipientHours>,
    /// The operator's kill switch (`bvai-admin suspend`): while set, every API request and
    /// every settings route but the integration's GET is refused with 403
    /// `account_suspended`, and no held call is dialed; webhooks keep flowing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended: Option<Suspension>,
}

/// Why and since when an operator suspended an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspension {
    pub reason: String,
    pub since: DateTime<Utc>,
}

impl Guardrails {
    pub fn is_default(&self) -> bool {
        *self == Guardrails::default()
    }

    /// The recipient-hours policy in force: the operator's, else the default.
    pub fn recipient_hours(&self) -> RecipientHours {
        self.recipient_hours.unwrap_or_default()
    }
}

/// An account and its integration settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub plan: Plan,
    pub api_enabled: bool,
    pub api_key: Option<ApiKeyInfo>,
    pub webhook_url: Option<String>,
    pub default_agent_id: Option<AgentId>,
    pub calling_window: Option<CallingWindow>,
    /// Operator-set limits (rate limit, destinations); not settable through the API.
    pub guardrails: Guardrails,
    /// The webhook events the account subscribed to (`crate::event_rules`), normalized; never
    /// empty. An account item without the attribute has the default, `call.completed`.
    pub events: Vec<crate::event_type::EventType>,
    /// Which webhook signing secret (and, during a rotation's overlap, which previous one)
    /// signs `webhook-signature`; the secrets themselves are in Secrets Manager.
    pub webhook_secret: Option<WebhookSecretInfo>,
    pub created_at: DateTime<Utc>,
    /// Optimistic-concurrency counter: every write checks it and bumps it.
    pub version: u64,
}

impl Account {
    /// A new account with API access on, no key, no webhook and no window.
    pub fn new(
        id: impl Into<AccountId>,
        name: impl Into<String>,
        plan: Plan,
        now: DateTime<Utc>,
    ) -> Self {
        Account {
            id: id.into(),
            name: name.into(),
            plan,
            api_enabled: true,
            api_key: None,
            webhook_url: None,
            default_agent_id: None,
            calling_window: None,
            guardrails: Guardrails::default(),
            events: crate::event_type::default_events(),
            webhook_secret: None,
            created_at: now,
            version: 0,
        }
    }

    /// The grant a Bearer key of this account carries.
    pub fn grant(&self) -> KeyGrant {
        KeyGrant {
            key_hash: self
                .api_key
                .as_ref()
                .map(|k| k.hash.clone())
                .unwrap_or_default(),
            account_id: self.id.clone(),
            plan: self.plan,
            api_enabled: self.api_enabled,
            default_agent_id: self.default_agent_id,
            calling_window: self.calling_window.clone(),
            guardrails: self.guardrails.clone(),
        }
    }
}

/// What a Bearer key authorises, read in one GetItem by the key's hash. A copy of the account's
/// authorising fields, kept in step with the account by transactional writes.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyGrant {
    /// The SHA-256 (hex) of the key this grant is for: calls placed or scheduled with the key
    /// record it (`Call::key_hash`), so a rotation can revoke what a leaked key scheduled.
    pub key_hash: String,
    pub account_id: AccountId,
    pub plan: Plan,
    pub api_enabled: bool,
    pub default_agent_id: Option<AgentId>,
    pub calling_window: Option<CallingWindow>,
    pub guardrails: Guardrails,
}

/// A voice agent of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub id: AgentId,
    pub account_id: AccountId,
    pub name: String,
    /// The provider's id for this agent (Retell `agent_id`).
    pub provider_agent_id: String,
    /// The number calls are placed from; an agent without one cannot call.
    pub phone_number: Option<PhoneNumber>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(inline))]
pub enum CallStatus {
    /// Held or scheduled (`when_closed: "hold"`, `not_before`): written, not to be dialed
    /// before its `due_at` (`scheduled_for`); the reconciler claims it (`scheduled` ->
    /// `queued`) and places it then. Never moved by callbacks.
    Scheduled,
    /// Written, provider not asked yet.
    Queued,
    /// The provider was asked but its answer was lost (a timeout after sending, a reset, an
    /// unreadable 2xx, a 5xx): the call may or may not ring. Callbacks carrying our call id
    /// move it on; without any, the reconciler resolves it as `failed` after its deadline.
    DialUnknown,
    /// The provider accepted the call.
    Dialing,
    InProgress,
    Ended,
    /// Ended and analysed; the `call.completed` event exists.
    Completed,
    /// The provider refused or never answered; no call was placed.
    Failed,
    /// A scheduled call cancelled before it was placed (`DELETE /api/calls/{id}`, or its
    /// number suppressed). Final; never dialed.
    Canceled,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Scheduled => "scheduled",
            CallStatus::Queued => "queued",
            CallStatus::DialUnknown => "dial_unknown",
            CallStatus::Dialing => "dialing",
            CallStatus::InProgress => "in_progress",
            CallStatus::Ended => "ended",
            CallStatus::Completed => "completed",
            CallStatus::Failed => "failed",
            CallStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<CallStatus> {
        Some(match s {
            "scheduled" => CallStatus::Scheduled,
            "queued" => CallStatus::Queued,
            "dial_unknown" => CallStatus::DialUnknown,
            "dialing" => CallStatus::Dialing,
            "in_progress" => CallStatus::InProgress,
            "ended" => CallStatus::Ended,
            "completed" => CallStatus::Completed,
            "failed" => CallStatus::Failed,
            "canceled" => CallStatus::Canceled,
            _ => return None,
        })
    }

    /// Callbacks move a call forward only; this is the order they may take. `scheduled` comes
    /// first (the reconciler's claim moves it to `queued`) but no callback moves a call out of
    /// it ([`CallStatus::callback_may_move`]); `canceled` is final.
    pub fn rank(self) -> u8 {
        match self {
            CallStatus::Scheduled => 0,
            CallStatus::Queued => 1,
            CallStatus::DialUnknown => 2,
            CallStatus::Dialing => 3,
            CallStatus::InProgress => 4,
            CallStatus::Ended => 5,
            CallStatus::Completed => 6,
            CallStatus::Failed => 7,
            CallStatus::Canceled => 8,
        }
    }

    /// Whether a provider callback may move a call out of this status (forward only, by
    /// rank): never out of `scheduled` (not placed yet) or `canceled` (never placed).
    pub fn callback_may_move(self) -> bool {
        !matches!(self, CallStatus::Scheduled | CallStatus::Canceled)
    }

    /// Every status, in rank order.
    pub const ALL: [CallStatus; 9] = [
        CallStatus::Scheduled,
        CallStatus::Queued,
        CallStatus::DialUnknown,
        CallStatus::Dialing,
        CallStatus::InProgress,
        CallStatus::Ended,
        CallStatus::Completed,
        CallStatus::Failed,
        CallStatus::Canceled,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(inline))]
pub enum Direction {
    Outbound,
    Inbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        }
    }
}

/// A call record.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub id: CallId,
    pub account_id: AccountId,
    pub agent_id: AgentId,
    pub direction: Direction,
    pub status: CallStatus,
    /// The customer's number (callee outbound, caller inbound).
    pub phone_number: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// The customer's metadata object, passed through to the webhook.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub provider_call_id: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i64>,
    pub disconnection_reason: Option<String>,
    /// Set once the `call.completed` event exists.
    pub event_id: Option<EventId>,
    /// The hash of the API key that created the call (outbound calls of the API; `None` for
    /// inbound calls and calls written before keys were recorded). A held or scheduled call
    /// is dialed only while it is still the account's key: rotating the key revokes it.
    pub key_hash: Option<String>,
    /// When the reconciler must look at the call if nothing moved it on before: a `scheduled`
    /// call's `scheduled_for` (due kind `scheduled`), a `queued`
    /// call's request lease, a `dial_unknown` call's deadline, an `ended` call's analysis
    /// grace. `None` once the call is where callbacks alone finish it (or finished).
    pub due_at: Option<DateTime<Utc>>,
}

/// The `failure_reason` prefix of a call resolved as failed only because the provider never
/// reported it (a `dial_unknown` past its deadline). Such a call may have rung after all, so
/// its late callbacks still move it forward and complete it (`Call::may_still_progress`).
pub const DIAL_OUTCOME_UNKNOWN: &str = "dial_outcome_unknown";

impl Call {
    /// Callbacks may still move this call forward: it is not failed, or failed only for want of
    /// news from the provider ([`DIAL_OUTCOME_UNKNOWN`]).
    pub fn may_still_progress(&self) -> bool {
        if !self.status.callback_may_move() {
            return false;
        }
        self.status != CallStatus::Failed
            || self
                .failure_reason
                .as_deref()
                .is_some_and(|r| r.starts_with(DIAL_OUTCOME_UNKNOWN))
    }

    /// A new call record: nothing known yet beyond who, which agent, which number and when.
    pub fn new(
        id: impl Into<CallId>,
        account_id: impl Into<AccountId>,
        agent_id: impl Into<AgentId>,
        direction: Direction,
        status: CallStatus,
        phone_number: impl Into<String>,
        now: DateTime<Utc>,
    ) -> Call {
        Call {
            id: id.into(),
            account_id: account_id.into(),
            agent_id: agent_id.into(),
            direction,
            status,
            phone_number: phone_number.into(),
            name: None,
            email: None,
            metadata: serde_json::Map::new(),
            provider_call_id: None,
            failure_reason: None,
            created_at: now,
            updated_at: now,
            started_at: None,
            ended_at: None,
            duration_seconds: None,
            disconnection_reason: None,
            event_id: None,
            key_hash: None,
            due_at: None,
        }
    }
}

/// An Idempotency-Key's memory: which request it belongs to and, once finished, the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    pub account_id: AccountId,
    pub key: String,
    pub request_hash: String,
    pub call_id: CallId,
    /// `None` while the first request is still running.
    pub response: Option<StoredResponse>,
    pub expires_at: DateTime<Utc>,
    /// While there is no response: until when the running request owns the key. After it, the
    /// request has certainly ended (crashed or timed out), so a retry with the same body may
    /// take the key over and the reconciler may release it.
    pub lease_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

/// Outcome of one delivery attempt, as shown in the delivery log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub enum DeliveryOutcome {
    /// 2xx from the endpoint.
    Delivered,
    /// Failed; another attempt is scheduled (`next_attempt_at`).
    Failed,
    /// The last attempt failed; the event is dropped.
    Dropped,
    /// Not sent: API access off or no webhook URL. Not retried.
    Skipped,
}

impl DeliveryOutcome {
    pub const ALL: [DeliveryOutcome; 4] = [
        DeliveryOutcome::Delivered,
        DeliveryOutcome::Failed,
        DeliveryOutcome::Dropped,
        DeliveryOutcome::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Failed => "failed",
            DeliveryOutcome::Dropped => "dropped",
            DeliveryOutcome::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// Why an attempt failed, coarse enough to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub enum DeliveryErrorClass {
    Timeout,
    Connect,
    Tls,
    Redirect,
    BlockedAddress,
    HttpStatus,
    /// A failure of ours (DynamoDB, SQS, Secrets Manager) before the POST: logged as a failed
    /// attempt and retried on the customer's schedule, not the endpoint's fault.
    Internal,
}

impl DeliveryErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryErrorClass::Timeout => "timeout",
            DeliveryErrorClass::Connect => "connect",
            DeliveryErrorClass::Tls => "tls",
            DeliveryErrorClass::Redirect => "redirect",
            DeliveryErrorClass::BlockedAddress => "blocked_address",
            DeliveryErrorClass::HttpStatus => "http_status",
            DeliveryErrorClass::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        use DeliveryErrorClass::*;
        [
            Timeout,
            Connect,
            Tls,
            Redirect,
            BlockedAddress,
            HttpStatus,
            Internal,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// What made an attempt: the first delivery of an event and its retries (`automatic`), a test
/// send from the integration page (`test`), a manual redelivery of one event (`redelivery`) or a
/// bulk recovery of dropped and skipped events (`recovery`). Retries keep their series' trigger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub enum DeliveryTrigger {
    #[default]
    Automatic,
    Test,
    Redelivery,
    Recovery,
}

impl DeliveryTrigger {
    pub const ALL: [DeliveryTrigger; 4] = [
        DeliveryTrigger::Automatic,
        DeliveryTrigger::Test,
        DeliveryTrigger::Redelivery,
        DeliveryTrigger::Recovery,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryTrigger::Automatic => "automatic",
            DeliveryTrigger::Test => "test",
            DeliveryTrigger::Redelivery => "redelivery",
            DeliveryTrigger::Recovery => "recovery",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// One row of the delivery log (one POST, or one decision not to POST).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    pub account_id: AccountId,
    pub event_id: EventId,
    pub call_id: CallId,
    /// 1 for the first try, 2..=4 for the retries.
    pub attempt: u32,
    pub attempted_at: DateTime<Utc>,
    pub url: Option<String>,
    pub outcome: DeliveryOutcome,
    pub http_status: Option<u16>,
    pub duration_ms: u64,
    pub error_class: Option<DeliveryErrorClass>,
    /// Error text or the first KiB of the response body (lossy UTF-8, cut at a character
    /// boundary). Shown in the log, never written to the function's logs.
    pub response_excerpt: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// What made the attempt. Rows written before it existed read as `automatic`.
    #[serde(default)]
    pub trigger: DeliveryTrigger,
}

impl DeliveryAttempt {
    /// The row as the delivery log API shows it (and as the delivery function may echo it).
    pub fn view(&self) -> DeliveryAttemptView<'_> {
        DeliveryAttemptView {
            event_id: self.event_id.into(),
            call_id: self.call_id.into(),
            attempt: self.attempt,
            attempted_at: self.attempted_at,
            url: self.url.as_deref(),
            outcome: self.outcome,
            http_status: self.http_status,
            duration_ms: self.duration_ms,
            error_class: self.error_class,
            response_excerpt: self.response_excerpt.as_deref(),
            next_attempt_at: self.next_attempt_at,
            trigger: self.trigger,
        }
    }
}

/// One row of the delivery log as the API shows it: times in RFC 3339 UTC with `Z`, enums as
/// their snake_case names, absent values as null. The account id is left out: the caller
/// already knows whose log it reads.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "openapi",
    schemars(rename = "DeliveryAttempt", deny_unknown_fields)
)]
pub struct DeliveryAttemptView<'a> {
    pub event_id: Uuid,
    pub call_id: Uuid,
    #[cfg_attr(feature = "openapi", schemars(range(min = 1)))]
    pub attempt: u32,
    #[serde(serialize_with = "answer::time")]
    pub attempted_at: DateTime<Utc>,
    pub url: Option<&'a str>,
    pub outcome: DeliveryOutcome,
    pub http_status: Option<u16>,
    pub duration_ms: u64,
    pub error_class: Option<DeliveryErrorClass>,
    /// the first KiB of the endpoint's response body (lossy UTF-8, cut at a character boundary), or what went wrong when there was no response
    pub response_excerpt: Option<&'a str>,
    #[serde(serialize_with = "answer::opt_time")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub trigger: DeliveryTrigger,
}

/// A stored webhook event (`call.completed`, `call.started`, `call.failed`): the exact bytes
/// every attempt sends.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub id: EventId,
    pub account_id: AccountId,
    pub call_id: CallId,
    /// Which event it is (`X-Event-Type`; the payload's `event`).
    pub event_type: crate::event_type::EventType,
    pub payload: String,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guardrails_stored_before_number_types_read_unchanged() {
        // The account item's `guardrails` attribute as written before number types and the
        // new-account country default: the same policy, no type allowed, no country default.
        let stored = r#"{"rate_limit_per_minute":5,"allowed_countries":["GB"],"non_geographic_allowed":true}"#;
        let g: Guardrails = serde_json::from_str(stored).unwrap();
        assert_eq!(g.allowed_countries, Some(vec!["GB".to_string()]));
        assert!(g.non_geographic_allowed);
        assert!(g.allowed_number_types.is_empty());
        assert!(!g.countries_from_agents);
        assert_eq!(
            serde_json::to_string(&g).unwrap(),
            stored,
            "written back the same"
        );
        let none: Guardrails = serde_json::from_str("{}").unwrap();
        assert!(none.is_default());
        assert_eq!(none.allowed_countries, None, "every country, as before");
        // An account created without the admin CLI (`Account::new`) has no list either.
        assert!(Account::new("a", "A", Plan::Agency, Utc::now())
            .guardrails
            .is_default());
        let typed = Guardrails {
            allowed_number_types: vec![NumberType::PremiumRate, NumberType::Uan],
            countries_from_agents: true,
            ..Guardrails::default()
        };
        let json = serde_json::to_string(&typed).unwrap();
        assert_eq!(
            json,
            r#"{"allowed_number_types":["premium_rate","uan"],"countries_from_agents":true}"#
        );
        assert_eq!(serde_json::from_str::<Guardrails>(&json).unwrap(), typed);
    }
}
