//! Hostile input never panics (issue 13): property tests of every parser of client input, on
//! arbitrary strings and bytes and on the edges (any i64, huge numbers, odd Unicode). Each
//! property also checks an answer that could be wrong, not only the absence of a panic.

use base64::Engine;
use chrono::{DateTime, Utc};
use domain::auth::bearer_token;
use domain::config::{parse_duration, parse_durations};
use domain::model::DeliveryOutcome;
use domain::phone::PhoneNumber;
use domain::ports::store::deliveries::{delivery_sort_key, DeliveryCursor, DELIVERY_PREFIX};
use domain::signature::{
    sign_provider_callback, verify_provider_callback, ProviderSignatureError,
    PROVIDER_SIGNATURE_TOLERANCE_MS,
};
use domain::webhook_url;
use integration_tests::apigw::{parts, ApiRequest, Build};
use lambda_glue::http::error_response;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::time::Duration;
use trigger_call::idempotency::{IdempotencyKey, MAX_KEY_LEN};

const NOW_MS: i64 = 1_750_001_600_000;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(NOW_MS).expect("time")
}

/// Text shaped like a duration, right or wrong: digits (up to past `u64::MAX`), a unit known
/// or not, blanks around. `any::<String>()` alone would almost never be a duration.
const DURATION_TEXT: &str = "[ \t]{0,2}[0-9]{0,22}(ms|s|m|h|us|d|)[ \t]{0,2}";

/// What `parse_duration` must answer, worked out another way: in milliseconds as `u128`, so
/// nothing overflows here; `None` for text that is not digits and an optional unit, or whose
/// number or seconds do not fit a `u64`.
fn duration_of(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (digits, unit_ms) = [("ms", 1u128), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)]
        .iter()
        .find_map(|(unit, ms)| t.strip_suffix(unit).map(|d| (d, *ms)))
        .unwrap_or((t, 1_000));
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = u64::try_from(digits.parse::<u128>().ok()?).ok()?;
    let ms = u128::from(n) * unit_ms;
    let secs = u64::try_from(ms / 1_000).ok()?;
    let nanos = u32::try_from(ms % 1_000).ok()? * 1_000_000;
    Some(Duration::new(secs, nanos))
}

fn outcome() -> impl Strategy<Value = DeliveryOutcome> {
    prop_oneof![
        Just(DeliveryOutcome::Delivered),
        Just(DeliveryOutcome::Failed),
        Just(DeliveryOutcome::Dropped),
        Just(DeliveryOutcome::Skipped),
    ]
}

/// The JSON inside a delivery-log cursor, as the log writes it or wrong in one way or more:
/// another version, an unknown outcome, a sort key the log would not write (no prefix, a
/// fourth part, a three-digit attempt, short text), an extra field. With it, the cursor it is
/// when every part is right.
fn cursor_json() -> impl Strategy<Value = (Vec<u8>, Option<DeliveryCursor>)> {
    let version = prop_oneof![
        4 => Just(json!(1)),
        1 => Just(json!(0)),
        1 => Just(json!(2)),
        1 => Just(json!("1")),
    ];
    // No filter is written as null or left out; a name the log does not know is refused.
    let outcome = prop_oneof![
        1 => Just((None, Some(Value::Null), true)),
        1 => Just((None, None, true)),
        4 => outcome().prop_map(|o| (Some(o), Some(json!(o.as_str())), true)),
        1 => Just((None, Some(json!("bogus")), false)),
    ];
    let written_key = (0..=NOW_MS, any::<u128>(), 0u32..100).prop_map(|(ms, id, attempt)| {
        let at = DateTime::from_timestamp_millis(ms).expect("time");
        delivery_sort_key(at, &uuid::Uuid::from_u128(id).into(), attempt)
    });
    // (sort key, whether the log writes it); valid keys are longer than 30 characters.
    let sort_key = (written_key, 0..8, "[ -~]{0,30}").prop_map(|(sk, how, text)| match how {
        0 => (sk.trim_start_matches(DELIVERY_PREFIX).to_string(), false),
        1 => (format!("{sk}#x"), false),
        2 => {
            let (head, attempt) = sk.rsplit_once('#').expect("three parts");
            (format!("{head}#0{attempt}"), false)
        }
        3 => (text, false),
        _ => (sk, true),
    });
    let extra_field = prop_oneof![5 => Just(false), 1 => Just(true)];
    (version, outcome, sort_key, extra_field).prop_map(
        |(v, (outcome, outcome_json, outcome_known), (sk, sk_written), extra)| {
            let mut json = json!({"v": v, "sk": sk});
            if let Some(o) = outcome_json {
                json["outcome"] = o;
            }
            if extra {
                json["account"] = json!("acct");
            }
            let written = json["v"] == json!(1) && outcome_known && sk_written && !extra;
            (
                json.to_string().into_bytes(),
                written.then(|| DeliveryCursor::new(outcome, sk)),
            )
        },
    )
}

/// The delivery log's answer to `?cursor=<base64url of bytes>` (and `&outcome=<filter>`):
/// the page's cursor, or the error response's status and JSON error.
fn delivery_page(
    bytes: &[u8],
    filter: Option<DeliveryOutcome>,
) -> Result<Option<DeliveryCursor>, (u16, Value)> {
    let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let query = match filter {
        Some(o) => format!("cursor={cursor}&outcome={}", o.as_str()),
        None => format!("cursor={cursor}"),
    };
    let req = ApiRequest::get("/api/integrations/api-webhooks/deliveries").query(&query);
    settings::deliveries::parse_query(&req.build())
        .map(|q| q.after)
        .map_err(|e| {
            let (status, body) = parts(&error_response(&e));
            (
                status,
                json!({"code": body["error"]["code"], "field": body["error"]["field"]}),
            )
        })
}

fn invalid_cursor() -> (u16, Value) {
    (400, json!({"code": "invalid_cursor", "field": "cursor"}))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn bearer_header_any_text(header in any::<String>()) {
        match bearer_token(Some(&header)) {
            Ok(token) => {
                prop_assert!(!token.is_empty());
                prop_assert!(header.to_ascii_lowercase().trim_start().starts_with("bearer"));
            }
            Err(e) => prop_assert_eq!(e.status(), 403),
        }
    }

    #[test]
    fn bearer_header_round_trips_keys(key in "[A-Za-z0-9_-]{1,80}", scheme in "(?i)bearer") {
        let header = format!("{scheme} {key}");
        prop_assert_eq!(bearer_token(Some(&header)).ok(), Some(key.as_str()));
    }

    #[test]
    fn phone_any_text(input in any::<String>()) {
        if let Ok(p) = PhoneNumber::parse(&input) {
            prop_assert!(p.as_str().starts_with('+'));
            prop_assert!(p.as_str().len() <= 16);
            prop_assert!(p.country_code() > 0);
            // Every accepted number has a country or is one of the non-geographic codes.
            prop_assert!(
                !domain::country::countries_of(&p).is_empty()
                    || domain::destination::non_geographic(&p).is_some()
            );
        }
    }

    #[test]
    fn phone_digit_strings(digits in "\\+[0-9]{0,20}") {
        if let Ok(p) = PhoneNumber::parse(&digits) {
            prop_assert_eq!(p.as_str(), digits.as_str());
            // The destination policy answers every number; a refused type is named.
            let g = domain::model::Guardrails::default();
            if let Some(found) = domain::number_type::type_of(&p) {
                let code = format!("+{} ", p.country_code());
                prop_assert!(found.range.starts_with(&code), "{}", found.range);
                let e = domain::destination::check(&p, &g).unwrap_err();
                let label = found.number_type.label();
                prop_assert!(e.to_string().contains(label), "{}", e);
            }
        }
    }

    #[test]
    fn signature_header_any_text(header in any::<String>(), body in any::<Vec<u8>>()) {
        let r = verify_provider_callback("prov-key", Some(&header), &body, now());
        prop_assert!(r.is_err(), "an arbitrary header never verifies");
    }

    #[test]
    fn signature_timestamp_any_i64(ts in any::<i64>(), d in "[0-9a-f]{0,70}") {
        let header = format!("v={ts},d={d}");
        let r = verify_provider_callback("prov-key", Some(&header), b"{}", now());
        let far = (i128::from(NOW_MS) - i128::from(ts)).abs() > i128::from(PROVIDER_SIGNATURE_TOLERANCE_MS);
        if far {
            prop_assert_eq!(r, Err(ProviderSignatureError::Expired));
        } else {
            prop_assert_eq!(r, Err(ProviderSignatureError::Mismatch));
        }
    }

    #[test]
    fn signature_round_trips_within_tolerance(offset in -PROVIDER_SIGNATURE_TOLERANCE_MS..=PROVIDER_SIGNATURE_TOLERANCE_MS, body in any::<Vec<u8>>()) {
        let header = sign_provider_callback("prov-key", &body, NOW_MS + offset);
        prop_assert_eq!(verify_provider_callback("prov-key", Some(&header), &body, now()), Ok(()));
    }

    #[test]
    fn cursor_any_text(s in any::<String>()) {
        if let Ok(c) = DeliveryCursor::decode(&s) {
            prop_assert_eq!(DeliveryCursor::decode(&c.encode()).ok(), Some(c));
        }
    }

    #[test]
    fn cursor_base64_of_any_bytes(
        bytes in any::<Vec<u8>>(),
        (json, written) in cursor_json(),
        other_filter in proptest::option::of(outcome()),
        same_filter in any::<bool>(),
    ) {
        // Half the pages are asked for with the filter their cursor was written under.
        let filter = match (&written, same_filter) {
            (Some(c), true) => c.outcome(),
            _ => other_filter,
        };
        // Arbitrary bytes are never a cursor the log wrote: 400 invalid_cursor.
        let answer = delivery_page(&bytes, filter);
        prop_assert_eq!(answer.as_ref().err(), Some(&invalid_cursor()), "{:?}", bytes);
        // Cursor-shaped JSON: the cursor itself when the log could have written it and it
        // continues the same filter, else 400 invalid_cursor.
        let answer = delivery_page(&json, filter);
        match written.filter(|c| c.outcome() == filter) {
            Some(cursor) => prop_assert_eq!(answer, Ok(Some(cursor))),
            None => prop_assert_eq!(answer.err(), Some(invalid_cursor())),
        }
    }

    #[test]
    fn durations_any_text(
        s in prop_oneof![any::<String>(), DURATION_TEXT],
        list in proptest::collection::vec(prop_oneof![any::<String>(), DURATION_TEXT], 0..4),
    ) {
        match parse_duration(&s) {
            Ok(d) => prop_assert_eq!(Some(d), duration_of(&s), "{:?}", s),
            Err(e) => {
                prop_assert_eq!(duration_of(&s), None, "{:?} refused: {}", s, e);
                // The operator is told which value is wrong.
                prop_assert!(e.0.contains(&format!("{:?}", s.trim())), "{}", e);
            }
        }
        // A list: every non-blank comma-separated part parsed, or the first bad one named.
        let joined = list.join(",");
        let parts: Vec<&str> = joined.split(',').filter(|p| !p.trim().is_empty()).collect();
        let expected: Option<Vec<_>> = parts.iter().map(|p| duration_of(p)).collect();
        match parse_durations(&joined) {
            Ok(all) => prop_assert_eq!(Some(all), expected, "{:?}", joined),
            Err(e) => {
                prop_assert_eq!(expected, None, "{:?} refused: {}", joined, e);
                let first_bad = parts.iter().find(|p| duration_of(p).is_none());
                prop_assert!(
                    first_bad.is_some_and(|p| e.0.contains(&format!("{:?}", p.trim()))),
                    "{:?}: {}", joined, e
                );
            }
        }
    }

    #[test]
    fn durations_any_number_and_unit(n in any::<u64>(), unit in "(ms|s|m|h|)") {
        let text = format!("{n}{unit}");
        match parse_duration(&text) {
            Ok(d) => {
                let expected = match unit.as_str() {
                    "ms" => Some(std::time::Duration::from_millis(n)),
                    "s" | "" => Some(std::time::Duration::from_secs(n)),
                    "m" => n.checked_mul(60).map(std::time::Duration::from_secs),
                    _ => n.checked_mul(3600).map(std::time::Duration::from_secs),
                };
                prop_assert_eq!(Some(d), expected);
            }
            Err(_) => prop_assert!(matches!(unit.as_str(), "m" | "h")),
        }
    }

    #[test]
    fn idempotency_key_any_bytes(value in any::<Vec<u8>>()) {
        match IdempotencyKey::parse(&value, b"{}") {
            Ok(k) => {
                prop_assert!(!k.key.is_empty() && k.key.len() <= MAX_KEY_LEN);
                prop_assert_eq!(k.key.as_bytes(), value.as_slice());
            }
            Err(e) => {
                prop_assert_eq!(e.code(), "invalid_idempotency_key");
                prop_assert!(
                    value.is_empty()
                        || value.len() > MAX_KEY_LEN
                        || value.iter().any(|b| !(0x20..0x7f).contains(b))
                );
            }
        }
    }

    #[test]
    fn webhook_url_any_text(raw in any::<String>(), local in any::<bool>()) {
        if let Ok(url) = webhook_url::validate(&raw, local) {
            prop_assert!(matches!(url.scheme(), "https" | "http"));
            prop_assert!(local || url.scheme() == "https");
        }
    }

    #[test]
    fn webhook_url_shaped_text(
        scheme in "(https?|ftp|file)",
        host in "([a-z0-9.-]{0,30}|\\[[0-9a-f:.]{0,40}\\]|[0-9]{1,3}(\\.[0-9]{1,3}){0,4})",
        port in proptest::option::of(any::<u32>()),
        path in "[ -~]{0,40}",
    ) {
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let raw = format!("{scheme}://{host}{port}/{path}");
        if let Ok(url) = webhook_url::validate(&raw, false) {
            prop_assert_eq!(url.scheme(), "https");
            if let Some(url::Host::Ipv4(ip)) = url.host() {
                prop_assert!(!webhook_url::is_forbidden_ip(ip.into()));
            }
        }
    }
}
