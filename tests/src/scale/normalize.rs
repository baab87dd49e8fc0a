//! Key values as patterns, so that profiles are the same from run to run: `CALL#<uuid>` ->
//! `CALL#<call>`, `ACCOUNT#acct_...` -> `ACCOUNT#<account>`, a timestamp -> `<time>`, a short
//! number (a shard, an attempt) -> `<n>`. A placeholder is named after the literal segment
//! before it (`EVENT#<id>` -> `<event>`), so the model can tell a per-account key
//! (`<account>`) from a per-item one (`<call>`, `<event>`) and a shared one (no placeholder).

/// `value` with its identifiers replaced, segment by segment (`#` and `/` separate segments).
pub fn pattern(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut label: Option<String> = None;
    let mut segment = String::new();
    for c in value.chars().chain(std::iter::once('\0')) {
        if c == '#' || c == '/' || c == '\0' {
            out.push_str(&segment_pattern(&segment, &mut label));
            if c != '\0' {
                out.push(c);
            }
            segment.clear();
        } else {
            segment.push(c);
        }
    }
    out
}

fn segment_pattern(seg: &str, label: &mut Option<String>) -> String {
    if seg.is_empty() {
        return String::new();
    }
    if is_time(seg) {
        return "<time>".into();
    }
    if seg.starts_with("acct_") {
        return "<account>".into();
    }
    if seg.starts_with('+') && seg.len() > 1 && seg[1..].chars().all(|c| c.is_ascii_digit()) {
        return "<phone>".into();
    }
    if seg.chars().all(|c| c.is_ascii_digit()) {
        return "<n>".into();
    }
    if looks_like_id(seg) {
        let name = label.clone().unwrap_or_else(|| "id".into());
        return format!("<{name}>");
    }
    *label = Some(seg.to_ascii_lowercase().replace('-', "_"));
    seg.to_string()
}

fn is_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 19
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
}

fn looks_like_id(s: &str) -> bool {
    let hex_run = s
        .split(|c: char| !c.is_ascii_hexdigit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    hex_run >= 12 || contains_uuid(s) || s.starts_with("prov_") || s.starts_with("sim_")
}

fn contains_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 36
        && (0..=b.len() - 36).any(|i| {
            b[i..i + 36].iter().enumerate().all(|(j, c)| match j {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            })
        })
}

/// A resource name made by the tests (`calls-table-<hex>`, `events-<hex>`) without its
/// unique suffix: `table`, `events`.
pub fn resource(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    let base = match last.rsplit_once('-') {
        Some((base, suffix))
            if suffix.len() >= 16 && suffix.chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            base
        }
        _ => last,
    };
    if base.ends_with("table") {
        "table".into()
    } else {
        base.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_become_named_placeholders() {
        let call = "CALL#0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(pattern(call), "CALL#<call>");
        assert_eq!(
            pattern("ACCOUNT#acct_0123456789abcdef0123456789abcdef#OUTCOME#delivered"),
            "ACCOUNT#<account>#OUTCOME#delivered"
        );
        assert_eq!(
            pattern("DELIVERY#2026-12-06T09:00:00.000Z#0f8fad5b-d9cb-469f-a165-70867728950e#01"),
            "DELIVERY#<time>#<delivery>#<n>"
        );
        assert_eq!(pattern("event"), "event");
        assert_eq!(
            pattern("IDEMPOTENCY#acct_0123456789abcdef#order-0f8fad5b-d9cb-469f-a165-70867728950e"),
            "IDEMPOTENCY#<account>#<idempotency>"
        );
        assert_eq!(pattern("event#7"), "event#<n>");
        assert_eq!(
            pattern("APIKEY#9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
            "APIKEY#<apikey>"
        );
        assert_eq!(
            pattern("ACCOUNT#acct_x#SUPPRESSION#+15551234567"),
            "ACCOUNT#<account>#SUPPRESSION#<phone>"
        );
        assert_eq!(
            resource("http://127.0.0.1:1/123/events-0123456789abcdef0123456789abcdef"),
            "events"
        );
        assert_eq!(
            resource("calls-table-0123456789abcdef0123456789abcdef"),
            "table"
        );
    }
}
