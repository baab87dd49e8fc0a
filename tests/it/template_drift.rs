//! No drift between `template.yaml` and the code: the template is what ops deploy, the code and
//! the local stack are what the tests exercise, so every fact both of them state is compared
//! here — routes, table keys and indexes (against what `DynamoStore::create_table` really
//! builds in the emulator), queue and event source settings against the retry design and the
//! queues the local stack creates, environment variable names against what each function's
//! source reads, and each function's IAM actions.

use aws_adapters::dynamo::TTL_ATTRIBUTE;
use aws_adapters::dynamo::{GSI1, GSI2};
use aws_sdk_dynamodb::types::{KeyType, ProjectionType};
use aws_sdk_sqs::types::QueueAttributeName;
use domain::config;
use domain::webhook::retry_schedule::{RetrySchedule, DEFAULT_DELAYS};
use integration_tests::Emulator;
use outbound::webhook_client::DEFAULT_TIMEOUT as DEFAULT_WEBHOOK_TIMEOUT;
use serde_yaml_ng::{Mapping, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

// ------------------------------------------------------------------ what the code expects

/// The workspace binaries deployed as functions, with their template logical ids.
const FUNCTIONS: [(&str, &str); 5] = [
    ("trigger-call", "TriggerCallFunction"),
    ("settings", "SettingsFunction"),
    ("call-completed", "CallCompletedFunction"),
    ("webhook-delivery", "WebhookDeliveryFunction"),
    ("reconciler", "ReconcilerFunction"),
];

fn settings_code_routes() -> BTreeSet<String> {
    settings::router::ROUTES.iter().map(|r| r.key()).collect()
}

fn call_completed_code_routes() -> BTreeSet<String> {
    call_completed::ROUTES.iter().map(|r| r.key()).collect()
}

/// What webhook-delivery logs for a failed attempt, and for the last one (the event is
/// dropped): the delivery metric filters match these messages.
const FAILED_ATTEMPT_MESSAGES: [&str; 2] = [
    "delivery failed; retry scheduled",
    "delivery failed; last attempt, event dropped",
];
const DROPPED_MESSAGE: &str = "delivery failed; last attempt, event dropped";

/// The JWT authorizer of the settings routes.
const JWT_AUTHORIZER: &str = "DashboardJwt";

/// Every environment variable name in `domain::config`, by the constant's identifier.
const ENV_CONSTANTS: [(&str, &str); 23] = [
    (
        "API_RATE_LIMIT_PER_MINUTE",
        config::API_RATE_LIMIT_PER_MINUTE,
    ),
    (
        "SETTINGS_RATE_LIMIT_PER_MINUTE",
        config::SETTINGS_RATE_LIMIT_PER_MINUTE,
    ),
    (
        "COSTLY_RATE_LIMIT_PER_MINUTE",
        config::COSTLY_RATE_LIMIT_PER_MINUTE,
    ),
    ("CALL_ANALYSIS_GRACE", config::CALL_ANALYSIS_GRACE),
    ("CALL_STALE_AFTER", config::CALL_STALE_AFTER),
    ("DIAL_UNKNOWN_DEADLINE", config::DIAL_UNKNOWN_DEADLINE),
    ("RECONCILER_CONCURRENCY", config::RECONCILER_CONCURRENCY),
    (
        "SCHEDULED_CALLS_PER_SECOND",
        config::SCHEDULED_CALLS_PER_SECOND,
    ),
    ("TABLE_NAME", config::TABLE_NAME),
    ("PROVIDER_BASE_URL", config::PROVIDER_BASE_URL),
    ("PROVIDER_SECRET_NAME", config::PROVIDER_SECRET_NAME),
    ("PROVIDER_TIMEOUT_MS", config::PROVIDER_TIMEOUT_MS),
    ("API_KEY_SECRET_PREFIX", config::API_KEY_SECRET_PREFIX),
    ("WEBHOOK_SECRET_PREFIX", config::WEBHOOK_SECRET_PREFIX),
    ("WEBHOOK_SECRET_OVERLAP", config::WEBHOOK_SECRET_OVERLAP),
    ("EVENTS_QUEUE_URL", config::EVENTS_QUEUE_URL),
    ("RETRIES_QUEUE_URL", config::RETRIES_QUEUE_URL),
    ("WEBHOOK_RETRY_DELAYS", config::WEBHOOK_RETRY_DELAYS),
    ("WEBHOOK_TIMEOUT_MS", config::WEBHOOK_TIMEOUT_MS),
    (
        "WEBHOOK_ACCOUNT_CONCURRENCY",
        config::WEBHOOK_ACCOUNT_CONCURRENCY,
    ),
    ("WEBHOOK_REPARK_DELAY_MS", config::WEBHOOK_REPARK_DELAY_MS),
    (
        "WEBHOOK_ALLOW_INSECURE_LOCAL",
        config::WEBHOOK_ALLOW_INSECURE_LOCAL,
    ),
    ("ACCOUNT_ID_CLAIM", config::ACCOUNT_ID_CLAIM),
];

/// All the Rust source of one function crate.
fn function_source(binary: &str) -> String {
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

/// The environment variables a function's source reads: every `config::NAME` it mentions,
/// plus those read through the shared helpers it calls.
fn env_read_by_code(binary: &str) -> BTreeSet<&'static str> {
    let source = function_source(binary);
    let mut names: BTreeSet<&str> = ENV_CONSTANTS
        .iter()
        .filter(|(ident, _)| {
            source
                .match_indices(&format!("config::{ident}"))
                .any(|(i, m)| {
                    // `config::TABLE_NAME`, not `config::TABLE_NAME_X`.
                    !source[i + m.len()..].starts_with(|c: char| c == '_' || c.is_alphanumeric())
                })
        })
        .map(|(_, name)| *name)
        .collect();
    if source.contains("RetrySchedule::from_env") {
        names.insert(config::WEBHOOK_RETRY_DELAYS);
    }
    if source.contains("telemetry::init") {
        names.insert("LOG_LEVEL");
    }
    // EMF metric lines (`lambda_glue::metrics`) are written in the namespace it reads.
    if source.contains(".emit()") {
        names.insert(lambda_glue::metrics::NAMESPACE_VAR);
    }
    names
}

/// Environment variables each function gets: what its code reads (checked against the source
/// by `environment_names_are_the_ones_the_code_reads`), plus LOG_LEVEL and METRICS_NAMESPACE.
fn expected_env(binary: &str) -> BTreeSet<&'static str> {
    let names: &[&str] = match binary {
        "trigger-call" => &[
            config::TABLE_NAME,
            config::PROVIDER_BASE_URL,
            config::PROVIDER_SECRET_NAME,
            config::PROVIDER_TIMEOUT_MS,
            config::DIAL_UNKNOWN_DEADLINE,
            config::CALL_STALE_AFTER,
            config::API_RATE_LIMIT_PER_MINUTE,
        ],
        "settings" => &[
            config::TABLE_NAME,
            config::API_KEY_SECRET_PREFIX,
            config::WEBHOOK_SECRET_PREFIX,
            config::WEBHOOK_SECRET_OVERLAP,
            config::ACCOUNT_ID_CLAIM,
            config::EVENTS_QUEUE_URL,
            config::WEBHOOK_TIMEOUT_MS,
            config::SETTINGS_RATE_LIMIT_PER_MINUTE,
            config::COSTLY_RATE_LIMIT_PER_MINUTE,
        ],
        "call-completed" => &[
            config::TABLE_NAME,
            config::PROVIDER_SECRET_NAME,
            config::EVENTS_QUEUE_URL,
            config::CALL_ANALYSIS_GRACE,
            config::CALL_STALE_AFTER,
        ],
        "reconciler" => &[
            config::TABLE_NAME,
            config::EVENTS_QUEUE_URL,
            config::DIAL_UNKNOWN_DEADLINE,
            // Scheduled calls are placed by the reconciler.
            config::PROVIDER_BASE_URL,
            config::PROVIDER_SECRET_NAME,
            config::PROVIDER_TIMEOUT_MS,
            config::CALL_STALE_AFTER,
            config::RECONCILER_CONCURRENCY,
            config::SCHEDULED_CALLS_PER_SECOND,
        ],
        "webhook-delivery" => &[
            config::TABLE_NAME,
            config::API_KEY_SECRET_PREFIX,
            config::WEBHOOK_SECRET_PREFIX,
            config::EVENTS_QUEUE_URL,
            config::RETRIES_QUEUE_URL,
            config::WEBHOOK_RETRY_DELAYS,
            config::WEBHOOK_TIMEOUT_MS,
            config::WEBHOOK_ACCOUNT_CONCURRENCY,
            config::WEBHOOK_REPARK_DELAY_MS,
        ],
        other => panic!("no expected environment for {other}"),
    };
    names
        .iter()
        .copied()
        .chain(["LOG_LEVEL", lambda_glue::metrics::NAMESPACE_VAR])
        .collect()
}

/// IAM actions a function needs beyond what its code calls, from its template properties:
/// logs to its own log group, the SQS event source mapping's actions (the Lambda service
/// polls with the function's role), and X-Ray's with `Tracing: Active`.
fn platform_actions(t: &Value, f: &Value) -> BTreeSet<String> {
    let mut actions = set(&["logs:CreateLogStream", "logs:PutLogEvents"]);
    let sqs_source = opt(f, &["Properties", "Events"])
        .and_then(Value::as_mapping)
        .is_some_and(|events| {
            events
                .values()
                .any(|e| e.get("Type").and_then(Value::as_str) == Some("SQS"))
        });
    if sqs_source {
        actions.extend(set(&[
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        ]));
    }
    if function_property(t, f, "Tracing").and_then(Value::as_str) == Some("Active") {
        actions.extend(set(&["xray:PutTraceSegments", "xray:PutTelemetryRecords"]));
    }
    actions
}

// ------------------------------------------------------------------ reading the template

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn template_text() -> String {
    let path = repo_root().join("template.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn template() -> Value {
    serde_yaml_ng::from_str(&template_text()).expect("template.yaml is valid YAML")
}

/// `v[path[0]][path[1]]...`, panicking with the path when something is missing.
fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = v;
    for (i, key) in path.iter().enumerate() {
        cur = cur
            .get(*key)
            .unwrap_or_else(|| panic!("template.yaml has no {}", path[..=i].join(".")));
    }
    cur
}

fn opt<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = cur.get(*key)?;
    }
    Some(cur)
}

fn mapping<'a>(v: &'a Value, path: &[&str]) -> &'a Mapping {
    at(v, path)
        .as_mapping()
        .unwrap_or_else(|| panic!("{} is not a mapping", path.join(".")))
}

fn string(v: &Value, what: &str) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("{what} is not a literal string: {other:?}"),
    }
}

fn number(v: &Value, what: &str) -> u64 {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or_else(|| panic!("{what} is not a literal number: {v:?}"))
}

/// The capacity profiles of the `Scale` parameter (docs/deploy.md, "Scale").
const SCALES: [&str; 2] = ["small", "large"];

/// A capped setting's value under one `Scale`: `v` must be `!FindInMap [Map, Row, !Ref Scale]`,
/// read from the template's mapping.
fn scaled(t: &Value, v: &Value, scale: &str) -> u64 {
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
fn scaled_row(v: &Value) -> (String, String) {
    let (f, arg) = intrinsic(v).unwrap_or_else(|| panic!("not an intrinsic: {v:?}"));
    assert_eq!(f, "FindInMap", "{v:?} is not a !FindInMap");
    let args = arg.as_sequence().expect("!FindInMap arguments");
    (string(&args[0], "map name"), string(&args[1], "row"))
}

/// webhook-delivery's SQS event sources, by the queue each reads (its logical id).
fn delivery_event_sources(t: &Value) -> BTreeMap<String, &Value> {
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
fn reserved(t: &Value, id: &str, scale: &str) -> u64 {
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
fn intrinsic(v: &Value) -> Option<(String, &Value)> {
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
fn ref_target(v: &Value) -> Option<String> {
    match intrinsic(v)? {
        (f, Value::String(s)) if f == "Ref" => Some(s.clone()),
        _ => None,
    }
}

/// `(logical id, attribute)` of a `!GetAtt X.Attr` (or its list form).
fn getatt_target(v: &Value) -> Option<(String, String)> {
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
fn sub_string(v: &Value) -> Option<String> {
    match intrinsic(v)? {
        (f, Value::String(s)) if f == "Sub" => Some(s.clone()),
        _ => None,
    }
}

fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Sequence(seq) => seq.iter().collect(),
        other => vec![other],
    }
}

fn resources_of_type<'a>(t: &'a Value, ty: &str) -> Vec<(String, &'a Value)> {
    mapping(t, &["Resources"])
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(ty))
        .map(|(k, r)| (k.as_str().expect("logical id").to_string(), r))
        .collect()
}

fn resource<'a>(t: &'a Value, id: &str) -> &'a Value {
    at(t, &["Resources", id])
}

fn function<'a>(t: &'a Value, binary: &str) -> &'a Value {
    let (_, id) = FUNCTIONS
        .iter()
        .find(|(b, _)| *b == binary)
        .unwrap_or_else(|| panic!("unknown function {binary}"));
    resource(t, id)
}

/// A function's property, falling back to `Globals.Function` as SAM does.
fn function_property<'a>(t: &'a Value, f: &'a Value, name: &str) -> Option<&'a Value> {
    opt(f, &["Properties", name]).or_else(|| opt(t, &["Globals", "Function", name]))
}

/// A function's environment after SAM merges the globals in.
fn function_env<'a>(t: &'a Value, f: &'a Value) -> BTreeMap<String, &'a Value> {
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
fn function_routes(t: &Value, f: &Value) -> BTreeMap<String, String> {
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

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

// ------------------------------------------------------------------ tests

#[test]
fn every_function_is_a_workspace_binary_built_with_cargo_lambda() {
    let t = template();
    let functions = resources_of_type(&t, "AWS::Serverless::Function");
    let ids: BTreeSet<String> = functions.iter().map(|(id, _)| id.clone()).collect();
    let expected: BTreeSet<String> = FUNCTIONS.iter().map(|(_, id)| id.to_string()).collect();
    assert_eq!(ids, expected, "the template's functions");

    let workspace = std::fs::read_to_string(repo_root().join("Cargo.toml")).expect("Cargo.toml");
    for (binary, id) in FUNCTIONS {
        let f = resource(&t, id);
        assert_eq!(
            at(f, &["Metadata", "BuildMethod"]).as_str(),
            Some("rust-cargolambda"),
            "{id}"
        );
        assert_eq!(
            at(f, &["Metadata", "BuildProperties", "Binary"]).as_str(),
            Some(binary),
            "{id} builds the workspace binary of the same name"
        );
        let manifest = repo_root()
            .join("functions")
            .join(binary)
            .join("Cargo.toml");
        let manifest = std::fs::read_to_string(&manifest)
            .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
        assert!(
            manifest.contains(&format!("name = \"{binary}\"")),
            "functions/{binary} is the package {binary}"
        );
        assert!(
            repo_root()
                .join("functions")
                .join(binary)
                .join("src/main.rs")
                .is_file(),
            "functions/{binary} has a binary"
        );
        assert!(
            workspace.contains(&format!("\"functions/{binary}\"")),
            "{binary} is a workspace member"
        );
        let prop =
            |name| function_property(&t, f, name).unwrap_or_else(|| panic!("{id} has no {name}"));
        assert_eq!(string(prop("Runtime"), "Runtime"), "provided.al2023");
        assert_eq!(string(prop("Handler"), "Handler"), "bootstrap");
        // The workspace root is the code: cargo lambda resolves the binary there.
        assert_eq!(string(prop("CodeUri"), "CodeUri"), ".");
        let arch = as_list(prop("Architectures"));
        assert_eq!(arch.len(), 1, "{id} has one architecture");
        assert_eq!(ref_target(arch[0]).as_deref(), Some("Architecture"));
        assert!(
            number(prop("Timeout"), "Timeout") <= 30,
            "{id}: HTTP API integrations time out at 30 s"
        );
    }
    let arch = at(&t, &["Parameters", "Architecture"]);
    assert_eq!(at(arch, &["Default"]).as_str(), Some("arm64"));
    let allowed: BTreeSet<String> = as_list(at(arch, &["AllowedValues"]))
        .into_iter()
        .map(|v| string(v, "AllowedValues"))
        .collect();
    assert_eq!(allowed, set(&["arm64", "x86_64"]));

    // `make build` builds (and checks) exactly the template's functions, and the template
    // deploys every crate under functions/.
    let makefile = std::fs::read_to_string(repo_root().join("Makefile")).expect("Makefile");
    let built: BTreeSet<String> = makefile
        .lines()
        .find_map(|l| l.strip_prefix("FUNCTIONS :="))
        .expect("FUNCTIONS := in the Makefile")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let deployed: BTreeSet<String> = FUNCTIONS.iter().map(|(b, _)| b.to_string()).collect();
    assert_eq!(built, deployed, "the Makefile's FUNCTIONS");
    let crates: BTreeSet<String> = std::fs::read_dir(repo_root().join("functions"))
        .expect("functions/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(crates, deployed, "every function crate is deployed");
}

#[test]
fn routes_match_the_code_and_only_settings_use_the_jwt_authorizer() {
    let t = template();
    let settings_routes = settings_code_routes();
    let expected: [(&str, BTreeSet<String>, &str); 5] = [
        (
            "trigger-call",
            trigger_call::ROUTES.iter().map(|r| r.key()).collect(),
            "NONE",
        ),
        ("settings", settings_routes.clone(), JWT_AUTHORIZER),
        ("call-completed", call_completed_code_routes(), "NONE"),
        ("webhook-delivery", BTreeSet::new(), "NONE"),
        ("reconciler", BTreeSet::new(), "NONE"),
    ];
    for (binary, routes, authorizer) in expected {
        let actual = function_routes(&t, function(&t, binary));
        assert_eq!(
            actual.keys().cloned().collect::<BTreeSet<_>>(),
            routes,
            "routes of {binary}"
        );
        for (route, auth) in &actual {
            assert_eq!(auth, authorizer, "{route} ({binary}) authorizer");
        }
    }

    // The authorizer is a JWT authorizer whose issuer and audience are parameters (with the
    // stack's own Cognito pool as the default).
    let auth = at(&t, &["Resources", "Api", "Properties", "Auth"]);
    assert_eq!(
        string(at(auth, &["DefaultAuthorizer"]), "DefaultAuthorizer"),
        JWT_AUTHORIZER,
        "routes are authenticated unless they opt out"
    );
    let jwt = at(auth, &["Authorizers", JWT_AUTHORIZER, "JwtConfiguration"]);
    let issuer = serde_yaml_ng::to_string(at(jwt, &["issuer"])).expect("yaml");
    assert!(
        issuer.contains("JwtIssuer") && issuer.contains("cognito-idp"),
        "{issuer}"
    );
    let audience = serde_yaml_ng::to_string(at(jwt, &["audience"])).expect("yaml");
    assert!(audience.contains("JwtAudience") && audience.contains("UserPoolClient"));
    assert_eq!(
        at(&t, &["Parameters", "JwtIssuer", "Default"]).as_str(),
        Some(""),
        "Cognito by default"
    );

    // CORS allows the dashboard's origin, a parameter, and the hosted integration page's
    // origin when the stack hosts it (IntegrationPage=Enabled).
    let cors = at(&t, &["Resources", "Api", "Properties", "CorsConfiguration"]);
    let origins = as_list(at(cors, &["AllowOrigins"]));
    assert_eq!(origins.len(), 2);
    assert_eq!(ref_target(origins[0]).as_deref(), Some("DashboardOrigin"));
    let page_origin = serde_yaml_ng::to_string(origins[1]).expect("yaml");
    assert!(
        page_origin.contains("HostPage")
            && page_origin.contains("https://${PageDistribution.DomainName}")
            && page_origin.contains("AWS::NoValue"),
        "{page_origin}"
    );
    let methods: BTreeSet<String> = as_list(at(cors, &["AllowMethods"]))
        .into_iter()
        .map(|v| string(v, "AllowMethods"))
        .collect();
    for route in &settings_routes {
        let method = route.split(' ').next().expect("method");
        assert!(methods.contains(method), "CORS allows {method}");
    }

    // The provider callback URL output is the call-completed route: on the API's own domain,
    // or on the edge's with EdgeProtection on.
    let (edge, direct) = edge_or_direct(at(&t, &["Outputs", "ProviderCallbackUrl", "Value"]));
    for callback in [&edge, &direct] {
        assert!(
            callback.ends_with(call_completed::PROVIDER_CALLBACK),
            "{callback}"
        );
    }
    assert!(direct.starts_with("https://${Api}."), "{direct}");
    assert!(
        edge.starts_with("https://${EdgeDistribution.DomainName}/"),
        "{edge}"
    );
}

/// The two `!Sub` strings of a `!If [EdgeOn, edge, direct]`.
fn edge_or_direct(v: &Value) -> (String, String) {
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

#[tokio::test]
async fn table_matches_what_create_table_builds() {
    let t = template();
    let table = at(&t, &["Resources", "Table", "Properties"]);

    // What the code builds, read back from the emulator.
    let emulator = Emulator::connect().await;
    let store = emulator.table().await;
    let described = emulator
        .dynamodb()
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .expect("describe table")
        .table
        .expect("table description");

    let keys = |v: &Value| -> Vec<(String, String)> {
        as_list(v)
            .into_iter()
            .map(|k| {
                (
                    string(at(k, &["AttributeName"]), "AttributeName"),
                    string(at(k, &["KeyType"]), "KeyType"),
                )
            })
            .collect()
    };
    let code_keys = |ks: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Vec<(String, String)> {
        ks.iter()
            .map(|k| {
                let kind = match k.key_type() {
                    KeyType::Hash => "HASH",
                    KeyType::Range => "RANGE",
                    other => panic!("unexpected key type {other:?}"),
                };
                (k.attribute_name().to_string(), kind.to_string())
            })
            .collect()
    };
    assert_eq!(
        keys(at(table, &["KeySchema"])),
        code_keys(described.key_schema()),
        "table key schema"
    );

    let template_attrs: BTreeSet<(String, String)> = as_list(at(table, &["AttributeDefinitions"]))
        .into_iter()
        .map(|a| {
            (
                string(at(a, &["AttributeName"]), "AttributeName"),
                string(at(a, &["AttributeType"]), "AttributeType"),
            )
        })
        .collect();
    let code_attrs: BTreeSet<(String, String)> = described
        .attribute_definitions()
        .iter()
        .map(|a| {
            (
                a.attribute_name().to_string(),
                a.attribute_type().as_str().to_string(),
            )
        })
        .collect();
    assert_eq!(template_attrs, code_attrs, "attribute definitions");

    let template_gsis: BTreeMap<String, (Vec<(String, String)>, String)> =
        as_list(at(table, &["GlobalSecondaryIndexes"]))
            .into_iter()
            .map(|g| {
                (
                    string(at(g, &["IndexName"]), "IndexName"),
                    (
                        keys(at(g, &["KeySchema"])),
                        string(at(g, &["Projection", "ProjectionType"]), "ProjectionType"),
                    ),
                )
            })
            .collect();
    let code_gsis: BTreeMap<String, (Vec<(String, String)>, String)> = described
        .global_secondary_indexes()
        .iter()
        .map(|g| {
            let projection = g
                .projection()
                .and_then(|p| p.projection_type())
                .cloned()
                .unwrap_or(ProjectionType::All);
            (
                g.index_name().expect("index name").to_string(),
                (code_keys(g.key_schema()), projection.as_str().to_string()),
            )
        })
        .collect();
    assert_eq!(template_gsis, code_gsis, "global secondary indexes");
    assert!(template_gsis.contains_key(GSI1), "the template has {GSI1}");
    assert!(template_gsis.contains_key(GSI2), "the template has {GSI2}");
    // The due index projects exactly what names each item.
    let template_projected: BTreeSet<String> = as_list(at(table, &["GlobalSecondaryIndexes"]))
        .into_iter()
        .filter(|g| string(at(g, &["IndexName"]), "IndexName") == GSI2)
        .flat_map(|g| as_list(at(g, &["Projection", "NonKeyAttributes"])))
        .map(|a| string(a, "NonKeyAttributes"))
        .collect();
    let code_projected: BTreeSet<String> = described
        .global_secondary_indexes()
        .iter()
        .filter(|g| g.index_name() == Some(GSI2))
        .flat_map(|g| g.projection().map(|p| p.non_key_attributes().to_vec()))
        .flatten()
        .collect();
    assert_eq!(template_projected, code_projected, "{GSI2} projection");
    assert_eq!(
        code_projected,
        aws_adapters::dynamo::due::PROJECTED
            .iter()
            .map(|a| a.to_string())
            .collect::<BTreeSet<_>>()
    );
    assert!(
        described.local_secondary_indexes().is_empty(),
        "the code builds no LSI the template lacks"
    );

    // TTL: the attribute the code enables is the template's.
    let ttl = emulator
        .dynamodb()
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .expect("describe ttl")
        .time_to_live_description
        .expect("ttl description");
    assert_eq!(ttl.attribute_name(), Some(TTL_ATTRIBUTE));
    assert_eq!(
        string(
            at(table, &["TimeToLiveSpecification", "AttributeName"]),
            "TTL"
        ),
        TTL_ATTRIBUTE
    );
    assert_eq!(
        at(table, &["TimeToLiveSpecification", "Enabled"]).as_bool(),
        Some(true)
    );

    // On-demand, recoverable, encrypted, and kept when the stack goes.
    assert_eq!(
        string(at(table, &["BillingMode"]), "BillingMode"),
        "PAY_PER_REQUEST"
    );
    if let Some(summary) = described.billing_mode_summary() {
        assert_eq!(
            summary.billing_mode().map(|m| m.as_str()),
            Some("PAY_PER_REQUEST")
        );
    }
    assert_eq!(
        at(
            table,
            &[
                "PointInTimeRecoverySpecification",
                "PointInTimeRecoveryEnabled"
            ]
        )
        .as_bool(),
        Some(true)
    );
    assert_eq!(
        at(table, &["SSESpecification", "SSEEnabled"]).as_bool(),
        Some(true)
    );
    assert_eq!(
        at(&t, &["Resources", "Table", "DeletionPolicy"]).as_str(),
        Some("Retain")
    );
}

#[test]
fn queues_and_event_source_fit_the_retry_design() {
    let t = template();
    let delivery = function(&t, "webhook-delivery");
    // Two lanes: first attempts (the events queue) and the retries lane, each its own mapping.
    let sources = delivery_event_sources(&t);
    assert_eq!(
        sources.keys().map(String::as_str).collect::<Vec<_>>(),
        ["EventsQueue", "RetriesQueue"],
        "webhook-delivery reads the events queue and the retries queue"
    );
    // Both batching windows are the DeliveryBatchingWindow parameter (default 0: nothing is
    // added to a first attempt or a retry).
    let window_param = at(&t, &["Parameters", "DeliveryBatchingWindow"]);
    assert_eq!(number(at(window_param, &["Default"]), "Default"), 0);
    assert_eq!(number(at(window_param, &["MinValue"]), "MinValue"), 0);
    let window = number(at(window_param, &["MaxValue"]), "MaxValue");
    for (queue, esm) in &sources {
        assert_eq!(number(at(esm, &["BatchSize"]), "BatchSize"), 10, "{queue}");
        assert_eq!(
            ref_target(at(esm, &["MaximumBatchingWindowInSeconds"])).as_deref(),
            Some("DeliveryBatchingWindow"),
            "{queue}: the batching window parameter"
        );
        let response_types: Vec<String> = as_list(at(esm, &["FunctionResponseTypes"]))
            .into_iter()
            .map(|v| string(v, "FunctionResponseTypes"))
            .collect();
        assert_eq!(response_types, ["ReportBatchItemFailures"], "{queue}");
        for scale in SCALES {
            let concurrency = scaled(&t, at(esm, &["ScalingConfig", "MaximumConcurrency"]), scale);
            assert!(
                (2..=1000).contains(&concurrency),
                "{queue} {scale}: MaximumConcurrency {concurrency} (Lambda's range is 2..=1000)"
            );
        }
    }

    // Visibility timeout: at least 6 x the function's timeout plus the batching window.
    let timeout = number(
        function_property(&t, delivery, "Timeout").expect("timeout"),
        "Timeout",
    );
    let webhook_timeout = number(
        function_env(&t, delivery)[config::WEBHOOK_TIMEOUT_MS],
        "WEBHOOK_TIMEOUT_MS",
    );
    assert_eq!(
        u128::from(webhook_timeout),
        DEFAULT_WEBHOOK_TIMEOUT.as_millis(),
        "the spec's 10 s webhook timeout"
    );
    assert!(
        timeout * 1000 > webhook_timeout,
        "one delivery ({webhook_timeout} ms) fits in the function's {timeout} s"
    );
    let queue = at(&t, &["Resources", "EventsQueue", "Properties"]);
    let visibility = number(at(queue, &["VisibilityTimeout"]), "VisibilityTimeout");
    assert!(
        visibility >= 6 * timeout + window,
        "visibility {visibility} s < 6 x {timeout} s + the largest batching window {window} s"
    );
    // The delivery claim's lease is derived from this one value (`config::claim_lease`): a
    // lease shorter than the visibility timeout let a returning message re-POST an attempt
    // whose 2xx was not recorded yet.
    assert_eq!(
        u128::from(visibility),
        config::EVENTS_VISIBILITY_TIMEOUT.as_secs().into(),
        "EventsQueue.VisibilityTimeout is config::EVENTS_VISIBILITY_TIMEOUT"
    );
    assert!(config::claim_lease() >= config::EVENTS_VISIBILITY_TIMEOUT);

    // The redrive policy cannot interfere with the retries: those are new messages carrying
    // their attempt number, so a failing customer endpoint never makes a message be received
    // twice. maxReceiveCount only counts the function's own failures on one message (batch
    // item failures, crashes, timeouts), and must let a live event ride out a 30-minute
    // outage of DynamoDB, SQS or Secrets Manager before it lands in the DLQ.
    let redrive = at(queue, &["RedrivePolicy"]);
    assert_eq!(
        getatt_target(at(redrive, &["deadLetterTargetArn"])),
        Some(("EventsDeadLetterQueue".into(), "Arn".into()))
    );
    let max_receive = number(at(redrive, &["maxReceiveCount"]), "maxReceiveCount");
    assert!(
        max_receive >= 5 && max_receive * visibility >= 30 * 60,
        "maxReceiveCount {max_receive} x {visibility} s could move a live event to the DLQ"
    );
    // The retries queue is the events queue's twin: same visibility timeout (the claim's
    // lease covers both lanes), retention, encryption and redrive to the same DLQ.
    let retries = at(&t, &["Resources", "RetriesQueue", "Properties"]);
    for key in [
        "VisibilityTimeout",
        "MessageRetentionPeriod",
        "SqsManagedSseEnabled",
        "RedrivePolicy",
    ] {
        assert_eq!(
            at(retries, &[key]),
            at(queue, &[key]),
            "RetriesQueue.{key} is EventsQueue's"
        );
    }

    // The default retry delays are the code's default (the spec's 30s, 5m, 30m).
    let delays_param = at(&t, &["Parameters", "WebhookRetryDelays"]);
    let default_delays = string(at(delays_param, &["Default"]), "Default");
    assert_eq!(default_delays, DEFAULT_DELAYS);
    let delays = config::parse_durations(&default_delays).expect("the default delays parse");
    assert_eq!(
        RetrySchedule::parse(&default_delays).expect("schedule"),
        RetrySchedule::new(delays.clone())
    );
    assert_eq!(
        delays,
        [
            Duration::from_secs(30),
            Duration::from_secs(300),
            Duration::from_secs(1800)
        ],
        "the spec's retry schedule"
    );
    let retention = |id: &str| {
        number(
            at(
                &t,
                &["Resources", id, "Properties", "MessageRetentionPeriod"],
            ),
            "MessageRetentionPeriod",
        )
    };
    assert!(
        retention("EventsQueue") > 900 + delays.iter().map(Duration::as_secs).max().unwrap_or(0)
    );
    assert!(
        retention("EventsDeadLetterQueue") >= retention("EventsQueue"),
        "the DLQ keeps messages at least as long as the queue"
    );

    // Every function that enqueues events gets this queue's URL; only webhook-delivery sends
    // retries (`DeliveryMessage::on_retries_lane`: settings' redelivery is attempt 1), so only
    // it gets the retries queue's.
    for binary in [
        "settings",
        "call-completed",
        "webhook-delivery",
        "reconciler",
    ] {
        let env = function_env(&t, function(&t, binary));
        assert_eq!(
            ref_target(env[config::EVENTS_QUEUE_URL]).as_deref(),
            Some("EventsQueue"),
            "{binary}"
        );
        assert_eq!(
            env.get(config::RETRIES_QUEUE_URL)
                .and_then(|v| ref_target(v))
                .as_deref(),
            (binary == "webhook-delivery").then_some("RetriesQueue"),
            "{binary}: RETRIES_QUEUE_URL"
        );
    }
    // The delivery function retries with the parameter's delays.
    assert_eq!(
        ref_target(function_env(&t, delivery)[config::WEBHOOK_RETRY_DELAYS]).as_deref(),
        Some("WebhookRetryDelays")
    );
}

/// The local pollers stand in for the two event source mappings: `PollerConfig::default()`
/// is the first-attempts mapping and `PollerConfig::retries()` the retries lane's, with
/// `Scale=small` and the default batching window (batch size, window, maximum concurrency),
/// both with the function's timeout.
#[test]
fn local_poller_defaults_are_the_template_event_source() {
    use local_stack::poller::PollerConfig;
    let t = template();
    let delivery = function(&t, "webhook-delivery");
    let sources = delivery_event_sources(&t);
    let window = Duration::from_secs(param_default(&t, "DeliveryBatchingWindow"));
    for (queue, local) in [
        ("EventsQueue", PollerConfig::default()),
        ("RetriesQueue", PollerConfig::retries()),
    ] {
        let esm = sources[queue];
        assert_eq!(
            local.batch_size as u64,
            number(at(esm, &["BatchSize"]), "BatchSize"),
            "{queue}: batch size"
        );
        assert_eq!(local.batching_window, window, "{queue}: batching window");
        assert_eq!(
            local.concurrency as u64,
            scaled(
                &t,
                at(esm, &["ScalingConfig", "MaximumConcurrency"]),
                "small"
            ),
            "{queue}: the poller's concurrency is Scale=small's MaximumConcurrency"
        );
        assert_eq!(
            local.function_timeout,
            Duration::from_secs(number(
                function_property(&t, delivery, "Timeout").expect("timeout"),
                "Timeout"
            )),
            "{queue}: POLLER_FUNCTION_TIMEOUT's default"
        );
    }
}

/// The deployed fairness settings are the code's defaults (the ones the docs describe).
#[test]
fn fairness_settings_are_the_code_defaults() {
    let t = template();
    let env = function_env(&t, function(&t, "webhook-delivery"));
    assert_eq!(
        number(
            env[config::WEBHOOK_ACCOUNT_CONCURRENCY],
            "WEBHOOK_ACCOUNT_CONCURRENCY"
        ),
        config::DEFAULT_ACCOUNT_CONCURRENCY as u64
    );
    assert_eq!(
        u128::from(number(
            env[config::WEBHOOK_REPARK_DELAY_MS],
            "WEBHOOK_REPARK_DELAY_MS"
        )),
        config::DEFAULT_REPARK_DELAY.as_millis()
    );
}

#[tokio::test]
async fn local_stack_queues_are_the_template_queues() {
    let t = template();
    let emulator = Emulator::connect().await;
    let names = local_stack::resources::ResourceNames {
        table: Emulator::unique("drift-table"),
        queue: Emulator::unique("drift-events"),
        dead_letter_queue: Emulator::unique("drift-events-dlq"),
        provider_secret: Emulator::unique("drift/provider"),
    };
    let resources =
        local_stack::resources::ensure(&emulator.config, &names, "drift-test-provider-key")
            .await
            .expect("the local stack's resources");
    let attributes = |url: &str| {
        let sqs = emulator.sqs();
        let url = url.to_string();
        async move {
            sqs.get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::All)
                .send()
                .await
                .expect("get queue attributes")
                .attributes
                .unwrap_or_default()
        }
    };
    let queue = attributes(&resources.queue_url).await;
    let dlq = attributes(&resources.dead_letter_queue_url).await;
    let local = |attrs: &std::collections::HashMap<QueueAttributeName, String>,
                 name: QueueAttributeName| {
        attrs
            .get(&name)
            .unwrap_or_else(|| panic!("the local queue has no {name:?}"))
            .parse::<u64>()
            .unwrap_or_else(|_| panic!("{name:?} is not a number"))
    };
    let template_queue = at(&t, &["Resources", "EventsQueue", "Properties"]);
    let template_dlq = at(&t, &["Resources", "EventsDeadLetterQueue", "Properties"]);
    assert_eq!(
        local(&queue, QueueAttributeName::VisibilityTimeout),
        number(
            at(template_queue, &["VisibilityTimeout"]),
            "VisibilityTimeout"
        ),
        "events queue visibility timeout"
    );
    assert_eq!(
        local(&queue, QueueAttributeName::MessageRetentionPeriod),
        number(
            at(template_queue, &["MessageRetentionPeriod"]),
            "MessageRetentionPeriod"
        ),
        "events queue retention"
    );
    assert_eq!(
        local(&dlq, QueueAttributeName::MessageRetentionPeriod),
        number(
            at(template_dlq, &["MessageRetentionPeriod"]),
            "MessageRetentionPeriod"
        ),
        "DLQ retention"
    );
    let redrive: serde_json::Value = serde_json::from_str(
        queue
            .get(&QueueAttributeName::RedrivePolicy)
            .expect("the local queue has a redrive policy"),
    )
    .expect("redrive policy is JSON");
    assert_eq!(
        redrive["deadLetterTargetArn"].as_str(),
        Some(resources.dead_letter_queue_arn.as_str()),
        "the local queue redrives to its DLQ"
    );
    let max_receive = match &redrive["maxReceiveCount"] {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .expect("maxReceiveCount");
    assert_eq!(
        max_receive,
        number(
            at(template_queue, &["RedrivePolicy", "maxReceiveCount"]),
            "maxReceiveCount"
        ),
        "maxReceiveCount"
    );
}

#[test]
fn environment_names_are_the_ones_the_code_reads() {
    let text = template_text();
    assert!(
        !text.contains(config::WEBHOOK_ALLOW_INSECURE_LOCAL),
        "{} is for local development only and must never be deployed",
        config::WEBHOOK_ALLOW_INSECURE_LOCAL
    );
    let t = template();
    for (binary, id) in FUNCTIONS {
        let env = function_env(&t, function(&t, binary));
        let names: BTreeSet<&str> = env.keys().map(String::as_str).collect();
        assert_eq!(names, expected_env(binary), "environment of {id}");
        // Whatever the code reads is set (a missing required variable fails every cold start).
        let mut read = env_read_by_code(binary);
        assert!(
            read.contains(config::TABLE_NAME) && read.contains("LOG_LEVEL"),
            "the source scan found {read:?} in {binary}: is it still reading the right files?"
        );
        read.remove(config::WEBHOOK_ALLOW_INSECURE_LOCAL);
        assert!(
            read.is_subset(&names),
            "{id} reads {:?}, which the template does not set",
            read.difference(&names).collect::<Vec<_>>()
        );
        if let Some(table) = env.get(config::TABLE_NAME) {
            assert_eq!(ref_target(table).as_deref(), Some("Table"), "{id}");
        }
        if let Some(secret) = env.get(config::PROVIDER_SECRET_NAME) {
            assert_eq!(
                ref_target(secret).as_deref(),
                Some("ProviderSecret"),
                "{id}"
            );
        }
    }
    // Parameter defaults are the code's defaults.
    assert_eq!(
        u128::from(number(
            at(&t, &["Parameters", "ProviderTimeoutMs", "Default"]),
            "ProviderTimeoutMs"
        )),
        config::DEFAULT_PROVIDER_TIMEOUT.as_millis()
    );
    assert_eq!(
        at(&t, &["Parameters", "AccountIdClaim", "Default"]).as_str(),
        Some(config::DEFAULT_ACCOUNT_ID_CLAIM)
    );
    // Both functions that use per-account key secrets agree on the (stage-scoped) prefix.
    let prefix = |binary| {
        sub_string(function_env(&t, function(&t, binary))[config::API_KEY_SECRET_PREFIX])
            .expect("API_KEY_SECRET_PREFIX is a !Sub")
    };
    assert_eq!(prefix("settings"), prefix("webhook-delivery"));
    assert!(prefix("settings").contains("${Stage}"));
    assert!(prefix("settings").ends_with('/'));
    // So do they on the signing secrets' prefix, which is not the keys' (IAM tells them apart).
    let signing_prefix = |binary| {
        sub_string(function_env(&t, function(&t, binary))[config::WEBHOOK_SECRET_PREFIX])
            .expect("WEBHOOK_SECRET_PREFIX is a !Sub")
    };
    assert_eq!(
        signing_prefix("settings"),
        signing_prefix("webhook-delivery")
    );
    assert!(signing_prefix("settings").contains("${Stage}"));
    assert!(signing_prefix("settings").ends_with('/'));
    assert_ne!(signing_prefix("settings"), prefix("settings"));
    assert!(!signing_prefix("settings").starts_with(prefix("settings").as_str()));
    // The overlap's template value is the code's default.
    assert_eq!(
        config::parse_duration(
            function_env(&t, function(&t, "settings"))[config::WEBHOOK_SECRET_OVERLAP]
                .as_str()
                .expect("WEBHOOK_SECRET_OVERLAP is a string")
        )
        .expect("a duration"),
        config::DEFAULT_WEBHOOK_SECRET_OVERLAP
    );
    // LOG_LEVEL comes from the LogLevel parameter.
    assert_eq!(
        ref_target(at(
            &t,
            &[
                "Globals",
                "Function",
                "Environment",
                "Variables",
                "LOG_LEVEL"
            ]
        ))
        .as_deref(),
        Some("LogLevel")
    );
}

/// The actions a role grants, as `iam_actions` labels them: a Query granted on the table's
/// indexes is [`crate::iam_actions::QUERY_ON_INDEX`].
fn granted_actions(t: &Value, binary: &str) -> BTreeSet<String> {
    let id = FUNCTIONS
        .iter()
        .find(|(b, _)| *b == binary)
        .map(|(_, id)| *id)
        .expect("known function");
    let key_prefix =
        sub_string(function_env(t, function(t, "settings"))[config::API_KEY_SECRET_PREFIX])
            .expect("prefix");
    let signing_prefix =
        sub_string(function_env(t, function(t, "settings"))[config::WEBHOOK_SECRET_PREFIX])
            .expect("prefix");
    let f = function(t, binary);
    assert!(
        opt(f, &["Properties", "Policies"]).is_none(),
        "{id}: no SAM policies (they would add a generated role)"
    );
    let (role_id, attr) =
        getatt_target(at(f, &["Properties", "Role"])).expect("Role is !GetAtt X.Arn");
    assert_eq!(attr, "Arn");
    let role = resource(t, &role_id);
    assert_eq!(at(role, &["Type"]).as_str(), Some("AWS::IAM::Role"));
    assert!(
        opt(role, &["Properties", "ManagedPolicyArns"]).is_none(),
        "{role_id}: managed policies grant more than the function calls"
    );
    let mut actions = BTreeSet::new();
    for policy in as_list(at(role, &["Properties", "Policies"])) {
        for statement in as_list(at(policy, &["PolicyDocument", "Statement"])) {
            assert_eq!(at(statement, &["Effect"]).as_str(), Some("Allow"));
            let statement_actions: Vec<String> = as_list(at(statement, &["Action"]))
                .into_iter()
                .map(|a| string(a, "Action"))
                .collect();
            let on_secrets = statement_actions
                .iter()
                .any(|a| a.starts_with("secretsmanager:"));
            let on_xray_only = statement_actions.iter().all(|a| a.starts_with("xray:"));
            let mut on_index = false;
            for resource in as_list(at(statement, &["Resource"])) {
                if resource.as_str() == Some("*") {
                    // X-Ray's two actions have no resource-level permissions.
                    assert!(
                        on_xray_only,
                        "{role_id}: Resource * for {statement_actions:?}"
                    );
                    continue;
                }
                on_index |=
                    sub_string(resource).is_some_and(|arn| arn.starts_with("${Table.Arn}/index/"));
                if !on_secrets {
                    continue;
                }
                // The provider's secret for the functions that talk to the provider; the
                // per-account key secrets by name prefix only for the others.
                if matches!(binary, "trigger-call" | "call-completed" | "reconciler") {
                    assert_eq!(
                        ref_target(resource).as_deref(),
                        Some("ProviderSecret"),
                        "{role_id}: the provider secret only"
                    );
                } else {
                    let arn = sub_string(resource).expect("a secret ARN !Sub");
                    assert!(
                        arn.ends_with(&format!(":secret:{key_prefix}*"))
                            || arn.ends_with(&format!(":secret:{signing_prefix}*")),
                        "{role_id}: secrets by the key or signing-secret name prefix only, got {arn}"
                    );
                }
            }
            for action in statement_actions {
                assert!(!action.contains('*'), "{role_id}: wildcard action {action}");
                if on_index {
                    assert_eq!(action, "dynamodb:Query", "{role_id}: only Query on indexes");
                    actions.insert(crate::iam_actions::QUERY_ON_INDEX.to_string());
                } else {
                    actions.insert(action);
                }
            }
        }
    }
    actions
}

/// Both ways: every action the code (and the platform) needs is granted, and nothing else is.
/// The needs are derived from the source (`iam_actions`), never listed by hand.
#[test]
fn each_role_grants_exactly_the_actions_its_code_calls() {
    let t = template();
    let mut drift = Vec::new();
    for (binary, id) in FUNCTIONS {
        let mut needed = crate::iam_actions::code_actions(binary);
        needed.extend(platform_actions(&t, function(&t, binary)));
        let granted = granted_actions(&t, binary);
        let missing: Vec<_> = needed.difference(&granted).collect();
        let extra: Vec<_> = granted.difference(&needed).collect();
        if !missing.is_empty() || !extra.is_empty() {
            drift.push(format!(
                "{id}'s role: missing {missing:?} (the code calls them), extra {extra:?} (no \
                 code path calls them); its port calls: {:?}",
                crate::iam_actions::port_calls(binary)
            ));
        }
    }
    assert!(drift.is_empty(), "{}", drift.join("\n"));
}

#[test]
fn operations_have_alarms_logs_parameters_and_outputs() {
    let t = template();
    for (binary, id) in FUNCTIONS {
        let f = function(&t, binary);
        let group = ref_target(at(f, &["Properties", "LoggingConfig", "LogGroup"]))
            .unwrap_or_else(|| panic!("{id} logs to its own log group"));
        let group = resource(&t, &group);
        assert_eq!(at(group, &["Type"]).as_str(), Some("AWS::Logs::LogGroup"));
        assert_eq!(
            ref_target(at(group, &["Properties", "RetentionInDays"])).as_deref(),
            Some("LogRetentionDays"),
            "{id}: log retention"
        );
    }
    assert_eq!(
        at(&t, &["Globals", "Function", "LoggingConfig", "LogFormat"]).as_str(),
        Some("JSON")
    );

    let alarms = resources_of_type(&t, "AWS::CloudWatch::Alarm");
    let watches = |metric: &str, dimension_ref: &dyn Fn(&Value) -> bool| {
        alarms.iter().any(|(_, a)| {
            opt(a, &["Properties", "MetricName"]).and_then(Value::as_str) == Some(metric)
                && opt(a, &["Properties", "Dimensions"])
                    .map(|d| {
                        as_list(d)
                            .into_iter()
                            .any(|d| dimension_ref(at(d, &["Value"])))
                    })
                    .unwrap_or(false)
        })
    };
    assert!(
        watches("ApproximateNumberOfMessagesVisible", &|v| {
            getatt_target(v).map(|(id, _)| id) == Some("EventsDeadLetterQueue".into())
        }),
        "an alarm on the DLQ's depth"
    );
    assert!(
        watches("Errors", &|v| ref_target(v).as_deref()
            == Some("WebhookDeliveryFunction")),
        "an alarm on the delivery function's errors"
    );
    // The delivery metrics match messages webhook-delivery really logs.
    let delivery_source = function_source("webhook-delivery");
    for message in FAILED_ATTEMPT_MESSAGES {
        assert!(
            delivery_source.contains(&format!("\"{message}\"")),
            "webhook-delivery no longer logs {message:?}: update the metric filters"
        );
    }
    let filter_on = |metric: &str| -> String {
        let filters = resources_of_type(&t, "AWS::Logs::MetricFilter");
        let (_, f) = filters
            .iter()
            .find(|(_, f)| {
                as_list(at(f, &["Properties", "MetricTransformations"]))
                    .into_iter()
                    .any(|m| at(m, &["MetricName"]).as_str() == Some(metric))
            })
            .unwrap_or_else(|| panic!("no metric filter makes {metric}"));
        assert_eq!(
            ref_target(at(f, &["Properties", "LogGroupName"])).as_deref(),
            Some("WebhookDeliveryLogs")
        );
        string(at(f, &["Properties", "FilterPattern"]), "FilterPattern")
    };
    let failed = filter_on("WebhookAttemptsFailed");
    for message in FAILED_ATTEMPT_MESSAGES {
        assert!(
            failed.contains(&format!("$.fields.message = \"{message}\"")),
            "{failed}"
        );
    }
    let dropped = filter_on("WebhookEventsDropped");
    assert_eq!(
        dropped,
        format!("{{ $.fields.message = \"{DROPPED_MESSAGE}\" }}")
    );
    assert!(alarms.iter().any(|(_, a)| {
        opt(a, &["Properties", "MetricName"]).and_then(Value::as_str)
            == Some("WebhookAttemptsFailed")
    }));
    // The reconciler's quarantine of a poison due item (issue 25) is counted from the line it
    // logs, and alarmed on.
    let quarantined = resources_of_type(&t, "AWS::Logs::MetricFilter")
        .into_iter()
        .find(|(_, f)| {
            as_list(at(f, &["Properties", "MetricTransformations"]))
                .into_iter()
                .any(|m| at(m, &["MetricName"]).as_str() == Some("DueItemsQuarantined"))
        })
        .map(|(_, f)| f)
        .expect("a metric filter counts quarantined due items");
    assert_eq!(
        ref_target(at(quarantined, &["Properties", "LogGroupName"])).as_deref(),
        Some("ReconcilerLogs")
    );
    assert_eq!(
        string(
            at(quarantined, &["Properties", "FilterPattern"]),
            "FilterPattern"
        ),
        format!("{{ $.fields.message = \"{}\" }}", reconciler::QUARANTINED)
    );
    assert!(alarms.iter().any(|(_, a)| {
        opt(a, &["Properties", "MetricName"]).and_then(Value::as_str) == Some("DueItemsQuarantined")
    }));

    for p in [
        "Stage",
        "Architecture",
        "ProviderBaseUrl",
        "WebhookRetryDelays",
        "LogLevel",
        "JwtIssuer",
        "JwtAudience",
        "DashboardOrigin",
        "Scale",
        "DeliveryBatchingWindow",
    ] {
        assert!(opt(&t, &["Parameters", p]).is_some(), "parameter {p}");
    }
    for o in [
        "ApiUrl",
        "ProviderCallbackUrl",
        "EventsQueueUrl",
        "RetriesQueueUrl",
        "EventsDeadLetterQueueUrl",
    ] {
        assert!(opt(&t, &["Outputs", o]).is_some(), "output {o}");
    }
    assert_eq!(
        ref_target(at(
            &t,
            &[
                "Resources",
                "TriggerCallFunction",
                "Properties",
                "Environment",
                "Variables",
                "PROVIDER_BASE_URL"
            ]
        ))
        .as_deref(),
        Some("ProviderBaseUrl")
    );
}

/// The reconciler runs every minute and may only query the due index; the idempotency lease
/// outlasts trigger-call's timeout (`config::TRIGGER_CALL_TIMEOUT` is the template's).
#[test]
fn the_reconciler_runs_every_minute_over_the_due_index_only() {
    let t = template();
    let f = resource(&t, "ReconcilerFunction");
    let events = mapping(f, &["Properties", "Events"]);
    let schedules: Vec<String> = events
        .values()
        .filter(|e| matches!(at(e, &["Type"]).as_str(), Some("Schedule" | "ScheduleV2")))
        .map(|e| string(at(e, &["Properties", "ScheduleExpression"]), "schedule"))
        .collect();
    assert_eq!(schedules, vec!["rate(1 minute)".to_string()]);

    let statements = as_list(at(
        resource(&t, "ReconcilerRole"),
        &["Properties", "Policies"],
    ))
    .into_iter()
    .flat_map(|p| as_list(at(p, &["PolicyDocument", "Statement"])))
    .collect::<Vec<_>>();
    let query = statements
        .iter()
        .find(|s| {
            as_list(at(s, &["Action"]))
                .iter()
                .any(|a| a.as_str() == Some("dynamodb:Query"))
        })
        .expect("a Query statement");
    let index = sub_string(at(query, &["Resource"])).expect("a !Sub resource");
    assert_eq!(index, format!("${{Table.Arn}}/index/{GSI2}"));

    let timeout = number(
        at(
            resource(&t, "TriggerCallFunction"),
            &["Properties", "Timeout"],
        ),
        "Timeout",
    );
    assert_eq!(
        Duration::from_secs(timeout),
        config::TRIGGER_CALL_TIMEOUT,
        "TRIGGER_CALL_TIMEOUT is trigger-call's Timeout"
    );
    assert!(config::idempotency_lease() > config::TRIGGER_CALL_TIMEOUT);
}

/// What production needs of every function and stateful resource (docs/deploy.md): alarms on
/// each function's errors and throttles, reserved concurrency from the `FunctionConcurrency`
/// mapping (webhook-delivery's equal to its event source's maximum), X-Ray, platform REPORT
/// lines kept, stateful resources retained, the queue age watched, `Retry-After` exposed to
/// the dashboard, and TOTP available on the user pool.
#[test]
fn every_function_and_stateful_resource_is_ready_for_production() {
    let t = template();
    let alarms = resources_of_type(&t, "AWS::CloudWatch::Alarm");
    let alarm_on = |metric: &str, dimension: &str, target: &dyn Fn(&Value) -> bool| {
        alarms.iter().any(|(_, a)| {
            opt(a, &["Properties", "MetricName"]).and_then(Value::as_str) == Some(metric)
                && ref_target(
                    at(a, &["Properties", "AlarmActions"])
                        .get(0)
                        .expect("action"),
                )
                .as_deref()
                    == Some("AlarmTopic")
                && opt(a, &["Properties", "Dimensions"]).is_some_and(|d| {
                    as_list(d).into_iter().any(|d| {
                        at(d, &["Name"]).as_str() == Some(dimension) && target(at(d, &["Value"]))
                    })
                })
        })
    };
    let concurrency = mapping(&t, &["Mappings", "FunctionConcurrency"]);
    for (_, id) in FUNCTIONS {
        for metric in ["Errors", "Throttles"] {
            assert!(
                alarm_on(metric, "FunctionName", &|v| ref_target(v).as_deref()
                    == Some(id)),
                "{id}: an alarm on its {metric}, to the alarm topic"
            );
        }
        let row = mapping(&t, &["Mappings", "FunctionConcurrency", id]);
        let keys: Vec<&str> = row.keys().filter_map(Value::as_str).collect();
        assert_eq!(keys, SCALES, "{id}: one value per Scale");
        for scale in SCALES {
            assert!(reserved(&t, id, scale) >= 1, "{id} {scale}");
        }
    }
    assert_eq!(concurrency.len(), FUNCTIONS.len(), "one row per function");
    let scale = at(&t, &["Parameters", "Scale"]);
    assert_eq!(at(scale, &["Default"]).as_str(), Some("small"));
    let allowed: Vec<&str> = as_list(at(scale, &["AllowedValues"]))
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(allowed, SCALES);
    // Scale=small is the caps the stack had before Scale existed (issue 28), plus the retries
    // lane's 5 on webhook-delivery.
    let small: Vec<u64> = FUNCTIONS
        .iter()
        .map(|(_, id)| reserved(&t, id, "small"))
        .collect();
    assert_eq!(small, [50, 10, 25, 15, 1], "Scale=small: today's caps");
    // webhook-delivery reserves exactly what its two event sources may use: never throttled
    // by its own queues, never holding executions they cannot use.
    let sources = delivery_event_sources(&t);
    for scale in SCALES {
        let esm_sum: u64 = sources
            .values()
            .map(|esm| scaled(&t, at(esm, &["ScalingConfig", "MaximumConcurrency"]), scale))
            .sum();
        assert_eq!(
            reserved(&t, "WebhookDeliveryFunction", scale),
            esm_sum,
            "{scale}: webhook-delivery reserves what its event sources may use"
        );
    }
    // The bound: webhook-delivery at 1,000/s with 2 % hanging endpoints within 400.
    assert!(reserved(&t, "WebhookDeliveryFunction", "large") <= 400);
    for queue in ["EventsQueue", "RetriesQueue"] {
        assert!(
            alarm_on("ApproximateAgeOfOldestMessage", "QueueName", &|v| {
                getatt_target(v).map(|(id, _)| id) == Some(queue.into())
            }),
            "an age alarm on {queue}"
        );
    }
    assert!(alarm_on(
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        &|v| getatt_target(v).map(|(id, _)| id) == Some("EventsDeadLetterQueue".into())
    ));

    let globals = at(&t, &["Globals", "Function"]);
    assert_eq!(at(globals, &["Tracing"]).as_str(), Some("Active"));
    assert_eq!(
        at(globals, &["LoggingConfig", "SystemLogLevel"]).as_str(),
        Some("INFO"),
        "WARN would drop the platform's REPORT lines"
    );

    for id in [
        "Table",
        "UserPool",
        "ProviderSecret",
        "EventsQueue",
        "RetriesQueue",
        "EventsDeadLetterQueue",
    ] {
        for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
            assert_eq!(
                at(resource(&t, id), &[policy]).as_str(),
                Some("Retain"),
                "{id} {policy}"
            );
        }
    }

    let exposed: BTreeSet<String> = as_list(at(
        &t,
        &[
            "Resources",
            "Api",
            "Properties",
            "CorsConfiguration",
            "ExposeHeaders",
        ],
    ))
    .into_iter()
    .map(|v| string(v, "ExposeHeaders").to_lowercase())
    .collect();
    assert!(exposed.contains(http::header::RETRY_AFTER.as_str()));
    // Every rate-limit header the API sends is readable by a browser.
    let status = domain::rate_limit::RateStatus {
        limit: 1,
        remaining: 0,
        reset_secs: 1,
    };
    for (name, _) in status.headers() {
        assert!(exposed.contains(name), "{name} is not in ExposeHeaders");
    }
    let pool = at(&t, &["Resources", "UserPool", "Properties"]);
    assert!(matches!(
        at(pool, &["MfaConfiguration"]).as_str(),
        Some("OPTIONAL" | "ON")
    ));
    assert!(as_list(at(pool, &["EnabledMfas"]))
        .into_iter()
        .any(|m| m.as_str() == Some("SOFTWARE_TOKEN_MFA")));
}

/// A parameter's default, as a number.
fn param_default(t: &Value, name: &str) -> u64 {
    number(at(t, &["Parameters", name, "Default"]), name)
}

/// How long call-completed handles one provider callback, for sizing (template.yaml's
/// `RouteThrottles` comment): the callback route's rate times this fits in its reservation.
const CALLBACK_SECONDS: f64 = 0.15;

/// The provider callback (unauthenticated at the gateway) has its own throttle on exactly the
/// code's callback route; every throttle comes from the `RouteThrottles` mapping by `Scale`
/// (the parameters they were are gone), `Scale=small` keeps the values the routes had before
/// (issue 26: the callback's below the other routes'), and in every profile the callback's
/// rate is one call-completed's reservation can serve, so a flood of unsigned callbacks is
/// cut at the gateway; and the rate-limit settings the functions get are the code's defaults.
#[test]
fn the_provider_callback_route_has_its_own_lower_throttle() {
    let t = template();
    let api = at(&t, &["Resources", "Api", "Properties"]);
    let throttle = |settings: &Value, burst: &str, rate: &str, scale: &str| {
        for (key, row) in [
            ("ThrottlingBurstLimit", burst),
            ("ThrottlingRateLimit", rate),
        ] {
            assert_eq!(
                scaled_row(at(settings, &[key])),
                ("RouteThrottles".to_string(), row.to_string()),
                "{key} from RouteThrottles.{row}"
            );
        }
        (
            scaled(&t, at(settings, &["ThrottlingBurstLimit"]), scale),
            scaled(&t, at(settings, &["ThrottlingRateLimit"]), scale),
        )
    };
    for gone in [
        "RouteThrottleBurst",
        "RouteThrottleRate",
        "CallbackThrottleBurst",
        "CallbackThrottleRate",
    ] {
        assert!(
            opt(&t, &["Parameters", gone]).is_none(),
            "{gone} is the RouteThrottles mapping now"
        );
    }
    let routes = mapping(api, &["RouteSettings"]);
    let keys: BTreeSet<String> = routes.keys().map(|k| string(k, "route key")).collect();
    assert_eq!(keys, call_completed_code_routes(), "throttled routes");
    for scale in SCALES {
        let (default_burst, default_rate) = throttle(
            at(api, &["DefaultRouteSettings"]),
            "RoutesBurst",
            "Routes",
            scale,
        );
        assert!(default_burst >= default_rate, "{scale}: burst below rate");
        for (key, settings) in routes {
            let (burst, rate) = throttle(settings, "CallbackBurst", "Callback", scale);
            assert!(burst >= rate, "{scale} {key:?}: burst below rate");
            let served = reserved(&t, "CallCompletedFunction", scale) as f64 / CALLBACK_SECONDS;
            assert!(
                rate as f64 <= served,
                "{scale} {key:?}: {rate} callbacks/s need more than call-completed's reservation \
                 ({served} callbacks/s at {CALLBACK_SECONDS} s each)"
            );
            if scale == "small" {
                assert_eq!((default_burst, default_rate), (200, 100), "today's values");
                assert_eq!((burst, rate), (50, 25), "today's values");
                assert!(
                    rate < default_rate && burst < default_burst,
                    "{key:?}: {rate}/{burst} must be below the default {default_rate}/{default_burst}"
                );
            }
        }
    }
    let param = at(&t, &["Parameters", "ApiRateLimitPerMinute", "Default"]);
    assert_eq!(
        number(param, "ApiRateLimitPerMinute"),
        u64::from(domain::rate_limit::DEFAULT_API_PER_MINUTE)
    );
    let settings_env = function_env(&t, function(&t, "settings"));
    assert_eq!(
        string(
            settings_env[config::SETTINGS_RATE_LIMIT_PER_MINUTE],
            "settings limit"
        ),
        domain::rate_limit::DEFAULT_SETTINGS_PER_MINUTE.to_string()
    );
    assert_eq!(
        string(
            settings_env[config::COSTLY_RATE_LIMIT_PER_MINUTE],
            "costly limit"
        ),
        domain::rate_limit::DEFAULT_COSTLY_PER_MINUTE.to_string()
    );
}

/// The edge's resources, and the conditions that create them.
const EDGE_RESOURCES: [(&str, &str); 3] = [
    ("EdgeWebAcl", "EdgeOn"),
    ("EdgeDistribution", "EdgeOn"),
    ("ProviderSourceIpSet", "EdgeAllowList"),
];
const EDGE_CONDITIONS: [&str; 2] = ["EdgeOn", "EdgeAllowList"];

/// Every `!Ref`, `!GetAtt` or `${...}` of an edge resource in `v` that is not guarded by an
/// edge condition (`!If [EdgeOn, <here>, ...]`), as a path.
fn unguarded_edge_refs(v: &Value, path: &str, out: &mut Vec<String>) {
    let edge = |name: &str| EDGE_RESOURCES.iter().any(|(id, _)| *id == name);
    if let Some((f, arg)) = intrinsic(v) {
        match f.as_str() {
            "If" => {
                let args = arg.as_sequence().expect("!If arguments");
                let guarded = args[0]
                    .as_str()
                    .is_some_and(|c| EDGE_CONDITIONS.contains(&c));
                if !guarded {
                    unguarded_edge_refs(&args[1], &format!("{path}/then"), out);
                }
                unguarded_edge_refs(&args[2], &format!("{path}/else"), out);
                return;
            }
            "Ref" if arg.as_str().is_some_and(edge) => out.push(path.to_string()),
            "GetAtt" if getatt_target(v).is_some_and(|(id, _)| edge(&id)) => {
                out.push(path.to_string())
            }
            "Sub" => {
                let text = match arg {
                    Value::Sequence(seq) => seq[0].as_str().unwrap_or_default().to_string(),
                    other => other.as_str().unwrap_or_default().to_string(),
                };
                if EDGE_RESOURCES
                    .iter()
                    .any(|(id, _)| text.contains(&format!("${{{id}")))
                {
                    out.push(path.to_string());
                }
            }
            _ => {}
        }
    }
    match v {
        Value::Mapping(m) => {
            for (k, v) in m {
                let k = k.as_str().unwrap_or("?");
                unguarded_edge_refs(v, &format!("{path}/{k}"), out);
            }
        }
        Value::Sequence(seq) => {
            for (i, v) in seq.iter().enumerate() {
                unguarded_edge_refs(v, &format!("{path}/{i}"), out);
            }
        }
        Value::Tagged(tagged) => unguarded_edge_refs(&tagged.value, path, out),
        _ => {}
    }
}

/// Issue 26: the optional edge (EdgeProtection, default off). Its resources exist only under
/// its conditions, and nothing outside them names them unless guarded by one, so the default
/// deploy is the stack without an edge; a template rule refuses it outside us-east-1 (a
/// CLOUDFRONT-scope web ACL exists only there); the distribution sends everything to the API
/// uncached, with every header, through the web ACL.
#[test]
fn the_optional_edge_exists_only_when_enabled() {
    let t = template();
    let p = at(&t, &["Parameters", "EdgeProtection"]);
    assert_eq!(at(p, &["Default"]).as_str(), Some("Disabled"));
    let allowed: BTreeSet<String> = as_list(at(p, &["AllowedValues"]))
        .into_iter()
        .map(|v| string(v, "AllowedValues"))
        .collect();
    assert_eq!(allowed, set(&["Enabled", "Disabled"]));
    let edge_on = serde_yaml_ng::to_string(at(&t, &["Conditions", "EdgeOn"])).expect("yaml");
    assert!(
        edge_on.contains("EdgeProtection") && edge_on.contains("Enabled"),
        "{edge_on}"
    );
    let allow_list =
        serde_yaml_ng::to_string(at(&t, &["Conditions", "EdgeAllowList"])).expect("yaml");
    assert!(
        allow_list.contains("EdgeOn") && allow_list.contains("ProviderSourceCidrs"),
        "{allow_list}"
    );
    assert_eq!(
        at(&t, &["Parameters", "ProviderSourceCidrs", "Default"]).as_str(),
        Some(""),
        "no allow-list unless given"
    );

    for (id, condition) in EDGE_RESOURCES {
        assert_eq!(
            at(resource(&t, id), &["Condition"]).as_str(),
            Some(condition),
            "{id} exists only under {condition}"
        );
    }
    // Every web ACL, IP set and distribution is the edge's or the page's.
    for ty in [
        "AWS::WAFv2::WebACL",
        "AWS::WAFv2::IPSet",
        "AWS::WAFv2::WebACLAssociation",
        "AWS::CloudFront::Distribution",
    ] {
        for (id, r) in resources_of_type(&t, ty) {
            let condition = at(r, &["Condition"]).as_str().unwrap_or("<none>");
            assert!(
                EDGE_CONDITIONS.contains(&condition) || condition == "HostPage",
                "{id} ({ty}) is created with condition {condition}"
            );
        }
    }
    // Nothing else names the edge's resources, unless guarded by its condition.
    let mut unguarded = Vec::new();
    for section in ["Resources", "Outputs"] {
        for (id, v) in mapping(&t, &[section]) {
            let id = id.as_str().expect("logical id");
            let condition = v.get("Condition").and_then(Value::as_str);
            if condition.is_some_and(|c| EDGE_CONDITIONS.contains(&c)) {
                continue;
            }
            unguarded_edge_refs(v, &format!("{section}/{id}"), &mut unguarded);
        }
    }
    assert!(
        unguarded.is_empty(),
        "edge resources named outside the edge's conditions: {unguarded:?}"
    );

    let rule = at(&t, &["Rules", "EdgeNeedsUsEast1"]);
    let rule = serde_yaml_ng::to_string(rule).expect("yaml");
    for needle in ["EdgeProtection", "AWS::Region", "us-east-1"] {
        assert!(rule.contains(needle), "{needle:?} in {rule}");
    }
    assert_eq!(
        at(resource(&t, "EdgeWebAcl"), &["Properties", "Scope"]).as_str(),
        Some("CLOUDFRONT")
    );

    let config = at(
        resource(&t, "EdgeDistribution"),
        &["Properties", "DistributionConfig"],
    );
    assert_eq!(
        getatt_target(at(config, &["WebACLId"])),
        Some(("EdgeWebAcl".into(), "Arn".into())),
        "through the web ACL"
    );
    let origins = as_list(at(config, &["Origins"]));
    assert_eq!(origins.len(), 1, "the API only");
    let domain = sub_string(at(origins[0], &["DomainName"])).expect("a !Sub");
    assert!(domain.starts_with("${Api}.execute-api."), "{domain}");
    assert_eq!(
        at(origins[0], &["CustomOriginConfig", "OriginProtocolPolicy"]).as_str(),
        Some("https-only")
    );
    let behavior = at(config, &["DefaultCacheBehavior"]);
    assert_eq!(
        at(behavior, &["ViewerProtocolPolicy"]).as_str(),
        Some("https-only")
    );
    // Managed policies: CachingDisabled, AllViewerExceptHostHeader.
    assert_eq!(
        at(behavior, &["CachePolicyId"]).as_str(),
        Some("4135ea2d-6df8-44a3-9df3-4b5a84be39ad")
    );
    assert_eq!(
        at(behavior, &["OriginRequestPolicyId"]).as_str(),
        Some("b689b0a8-53d0-40ab-baf2-68738e2966ac")
    );
    let methods: BTreeSet<String> = as_list(at(behavior, &["AllowedMethods"]))
        .into_iter()
        .map(|v| string(v, "AllowedMethods"))
        .collect();
    let mut code_routes: BTreeSet<String> = trigger_call::ROUTES.iter().map(|r| r.key()).collect();
    code_routes.extend(settings_code_routes());
    code_routes.extend(call_completed_code_routes());
    for route in &code_routes {
        let method = route.split(' ').next().expect("method");
        assert!(methods.contains(method), "the edge passes {method}");
    }
    // The allow-list is an IPv4 IP set: the edge takes IPv4 only, so every caller's address
    // is one the rules can match.
    assert_eq!(at(config, &["IPV6Enabled"]).as_bool(), Some(false));
    let ip_set = at(resource(&t, "ProviderSourceIpSet"), &["Properties"]);
    assert_eq!(at(ip_set, &["IPAddressVersion"]).as_str(), Some("IPV4"));
    assert_eq!(at(ip_set, &["Scope"]).as_str(), Some("CLOUDFRONT"));
    assert_eq!(
        ref_target(at(ip_set, &["Addresses"])).as_deref(),
        Some("ProviderSourceCidrs")
    );

    // Callers' URLs: the edge's domain when it is on.
    for (output, suffix) in [
        ("ApiUrl", String::new()),
        (
            "ProviderCallbackUrl",
            call_completed::PROVIDER_CALLBACK.to_string(),
        ),
    ] {
        let (edge, direct) = edge_or_direct(at(&t, &["Outputs", output, "Value"]));
        assert_eq!(
            edge,
            format!("https://${{EdgeDistribution.DomainName}}{suffix}"),
            "{output}"
        );
        assert!(
            direct.starts_with("https://${Api}.execute-api.") && direct.ends_with(&suffix),
            "{output}: {direct}"
        );
    }
}

/// A web ACL rule's statement with its scope-down path: `(positional constraint, path)` of the
/// `ByteMatchStatement` on the URI path in `statement` (itself, or inside an `AndStatement`).
fn path_match(statement: &Value) -> Option<(String, String)> {
    if let Some(m) = statement.get("ByteMatchStatement") {
        m.get("FieldToMatch")?.get("UriPath")?;
        return Some((
            string(at(m, &["PositionalConstraint"]), "constraint"),
            string(at(m, &["SearchString"]), "search string"),
        ));
    }
    as_list(statement.get("AndStatement")?.get("Statements")?)
        .into_iter()
        .find_map(path_match)
}

/// Issue 26: the web ACL's rules cover the routes whose throttles all callers share: a per-IP
/// rate rule for every `/api/` route and one for the provider callback (per minute, blocking
/// with a 429), and the provider's allow-list, only when it is given, refusing the callback
/// route to every other address. The defaults leave one API key's and the provider's own
/// traffic through.
#[test]
fn the_edge_rules_cover_the_api_and_the_provider_callback() {
    let t = template();
    let acl = at(resource(&t, "EdgeWebAcl"), &["Properties"]);
    assert!(at(acl, &["DefaultAction"]).get("Allow").is_some());
    let mut rules: Vec<(&Value, Option<&str>)> = Vec::new();
    for rule in as_list(at(acl, &["Rules"])) {
        match intrinsic(rule) {
            Some((f, args)) if f == "If" => {
                let args = args.as_sequence().expect("!If arguments");
                assert_eq!(ref_target(&args[2]).as_deref(), Some("AWS::NoValue"));
                rules.push((&args[1], args[0].as_str()));
            }
            _ => rules.push((rule, None)),
        }
    }

    // Per-IP rate rules: path prefix -> limit parameter.
    let mut rated: BTreeMap<String, String> = BTreeMap::new();
    for (rule, condition) in &rules {
        let Some(rate) = at(rule, &["Statement"]).get("RateBasedStatement") else {
            continue;
        };
        let name = string(at(rule, &["Name"]), "rule name");
        assert_eq!(*condition, None, "{name} is always there");
        assert_eq!(
            at(rate, &["AggregateKeyType"]).as_str(),
            Some("IP"),
            "{name}"
        );
        assert_eq!(
            number(at(rate, &["EvaluationWindowSec"]), "window"),
            60,
            "{name}: the limits are per minute"
        );
        let block = at(rule, &["Action", "Block", "CustomResponse"]);
        assert_eq!(number(at(block, &["ResponseCode"]), "code"), 429, "{name}");
        let body_key = string(at(block, &["CustomResponseBodyKey"]), "body key");
        let body = string(
            at(acl, &["CustomResponseBodies", &body_key, "Content"]),
            "body",
        );
        let body: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
        assert_eq!(
            body["error"]["code"],
            domain::ApiError::RateLimited(domain::rate_limit::RateStatus {
                limit: 1,
                remaining: 0,
                reset_secs: 60,
            })
            .code(),
            "{name}: the API's own 429 code"
        );
        let (constraint, path) =
            path_match(at(rate, &["ScopeDownStatement"])).expect("a path scope-down");
        assert_eq!(constraint, "STARTS_WITH", "{name}");
        let limit = ref_target(at(rate, &["Limit"])).expect("the limit is a parameter");
        rated.insert(path, limit);
    }
    let expected: BTreeMap<String, String> = [
        ("/api/".to_string(), "EdgeApiPerIpPerMinute".to_string()),
        (
            call_completed::PROVIDER_CALLBACK.to_string(),
            "EdgeCallbackPerIpPerMinute".to_string(),
        ),
    ]
    .into();
    assert_eq!(rated, expected, "per-IP rate rules");
    // Every route of the API is under one of them.
    let mut code_routes: BTreeSet<String> = trigger_call::ROUTES.iter().map(|r| r.key()).collect();
    code_routes.extend(settings_code_routes());
    code_routes.extend(call_completed_code_routes());
    for route in &code_routes {
        let path = route.split_once(' ').expect("METHOD /path").1;
        assert!(
            rated.keys().any(|prefix| path.starts_with(prefix.as_str())),
            "{route} has no per-IP rule"
        );
    }
    // The defaults: one API key's own limit, and the callback route's sustained throttle from
    // one address (the provider's), pass the edge.
    assert!(
        param_default(&t, "EdgeApiPerIpPerMinute")
            >= u64::from(domain::rate_limit::DEFAULT_API_PER_MINUTE)
    );
    assert_eq!(
        param_default(&t, "EdgeCallbackPerIpPerMinute"),
        number(
            at(&t, &["Mappings", "RouteThrottles", "Callback", "small"]),
            "RouteThrottles.Callback.small"
        ) * 60,
        "the default is Scale=small's callback rate (docs/deploy.md: raise it with large)"
    );

    // The allow-list: only with ProviderSourceCidrs, blocking the callback route to every
    // address outside the provider's IP set.
    let allow: Vec<_> = rules
        .iter()
        .filter(|(rule, _)| at(rule, &["Statement"]).get("AndStatement").is_some())
        .collect();
    assert_eq!(allow.len(), 1, "one allow-list rule");
    let (rule, condition) = allow[0];
    assert_eq!(
        *condition,
        Some("EdgeAllowList"),
        "only when addresses are given"
    );
    assert!(at(rule, &["Action"]).get("Block").is_some());
    let statement = at(rule, &["Statement"]);
    assert_eq!(
        path_match(statement),
        Some((
            "STARTS_WITH".to_string(),
            call_completed::PROVIDER_CALLBACK.to_string()
        ))
    );
    let not_in_set = as_list(at(statement, &["AndStatement", "Statements"]))
        .into_iter()
        .find_map(|s| s.get("NotStatement"))
        .expect("a NotStatement");
    assert_eq!(
        getatt_target(at(
            not_in_set,
            &["Statement", "IPSetReferenceStatement", "Arn"]
        )),
        Some(("ProviderSourceIpSet".into(), "Arn".into()))
    );
    // The allow-list is evaluated first: a blocked address is not counted by the rate rule.
    let priority = |r: &Value| number(at(r, &["Priority"]), "priority");
    assert!(rules
        .iter()
        .filter(|(r, _)| !std::ptr::eq(*r, *rule))
        .all(|(r, _)| priority(r) > priority(rule)));
}

/// The optional integration page (IntegrationPage, default off): a private bucket that only
/// its CloudFront distribution reads (origin access control), and the stack's user pool
/// client signing in with the authorization code flow back to that distribution.
#[test]
fn the_optional_page_is_private_behind_cloudfront() {
    let t = template();
    assert_eq!(
        at(&t, &["Parameters", "IntegrationPage", "Default"]).as_str(),
        Some("Disabled")
    );
    let ids = [
        "PageBucket",
        "PageBucketPolicy",
        "PageOriginAccessControl",
        "PageHeaders",
        "PageDistribution",
        "UserPoolDomain",
    ];
    for id in ids {
        assert_eq!(
            at(resource(&t, id), &["Condition"]).as_str(),
            Some("HostPage"),
            "{id} exists only with IntegrationPage=Enabled"
        );
    }
    let block = at(
        resource(&t, "PageBucket"),
        &["Properties", "PublicAccessBlockConfiguration"],
    );
    for k in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(at(block, &[k]).as_bool(), Some(true), "{k}");
    }
    let statements = as_list(at(
        resource(&t, "PageBucketPolicy"),
        &["Properties", "PolicyDocument", "Statement"],
    ));
    let read = statements
        .iter()
        .find(|s| at(s, &["Effect"]).as_str() == Some("Allow"))
        .expect("an Allow statement");
    assert_eq!(
        at(read, &["Principal", "Service"]).as_str(),
        Some("cloudfront.amazonaws.com")
    );
    assert_eq!(at(read, &["Action"]).as_str(), Some("s3:GetObject"));
    let source = sub_string(at(read, &["Condition", "StringEquals", "AWS:SourceArn"]))
        .expect("SourceArn is a !Sub");
    assert!(
        source.ends_with(":distribution/${PageDistribution}"),
        "{source}"
    );

    let config = at(
        resource(&t, "PageDistribution"),
        &["Properties", "DistributionConfig"],
    );
    let origin = as_list(at(config, &["Origins"]))[0];
    assert_eq!(
        getatt_target(at(origin, &["OriginAccessControlId"])),
        Some(("PageOriginAccessControl".into(), "Id".into()))
    );
    assert_eq!(
        at(config, &["DefaultCacheBehavior", "ViewerProtocolPolicy"]).as_str(),
        Some("redirect-to-https")
    );
    assert_eq!(
        at(config, &["DefaultRootObject"]).as_str(),
        Some("index.html")
    );

    let client = serde_yaml_ng::to_string(at(resource(&t, "UserPoolClient"), &["Properties"]))
        .expect("yaml");
    for needle in [
        "AllowedOAuthFlows: !If\n- HostPage\n- - code",
        "https://${PageDistribution.DomainName}/",
    ] {
        assert!(client.contains(needle), "{needle:?} in {client}");
    }
    assert_eq!(
        at(
            resource(&t, "UserPoolClient"),
            &["Properties", "GenerateSecret"]
        )
        .as_bool(),
        Some(false),
        "a browser client has no secret (PKCE)"
    );
    // The page's own config.json says it signs in; the published one is written from outputs.
    for output in [
        "PageUrl",
        "PageBucketName",
        "PageDistributionId",
        "PageAuthDomain",
    ] {
        assert_eq!(
            at(&t, &["Outputs", output, "Condition"]).as_str(),
            Some("HostPage"),
            "{output}"
        );
    }
}

/// The metric names the functions emit (`lambda_glue::metrics` lines): every quoted name passed
/// to `.count(`, `.millis(` in a function's source, with the `Function` it is emitted under.
fn emf_metrics() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (binary, _) in FUNCTIONS {
        let source = function_source(binary);
        for call in [".count(", ".millis("] {
            for (i, _) in source.match_indices(call) {
                let rest = source[i + call.len()..].trim_start();
                if let Some(name) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) {
                    out.insert((binary.to_string(), name.to_string()));
                }
            }
        }
    }
    out
}

/// Issue 31: the service-level alarms watch metrics the code emits, in the stage's namespace,
/// go to the alarm topic and name a runbook section `docs/deploy.md` has; the dashboard and
/// the saved queries read names the code emits.
#[test]
fn service_level_alarms_dashboard_and_queries_read_what_the_functions_emit() {
    let t = template();
    let emitted = emf_metrics();
    for m in [
        "DeliveryAttempts",
        "FirstPostDelay",
        "Dials",
        "ReconcilerOldestOverdue",
    ] {
        assert!(
            emitted.iter().any(|(_, name)| name == m),
            "no function emits {m}: {emitted:?}"
        );
    }
    assert_eq!(
        sub_string(at(
            &t,
            &[
                "Globals",
                "Function",
                "Environment",
                "Variables",
                lambda_glue::metrics::NAMESPACE_VAR
            ]
        ))
        .as_deref(),
        Some("BuildVoiceAI/${Stage}")
    );
    let deploy = std::fs::read_to_string(repo_root().join("docs/deploy.md")).expect("deploy.md");
    let headings: BTreeSet<String> = deploy
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| l.trim_start_matches('#').trim().to_string())
        .collect();
    // (alarm, metric, function) of each service-level alarm.
    let expected = [
        (
            "DeliveryOurSideFailureRateAlarm",
            "DeliveryAttempts",
            "webhook-delivery",
        ),
        ("FirstPostDelayAlarm", "FirstPostDelay", "webhook-delivery"),
        ("DialUnknownRateAlarm", "Dials", "trigger-call"),
        (
            "ReconcilerLagAlarm",
            "ReconcilerOldestOverdue",
            "reconciler",
        ),
    ];
    for (id, metric, binary) in expected {
        let a = resource(&t, id);
        assert_eq!(at(a, &["Type"]).as_str(), Some("AWS::CloudWatch::Alarm"));
        let p = at(a, &["Properties"]);
        for actions in ["AlarmActions", "OKActions"] {
            assert_eq!(
                ref_target(at(p, &[actions]).get(0).expect("action")).as_deref(),
                Some("AlarmTopic"),
                "{id} {actions}"
            );
        }
        // A plain metric, or the metric stats of a metric-math alarm.
        let stats: Vec<&Value> = match opt(p, &["Metrics"]) {
            Some(list) => as_list(list)
                .into_iter()
                .filter_map(|m| opt(m, &["MetricStat", "Metric"]))
                .collect(),
            None => vec![p],
        };
        assert!(!stats.is_empty(), "{id}");
        for s in stats {
            assert_eq!(string(at(s, &["MetricName"]), "MetricName"), metric, "{id}");
            assert_eq!(
                sub_string(at(s, &["Namespace"])).as_deref(),
                Some("BuildVoiceAI/${Stage}"),
                "{id}"
            );
            assert!(
                emitted.contains(&(binary.to_string(), metric.to_string())),
                "{binary} emits {metric}"
            );
            let dims = as_list(at(s, &["Dimensions"]));
            assert!(
                dims.iter()
                    .any(|d| at(d, &["Name"]).as_str() == Some("Function")
                        && at(d, &["Value"]).as_str() == Some(binary)),
                "{id}: Function={binary}"
            );
            // Low cardinality: no dimension of ours is an account.
            assert!(dims.iter().all(|d| !string(at(d, &["Name"]), "Name")
                .to_lowercase()
                .contains("account")));
        }
        let description = string(at(p, &["AlarmDescription"]), "AlarmDescription");
        let section = description
            .split("docs/deploy.md, \"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("{id}: the description names its runbook: {description}"));
        assert!(
            headings.contains(section),
            "{id}: docs/deploy.md has no section {section:?}"
        );
    }
    let dashboards = resources_of_type(&t, "AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1);
    let body = serde_yaml_ng::to_string(at(dashboards[0].1, &["Properties", "DashboardBody"]))
        .expect("yaml");
    for (_, name) in &emitted {
        if [
            "DeliveryAttempts",
            "FirstPostDelay",
            "Dials",
            "ReconcilerOldestOverdue",
            "DeliveryLatency",
        ]
        .contains(&name.as_str())
        {
            assert!(
                body.contains(&format!("\"{name}\"")),
                "the dashboard shows {name}"
            );
        }
    }
    for q in [
        "OneAccountDeliveriesQuery",
        "SlowestEndpointsQuery",
        "DialOutcomesQuery",
    ] {
        let p = at(resource(&t, q), &["Properties"]);
        let text = string(at(p, &["QueryString"]), "QueryString");
        let groups = as_list(at(p, &["LogGroupNames"]));
        assert_eq!(groups.len(), 1, "{q}");
        let group = ref_target(groups[0]).unwrap_or_else(|| panic!("{q}: a log group of ours"));
        let binary = match group.as_str() {
            "WebhookDeliveryLogs" => "webhook-delivery",
            "TriggerCallLogs" => "trigger-call",
            other => panic!("{q} reads {other}"),
        };
        // Every metric-like field it names is one the function emits.
        let used: Vec<&(String, String)> = emitted
            .iter()
            .filter(|(b, name)| b == binary && text.contains(name.as_str()))
            .collect();
        assert!(
            !used.is_empty(),
            "{q} reads none of {binary}'s metrics: {text}"
        );
    }
}
