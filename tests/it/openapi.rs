//! `docs/openapi.yaml` in step with the code: its routes are exactly the functions' `ROUTES`
//! tables (with the right security scheme for each API), the error codes it documents are
//! exactly the codes the HTTP functions can return (`domain::ErrorCode::ALL`: a code is a value
//! of that enum, never a literal at a call site), and every status an error code can have is
//! documented. Whether the
//! answers really match the document is schemathesis's job (scripts/schemathesis.sh).

use lambda_glue::body::RequestBody;
use serde_yaml_ng::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub(crate) fn document() -> Value {
    let path = root().join("docs/openapi.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).expect("docs/openapi.yaml is YAML")
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// `"POST /api/trigger-call"` -> the operation, for every operation under `paths`.
fn operations(doc: &Value) -> BTreeMap<String, Value> {
    let paths = doc["paths"].as_mapping().expect("paths");
    let mut ops = BTreeMap::new();
    for (path, item) in paths {
        let path = path.as_str().expect("path is a string");
        for m in METHODS {
            if let Some(op) = item.get(m) {
                ops.insert(format!("{} {path}", m.to_uppercase()), op.clone());
            }
        }
    }
    ops
}

/// trigger-call's routes that take the API key (all but its `DASHBOARD_ROUTES`).
fn public_routes() -> BTreeSet<String> {
    trigger_call::ROUTES
        .iter()
        .filter(|r| !trigger_call::DASHBOARD_ROUTES.contains(&r.pattern))
        .map(|r| r.key())
        .collect()
}
/// The routes that take the dashboard session: the settings API's, and the integration page's
/// routes trigger-call serves (`trigger_call::DASHBOARD_ROUTES`).
fn settings_routes() -> BTreeSet<String> {
    let mut routes: BTreeSet<String> = settings::router::ROUTES.iter().map(|r| r.key()).collect();
    routes.extend(
        trigger_call::ROUTES
            .iter()
            .filter(|r| trigger_call::DASHBOARD_ROUTES.contains(&r.pattern))
            .map(|r| r.key()),
    );
    routes
}
fn callback_routes() -> BTreeSet<String> {
    call_completed::ROUTES.iter().map(|r| r.key()).collect()
}

/// `make check` runs `gen-openapi --check`; this holds `make test` to it too, with the first
/// differing line in the message.
#[test]
fn the_committed_document_is_the_generated_one() {
    let generated = openapi_gen::render().expect("the document generates");
    let committed = std::fs::read_to_string(root().join("docs/openapi.yaml")).expect("read");
    if let Some((i, (c, g))) = committed
        .lines()
        .zip(generated.lines())
        .enumerate()
        .find(|(_, (c, g))| c != g)
    {
        panic!(
            "docs/openapi.yaml line {}: committed {c:?}, generated {g:?}; run `make openapi`",
            i + 1
        );
    }
    assert_eq!(
        committed.lines().count(),
        generated.lines().count(),
        "docs/openapi.yaml is generated: run `make openapi`"
    );
}

/// Every answer schema is derived from a type (none is kept in the prose), and each
/// operation's 2xx answers refer to one.
#[test]
fn answers_are_the_derived_schemas() {
    let doc = document();
    let derived = openapi_gen::answer_schemas();
    assert!(derived.len() >= 30, "{:?}", derived.keys());
    let prose: Value = serde_yaml_ng::from_str(openapi_gen::PROSE).expect("prose.yaml");
    for name in derived.keys() {
        assert!(
            prose["components"]["schemas"].get(name.as_str()).is_none(),
            "{name} is derived, so not written in prose.yaml"
        );
        assert!(
            doc["components"]["schemas"].get(name.as_str()).is_some(),
            "{name} is in the document"
        );
    }
    let mut checked = 0;
    for (key, op) in operations(&doc) {
        for (status, r) in responses(&doc, &op) {
            if !status.starts_with('2') {
                continue;
            }
            let schema = &r["content"]["application/json"]["schema"]["$ref"];
            let name = schema
                .as_str()
                .and_then(|s| s.strip_prefix("#/components/schemas/"))
                .unwrap_or_else(|| panic!("{key} {status}: answers with a named schema"));
            assert!(
                derived.contains_key(name),
                "{key} {status}: {name} is derived from the answer's type"
            );
            checked += 1;
        }
    }
    assert_eq!(
        checked, 24,
        "the 2xx answers of the 23 operations (trigger-call has two)"
    );
}

/// One request body type held to its published schema through its own parser: the schema's
/// properties are `T::FIELDS` (the list the parser refuses other fields by), each of them is
/// accepted and any other is `unknown_field`, other properties are refused
/// (`additionalProperties: false`), the route's documented example parses, and the schema's
/// `required` are exactly the fields whose absence from that example is `missing_field`.
/// Returns the route's key and the fields.
/// The strings of a YAML list (a schema's `required`), as a set.
fn names(v: &Value) -> BTreeSet<String> {
    v.as_sequence()
        .into_iter()
        .flatten()
        .map(|n| n.as_str().expect("a field name").to_string())
        .collect()
}

fn request_body_is_its_parser<T: RequestBody>(
    doc: &Value,
    method: &str,
    pattern: &str,
    context: &T::Context,
) -> (String, &'static [&'static str]) {
    let key = format!("{method} {pattern}");
    let json = &doc["paths"][pattern][method.to_ascii_lowercase().as_str()]["requestBody"]
        ["content"]["application/json"];
    let schema = resolve_schema(doc, &json["schema"]);
    assert_eq!(
        schema["additionalProperties"],
        Value::Bool(false),
        "{key}: unknown fields are refused"
    );
    let properties: BTreeSet<String> = schema["properties"]
        .as_mapping()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.as_str().expect("a property name").to_string())
        .collect();
    let fields: BTreeSet<String> = T::FIELDS.iter().map(|f| f.to_string()).collect();
    assert_eq!(
        properties, fields,
        "{key}: the schema's properties are T::FIELDS"
    );

    let parse = |body: serde_json::Value| {
        T::parse(body.as_object().expect("an object"), context).map(|_| ())
    };
    let refused = |body: serde_json::Value| {
        parse(body)
            .err()
            .map(|e| (e.code().as_str(), e.field().map(str::to_string)))
    };
    for f in T::FIELDS {
        let got = refused(serde_json::json!({ *f: null }));
        assert_ne!(
            got.as_ref().map(|g| g.0),
            Some("unknown_field"),
            "{key}: {f} is accepted"
        );
    }
    assert_eq!(
        refused(serde_json::json!({"not_a_field": 1})),
        Some(("unknown_field", Some("not_a_field".to_string()))),
        "{key}: a field outside FIELDS"
    );

    let example: serde_json::Value = match json.get("example") {
        Some(e) => serde_json::to_value(e).expect("the example is JSON"),
        None => serde_json::json!({}),
    };
    assert_eq!(refused(example.clone()), None, "{key}: the example parses");
    let mut required = BTreeSet::new();
    for f in T::FIELDS {
        let mut without = example.clone();
        without.as_object_mut().expect("object").remove(*f);
        if refused(without) == Some(("missing_field", Some(f.to_string()))) {
            required.insert(f.to_string());
        }
    }
    assert_eq!(
        names(&schema["required"]),
        required,
        "{key}: required are the fields whose absence is missing_field"
    );
    (key, T::FIELDS)
}

/// Every route that reads a body, each with its type and the context its parser takes: the
/// list is typed, so a route mapped in the generator (`openapi_gen::request_bodies`) but not
/// here, or here with another type, fails.
#[test]
fn request_schemas_are_what_the_parsers_accept() {
    use lambda_glue::body::NoFields;
    let doc = document();
    // After the recover example's `since`, inside the delivery log's retention.
    let now = chrono::DateTime::parse_from_rfc3339("2025-06-16T00:00:00Z")
        .expect("a time")
        .to_utc();
    let settings = "/api/integrations/api-webhooks";
    let checked: BTreeMap<String, &[&str]> = [
        request_body_is_its_parser::<trigger_call::request::TriggerCall>(
            &doc,
            "POST",
            "/api/trigger-call",
            &(),
        ),
        request_body_is_its_parser::<settings::update::IntegrationUpdate>(
            &doc, "PATCH", settings, &false,
        ),
        request_body_is_its_parser::<NoFields>(&doc, "POST", &format!("{settings}/api-key"), &()),
        request_body_is_its_parser::<NoFields>(
            &doc,
            "POST",
            &format!("{settings}/signing-secret"),
            &(),
        ),
        request_body_is_its_parser::<NoFields>(
            &doc,
            "POST",
            &format!("{settings}/calls/cancel-scheduled"),
            &(),
        ),
        request_body_is_its_parser::<settings::resend_dropped::RecoverRequest>(
            &doc,
            "POST",
            &format!("{settings}/deliveries/recover"),
            &now,
        ),
        request_body_is_its_parser::<trigger_call::calling_rules::CheckRequest>(
            &doc,
            "POST",
            trigger_call::calling_rules::CHECK,
            &(),
        ),
    ]
    .into_iter()
    .collect();
    let mapped: BTreeMap<String, &[&str]> = openapi_gen::request_bodies()
        .iter()
        .map(|b| (format!("{} {}", b.method, b.pattern), b.fields))
        .collect();
    assert_eq!(
        checked, mapped,
        "every mapped request body is checked here, with the generator's type's fields"
    );
    // And the document's schema for each is the mapped type's.
    let doc_ops = operations(&doc);
    for b in openapi_gen::request_bodies() {
        let op = &doc_ops[&format!("{} {}", b.method, b.pattern)];
        let reference = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .expect("a named schema");
        assert_eq!(
            reference,
            format!("#/components/schemas/{}", b.name),
            "{} {}",
            b.method,
            b.pattern
        );
    }
    // Every request body of the two APIs is mapped (the provider's callback is its format).
    for (key, op) in doc_ops {
        if op.get("requestBody").is_some() && !callback_routes().contains(&key) {
            assert!(
                mapped.contains_key(&key),
                "{key}: its request body has a type"
            );
        }
    }
}

#[test]
fn routes_are_the_route_tables() {
    let documented: BTreeSet<String> = operations(&document()).into_keys().collect();
    let mut code = public_routes();
    code.extend(settings_routes());
    code.extend(callback_routes());
    assert_eq!(code.len(), 23, "the three route tables: {code:?}");
    assert_eq!(
        documented, code,
        "docs/openapi.yaml paths must be exactly the ROUTES of trigger-call, settings and call-completed"
    );
}

/// The names of the security schemes an operation requires (`[]` = none).
fn security(op: &Value) -> Vec<String> {
    op["security"]
        .as_sequence()
        .expect("every operation states its security")
        .iter()
        .flat_map(|req| req.as_mapping().into_iter().flatten())
        .map(|(k, _)| k.as_str().expect("scheme name").to_string())
        .collect()
}

#[test]
fn each_api_has_its_own_credentials() {
    let doc = document();
    let schemes = doc["components"]["securitySchemes"]
        .as_mapping()
        .expect("securitySchemes");
    assert_eq!(schemes.len(), 2);
    assert_eq!(
        doc["components"]["securitySchemes"]["ApiKey"]["scheme"],
        "bearer"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["DashboardJwt"]["bearerFormat"],
        "JWT"
    );
    let ops = operations(&doc);
    let mut checked = 0;
    for (key, op) in &ops {
        let want: &[&str] = if public_routes().contains(key) {
            &["ApiKey"]
        } else if settings_routes().contains(key) {
            &["DashboardJwt"]
        } else {
            assert!(callback_routes().contains(key), "{key}");
            &[]
        };
        assert_eq!(security(op), want, "security of {key}");
        checked += 1;
    }
    assert_eq!(checked, 23);
}

/// Every response of an operation, `$ref`s resolved (one level: components/responses).
fn responses(doc: &Value, op: &Value) -> BTreeMap<String, Value> {
    op["responses"]
        .as_mapping()
        .expect("responses")
        .iter()
        .map(|(status, r)| {
            let r = match r.get("$ref").and_then(Value::as_str) {
                Some(reference) => {
                    let name = reference
                        .strip_prefix("#/components/responses/")
                        .expect("responses refer to components/responses");
                    doc["components"]["responses"][name].clone()
                }
                None => r.clone(),
            };
            (status.as_str().expect("status").to_string(), r)
        })
        .collect()
}

fn resolve_schema<'a>(doc: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/schemas/")
                .expect("schemas refer to components/schemas");
            &doc["components"]["schemas"][name]
        }
        None => s,
    }
}

/// The error codes a response schema allows: the `enum`/`const` of `error.code` in it (through
/// `$ref`, `allOf` and `oneOf`).
fn codes_of_schema(doc: &Value, schema: &Value, out: &mut BTreeSet<String>) {
    let schema = resolve_schema(doc, schema);
    for key in ["allOf", "oneOf", "anyOf"] {
        for s in schema
            .get(key)
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            codes_of_schema(doc, s, out);
        }
    }
    let code = &schema["properties"]["error"]["properties"]["code"];
    if let Some(c) = code.get("const").and_then(Value::as_str) {
        out.insert(c.to_string());
    }
    for c in code
        .get("enum")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        out.insert(c.as_str().expect("codes are strings").to_string());
    }
}

/// status -> codes, over every operation of the document.
pub(crate) fn documented_codes(doc: &Value) -> BTreeMap<u16, BTreeSet<String>> {
    let mut by_status: BTreeMap<u16, BTreeSet<String>> = BTreeMap::new();
    for op in operations(doc).values() {
        for (status, r) in responses(doc, op) {
            let Some(schema) = r.get("content").map(|c| &c["application/json"]["schema"]) else {
                continue;
            };
            let mut codes = BTreeSet::new();
            codes_of_schema(doc, schema, &mut codes);
            by_status
                .entry(status.parse().expect("numeric status"))
                .or_default()
                .extend(codes);
        }
    }
    by_status
}

/// The code and status of every `ApiError` variant that carries no code of its own (the
/// others carry any `ErrorCode`, whose status their variant gives).
fn fixed_codes() -> BTreeMap<String, u16> {
    use domain::ApiError;
    // One value of each variant without a code of its own, so its status comes from the code.
    let variants = [
        ApiError::Unauthenticated,
        ApiError::MissingApiKey,
        ApiError::InvalidAuthScheme,
        ApiError::InvalidApiKey,
        ApiError::ApiAccessDisabled,
        ApiError::PlanRequired,
        ApiError::AccountSuspended,
        ApiError::MethodNotAllowed,
        ApiError::IdempotencyKeyReused,
        ApiError::IdempotencyKeyInProgress,
        ApiError::CallNotScheduled { status: "queued" },
        ApiError::RedeliveryInProgress {
            redelivery: String::new(),
        },
        ApiError::Conflict(String::new()),
        ApiError::PayloadTooLarge { size: 0, limit: 0 },
        ApiError::UnsupportedMediaType,
        ApiError::Throttled,
        ApiError::RateLimited(domain::rate_limit::RateStatus {
            limit: 1,
            remaining: 0,
            reset_secs: 1,
        }),
        ApiError::ProviderUnavailable,
        ApiError::ProviderOutcomeUnknown {
            call_id: domain::CallId::nil(),
        },
        ApiError::internal(std::io::Error::other("x")),
    ];
    variants
        .iter()
        .map(|e| (e.code().to_string(), e.status()))
        .collect()
}

/// Codes the code can return: every `domain::ErrorCode`.
fn code_codes() -> BTreeSet<String> {
    domain::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_string())
        .collect()
}

#[test]
fn error_codes_are_the_codes_the_code_returns() {
    let doc = document();
    let documented: BTreeSet<String> = documented_codes(&doc).into_values().flatten().collect();
    let code = code_codes();
    assert!(code.len() >= 40, "codes read from the code: {code:?}");
    let missing: Vec<_> = code.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "codes the code returns but docs/openapi.yaml does not document: {missing:?}"
    );
    let extra: Vec<_> = documented.difference(&code).collect();
    assert!(
        extra.is_empty(),
        "codes docs/openapi.yaml documents but no code returns: {extra:?}"
    );
}

#[test]
fn fixed_codes_are_documented_under_their_status() {
    let by_status = documented_codes(&document());
    let fixed = fixed_codes();
    assert!(fixed.len() >= 16, "{fixed:?}");
    for (code, status) in fixed.into_iter().filter(|(_, s)| *s != 0) {
        assert!(
            by_status.get(&status).is_some_and(|c| c.contains(&code)),
            "{code} is documented under {status}: {:?}",
            by_status.get(&status)
        );
    }
}

#[test]
fn fixed_codes_are_error_codes() {
    // The variants without a code of their own render a code of the enum, so the list the
    // document is held to (`ErrorCode::ALL`) has them all.
    let all = code_codes();
    let fixed = fixed_codes();
    assert_eq!(fixed.len(), 20, "{fixed:?}");
    for code in fixed.keys() {
        assert!(all.contains(code), "{code} is an ErrorCode");
    }
}

#[test]
fn public_answers_document_the_rate_limit_headers() {
    let doc = document();
    let ops = operations(&doc);
    let mut checked = 0;
    for key in public_routes() {
        let op = &ops[&key];
        for (status, r) in responses(&doc, op) {
            let headers = r.get("headers").and_then(Value::as_mapping);
            let has = |h: &str| headers.is_some_and(|m| m.contains_key(h));
            if status.starts_with('2') || status == "429" {
                for h in ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"] {
                    assert!(has(h), "{key} {status} documents {h}");
                    checked += 1;
                }
            }
            if status == "429" {
                assert!(has("Retry-After"), "{key} 429 documents Retry-After");
            }
        }
    }
    assert_eq!(
        checked, 27,
        "4 routes x (their 2xx: 200 + 202 on trigger-call, 200 on the others; 429) x 3 headers"
    );
}

#[test]
fn the_webhooks_are_documented_with_their_signature_headers() {
    use domain::event_rules::{self, FailureReason};
    use domain::event_type::EventType;
    let doc = document();
    let hooks: BTreeSet<&str> = doc["webhooks"]
        .as_mapping()
        .expect("webhooks")
        .keys()
        .map(|k| k.as_str().expect("name"))
        .collect();
    let types: BTreeSet<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(hooks, types, "one webhook per event type");
    // Samples of each payload, serialised by the code.
    let now = chrono::DateTime::from_timestamp(1_750_000_000, 0).expect("time");
    let call = domain::model::Call::new(
        uuid::Uuid::nil(),
        "acct",
        uuid::Uuid::nil(),
        domain::model::Direction::Outbound,
        domain::model::CallStatus::Dialing,
        "+15551234567",
        now,
    );
    let mut account = domain::model::Account::new("acct", "A", domain::model::Plan::Agency, now);
    account.events = EventType::ALL.to_vec();
    let started = event_rules::call_started(&call, "Ava", now, now).expect("started");
    let failed = event_rules::call_failed(Some(&account), &call, FailureReason::Busy, now)
        .expect("failed")
        .expect("subscribed");
    for t in EventType::ALL {
        let hook = &doc["webhooks"][t.as_str()]["post"];
        let names: BTreeSet<&str> = hook["parameters"]
            .as_sequence()
            .expect("webhook headers")
            .iter()
            .map(|p| p["name"].as_str().expect("name"))
            .collect();
        // The headers the delivery function sends (domain::webhook::headers).
        let keys = domain::webhook::signing_secret::SigningKeys::new(b"s".to_vec(), None);
        let sent = domain::webhook::headers::webhook_headers(
            t.as_str(),
            "k",
            &keys,
            domain::EventId::nil(),
            1,
            chrono::Utc::now(),
            b"{}",
        );
        let sent: BTreeSet<String> = sent.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
        let documented: BTreeSet<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        let content_type = BTreeSet::from(["content-type".to_string()]);
        assert_eq!(
            sent.difference(&content_type)
                .cloned()
                .collect::<BTreeSet<_>>(),
            documented,
            "{t:?}: the webhook's documented headers are the headers the delivery function sends"
        );
        let schema = resolve_schema(
            &doc,
            &hook["requestBody"]["content"]["application/json"]["schema"],
        );
        assert_eq!(
            schema["properties"]["event"]["const"].as_str(),
            Some(t.as_str())
        );
        let required: Vec<&str> = schema["required"]
            .as_sequence()
            .expect("required")
            .iter()
            .map(|v| v.as_str().expect("field"))
            .collect();
        // The payload's fields, in the order the code writes them.
        let sample: serde_json::Value = match t {
            EventType::CallCompleted => {
                serde_json::from_str(include_str!("../golden/call_completed_outbound.json"))
            }
            EventType::CallStarted => serde_json::from_str(&started.record.payload),
            EventType::CallFailed => serde_json::from_str(&failed.record.payload),
        }
        .expect("payload json");
        let fields: Vec<&str> = sample
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(required, fields, "{t:?}: the payload's documented fields");
    }
    let reasons: BTreeSet<&str> = doc["components"]["schemas"]["CallFailureReason"]["enum"]
        .as_sequence()
        .expect("reasons")
        .iter()
        .map(|v| v.as_str().expect("reason"))
        .collect();
    let code: BTreeSet<&str> = FailureReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        reasons, code,
        "the documented call.failed reasons are the code's"
    );
}

/// The provider's callback, the one body serde reads leniently: its documented schema is the
/// one derived from `ProviderCallback` (required `event` and `call`, and the call's `call_id`),
/// and its documented example deserializes into that type, with the ids we attached.
#[test]
fn the_provider_callback_schema_and_example_are_its_type() {
    let doc = document();
    let json = &doc["paths"][call_completed::PROVIDER_CALLBACK]["post"]["requestBody"]["content"]
        ["application/json"];
    let schema = resolve_schema(&doc, &json["schema"]);
    assert_eq!(
        names(&schema["required"]),
        BTreeSet::from(["event".to_string(), "call".to_string()])
    );
    let call = resolve_schema(&doc, &schema["properties"]["call"]);
    assert_eq!(
        names(&call["required"]),
        BTreeSet::from(["call_id".to_string()])
    );
    let example: domain::callback::ProviderCallback =
        serde_yaml_ng::from_value(json["example"].clone())
            .expect("the example is a ProviderCallback");
    assert_eq!(example.event, "call_ended");
    assert!(example.call.our_call_id().is_some() && example.call.our_account_id().is_some());
}
