//! The webhook events a customer can subscribe to (docs/webhooks.md): `call.completed` (the
//! spec's, built in `crate::payload` and stored by `crate::completion`), `call.started` and
//! `call.failed` (built here).
//!
//! Every event is an event item (`ports::store::event_store`), written in the same conditional
//! transaction as the call's state change that causes it, then put on the events queue
//! ([`crate::completion::enqueue`]): one delivery pipeline, one retry schedule, one log for
//! all three. An event's id is derived from its call and its type ([`event_id`]), so a retried
//! callback or a re-run repair cannot store a second one: the event item's `attribute_not_exists`
//! condition refuses it.
//!
//! Which transitions cause which event:
//!
//! | event | when | written by |
//! |---|---|---|
//! | `call.started` | the call moves to `in_progress` (the provider's `call_started`) | `CallStore::advance_call_with_event` |
//! | `call.failed` | `call_ended` says the call never connected ([`FailureReason::from_disconnection`]) | `CallStore::advance_call_with_event` |
//! | `call.failed` | the reconciler fails a call (for want of news, [`FailureReason::DialOutcomeUnknown`]; a held call when due) | `CallStore::settle_call_with_event` |
//! | `call.completed` | the same, for an account not subscribed to `call.failed` ([`failure_ending`]) | `CallStore::settle_call_with_event` |
//! | `call.completed` | the call completes (`crate::completion`) | `CallStore::complete_call` |
//!
//! `call.started` and `call.failed` are created only for accounts subscribed to them when the
//! transition happens ([`wanted`]); `call.completed` is always created (the call's completion
//! is recorded with it). At delivery, an event whose type the account is not subscribed to (any
//! more) is logged `skipped` and not sent.

use crate::clock::rfc3339;
use crate::event_type::EventType;
use crate::ids::{CallId, EventId};
use crate::model::{Account, Call, CallStatus, Direction, EventRecord};
use crate::ports::store::event_store::{NewEvent, ENQUEUE_GRACE, EVENT_TTL};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Declares [`FailureReason`]: one line per reason (variant, stable name, meaning), so a new
/// failure path adds its reason in one line.
macro_rules! failure_reasons {
    ($($variant:ident => $name:literal: $doc:literal,)*) => {
        /// Why a call failed, as `call.failed`'s `reason` (stable snake_case names,
        /// docs/webhooks.md "call.failed reasons").
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum FailureReason {
            $(#[doc = $doc] $variant,)*
        }

        impl FailureReason {
            /// Every reason, in declaration order.
            pub const ALL: &'static [FailureReason] = &[$(FailureReason::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(FailureReason::$variant => $name,)*
                }
            }

            /// What the reason means, as documented.
            pub fn description(self) -> &'static str {
                match self {
                    $(FailureReason::$variant => $doc,)*
                }
            }
        }
    };
}

failure_reasons! {
    NoAnswer => "no_answer": "The callee did not answer (the provider's `dial_no_answer`).",
    Busy => "busy": "The line was busy (the provider's `dial_busy`).",
    DialFailed => "dial_failed": "The provider could not place the call (the provider's `dial_failed`: an unreachable or invalid number, a carrier error).",
    DialOutcomeUnknown => "dial_outcome_unknown": "The provider never reported the call after accepting it (or its answer was lost), so it is resolved as not placed. Late news from the provider can still start and complete it.",
    ProviderError => "provider_error": "The call ended with an error on the provider's side before it connected (an `error_*` disconnection reason, or `registered_call_timeout`).",
    AgentUnavailable => "agent_unavailable": "A held or scheduled call was due, but its agent had been deleted or lost its phone number.",
    ApiDisabled => "api_disabled": "A held or scheduled call was due, but the account had switched API access off (or lost the plan that includes it).",
    DestinationBlocked => "destination_blocked": "A held or scheduled call was due, but the destination policy no longer allows the number.",
    CallingWindowNeverOpens => "calling_window_never_opens": "A held or scheduled call was due, but no time within 400 days satisfies both the calling window and the recipient's hours.",
    AccountNotFound => "account_not_found": "A held or scheduled call was due, but its account no longer exists.",
    KeyRotated => "key_rotated": "A held or scheduled call was cancelled because the API key that created it was regenerated: a leaked key's calls end with it (the call is `canceled`, never dialed).",
}

impl FailureReason {
    pub fn parse(s: &str) -> Option<FailureReason> {
        Self::ALL.iter().copied().find(|r| r.as_str() == s)
    }

    /// The reason a `call_ended` callback's disconnection reason means the call never
    /// connected: the dial outcomes always, a provider error only for a call that had not
    /// connected (`connected`: it reached `in_progress`). `None`: the call took place (a
    /// hang-up, voicemail, a transfer...), and `call.completed` alone reports it.
    pub fn from_disconnection(reason: &str, connected: bool) -> Option<FailureReason> {
        match reason {
            "dial_no_answer" => Some(FailureReason::NoAnswer),
            "dial_busy" => Some(FailureReason::Busy),
            "dial_failed" => Some(FailureReason::DialFailed),
            r if !connected && (r.starts_with("error_") || r == "registered_call_timeout") => {
                Some(FailureReason::ProviderError)
            }
            _ => None,
        }
    }
}

/// The id of a call's event of one type: the same on every computation, so a retry or re-run
/// cannot make a second event (the store refuses an event item that exists). A UUID made of
/// the first 16 bytes of SHA-256(`"bvai-event:" call_id ":" type`), with the RFC 9562 custom
/// (v8) version and variant bits.
pub fn event_id(call_id: CallId, event_type: EventType) -> EventId {
    let digest = Sha256::digest(format!("bvai-event:{call_id}:{}", event_type.as_str()));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    EventId::from_uuid(uuid::Builder::from_custom_bytes(bytes).into_uuid())
}

/// The account wants events of this type created (`call.started`, `call.failed`).
pub fn wanted(account: Option<&Account>, event_type: EventType) -> bool {
    account.is_some_and(|a| a.events.contains(&event_type))
}

/// The event of `call`'s move to store, with its TTL and its reconciler deadline.
fn new_event(call: &Call, event_type: EventType, payload: String, now: DateTime<Utc>) -> NewEvent {
    NewEvent {
        record: EventRecord {
            id: event_id(call.id, event_type),
            account_id: call.account_id.clone(),
            call_id: call.id,
            event_type,
            payload,
            created_at: now,
        },
        expires_at: now + EVENT_TTL,
        due_at: now + ENQUEUE_GRACE,
    }
}

fn metadata(call: &Call) -> serde_json::Map<String, serde_json::Value> {
    match call.direction {
        Direction::Inbound => serde_json::Map::new(),
        Direction::Outbound => call.metadata.clone(),
    }
}

/// The `call.started` payload, fields in this order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallStartedPayload {
    pub event: &'static str,
    pub call_id: crate::ids::CallId,
    pub agent_id: crate::ids::AgentId,
    pub agent_name: String,
    pub direction: Direction,
    pub phone_number: String,
    pub started_at: String,
    /// The object the customer sent to trigger-call; `{}` for inbound calls.
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// The `call.failed` payload, fields in this order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallFailedPayload {
    pub event: &'static str,
    pub call_id: crate::ids::CallId,
    pub agent_id: crate::ids::AgentId,
    pub direction: Direction,
    pub phone_number: String,
    pub failed_at: String,
    pub reason: &'static str,
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// The call's `call.started` event: it was answered at `started_at` (the provider's start
/// time, else now).
pub fn call_started(
    call: &Call,
    agent_name: &str,
    started_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<NewEvent, serde_json::Error> {
    let payload = serde_json::to_string(&CallStartedPayload {
        event: EventType::CallStarted.as_str(),
        call_id: call.id,
        agent_id: call.agent_id,
        agent_name: agent_name.to_string(),
        direction: call.direction,
        phone_number: call.phone_number.clone(),
        started_at: rfc3339(started_at),
        metadata: metadata(call),
    })?;
    Ok(new_event(call, EventType::CallStarted, payload, now))
}

/// THE rule "a call became failed -> its `call.failed` event": every path that fails an
/// accepted call (a dial outcome from the provider, the reconciler's `dial_outcome_unknown`,
/// any later one such as a held call that cannot be placed) builds its event here and writes
/// it in the same conditional transaction as the call's move (`CallStore::*_with_event`).
/// `None` when the account is not subscribed to `call.failed` or the call already failed
/// once (a call has at most one `call.failed`; a revived `dial_outcome_unknown` call that then
/// ends unconnected keeps its first).
pub fn call_failed(
    account: Option<&Account>,
    call: &Call,
    reason: FailureReason,
    failed_at: DateTime<Utc>,
) -> Result<Option<NewEvent>, serde_json::Error> {
    if !wanted(account, EventType::CallFailed) || call.status == CallStatus::Failed {
        return Ok(None);
    }
    let payload = serde_json::to_string(&CallFailedPayload {
        event: EventType::CallFailed.as_str(),
        call_id: call.id,
        agent_id: call.agent_id,
        direction: call.direction,
        phone_number: call.phone_number.clone(),
        failed_at: rfc3339(failed_at),
        reason: reason.as_str(),
        metadata: metadata(call),
    })?;
    Ok(Some(new_event(
        call,
        EventType::CallFailed,
        payload,
        failed_at,
    )))
}

/// THE rule "a call we fail ourselves -> its one event": the reconciler's failures (a
/// `dialing` or `dial_unknown` call never reported, a held call that fails its checks or that
/// the provider refuses when due) have no provider ending that would bring a `call.completed`
/// later, so without this an account on the default subscription would hear nothing of a call
/// it was told was placed (200) or held (202).
///
/// - Subscribed to `call.failed`: the call's `call.failed` ([`call_failed`]).
/// - Otherwise: its `call.completed`, built like the payload of a call the provider reported as
///   not connected ([`CallCompleted::without_analysis`](crate::payload::CallCompleted):
///   `duration_seconds` 0 when nothing started, empty `summary` and `transcript`, `sentiment`
///   `unknown`), under the call's one `call.completed` id, so a later completion of a revived
///   call finds it taken and sends no second one.
///
/// `None` when the call already has its `call.completed` or already failed once.
pub fn failure_ending(
    account: Option<&Account>,
    call: &Call,
    reason: FailureReason,
    agent_name: &str,
    failed_at: DateTime<Utc>,
) -> Result<Option<NewEvent>, serde_json::Error> {
    if wanted(account, EventType::CallFailed) {
        return call_failed(account, call, reason, failed_at);
    }
    if call.event_id.is_some() || call.status == CallStatus::Failed {
        return Ok(None);
    }
    let payload = crate::payload::CallCompleted::without_analysis(call, agent_name).to_payload()?;
    Ok(Some(new_event(
        call,
        EventType::CallCompleted,
        payload,
        failed_at,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_type::{default_events, normalize};
    use crate::model::{Account, Plan};
    use uuid::Uuid;

    fn call(status: CallStatus) -> Call {
        let mut c = Call::new(
            Uuid::nil(),
            "acct",
            Uuid::nil(),
            Direction::Outbound,
            status,
            "+15551234567",
            DateTime::from_timestamp(1_750_000_000, 0).unwrap(),
        );
        c.metadata.insert("b".into(), 1.into());
        c.metadata.insert("a".into(), 2.into());
        c
    }

    fn account(events: &[EventType]) -> Account {
        let mut a = Account::new("acct", "A", Plan::Agency, Utc::now());
        a.events = events.to_vec();
        a
    }

    #[test]
    fn ids_are_stable_per_call_and_type() {
        let c = crate::ids::CallId::new_v4();
        assert_eq!(
            event_id(c, EventType::CallStarted),
            event_id(c, EventType::CallStarted)
        );
        assert_ne!(
            event_id(c, EventType::CallStarted),
            event_id(c, EventType::CallFailed)
        );
        assert_ne!(
            event_id(c, EventType::CallFailed),
            event_id(Uuid::new_v4().into(), EventType::CallFailed)
        );
        assert_eq!(
            event_id(c, EventType::CallFailed)
                .as_uuid()
                .get_version_num(),
            8
        );
    }

    #[test]
    fn names_round_trip_and_normalize() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("call.ended"), None);
        for r in FailureReason::ALL {
            assert_eq!(FailureReason::parse(r.as_str()), Some(*r));
            assert!(!r.description().is_empty());
        }
        assert_eq!(
            normalize(&[
                EventType::CallFailed,
                EventType::CallStarted,
                EventType::CallFailed
            ]),
            vec![EventType::CallStarted, EventType::CallFailed]
        );
    }

    #[test]
    fn disconnections_that_mean_not_connected() {
        use FailureReason::*;
        assert_eq!(
            FailureReason::from_disconnection("dial_no_answer", false),
            Some(NoAnswer)
        );
        assert_eq!(
            FailureReason::from_disconnection("dial_busy", false),
            Some(Busy)
        );
        assert_eq!(
            FailureReason::from_disconnection("dial_failed", false),
            Some(DialFailed)
        );
        assert_eq!(
            FailureReason::from_disconnection("error_twilio", false),
            Some(ProviderError)
        );
        assert_eq!(
            FailureReason::from_disconnection("error_twilio", true),
            None
        );
        assert_eq!(
            FailureReason::from_disconnection("user_hangup", false),
            None
        );
        assert_eq!(
            FailureReason::from_disconnection("voicemail_reached", false),
            None
        );
    }

    #[test]
    fn payloads_have_their_documented_fields_in_order() {
        let now = DateTime::from_timestamp(1_750_000_100, 0).unwrap();
        let c = call(CallStatus::Dialing);
        let started = call_started(&c, "Ava", now, now).unwrap();
        assert_eq!(
            started.record.payload,
            format!(
                r#"{{"event":"call.started","call_id":"{0}","agent_id":"{0}","agent_name":"Ava","direction":"outbound","phone_number":"+15551234567","started_at":"2025-06-15T15:08:20Z","metadata":{{"b":1,"a":2}}}}"#,
                Uuid::nil()
            )
        );
        assert_eq!(started.record.event_type, EventType::CallStarted);
        let subscribed = account(&[EventType::CallFailed]);
        let failed = call_failed(Some(&subscribed), &c, FailureReason::Busy, now)
            .unwrap()
            .unwrap();
        assert_eq!(
            failed.record.payload,
            format!(
                r#"{{"event":"call.failed","call_id":"{0}","agent_id":"{0}","direction":"outbound","phone_number":"+15551234567","failed_at":"2025-06-15T15:08:20Z","reason":"busy","metadata":{{"b":1,"a":2}}}}"#,
                Uuid::nil()
            )
        );
        assert_eq!(failed.record.id, event_id(c.id, EventType::CallFailed));
        assert_eq!(failed.due_at, now + ENQUEUE_GRACE);
    }

    #[test]
    fn failed_only_when_subscribed_and_not_failed_before() {
        let now = Utc::now();
        let c = call(CallStatus::Dialing);
        let r = FailureReason::NoAnswer;
        assert!(call_failed(None, &c, r, now).unwrap().is_none());
        let default = account(&default_events());
        assert!(call_failed(Some(&default), &c, r, now).unwrap().is_none());
        let all = account(&EventType::ALL);
        assert!(call_failed(Some(&all), &c, r, now).unwrap().is_some());
        let failed = call(CallStatus::Failed);
        assert!(call_failed(Some(&all), &failed, r, now).unwrap().is_none());
    }
}
