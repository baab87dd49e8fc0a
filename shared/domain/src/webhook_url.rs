//! Which webhook URLs an account may register, and which addresses a webhook may reach.
//!
//! A webhook URL is a request our servers make on a customer's behalf, so a careless rule is a
//! server-side request forgery hole: the settings API refuses URLs that name internal hosts
//! (`validate`), and the delivery function checks every address a hostname resolves to at
//! connect time (`is_forbidden_ip`, in `outbound::webhook_client`), because DNS can point
//! anywhere.
//!
//! The URL is parsed with the WHATWG parser of the `url` crate, the same parser the HTTP client
//! uses, and the normalised form is what gets stored: the URL that was checked is exactly the
//! URL that is called. That parser turns odd IPv4 spellings (`2130706433`, `0x7f.1`,
//! `017700000001`, `127.1`, percent-encoded digits) into plain IPv4 addresses, so they meet the
//! same address rules as `127.0.0.1`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::{Host, Url};

/// Longest webhook URL accepted, in characters (before and after normalisation).
pub const MAX_WEBHOOK_URL_CHARS: usize = 2048;

/// Why a webhook URL was refused. The messages are written for the integration page's user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookUrlError {
    #[error("the webhook URL is empty; send null to remove it")]
    Empty,
    #[error("the webhook URL is {chars} characters long; the limit is {MAX_WEBHOOK_URL_CHARS}")]
    TooLong { chars: usize },
    #[error("the webhook URL contains whitespace or control characters")]
    ControlCharacters,
    #[error("the webhook URL is not a valid absolute URL ({0})")]
    Unparseable(String),
    #[error("the webhook URL must use https, not {0}")]
    NotHttps(String),
    #[error("the webhook URL must not contain a user name or password")]
    Credentials,
    #[error("the webhook URL has no host")]
    MissingHost,
    #[error("the webhook URL must be publicly reachable; localhost is not allowed")]
    Localhost,
    #[error(
        "the webhook URL must be publicly reachable; {0} is a private, loopback, link-local or reserved address"
    )]
    ForbiddenAddress(IpAddr),
}

impl WebhookUrlError {
    /// A stable name for the class of problem (for logs and tests).
    pub fn reason(&self) -> &'static str {
        match self {
            WebhookUrlError::Empty => "empty",
            WebhookUrlError::TooLong { .. } => "too_long",
            WebhookUrlError::ControlCharacters => "control_characters",
            WebhookUrlError::Unparseable(_) => "unparseable",
            WebhookUrlError::NotHttps(_) => "not_https",
            WebhookUrlError::Credentials => "credentials",
            WebhookUrlError::MissingHost => "missing_host",
            WebhookUrlError::Localhost => "localhost",
            WebhookUrlError::ForbiddenAddress(_) => "forbidden_address",
        }
    }
}

/// Checks a webhook URL and returns it normalised (the form to store and to call).
///
/// Rules: `https` only; at most [`MAX_WEBHOOK_URL_CHARS`] characters; no user or password;
/// not `localhost` or `*.localhost`; not an IP literal for which [`is_forbidden_ip`] holds.
///
/// `allow_insecure_local` is for local development only (env `WEBHOOK_ALLOW_INSECURE_LOCAL`,
/// never set in AWS, never settable through an API): it also admits `http` and loopback hosts
/// (`localhost`, `127.0.0.0/8`, `::1`), so a receiver on the developer's machine can be used.
/// Every other rule still applies.
pub fn validate(raw: &str, allow_insecure_local: bool) -> Result<Url, WebhookUrlError> {
    if raw.is_empty() {
        return Err(WebhookUrlError::Empty);
    }
    let chars = raw.chars().count();
    if chars > MAX_WEBHOOK_URL_CHARS {
        return Err(WebhookUrlError::TooLong { chars });
    }
    // The WHATWG parser silently drops tabs and newlines anywhere and trims spaces; a URL that
    // only parses after such repairs is refused rather than stored in a form nobody typed.
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(WebhookUrlError::ControlCharacters);
    }
    let url = Url::parse(raw).map_err(|e| WebhookUrlError::Unparseable(e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure_local => {}
        other => return Err(WebhookUrlError::NotHttps(other.to_string())),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(WebhookUrlError::Credentials);
    }
    match url.host() {
        None => return Err(WebhookUrlError::MissingHost),
        Some(Host::Domain(d)) => {
            if is_localhost_name(d) && !allow_insecure_local {
                return Err(WebhookUrlError::Localhost);
            }
            if d.is_empty() {
                return Err(WebhookUrlError::MissingHost);
            }
        }
        Some(Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip), allow_insecure_local)?,
        Some(Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip), allow_insecure_local)?,
    }
    let normalised = url.as_str().chars().count();
    if normalised > MAX_WEBHOOK_URL_CHARS {
        return Err(WebhookUrlError::TooLong { chars: normalised });
    }
    Ok(url)
}

fn check_ip(ip: IpAddr, allow_insecure_local: bool) -> Result<(), WebhookUrlError> {
    if address_allowed(ip, allow_insecure_local) {
        Ok(())
    } else {
        Err(WebhookUrlError::ForbiddenAddress(ip))
    }
}

/// `localhost`, `*.localhost` (RFC 6761 reserves both for loopback), with or without the
/// trailing root dot, in any case.
pub fn is_localhost_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost")
}

/// Whether a webhook may connect to `ip`: not forbidden, or loopback when local development
/// allows it. The delivery function applies this to every resolved address before connecting.
pub fn address_allowed(ip: IpAddr, allow_insecure_local: bool) -> bool {
    if !is_forbidden_ip(ip) {
        return true;
    }
    allow_insecure_local && canonical(ip).is_loopback()
}

/// True for every address a webhook must never reach: private (RFC 1918), loopback,
/// link-local (which holds the cloud metadata service 169.254.169.254), CGNAT 100.64/10,
/// multicast, unspecified, "this network" 0/8, broadcast and the reserved 240/4, the
/// documentation and benchmarking ranges, IETF protocol assignments; in IPv6 also unique-local
/// fc00::/7 (AWS's metadata service fd00:ec2::254 lives there), link-local, site-local,
/// discard-only and documentation ranges. IPv6 forms that carry an IPv4 address (mapped,
/// compatible, NAT64 64:ff9b::/96, 6to4 2002::/16) are judged by that IPv4 address.
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

/// The IPv4 address an IPv6 address stands for, if it embeds one; otherwise the address.
fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    let s = v6.segments();
    let o = v6.octets();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    // ::ffff:a.b.c.d (mapped)
    if s[..5] == [0, 0, 0, 0, 0] && s[5] == 0xffff {
        return IpAddr::V4(tail);
    }
    // ::a.b.c.d (compatible, deprecated); :: and ::1 stay IPv6.
    if s[..6] == [0; 6] && !(s[6] == 0 && s[7] <= 1) {
        return IpAddr::V4(tail);
    }
    // 64:ff9b::a.b.c.d (NAT64 well-known prefix)
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return IpAddr::V4(tail);
    }
    // 2002:AABB:CCDD::/48 (6to4) relays to AA.BB.CC.DD
    if s[0] == 0x2002 {
        return IpAddr::V4(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    ip
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    const RANGES: &[([u8; 4], u32)] = &[
        ([0, 0, 0, 0], 8),       // "this network", includes 0.0.0.0 (unspecified)
        ([10, 0, 0, 0], 8),      // private
        ([100, 64, 0, 0], 10),   // CGNAT (shared address space)
        ([127, 0, 0, 0], 8),     // loopback
        ([169, 254, 0, 0], 16),  // link-local, cloud metadata 169.254.169.254
        ([172, 16, 0, 0], 12),   // private
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // documentation TEST-NET-1
        ([192, 88, 99, 0], 24),  // 6to4 relay anycast (deprecated)
        ([192, 168, 0, 0], 16),  // private
        ([198, 18, 0, 0], 15),   // benchmarking
        ([198, 51, 100, 0], 24), // documentation TEST-NET-2
        ([203, 0, 113, 0], 24),  // documentation TEST-NET-3
        ([224, 0, 0, 0], 4),     // multicast
        ([240, 0, 0, 0], 4),     // reserved, includes 255.255.255.255 (broadcast)
    ];
    RANGES.iter().any(|(net, p)| in_v4(ip, *net, *p))
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    (u128::from(ip) & mask) == (u128::from(Ipv6Addr::from(net)) & mask)
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    const RANGES: &[([u16; 8], u32)] = &[
        ([0, 0, 0, 0, 0, 0, 0, 0], 128),         // unspecified ::
        ([0, 0, 0, 0, 0, 0, 0, 1], 128),         // loopback ::1
        ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),  // NAT64 local-use
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64),      // discard-only
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 32),     // Teredo (tunnels to hidden IPv4)
        ([0x2001, 2, 0, 0, 0, 0, 0, 0], 48),     // benchmarking
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),     // documentation (RFC 9637)
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),      // unique-local, incl. fd00:ec2::254
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),     // link-local
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),     // site-local (deprecated)
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),      // multicast
        ([0, 0, 0, 0, 0, 0xffff, 0, 0], 96),     // mapped (only reached if not canonicalised)
        ([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96),  // NAT64 (idem)
    ];
    RANGES.iter().any(|(net, p)| in_v6(ip, *net, *p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forbidden_ipv4_ranges() {
        for s in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.10",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(is_forbidden_ip(ip(s)), "{s} should be forbidden");
        }
    }

    #[test]
    fn public_ipv4_allowed_including_range_edges() {
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "203.0.112.255",
            "223.255.255.255",
        ] {
            assert!(!is_forbidden_ip(ip(s)), "{s} should be allowed");
        }
    }

    #[test]
    fn forbidden_ipv6_ranges() {
        for s in [
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fd00:ec2::254",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "2001:db8::1",
            "3fff::1",
            "100::1",
            "2001::1",
            "2001:2::1",
            "64:ff9b:1::1",
        ] {
            assert!(is_forbidden_ip(ip(s)), "{s} should be forbidden");
        }
    }

    #[test]
    fn ipv6_forms_carrying_ipv4_are_judged_by_the_ipv4() {
        for s in [
            "::ffff:127.0.0.1",
            "::ffff:7f00:1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::10.1.2.3",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::192.168.0.1",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2002:c0a8:101::1",
        ] {
            assert!(is_forbidden_ip(ip(s)), "{s} should be forbidden");
        }
        for s in [
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
            "::8.8.8.8",
        ] {
            assert!(!is_forbidden_ip(ip(s)), "{s} should be allowed");
        }
    }

    #[test]
    fn public_ipv6_allowed() {
        for s in [
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001::200e",
            "2001:200::1",
        ] {
            assert!(!is_forbidden_ip(ip(s)), "{s} should be allowed");
        }
    }

    #[test]
    fn local_development_allows_only_loopback() {
        assert!(address_allowed(ip("127.0.0.1"), true));
        assert!(address_allowed(ip("127.9.9.9"), true));
        assert!(address_allowed(ip("::1"), true));
        assert!(address_allowed(ip("::ffff:127.0.0.1"), true));
        assert!(!address_allowed(ip("127.0.0.1"), false));
        assert!(!address_allowed(ip("10.0.0.1"), true));
        assert!(!address_allowed(ip("169.254.169.254"), true));
        assert!(!address_allowed(ip("fd00:ec2::254"), true));
        assert!(address_allowed(ip("8.8.8.8"), false));
    }

    fn reason(raw: &str) -> &'static str {
        validate(raw, false)
            .map(|u| panic!("{raw} should be refused, got {u}"))
            .unwrap_err()
            .reason()
    }

    #[test]
    fn accepts_and_normalises_public_https_urls() {
        let u = validate("https://Hooks.Example.COM/in?x=1", false).unwrap();
        assert_eq!(u.as_str(), "https://hooks.example.com/in?x=1");
        let u = validate("https://example.com", false).unwrap();
        assert_eq!(u.as_str(), "https://example.com/");
        let u = validate("https://bücher.example/hook", false).unwrap();
        assert_eq!(u.as_str(), "https://xn--bcher-kva.example/hook");
        assert!(validate("https://93.184.215.14:8443/hook", false).is_ok());
        assert!(validate("https://[2606:4700:4700::1111]/hook", false).is_ok());
        // `localhost` only as a whole label counts.
        assert!(validate("https://localhost.example.com/", false).is_ok());
        assert!(validate("https://mylocalhost/", false).is_ok());
    }

    #[test]
    fn refuses_every_class() {
        assert_eq!(reason(""), "empty");
        assert_eq!(reason("http://example.com/"), "not_https");
        assert_eq!(reason("ftp://example.com/"), "not_https");
        assert_eq!(reason("javascript:alert(1)"), "not_https");
        assert_eq!(reason("example.com/hook"), "unparseable");
        assert_eq!(reason("https://"), "unparseable");
        assert_eq!(reason(" https://example.com/"), "control_characters");
        assert_eq!(reason("https://exa\tmple.com/"), "control_characters");
        assert_eq!(reason("https://example.com/\n"), "control_characters");
        assert_eq!(reason("https://user@example.com/"), "credentials");
        assert_eq!(reason("https://user:pw@example.com/"), "credentials");
        assert_eq!(reason("https://:pw@example.com/"), "credentials");
        assert_eq!(reason("https://localhost/"), "localhost");
        assert_eq!(reason("https://LOCALHOST:8443/"), "localhost");
        assert_eq!(reason("https://localhost./"), "localhost");
        assert_eq!(reason("https://api.localhost/"), "localhost");
        assert_eq!(reason("https://127.0.0.1/"), "forbidden_address");
        assert_eq!(reason("https://[::1]/"), "forbidden_address");
        assert_eq!(reason("https://[::ffff:127.0.0.1]/"), "forbidden_address");
        assert_eq!(reason("https://[fd00:ec2::254]/"), "forbidden_address");
        assert_eq!(
            reason("https://169.254.169.254/latest"),
            "forbidden_address"
        );
        let long = format!("https://example.com/{}", "a".repeat(2048));
        assert_eq!(reason(&long), "too_long");
        let exact = format!("https://example.com/{}", "a".repeat(2048 - 20));
        assert_eq!(exact.chars().count(), 2048);
        assert!(validate(&exact, false).is_ok());
    }

    #[test]
    fn odd_ipv4_spellings_are_normalised_and_refused() {
        for raw in [
            "https://2130706433/",
            "https://0x7f.1/",
            "https://0x7f000001/",
            "https://017700000001/",
            "https://0177.0.0.1/",
            "https://127.1/",
            "https://127.0.1/",
            "https://%31%32%37.0.0.1/",
            "https://0/",
            "https://0x0a.0x00.0x00.0x01/",
            "https://3232235777/",
            "https://2852039166/",
            "http://2130706433/",
        ] {
            let e = validate(raw, false).unwrap_err();
            // http:// fails on the scheme first; everything else on the address.
            if raw.starts_with("https") {
                assert_eq!(e.reason(), "forbidden_address", "{raw}");
            } else {
                assert_eq!(e.reason(), "not_https", "{raw}");
            }
        }
        // And what the parser made of them, to show the normalisation is what catches them.
        let host = |raw: &str| Url::parse(raw).unwrap().host_str().unwrap().to_string();
        assert_eq!(host("https://2130706433/"), "127.0.0.1");
        assert_eq!(host("https://0x7f.1/"), "127.0.0.1");
        assert_eq!(host("https://017700000001/"), "127.0.0.1");
        assert_eq!(host("https://127.1/"), "127.0.0.1");
        assert_eq!(host("https://2852039166/"), "169.254.169.254");
    }

    #[test]
    fn insecure_local_flag_admits_http_and_loopback_only() {
        assert!(validate("http://127.0.0.1:8080/hook", true).is_ok());
        assert!(validate("http://localhost:8080/hook", true).is_ok());
        assert!(validate("http://[::1]:8080/hook", true).is_ok());
        assert!(validate("http://example.com/hook", true).is_ok());
        assert_eq!(
            validate("http://10.0.0.1/", true).unwrap_err().reason(),
            "forbidden_address"
        );
        assert_eq!(
            validate("http://169.254.169.254/", true)
                .unwrap_err()
                .reason(),
            "forbidden_address"
        );
        assert_eq!(
            validate("http://u:p@127.0.0.1/", true)
                .unwrap_err()
                .reason(),
            "credentials"
        );
        assert_eq!(
            validate("ftp://127.0.0.1/", true).unwrap_err().reason(),
            "not_https"
        );
    }
}
