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
    /// The dimension sets of each directive (without the leading `Function`).
    sets: Vec<Vec<Vec<&'static str>>>,
    /// Each metric with its directive's index.
    metrics: Vec<(&'static str, Unit, f64, usize)>,
    props: Vec<(&'static str, Value)>,
}

impl Line {
    /// A line of `function` (the `Function` dimension). Its first dimension set is
    /// `[Function]` alone; [`Line::dim`] adds `[Function, name]`, [`Line::dim_set`] others.
    pub fn new(function: &'static str) -> Line {
        Line {
            function,
            dims: Vec::new(),
            sets: vec![vec![Vec::new()]],
            metrics: Vec::new(),
            props: Vec::new(),
        }
    }

    /// A dimension, and the dimension set `[Function, name]`.
    pub fn dim(mut self, name: &'static str, value: &'static str) -> Line {
        self.dims.push((name, value));
        self.current().push(vec![name]);
        self
    }

    /// A dimension value without a set of its own (for [`Line::dim_set`]).
    pub fn dim_only(mut self, name: &'static str, value: &'static str) -> Line {
        self.dims.push((name, value));
        self
    }

    /// One more dimension set: `[Function, names...]` (each name added with a value).
    pub fn dim_set(mut self, names: &[&'static str]) -> Line {
        self.current().push(names.to_vec());
        self
    }

    /// Starts another directive of the same line: the metrics added from here on get only
    /// the dimension sets `[Function]` and `[Function, names...]` of each of `sets`, not the
    /// sets before (fewer metric series for, say, latencies that need no `ErrorClass`).
    pub fn directive(mut self, sets: &[&[&'static str]]) -> Line {
        let sets = std::iter::once(Vec::new())
            .chain(sets.iter().map(|s| s.to_vec()))
            .collect();
        self.sets.push(sets);
        self
    }

    fn current(&mut self) -> &mut Vec<Vec<&'static str>> {
        if self.sets.is_empty() {
            self.sets.push(vec![Vec::new()]);
        }
        let last = self.sets.len() - 1;
        &mut self.sets[last]
    }

    fn push(mut self, name: &'static str, unit: Unit, value: f64) -> Line {
        let directive = self.sets.len().saturating_sub(1);
        self.metrics.push((name, unit, value, directive));
        self
    }

    /// A `Count` metric.
    pub fn count(self, name: &'static str, value: u64) -> Line {
        self.push(name, Unit::Count, value as f64)
    }

    /// A `Milliseconds` metric; negative durations (clock skew) are recorded as 0.
    pub fn millis(self, name: &'static str, value: i64) -> Line {
        self.push(name, Unit::Milliseconds, value.max(0) as f64)
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
        let directives: Vec<Value> = self
            .sets
            .iter()
            .enumerate()
            .filter_map(|(i, sets)| {
                let metrics: Vec<Value> = self
                    .metrics
                    .iter()
                    .filter(|m| m.3 == i)
                    .map(|(name, unit, _, _)| {
                        serde_json::json!({"Name": name, "Unit": unit.as_str()})
                    })
                    .collect();
                let dimensions: Vec<Value> = sets
                    .iter()
                    .map(|set| {
                        std::iter::once("Function")
                            .chain(set.iter().copied())
                            .map(Value::from)
                            .collect()
                    })
                    .collect();
                (!metrics.is_empty()).then(|| {
                    serde_json::json!({
                        "Namespace": namespace,
                        "Dimensions": dimensions,
                        "Metrics": metrics,
                    })
                })
            })
            .collect();
        let mut line = Map::new();
        line.insert(
            "_aws".into(),
            serde_json::json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": directives,
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
        for (name, _, value, _) in &self.metrics {
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
/// with a `Timestamp`, one or more `CloudWatchMetrics` directives, each with its `Namespace`, `Dimensions`
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
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .filter(|d| !d.is_empty())
        .ok_or_else(|| bad("no CloudWatchMetrics directive".into()))?;
    for d in directives {
        check_directive(&v, d, &bad)?;
    }
    Ok(v)
}

/// One directive of [`check`]: against the line's root fields `v`.
fn check_directive(v: &Value, d: &Value, bad: &dyn Fn(String) -> EmfError) -> Result<(), EmfError> {
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
    Ok(())
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
    fn a_directive_gives_the_metrics_after_it_only_its_own_dimension_sets() {
        let line = Line::new("webhook-delivery")
            .dim("Outcome", "delivered")
            .dim("Lane", "events")
            .count("DeliveryAttempts", 1)
            .directive(&[&["Lane"]])
            .millis("DeliveryLatency", 5)
            .directive(&[&["Unused"]])
            .render("ns", 1);
        let v = assert_emf(&line, "ns");
        let d = v["_aws"]["CloudWatchMetrics"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            d.len(),
            2,
            "a directive without metrics is left out: {line}"
        );
        assert_eq!(
            d[0]["Dimensions"],
            serde_json::json!([["Function"], ["Function", "Outcome"], ["Function", "Lane"]])
        );
        assert_eq!(d[0]["Metrics"][0]["Name"], "DeliveryAttempts");
        assert_eq!(
            d[1]["Dimensions"],
            serde_json::json!([["Function"], ["Function", "Lane"]])
        );
        assert_eq!(d[1]["Metrics"][0]["Name"], "DeliveryLatency");
        assert_eq!(d[1]["Namespace"], "ns");
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
