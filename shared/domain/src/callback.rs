//! The voice provider's callback as data (docs/voice-provider.md): what it sends, the fields we read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `{"event": "<name>", "call": {<call object>}}`. Fields we do not use are ignored: the
/// provider adds fields over time and must not break us.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ProviderCallback {
    /// `call_started`, `call_ended` and `call_analyzed` are handled; others are acknowledged
    /// and ignored
    pub event: String,
    /// the provider's call object (Retell-compatible; docs/voice-provider.md)
    pub call: ProviderCallObject,
}

/// The callback events we act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderEvent {
    CallStarted,
    CallEnded,
    CallAnalyzed,
}

impl ProviderEvent {
    /// `None` for events we do not handle (they are acknowledged and ignored).
    pub fn parse(name: &str) -> Option<ProviderEvent> {
        match name {
            "call_started" => Some(ProviderEvent::CallStarted),
            "call_ended" => Some(ProviderEvent::CallEnded),
            "call_analyzed" => Some(ProviderEvent::CallAnalyzed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderEvent::CallStarted => "call_started",
            ProviderEvent::CallEnded => "call_ended",
            ProviderEvent::CallAnalyzed => "call_analyzed",
        }
    }
}

/// The provider's call object: the fields we read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ProviderCallObject {
    /// The provider's id of the call (blank is a 400).
    #[cfg_attr(feature = "openapi", schemars(length(min = 1)))]
    pub call_id: String,
    /// The provider's id of the agent (maps to our agent for inbound calls).
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub call_status: Option<String>,
    /// `inbound` or `outbound`.
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub from_number: Option<String>,
    #[serde(default)]
    pub to_number: Option<String>,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub start_timestamp: Option<i64>,
    #[serde(default)]
    pub end_timestamp: Option<i64>,
    #[serde(default)]
    pub duration_ms: Option<i64>,
    #[serde(default)]
    pub disconnection_reason: Option<String>,
    /// What we sent when placing the call (`call_id`, `account_id`); absent for inbound calls.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    #[serde(default)]
    pub transcript_object: Option<Vec<Utterance>>,
    #[serde(default)]
    pub call_analysis: Option<CallAnalysis>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Utterance {
    /// `agent` or `user`.
    pub role: String,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub words: Vec<Word>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Word {
    #[serde(default)]
    pub word: String,
    /// Seconds from the start of the call.
    #[serde(default)]
    pub start: Option<f64>,
    #[serde(default)]
    pub end: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CallAnalysis {
    #[serde(default)]
    pub call_summary: Option<String>,
    /// `Positive`, `Negative`, `Neutral` or `Unknown`.
    #[serde(default)]
    pub user_sentiment: Option<String>,
}

pub(crate) fn millis(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

impl ProviderCallObject {
    pub fn is_inbound(&self) -> bool {
        self.direction.as_deref() == Some("inbound")
    }

    /// Our call id, from the metadata we attached when placing the call.
    pub fn our_call_id(&self) -> Option<crate::ids::CallId> {
        self.metadata
            .as_ref()?
            .get("call_id")?
            .as_str()?
            .parse()
            .ok()
    }

    /// Our account id, from the same metadata.
    pub fn our_account_id(&self) -> Option<crate::ids::AccountId> {
        Some(self.metadata.as_ref()?.get("account_id")?.as_str()?.into())
    }

    /// The customer's number: the callee of an outbound call, the caller of an inbound one.
    pub fn customer_number(&self) -> Option<&str> {
        if self.is_inbound() {
            self.from_number.as_deref()
        } else {
            self.to_number.as_deref()
        }
    }

    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        self.start_timestamp.and_then(millis)
    }

    pub fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.end_timestamp.and_then(millis)
    }

    /// `duration_ms / 1000` rounded, else end minus start; `None` before the call ended.
    pub fn duration_seconds(&self) -> Option<i64> {
        let ms = match (self.duration_ms, self.start_timestamp, self.end_timestamp) {
            (Some(d), _, _) => d,
            (None, Some(s), Some(e)) => e - s,
            _ => return None,
        };
        Some(round_ms_to_secs(ms.max(0)))
    }

    pub fn summary(&self) -> Option<&str> {
        self.call_analysis.as_ref()?.call_summary.as_deref()
    }

    pub fn sentiment(&self) -> Sentiment {
        Sentiment::from_provider(
            self.call_analysis
                .as_ref()
                .and_then(|a| a.user_sentiment.as_deref()),
        )
    }
}

/// The call's sentiment: the provider's `user_sentiment`, as the `call.completed` payload
/// reports it (`crate::payload`).
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

pub(crate) fn round_ms_to_secs(ms: i64) -> i64 {
    (ms + 500).div_euclid(1000)
}
