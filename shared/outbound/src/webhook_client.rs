//! The HTTP client that POSTs webhooks to customers' endpoints, guarded against being turned
//! against our own network (SSRF):
//!
//! - `https` only; redirects are not followed (a 3xx is a failure, class `redirect`);
//! - every address a host name resolves to is checked when connecting (our DNS resolver drops
//!   private, loopback, link-local, CGNAT, multicast, unspecified and metadata addresses), so
//!   a name pointing at 127.0.0.1 is refused, not only the literal; IP literals are checked
//!   before sending; no proxy is used;
//! - a total timeout (10 s by default); at most `MAX_READ` bytes of the response are read and
//!   the first KiB kept for the delivery log.
//!
//! `allow_insecure_local` (only from the `WEBHOOK_ALLOW_INSECURE_LOCAL` environment variable,
//! for local development and tests, refused inside Lambda by `config::allow_insecure_local`)
//! permits http and loopback addresses only: private, link-local, metadata and every other
//! forbidden address stays refused, by the resolver and for literals alike.

use domain::model::DeliveryErrorClass;
use domain::webhook_url::address_allowed;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Response bytes read at most; the rest is not downloaded.
pub const MAX_READ: usize = 4 * 1024;
/// Response bytes kept in the delivery log.
pub const EXCERPT: usize = 1024;

/// What one POST came to.
#[derive(Debug, Clone, PartialEq)]
pub struct SendResult {
    pub status: Option<u16>,
    pub duration_ms: u64,
    /// `None` on a 2xx.
    pub error_class: Option<DeliveryErrorClass>,
    /// The response's first KiB, or what went wrong.
    pub excerpt: Option<String>,
}

impl SendResult {
    pub fn delivered(&self) -> bool {
        self.error_class.is_none()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to blocked addresses")]
struct BlockedAddress(String);

/// Resolves with the system resolver and drops every address we must not connect to
/// (loopback kept only when local development allows it).
struct GuardedResolver {
    allow_loopback: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| address_allowed(a.ip(), allow_loopback))
                .collect();
            if addrs.is_empty() {
                return Err(
                    Box::new(BlockedAddress(host)) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[derive(Clone, Debug)]
pub struct WebhookClient {
    http: reqwest::Client,
    allow_insecure_local: bool,
}

impl WebhookClient {
    pub fn new(timeout: Duration, allow_insecure_local: bool) -> Result<Self, crate::BuildError> {
        let mut b = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_roots::client_config()?)
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(domain::webhook::headers::USER_AGENT)
            .dns_resolver(GuardedResolver {
                allow_loopback: allow_insecure_local,
            });
        if !allow_insecure_local {
            b = b.https_only(true);
        }
        Ok(WebhookClient {
            http: b.build()?,
            allow_insecure_local,
        })
    }

    /// POSTs `body` (sent as is) with `headers`; never fails, the result says how it went.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
    ) -> SendResult {
        let started = Instant::now();
        let elapsed = || started.elapsed().as_millis() as u64;
        if let Err(why) = self.precheck(url) {
            return SendResult {
                status: None,
                duration_ms: 0,
                error_class: Some(DeliveryErrorClass::BlockedAddress),
                excerpt: Some(why),
            };
        }
        let mut req = self.http.post(url).body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let mut res = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return SendResult {
                    status: None,
                    duration_ms: elapsed(),
                    error_class: Some(classify(&e)),
                    excerpt: Some(describe(&e)),
                }
            }
        };
        let status = res.status();
        let mut buf = Vec::new();
        let mut read_error = None;
        while buf.len() < MAX_READ {
            match res.chunk().await {
                Ok(Some(c)) => buf.extend_from_slice(&c[..c.len().min(MAX_READ - buf.len())]),
                Ok(None) => break,
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            }
        }
        let excerpt = excerpt_of(&buf);
        let error_class = if let Some(e) = &read_error {
            if status.is_success() && !e.is_timeout() {
                None
            } else {
                Some(classify(e))
            }
        } else if status.is_success() {
            None
        } else if status.is_redirection() {
            Some(DeliveryErrorClass::Redirect)
        } else {
            Some(DeliveryErrorClass::HttpStatus)
        };
        let excerpt = match (&error_class, status.is_redirection()) {
            (Some(DeliveryErrorClass::Redirect), _) => Some(format!(
                "redirect to {} not followed",
                res.headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("?")
            )),
            _ => excerpt,
        };
        SendResult {
            status: Some(status.as_u16()),
            duration_ms: elapsed(),
            error_class,
            excerpt,
        }
    }

    /// Scheme and IP-literal checks the resolver cannot do.
    fn precheck(&self, url: &str) -> Result<(), String> {
        let parsed = url::Url::parse(url).map_err(|_| "invalid URL".to_string())?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_insecure_local => {}
            _ => return Err("only https URLs are allowed".into()),
        }
        let ip = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        };
        match ip {
            Some(ip) if !address_allowed(ip, self.allow_insecure_local) => {
                Err(format!("{ip} is not a public address"))
            }
            _ => Ok(()),
        }
    }
}

/// The first KiB of the response as text: lossy UTF-8 (invalid bytes become U+FFFD), cut at
/// the last character boundary at or below [`EXCERPT`] bytes, so a multi-byte character is
/// never split into a replacement character.
pub fn excerpt_of(buf: &[u8]) -> Option<String> {
    if buf.is_empty() {
        return None;
    }
    // A character starts at most 3 bytes before the cut: decoding a few bytes past it is
    // enough to see the whole character the cut falls in.
    let text = String::from_utf8_lossy(&buf[..buf.len().min(EXCERPT + 4)]);
    let mut end = text.len().min(EXCERPT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Some(text[..end].to_string())
}

fn chain<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |e| e.source())
}

fn classify(e: &reqwest::Error) -> DeliveryErrorClass {
    if chain(e).any(|s| s.downcast_ref::<BlockedAddress>().is_some()) {
        return DeliveryErrorClass::BlockedAddress;
    }
    if e.is_timeout() {
        return DeliveryErrorClass::Timeout;
    }
    // The sources only: the top error's text carries the URL, and a URL with "tls" or "ssl"
    // in it must not turn a connection failure into a TLS one.
    let text: String = chain(e)
        .skip(1)
        .map(|s| s.to_string().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(": ");
    if text.contains("certificate")
        || text.contains("tls")
        || text.contains("handshake")
        || text.contains("ssl")
    {
        return DeliveryErrorClass::Tls;
    }
    if e.is_redirect() {
        return DeliveryErrorClass::Redirect;
    }
    DeliveryErrorClass::Connect
}

/// The error chain without the URL (it is logged separately and may carry a token).
fn describe(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = chain(e).skip(1).map(|s| s.to_string()).collect();
    parts.dedup();
    let head = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    if parts.is_empty() {
        head.to_string()
    } else {
        format!("{head}: {}", parts.join(": "))
    }
}

#[cfg(test)]
mod excerpt_tests {
    use super::*;

    #[test]
    fn excerpts_are_the_first_kib_cut_at_a_character_boundary() {
        assert_eq!(excerpt_of(b""), None);
        assert_eq!(excerpt_of(b"ok").as_deref(), Some("ok"));
        // 1023 ASCII bytes then a 3-byte character straddling the 1 KiB mark: left out whole.
        let mut body = vec![b'a'; 1023];
        body.extend_from_slice("€€".as_bytes());
        let e = excerpt_of(&body).unwrap();
        assert_eq!(e.len(), 1023);
        assert!(!e.contains('\u{FFFD}'));
        // Exactly at the mark: kept.
        let mut body = vec![b'a'; 1021];
        body.extend_from_slice("€€".as_bytes());
        assert_eq!(excerpt_of(&body).unwrap().len(), 1024);
        // Invalid bytes are replaced, and the text still stops within 1 KiB.
        let e = excerpt_of(&[0xff; 4096]).unwrap();
        assert!(e.len() <= EXCERPT && e.chars().all(|c| c == '\u{FFFD}'));
        assert_eq!(e.chars().count(), 341);
    }
}
