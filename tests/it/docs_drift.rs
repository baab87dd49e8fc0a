//! `README.md` and `docs/*.md` against the code, in the manner of the template drift test
//! (issue 27): what the docs name must exist, and what the system has must be in the docs.
//!
//! - Every environment variable, `make` target, route, error code, template parameter and
//!   repository path the docs name exists: variables in the code (a string literal or a
//!   constant of the sources, the Makefile, the scripts), targets in the Makefile, routes in the
//!   functions' `ROUTES` tables, codes in `domain::ErrorCode::ALL` (which `openapi.rs` holds
//!   `docs/openapi.yaml` to), parameters in `template.yaml`, paths on disk.
//! - Every environment variable a function reads (its `Config::VARS`, the SDK configuration) and
//!   every template parameter is named in `docs/deploy.md` or `docs/local-stack.md`.
//! - The numbers the docs state about the system are the template's: how many functions
//!   ("five functions", "all five"), which indexes (every `gsi*` named exists; every index of
//!   the table is in `docs/deploy.md` and `docs/data-model.md`).
//!
//! Each check lists every offender with its file, so one run shows all the drift.

use serde_yaml_ng::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// `README.md` and every `docs/*.md`, as (path from the root, text).
fn docs() -> Vec<(String, String)> {
    let mut out = vec![("README.md".to_string(), read("README.md"))];
    let mut names: Vec<String> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".md"))
        .collect();
    names.sort();
    for n in names {
        let rel = format!("docs/{n}");
        out.push((rel.clone(), read(&rel)));
    }
    out
}

/// A doc split into prose (outside fenced blocks) and fenced code blocks.
struct Parts {
    prose: String,
    blocks: Vec<String>,
}

fn parts(text: &str) -> Parts {
    let mut prose = String::new();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            match current.take() {
                Some(b) => blocks.push(b),
                None => current = Some(String::new()),
            }
            continue;
        }
        match current.as_mut() {
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
            None => {
                prose.push_str(line);
                prose.push('\n');
            }
        }
    }
    Parts { prose, blocks }
}

/// The inline code spans (`...`) of prose; a span wrapped over two lines is joined (a path
/// cut at a line end reads whole).
fn spans(prose: &str) -> Vec<String> {
    prose
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.replace('\n', ""))
        .collect()
}

fn is_env_like(s: &str) -> bool {
    s.len() > 2
        && s.contains('_')
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !s.ends_with('_')
}

/// Words of `text` (identifier characters).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// Every file below `dir` with one of `exts`, recursively (no `target`, no hidden folders).
fn files(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let path = e.expect("entry").path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') && name != "node_modules" {
                files(&path, exts, out);
            }
        } else if exts.iter().any(|x| name.ends_with(x)) {
            out.push(path);
        }
    }
}

/// The upper-snake names the repository itself knows: string literals and constants of its
/// sources, the variables of the Makefile, the scripts, CI and the template.
fn known_upper_names() -> BTreeSet<String> {
    let mut paths = Vec::new();
    for dir in [
        "shared",
        "functions",
        "local",
        "admin",
        "bench",
        "tests",
        "scripts",
        ".ci",
        "examples",
        "clients",
    ] {
        files(
            &root().join(dir),
            &[".rs", ".sh", ".py", ".toml", "run", ".js", ".ts"],
            &mut paths,
        );
    }
    for f in ["Makefile", "template.yaml", "samconfig.toml", "Cargo.toml"] {
        paths.push(root().join(f));
    }
    let mut known = BTreeSet::new();
    for p in paths {
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        known.extend(words(&text).filter(|w| is_env_like(w)).map(str::to_string));
    }
    known
}

/// Upper-snake names the docs may use that are not the repository's: the variables the
/// README's quickstart has its reader set in their own shell, and DynamoDB's own values.
const READER_VARIABLES: [&str; 4] = ["BVAI_API", "BVAI_API_KEY", "ALL_OLD", "UPDATED_NEW"];

/// Names in the docs that look like environment variables: upper-snake words of code spans
/// and code blocks.
fn doc_upper_names(text: &str) -> BTreeSet<String> {
    let p = parts(text);
    let mut names: BTreeSet<String> = spans(&p.prose)
        .iter()
        .flat_map(|s| words(s).map(str::to_string).collect::<Vec<_>>())
        .filter(|w| is_env_like(w))
        .collect();
    for b in &p.blocks {
        names.extend(words(b).filter(|w| is_env_like(w)).map(str::to_string));
    }
    names
}

#[test]
fn every_variable_the_docs_name_exists() {
    let known = known_upper_names();
    let mut unknown = Vec::new();
    for (file, text) in docs() {
        for name in doc_upper_names(&text) {
            if !known.contains(&name) && !READER_VARIABLES.contains(&name.as_str()) {
                unknown.push(format!("{file}: {name}"));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "names in the docs that nothing in the repository reads or defines (a renamed or \
         removed variable?):\n{}",
        unknown.join("\n")
    );
}

/// Every variable a function reads, as the functions declare them (`Config::VARS`), with the
/// SDK configuration's timeouts (`aws_adapters::lambda_sdk_config`) and the local stack's
/// reconciler period.
fn config_variables() -> BTreeSet<String> {
    use domain::config;
    integration_tests::cfn::FUNCTIONS
        .iter()
        .flat_map(|(binary, _)| integration_tests::deps::declared_vars(binary))
        .map(|v| v.name)
        .chain([
            config::SDK_ATTEMPT_TIMEOUT_MS,
            config::SDK_OPERATION_TIMEOUT_MS,
            config::RECONCILE_EVERY,
        ])
        .map(str::to_string)
        .collect()
}

#[test]
fn every_variable_a_function_reads_is_in_the_ops_docs() {
    let ops = read("docs/deploy.md") + &read("docs/local-stack.md");
    let mut vars = config_variables();
    assert!(vars.contains("TABLE_NAME") && vars.len() > 20, "{vars:?}");
    // The SDK configuration's own (aws_adapters::lambda_sdk_config).
    for v in [
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_USE_FIPS_ENDPOINT",
        "AWS_USE_DUALSTACK_ENDPOINT",
        "LOG_LEVEL",
    ] {
        vars.insert(v.to_string());
    }
    let missing: Vec<&String> = vars
        .iter()
        .filter(|v| !words(&ops).any(|w| w == v.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "variables the functions read that neither docs/deploy.md nor docs/local-stack.md \
         names: {missing:?}"
    );
}

fn template() -> Value {
    // The template's tags (!Ref, !Sub...) are read as tagged values.
    serde_yaml_ng::from_str(&read("template.yaml")).expect("template.yaml is YAML")
}

fn template_parameters() -> BTreeSet<String> {
    template()["Parameters"]
        .as_mapping()
        .expect("Parameters")
        .keys()
        .map(|k| k.as_str().expect("name").to_string())
        .collect()
}

#[test]
fn every_template_parameter_is_in_the_deploy_guide_and_no_other() {
    let params = template_parameters();
    let deploy = read("docs/deploy.md");
    let missing: Vec<&String> = params
        .iter()
        .filter(|p| !deploy.contains(&format!("`{p}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "template parameters docs/deploy.md does not name: {missing:?}"
    );
    // The guided-deploy table's rows name parameters the template has.
    let table_rows: Vec<String> = deploy
        .lines()
        .skip_while(|l| !l.starts_with("| parameter | default | meaning |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| spans(l).first().cloned())
        .collect();
    assert!(table_rows.len() > 10, "the parameter table: {table_rows:?}");
    let stale: Vec<&String> = table_rows.iter().filter(|p| !params.contains(*p)).collect();
    assert!(
        stale.is_empty(),
        "parameters in docs/deploy.md's table that the template does not have: {stale:?}"
    );
}

fn makefile_targets() -> BTreeSet<String> {
    read("Makefile")
        .lines()
        .filter_map(|l| {
            let (name, _) = l.split_once(':')?;
            (!name.is_empty()
                && !name.contains(' ')
                && !name.contains('$')
                && !l.contains(":=")
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
            .then(|| name.to_string())
        })
        .collect()
}

#[test]
fn every_make_target_the_docs_name_exists() {
    let targets = makefile_targets();
    assert!(
        targets.contains("test") && targets.contains("run"),
        "{targets:?}"
    );
    let mut unknown = Vec::new();
    for (file, text) in docs() {
        for (i, _) in text.match_indices("make ") {
            let before = text[..i].chars().last();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-') {
                continue; // "cmake ", "remake "
            }
            let target: String = text[i + 5..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
                .collect();
            // Only what reads as a command: `make x` in code, or "make x" before a
            // non-letter. Prose ("make sure", "make it") has no target after it.
            let in_code = text[..i].matches('`').count() % 2 == 1
                || text[..i].matches("```").count() % 2 == 1;
            if target.is_empty() || !in_code {
                continue;
            }
            if !targets.contains(&target) {
                unknown.push(format!("{file}: make {target}"));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "make targets the Makefile does not have:\n{}",
        unknown.join("\n")
    );
}

/// Every route of the three route tables, as `(METHOD, pattern segments)`.
fn route_patterns() -> Vec<(String, Vec<String>)> {
    trigger_call::ROUTES
        .iter()
        .map(|r| r.key())
        .chain(settings::router::ROUTES.iter().map(|r| r.key()))
        .chain(call_completed::ROUTES.iter().map(|r| r.key()))
        .map(|k| {
            let (m, p) = k.split_once(' ').expect("METHOD path");
            (
                m.to_string(),
                p.split('/').map(str::to_string).collect::<Vec<_>>(),
            )
        })
        .collect()
}

/// Paths the docs show that are not the API's: the local stack's simulated provider, its
/// webhook receiver, the page and the document it serves, examples of a customer's endpoint,
/// and the Lambda Runtime API (the cold-start benchmark's stub).
const NOT_API_PREFIXES: [&str; 6] = [
    "/sim/",
    "/v2/",
    "/webhooks",
    "/openapi.yaml",
    "/your/",
    "/2018-06-01/",
];

fn route_matches(method: &str, path: &str, routes: &[(String, Vec<String>)]) -> bool {
    let segs: Vec<&str> = path.split('/').collect();
    routes.iter().any(|(m, pattern)| {
        m == method
            && pattern.len() == segs.len()
            && pattern
                .iter()
                .zip(&segs)
                .all(|(p, s)| p == s || (p.starts_with('{') && !s.is_empty()))
            || m == method
                && pattern.len() == segs.len()
                && pattern
                    .iter()
                    .zip(&segs)
                    .all(|(p, s)| p == s || (p.starts_with('{') && s.starts_with('<')))
    })
}

#[test]
fn every_route_the_docs_name_is_served() {
    let routes = route_patterns();
    let mut unknown = Vec::new();
    for (file, text) in docs() {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            for (i, _) in text.match_indices(&format!("{method} /")) {
                if text[..i]
                    .chars()
                    .last()
                    .is_some_and(|c| c.is_ascii_alphanumeric())
                {
                    continue;
                }
                let path: String = text[i + method.len() + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || "/_-{}.<>".contains(*c))
                    .collect();
                let path = path.trim_end_matches('.').to_string();
                if path == "/" || NOT_API_PREFIXES.iter().any(|p| path.starts_with(p)) {
                    continue;
                }
                if !route_matches(method, &path, &routes) {
                    unknown.push(format!("{file}: {method} {path}"));
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "routes the docs name that no ROUTES table serves:\n{}",
        unknown.join("\n")
    );
}

#[test]
fn every_error_code_in_the_docs_tables_is_a_code_of_the_api() {
    let known: BTreeSet<String> = domain::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_string())
        .collect();
    assert!(known.contains("invalid_api_key"), "{known:?}");
    let mut unknown = Vec::new();
    for (file, text) in docs() {
        for line in text.lines() {
            // `| 4xx | `code` ... |`: an error table's row.
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.len() < 4
                || !(cells[1].len() == 3 && cells[1].chars().all(|c| c.is_ascii_digit()))
                || !cells[1].starts_with(['4', '5'])
            {
                continue;
            }
            for span in spans(cells[2]) {
                let snake = !span.is_empty()
                    && span
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit());
                if snake && !known.contains(&span) {
                    unknown.push(format!("{file}: {} `{span}`", cells[1]));
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "error codes in the docs' tables that are no domain::ErrorCode:\n{}",
        unknown.join("\n")
    );
}

/// Top-level names a repository path in the docs may start with.
const TOP: [&str; 25] = [
    "shared/",
    "functions/",
    "local/",
    "tests/",
    "docs/",
    "scripts/",
    "tools/",
    "admin/",
    "bench/",
    "page/",
    "events/",
    ".ci/",
    "Makefile",
    "template.yaml",
    "Cargo.toml",
    "Cargo.lock",
    "README.md",
    "samconfig.toml",
    "clippy.toml",
    "rust-toolchain.toml",
    "deny.toml",
    "NOTICE",
    "examples/",
    "golden/",
    "clients/",
];

/// A repository path named in a code span or a link, cleaned of anchors, line numbers and
/// trailing punctuation; `None` when the span is no path (a URL, a glob, a placeholder).
fn as_repo_path(s: &str) -> Option<String> {
    let s = s.trim().trim_end_matches(['.', ',', ':', ')']);
    if s.contains("://")
        || s.contains(['*', '<', '{', ' ', '$'])
        || s.contains("...")
        || s.contains("::")
        || !TOP.iter().any(|t| s.starts_with(t))
    {
        return None;
    }
    let s = s.split('#').next().unwrap_or(s);
    let s = match s.rsplit_once(':') {
        Some((p, n)) if n.chars().all(|c| c.is_ascii_digit() || c == '-') => p,
        _ => s,
    };
    Some(s.to_string())
}

#[test]
fn every_repository_path_the_docs_name_exists() {
    let mut missing = Vec::new();
    for (file, text) in docs() {
        let dir = root().join(Path::new(&file).parent().unwrap_or(Path::new("")));
        let p = parts(&text);
        let mut names: Vec<(String, PathBuf)> = spans(&p.prose)
            .iter()
            .filter_map(|s| as_repo_path(s))
            .map(|s| (s.clone(), root().join(&s)))
            .collect();
        // Markdown links to files of the repository, relative to the doc.
        for (i, _) in p.prose.match_indices("](") {
            let target: String = p.prose[i + 2..].chars().take_while(|c| *c != ')').collect();
            let target = target.split('#').next().unwrap_or("").to_string();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            names.push((target.clone(), dir.join(&target)));
        }
        for (name, path) in names {
            // `tests/it/x.rs`, or (for a doc in docs/) a path relative to docs/.
            if !path.exists() && !dir.join(&name).exists() {
                missing.push(format!("{file}: {name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "paths the docs name that are not in the repository:\n{}",
        missing.join("\n")
    );
}

const NUMBER_WORDS: [&str; 10] = [
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
];

fn function_count() -> usize {
    template()["Resources"]
        .as_mapping()
        .expect("Resources")
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .count()
}

/// "five functions", "the five functions", "all five" in a sentence about functions: the
/// number must be the template's. (docs/benchmarks.md records measurements of earlier states
/// with their dates and commits, and is left out.)
#[test]
fn the_number_of_functions_the_docs_state_is_the_templates() {
    let n = function_count();
    assert_eq!(n, 5, "the template's functions");
    let mut wrong = Vec::new();
    for (file, text) in docs() {
        if file == "docs/benchmarks.md" {
            continue;
        }
        let flat = text.replace('\n', " ");
        for sentence in flat.split(". ") {
            let lower = sentence.to_lowercase();
            let ws: Vec<&str> = lower.split_whitespace().collect();
            for (i, w) in ws.iter().enumerate() {
                let w = w.trim_matches(|c: char| !c.is_ascii_alphabetic());
                let Some(k) = NUMBER_WORDS.iter().position(|x| *x == w) else {
                    continue;
                };
                let next = ws
                    .get(i + 1)
                    .map(|x| x.trim_matches(|c: char| !c.is_ascii_alphabetic()));
                let prev = i.checked_sub(1).map(|j| ws[j]);
                let counts_functions = matches!(next, Some("functions") | Some("lambda"))
                    || (prev == Some("all")
                        && lower.contains("function")
                        && !matches!(next, Some(x) if x.chars().any(|c| c.is_ascii_alphabetic()) && x != "functions"));
                if counts_functions && k + 1 != n {
                    wrong.push(format!("{file}: \"{}\"", sentence.trim()));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the template has {n} functions; these sentences say otherwise:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_indexes_the_docs_name_are_the_tables() {
    let t = template();
    let table = t["Resources"]
        .as_mapping()
        .expect("Resources")
        .values()
        .find(|r| r["Type"].as_str() == Some("AWS::DynamoDB::Table"))
        .expect("the table")
        .clone();
    let indexes: BTreeSet<String> = table["Properties"]["GlobalSecondaryIndexes"]
        .as_sequence()
        .expect("GlobalSecondaryIndexes")
        .iter()
        .map(|i| i["IndexName"].as_str().expect("IndexName").to_string())
        .collect();
    assert!(indexes.contains("gsi1"), "{indexes:?}");
    let mut wrong = Vec::new();
    for (file, text) in docs() {
        for w in words(&text) {
            if w.starts_with("gsi")
                && w.len() > 3
                && w[3..].chars().all(|c| c.is_ascii_digit())
                && !indexes.contains(w)
            {
                wrong.push(format!("{file}: {w}"));
            }
        }
    }
    for doc in ["docs/deploy.md", "docs/data-model.md"] {
        let text = read(doc);
        for i in &indexes {
            if !words(&text).any(|w| w == i) {
                wrong.push(format!("{doc} does not name the index {i}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "indexes: the template has {indexes:?}\n{}",
        wrong.join("\n")
    );
}

/// Whether `source` defines `item` (`fn item`, `struct item`, ...) or re-exports it (`pub use`).
fn defines(source: &str, item: &str) -> bool {
    const DEFINERS: [&str; 10] = [
        "fn",
        "struct",
        "enum",
        "trait",
        "const",
        "static",
        "type",
        "mod",
        "union",
        "macro_rules",
    ];
    let ws: Vec<&str> = words(source).collect();
    ws.windows(2)
        .any(|w| w[1] == item && DEFINERS.contains(&w[0]))
        || source
            .split("pub use")
            .skip(1)
            .any(|u| words(u.split(';').next().unwrap_or("")).any(|w| w == item))
}

/// Where a Rust path named in prose fails to resolve: `None` when it is no path into a workspace
/// library (or resolves), else what is missing. `here` is the library `crate::` means.
fn unresolved(
    libraries: &BTreeMap<String, module_graph::CrateGraph>,
    here: Option<&str>,
    span: &str,
) -> Option<String> {
    let segments: Vec<&str> = span
        .split("::")
        .map_while(|s| {
            let s = s.trim();
            (!s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(s)
        })
        .collect();
    let name = match *segments.first()? {
        "crate" => here?,
        other => other,
    };
    let graph = libraries.get(name)?;
    let mut module: Vec<String> = Vec::new();
    let mut rest = segments.get(1..)?;
    while let Some(first) = rest.first() {
        let mut child = module.clone();
        child.push(first.to_string());
        if !graph.modules.contains(&child) {
            break;
        }
        module = child;
        rest = &rest[1..];
    }
    let item = rest.first()?;
    let source = std::fs::read_to_string(&graph.files[&module]).expect("module source");
    (!defines(&source, item)).then(|| format!("no `{item}` in {name}::{}", module.join("::")))
}

/// Every Rust path the docs and the code's comments name in a code span that starts with a
/// workspace library or `crate` (`domain::held_calls::earliest_dial_time`,
/// `settings::router::ROUTES`): its modules exist, and the first name after them is defined or
/// re-exported in that module's source. A renamed or moved module fails here, not in a
/// reader's search.
#[test]
fn every_module_path_the_docs_name_exists() {
    use module_graph::CrateGraph;
    let libraries: BTreeMap<String, CrateGraph> =
        module_graph::targets(&std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
            .expect("cargo metadata")
            .into_iter()
            .filter(|t| t.kind == "lib")
            .map(|t| (t.name.clone(), CrateGraph::read(&t.root)))
            .collect();
    let mut missing = Vec::new();
    let mut checked = 0;
    for (file, text) in docs() {
        for span in spans(&parts(&text).prose) {
            checked += 1;
            if let Some(why) = unresolved(&libraries, None, &span) {
                missing.push(format!("{file}: {span} ({why})"));
            }
        }
    }
    let workspace = root().canonicalize().expect("workspace root");
    for (name, graph) in &libraries {
        let files: BTreeSet<&PathBuf> = graph.files.values().collect();
        for path in files {
            let text = std::fs::read_to_string(path).expect("source");
            for (n, line) in text.lines().enumerate() {
                let Some((_, comment)) = line.split_once("//") else {
                    continue;
                };
                for span in spans(comment) {
                    checked += 1;
                    if let Some(why) = unresolved(&libraries, Some(name), &span) {
                        let rel = path.strip_prefix(&workspace).unwrap_or(path);
                        missing.push(format!("{}:{}: {span} ({why})", rel.display(), n + 1));
                    }
                }
            }
        }
    }
    assert!(checked > 1000, "only {checked} code spans read");
    assert!(
        missing.is_empty(),
        "module paths the docs name that the code does not have:\n{}",
        missing.join("\n")
    );
}
