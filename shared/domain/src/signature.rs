//! HMAC-SHA256 signatures: the customer-facing `X-Signature` and Standard Webhooks headers we
//! send, and the voice provider's `x-retell-signature` we verify.

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

#[allow(
    clippy::expect_used,
    reason = "HMAC accepts keys of any length: new_from_slice cannot fail"
)]
fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Lowercase hex SHA-256, used for API key lookup and request fingerprints.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// `X-Signature`: lowercase hex HMAC-SHA256 of the raw body, keyed with the account's API key.
pub fn x_signature(api_key: &str, body: &[u8]) -> String {
    hex::encode(hmac(api_key.as_bytes(), &[body]))
}

/// One Standard Webhooks signature: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed
/// with the signing secret's decoded bytes (the base64 after `whsec_`, as the official
/// libraries decode it). A `webhook-signature` header is one or more of these, space-separated.
pub fn standard_webhooks_signature(
    key: &[u8],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let ts = timestamp.to_string();
    let mac = hmac(key, &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac)
    )
}

/// Constant-time comparison of two hex digests.
pub fn hex_digests_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Why a provider callback's signature was refused (logged, never returned in detail).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderSignatureError {
    #[error("missing x-retell-signature header")]
    Missing,
    #[error("malformed x-retell-signature header")]
    Malformed,
    #[error("signature timestamp outside the tolerance")]
    Expired,
    #[error("signature does not match")]
    Mismatch,
}

/// How far the provider's signature timestamp may be from our clock.
pub const PROVIDER_SIGNATURE_TOLERANCE_MS: i64 = 5 * 60 * 1000;

/// `x-retell-signature: v=<unix ms>,d=<hex HMAC-SHA256(key, body ++ timestamp)>`.
pub fn sign_provider_callback(provider_key: &str, body: &[u8], timestamp_ms: i64) -> String {
    let ts = timestamp_ms.to_string();
    let d = hex::encode(hmac(provider_key.as_bytes(), &[body, ts.as_bytes()]));
    format!("v={ts},d={d}")
}

pub fn verify_provider_callback(
    provider_key: &str,
    header: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), ProviderSignatureError> {
    let header = header.ok_or(ProviderSignatureError::Missing)?;
    let mut ts = None;
    let mut digest = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("v", v)) => ts = Some(v),
            Some(("d", d)) => digest = Some(d),
            _ => {}
        }
    }
    let (ts, digest) = ts.zip(digest).ok_or(ProviderSignatureError::Malformed)?;
    let ts_ms: i64 = ts.parse().map_err(|_| ProviderSignatureError::Malformed)?;
    // abs_diff: any i64 a client sends (i64::MIN included) is compared without overflow.
    if now.timestamp_millis().abs_diff(ts_ms) > PROVIDER_SIGNATURE_TOLERANCE_MS.unsigned_abs() {
        return Err(ProviderSignatureError::Expired);
    }
    let expected = hex::encode(hmac(provider_key.as_bytes(), &[body, ts.as_bytes()]));
    if hex_digests_equal(&expected, &digest.to_ascii_lowercase()) {
        Ok(())
    } else {
        Err(ProviderSignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn x_signature_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            x_signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn sha256_of_empty_input() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn standard_webhooks_signs_id_timestamp_body() {
        let sig = standard_webhooks_signature(b"k", "evt_1", 1700000000, b"{}");
        let expected = hmac(b"k", &[b"evt_1.1700000000.{}"]);
        assert_eq!(
            sig,
            format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(expected)
            )
        );
    }

    #[test]
    fn provider_signature_round_trip_and_failures() {
        let now = Utc.timestamp_millis_opt(1_703_302_407_333).unwrap();
        let body = br#"{"event":"call_ended"}"#;
        let h = sign_provider_callback("prov-key", body, 1_703_302_407_333);
        assert!(h.starts_with("v=1703302407333,d="));
        assert_eq!(
            verify_provider_callback("prov-key", Some(&h), body, now),
            Ok(())
        );
        // Within tolerance either side.
        let later = now + chrono::Duration::minutes(4);
        assert_eq!(
            verify_provider_callback("prov-key", Some(&h), body, later),
            Ok(())
        );
        use ProviderSignatureError::*;
        let expired = now + chrono::Duration::minutes(6);
        assert_eq!(
            verify_provider_callback("prov-key", Some(&h), body, expired),
            Err(Expired)
        );
        assert_eq!(
            verify_provider_callback("prov-key", None, body, now),
            Err(Missing)
        );
        assert_eq!(
            verify_provider_callback("prov-key", Some("garbage"), body, now),
            Err(Malformed)
        );
        assert_eq!(
            verify_provider_callback("other-key", Some(&h), body, now),
            Err(Mismatch)
        );
        assert_eq!(
            verify_provider_callback("prov-key", Some(&h), br#"{"event":"call_analyzed"}"#, now),
            Err(Mismatch)
        );
    }

    #[test]
    fn extreme_timestamps_are_expired_not_a_panic() {
        let now = Utc.timestamp_millis_opt(1_703_302_407_333).unwrap();
        for ts in [i64::MIN, i64::MIN + 1, i64::MAX, -1, 0] {
            let h = format!("v={ts},d=00");
            assert_eq!(
                verify_provider_callback("prov-key", Some(&h), b"{}", now),
                Err(ProviderSignatureError::Expired),
                "{h}"
            );
        }
        // One past i64 is not a number at all.
        assert_eq!(
            verify_provider_callback("prov-key", Some("v=9223372036854775808,d=00"), b"{}", now),
            Err(ProviderSignatureError::Malformed)
        );
    }

    #[test]
    fn digest_comparison() {
        assert!(hex_digests_equal("abcd", "abcd"));
        assert!(!hex_digests_equal("abcd", "abce"));
        assert!(!hex_digests_equal("abcd", "abc"));
    }
}
