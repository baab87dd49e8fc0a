//! `template.yaml` read as CloudFormation: the YAML with its intrinsic functions (`!Ref`,
//! `!GetAtt`, `!Sub`, `!If`, `!FindInMap`, short or long form) resolved as far as the template
//! tests need, and this stack's lookups (a function by its binary, its environment and routes
//! after SAM merges the globals, a setting under one `Scale`). The template drift test
//! (`tests/it/template_drift.rs`) and the production-readiness test
//! (`tests/it/template_readiness.rs`) read the template through it.
//!
//! Test support: a missing key panics with the path it looked for.

#![allow(clippy::expect_used)] // test support: a template without the key fails the test

use serde_yaml_ng::{Mapping, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The workspace binaries deployed as functions, with their template logical ids.
pub const FUNCTIONS: [(&str, &str); 5] = [
    ("trigger-call", "TriggerCallFunction"),
    ("settings", "SettingsFunction"),
    ("call-completed", "CallCompletedFunction"),
    ("webhook-delivery", "WebhookDeliveryFunction"),
    ("reconciler", "ReconcilerFunction"),
];

/// All the Rust source of one function crate.
pub fn function_source(binary: &str) -> String {
    let mut source = String::new();
    let mut dirs = vec![repo_root().join("functions").join(binary).join("src")];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                source.push_str(&std::fs::read_to_string(&path).expect("read source"));
            }
        }
    }
    source
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

pub fn template_text() -> String {
    let path = repo_root().join("template.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

pub fn template() -> Value {
    serde_yaml_ng::from_str(&template_text()).expect("template.yaml is valid YAML")
}

/// `v[path[0]][path[1]]...`, panicking with the path when something is missing.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = v;
    for (i, key) in path.iter().enumerate() {
        cur = cur
            .get(*key)
            .unwrap_or_else(|| panic!("template.yaml has no {}", path[..=i].join(".")));
    }
    cur
}

pub fn opt<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = cur.get(*key)?;
    }
    Some(cur)
}

pub fn mapping<'a>(v: &'a Value, path: &[&str]) -> &'a Mapping {
    at(v, path)
        .as_mapping()
        .unwrap_or_else(|| panic!("{} is not a mapping", path.join(".")))
}

pub fn string(v: &Value, what: &str) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("{what} is not a literal string: {other:?}"),
    }
}

pub fn number(v: &Value, what: &str) -> u64 {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or_else(|| panic!("{what} is not a literal number: {v:?}"))
}

/// The capacity profiles of the `Scale` parameter (docs/deploy.md, "Scale").
pub const SCALES: [&str; 2] = ["small", "large"];

/// A capped setting's value under one `Scale`: `v` must be `!FindInMap [Map, Row, !Ref Scale]`,
/// read from the template's mapping.
pub fn scaled(t: &Value, v: &Value, scale: &str) -> u64 {
    let (f, arg) = intrinsic(v).unwrap_or_else(|| panic!("not an intrinsic: {v:?}"));
    assert_eq!(f, "FindInMap", "{v:?} is not a !FindInMap");
    let args = arg.as_sequence().expect("!FindInMap arguments");
    assert_eq!(args.len(), 3, "{v:?}");
    assert_eq!(
        ref_target(&args[2]).as_deref(),
        Some("Scale"),
        "{v:?} is keyed by the Scale parameter"
    );
    let map = string(&args[0], "map name");
    let row = string(&args[1], "row");
    number(
        at(t, &["Mappings", map.as_str(), row.as_str(), scale]),
        &format!("{map}.{row}.{scale}"),
    )
}

/// `(map, row)` of a `!FindInMap [Map, Row, !Ref Scale]`.
pub fn scaled_row(v: &Value) -> (String, String) {
    let (f, arg) = intrinsic(v).unwrap_or_else(|| panic!("not an intrinsic: {v:?}"));
    assert_eq!(f, "FindInMap", "{v:?} is not a !FindInMap");
    let args = arg.as_sequence().expect("!FindInMap arguments");
    (string(&args[0], "map name"), string(&args[1], "row"))
}

/// webhook-delivery's SQS event sources, by the queue each reads (its logical id).
pub fn delivery_event_sources(t: &Value) -> BTreeMap<String, &Value> {
    mapping(function(t, "webhook-delivery"), &["Properties", "Events"])
        .values()
        .filter(|e| e.get("Type").and_then(Value::as_str) == Some("SQS"))
        .map(|e| {
            let esm = at(e, &["Properties"]);
            let (queue, attr) = getatt_target(at(esm, &["Queue"])).expect("Queue: !GetAtt X.Arn");
            assert_eq!(attr, "Arn");
            (queue, esm)
        })
        .collect()
}

/// The reserved concurrency of a function under one `Scale` (`!If [ReserveConcurrency,
/// !FindInMap [FunctionConcurrency, <id>, !Ref Scale], !Ref AWS::NoValue]`).
pub fn reserved(t: &Value, id: &str, scale: &str) -> u64 {
    let v = at(
        resource(t, id),
        &["Properties", "ReservedConcurrentExecutions"],
    );
    let (f, arg) = intrinsic(v).unwrap_or_else(|| panic!("{id}: not an !If: {v:?}"));
    assert_eq!(f, "If", "{id}: ReservedConcurrentExecutions is an !If");
    let args = arg.as_sequence().expect("!If arguments");
    assert_eq!(args[0].as_str(), Some("ReserveConcurrency"), "{id}");
    assert_eq!(
        ref_target(&args[2]).as_deref(),
        Some("AWS::NoValue"),
        "{id}: no reservation when ReservedConcurrency=Disabled"
    );
    assert_eq!(
        scaled_row(&args[1]),
        ("FunctionConcurrency".to_string(), id.to_string()),
        "{id}: reserved concurrency from its FunctionConcurrency row"
    );
    scaled(t, &args[1], scale)
}

/// An intrinsic function, short (`!Ref X`) or long (`Ref: X`) form: its name without `Fn::`
/// and its argument.
pub fn intrinsic(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((
            t.tag.to_string().trim_start_matches('!').to_string(),
            &t.value,
        )),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, arg) = m.iter().next()?;
            let k = k.as_str()?;
            (k == "Ref" || k.starts_with("Fn::"))
                .then(|| (k.trim_start_matches("Fn::").to_string(), arg))
        }
        _ => None,
    }
}

/// The logical id `v` refers to with `!Ref`, if it does.
pub fn ref_target(v: &Value) -> Option<String> {
    match intrinsic(v)? {
        (f, Value::String(s)) if f == "Ref" => Some(s.clone()),
        _ => None,
    }
}

/// `(logical id, attribute)` of a `!GetAtt X.Attr` (or its list form).
pub fn getatt_target(v: &Value) -> Option<(String, String)> {
    match intrinsic(v)? {
        (f, Value::String(s)) if f == "GetAtt" => {
            let (id, attr) = s.split_once('.')?;
            Some((id.to_string(), attr.to_string()))
        }
        (f, Value::Sequence(seq)) if f == "GetAtt" && seq.len() == 2 => {
            Some((seq[0].as_str()?.to_string(), seq[1].as_str()?.to_string()))
        }
        _ => None,
    }
}

/// The format string of a `!Sub "..."`.
pub fn sub_string(v: &Value) -> Option<String> {
    match intrinsic(v)? {
        (f, Value::String(s)) if f == "Sub" => Some(s.clone()),
        _ => None,
    }
}

pub fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Sequence(seq) => seq.iter().collect(),
        other => vec![other],
    }
}

pub fn resources_of_type<'a>(t: &'a Value, ty: &str) -> Vec<(String, &'a Value)> {
    mapping(t, &["Resources"])
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(ty))
        .map(|(k, r)| (k.as_str().expect("logical id").to_string(), r))
        .collect()
}

pub fn resource<'a>(t: &'a Value, id: &str) -> &'a Value {
    at(t, &["Resources", id])
}

pub fn function<'a>(t: &'a Value, binary: &str) -> &'a Value {
    let (_, id) = FUNCTIONS
        .iter()
        .find(|(b, _)| *b == binary)
        .unwrap_or_else(|| panic!("unknown function {binary}"));
    resource(t, id)
}

/// A function's property, falling back to `Globals.Function` as SAM does.
pub fn function_property<'a>(t: &'a Value, f: &'a Value, name: &str) -> Option<&'a Value> {
    opt(f, &["Properties", name]).or_else(|| opt(t, &["Globals", "Function", name]))
}

/// A function's environment after SAM merges the globals in.
pub fn function_env<'a>(t: &'a Value, f: &'a Value) -> BTreeMap<String, &'a Value> {
    let mut env = BTreeMap::new();
    for source in [
        opt(t, &["Globals", "Function", "Environment", "Variables"]),
        opt(f, &["Properties", "Environment", "Variables"]),
    ]
    .into_iter()
    .flatten()
    {
        for (k, v) in source.as_mapping().expect("Variables is a mapping") {
            env.insert(k.as_str().expect("env name").to_string(), v);
        }
    }
    env
}

/// `"METHOD /path" -> authorizer` of a function's HTTP API events.
pub fn function_routes(t: &Value, f: &Value) -> BTreeMap<String, String> {
    let default_auth = opt(
        t,
        &[
            "Resources",
            "Api",
            "Properties",
            "Auth",
            "DefaultAuthorizer",
        ],
    )
    .map(|v| string(v, "DefaultAuthorizer"))
    .unwrap_or_else(|| "NONE".into());
    let mut routes = BTreeMap::new();
    let Some(events) = opt(f, &["Properties", "Events"]) else {
        return routes;
    };
    for (name, event) in events.as_mapping().expect("Events is a mapping") {
        if at(event, &["Type"]).as_str() != Some("HttpApi") {
            continue;
        }
        let props = at(event, &["Properties"]);
        assert_eq!(
            ref_target(at(props, &["ApiId"])).as_deref(),
            Some("Api"),
            "event {name:?} must attach to the stack's HTTP API"
        );
        if let Some(v) = props.get("PayloadFormatVersion") {
            assert_eq!(string(v, "PayloadFormatVersion"), "2.0");
        }
        let route = format!(
            "{} {}",
            string(at(props, &["Method"]), "Method").to_uppercase(),
            string(at(props, &["Path"]), "Path")
        );
        let auth = opt(props, &["Auth", "Authorizer"])
            .map(|v| string(v, "Authorizer"))
            .unwrap_or_else(|| default_auth.clone());
        assert!(
            routes.insert(route.clone(), auth).is_none(),
            "route {route} is declared twice"
        );
    }
    routes
}

pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The two `!Sub` strings of a `!If [EdgeOn, edge, direct]`.
pub fn edge_or_direct(v: &Value) -> (String, String) {
    let (f, args) = intrinsic(v).unwrap_or_else(|| panic!("not an intrinsic: {v:?}"));
    let args = args.as_sequence().expect("!If arguments");
    assert_eq!(
        (f.as_str(), args[0].as_str()),
        ("If", Some("EdgeOn")),
        "{v:?}"
    );
    let sub = |v: &Value| sub_string(v).unwrap_or_else(|| panic!("not a !Sub: {v:?}"));
    (sub(&args[1]), sub(&args[2]))
}

/// A parameter's default, as a number.
pub fn param_default(t: &Value, name: &str) -> u64 {
    number(at(t, &["Parameters", name, "Default"]), name)
}
