//! The dependency direction of the layers, read from `cargo metadata` (Cargo's own resolved
//! graph, normal dependencies only): the domain core stays free of I/O crates, adapters and glue
//! depend on the domain and never on a function, and functions never on each other. A change
//! that breaks the direction fails here, not in a review.
//!
//! Inside each crate the same holds for modules (`module_graph`): no two modules of a crate
//! name each other, directly or round a longer cycle, and `docs/architecture.md` shows each
//! library's modules in the layers the code has.

use module_graph::{module_cycles, targets, CrateGraph, Target};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

/// The workspace's root (this crate sits one folder below it).
fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

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

#[test]
fn no_module_cycles_in_any_crate() {
    let cycles = module_cycles(&workspace()).expect("read the workspace");
    assert!(
        cycles.is_empty(),
        "{} module cycles (a module names a sibling that names it back, maybe round others):\n{}",
        cycles.len(),
        cycles.join("\n")
    );
}

/// The module graph's reader finds what it must: a known edge of the domain (a rule naming
/// the vocabulary), one through a `pub use` re-export, one from `super::`, and nothing from
/// test-only code.
#[test]
fn the_module_reader_sees_uses_reexports_and_super() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/domain/src/lib.rs");
    let g = CrateGraph::read(&root);
    let edges = g.level(&[]);
    let names = |from: &str| -> BTreeSet<&str> {
        edges[from]
            .keys()
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
    };
    assert!(names("held_calls").contains("calling_window"), "{edges:?}");
    assert!(g
        .children(&["ports".to_string()])
        .contains(&"store".to_string()));
}

/// The domain's vocabulary, as its crate documentation lists it (`//! - vocabulary: ...;`): the
/// types every rule, port and service shares.
fn domain_vocabulary() -> Vec<String> {
    let lib = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/domain/src/lib.rs"),
    )
    .expect("read domain's lib.rs");
    let doc: String = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .collect::<Vec<_>>()
        .join(" ");
    let list = doc
        .split_once("- vocabulary:")
        .and_then(|(_, rest)| rest.split_once(';'))
        .expect("domain's lib.rs lists `- vocabulary: ...;`")
        .0;
    list.split(',')
        .map(|m| m.trim().trim_matches('`').to_string())
        .collect()
}

/// The vocabulary names nothing above it, and the ports name nothing but the vocabulary, so a
/// port never depends on a rule.
#[test]
fn domain_ports_and_vocabulary_name_no_rule() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/domain/src/lib.rs");
    let edges = CrateGraph::read(&root).level(&[]);
    let vocabulary = domain_vocabulary();
    assert!(vocabulary.len() >= 5, "{vocabulary:?}");
    for m in vocabulary.iter().map(String::as_str).chain(["ports"]) {
        let above: Vec<String> = edges
            .get(m)
            .unwrap_or_else(|| panic!("domain has no module {m}"))
            .iter()
            .filter(|(d, _)| !vocabulary.contains(d))
            .map(|(d, w)| format!("{d} ({}:{} names {})", w.file.display(), w.line, w.path))
            .collect();
        assert!(
            above.is_empty(),
            "domain::{m} names modules outside the vocabulary: {above:?}"
        );
    }
}

/// The module graph of every library of the workspace, layer by layer (highest first): each
/// module with the siblings it names. A module's layer is one above the highest sibling it
/// names; layer 0 names none.
fn module_graph_text() -> String {
    let mut libs: Vec<Target> = targets(&workspace())
        .expect("cargo metadata")
        .into_iter()
        .filter(|t| t.kind == "lib" || t.kind == "proc-macro")
        .collect();
    libs.sort_by(|a, b| a.label.cmp(&b.label));
    let mut out = String::new();
    for t in libs {
        let g = CrateGraph::read(&t.root);
        for parent in g.parents() {
            let edges = g.level(&parent);
            let layers = module_graph::layers(&edges).expect("no cycles");
            let title = if parent.is_empty() {
                t.label.clone()
            } else {
                format!("{}::{}", t.label, parent.join("::"))
            };
            out.push_str(&format!("{title}\n"));
            let width = edges.keys().map(String::len).max().unwrap_or(0);
            for (n, layer) in layers.iter().enumerate().rev() {
                for m in layer {
                    let names: Vec<&str> = edges[m].keys().map(String::as_str).collect();
                    let line = if names.is_empty() {
                        format!("  {n:>2}  {m}")
                    } else {
                        format!("  {n:>2}  {m:<width$}  -> {}", names.join(", "))
                    };
                    out.push_str(line.trim_end());
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// `docs/architecture.md` shows the module graph as the code has it: the block between its
/// markers is exactly [`module_graph_text`]. `UPDATE_GOLDEN=1` rewrites the block.
#[test]
fn architecture_md_shows_the_module_graph() {
    const BEGIN: &str = "<!-- module graph: generated by tests/it/layers.rs, UPDATE_GOLDEN=1 rewrites it -->\n```text\n";
    const END: &str = "```\n<!-- end of module graph -->";
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/architecture.md");
    let doc = std::fs::read_to_string(&path).expect("read docs/architecture.md");
    let start = doc
        .find(BEGIN)
        .expect("architecture.md has the module graph's start marker")
        + BEGIN.len();
    let end = start
        + doc[start..]
            .find(END)
            .expect("architecture.md has the end marker");
    let want = module_graph_text();
    if std::env::var("UPDATE_GOLDEN").is_ok() {
        let updated = format!("{}{want}{}", &doc[..start], &doc[end..]);
        std::fs::write(&path, updated).expect("write docs/architecture.md");
        return;
    }
    assert!(
        doc[start..end] == want,
        "docs/architecture.md's module graph is not the code's (UPDATE_GOLDEN=1 rewrites it); \
         the code's is:\n{want}"
    );
}

/// The module graph of a crate made of `files` (path, text), written to a temporary directory.
fn made_up_crate(name: &str, files: &[(&str, &str)]) -> CrateGraph {
    let dir = std::env::temp_dir().join(format!("layers-{name}-{}", std::process::id()));
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a file in the crate")).expect("temp dir");
        std::fs::write(path, text).expect("write");
    }
    let g = CrateGraph::read(&dir.join("lib.rs"));
    let _ = std::fs::remove_dir_all(&dir);
    g
}

/// The reader on a made-up crate: a cycle through `use crate::` and `super::`, an edge through a
/// `pub use` re-export, and nothing from comments, strings or test-only code.
#[test]
fn the_module_reader_finds_a_cycle_in_a_made_up_crate() {
    let files = [
        (
            "lib.rs",
            "mod a;\nmod b;\npub mod c { pub fn x() {} }\nmod d;\npub use c::x as y;\n",
        ),
        (
            "a.rs",
            "use crate::b::f;\npub fn g() { f() }\n#[cfg(test)]\nmod tests { use crate::d::e; }\n",
        ),
        (
            "b.rs",
            "// crate::d::e\npub fn f() { let _ = \"crate::d::e\"; super::a::g(); crate::y() }\n",
        ),
        ("d/mod.rs", "pub mod e;\n"),
        (
            "d/e.rs",
            "pub fn h(c: char) -> char { if c == '{' { '}' } else { c } }\n",
        ),
    ];
    let g = made_up_crate("made-up", &files);
    let edges = g.level(&[]);
    let named = |m: &str| edges[m].keys().cloned().collect::<Vec<_>>();
    assert_eq!(named("a"), ["b"]);
    assert_eq!(named("b"), ["a", "c"]);
    assert!(named("c").is_empty() && named("d").is_empty());
    assert_eq!(g.children(&["d".to_string()]), ["e"]);
    assert_eq!(module_graph::cycles(&edges), [["a", "b", "a"]]);
    assert!(module_graph::layers(&edges).is_none());
}

/// A crate root's own items are a node of the root's level: a route table in `lib.rs` naming a
/// handler (by a bare `handlers::` path) whose module names the root's `Ctx` back is a cycle,
/// while a `pub use` of a child's item is an alias, not an edge.
#[test]
fn the_module_reader_counts_a_roots_own_items() {
    let files = [
        (
            "lib.rs",
            "pub mod handlers;\npub mod deps;\npub use deps::Deps;\npub struct Ctx;\n\
             pub static ROUTES: &[fn(Ctx)] = &[handlers::get];\n",
        ),
        (
            "handlers.rs",
            "use crate::Ctx;\nuse crate::Deps;\npub fn get(_: Ctx) {}\n",
        ),
        ("deps.rs", "pub struct Deps;\n"),
    ];
    let g = made_up_crate("own-items", &files);
    let edges = g.level(&[]);
    let named = |m: &str| edges[m].keys().cloned().collect::<Vec<_>>();
    assert_eq!(named(module_graph::OWN_ITEMS), ["handlers"]);
    assert_eq!(named("handlers"), [module_graph::OWN_ITEMS, "deps"]);
    assert!(named("deps").is_empty());
    assert_eq!(
        module_graph::cycles(&edges),
        [[module_graph::OWN_ITEMS, "handlers", module_graph::OWN_ITEMS]]
    );
}
