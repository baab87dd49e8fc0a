//! docs/clients-and-receivers.md against the files it quotes (issue 32): every code block on
//! the page is preceded by `<!-- snippet NAME -->` and is, character for character, the lines
//! between `kit:start NAME` and `kit:end NAME` in one of the kit's files (dedented); every
//! snippet of those files is on the page exactly once. The files themselves are run against
//! the local stack by local/tests/it/kit.rs, so what the page shows is what is tested.

use std::collections::BTreeMap;
use std::path::Path;

/// The kit's files that hold snippets.
const SOURCES: [&str; 5] = [
    "examples/receivers/python/app.py",
    "examples/receivers/node/receiver.js",
    "examples/receivers/rust/src/lib.rs",
    "clients/typescript/src/example.ts",
    "clients/python/example.py",
];

const PAGE: &str = "docs/clients-and-receivers.md";

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Removes the indentation every non-blank line shares.
fn dedent(lines: &[&str]) -> String {
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| l.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The word after `marker` on a line (`# kit:start NAME`, `// kit:end NAME`).
fn marked<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let (_, rest) = line.split_once(marker)?;
    rest.split_whitespace().next()
}

/// NAME -> (file, snippet) of every marked snippet in `text`.
fn snippets(file: &str, text: &str, out: &mut BTreeMap<String, (String, String)>) {
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        if let Some(name) = marked(lines[i], "kit:start ") {
            let end = lines[i + 1..]
                .iter()
                .position(|l| marked(l, "kit:end ") == Some(name))
                .unwrap_or_else(|| panic!("{file}:{}: kit:start {name} never ends", i + 1));
            let body = dedent(&lines[i + 1..i + 1 + end]);
            let previous = out.insert(name.to_string(), (file.to_string(), body));
            assert!(previous.is_none(), "{file}: a second snippet named {name}");
            i += end + 2;
        } else {
            assert!(
                marked(lines[i], "kit:end ").is_none(),
                "{file}:{}: kit:end without kit:start",
                i + 1
            );
            i += 1;
        }
    }
}

/// (snippet name or None, block text, line) of every fenced block of the page.
fn page_blocks(page: &str) -> Vec<(Option<String>, String, usize)> {
    let lines: Vec<&str> = page.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_start().starts_with("```") {
            let close = i
                + 1
                + lines[i + 1..]
                    .iter()
                    .position(|l| l.trim_start().starts_with("```"))
                    .unwrap_or_else(|| panic!("{PAGE}:{}: a block never closed", i + 1));
            let name = i
                .checked_sub(1)
                .and_then(|p| lines[p].trim().strip_prefix("<!-- snippet "))
                .and_then(|r| r.strip_suffix("-->"))
                .map(|n| n.trim().to_string());
            out.push((name, dedent(&lines[i + 1..close]), i + 1));
            i = close + 1;
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn every_snippet_on_the_kit_page_is_the_tested_files() {
    let mut all = BTreeMap::new();
    for f in SOURCES {
        snippets(f, &read(f), &mut all);
    }
    assert!(all.len() >= 10, "too few snippets found: {:?}", all.keys());
    let page = read(PAGE);
    let blocks = page_blocks(&page);
    let mut problems = Vec::new();
    let mut shown = BTreeMap::<String, usize>::new();
    for (name, text, line) in &blocks {
        let Some(name) = name else {
            problems.push(format!(
                "{PAGE}:{line}: a code block with no `<!-- snippet NAME -->` before it"
            ));
            continue;
        };
        *shown.entry(name.clone()).or_default() += 1;
        match all.get(name) {
            None => problems.push(format!("{PAGE}:{line}: no file has a snippet named {name}")),
            Some((file, snippet)) if snippet != text => problems.push(format!(
                "{PAGE}:{line}: snippet {name} differs from {file}:\n--- {file}\n{snippet}\n--- {PAGE}\n{text}"
            )),
            Some(_) => {}
        }
    }
    for (name, (file, _)) in &all {
        match shown.get(name).copied().unwrap_or(0) {
            1 => {}
            0 => problems.push(format!("{file}: snippet {name} is not on {PAGE}")),
            n => problems.push(format!("{PAGE}: snippet {name} is shown {n} times")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn snippets_are_cut_and_dedented_as_written() {
    let mut out = BTreeMap::new();
    snippets(
        "x.py",
        "a\n    # kit:start one\n    if x:\n        y()\n\n    # kit:end one\nb\n",
        &mut out,
    );
    assert_eq!(out["one"].1, "if x:\n    y()\n");
    let blocks =
        page_blocks("<!-- snippet one -->\n```python\nif x:\n    y()\n\n```\n\n```sh\nls\n```\n");
    assert_eq!(
        blocks[0],
        (Some("one".to_string()), "if x:\n    y()\n".to_string(), 2)
    );
    assert_eq!(blocks[1], (None, "ls".to_string(), 8));
}
