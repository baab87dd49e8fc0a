//! The process's one set of trusted root certificates (issue 14, docs/benchmarks.md).
//!
//! Reading the platform's store is the largest piece of a cold start after the process
//! itself: on Debian it opens the bundle and every file of `/etc/ssl/certs` (about 150
//! certificates, 300 directory entries), then parses each one. The AWS SDK's connector and
//! reqwest's platform verifier each did it on their own, so a function that talks to AWS and
//! to an outside endpoint paid twice. Here it is done once, on first use, and handed to both:
//!
//! - [`client_config`]: a rustls configuration (aws-lc-rs, the SDK's crypto provider) for
//!   reqwest (`tls_backend_preconfigured`);
//! - [`pem`]: the same certificates as PEM, the form the SDK's `TrustStore` takes
//!   (`aws_adapters::sdk_config`).
//!
//! Only certificates rustls accepts as trust anchors are kept, so both see the same set (the
//! SDK would panic on one it cannot parse).

use base64::Engine;
use std::sync::{Arc, OnceLock};

/// What could not be set up; the outbound clients report it as a startup error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("TLS configuration: {0}")]
pub struct TlsError(String);

struct Roots {
    config: Result<Arc<rustls::ClientConfig>, TlsError>,
    pem: Vec<u8>,
    count: usize,
}

static ROOTS: OnceLock<Roots> = OnceLock::new();

fn roots() -> &'static Roots {
    ROOTS.get_or_init(load)
}

/// The rustls client configuration every outbound HTTP client uses (cloning it is cheap: the
/// root store is behind an `Arc`).
pub fn client_config() -> Result<Arc<rustls::ClientConfig>, TlsError> {
    roots().config.clone()
}

/// The trusted roots as PEM, for the AWS SDK's trust store.
pub fn pem() -> &'static [u8] {
    &roots().pem
}

/// How many roots are trusted (for tests and the startup log).
pub fn count() -> usize {
    roots().count
}

fn load() -> Roots {
    let found = rustls_native_certs::load_native_certs();
    if !found.errors.is_empty() {
        // The paths only, never certificate contents.
        tracing::warn!(
            errors = found.errors.len(),
            "some of the platform's root certificates could not be read"
        );
    }
    let mut store = rustls::RootCertStore::empty();
    let mut pem = Vec::with_capacity(found.certs.len() * 2048);
    for cert in found.certs {
        if store.add(cert.clone()).is_ok() {
            push_pem(&mut pem, &cert);
        }
    }
    let count = store.len();
    if count == 0 {
        tracing::warn!("no trusted root certificates: every TLS connection will fail");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| Arc::new(b.with_root_certificates(store).with_no_client_auth()))
        .map_err(|e| TlsError(e.to_string()));
    Roots { config, pem, count }
}

fn push_pem(out: &mut Vec<u8>, der: &[u8]) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    out.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(b"-----END CERTIFICATE-----\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platform_roots_load_once_and_the_pem_holds_the_same_certificates() {
        assert!(count() > 0, "this machine has no root certificates");
        use rustls::pki_types::pem::PemObject;
        let parsed: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(pem())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(parsed.len(), count());
        let mut store = rustls::RootCertStore::empty();
        let (valid, invalid) = store.add_parsable_certificates(parsed);
        assert_eq!((valid, invalid), (count(), 0));
        // Loaded once: the same allocation on every call.
        assert!(std::ptr::eq(pem(), pem()));
        assert!(Arc::ptr_eq(
            &client_config().unwrap(),
            &client_config().unwrap()
        ));
    }
}
