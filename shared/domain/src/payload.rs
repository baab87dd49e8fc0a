//! The `call.completed` webhook payload (the spec's "Webhook Payload"), built from the provider's
//! callback (`crate::callback`).
//!
//! The payload is built once, when the provider reports the call analysed, serialized once, and
//! those exact bytes are stored and sent on every attempt. Field order is the spec's: it is the
//! struct's declaration order, and `metadata` keeps the customer's key order (serde_json's
//! `preserve_order`).

use crate::clock::rfc3339;
use crate::model::{Call, Direction};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The event name in every payload.
pub const CALL_COMPLETED: &str = "call.completed";

use crate::callback::{millis, round_ms_to_secs, ProviderCallObject, Utterance};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sentiment {
    Positive,
    Neutral,
    Negative,
    Unknown,
}

impl Sentiment {
    /// The provider's `user_sentiment` lower-cased; anything else (or nothing) is `unknown`.
    pub fn from_provider(s: Option<&str>) -> Sentiment {
        match s.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            Some("positive") => Sentiment::Positive,
            Some("neutral") => Sentiment::Neutral,
            Some("negative") => Sentiment::Negative,
            _ => Sentiment::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sentiment::Positive => "positive",
            Sentiment::Neutral => "neutral",
            Sentiment::Negative => "negative",
            Sentiment::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Agent,
    Human,
}

impl Role {
    /// The provider's `agent` is our agent; `user` (and any other party) is the human.
    pub fn from_provider(role: &str) -> Role {
        if role.eq_ignore_ascii_case("agent") {
            Role::Agent
        } else {
            Role::Human
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptEntry {
    pub role: Role,
    pub content: String,
    /// RFC 3339 UTC, whole seconds.
    pub timestamp: String,
}

/// The `call.completed` payload, fields in the spec's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCompleted {
    pub event: String,
    pub call_id: Uuid,
    /// Our agent's id, never the provider's.
    pub agent_id: Uuid,
    pub agent_name: String,
    pub direction: Direction,
    /// The customer's number.
    pub phone_number: String,
    pub duration_seconds: i64,
    pub started_at: String,
    pub ended_at: String,
    pub sentiment: Sentiment,
    pub summary: String,
    pub transcript: Vec<TranscriptEntry>,
    /// The object the customer sent to trigger-call; `{}` for inbound calls.
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl CallCompleted {
    /// Builds the payload from our call record, our agent's name and the provider's final call
    /// object. Times come from the provider when it has them, else from what earlier callbacks
    /// recorded; a call with no times at all (never connected) starts and ends when it was
    /// created, with a duration of 0.
    pub fn build(call: &Call, agent_name: &str, provider: &ProviderCallObject) -> CallCompleted {
        let started = provider.started_at().or(call.started_at);
        let ended = provider.ended_at().or(call.ended_at);
        let started = started.or(ended).unwrap_or(call.created_at);
        let ended = ended.unwrap_or(started);
        let duration_seconds = provider
            .duration_seconds()
            .or(call.duration_seconds)
            .unwrap_or_else(|| round_ms_to_secs((ended - started).num_milliseconds().max(0)));
        let base_ms = provider
            .start_timestamp
            .unwrap_or_else(|| started.timestamp_millis());
        CallCompleted {
            event: CALL_COMPLETED.to_string(),
            call_id: call.id,
            agent_id: call.agent_id,
            agent_name: agent_name.to_string(),
            direction: call.direction,
            phone_number: call.phone_number.clone(),
            duration_seconds,
            started_at: rfc3339(started),
            ended_at: rfc3339(ended),
            sentiment: provider.sentiment(),
            summary: provider.summary().unwrap_or_default().to_string(),
            transcript: transcript(
                provider.transcript_object.as_deref().unwrap_or(&[]),
                base_ms,
            ),
            metadata: match call.direction {
                Direction::Inbound => serde_json::Map::new(),
                Direction::Outbound => call.metadata.clone(),
            },
        }
    }

    /// The payload of a call whose analysis never came (`CALL_ANALYSIS_GRACE` passed after
    /// `call_ended`): what the call record knows, with an empty `summary`, `sentiment`
    /// `unknown` and an empty `transcript` (docs/webhooks.md).
    pub fn without_analysis(call: &Call, agent_name: &str) -> CallCompleted {
        CallCompleted::build(call, agent_name, &ProviderCallObject::default())
    }

    /// The exact bytes stored and sent on every attempt (compact JSON).
    pub fn to_payload(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// Each utterance stamped with the call's start plus its first word's offset. An utterance
/// without word timings takes the previous one's time (or the call's start).
fn transcript(utterances: &[Utterance], base_ms: i64) -> Vec<TranscriptEntry> {
    let mut last_offset_ms = 0i64;
    utterances
        .iter()
        .map(|u| {
            if let Some(start) = u
                .words
                .first()
                .and_then(|w| w.start)
                .filter(|s| s.is_finite() && *s >= 0.0)
            {
                last_offset_ms = (start * 1000.0).round() as i64;
            }
            let at = millis(base_ms.saturating_add(last_offset_ms)).unwrap_or_default();
            TranscriptEntry {
                role: Role::from_provider(&u.role),
                content: u.content.clone(),
                timestamp: rfc3339(at),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callback::{ProviderCallback, ProviderEvent, Word};
    use crate::model::CallStatus;
    use chrono::DateTime;

    fn example_callback() -> ProviderCallback {
        serde_json::from_str(
            r#"{"event": "call_analyzed",
 "call": {"call_id": "prov_8f2c", "agent_id": "prov_agent_17", "call_status": "ended",
  "direction": "outbound", "from_number": "+14155550100", "to_number": "+15551234567",
  "start_timestamp": 1750001400000, "end_timestamp": 1750001585000, "duration_ms": 185000,
  "disconnection_reason": "user_hangup",
  "metadata": {"call_id": "4b0d6c1e-8a57-4c1e-9a0e-2f3b5d7c9e11", "account_id": "acct_01"},
  "transcript_object": [
    {"role": "agent", "content": "Hi, this is Ava from Northwind.", "words": [{"word": "Hi,", "start": 1.0, "end": 1.3}]},
    {"role": "user", "content": "Hello, what is this about?", "words": [{"word": "Hello,", "start": 4.2, "end": 4.6}]}],
  "call_analysis": {"call_summary": "The customer asked about pricing.", "user_sentiment": "Positive",
   "call_successful": true, "in_voicemail": false}}}"#,
        )
        .unwrap()
    }

    fn call(direction: Direction) -> Call {
        let t = DateTime::parse_from_rfc3339("2025-06-15T14:29:50Z")
            .unwrap()
            .into();
        let mut metadata = serde_json::Map::new();
        metadata.insert("zeta".into(), "last-inserted-first".into());
        metadata.insert("source".into(), "crm".into());
        Call {
            id: "4b0d6c1e-8a57-4c1e-9a0e-2f3b5d7c9e11".parse().unwrap(),
            account_id: "acct_01".into(),
            agent_id: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d".parse().unwrap(),
            direction,
            status: CallStatus::Ended,
            phone_number: "+15551234567".into(),
            name: None,
            email: None,
            metadata,
            provider_call_id: Some("prov_8f2c".into()),
            failure_reason: None,
            created_at: t,
            updated_at: t,
            started_at: None,
            ended_at: None,
            duration_seconds: None,
            disconnection_reason: None,
            event_id: None,
            due_at: None,
        }
    }

    #[test]
    fn builds_the_spec_shape_in_order() {
        let cb = example_callback();
        assert_eq!(
            ProviderEvent::parse(&cb.event),
            Some(ProviderEvent::CallAnalyzed)
        );
        assert_eq!(
            cb.call.our_call_id().unwrap().to_string(),
            "4b0d6c1e-8a57-4c1e-9a0e-2f3b5d7c9e11"
        );
        let p = CallCompleted::build(&call(Direction::Outbound), "Sales Qualifier", &cb.call);
        assert_eq!(
            p.to_payload().unwrap(),
            concat!(
                r#"{"event":"call.completed","call_id":"4b0d6c1e-8a57-4c1e-9a0e-2f3b5d7c9e11","#,
                r#""agent_id":"9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d","agent_name":"Sales Qualifier","#,
                r#""direction":"outbound","phone_number":"+15551234567","duration_seconds":185,"#,
                r#""started_at":"2025-06-15T15:30:00Z","ended_at":"2025-06-15T15:33:05Z","#,
                r#""sentiment":"positive","summary":"The customer asked about pricing.","#,
                r#""transcript":[{"role":"agent","content":"Hi, this is Ava from Northwind.","timestamp":"2025-06-15T15:30:01Z"},"#,
                r#"{"role":"human","content":"Hello, what is this about?","timestamp":"2025-06-15T15:30:04Z"}],"#,
                r#""metadata":{"zeta":"last-inserted-first","source":"crm"}}"#
            )
        );
    }

    #[test]
    fn inbound_has_empty_metadata() {
        let cb = example_callback();
        let p = CallCompleted::build(&call(Direction::Inbound), "Front Desk", &cb.call);
        assert!(p.metadata.is_empty());
        assert!(p.to_payload().unwrap().ends_with(r#""metadata":{}}"#));
        assert_eq!(p.direction, Direction::Inbound);
    }

    #[test]
    fn sentiment_mapping() {
        use Sentiment::*;
        for (raw, want) in [
            (Some("Positive"), Positive),
            (Some("NEGATIVE"), Negative),
            (Some("Neutral"), Neutral),
            (Some("Unknown"), Unknown),
            (Some("ecstatic"), Unknown),
            (None, Unknown),
        ] {
            assert_eq!(Sentiment::from_provider(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn durations_round_and_fall_back() {
        let mut c = ProviderCallObject {
            duration_ms: Some(185_499),
            ..Default::default()
        };
        assert_eq!(c.duration_seconds(), Some(185));
        c.duration_ms = Some(185_500);
        assert_eq!(c.duration_seconds(), Some(186));
        c.duration_ms = None;
        c.start_timestamp = Some(1_000);
        c.end_timestamp = Some(3_600);
        assert_eq!(c.duration_seconds(), Some(3));
        c.end_timestamp = None;
        assert_eq!(c.duration_seconds(), None);
    }

    #[test]
    fn missing_analysis_and_times_fall_back() {
        let provider = ProviderCallObject {
            call_id: "prov_x".into(),
            transcript_object: Some(vec![
                Utterance {
                    role: "agent".into(),
                    content: "no timings".into(),
                    words: vec![],
                },
                Utterance {
                    role: "transfer_target".into(),
                    content: "someone else".into(),
                    words: vec![Word {
                        word: "someone".into(),
                        start: Some(12.6),
                        end: None,
                    }],
                },
            ]),
            ..Default::default()
        };
        let mut c = call(Direction::Outbound);
        c.started_at = Some(
            DateTime::parse_from_rfc3339("2025-06-15T14:30:00Z")
                .unwrap()
                .into(),
        );
        c.ended_at = Some(
            DateTime::parse_from_rfc3339("2025-06-15T14:31:00Z")
                .unwrap()
                .into(),
        );
        let p = CallCompleted::build(&c, "A", &provider);
        assert_eq!(p.sentiment, Sentiment::Unknown);
        assert_eq!(p.summary, "");
        assert_eq!(p.duration_seconds, 60);
        assert_eq!(p.transcript[0].timestamp, "2025-06-15T14:30:00Z");
        assert_eq!(p.transcript[1].role, Role::Human);
        assert_eq!(p.transcript[1].timestamp, "2025-06-15T14:30:12Z");

        // Never connected: no times anywhere.
        let p = CallCompleted::build(
            &call(Direction::Outbound),
            "A",
            &ProviderCallObject::default(),
        );
        assert_eq!(p.started_at, "2025-06-15T14:29:50Z");
        assert_eq!(p.ended_at, "2025-06-15T14:29:50Z");
        assert_eq!(p.duration_seconds, 0);
        assert!(p.transcript.is_empty());
    }
}
