//! No drift between `template.yaml` and the code: the template is what ops deploy, the code and
//! the local stack are what the tests exercise, so every fact both of them state is compared
//! here — routes, table keys and indexes (against what `DynamoStore::create_table` really
//! builds in the emulator), queue and event source settings against the retry design and the
//! queues the local stack creates, environment variable names against what each function's
//! source reads, and each function's IAM actions. The template is read through
//! `integration_tests::cfn`; what production needs of it is `template_readiness`.

use aws_adapters::dynamo::TTL_ATTRIBUTE;
use aws_adapters::dynamo::{GSI1, GSI2};
use aws_sdk_dynamodb::types::{KeyType, ProjectionType};
use aws_sdk_sqs::types::QueueAttributeName;
use domain::config;
use domain::webhook::retry_schedule::{RetrySchedule, DEFAULT_DELAYS};
use integration_tests::cfn::*;
use integration_tests::deps::{check_declared_vars, declared_vars};
use integration_tests::Emulator;
use outbound::webhook_client::DEFAULT_TIMEOUT as DEFAULT_WEBHOOK_TIMEOUT;
use serde_yaml_ng::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

// ------------------------------------------------------------------ what the code expects

/// The settings routes the code serves, as `"METHOD /path"`.
pub(crate) fn settings_code_routes() -> BTreeSet<String> {
    settings::router::ROUTES.iter().map(|r| r.key()).collect()
}

/// The call-completed routes the code serves.
pub(crate) fn call_completed_code_routes() -> BTreeSet<String> {
    call_completed::ROUTES.iter().map(|r| r.key()).collect()
}

/// The JWT authorizer of the settings routes.
const JWT_AUTHORIZER: &str = "DashboardJwt";

/// Environment variables each function gets: those its `Config::VARS` says the template sets
/// (`Var::deployed`: not the local-only switch, not what Lambda sets itself), plus LOG_LEVEL
/// (`lambda_glue::telemetry`) and METRICS_NAMESPACE (`lambda_glue::metrics`), which every
/// function reads.
fn expected_env(binary: &str) -> BTreeSet<&'static str> {
    declared_vars(binary)
        .iter()
        .filter(|v| v.deployed())
        .map(|v| v.name)
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
fn routes_match_the_code_and_only_dashboard_routes_use_the_jwt_authorizer() {
    let t = template();
    let settings_routes = settings_code_routes();
    // trigger-call's routes take the API key in code (no authorizer), except the integration
    // page's routes it serves (`DASHBOARD_ROUTES`), behind the dashboard's JWT like settings'.
    let trigger_call_routes: BTreeMap<String, &str> = trigger_call::ROUTES
        .iter()
        .map(|r| {
            let auth = if trigger_call::DASHBOARD_ROUTES.contains(&r.pattern) {
                JWT_AUTHORIZER
            } else {
                "NONE"
            };
            (r.key(), auth)
        })
        .collect();
    assert_eq!(
        trigger_call_routes
            .values()
            .filter(|a| **a == JWT_AUTHORIZER)
            .count(),
        trigger_call::DASHBOARD_ROUTES.len(),
        "every DASHBOARD_ROUTES pattern is a route of trigger-call"
    );
    let every = |routes: BTreeSet<String>, auth: &'static str| -> BTreeMap<String, &str> {
        routes.into_iter().map(|r| (r, auth)).collect()
    };
    let expected: [(&str, BTreeMap<String, &str>); 5] = [
        ("trigger-call", trigger_call_routes),
        ("settings", every(settings_routes.clone(), JWT_AUTHORIZER)),
        (
            "call-completed",
            every(call_completed_code_routes(), "NONE"),
        ),
        ("webhook-delivery", BTreeMap::new()),
        ("reconciler", BTreeMap::new()),
    ];
    for (binary, routes) in expected {
        let actual = function_routes(&t, function(&t, binary));
        assert_eq!(
            actual.keys().cloned().collect::<BTreeSet<_>>(),
            routes.keys().cloned().collect::<BTreeSet<_>>(),
            "routes of {binary}"
        );
        for (route, auth) in &actual {
            assert_eq!(auth, routes[route], "{route} ({binary}) authorizer");
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
        // The table is what the code reads (a missing required variable fails every cold
        // start): `Config::from_env` reads exactly the declared names, with their defaults.
        let declared = declared_vars(binary);
        assert!(
            declared.iter().any(|v| v.name == config::TABLE_NAME),
            "{binary} declares {declared:?}: is it the right table?"
        );
        check_declared_vars(binary).unwrap_or_else(|e| panic!("{binary}'s Config: {e}"));
        for v in declared.iter().filter(|v| !v.deployed()) {
            assert!(
                !names.contains(v.name),
                "{id} sets {}, {:?}",
                v.name,
                v.unset
            );
        }
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
    // The dashboard's routes of both functions (settings', trigger-call's calling-rules check)
    // read the same claim and count against one per-account limit: the same values.
    for name in [
        config::ACCOUNT_ID_CLAIM,
        config::SETTINGS_RATE_LIMIT_PER_MINUTE,
    ] {
        let value = |binary| {
            serde_yaml_ng::to_string(function_env(&t, function(&t, binary))[name]).expect("yaml")
        };
        assert_eq!(value("trigger-call"), value("settings"), "{name}");
    }
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
