//! The IAM actions each function's code needs, derived from the source rather than listed by
//! hand, so that `template_drift::each_role_grants_exactly_the_actions_its_code_calls` fails
//! when a role grants an action no code path calls, or misses one that a path calls.
//!
//! The derivation follows the code the way a call does:
//!
//! 1. **Port methods a function calls**: the function's source, plus the `domain` modules it
//!    uses (`domain::auth::`, `domain::key_rotation::`, ... and what those use in turn), is
//!    searched for calls on a port receiver: `store.<method>(`, `secrets.<method>(`,
//!    `queue.<method>(` (whitespace removed, so rustfmt's split chains match), for every
//!    method of the port traits (`shared/domain/src/ports`).
//! 2. **SDK operations of each adapter method**: in the AWS adapter that implements the port
//!    (`shared/aws/src`), the method's body and every adapter function it calls (`self.f(`,
//!    `f(`, `module::f(`), transitively, are searched for SDK calls (`client.<operation>()`)
//!    and for the items of a DynamoDB transaction (`Put::builder()`, `Update::builder()`,
//!    `Delete::builder()`, `ConditionCheck::builder()`; `TransactWriteItems` itself has no
//!    IAM action). A `query()` in a body that sets `index_name(` is a query on an index.
//! 3. **IAM action of each operation**: [`SDK_OPERATIONS`], a fixed fact of AWS. An operation
//!    missing from that table fails the test, so a new SDK call cannot go unnoticed.
//!
//! What the template adds on top (the event source mapping's SQS actions, logs, X-Ray) is
//! derived from the function's template properties in `template_drift`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The label of a Query on one of the table's indexes (granted on `${Table.Arn}/index/*`).
pub const QUERY_ON_INDEX: &str = "dynamodb:Query (index)";

/// SDK operation (the fluent builder's method name) -> IAM action.
const SDK_OPERATIONS: &[(&str, &str)] = &[
    ("get_item", "dynamodb:GetItem"),
    ("put_item", "dynamodb:PutItem"),
    ("update_item", "dynamodb:UpdateItem"),
    ("delete_item", "dynamodb:DeleteItem"),
    ("query", "dynamodb:Query"),
    ("scan", "dynamodb:Scan"),
    ("batch_get_item", "dynamodb:BatchGetItem"),
    ("batch_write_item", "dynamodb:BatchWriteItem"),
    // A transaction is authorised by the actions of its items (below).
    ("transact_write_items", ""),
    ("transact_get_items", "dynamodb:GetItem"),
    ("send_message", "sqs:SendMessage"),
    ("send_message_batch", "sqs:SendMessage"),
    ("receive_message", "sqs:ReceiveMessage"),
    ("delete_message", "sqs:DeleteMessage"),
    ("delete_message_batch", "sqs:DeleteMessage"),
    ("change_message_visibility", "sqs:ChangeMessageVisibility"),
    (
        "change_message_visibility_batch",
        "sqs:ChangeMessageVisibility",
    ),
    ("get_queue_attributes", "sqs:GetQueueAttributes"),
    ("get_secret_value", "secretsmanager:GetSecretValue"),
    ("put_secret_value", "secretsmanager:PutSecretValue"),
    ("create_secret", "secretsmanager:CreateSecret"),
    (
        "update_secret_version_stage",
        "secretsmanager:UpdateSecretVersionStage",
    ),
    ("describe_secret", "secretsmanager:DescribeSecret"),
    // Table set-up (DynamoStore::create_table: the emulator and the local stack only).
    ("create_table", "dynamodb:CreateTable"),
    ("describe_table", "dynamodb:DescribeTable"),
    ("update_time_to_live", "dynamodb:UpdateTimeToLive"),
];

/// The items of a `TransactWriteItems`, by their builder.
const TRANSACTION_ITEMS: [(&str, &str); 4] = [
    ("Put::builder()", "dynamodb:PutItem"),
    ("Update::builder()", "dynamodb:UpdateItem"),
    ("Delete::builder()", "dynamodb:DeleteItem"),
    ("ConditionCheck::builder()", "dynamodb:ConditionCheckItem"),
];

/// A port with an AWS adapter: where its trait is, the receiver name the code calls it on,
/// and where its AWS implementation is.
struct Port {
    traits: &'static str,
    receiver: &'static str,
    adapter: &'static str,
}

const PORTS: [Port; 3] = [
    Port {
        traits: "shared/domain/src/ports/store",
        receiver: "store",
        adapter: "shared/aws/src/dynamo",
    },
    Port {
        traits: "shared/domain/src/ports/secrets.rs",
        receiver: "secrets",
        adapter: "shared/aws/src/secrets_manager.rs",
    },
    Port {
        traits: "shared/domain/src/ports/queue.rs",
        receiver: "queue",
        adapter: "shared/aws/src/sqs.rs",
    },
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The `.rs` files under `path` (or `path` itself), sorted.
fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = entry.expect("dir entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                files.push(p);
            }
        }
    }
    assert!(!files.is_empty(), "no Rust source under {}", path.display());
    files.sort();
    files
}

/// A source file without its tests and without comment lines (doc comments name methods).
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn squeeze(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn is_ident(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Every `fn name ... { body }` of a source: (name, body). Bodies are found by brace
/// matching from the first `{` after the name (signatures here have no braces).
fn functions(source: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(i) = rest.find("fn ") {
        let before_ok = rest[..i].chars().last().is_none_or(|c| !is_ident(c));
        rest = &rest[i + 3..];
        if !before_ok {
            continue;
        }
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|c| is_ident(*c))
            .collect();
        let Some(open) = rest.find('{') else {
            continue;
        };
        let semi = rest.find(';').unwrap_or(usize::MAX);
        if name.is_empty() || semi < open {
            continue; // a declaration without a body (a trait method)
        }
        let mut depth = 0usize;
        let mut end = open;
        for (j, c) in rest[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + j;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push((name, rest[open..=end].to_string()));
    }
    out
}

/// Whether `body` calls the function `name`: `self.name(`, `Self::name(`, `x::name(` or a
/// bare `name(`, but not a method of some other value (`.name(` on anything but `self`).
fn calls(body: &str, name: &str) -> bool {
    let pattern = format!("{name}(");
    body.match_indices(&pattern).any(|(i, _)| {
        let before = &body[..i];
        match before.chars().last() {
            None => true,
            Some(c) if is_ident(c) => false,
            Some('.') => before.ends_with("self."),
            Some(_) => true,
        }
    })
}

/// The IAM actions of one adapter: for each function of its source, what its body and the
/// adapter functions it calls need.
fn adapter_actions(adapter: &str) -> BTreeMap<String, BTreeSet<String>> {
    let operations: BTreeMap<&str, &str> = SDK_OPERATIONS.iter().copied().collect();
    let mut fns: Vec<(String, String)> = Vec::new();
    for file in rust_files(&repo_root().join(adapter)) {
        fns.extend(functions(&code(&file)));
    }
    // Direct needs of each function (several functions of one name: their union).
    let mut direct: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, body) in &fns {
        let squeezed = squeeze(body);
        let entry = direct.entry(name.clone()).or_default();
        for (i, _) in squeezed.match_indices("client.") {
            let op: String = squeezed[i + "client.".len()..]
                .chars()
                .take_while(|c| is_ident(*c))
                .collect();
            if !squeezed[i + "client.".len() + op.len()..].starts_with("()") {
                continue; // a field or a method with arguments, not an operation builder
            }
            let action = operations.get(op.as_str()).unwrap_or_else(|| {
                panic!(
                    "{adapter}: fn {name} calls the SDK operation {op}, which SDK_OPERATIONS \
                     (tests/it/iam_actions.rs) does not map to an IAM action"
                )
            });
            if op == "query" && squeezed.contains(".index_name(") {
                entry.insert(QUERY_ON_INDEX.to_string());
            } else if !action.is_empty() {
                entry.insert(action.to_string());
            }
        }
        for (builder, action) in TRANSACTION_ITEMS {
            if squeezed.contains(builder) {
                entry.insert(action.to_string());
            }
        }
    }
    // Plus what the adapter functions they call need, to a fixed point.
    let names: Vec<String> = direct.keys().cloned().collect();
    let mut needs = direct.clone();
    loop {
        let mut changed = false;
        for (name, body) in &fns {
            for callee in &names {
                if callee != name && calls(body, callee) {
                    let add = needs[callee].clone();
                    let entry = needs.get_mut(name).expect("known fn");
                    let before = entry.len();
                    entry.extend(add);
                    changed |= entry.len() != before;
                }
            }
        }
        if !changed {
            return needs;
        }
    }
}

/// The method names of a port's traits (`async fn name(` / `fn name(` inside `trait ... {}`).
fn port_methods(port: &Port) -> BTreeSet<String> {
    let mut methods = BTreeSet::new();
    for file in rust_files(&repo_root().join(port.traits)) {
        let source = code(&file);
        let mut rest = source.as_str();
        while let Some(i) = rest.find("pub trait ") {
            rest = &rest[i..];
            let open = rest.find('{').expect("trait body");
            let mut depth = 0usize;
            let mut end = open;
            for (j, c) in rest[open..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = open + j;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let body = &rest[open..end];
            for (k, _) in body.match_indices("fn ") {
                let name: String = body[k + 3..].chars().take_while(|c| is_ident(*c)).collect();
                methods.insert(name);
            }
            rest = &rest[end..];
        }
    }
    assert!(!methods.is_empty(), "no trait methods in {}", port.traits);
    methods
}

/// A function crate's code plus the `domain` and `lambda_glue` modules it reaches by path
/// (`domain::auth::...`, `lambda_glue::dashboard::...`), transitively
/// (`crate::ports::secrets::...` from inside `domain`), whitespace removed.
fn reachable_code(binary: &str) -> String {
    let mut modules: Vec<(&str, String, PathBuf)> = Vec::new();
    for (krate, dir) in [
        ("domain", "shared/domain/src"),
        ("lambda_glue", "shared/lambda-glue/src"),
    ] {
        let src = repo_root().join(dir);
        for p in rust_files(&src) {
            let rel = p.strip_prefix(&src).expect("under src");
            let path = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .filter(|c| c != "mod" && c != "lib")
                .collect::<Vec<_>>()
                .join("::");
            if !path.is_empty() {
                modules.push((krate, path, p));
            }
        }
    }
    let mut text = String::new();
    for file in rust_files(&repo_root().join("functions").join(binary).join("src")) {
        text.push_str(&squeeze(&code(&file)));
    }
    let mut included = BTreeSet::new();
    loop {
        let mut added = false;
        for (krate, path, file) in &modules {
            // `crate::` paths are `domain`'s own (the functions' are searched whole).
            let own = (*krate == "domain").then(|| format!("crate::{path}::"));
            let referenced = [Some(format!("{krate}::{path}::")), own]
                .iter()
                .flatten()
                .any(|m| text.contains(m.as_str()))
                || text.contains(&format!("{krate}::{path}::{{"))
                || text.contains(&format!("{krate}::{path};"));
            if referenced && included.insert((*krate, path.clone())) {
                text.push_str(&squeeze(&code(file)));
                added = true;
            }
        }
        if !added {
            return text;
        }
    }
}

/// The port methods a function's code calls, per port receiver (`store`, `secrets`, `queue`).
pub fn port_calls(binary: &str) -> BTreeMap<&'static str, BTreeSet<String>> {
    let text = reachable_code(binary);
    PORTS
        .iter()
        .map(|port| {
            let called = port_methods(port)
                .into_iter()
                .filter(|m| {
                    let r = port.receiver;
                    [format!("{r}.{m}("), format!("{r}().{m}(")]
                        .iter()
                        .any(|p| text.contains(p.as_str()))
                        || called_through_selector(&text, r, m)
                })
                .collect();
            (port.receiver, called)
        })
        .collect()
}

/// A port method called on what a selector returns: `queue_for(&msg).send(` (webhook-delivery
/// picks the first-attempts or the retries queue per message). `text` is squeezed.
fn called_through_selector(text: &str, receiver: &str, method: &str) -> bool {
    let selector = format!("{receiver}_for(");
    text.match_indices(&selector).any(|(i, m)| {
        let mut depth = 1usize;
        let rest = &text[i + m.len()..];
        for (j, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return rest[j + 1..].starts_with(&format!(".{method}("));
                    }
                }
                _ => {}
            }
        }
        false
    })
}

/// The IAM actions the code of one function needs, from the port methods it calls down to
/// the SDK operations of their AWS adapters.
pub fn code_actions(binary: &str) -> BTreeSet<String> {
    let calls = port_calls(binary);
    let mut actions = BTreeSet::new();
    for port in &PORTS {
        let needs = adapter_actions(port.adapter);
        for method in &calls[port.receiver] {
            let need = needs.get(method).unwrap_or_else(|| {
                panic!(
                    "{binary} calls {}.{method}, which {} does not implement",
                    port.receiver, port.adapter
                )
            });
            actions.extend(need.iter().cloned());
        }
    }
    actions
}

#[test]
fn the_derivation_sees_the_calls_it_must() {
    // A few facts of the code, so that a derivation that silently finds nothing fails here
    // rather than passing the drift test with empty sets.
    let delivery = port_calls("webhook-delivery");
    for m in ["claim_attempt", "finish_attempt", "record_attempt", "event"] {
        assert!(delivery["store"].contains(m), "webhook-delivery calls {m}");
    }
    assert!(delivery["queue"].contains("send"), "through queue_for");
    assert!(delivery["queue"].contains("send_many"));
    let trigger = port_calls("trigger-call");
    assert!(trigger["store"].contains("use_key"), "through domain::auth");
    assert!(trigger["store"].contains("create_call"));
    assert!(trigger["queue"].is_empty(), "trigger-call queues nothing");
    assert!(
        port_calls("settings")["secrets"].contains("put_version"),
        "through key_rotation"
    );

    let dynamo = adapter_actions("shared/aws/src/dynamo");
    assert!(
        dynamo["endpoint_health"].contains("dynamodb:BatchGetItem"),
        "one read for a batch's accounts"
    );
    assert!(dynamo["clear_endpoint_health"].contains("dynamodb:DeleteItem"));
    for m in ["endpoint_health", "clear_endpoint_health"] {
        assert!(delivery["store"].contains(m), "webhook-delivery calls {m}");
    }
    assert!(
        dynamo["create_call"].contains("dynamodb:PutItem"),
        "a transaction's Put"
    );
    assert!(
        dynamo["key_grant"].contains("dynamodb:GetItem"),
        "through self.read"
    );
    let secrets = adapter_actions("shared/aws/src/secrets_manager.rs");
    assert!(
        secrets["put"].contains("secretsmanager:CreateSecret"),
        "through self.write"
    );
}

#[test]
fn calls_through_a_selector_are_seen() {
    assert!(called_through_selector(
        "deps.queue_for(&msg).send(&msg,wait)",
        "queue",
        "send"
    ));
    assert!(called_through_selector(
        "deps.queue_for(f(a,(b))).send_many(&m)",
        "queue",
        "send_many"
    ));
    assert!(!called_through_selector(
        "deps.queue_for(&msg).send_many(&m)",
        "queue",
        "send"
    ));
    assert!(!called_through_selector(
        "store_for(x).send(y)",
        "queue",
        "send"
    ));
}

#[test]
fn calls_are_told_from_other_methods_of_the_same_name() {
    assert!(calls("{ self.read(key) }", "read"));
    assert!(calls("{ super::item::delete(t, k) }", "delete"));
    assert!(calls("{ put(t, i) }", "put"));
    assert!(!calls("{ b.put(p) }", "put"), "a builder's method");
    assert!(
        !calls("{ idem_put(p) }", "put"),
        "another name ending the same"
    );
}
