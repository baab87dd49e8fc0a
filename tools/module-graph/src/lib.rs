//! The module graph of every crate of the workspace, read from source (`graph`), and the one
//! question `make check` asks of it: does any module name a sibling that names it back, directly
//! or round a longer cycle ([`module_cycles`])? The layers test (`tests/it/layers.rs`) asks the
//! same through the same functions and draws `docs/architecture.md`'s module graph with them.
//! A standalone crate, so that `make check` runs the check in seconds, before any test builds.

mod graph;

pub use graph::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("cannot run cargo metadata: {0}")]
    Run(#[from] std::io::Error),
    #[error("cargo metadata failed: {0}")]
    Failed(String),
    #[error("cargo metadata's answer is not what it documents: {0}")]
    Shape(String),
}

/// One compiled crate of the workspace: a package's library, binary or test target.
pub struct Target {
    /// The target's name (a library's is how code names the crate: `lambda_glue`).
    pub name: String,
    /// `package` for a library, `package (bin name)` / `package (test name)` otherwise.
    pub label: String,
    /// `lib`, `proc-macro`, `bin`, `test`, `bench` or `example`.
    pub kind: String,
    pub root: PathBuf,
}

/// Every library, binary, test, bench and example target of the workspace's packages.
pub fn targets(workspace: &Path) -> Result<Vec<Target>, MetadataError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--no-deps"])
        .current_dir(workspace)
        .output()?;
    if !out.status.success() {
        return Err(MetadataError::Failed(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    let meta: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| MetadataError::Shape(e.to_string()))?;
    let shape = |what: &str| MetadataError::Shape(what.to_string());
    let mut all = Vec::new();
    for p in meta["packages"]
        .as_array()
        .ok_or_else(|| shape("packages"))?
    {
        let package = p["name"].as_str().ok_or_else(|| shape("package name"))?;
        for t in p["targets"].as_array().ok_or_else(|| shape("targets"))? {
            let kind = t["kind"][0].as_str().ok_or_else(|| shape("kind"))?;
            if !["lib", "proc-macro", "bin", "test", "bench", "example"].contains(&kind) {
                continue;
            }
            let name = t["name"].as_str().ok_or_else(|| shape("target name"))?;
            let label = if kind == "lib" || kind == "proc-macro" {
                package.to_string()
            } else {
                format!("{package} ({kind} {name})")
            };
            let root = t["src_path"].as_str().ok_or_else(|| shape("src_path"))?;
            all.push(Target {
                name: name.to_string(),
                label,
                kind: kind.to_string(),
                root: PathBuf::from(root),
            });
        }
    }
    Ok(all)
}

fn shown(path: &[String]) -> String {
    if path.is_empty() {
        "crate".into()
    } else {
        path.join("::")
    }
}

/// Every cycle between sibling modules, in every target of the workspace, with the reference
/// that makes each step: what a failure prints.
pub fn module_cycles(workspace: &Path) -> Result<Vec<String>, MetadataError> {
    let mut found = Vec::new();
    let workspace = workspace.canonicalize()?;
    for t in targets(&workspace)? {
        let g = CrateGraph::read(&t.root);
        for parent in g.parents() {
            let edges = g.level(&parent);
            for cycle in cycles(&edges) {
                let mut text = format!("{} `{}`: {}", t.label, shown(&parent), cycle.join(" -> "));
                for step in cycle.windows(2) {
                    let Some(w) = edges.get(&step[0]).and_then(|e| e.get(&step[1])) else {
                        continue;
                    };
                    let file = w.file.strip_prefix(&workspace).unwrap_or(&w.file);
                    text.push_str(&format!(
                        "\n    {} -> {}: {}:{} names {}",
                        step[0],
                        step[1],
                        file.display(),
                        w.line,
                        w.path
                    ));
                }
                found.push(text);
            }
        }
    }
    Ok(found)
}
