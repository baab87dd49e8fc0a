//! Service-level metrics as CloudWatch Embedded Metric Format (EMF) lines: one JSON object per
//! line on stdout, which CloudWatch Logs turns into metrics when the line reaches the
//! function's log group. No AWS request is made: the line is the metric (docs/deploy.md,
//! "Metrics").
//!
//! A line looks like
//!
//! ```json
//! {"_aws":{"Timestamp":1764483691123,"CloudWatchMetrics":[{"Namespace":"BuildVoiceAI/dev",
//!  "Dimensions":[["Function"],["Function","Outcome"]],"Metrics":[{"Name":"DeliveryAttempts",
//!  "Unit":"Count"}]}]},"Function":"webhook-delivery","Outcome":"delivered",
//!  "DeliveryAttempts":1,"account_id":"acct_1"}
//! ```
//!
//! - The namespace is `METRICS_NAMESPACE` (the template sets `BuildVoiceAI/<stage>`; default
//!   [`DEFAULT_NAMESPACE`]).
//! - Dimensions are low-cardinality by construction: their values are `&'static str` (an
//!   outcome, an error class, a code), so an account id, a URL or a phone number cannot become
//!   a dimension. Every dimension set starts with `Function`.
//! - Properties (`account_id`, `event_id`, ...) are plain fields of the line, searchable in
//!   Logs Insights and never metrics. Handlers pass ids only, never keys, secrets or phone
//!   numbers; `tests` below injects them into the inputs and asserts they are absent.
//!
//! The line has no `level`: Lambda's JSON log filter files it at `INFO`, so `LogLevel=warn` or
//! `error` drops the metrics with the other INFO lines (the default is `info`).

use serde_json::{Map, Value};
use std::sync::OnceLock;

/// The environment variable holding the metrics namespace.
pub const NAMESPACE_VAR: &str = "METRICS_NAMESPACE";
/// The namespace when `METRICS_NAMESPACE` is unset (the local stack, tests).
pub const DEFAULT_NAMESPACE: &str = "BuildVoiceAI/local";

/// The process's namespace, read once.
pub fn namespace() -> &'static str {
    static NS: OnceLock<String> = OnceLock::new();
    NS.get_or_init(|| {
        std::env::var(NAMESPACE_VAR)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string())
    })
}

/// The units we use (CloudWatch's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One EMF line under construction: `Line::new("webhook-delivery").dim(..).count(..).emit()`.
#[derive(Debug, Clone)]
pub struct Line {
    function: &'static str,
    dims: Vec<(&'static str, &'static str)>,
    sets: Vec<Vec<&'static str>>,
    metrics: Vec<(&'static str, Unit, f64)>,
    props: Vec<(&'static str, Value)>,
}

impl Line {
    /// A line of `function` (the `Function` dimension). Its first dimension set is
    /// `[Function]` alone; [`Line::dim`] adds `[Function, name]`, [`Line::dim_set`] others.
    pub fn new(function: &'static str) -> Line {
        Line {
            function,
            dims: Vec::new(),
            sets: vec![Vec::new()],
            metrics: Vec::new(),
            props: Vec::new(),
        }
    }

    /// A dimension, and the dimension set `[Function, name]`.
    pub fn dim(mut self, name: &'static str, value: &'static str) -> Line {
        self.dims.push((name, value));
        self.sets.push(vec![name]);
        self
    }

    /// A dimension value without a set of its own (for [`Line::dim_set`]).
    pub fn dim_only(mut self, name: &'static str, value: &'static str) -> Line {
        self.dims.push((name, value));
        self
    }

    /// One more dimension set: `[Function, names...]` (each name added with a value).
    pub fn dim_set(mut self, names: &[&'static str]) -> Line {
        self.sets.push(names.to_vec());
        self
    }

    /// A `Count` metric.
    pub fn count(mut self, name: &'static str, value: u64) -> Line {
        self.metrics.push((name, Unit::Count, value as f64));
        self
    }

    /// A `Milliseconds` metric; negative durations (clock skew) are recorded as 0.
    pub fn millis(mut self, name: &'static str, value: i64) -> Line {
        self.metrics
            .push((name, Unit::Milliseconds, value.max(0) as f64));
        self
    }

    /// A property: a field of the line for Logs Insights, never a dimension.
    pub fn prop(mut self, name: &'static str, value: impl Into<Value>) -> Line {
        self.props.push((name, value.into()));
        self
    }

    /// True when the line has no metric (nothing to emit).
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    /// The line as JSON text, in `namespace` at `timestamp_ms` (Unix epoch milliseconds).
    pub fn render(&self, namespace: &str, timestamp_ms: i64) -> String {
        let dimensions: Vec<Value> = self
            .sets
            .iter()
            .map(|set| {
                std::iter::once("Function")
                    .chain(set.iter().copied())
                    .map(Value::from)
                    .collect()
            })
            .collect();
        let metrics: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, unit, _)| serde_json::json!({"Name": name, "Unit": unit.as_str()}))
            .collect();
        let mut line = Map::new();
        line.insert(
            "_aws".into(),
            serde_json::json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": dimensions,
                    "Metrics": metrics,
                }],
            }),
        );
        // Properties first, so a dimension or a metric of the same name wins.
        for (name, value) in &self.props {
            line.insert((*name).into(), value.clone());
        }
        line.insert("Function".into(), self.function.into());
        for (name, value) in &self.dims {
            line.insert((*name).into(), (*value).into());
        }
        for (name, _, value) in &self.metrics {
            let v = if value.fract() == 0.0 && value.abs() < 9.0e15 {
                Value::from(*value as i64)
            } else {
                Value::from(*value)
            };
            line.insert((*name).into(), v);
        }
        Value::Object(line).to_string()
    }

    /// Writes the line to stdout (the function's log stream) in [`namespace`], now.
    pub fn emit(self) {
        if self.is_empty() {
            return;
        }
        let text = self.render(namespace(), chrono::Utc::now().timestamp_millis());
        // One `println!`: one whole line under stdout's lock (and captured in tests).
        println!("{text}");
    }
}

/// Why a line is not valid EMF ([`check`]).
#[derive(Debug, thiserror::Error)]
pub enum EmfError {
    #[error("not a JSON object: {0}")]
    NotJson(String),
    #[error("{what}: {line}")]
    Invalid { what: String, line: String },
}

/// Checks one line against the EMF specification as CloudWatch reads it: the `_aws` object
/// with a `Timestamp`, one `CloudWatchMetrics` directive with its `Namespace`, `Dimensions`
/// (each set non-empty, each name a root field holding a string) and `Metrics` (each a `Name`
/// and a `Unit`, its value a root number). The parsed line, for further checks (tests and
/// the local stack's test use it on real output).
pub fn check(line: &str) -> Result<Value, EmfError> {
    let v: Value = serde_json::from_str(line).map_err(|e| EmfError::NotJson(e.to_string()))?;
    let bad = |what: String| EmfError::Invalid {
        what,
        line: line.to_string(),
    };
    let aws = &v["_aws"];
    if aws["Timestamp"].as_i64().is_none_or(|t| t <= 0) {
        return Err(bad("no _aws.Timestamp".into()));
    }
    let Some([d]) = aws["CloudWatchMetrics"].as_array().map(Vec::as_slice) else {
        return Err(bad("not one CloudWatchMetrics directive".into()));
    };
    if d["Namespace"].as_str().is_none_or(str::is_empty) {
        return Err(bad("no Namespace".into()));
    }
    let sets = d["Dimensions"].as_array().filter(|s| !s.is_empty());
    for set in sets.ok_or_else(|| bad("no Dimensions".into()))? {
        let names = set
            .as_array()
            .filter(|s| !s.is_empty() && s.len() <= 30)
            .ok_or_else(|| bad("a dimension set is not a list of 1 to 30 names".into()))?;
        for name in names {
            let name = name
                .as_str()
                .ok_or_else(|| bad("a dimension name".into()))?;
            if !v[name].is_string() {
                return Err(bad(format!("dimension {name} has no string value")));
            }
        }
    }
    let metrics = d["Metrics"]
        .as_array()
        .filter(|m| !m.is_empty() && m.len() <= 100)
        .ok_or_else(|| bad("not 1 to 100 Metrics".into()))?;
    for m in metrics {
        let name = m["Name"]
            .as_str()
            .ok_or_else(|| bad("a metric without Name".into()))?;
        if !matches!(m["Unit"].as_str(), Some("Count" | "Milliseconds")) {
            return Err(bad(format!("metric {name} has no known Unit")));
        }
        if !v[name].is_number() {
            return Err(bad(format!("metric {name} has no number value")));
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_emf(line: &str, namespace: &str) -> Value {
        let v = check(line).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], namespace);
        v
    }

    #[test]
    fn the_checker_refuses_what_cloudwatch_would_not_read() {
        let good = Line::new("f").dim("A", "a").count("M", 1).render("ns", 1);
        assert!(check(&good).is_ok());
        for broken in [
            good.replace("\"Timestamp\":1", "\"Timestamp\":\"x\""),
            good.replace("\"Namespace\":\"ns\"", "\"Namespace\":\"\""),
            good.replace("\"Unit\":\"Count\"", "\"Unit\":\"Pounds\""),
            good.replace("\"A\":\"a\"", "\"B\":\"a\""),
            good.replace("\"M\":1", "\"N\":1"),
            "not json".to_string(),
        ] {
            assert!(check(&broken).is_err(), "{broken}");
        }
    }

    #[test]
    fn a_line_is_valid_emf_with_function_first_in_every_dimension_set() {
        let line = Line::new("webhook-delivery")
            .dim("Outcome", "failed")
            .dim("ErrorClass", "internal")
            .count("DeliveryAttempts", 1)
            .millis("DeliveryDueLag", 1234)
            .prop("account_id", "acct_1")
            .render("BuildVoiceAI/test", 1_764_483_691_123);
        let v = assert_emf(&line, "BuildVoiceAI/test");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([
                ["Function"],
                ["Function", "Outcome"],
                ["Function", "ErrorClass"]
            ])
        );
        assert_eq!(v["Function"], "webhook-delivery");
        assert_eq!(v["DeliveryAttempts"], 1);
        assert_eq!(v["DeliveryDueLag"], 1234);
        assert_eq!(v["account_id"], "acct_1");
        assert_eq!(v["_aws"]["Timestamp"], 1_764_483_691_123_i64);
        // The account is a property, never a dimension.
        assert!(!line.contains("[\"account_id\""), "{line}");
    }

    #[test]
    fn negative_durations_are_zero_and_a_line_without_metrics_is_empty() {
        let line = Line::new("reconciler").millis("Lag", -5);
        let v = assert_emf(&line.render("ns", 1), "ns");
        assert_eq!(v["Lag"], 0);
        assert!(Line::new("reconciler").prop("x", 1).is_empty());
    }

    #[test]
    fn a_property_cannot_overwrite_a_dimension_or_a_metric() {
        let line = Line::new("trigger-call")
            .prop("Function", "acct_evil")
            .prop("Result", "acct_evil")
            .dim("Result", "placed")
            .count("Dials", 1)
            .prop("Dials", "x")
            .render("ns", 1);
        let v = assert_emf(&line, "ns");
        assert_eq!(v["Function"], "trigger-call");
        assert_eq!(v["Result"], "placed");
        assert_eq!(v["Dials"], 1);
    }

    #[test]
    fn the_default_namespace_is_used_without_the_variable() {
        // The test process does not set METRICS_NAMESPACE.
        if std::env::var(NAMESPACE_VAR).is_err() {
            assert_eq!(namespace(), DEFAULT_NAMESPACE);
        }
    }
}
