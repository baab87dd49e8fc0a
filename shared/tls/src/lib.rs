//! The process's one set of trusted root certificates (issue 14, docs/benchmarks.md).
//!
//! Reading the platform's store was the largest piece of a cold start after the process
//! itself (3.5 ms of a 6 ms anchor, see [`platform_certificates`]), and the AWS SDK's
//! connector and reqwest's platform verifier each did it on their own, so a function that
//! talks to AWS and to an outside endpoint paid twice. Here it is done once, on first use,
//! into one rustls configuration ([`client_config`]: aws-lc-rs, the SDK's crypto provider)
//! that every reqwest client of the process is built with (`tls_backend_preconfigured`):
//! the provider's and webhooks' clients (`outbound`) and the AWS SDK's
//! (`aws_adapters::http_client`).

use base64::Engine;
use rustls::pki_types::CertificateDer;
use std::sync::{Arc, OnceLock};

/// What could not be set up; the outbound clients report it as a startup error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("TLS configuration: {0}")]
pub struct TlsError(String);

struct Roots {
    config: Result<Arc<rustls::ClientConfig>, TlsError>,
    count: usize,
}

static ROOTS: OnceLock<Roots> = OnceLock::new();

fn roots() -> &'static Roots {
    ROOTS.get_or_init(load)
}

/// The rustls client configuration every HTTP client of the process is built with, as
/// reqwest takes it (`tls_backend_preconfigured`, by value); the copy is cheap, the root store
/// inside is shared.
pub fn client_config() -> Result<rustls::ClientConfig, TlsError> {
    shared().map(|c| c.as_ref().clone())
}

fn shared() -> Result<Arc<rustls::ClientConfig>, TlsError> {
    roots().config.clone()
}

/// How many roots are trusted.
pub fn count() -> usize {
    roots().count
}

fn load() -> Roots {
    let certs = platform_certificates();
    let mut store = rustls::RootCertStore::empty();
    let (count, _unparsable) = store.add_parsable_certificates(certs);
    if count == 0 {
        tracing::warn!("no trusted root certificates: every TLS connection will fail");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| Arc::new(b.with_root_certificates(store).with_no_client_auth()))
        .map_err(|e| TlsError(e.to_string()));
    Roots { config, count }
}

/// The platform's roots: its bundle file, found as OpenSSL finds it (`openssl_probe`:
/// Debian's `/etc/ssl/certs/ca-certificates.crt`, Amazon Linux 2023's
/// `/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem`, ...), decoded with an ordinary
/// base64 decoder.
///
/// `rustls_native_certs` is 5x slower here (3.5 ms against 0.6 ms on the bench machine): it
/// also reads every file of the certificate directory (which on Debian holds the same
/// certificates again, and the machine's self-signed `ssl-cert-snakeoil.pem`, not a root
/// anyone should trust), and decodes PEM in constant time, a precaution for private keys that
/// public certificates do not need. It is still used when `SSL_CERT_FILE` or `SSL_CERT_DIR`
/// name the roots, or when no bundle file is found, so that what it honours is honoured.
fn platform_certificates() -> Vec<CertificateDer<'static>> {
    let overridden = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    let bundle = openssl_probe::probe().cert_file;
    if let (false, Some(path)) = (overridden, bundle) {
        match std::fs::read(&path) {
            Ok(text) => {
                let certs = pem_certificates(&text);
                if !certs.is_empty() {
                    return certs;
                }
            }
            Err(e) => tracing::warn!(error = %e, "the root certificate bundle could not be read"),
        }
    }
    let found = rustls_native_certs::load_native_certs();
    if !found.errors.is_empty() {
        tracing::warn!(
            errors = found.errors.len(),
            "some of the platform's root certificates could not be read"
        );
    }
    found.certs
}

/// The `CERTIFICATE` blocks of a PEM text, decoded; a block that does not decode is skipped
/// (as `RootCertStore::add_parsable_certificates` skips what does not parse).
fn pem_certificates(text: &[u8]) -> Vec<CertificateDer<'static>> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = text;
    let mut b64 = Vec::with_capacity(4096);
    while let Some(start) = find(rest, BEGIN) {
        rest = &rest[start + BEGIN.len()..];
        let Some(end) = find(rest, END) else {
            break;
        };
        b64.clear();
        b64.extend(rest[..end].iter().filter(|b| !b.is_ascii_whitespace()));
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(&b64) {
            out.push(CertificateDer::from(der));
        }
        rest = &rest[end + END.len()..];
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push_pem(out: &mut Vec<u8>, der: &[u8]) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        out.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        out.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }

    #[test]
    fn the_platform_roots_load_once() {
        assert!(
            count() > 100,
            "this machine has {} root certificates",
            count()
        );
        // Loaded once: the same configuration on every call.
        assert!(Arc::ptr_eq(&shared().unwrap(), &shared().unwrap()));
    }

    #[test]
    fn the_bundle_holds_what_rustls_native_certs_finds_less_the_snakeoil() {
        let ours: std::collections::BTreeSet<Vec<u8>> =
            platform_certificates().iter().map(|c| c.to_vec()).collect();
        let theirs: std::collections::BTreeSet<Vec<u8>> = rustls_native_certs::load_native_certs()
            .certs
            .iter()
            .map(|c| c.to_vec())
            .collect();
        assert!(ours.len() > 100, "{}", ours.len());
        // Everything we trust, they trust; they may add files of the directory that are not
        // in the bundle (on Debian: the machine's self-signed snakeoil certificate).
        assert!(ours.is_subset(&theirs));
        assert!(
            theirs.len() - ours.len() <= 2,
            "{} {}",
            theirs.len(),
            ours.len()
        );
    }

    #[test]
    fn pem_blocks_decode_and_junk_is_skipped() {
        let der = [0x30u8, 0x03, 0x02, 0x01, 0x05];
        let mut text = b"junk\n".to_vec();
        push_pem(&mut text, &der);
        text.extend_from_slice(
            b"-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
        );
        push_pem(&mut text, &der);
        text.extend_from_slice(b"-----BEGIN CERTIFICATE-----\nunterminated");
        let certs = pem_certificates(&text);
        assert_eq!(certs.len(), 2);
        assert!(certs.iter().all(|c| c.as_ref() == der));
        assert!(pem_certificates(b"").is_empty());
    }
}
