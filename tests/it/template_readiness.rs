//! What production needs of `template.yaml` (docs/deploy.md): alarms, log groups, parameters
//! and outputs; reserved concurrency; the reconciler's schedule; throttles on the provider
//! callback; the optional edge and the optional page; the service-level alarms, dashboard and
//! queries reading metrics the code emits. The facts the template shares with the code are
//! `template_drift`'s; both read the template through `integration_tests::cfn`.

use crate::template_drift::{call_completed_code_routes, settings_code_routes};
use aws_adapters::dynamo::GSI2;
use domain::config;
use integration_tests::cfn::*;
use serde_yaml_ng::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// What webhook-delivery logs for a failed attempt, and for the last one (the event is
/// dropped): the delivery metric filters match these messages.
const FAILED_ATTEMPT_MESSAGES: [&str; 2] = [
    "delivery failed; retry scheduled",
    "delivery failed; last attempt, event dropped",
];
const DROPPED_MESSAGE: &str = "delivery failed; last attempt, event dropped";

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
            .code()
            .as_str(),
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
