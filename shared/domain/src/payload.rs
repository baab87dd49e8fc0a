//! The `call.completed` webhook payload (the spec's "Webhook Payload"), built from the provider's
//! callback (`crate::callback`).
//!
//! The payload is built once, when the provider reports the call analysed, serialized once, and
//! those exact bytes are stored and sent on every attempt. Field order is the spec's: it is the
//! struct's declaration order, and `metadata` keeps the customer's key order (serde_json's
//! `preserve_order`).
//!
//! A payload must fit the event item ([`CallCompleted::fit_to`]): a summary above
//! [`SUMMARY_MAX_BYTES`] is cut, and a payload still too large loses its oldest transcript
//! turns, replaced by one marker turn the customer can see. Normal calls are not touched.

use crate::clock::rfc3339;
use crate::model::{Call, Direction};
use serde::{Deserialize, Serialize};

/// The event name in every payload.
pub const CALL_COMPLETED: &str = "call.completed";

/// The longest summary kept (it is also stored on the call record); a longer one is cut at a
/// character boundary and ends with [`SUMMARY_CUT_MARKER`].
pub const SUMMARY_MAX_BYTES: usize = 32 * 1024;

/// What ends a cut summary.
pub const SUMMARY_CUT_MARKER: &str = " [summary truncated]";

/// The content of the marker turn that replaces the `omitted` oldest turns of a transcript cut
/// to fit: `[transcript truncated: 1234 earlier turns omitted]`.
pub fn transcript_cut_marker(omitted: usize) -> String {
    format!("[transcript truncated: {omitted} earlier turns omitted]")
}

/// The call's sentiment as the webhook reports it (read from the provider's callback).
pub use crate::callback::Sentiment;
use crate::callback::{millis, round_ms_to_secs, ProviderCallObject, Utterance};

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
    pub call_id: crate::ids::CallId,
    /// Our agent's id, never the provider's.
    pub agent_id: crate::ids::AgentId,
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

    /// The payload cut to fit: `measure(json) <= limit`, where `measure` is the size the store
    /// gives the bytes (`ports::store::event_store::stored_payload_bytes`, against
    /// `MAX_STORED_PAYLOAD_BYTES`). Pure: sizes come from `measure` only.
    ///
    /// 1. A summary above [`SUMMARY_MAX_BYTES`] is cut (always: the call record keeps it too).
    /// 2. If the payload does not fit, its oldest transcript turns are dropped: the result
    ///    keeps the most recent turns that fit, after one marker turn (role `agent`, content
    ///    [`transcript_cut_marker`], the first dropped turn's timestamp). The spec's shape is
    ///    kept: no field is added.
    ///
    /// A payload that fits is returned byte for byte as [`CallCompleted::to_payload`] makes
    /// it. Finding the cut measures a handful of candidates (interpolation on the turns' sizes,
    /// bisection when that does not halve the range). If even the marker alone does not fit
    /// (impossible within the summary and metadata limits), that smallest payload is returned
    /// and the store refuses it.
    pub fn fit_to(
        mut self,
        limit: usize,
        measure: impl Fn(&str) -> usize,
    ) -> Result<Fitted, serde_json::Error> {
        let summary_cut = cut_summary(&mut self.summary);
        let json = self.to_payload()?;
        let full = measure(&json);
        if full <= limit || self.transcript.is_empty() {
            return Ok(Fitted {
                json,
                payload: self,
                omitted_turns: 0,
                summary_cut,
            });
        }
        let n = self.transcript.len();
        // kept[k]: a size proxy of the turns kept when the first k are dropped.
        let mut kept = vec![0usize; n + 1];
        for k in (0..n).rev() {
            kept[k] = kept[k + 1] + self.transcript[k].content.len() + 64;
        }
        let candidate = |k: usize| -> Result<(CallCompleted, String), serde_json::Error> {
            let mut p = self.clone();
            let mut turns = Vec::with_capacity(n - k + 1);
            turns.push(TranscriptEntry {
                role: Role::Agent,
                content: transcript_cut_marker(k),
                timestamp: p.transcript[0].timestamp.clone(),
            });
            turns.extend(p.transcript.drain(k..));
            p.transcript = turns;
            let json = p.to_payload()?;
            Ok((p, json))
        };
        // Invariant: dropping `lo` turns does not fit (size m_lo), dropping `hi` does.
        let (mut lo, mut m_lo) = (0usize, full);
        let (mut best, mut best_json) = candidate(n)?;
        let (mut hi, mut m_hi) = (n, measure(&best_json));
        if m_hi > limit {
            return Ok(Fitted {
                json: best_json,
                payload: best,
                omitted_turns: n,
                summary_cut,
            });
        }
        let mut bisect = false;
        while hi - lo > 1 {
            let width = hi - lo;
            let k = if bisect {
                lo + width / 2
            } else {
                // Size is close to linear in the bytes kept: aim just under the limit.
                let target = limit.saturating_sub(limit / 64).max(m_hi);
                let frac = (target - m_hi) as f64 / (m_lo - m_hi).max(1) as f64;
                let aim = kept[hi] as f64 + frac * (kept[lo] - kept[hi]) as f64;
                let k = kept.partition_point(|&b| b as f64 > aim);
                k.clamp(lo + 1, hi - 1)
            };
            let (p, json) = candidate(k)?;
            let m = measure(&json);
            if m <= limit {
                (hi, m_hi, best, best_json) = (k, m, p, json);
            } else {
                (lo, m_lo) = (k, m);
            }
            bisect = hi - lo > width / 2;
        }
        Ok(Fitted {
            json: best_json,
            payload: best,
            omitted_turns: hi,
            summary_cut,
        })
    }
}

/// A payload made to fit (`CallCompleted::fit_to`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fitted {
    /// The bytes to store and send.
    pub json: String,
    /// What those bytes are.
    pub payload: CallCompleted,
    /// How many of the oldest transcript turns were dropped (0: none, and no marker).
    pub omitted_turns: usize,
    /// The summary was cut to [`SUMMARY_MAX_BYTES`].
    pub summary_cut: bool,
}

/// Cuts a summary above [`SUMMARY_MAX_BYTES`] at a character boundary, marker included.
fn cut_summary(summary: &mut String) -> bool {
    if summary.len() <= SUMMARY_MAX_BYTES {
        return false;
    }
    let mut end = SUMMARY_MAX_BYTES - SUMMARY_CUT_MARKER.len();
    while !summary.is_char_boundary(end) {
        end -= 1;
    }
    summary.truncate(end);
    summary.push_str(SUMMARY_CUT_MARKER);
    true
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
            key_hash: None,
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

    fn long_call(turns: usize) -> CallCompleted {
        let cb = example_callback();
        let mut p = CallCompleted::build(&call(Direction::Outbound), "Sales Qualifier", &cb.call);
        p.transcript = (0..turns)
            .map(|i| TranscriptEntry {
                role: if i % 2 == 0 { Role::Agent } else { Role::Human },
                content: format!("turn {i} {}", "x".repeat(i % 97)),
                timestamp: format!("2025-06-15T15:{:02}:{:02}Z", (i / 60) % 60, i % 60),
            })
            .collect();
        p
    }

    #[test]
    fn a_payload_that_fits_is_untouched() {
        let p = long_call(50);
        let plain = p.to_payload().unwrap();
        let fitted = p.clone().fit_to(plain.len(), str::len).unwrap();
        assert_eq!(fitted.json, plain);
        assert_eq!(fitted.payload, p);
        assert_eq!((fitted.omitted_turns, fitted.summary_cut), (0, false));
    }

    #[test]
    fn the_oldest_turns_give_way_to_a_marker() {
        let p = long_call(3000);
        let full = p.to_payload().unwrap();
        let limit = full.len() / 7;
        let measured = std::cell::Cell::new(0usize);
        let measure = |s: &str| {
            measured.set(measured.get() + 1);
            s.len()
        };
        let fitted = p.clone().fit_to(limit, measure).unwrap();
        assert!(
            fitted.json.len() <= limit,
            "{} > {limit}",
            fitted.json.len()
        );
        assert_eq!(fitted.json, fitted.payload.to_payload().unwrap());
        let k = fitted.omitted_turns;
        assert!(k > 2000 && k < 3000, "{k}");
        let t = &fitted.payload.transcript;
        assert_eq!(t.len(), 3000 - k + 1);
        assert_eq!(
            t[0].content,
            format!("[transcript truncated: {k} earlier turns omitted]")
        );
        assert_eq!(t[0].role, Role::Agent);
        assert_eq!(t[0].timestamp, p.transcript[0].timestamp);
        assert_eq!(&t[1..], &p.transcript[k..]);
        // The most recent turns that fit: one more turn would not.
        let mut more = fitted.payload.clone();
        more.transcript[0].content = transcript_cut_marker(k - 1);
        more.transcript.insert(1, p.transcript[k - 1].clone());
        assert!(more.to_payload().unwrap().len() > limit);
        // Everything else is the original.
        let v: serde_json::Value = serde_json::from_str(&fitted.json).unwrap();
        let orig: serde_json::Value = serde_json::from_str(&full).unwrap();
        for field in [
            "call_id",
            "summary",
            "metadata",
            "duration_seconds",
            "started_at",
        ] {
            assert_eq!(v[field], orig[field], "{field}");
        }
        assert!(
            measured.get() <= 2 + 2 * 12,
            "{} measurements",
            measured.get()
        );
    }

    #[test]
    fn a_huge_summary_is_cut_at_a_character_boundary() {
        let mut p = long_call(3);
        p.summary = "é".repeat(40_000);
        let fitted = p.fit_to(usize::MAX, str::len).unwrap();
        assert!(fitted.summary_cut);
        let s = &fitted.payload.summary;
        assert!(s.len() <= SUMMARY_MAX_BYTES && s.len() > SUMMARY_MAX_BYTES - 8);
        assert!(s.ends_with(SUMMARY_CUT_MARKER));
        assert!(s
            .trim_end_matches(SUMMARY_CUT_MARKER)
            .chars()
            .all(|c| c == 'é'));
        assert_eq!(fitted.omitted_turns, 0);
        assert_eq!(fitted.payload.transcript.len(), 3);
    }

    #[test]
    fn when_nothing_fits_the_smallest_payload_is_returned() {
        let p = long_call(10);
        let fitted = p.fit_to(10, str::len).unwrap();
        assert_eq!(fitted.omitted_turns, 10);
        assert_eq!(fitted.payload.transcript.len(), 1);
        assert!(fitted.json.len() > 10);
    }
}
