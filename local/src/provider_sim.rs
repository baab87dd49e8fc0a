//! A simulated voice provider speaking the Retell-compatible contract
//! (docs/voice-provider.md), so `make run` places "calls" end to end without a real
//! provider or phone.
//!
//! - `POST /v2/create-phone-call` (Bearer provider key, E.164 `from_number`/`to_number`) answers
//!   `201` with a `registered` call object, then plays the call: `call_started` after
//!   `answer_after`, `call_ended` after `call_length` (with a synthetic transcript), and
//!   `call_analyzed` after `analysis_after` (summary, sentiment), each POSTed to the callback
//!   URL signed with `x-retell-signature` exactly as the provider signs.
//! - `GET /v2/get-call/{call_id}` returns the call object as it stands.
//! - `POST /sim/inbound-call` `{"agent_id", "from_number", "to_number"?}` (local control, no
//!   auth) plays an inbound call: direction `inbound`, no metadata, the same callbacks.
//!
//! Like the provider, the simulator retries a callback that did not get a 2xx (a few times,
//! short delays), so the same event can arrive more than once.
//!
//! Fault knobs (local control, no auth; docs/local-stack.md "Fault knobs"): `POST /sim/faults`
//! `{"create_call", "omit_events", "duplicate_callbacks", "reverse_order"}` ([`SimFaults`],
//! strictly validated, fields left out are normal) applies to the calls placed after it,
//! `DELETE /sim/faults` restores normal behaviour, `GET /sim/faults` shows the knobs.

use crate::server::{json_reply, reset_reply, Incoming, Listener, Reply, Server};
use chrono::{DateTime, Utc};
use domain::clock::Clock;
use domain::phone::PhoneNumber;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a simulated call unfolds in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimTimings {
    /// From the create request to `call_started`.
    pub answer_after: Duration,
    /// From `call_started` to `call_ended` (also the reported duration).
    pub call_length: Duration,
    /// From `call_ended` to `call_analyzed`.
    pub analysis_after: Duration,
}

impl SimTimings {
    /// A call of `call_length` with one-second gaps around it (what `SIM_CALL_SECONDS` sets).
    pub fn with_call_length(call_length: Duration) -> SimTimings {
        SimTimings {
            answer_after: Duration::from_secs(1),
            call_length,
            analysis_after: Duration::from_secs(1),
        }
    }
}

impl Default for SimTimings {
    fn default() -> Self {
        SimTimings::with_call_length(Duration::from_secs(5))
    }
}

/// How `POST /v2/create-phone-call` answers a valid request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CreateCallFault {
    /// `201` with the call object.
    #[default]
    #[serde(rename = "ok")]
    Ok,
    /// The call is placed (its callbacks will come), but the answer is held for
    /// [`SimConfig::accept_hold`], longer than the client waits.
    #[serde(rename = "timeout_after_accept")]
    TimeoutAfterAccept,
    /// The call is placed, then the connection is reset without an answer.
    #[serde(rename = "reset_after_accept")]
    ResetAfterAccept,
    /// The call is placed and the answer is `201` with `{}` (not a call object).
    #[serde(rename = "garbage_2xx")]
    Garbage2xx,
    /// `500`, and no call is placed.
    #[serde(rename = "http_500")]
    Http500,
}

impl CreateCallFault {
    pub fn as_str(self) -> &'static str {
        match self {
            CreateCallFault::Ok => "ok",
            CreateCallFault::TimeoutAfterAccept => "timeout_after_accept",
            CreateCallFault::ResetAfterAccept => "reset_after_accept",
            CreateCallFault::Garbage2xx => "garbage_2xx",
            CreateCallFault::Http500 => "http_500",
        }
    }
}

/// The simulator's callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimEvent {
    CallStarted,
    CallEnded,
    CallAnalyzed,
}

impl SimEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            SimEvent::CallStarted => "call_started",
            SimEvent::CallEnded => "call_ended",
            SimEvent::CallAnalyzed => "call_analyzed",
        }
    }
}

/// The fault knobs (`POST /sim/faults`). Each POST sets all of them: a field left out is
/// normal. Unknown fields and values are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimFaults {
    pub create_call: CreateCallFault,
    /// These callbacks are never sent.
    pub omit_events: Vec<SimEvent>,
    /// Every callback is sent twice, both copies at once.
    pub duplicate_callbacks: bool,
    /// The callbacks are held until the call is over, then sent last first.
    pub reverse_order: bool,
}

impl SimFaults {
    /// Parses a `POST /sim/faults` body; the message says what is wrong.
    pub fn parse(body: &[u8]) -> Result<SimFaults, String> {
        let expected = "expected {\"create_call\": \"ok\" | \"timeout_after_accept\" | \"reset_after_accept\" | \"garbage_2xx\" | \"http_500\", \"omit_events\": [\"call_started\" | \"call_ended\" | \"call_analyzed\", ...], \"duplicate_callbacks\": bool, \"reverse_order\": bool}";
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| format!("invalid fault knobs: invalid JSON: {e}; {expected}"))?;
        if !value.is_object() {
            return Err(format!(
                "invalid fault knobs: invalid type: the body must be a JSON object; {expected}"
            ));
        }
        let mut faults: SimFaults = serde_json::from_value(value)
            .map_err(|e| format!("invalid fault knobs: {e}; {expected}"))?;
        let mut seen = Vec::new();
        faults.omit_events.retain(|e| {
            let new = !seen.contains(e);
            seen.push(*e);
            new
        });
        Ok(faults)
    }

    fn omits(&self, event: SimEvent) -> bool {
        self.omit_events.contains(&event)
    }
}

#[derive(Clone)]
pub struct SimConfig {
    /// The provider API key: what `Authorization: Bearer` must carry, and the signing key.
    pub api_key: String,
    /// Where callbacks go (the gateway's `/hooks/voice-provider`).
    pub callback_url: String,
    pub timings: SimTimings,
    /// The provider expects an answer within 10 s.
    pub callback_timeout: Duration,
    /// Attempts per callback (1 = no retry).
    pub callback_attempts: u32,
    pub callback_retry_delay: Duration,
    /// `to_number` of simulated inbound calls that do not give one.
    pub inbound_to_number: String,
    /// How long `timeout_after_accept` holds the answer to a create request: well past the
    /// client's timeout (trigger-call waits 5 s), then the late `201` is sent.
    pub accept_hold: Duration,
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("api_key", &"<redacted>")
            .field("callback_url", &self.callback_url)
            .field("timings", &self.timings)
            .finish()
    }
}

impl SimConfig {
    pub fn new(api_key: impl Into<String>, callback_url: impl Into<String>) -> SimConfig {
        SimConfig {
            api_key: api_key.into(),
            callback_url: callback_url.into(),
            timings: SimTimings::default(),
            callback_timeout: Duration::from_secs(10),
            callback_attempts: 3,
            callback_retry_delay: Duration::from_secs(1),
            inbound_to_number: "+14155550100".into(),
            accept_hold: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot build the callback HTTP client: {0}")]
    Client(String),
}

/// The simulator. Cheap to share (`Arc`).
pub struct ProviderSim {
    config: SimConfig,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    next_id: AtomicU64,
    calls: Mutex<HashMap<String, Value>>,
    faults: Mutex<SimFaults>,
}

impl ProviderSim {
    pub fn new(config: SimConfig, clock: Arc<dyn Clock>) -> Result<Arc<ProviderSim>, SimError> {
        let http = reqwest::Client::builder()
            .timeout(config.callback_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("provider-sim")
            .build()
            .map_err(|e| SimError::Client(e.to_string()))?;
        Ok(Arc::new(ProviderSim {
            config,
            http,
            clock,
            next_id: AtomicU64::new(1),
            calls: Mutex::new(HashMap::new()),
            faults: Mutex::new(SimFaults::default()),
        }))
    }

    /// How many calls were placed (outbound and inbound).
    pub fn call_count(&self) -> usize {
        self.calls.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// The knobs in force.
    pub fn faults(&self) -> SimFaults {
        self.faults.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Sets the knobs for the calls placed from now on.
    pub fn set_faults(&self, faults: SimFaults) {
        if let Ok(mut f) = self.faults.lock() {
            *f = faults;
        }
    }

    pub fn serve(self: Arc<Self>, listener: Listener) -> Server {
        listener.serve(
            1024 * 1024,
            Arc::new(move |req| {
                let sim = self.clone();
                Box::pin(async move { sim.handle(req).await })
            }),
        )
    }

    pub async fn handle(self: &Arc<Self>, req: Incoming) -> Reply {
        let path = req.path().to_string();
        let result = match (req.method.as_str(), path.as_str()) {
            ("POST", "/v2/create-phone-call") => self.create_phone_call(&req),
            ("POST", "/sim/inbound-call") => self.inbound_call(&req).map(|c| Answer::Json(201, c)),
            ("GET", p) if p.starts_with("/v2/get-call/") => self
                .get_call(&req, &p["/v2/get-call/".len()..])
                .map(|c| Answer::Json(200, c)),
            ("GET", "/sim/faults") => Ok(Answer::Json(200, self.faults_json())),
            ("POST", "/sim/faults") => self.post_faults(&req),
            ("DELETE", "/sim/faults") => {
                self.set_faults(SimFaults::default());
                tracing::info!(target: "provider_sim", "fault knobs cleared: normal behaviour");
                Ok(Answer::Json(200, self.faults_json()))
            }
            _ => Err(Rejection(404, "not found".into())),
        };
        let answer = match result {
            Ok(answer) => answer,
            Err(Rejection(status, message)) => {
                Answer::Json(status, json!({"status": "error", "message": message}))
            }
        };
        let log = |outcome: &str| {
            tracing::info!(target: "provider_sim", "{} {} -> {outcome}", req.method, path);
        };
        match answer {
            Answer::Json(status, body) => {
                let id = body["call_id"]
                    .as_str()
                    .map(|c| format!(" {c}"))
                    .unwrap_or_default();
                log(&format!("{status}{id}"));
                json_reply(status, &body)
            }
            Answer::Held(call) => {
                let id = call["call_id"].as_str().unwrap_or("").to_string();
                log(&format!(
                    "{id} placed; answer held {:?} (fault timeout_after_accept)",
                    self.config.accept_hold
                ));
                tokio::time::sleep(self.config.accept_hold).await;
                log(&format!("201 {id} (late)"));
                json_reply(201, &call)
            }
            Answer::Reset(id) => {
                log(&format!(
                    "{id} placed; connection reset (fault reset_after_accept)"
                ));
                reset_reply()
            }
        }
    }

    fn faults_json(&self) -> Value {
        serde_json::to_value(self.faults()).unwrap_or_else(|_| json!({}))
    }

    fn post_faults(&self, req: &Incoming) -> Result<Answer, Rejection> {
        let faults = SimFaults::parse(&req.body).map_err(|m| Rejection(400, m))?;
        let body = serde_json::to_string(&faults).unwrap_or_default();
        self.set_faults(faults);
        tracing::info!(target: "provider_sim", "fault knobs set for the next calls: {body}");
        Ok(Answer::Json(200, self.faults_json()))
    }

    fn authorize(&self, req: &Incoming) -> Result<(), Rejection> {
        let expected = format!("Bearer {}", self.config.api_key);
        let ok = req
            .header("authorization")
            .is_some_and(|got| domain::signature::hex_digests_equal(got, &expected));
        if ok {
            Ok(())
        } else {
            Err(Rejection(401, "invalid or missing API key".into()))
        }
    }

    /// A valid request is answered as the `create_call` knob says; an invalid one is refused
    /// whatever the knobs.
    fn create_phone_call(self: &Arc<Self>, req: &Incoming) -> Result<Answer, Rejection> {
        self.authorize(req)?;
        let body = parse_object(&req.body)?;
        let from = e164(&body, "from_number")?;
        let to = e164(&body, "to_number")?;
        let bad = |m: &str| Rejection(400, m.to_string());
        let agent_id = match body.get("override_agent_id") {
            None | Some(Value::Null) => "sim_agent_default".to_string(),
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(_) => return Err(bad("override_agent_id must be a string")),
        };
        let metadata = match body.get("metadata") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(v @ Value::Object(_)) => v.clone(),
            Some(_) => return Err(bad("metadata must be an object")),
        };
        let variables = match body.get("retell_llm_dynamic_variables") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) if m.values().all(Value::is_string) => m.clone(),
            Some(_) => {
                return Err(bad(
                    "retell_llm_dynamic_variables must be an object of strings",
                ))
            }
        };
        let faults = self.faults();
        if faults.create_call == CreateCallFault::Http500 {
            return Err(Rejection(
                500,
                "simulated provider failure (fault http_500): no call placed".into(),
            ));
        }
        let call = self.new_call(
            "outbound",
            &agent_id,
            from.as_str(),
            to.as_str(),
            Some(metadata),
            variables,
            faults.clone(),
        );
        Ok(match faults.create_call {
            CreateCallFault::Ok | CreateCallFault::Http500 => Answer::Json(201, call),
            CreateCallFault::Garbage2xx => Answer::Json(201, json!({})),
            CreateCallFault::TimeoutAfterAccept => Answer::Held(call),
            CreateCallFault::ResetAfterAccept => {
                Answer::Reset(call["call_id"].as_str().unwrap_or("").to_string())
            }
        })
    }

    fn inbound_call(self: &Arc<Self>, req: &Incoming) -> Result<Value, Rejection> {
        let body = parse_object(&req.body)?;
        let agent_id = match body.get("agent_id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => {
                return Err(Rejection(
                    400,
                    "agent_id (the provider's agent id) is required".into(),
                ))
            }
        };
        let from = e164(&body, "from_number")?;
        let to = match body.get("to_number") {
            None | Some(Value::Null) => self.config.inbound_to_number.clone(),
            Some(_) => e164(&body, "to_number")?.as_str().to_string(),
        };
        Ok(self.new_call(
            "inbound",
            &agent_id,
            from.as_str(),
            &to,
            None,
            Map::new(),
            self.faults(),
        ))
    }

    fn get_call(&self, req: &Incoming, call_id: &str) -> Result<Value, Rejection> {
        self.authorize(req)?;
        self.calls
            .lock()
            .ok()
            .and_then(|c| c.get(call_id).cloned())
            .ok_or_else(|| Rejection(404, "call not found".into()))
    }

    /// Registers a call and starts playing it in the background, under the knobs in force
    /// when it was placed.
    #[allow(clippy::too_many_arguments)]
    fn new_call(
        self: &Arc<Self>,
        direction: &str,
        agent_id: &str,
        from: &str,
        to: &str,
        metadata: Option<Value>,
        variables: Map<String, Value>,
        faults: SimFaults,
    ) -> Value {
        let n = self.next_id.fetch_add(1, Ordering::SeqCst);
        let mut call = json!({
            "call_type": "phone_call",
            "call_id": format!("sim_call_{n}"),
            "agent_id": agent_id,
            "call_status": "registered",
            "direction": direction,
            "from_number": from,
            "to_number": to,
        });
        if let Some(m) = metadata {
            call["metadata"] = m;
        }
        if !variables.is_empty() {
            call["retell_llm_dynamic_variables"] = Value::Object(variables);
        }
        self.store(&call);
        let sim = self.clone();
        let playing = call.clone();
        tokio::spawn(async move { sim.play(playing, faults).await });
        call
    }

    fn store(&self, call: &Value) {
        if let (Ok(mut calls), Some(id)) = (self.calls.lock(), call["call_id"].as_str()) {
            calls.insert(id.to_string(), call.clone());
        }
    }

    /// started -> ended -> analyzed, each callback sent (and retried) before the next; the
    /// callback knobs (`omit_events`, `duplicate_callbacks`, `reverse_order`) applied.
    async fn play(self: Arc<Self>, mut call: Value, faults: SimFaults) {
        let t = self.config.timings;
        let mut held = Vec::new();
        tokio::time::sleep(t.answer_after).await;
        let start = self.clock.now();
        call["call_status"] = json!("ongoing");
        call["start_timestamp"] = json!(start.timestamp_millis());
        self.store(&call);
        self.emit(SimEvent::CallStarted, &call, &faults, &mut held)
            .await;

        tokio::time::sleep(t.call_length).await;
        let end = self.clock.now().max(start);
        call["call_status"] = json!("ended");
        call["end_timestamp"] = json!(end.timestamp_millis());
        // From the reported millisecond timestamps, so end - start == duration_ms exactly.
        call["duration_ms"] = json!(end.timestamp_millis() - start.timestamp_millis());
        call["disconnection_reason"] = json!("user_hangup");
        let (transcript, text) = transcript(&call, start, end);
        call["transcript_object"] = transcript;
        call["transcript"] = json!(text);
        self.store(&call);
        self.emit(SimEvent::CallEnded, &call, &faults, &mut held)
            .await;

        tokio::time::sleep(t.analysis_after).await;
        call["call_analysis"] = json!({
            "call_summary": summary(&call),
            "user_sentiment": "Positive",
            "call_successful": true,
            "in_voicemail": false,
        });
        self.store(&call);
        self.emit(SimEvent::CallAnalyzed, &call, &faults, &mut held)
            .await;

        // reverse_order: everything was held back; now last first.
        for (event, snapshot) in held.into_iter().rev() {
            self.send(event, &snapshot, faults.duplicate_callbacks)
                .await;
        }
    }

    /// One callback as the knobs say: skipped, held back for the reversed sending, or sent.
    async fn emit(
        &self,
        event: SimEvent,
        call: &Value,
        faults: &SimFaults,
        held: &mut Vec<(SimEvent, Value)>,
    ) {
        if faults.omits(event) {
            let call_id = call["call_id"].as_str().unwrap_or("");
            tracing::info!(target: "provider_sim", "callback {} {call_id} omitted (fault omit_events)", event.as_str());
        } else if faults.reverse_order {
            held.push((event, call.clone()));
        } else {
            self.send(event, call, faults.duplicate_callbacks).await;
        }
    }

    /// Sends a callback, twice at once when `duplicate`.
    async fn send(&self, event: SimEvent, call: &Value, duplicate: bool) {
        if duplicate {
            futures::join!(
                self.callback(event.as_str(), call),
                self.callback(event.as_str(), call)
            );
        } else {
            self.callback(event.as_str(), call).await;
        }
    }

    /// POSTs one signed callback, retrying on failure like the provider does.
    async fn callback(&self, event: &str, call: &Value) {
        let body = json!({"event": event, "call": call}).to_string();
        let call_id = call["call_id"].as_str().unwrap_or("");
        let attempts = self.config.callback_attempts.max(1);
        for attempt in 1..=attempts {
            let signature = domain::signature::sign_provider_callback(
                &self.config.api_key,
                body.as_bytes(),
                self.clock.now().timestamp_millis(),
            );
            let started = Instant::now();
            let res = self
                .http
                .post(&self.config.callback_url)
                .header("content-type", "application/json")
                .header("x-retell-signature", signature)
                .body(body.clone())
                .send()
                .await;
            let ms = started.elapsed().as_millis();
            let of = if attempts > 1 {
                format!(" (attempt {attempt}/{attempts})")
            } else {
                String::new()
            };
            match res {
                Ok(r) if r.status().is_success() => {
                    tracing::info!(target: "provider_sim", "callback {event} {call_id} -> {} ({ms} ms){of}", r.status().as_u16());
                    return;
                }
                Ok(r) => {
                    tracing::warn!(target: "provider_sim", "callback {event} {call_id} -> {} ({ms} ms){of}", r.status().as_u16())
                }
                Err(e) => {
                    tracing::warn!(target: "provider_sim", "callback {event} {call_id} failed: {} ({ms} ms){of}", e.without_url())
                }
            }
            if attempt < attempts {
                tokio::time::sleep(self.config.callback_retry_delay).await;
            }
        }
    }
}

/// A refused request: status and message (`{"status": "error", "message": ...}`).
struct Rejection(u16, String);

/// How a request is answered.
enum Answer {
    Json(u16, Value),
    /// `timeout_after_accept`: the call object, sent after `accept_hold`.
    Held(Value),
    /// `reset_after_accept`: the connection is reset (the placed call's id, for the log).
    Reset(String),
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Rejection> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Rejection(400, "the body must be a JSON object".into())),
        Err(e) => Err(Rejection(400, format!("invalid JSON: {e}"))),
    }
}

fn e164(body: &Map<String, Value>, field: &str) -> Result<PhoneNumber, Rejection> {
    match body.get(field) {
        Some(Value::String(s)) => PhoneNumber::parse(s)
            .map_err(|e| Rejection(400, format!("{field} must be an E.164 number: {e}"))),
        None | Some(Value::Null) => Err(Rejection(400, format!("{field} is required"))),
        Some(_) => Err(Rejection(400, format!("{field} must be a string"))),
    }
}

/// A short scripted conversation, its words spread over the call (`start`/`end` in seconds
/// from the call's start), and its plain-text form.
fn transcript(call: &Value, start: DateTime<Utc>, end: DateTime<Utc>) -> (Value, String) {
    let name = call["retell_llm_dynamic_variables"]["name"]
        .as_str()
        .unwrap_or("there");
    let lines: Vec<(&str, String)> = if call["direction"] == "inbound" {
        vec![
            (
                "agent",
                "Thanks for calling Northwind, this is Ava. How can I help?".into(),
            ),
            ("user", "Hi, what are your opening hours this week?".into()),
            (
                "agent",
                "We are open nine to five, Monday to Friday.".into(),
            ),
            ("user", "Great, thank you.".into()),
        ]
    } else {
        vec![
            (
                "agent",
                format!("Hi {name}, this is Ava from Northwind. Do you have a minute?"),
            ),
            ("user", "Sure, what is this about?".into()),
            (
                "agent",
                "You asked about our plans. The enterprise plan includes the API.".into(),
            ),
            (
                "user",
                "Sounds interesting, please email me the pricing.".into(),
            ),
            ("agent", "Will do. Thanks for your time!".into()),
        ]
    };
    let total = ((end - start).num_milliseconds().max(1) as f64) / 1000.0;
    let slot = total / lines.len() as f64;
    let mut text = String::new();
    let utterances: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, (role, content))| {
            let words: Vec<&str> = content.split_whitespace().collect();
            let begin = slot * i as f64 + slot * 0.05;
            let step = slot * 0.9 / words.len().max(1) as f64;
            let words: Vec<Value> = words
                .iter()
                .enumerate()
                .map(|(j, w)| {
                    let s = round3(begin + step * j as f64);
                    json!({"word": w, "start": s, "end": round3(s + step * 0.8)})
                })
                .collect();
            text.push_str(&format!(
                "{}: {content}\n",
                if *role == "agent" { "Agent" } else { "User" }
            ));
            json!({"role": role, "content": content, "words": words})
        })
        .collect();
    (Value::Array(utterances), text)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn summary(call: &Value) -> String {
    if call["direction"] == "inbound" {
        "The caller asked about opening hours and was told Monday to Friday, nine to five.".into()
    } else {
        "The customer was interested in the enterprise plan and asked for pricing by email.".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_words_fall_inside_the_call() {
        let start = Utc::now();
        let end = start + chrono::Duration::seconds(10);
        let call =
            json!({"direction": "outbound", "retell_llm_dynamic_variables": {"name": "Jane"}});
        let (t, text) = transcript(&call, start, end);
        let utterances = t.as_array().expect("array");
        assert_eq!(utterances[0]["role"], "agent");
        assert_eq!(utterances[1]["role"], "user");
        assert!(utterances[0]["content"]
            .as_str()
            .is_some_and(|c| c.starts_with("Hi Jane,")));
        let mut last = -1.0;
        for u in utterances {
            for w in u["words"].as_array().expect("words") {
                let s = w["start"].as_f64().expect("start");
                let e = w["end"].as_f64().expect("end");
                assert!(s > last && e > s && e <= 10.0, "{s} {e} after {last}");
                last = s;
            }
        }
        assert!(text.starts_with("Agent: Hi Jane,"));
        assert!(text.contains("\nUser: Sure"));
    }

    #[test]
    fn fault_knobs_parse_strictly() {
        assert_eq!(SimFaults::parse(b"{}").unwrap(), SimFaults::default());
        let all = SimFaults::parse(
            br#"{"create_call": "garbage_2xx", "omit_events": ["call_analyzed", "call_started", "call_analyzed"],
                 "duplicate_callbacks": true, "reverse_order": true}"#,
        )
        .unwrap();
        assert_eq!(all.create_call, CreateCallFault::Garbage2xx);
        assert_eq!(
            all.omit_events,
            vec![SimEvent::CallAnalyzed, SimEvent::CallStarted],
            "duplicates removed, order kept"
        );
        assert!(all.duplicate_callbacks && all.reverse_order);
        for v in [
            "ok",
            "timeout_after_accept",
            "reset_after_accept",
            "garbage_2xx",
            "http_500",
        ] {
            let f = SimFaults::parse(format!(r#"{{"create_call": "{v}"}}"#).as_bytes()).unwrap();
            assert_eq!(f.create_call.as_str(), v);
            assert_eq!(serde_json::to_value(f).unwrap()["create_call"], v);
        }
        for (body, needle) in [
            (r#"{"create_call": "slow"}"#, "unknown variant `slow`"),
            (r#"{"create_call": "HTTP_500"}"#, "unknown variant"),
            (
                r#"{"omit_events": ["call_ringing"]}"#,
                "unknown variant `call_ringing`",
            ),
            (r#"{"omit_events": "call_ended"}"#, "invalid type"),
            (r#"{"duplicate_callbacks": "yes"}"#, "invalid type"),
            (r#"{"reverse": true}"#, "unknown field `reverse`"),
            (r#"[]"#, "invalid type"),
            (r#"{"#, "EOF"),
        ] {
            let e = SimFaults::parse(body.as_bytes()).unwrap_err();
            assert!(e.contains(needle), "{body}: {e}");
            assert!(e.contains("expected {\"create_call\""), "{e}");
        }
    }
}
