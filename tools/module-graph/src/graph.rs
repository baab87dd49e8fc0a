//! The module graph of a crate, read from its source: which module's code names which other
//! module of the same crate (paths that start with `crate`, `super` or `self`, a `use` of a
//! child module), after following `pub use` re-exports to where the item is defined.
//!
//! Modules are compared level by level: at each module, the graph between its child modules
//! counts a reference from anywhere in one child's subtree to anywhere in another's. A
//! module's own items (a crate root's `Deps`, a `mod.rs`'s functions) are one more node of
//! that level, [`OWN_ITEMS`]: a child naming them is an edge to it, and the parent's code
//! naming a child is an edge from it, so `ROUTES` in `lib.rs` naming a handler whose module
//! names the root's `Ctx` back is a cycle. A `pub use` of a descendant is an alias, not a use: a
//! path through it lands where the item is defined, and the re-export itself is no edge (a
//! limit: the reader cannot tell whether the parent's own code also uses the name it
//! re-exports). Test-only code (`#[cfg(test)]` items and modules) is left out: it may look at
//! any module it tests.
//!
//! The reader is a tokenizer, not a Rust parser: comments, strings and character literals are
//! skipped, then paths are read where they start with `crate`, `super`, `self` or the name of a
//! child module, and in `use` trees. That is enough for this workspace's code (no `#[path]`, no macro-built module paths);
//! a path it cannot read is missed, never invented.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

pub type ModPath = Vec<String>;

/// The node of a level that stands for the parent module's own items (what its file defines
/// besides child modules and re-exports).
pub const OWN_ITEMS: &str = "(own items)";

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Sep,
    Punct(char),
}

struct Token {
    tok: Tok,
    line: usize,
}

/// The tokens of `src` that can name a path: identifiers, `::` and punctuation. Comments,
/// string, raw string and character literals, numbers and lifetimes are dropped.
fn tokenize(src: &str) -> Vec<Token> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |j: usize| c.get(j).copied().unwrap_or('\0');
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if c[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if ch == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                if at(i) == '\n' {
                    line += 1;
                }
                i += 1;
            }
            i += 1;
        } else if ch == '\'' {
            if at(i + 1) == '\\' {
                // An escaped character literal: up to the closing quote.
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                // A lifetime or label.
                i += 1;
            }
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            if (word == "r" || word == "br" || word == "b") && (at(i) == '#' || at(i) == '"') {
                let mut hashes = 0;
                while at(i + hashes) == '#' {
                    hashes += 1;
                }
                if at(i + hashes) == '"' && (word != "b" || hashes == 0) {
                    if word == "b" {
                        // b"...": an ordinary string after the prefix.
                        continue;
                    }
                    // A raw string: up to `"` followed by the same number of `#`.
                    i += hashes + 1;
                    while i < c.len() {
                        if c[i] == '"' && (0..hashes).all(|h| at(i + 1 + h) == '#') {
                            i += 1 + hashes;
                            break;
                        }
                        if c[i] == '\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                    continue;
                }
                if word == "r" && hashes == 1 {
                    // A raw identifier (`r#type`): the identifier follows.
                    i += 1;
                    continue;
                }
            }
            out.push(Token {
                tok: Tok::Ident(word),
                line,
            });
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
        } else if ch == ':' && at(i + 1) == ':' {
            out.push(Token {
                tok: Tok::Sep,
                line,
            });
            i += 2;
        } else {
            out.push(Token {
                tok: Tok::Punct(ch),
                line,
            });
            i += 1;
        }
    }
    out
}

/// How a path read in the source starts.
#[derive(Clone, Debug)]
enum Anchor {
    Crate,
    /// `super::` this many times.
    Super(usize),
    SelfMod,
    /// A `use` path starting with a name: a child module of the module, or another crate.
    Relative,
}

/// One path named in a module.
#[derive(Clone, Debug)]
struct Named {
    from: ModPath,
    anchor: Anchor,
    segments: Vec<String>,
    /// `pub use ... as alias`: the name it is re-exported as.
    reexport_as: Option<String>,
    file: PathBuf,
    line: usize,
}

/// Where a reference comes from, for the report.
#[derive(Clone, Debug)]
pub struct Witness {
    pub file: PathBuf,
    pub line: usize,
    pub path: String,
}

/// A crate's modules and the references between them.
pub struct CrateGraph {
    pub modules: BTreeSet<ModPath>,
    /// The file each module is written in (an inline module's is its parent's).
    pub files: BTreeMap<ModPath, PathBuf>,
    /// (referring module, referred module) -> the first place it happens.
    pub refs: BTreeMap<(ModPath, ModPath), Witness>,
}

impl CrateGraph {
    /// Reads the crate whose root file is `root` (`lib.rs`, `main.rs`, a bin or test file).
    pub fn read(root: &Path) -> CrateGraph {
        let mut reader = Reader {
            modules: BTreeSet::from([vec![]]),
            files: BTreeMap::new(),
            named: Vec::new(),
        };
        let dir = root.parent().map(Path::to_path_buf).unwrap_or_default();
        reader.file(root, vec![], dir);
        reader.resolve()
    }

    /// The edges between the children of `parent`: child -> children it names (with a witness).
    pub fn level(&self, parent: &[String]) -> BTreeMap<String, BTreeMap<String, Witness>> {
        let mut edges: BTreeMap<String, BTreeMap<String, Witness>> = self
            .children(parent)
            .into_iter()
            .map(|c| (c, BTreeMap::new()))
            .collect();
        let n = parent.len();
        let node = |m: &ModPath| m.get(n).map_or(OWN_ITEMS, String::as_str).to_string();
        for ((from, to), w) in &self.refs {
            if from.len() < n || to.len() < n || from[..n] != *parent || to[..n] != *parent {
                continue;
            }
            let (a, b) = (node(from), node(to));
            if a != b {
                edges.entry(b.clone()).or_default();
                edges
                    .entry(a)
                    .or_default()
                    .entry(b)
                    .or_insert_with(|| w.clone());
            }
        }
        edges
    }

    pub fn children(&self, parent: &[String]) -> Vec<String> {
        self.modules
            .iter()
            .filter(|m| m.len() == parent.len() + 1 && m[..parent.len()] == *parent)
            .map(|m| m[parent.len()].clone())
            .collect()
    }

    /// Every module that has at least two children, or one and items of its own that may name
    /// it: the levels to check.
    pub fn parents(&self) -> Vec<ModPath> {
        self.modules
            .iter()
            .filter(|m| {
                let children = self.children(m).len();
                children >= 2 || (children == 1 && self.level(m).contains_key(OWN_ITEMS))
            })
            .cloned()
            .collect()
    }
}

struct Reader {
    modules: BTreeSet<ModPath>,
    files: BTreeMap<ModPath, PathBuf>,
    named: Vec<Named>,
}

/// A module open while reading a file: its path, the directory of its file children, and the
/// brace depth its inline body closes at (`None` for the file's own module).
struct Frame {
    path: ModPath,
    dir: PathBuf,
    closes_at: Option<usize>,
}

impl Reader {
    fn file(&mut self, file: &Path, path: ModPath, dir: PathBuf) {
        let src = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        let toks = tokenize(&src);
        self.files.insert(path.clone(), file.to_path_buf());
        let mut frames = vec![Frame {
            path,
            dir,
            closes_at: None,
        }];
        let mut depth = 0usize;
        let mut skip_next = false;
        let mut i = 0;
        let ident = |j: usize| match toks.get(j).map(|t| &t.tok) {
            Some(Tok::Ident(s)) => Some(s.as_str()),
            _ => None,
        };
        let punct = |j: usize, p: char| toks.get(j).map(|t| &t.tok) == Some(&Tok::Punct(p));
        let sep = |j: usize| toks.get(j).map(|t| &t.tok) == Some(&Tok::Sep);
        while i < toks.len() {
            // The crate's own frame is never popped: the last frame is always there.
            let Some(here) = frames.last().map(|f| f.path.clone()) else {
                break;
            };
            // Attributes: `#[...]`, `#![...]`; `cfg(test)` ones hide the next item.
            if punct(i, '#') && (punct(i + 1, '[') || (punct(i + 1, '!') && punct(i + 2, '['))) {
                let open = if punct(i + 1, '[') { i + 1 } else { i + 2 };
                let close = matching(&toks, open);
                let words: Vec<&str> = (open..close).filter_map(ident).collect();
                if words.first() == Some(&"cfg")
                    && words.contains(&"test")
                    && !words.contains(&"not")
                {
                    skip_next = true;
                }
                i = close + 1;
                continue;
            }
            if skip_next {
                skip_next = false;
                i = end_of_item(&toks, i);
                continue;
            }
            match &toks[i].tok {
                Tok::Punct('{') => {
                    depth += 1;
                    i += 1;
                }
                Tok::Punct('}') => {
                    depth = depth.saturating_sub(1);
                    if frames.last().and_then(|f| f.closes_at) == Some(depth) {
                        frames.pop();
                    }
                    i += 1;
                }
                Tok::Ident(w) if w == "mod" => {
                    let Some(name) = ident(i + 1) else {
                        i += 1;
                        continue;
                    };
                    let Some(frame) = frames.last() else {
                        break;
                    };
                    let mut child = frame.path.clone();
                    child.push(name.to_string());
                    let child_dir = frame.dir.join(name);
                    self.modules.insert(child.clone());
                    if punct(i + 2, ';') {
                        let flat = frame.dir.join(format!("{name}.rs"));
                        let nested = child_dir.join("mod.rs");
                        let file = if flat.exists() { flat } else { nested };
                        self.file(&file, child, child_dir);
                        i += 3;
                    } else if punct(i + 2, '{') {
                        self.files.insert(child.clone(), file.to_path_buf());
                        frames.push(Frame {
                            path: child,
                            dir: child_dir,
                            closes_at: Some(depth),
                        });
                        depth += 1;
                        i += 3;
                    } else {
                        i += 1;
                    }
                }
                Tok::Ident(w) if w == "use" => {
                    let public = i > 0 && (ident(i - 1) == Some("pub") || punct(i - 1, ')'));
                    let mut j = i + 1;
                    if sep(j) {
                        j += 1;
                    }
                    let (paths, next) = use_tree(&toks, j);
                    for (segments, alias) in paths {
                        let line = toks[i].line;
                        let anchor = match segments.first().map(String::as_str) {
                            Some("crate") => Anchor::Crate,
                            Some("super") => {
                                Anchor::Super(segments.iter().take_while(|s| *s == "super").count())
                            }
                            Some("self") => Anchor::SelfMod,
                            _ => Anchor::Relative,
                        };
                        let skip = match anchor {
                            Anchor::Crate | Anchor::SelfMod => 1,
                            Anchor::Super(n) => n,
                            Anchor::Relative => 0,
                        };
                        let mut rest: Vec<String> = segments[skip..].to_vec();
                        if rest.last().map(String::as_str) == Some("self") {
                            rest.pop();
                        }
                        let reexport_as = if public && rest.last().is_some_and(|s| s != "*") {
                            Some(alias.unwrap_or_else(|| rest.last().cloned().unwrap_or_default()))
                        } else {
                            None
                        };
                        self.named.push(Named {
                            from: here.clone(),
                            anchor,
                            segments: rest,
                            reexport_as,
                            file: file.to_path_buf(),
                            line,
                        });
                    }
                    i = next;
                }
                // A path in code: from `crate`, `super` or `self`, or from a name
                // (`trigger::trigger_call` in a route table), which is a child module's item if
                // the name is a child module (checked once every module is known) and another
                // crate's otherwise.
                Tok::Ident(w)
                    if sep(i + 1)
                        && !(i > 0 && (sep(i - 1) || punct(i - 1, '$')))
                        && (["crate", "super", "self"].contains(&w.as_str())
                            || ident(i + 2).is_some()) =>
                {
                    let (anchor, mut j, mut segments) = match w.as_str() {
                        "super" => {
                            let mut n = 0;
                            let mut j = i;
                            while ident(j) == Some("super") && sep(j + 1) {
                                n += 1;
                                j += 2;
                            }
                            (Anchor::Super(n), j, vec![])
                        }
                        "crate" => (Anchor::Crate, i + 2, vec![]),
                        "self" => (Anchor::SelfMod, i + 2, vec![]),
                        _ => (Anchor::Relative, i + 2, vec![w.clone()]),
                    };
                    while let Some(s) = ident(j) {
                        segments.push(s.to_string());
                        if !sep(j + 1) {
                            break;
                        }
                        j += 2;
                    }
                    self.named.push(Named {
                        from: here,
                        anchor,
                        segments,
                        reexport_as: None,
                        file: file.to_path_buf(),
                        line: toks[i].line,
                    });
                    i = j.max(i + 1);
                }
                _ => i += 1,
            }
        }
    }

    /// Absolute paths of every named path, re-exports followed, then the module each names.
    fn resolve(self) -> CrateGraph {
        let modules = self.modules;
        let files = self.files;
        let absolute = |n: &Named| -> Option<ModPath> {
            let mut base: ModPath = match n.anchor {
                Anchor::Crate => vec![],
                Anchor::SelfMod => n.from.clone(),
                Anchor::Super(k) => n.from[..n.from.len().checked_sub(k)?].to_vec(),
                Anchor::Relative => {
                    let mut child = n.from.clone();
                    child.push(n.segments.first()?.clone());
                    if !modules.contains(&child) {
                        return None;
                    }
                    n.from.clone()
                }
            };
            base.extend(n.segments.iter().cloned());
            Some(base)
        };
        let mut reexports: BTreeMap<(ModPath, String), ModPath> = BTreeMap::new();
        for n in &self.named {
            if let (Some(name), Some(abs)) = (&n.reexport_as, absolute(n)) {
                reexports.insert((n.from.clone(), name.clone()), abs);
            }
        }
        // The module a path lands in: its longest module prefix, through re-exports.
        let land = |mut path: ModPath| -> ModPath {
            for _ in 0..8 {
                let k = (0..=path.len())
                    .rev()
                    .find(|k| modules.contains(&path[..*k]))
                    .unwrap_or(0);
                let module = path[..k].to_vec();
                match path
                    .get(k)
                    .and_then(|name| reexports.get(&(module.clone(), name.clone())))
                {
                    Some(target) if *target != path[..=k] => {
                        let mut next = target.clone();
                        next.extend(path[k + 1..].iter().cloned());
                        path = next;
                    }
                    _ => return module,
                }
            }
            vec![]
        };
        let mut refs = BTreeMap::new();
        for n in &self.named {
            let Some(abs) = absolute(n) else { continue };
            let to = land(abs.clone());
            if n.reexport_as.is_some() && to.len() > n.from.len() && to[..n.from.len()] == n.from {
                // A module re-exporting its descendant's item: an alias, not a use.
                continue;
            }
            refs.entry((n.from.clone(), to)).or_insert_with(|| Witness {
                file: n.file.clone(),
                line: n.line,
                path: format!("crate::{}", abs.join("::")),
            });
        }
        CrateGraph {
            modules,
            files,
            refs,
        }
    }
}

/// The index of the bracket closing the one at `open`.
fn matching(toks: &[Token], open: usize) -> usize {
    let mut depth = 0i32;
    for (j, t) in toks.iter().enumerate().skip(open) {
        match t.tok {
            Tok::Punct('[' | '(' | '{') => depth += 1,
            Tok::Punct(']' | ')' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return j;
                }
            }
            _ => {}
        }
    }
    toks.len()
}

/// The index after the item starting at `i`: after its `;`, or after its `{...}` body,
/// whichever comes first outside brackets (or after a closing `}` of the enclosing block, a
/// field or an arm ending at `,`).
fn end_of_item(toks: &[Token], mut i: usize) -> usize {
    while i < toks.len() {
        match toks[i].tok {
            Tok::Punct(';') | Tok::Punct(',') => return i + 1,
            Tok::Punct('{') => return matching(toks, i) + 1,
            Tok::Punct('(' | '[') => i = matching(toks, i) + 1,
            Tok::Punct('}') => return i,
            _ => i += 1,
        }
    }
    i
}

/// A path of a `use` tree and the name it is imported as (`as`), if renamed.
type UsePath = (Vec<String>, Option<String>);

/// The paths of a `use` tree starting at `i` (with the `as` name of each, if any), and the index
/// after it.
fn use_tree(toks: &[Token], mut i: usize) -> (Vec<UsePath>, usize) {
    let mut prefix = Vec::new();
    loop {
        match toks.get(i).map(|t| &t.tok) {
            Some(Tok::Ident(s)) => {
                prefix.push(s.clone());
                i += 1;
                if toks.get(i).map(|t| &t.tok) == Some(&Tok::Sep) {
                    i += 1;
                    continue;
                }
                let mut alias = None;
                if let (Some(Tok::Ident(a)), Some(Tok::Ident(name))) =
                    (toks.get(i).map(|t| &t.tok), toks.get(i + 1).map(|t| &t.tok))
                {
                    if a == "as" {
                        alias = Some(name.clone());
                        i += 2;
                    }
                }
                return (vec![(prefix, alias)], skip_semi(toks, i));
            }
            Some(Tok::Punct('*')) => {
                prefix.push("*".into());
                return (vec![(prefix, None)], skip_semi(toks, i + 1));
            }
            Some(Tok::Punct('{')) => {
                let mut out = Vec::new();
                i += 1;
                while i < toks.len() && toks[i].tok != Tok::Punct('}') {
                    let (inner, next) = use_tree(toks, i);
                    for (p, a) in inner {
                        let mut full = prefix.clone();
                        full.extend(p);
                        out.push((full, a));
                    }
                    i = next;
                    if toks.get(i).map(|t| &t.tok) == Some(&Tok::Punct(',')) {
                        i += 1;
                    }
                }
                return (out, skip_semi(toks, i + 1));
            }
            _ => return (vec![(prefix, None)], i),
        }
    }
}

fn skip_semi(toks: &[Token], i: usize) -> usize {
    if toks.get(i).map(|t| &t.tok) == Some(&Tok::Punct(';')) {
        i + 1
    } else {
        i
    }
}

/// The cycles of a graph: for each edge `a -> b` that lies on a cycle, the shortest way back
/// from `b` to `a`, each cycle once (written from its smallest node).
pub fn cycles(edges: &BTreeMap<String, BTreeMap<String, Witness>>) -> Vec<Vec<String>> {
    let next = |n: &str| -> Vec<String> {
        edges
            .get(n)
            .map(|e| e.keys().cloned().collect())
            .unwrap_or_default()
    };
    // The shortest path from `from` to `to` (both included), if any.
    let path = |from: &str, to: &str| -> Option<Vec<String>> {
        let mut prev: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = VecDeque::from([from.to_string()]);
        while let Some(m) = queue.pop_front() {
            if m == to {
                let mut way = vec![m.clone()];
                let mut at = m;
                while let Some(p) = prev.get(&at) {
                    way.push(p.clone());
                    at = p.clone();
                }
                way.reverse();
                return Some(way);
            }
            for d in next(&m) {
                if d != from && !prev.contains_key(&d) {
                    prev.insert(d.clone(), m.clone());
                    queue.push_back(d);
                }
            }
        }
        None
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (a, targets) in edges {
        for b in targets.keys() {
            let Some(back) = path(b, a) else { continue };
            let mut ring: Vec<String> = std::iter::once(a.clone()).chain(back).collect();
            ring.pop();
            let start = (0..ring.len()).min_by_key(|i| &ring[*i]).unwrap_or(0);
            ring.rotate_left(start);
            if seen.insert(ring.clone()) {
                ring.push(ring[0].clone());
                out.push(ring);
            }
        }
    }
    out
}

/// Layers of the children of a level: 0 names no sibling; each other module sits one above the
/// highest sibling it names. `None` if there is a cycle.
pub fn layers(edges: &BTreeMap<String, BTreeMap<String, Witness>>) -> Option<Vec<Vec<String>>> {
    let mut layer: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..=edges.len() {
        let mut changed = false;
        for (m, ds) in edges {
            let l = ds
                .keys()
                .map(|d| layer.get(d).map_or(1, |l| l + 1))
                .max()
                .unwrap_or(0);
            if layer.get(m) != Some(&l) {
                layer.insert(m.clone(), l);
                changed = true;
            }
        }
        if !changed {
            let top = layer.values().max().copied().unwrap_or(0);
            let mut out = vec![Vec::new(); top + 1];
            for (m, l) in layer {
                out[l].push(m);
            }
            return Some(out);
        }
    }
    None
}
