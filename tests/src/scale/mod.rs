//! The capacity model's capture (`make bench-scale`, docs/benchmarks.md "Capacity model"):
//! every AWS request of the real functions through a set of scenarios, recorded by a
//! wrapper around the SDK's HTTP client ([`recorder`]), sized by DynamoDB's rules ([`size`]),
//! with key values as patterns ([`normalize`]). The model itself is `tools/capacity_model.py`.

pub mod capture;
pub mod normalize;
pub mod recorder;
pub mod size;

pub use capture::capture;

use serde_json::Value;

/// Where the committed profiles live, from the workspace root.
pub const GOLDEN: &str = "bench/scale/profiles.json";

/// Byte counts within this much of the golden's are the same profile (a measured duration or
/// a counter stored as a number is a byte longer from run to run).
fn same_bytes(a: u64, b: u64) -> bool {
    a.abs_diff(b) <= 16.max(a.max(b) / 50)
}

/// A request as a line without its byte counts, and its byte counts.
type Described = (String, Vec<u64>);

/// One request as a line without its byte counts, and its byte counts.
pub fn describe(r: &Value) -> Described {
    let mut bytes = Vec::new();
    let mut line = format!(
        "{} {} {}",
        r["service"].as_str().unwrap_or(""),
        r["op"].as_str().unwrap_or(""),
        r["outcome"].as_str().unwrap_or("")
    );
    if r["transaction"] == true {
        line.push_str(" transaction");
    }
    for w in r["writes"].as_array().into_iter().flatten() {
        line.push_str(&format!(
            " | {} {} pk={} sk={}{}",
            w["action"].as_str().unwrap_or(""),
            w["table"].as_str().unwrap_or(""),
            w["pk"],
            w["sk"],
            if w["conditional"] == true { " if" } else { "" }
        ));
        bytes.push(w["before_bytes"].as_u64().unwrap_or(0));
        bytes.push(w["after_bytes"].as_u64().unwrap_or(0));
        for ix in w["indexes"].as_array().into_iter().flatten() {
            let side = |s: &Value| {
                if s.is_null() {
                    "-".to_string()
                } else {
                    s["pk"].to_string()
                }
            };
            if ix["before"].is_null() && ix["after"].is_null() {
                continue;
            }
            line.push_str(&format!(
                " {}:{}->{}{}{}",
                ix["index"].as_str().unwrap_or(""),
                side(&ix["before"]),
                side(&ix["after"]),
                if ix["changed"] == true { "*" } else { "" },
                if ix["key_changed"] == true { "k" } else { "" }
            ));
            for s in [&ix["before"], &ix["after"]] {
                bytes.push(s["bytes"].as_u64().unwrap_or(0));
            }
        }
    }
    for rd in r["reads"].as_array().into_iter().flatten() {
        line.push_str(&format!(
            " | {} pk={} sk={} items={}{}",
            rd["index"].as_str().unwrap_or("table"),
            rd["pk"],
            rd["sk"],
            rd["items"],
            if rd["consistent"] == true {
                " consistent"
            } else {
                ""
            }
        ));
        bytes.push(rd["bytes"].as_u64().unwrap_or(0));
    }
    if let Some(q) = r["queue"].as_str() {
        line.push_str(&format!(
            " | {q} x{}",
            r["messages"].as_array().map_or(0, Vec::len)
        ));
        for m in r["messages"].as_array().into_iter().flatten() {
            if let Some(d) = m["delay_seconds"].as_u64() {
                line.push_str(&format!(" delay={d}"));
            }
            bytes.extend(m["bytes"].as_u64());
        }
    }
    if let Some(s) = r["secret"].as_str() {
        line.push_str(&format!(" | {s}"));
    }
    (line, bytes)
}

/// How `fresh` differs from `golden`, one line per difference (empty: the same profiles).
/// Requests are compared per segment as sorted lists (the functions run some requests
/// concurrently, so their order may vary).
pub fn differences(golden: &Value, fresh: &Value) -> Vec<String> {
    let segments = |v: &Value| -> Vec<(String, Vec<Described>)> {
        v["segments"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                let mut reqs: Vec<_> = s["requests"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(describe)
                    .collect();
                reqs.sort();
                (s["name"].as_str().unwrap_or("").to_string(), reqs)
            })
            .collect()
    };
    let (g, f) = (segments(golden), segments(fresh));
    let mut out = Vec::new();
    for (name, _) in &g {
        if !f.iter().any(|(n, _)| n == name) {
            out.push(format!("segment {name}: in the golden, not captured now"));
        }
    }
    for (name, reqs) in &f {
        let Some((_, greqs)) = g.iter().find(|(n, _)| n == name) else {
            out.push(format!("segment {name}: new (not in the golden)"));
            continue;
        };
        let mut left: Vec<&Described> = greqs.iter().collect();
        for (line, bytes) in reqs {
            match left.iter().position(|(l, _)| l == line) {
                Some(i) => {
                    let (_, gbytes) = left.remove(i);
                    let same = gbytes.len() == bytes.len()
                        && gbytes.iter().zip(bytes).all(|(a, b)| same_bytes(*a, *b));
                    if !same {
                        out.push(format!("{name}: {line}: bytes {gbytes:?} -> {bytes:?}"));
                    }
                }
                None => out.push(format!("{name}: new request: {line}")),
            }
        }
        for (line, _) in left {
            out.push(format!("{name}: request gone: {line}"));
        }
    }
    out
}
