//! The dependency direction of the layers, read from `cargo metadata` (Cargo's own resolved
//! graph, normal dependencies only): the domain core stays free of I/O crates, adapters and glue
//! depend on the domain and never on a function, and functions never on each other. A change
//! that breaks the direction fails here, not in a review.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Crates that do I/O (AWS SDK, Lambda runtime, HTTP clients and servers, the async runtime).
fn is_io_crate(name: &str) -> bool {
    name.starts_with("aws-sdk-")
        || name.starts_with("aws-smithy-")
        || name == "aws-config"
        || name.starts_with("lambda_")
        || matches!(name, "reqwest" | "hyper" | "hyper-util" | "tokio" | "h2")
}

/// Package name -> names of its normal (non-dev, non-build) dependencies, transitively.
struct Graph {
    direct: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    fn load() -> Graph {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--locked"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run cargo metadata");
        assert!(
            out.status.success(),
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let meta: Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
        let name_of: BTreeMap<&str, &str> = meta["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
            .collect();
        let mut direct: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for node in meta["resolve"]["nodes"].as_array().expect("resolve nodes") {
            let name = name_of[node["id"].as_str().unwrap()].to_string();
            let deps = node["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| k["kind"].is_null())
                })
                .map(|d| name_of[d["pkg"].as_str().unwrap()].to_string());
            direct.entry(name).or_default().extend(deps);
        }
        Graph { direct }
    }

    fn closure(&self, root: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![root.to_string()];
        while let Some(n) = todo.pop() {
            for d in self.direct.get(&n).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        seen
    }
}

const WORKSPACE: [&str; 12] = [
    "domain",
    "aws-adapters",
    "outbound",
    "lambda-glue",
    "in-memory",
    "trigger-call",
    "settings",
    "call-completed",
    "webhook-delivery",
    "reconciler",
    "bvai-admin",
    "tls-roots",
];
const FUNCTIONS: [&str; 5] = [
    "trigger-call",
    "settings",
    "call-completed",
    "webhook-delivery",
    "reconciler",
];

fn workspace_deps(g: &Graph, krate: &str) -> BTreeSet<String> {
    g.closure(krate)
        .into_iter()
        .filter(|d| WORKSPACE.contains(&d.as_str()))
        .collect()
}

#[test]
fn the_domain_core_has_no_io_dependency() {
    let g = Graph::load();
    let io: Vec<String> = g
        .closure("domain")
        .into_iter()
        .filter(|d| is_io_crate(d))
        .collect();
    assert!(io.is_empty(), "domain depends on I/O crates: {io:?}");
    assert!(workspace_deps(&g, "domain").is_empty());
}

#[test]
fn in_memory_adapters_use_no_aws_sdk_lambda_or_http_client() {
    let g = Graph::load();
    let io: Vec<String> = g
        .closure("in-memory")
        .into_iter()
        .filter(|d| is_io_crate(d) && d != "tokio")
        .collect();
    assert!(io.is_empty(), "in-memory depends on {io:?}");
}

#[test]
fn adapters_and_glue_depend_on_the_domain_only() {
    let g = Graph::load();
    // The I/O adapters also share the process's one root store (tls-roots).
    for (krate, expected) in [
        ("aws-adapters", &["domain", "tls-roots"][..]),
        ("outbound", &["domain", "tls-roots"][..]),
        ("lambda-glue", &["domain"][..]),
        ("in-memory", &["domain"][..]),
    ] {
        assert_eq!(
            workspace_deps(&g, krate),
            expected
                .iter()
                .map(|s| s.to_string())
                .collect::<BTreeSet<_>>(),
            "{krate}"
        );
    }
    // tls-roots is a leaf: certificates only, no SDK, no HTTP client, no Lambda.
    let tls = g.closure("tls-roots");
    assert!(workspace_deps(&g, "tls-roots").is_empty());
    assert!(!tls.iter().any(|d| {
        d.starts_with("aws-sdk-")
            || d.starts_with("aws-smithy-")
            || d == "aws-config"
            || d == "reqwest"
            || d == "lambda_http"
    }));
    // Each adapter crate keeps to its own kind of I/O (aws-adapters uses reqwest only as the
    // SDK's transport, aws_adapters::http_client).
    let aws = g.closure("aws-adapters");
    assert!(!aws.contains("lambda_http"));
    let outbound = g.closure("outbound");
    assert!(!outbound.iter().any(|d| d.starts_with("aws-sdk-")));
    assert!(!outbound.contains("lambda_http"));
    let glue = g.closure("lambda-glue");
    assert!(!glue.iter().any(|d| d.starts_with("aws-sdk-")));
    assert!(!glue.contains("reqwest"));
}

#[test]
fn functions_never_depend_on_each_other_or_on_test_code() {
    let g = Graph::load();
    for f in FUNCTIONS {
        let deps = g.closure(f);
        for other in FUNCTIONS.iter().filter(|o| **o != f) {
            assert!(!deps.contains(*other), "{f} depends on {other}");
        }
        for test_only in ["in-memory", "integration-tests", "local-stack"] {
            assert!(!deps.contains(test_only), "{f} depends on {test_only}");
        }
    }
}

/// `#[port]` on the port traits (crate `port-macro`) runs in the compiler only: a proc-macro
/// crate on syn and quote, so `domain` gains no I/O crate and no workspace crate through it.
#[test]
fn the_port_macro_is_compile_time_only() {
    let g = Graph::load();
    let deps = g.closure("port-macro");
    let allowed = ["syn", "quote", "proc-macro2", "unicode-ident"];
    assert!(
        deps.iter().all(|d| allowed.contains(&d.as_str())),
        "port-macro depends on {deps:?}"
    );
    assert!(g.closure("domain").contains("port-macro"));
}
