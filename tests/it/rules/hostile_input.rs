//! Hostile input never panics (issue 13): property tests of every parser of client input, on
//! arbitrary strings and bytes and on the edges (any i64, huge numbers, odd Unicode). Each
//! property also checks an answer that could be wrong, not only the absence of a panic.

use chrono::{DateTime, Utc};
use domain::auth::bearer_token;
use domain::config::{parse_duration, parse_durations};
use domain::phone::PhoneNumber;
use domain::ports::store::deliveries::DeliveryCursor;
use domain::signature::{
    sign_provider_callback, verify_provider_callback, ProviderSignatureError,
    PROVIDER_SIGNATURE_TOLERANCE_MS,
};
use domain::webhook_url;
use proptest::prelude::*;
use trigger_call::idempotency::{IdempotencyKey, MAX_KEY_LEN};

const NOW_MS: i64 = 1_750_001_600_000;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(NOW_MS).expect("time")
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
    fn cursor_base64_of_any_bytes(bytes in any::<Vec<u8>>()) {
        use base64::Engine;
        let s = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
        let _ = DeliveryCursor::decode(&s);
    }

    #[test]
    fn durations_any_text(s in any::<String>()) {
        let _ = parse_duration(&s);
        let _ = parse_durations(&s);
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
