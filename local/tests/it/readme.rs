//! README.md's Quickstart, run for real (issue 27): every ```sh block between the headings
//! `## Quickstart` and `### A sample run` is read at test time, split into commands as bash
//! would split it, and each command is run against a real local stack (the `local-stack`
//! binary that `make run` starts) or, where it cannot run as written, checked; then its output
//! is checked for what the README says it shows. A README edit that breaks a command, drops
//! one, or adds one this test does not know fails here.

use crate::stack::Stack;
use base64::Engine;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long a stack may take to print "local stack ready" (moto is slow on 2 cores).
const READY_WITHIN: Duration = Duration::from_secs(120);
/// How long a webhook, or a row of the delivery log, may take to arrive.
const WEBHOOK_WITHIN: Duration = Duration::from_secs(60);
/// Marks the status line that the test's `.curlrc` makes curl print after each body.
const STATUS_MARK: &str = "@@readme-test http_code=";

/// One command of a README block: the code bash runs (continuation lines joined, comments
/// removed, as bash itself reads it), the comment that followed it, and its README line.
#[derive(Debug, Clone)]
struct ReadmeCommand {
    code: String,
    comment: String,
    line: usize,
}

impl std::fmt::Display for ReadmeCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "README.md:{}: `{}`", self.line, self.code)
    }
}

/// What a README command is, hence how it is run and what is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// `make run`: the stack this test starts.
    MakeRun,
    /// `VAR=value ... make run`: the stack again, with settings.
    MakeRunWith,
    /// `export BVAI_API=... BVAI_API_KEY=...`: the variables the other commands use.
    Export,
    TriggerCall,
    Deliveries,
    TestSend,
    InboundCall,
    Faults,
    /// `curl -X DELETE <provider>/sim/faults`: the knobs back to normal (optional).
    FaultsReset,
}

/// The commands the Quickstart must have (each is what a paragraph of it promises).
const REQUIRED: [Kind; 8] = [
    Kind::MakeRun,
    Kind::MakeRunWith,
    Kind::Export,
    Kind::TriggerCall,
    Kind::Deliveries,
    Kind::TestSend,
    Kind::InboundCall,
    Kind::Faults,
];

#[tokio::test]
async fn readme_quickstart_shell_blocks_run_against_the_local_stack() {
    let readme_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("README.md");
    let commands = quickstart_commands(&readme);
    assert!(!commands.is_empty(), "no ```sh block in the Quickstart");
    for c in &commands {
        eprintln!("readme test: {c}");
    }
    let mut run = Run::new(commands.clone());
    let mut seen = BTreeSet::new();
    for cmd in &commands {
        let kind = classify(cmd);
        seen.insert(kind);
        match kind {
            Kind::MakeRun => run.make_run(cmd).await,
            Kind::MakeRunWith => run.make_run_with(cmd).await,
            Kind::Export => run.export(cmd),
            Kind::TriggerCall => run.trigger_call(cmd).await,
            Kind::Deliveries => run.deliveries(cmd).await,
            Kind::TestSend => run.test_send(cmd).await,
            Kind::InboundCall => run.inbound_call(cmd).await,
            Kind::Faults => run.faults(cmd).await,
            Kind::FaultsReset => run.faults_reset(cmd).await,
        }
        eprintln!("readme test: ok {cmd}");
    }
    let missing: Vec<Kind> = REQUIRED
        .iter()
        .copied()
        .filter(|k| !seen.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "the Quickstart no longer has these commands: {missing:?} (update this test with it)"
    );
    run.finish();
}

// ---------------------------------------------------------------------------------------------
// Reading the README.

/// The commands of every ```sh block between `## Quickstart` and `### A sample run`.
fn quickstart_commands(readme: &str) -> Vec<ReadmeCommand> {
    let lines: Vec<&str> = readme.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_end() == "## Quickstart")
        .expect("a `## Quickstart` heading in README.md");
    let end = start
        + lines[start..]
            .iter()
            .position(|l| l.trim_end() == "### A sample run")
            .expect("a `### A sample run` heading after the Quickstart in README.md");
    let mut commands = Vec::new();
    let mut i = start + 1;
    while i < end {
        let Some(lang) = lines[i].trim().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let lang = lang.trim();
        let close = i
            + 1
            + lines[i + 1..end]
                .iter()
                .position(|l| l.trim() == "```")
                .unwrap_or_else(|| panic!("README.md:{}: a code block never closed", i + 1));
        assert!(
            !matches!(lang, "bash" | "shell" | "console" | "zsh" | "shell-session"),
            "README.md:{}: a ```{lang} block in the Quickstart: this test runs the ```sh blocks",
            i + 1
        );
        if lang == "sh" {
            commands.extend(split_commands(&lines[i + 1..close], i + 2));
        }
        i = close + 1;
    }
    commands
}

/// Splits a block into commands as bash reads it: a newline ends a command unless it is
/// quoted or escaped (a line ending in `\` continues), and `#` starts a comment only at the
/// start of a word, outside quotes and not escaped. `first_line` is the block's first README
/// line (1-based).
fn split_commands(lines: &[&str], first_line: usize) -> Vec<ReadmeCommand> {
    let text = lines.join("\n") + "\n";
    let mut out = Vec::new();
    let mut code = String::new();
    let mut comment = String::new();
    let mut line = first_line;
    let mut start: Option<usize> = None;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    let mut finish = |code: &mut String, comment: &mut String, start: &mut Option<usize>| {
        let c = code.trim();
        if !c.is_empty() {
            out.push(ReadmeCommand {
                code: c.to_string(),
                comment: comment.trim().to_string(),
                line: start.unwrap_or(first_line),
            });
        }
        code.clear();
        comment.clear();
        *start = None;
    };
    while let Some(c) = chars.next() {
        if start.is_none() && !c.is_whitespace() {
            start = Some(line);
        }
        match (quote, c) {
            (Some('\''), '\'') => {
                quote = None;
                code.push(c);
            }
            (Some('\''), _) => code.push(c),
            // A backslash escapes the next character (in double quotes too, for a newline);
            // before a newline it continues the command on the next line.
            (_, '\\') => match chars.next() {
                Some('\n') => line += 1,
                Some(n) => {
                    code.push('\\');
                    code.push(n);
                }
                None => code.push('\\'),
            },
            (Some(_), '"') => {
                quote = None;
                code.push(c);
            }
            (Some(_), _) => code.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                code.push(c);
            }
            (None, '#')
                if code.is_empty()
                    || code.ends_with(|p: char| p.is_whitespace() || ";&|()".contains(p)) =>
            {
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                    comment.push(n);
                }
                finish(&mut code, &mut comment, &mut start);
                line += 1;
            }
            (None, '\n') => finish(&mut code, &mut comment, &mut start),
            (None, _) => code.push(c),
        }
        if c == '\n' {
            line += 1;
        }
    }
    assert!(
        quote.is_none(),
        "README.md:{first_line}: a quote never closed in the block"
    );
    out
}

/// The words of a command as bash would pass them (quotes removed; no expansion).
fn words(code: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut w = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = code.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => match chars.next() {
                Some(n) if "$`\"\\".contains(n) => w.push(n),
                Some(n) => {
                    w.push('\\');
                    w.push(n);
                }
                None => w.push('\\'),
            },
            (Some(_), c) => w.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    w.push(n);
                }
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut w));
                    in_word = false;
                }
            }
            (None, c) => {
                w.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(w);
    }
    words
}

/// The shell variables a command expands (`$NAME`, `${NAME}`; not inside single quotes).
fn referenced_vars(code: &str) -> BTreeSet<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut vars = BTreeSet::new();
    let mut in_single = false;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\'' => in_single = !in_single,
            '\\' if !in_single => i += 1,
            '$' if !in_single => {
                let mut j = i + 1;
                let braced = chars.get(j) == Some(&'{');
                if braced {
                    j += 1;
                }
                let name: String = chars[j..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                    .collect();
                if !name.is_empty() {
                    vars.insert(name);
                }
            }
            _ => {}
        }
        i += 1;
    }
    vars
}

/// `NAME=value` (a shell assignment word) as a pair.
fn assignment(word: &str) -> Option<(String, String)> {
    let (name, value) = word.split_once('=')?;
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then(|| (name.to_string(), value.to_string()))
}

fn classify(cmd: &ReadmeCommand) -> Kind {
    let w = words(&cmd.code);
    let assignments = w.iter().take_while(|x| assignment(x).is_some()).count();
    if w[assignments..] == ["make", "run"] {
        return if assignments == 0 {
            Kind::MakeRun
        } else {
            Kind::MakeRunWith
        };
    }
    if w.first().map(String::as_str) == Some("export") {
        return Kind::Export;
    }
    assert_eq!(
        w.first().map(String::as_str),
        Some("curl"),
        "{cmd}: this test does not know this command: teach it what the command shows"
    );
    let method = w
        .iter()
        .position(|x| x == "-X" || x == "--request")
        .and_then(|i| w.get(i + 1))
        .map(String::as_str)
        .unwrap_or("GET");
    let url = w
        .iter()
        .find(|x| x.starts_with("http://") || x.starts_with("https://") || x.starts_with('$'))
        .unwrap_or_else(|| panic!("{cmd}: no URL"));
    let path = match url.strip_prefix("$BVAI_API") {
        Some(p) => p,
        None => url
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
            .unwrap_or_else(|| panic!("{cmd}: the URL {url} has no path")),
    };
    match (method, path) {
        ("POST", "/api/trigger-call") => Kind::TriggerCall,
        ("GET", "/api/integrations/api-webhooks/deliveries") => Kind::Deliveries,
        ("POST", "/api/integrations/api-webhooks/test") => Kind::TestSend,
        ("POST", "/sim/inbound-call") => Kind::InboundCall,
        ("POST", "/sim/faults") => Kind::Faults,
        ("DELETE", "/sim/faults") => Kind::FaultsReset,
        _ => panic!("{cmd}: this test does not know {method} {path}: teach it what it shows"),
    }
}

// ---------------------------------------------------------------------------------------------
// Running it.

/// A started stack and what its `stack.json` says.
struct Running {
    stack: Stack,
    dir: PathBuf,
    api: String,
    key: String,
    receiver_url: String,
    receiver_origin: String,
    receiver_log: PathBuf,
    provider: String,
}

impl Running {
    async fn start(extra: &[(&str, &str)]) -> Running {
        let dir = std::env::temp_dir().join(format!("readme-{}", uuid::Uuid::new_v4().simple()));
        let mut stack = Stack::start_with(&dir, extra);
        stack.wait_for_line("local stack ready", READY_WITHIN).await;
        let info: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("stack.json")).expect("stack.json"),
        )
        .expect("JSON");
        let s = |k: &str| {
            info[k]
                .as_str()
                .unwrap_or_else(|| panic!("{k} in stack.json"))
                .to_string()
        };
        let receiver_url = s("receiver_url");
        let receiver_origin = url::Url::parse(&receiver_url)
            .expect("receiver_url")
            .origin()
            .ascii_serialization();
        Running {
            stack,
            dir,
            api: s("api_base_url"),
            key: s("api_key"),
            receiver_origin,
            receiver_url,
            receiver_log: PathBuf::from(s("receiver_log")),
            provider: s("provider_url"),
        }
    }

    /// The command for this stack: the README's fixed addresses (API_PORT 3000, RECEIVER_PORT
    /// 3001, PROVIDER_PORT 3002, what `make run` uses by default) replaced with the ports the
    /// OS gave this stack. Any other local address in a command is an error.
    fn localize(&self, cmd: &ReadmeCommand) -> String {
        let code = &cmd.code;
        assert!(
            !code.contains("localhost"),
            "{cmd}: localhost is not mapped"
        );
        let prefix = "http://127.0.0.1:";
        let mut out = String::new();
        let mut rest = code.as_str();
        while let Some(i) = rest.find(prefix) {
            out.push_str(&rest[..i]);
            let after = &rest[i + prefix.len()..];
            let digits = after.chars().take_while(char::is_ascii_digit).count();
            let real = match &after[..digits] {
                "3000" => &self.api,
                "3001" => &self.receiver_origin,
                "3002" => &self.provider,
                port => panic!("{cmd}: port {port} is not one of the README's 3000, 3001, 3002"),
            };
            out.push_str(real.trim_end_matches('/'));
            rest = &after[digits..];
        }
        out.push_str(rest);
        out
    }

    /// Runs a README curl command with `bash -c`, `BVAI_API` and `BVAI_API_KEY` set as the
    /// README's export line sets them; its body and HTTP status.
    fn curl(&self, cmd: &ReadmeCommand, curl_home: &Path) -> (Value, u16) {
        let code = self.localize(cmd);
        // A `.curlrc` (CURL_HOME) makes curl print the HTTP status after the body, so the
        // command runs exactly as written and its status can still be checked.
        let out = Command::new("bash")
            .args(["-c", &code])
            .env("BVAI_API", &self.api)
            .env("BVAI_API_KEY", &self.key)
            .env("CURL_HOME", curl_home)
            .output()
            .expect("run bash");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{cmd} failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let (marks, body): (Vec<&str>, Vec<&str>) =
            stdout.lines().partition(|l| l.starts_with(STATUS_MARK));
        assert_eq!(marks.len(), 1, "{cmd}: one request expected:\n{stdout}");
        let status: u16 = marks[0][STATUS_MARK.len()..]
            .trim()
            .parse()
            .expect("status");
        let body = body.join("\n");
        let json = serde_json::from_str(body.trim())
            .unwrap_or_else(|e| panic!("{cmd} does not print JSON ({e}):\n{stdout}"));
        (json, status)
    }

    /// The receiver's JSON-lines log, each entry with its decoded body as `body`.
    fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.receiver_log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let mut e: Value = serde_json::from_str(l).expect("JSON line");
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(e["body_base64"].as_str().unwrap_or_default())
                    .expect("base64");
                e["body"] = serde_json::from_slice(&raw).unwrap_or(Value::Null);
                e
            })
            .collect()
    }

    /// Awaits a receiver log entry matching `pred`.
    async fn await_received(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WEBHOOK_WITHIN;
        loop {
            if let Some(e) = self.received().into_iter().find(|e| pred(e)) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver never got {what}:\n{}",
                self.stack.output().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Awaits the rows of the delivery log (over HTTP) until `pred` holds for them.
    async fn await_deliveries(&self, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + WEBHOOK_WITHIN;
        loop {
            let log: Value = client
                .get(format!(
                    "{}/api/integrations/api-webhooks/deliveries?limit=100",
                    self.api
                ))
                .send()
                .await
                .expect("deliveries")
                .json()
                .await
                .expect("JSON");
            let rows = log["deliveries"].as_array().cloned().unwrap_or_default();
            if pred(&rows) {
                return rows;
            }
            assert!(
                Instant::now() < deadline,
                "the delivery log never showed {what}: {log}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Awaits the receiver's line for `attempt` of `call_id`'s `call.completed`; the line.
    async fn receiver_line(&mut self, call_id: &str, attempt: u32) -> String {
        self.stack
            .wait_for_line(
                &format!(
                    "receiver: POST /webhooks call.completed call_id={call_id} attempt={attempt} "
                ),
                WEBHOOK_WITHIN,
            )
            .await
    }

    /// Awaits `call_id`'s first attempt, verified (both signatures) and accepted.
    async fn verified_and_accepted(&mut self, cmd: &ReadmeCommand, call_id: &str) {
        let line = self.receiver_line(call_id, 1).await;
        assert!(
            line.contains("verified=yes (x-signature ok, webhook-signature ok)")
                && line.ends_with("-> 200"),
            "{cmd}: {line}"
        );
    }
}

/// A call placed by the README's trigger-call command.
#[derive(Clone)]
struct Placed {
    call_id: String,
    event_id: String,
}

struct Run {
    commands: Vec<ReadmeCommand>,
    running: Option<Running>,
    curl_home: PathBuf,
    placed: Option<Placed>,
    dirs: Vec<PathBuf>,
}

impl Run {
    fn new(commands: Vec<ReadmeCommand>) -> Run {
        let curl_home =
            std::env::temp_dir().join(format!("readme-curl-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&curl_home).expect("curl home");
        std::fs::write(
            curl_home.join(".curlrc"),
            format!("write-out = \"\\n{STATUS_MARK}%{{http_code}}\\n\"\nmax-time = 60\n"),
        )
        .expect(".curlrc");
        Run {
            commands,
            running: None,
            curl_home: curl_home.clone(),
            placed: None,
            dirs: vec![curl_home],
        }
    }

    fn stack(&mut self, cmd: &ReadmeCommand) -> &mut Running {
        self.running
            .as_mut()
            .unwrap_or_else(|| panic!("{cmd} comes before `make run` in the README"))
    }

    /// Stops the running stack, if any (SIGTERM, then SIGKILL: `Stack`'s drop).
    fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            self.dirs.push(r.dir.clone());
            drop(r);
        }
    }

    /// `make run`: not run (it is the stack this test starts, with every port chosen by the
    /// OS and its own directory); started here, where the README starts it.
    async fn make_run(&mut self, cmd: &ReadmeCommand) {
        assert!(
            self.running.is_none(),
            "{cmd}: a second `make run` while the first runs"
        );
        self.running = Some(Running::start(&[]).await);
    }

    /// `export BVAI_API=http://127.0.0.1:3000 BVAI_API_KEY=bvai_live_...`: not run (the key is a
    /// placeholder). It must export exactly the variables the other commands use, the API's
    /// address, and a key of the printed key's shape; and it must say `make run` prints it,
    /// which `make run` does.
    fn export(&mut self, cmd: &ReadmeCommand) {
        let exported: Vec<(String, String)> = words(&cmd.code)[1..]
            .iter()
            .map(|w| assignment(w).unwrap_or_else(|| panic!("{cmd}: {w} is not NAME=value")))
            .collect();
        let names: BTreeSet<String> = exported.iter().map(|(n, _)| n.clone()).collect();
        let used: BTreeSet<String> = self
            .commands
            .iter()
            .filter(|c| classify(c) != Kind::Export)
            .flat_map(|c| referenced_vars(&c.code))
            .collect();
        assert_eq!(
            names, used,
            "{cmd}: exports other variables than the commands use"
        );
        assert!(
            cmd.comment.contains("printed by make run"),
            "{cmd}: the comment says where the key comes from (`make run`): {:?}",
            cmd.comment
        );
        let value = |name: &str| {
            exported
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("{cmd}: no {name}"))
        };
        let r = self.stack(cmd);
        let api = r.localize(&ReadmeCommand {
            code: value("BVAI_API"),
            ..cmd.clone()
        });
        assert_eq!(api, r.api, "{cmd}: BVAI_API is the API's address");
        let placeholder = value("BVAI_API_KEY");
        let shape = placeholder
            .strip_suffix("...")
            .unwrap_or_else(|| panic!("{cmd}: the key {placeholder} is a placeholder (`...`)"));
        assert!(
            r.key.starts_with(shape) && shape.starts_with("bvai_live_"),
            "{cmd}: the key has the shape of the real one"
        );
        let printed = r.stack.output().iter().any(|l| l.trim() == r.key);
        assert!(printed, "make run prints the key on a line of its own");
    }

    /// The trigger-call curl prints `{"success": true, "call_id": ...}`; the make-run log then
    /// shows the event stored and queued, and the receiver prints the signed call.completed
    /// with `verified=yes` for both signatures.
    async fn trigger_call(&mut self, cmd: &ReadmeCommand) {
        let curl_home = self.curl_home.clone();
        let r = self.stack(cmd);
        let call_id = place_call(r, cmd, &curl_home);
        let stored = r
            .stack
            .wait_for_line(
                &format!("call completed; event stored call_id={call_id} "),
                WEBHOOK_WITHIN,
            )
            .await;
        let event_id = stored
            .split_once("event_id=")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("an event_id in {stored}"))
            .to_string();
        r.stack
            .wait_for_line(
                &format!("event queued for delivery event_id={event_id} call_id={call_id}"),
                WEBHOOK_WITHIN,
            )
            .await;
        r.verified_and_accepted(cmd, &call_id).await;
        let entry = r
            .await_received("the call's webhook", |e| {
                e["body"]["call_id"] == call_id.as_str()
            })
            .await;
        assert_eq!(entry["body"]["event"], "call.completed", "{cmd}");
        assert_eq!(entry["headers"]["webhook-id"], event_id.as_str(), "{cmd}");
        self.placed = Some(Placed { call_id, event_id });
    }

    /// The deliveries curl prints the delivery log (docs/settings-api.md): `success`,
    /// `deliveries` newest first, `next_cursor`; the call's webhook is there, delivered.
    async fn deliveries(&mut self, cmd: &ReadmeCommand) {
        let placed = self
            .placed
            .clone()
            .unwrap_or_else(|| panic!("{cmd}: shown before any call was placed"));
        let curl_home = self.curl_home.clone();
        let r = self.stack(cmd);
        // The attempt is written just after the receiver answers: await it.
        r.await_deliveries("the call's delivery", |rows| {
            rows.iter().any(|d| d["call_id"] == placed.call_id.as_str())
        })
        .await;
        let (body, status) = r.curl(cmd, &curl_home);
        assert_eq!(status, 200, "{cmd}: {body}");
        assert_eq!(body["success"], true, "{cmd}: {body}");
        assert!(
            body.get("next_cursor").is_some(),
            "{cmd}: next_cursor: {body}"
        );
        let rows = body["deliveries"].as_array().expect("deliveries");
        let row = rows
            .iter()
            .find(|d| d["call_id"] == placed.call_id.as_str())
            .unwrap_or_else(|| panic!("{cmd}: the call's delivery in {body}"));
        assert_eq!(row["event_id"], placed.event_id.as_str(), "{row}");
        assert_eq!(row["attempt"], 1, "{row}");
        assert_eq!(row["outcome"], "delivered", "{row}");
        assert_eq!(row["http_status"], 200, "{row}");
        assert_eq!(row["trigger"], "automatic", "{row}");
        assert_eq!(row["url"], r.receiver_url.as_str(), "{row}");
        assert!(row["duration_ms"].is_u64(), "{row}");
        assert!(row["attempted_at"].is_string(), "{row}");
    }

    /// The test-send curl answers success (delivered, HTTP 200) and the receiver logs the
    /// test webhook (`"test": true`), verified and accepted.
    async fn test_send(&mut self, cmd: &ReadmeCommand) {
        let curl_home = self.curl_home.clone();
        let r = self.stack(cmd);
        let (body, status) = r.curl(cmd, &curl_home);
        assert_eq!(status, 200, "{cmd}: {body}");
        assert_eq!(body["success"], true, "{cmd}: {body}");
        assert_eq!(body["delivered"], true, "{cmd}: {body}");
        assert_eq!(body["status_code"], 200, "{cmd}: {body}");
        assert!(body["error"].is_null(), "{cmd}: {body}");
        let event_id = body["event_id"].as_str().expect("event_id").to_string();
        let entry = r
            .await_received("the test webhook", |e| {
                e["headers"]["webhook-id"] == event_id.as_str()
            })
            .await;
        assert_eq!(entry["body"]["test"], true, "{entry}");
        assert_eq!(entry["body"]["event"], "call.completed", "{entry}");
        let call_id = entry["body"]["call_id"]
            .as_str()
            .expect("call_id")
            .to_string();
        r.verified_and_accepted(cmd, &call_id).await;
    }

    /// The inbound-call curl makes the simulator play an inbound call; a call.completed for
    /// an inbound call from that number then reaches the receiver, verified and accepted.
    async fn inbound_call(&mut self, cmd: &ReadmeCommand) {
        let curl_home = self.curl_home.clone();
        let r = self.stack(cmd);
        let (body, status) = r.curl(cmd, &curl_home);
        assert!((200..300).contains(&status), "{cmd}: {status} {body}");
        assert_eq!(body["direction"], "inbound", "{cmd}: {body}");
        let from = body["from_number"]
            .as_str()
            .expect("from_number")
            .to_string();
        let entry = r
            .await_received("the inbound call's call.completed", |e| {
                e["body"]["event"] == "call.completed"
                    && e["body"]["direction"] == "inbound"
                    && e["body"]["phone_number"] == from.as_str()
            })
            .await;
        assert_eq!(entry["body"]["metadata"], serde_json::json!({}), "{entry}");
        let call_id = entry["body"]["call_id"]
            .as_str()
            .expect("call_id")
            .to_string();
        r.verified_and_accepted(cmd, &call_id).await;
    }

    /// The faults curl answers 200, and `GET /sim/faults` then shows the knobs it set.
    async fn faults(&mut self, cmd: &ReadmeCommand) {
        let w = words(&cmd.code);
        let sent: Value = w
            .iter()
            .position(|x| matches!(x.as_str(), "-d" | "--data" | "--data-raw"))
            .and_then(|i| w.get(i + 1))
            .map(|d| serde_json::from_str(d).expect("the -d body is JSON"))
            .unwrap_or_else(|| panic!("{cmd}: no -d body"));
        let curl_home = self.curl_home.clone();
        let r = self.stack(cmd);
        let (body, status) = r.curl(cmd, &curl_home);
        assert_eq!(status, 200, "{cmd}: {body}");
        let shown: Value = reqwest::get(format!("{}/sim/faults", r.provider))
            .await
            .expect("GET /sim/faults")
            .json()
            .await
            .expect("JSON");
        for (k, v) in sent.as_object().expect("the knobs are an object") {
            assert_eq!(&shown[k], v, "{cmd}: GET /sim/faults shows {shown}");
        }
    }

    /// The knobs-reset curl answers 200, and `GET /sim/faults` then shows every knob normal.
    async fn faults_reset(&mut self, cmd: &ReadmeCommand) {
        let curl_home = self.curl_home.clone();
        let r = self.stack(cmd);
        let (body, status) = r.curl(cmd, &curl_home);
        assert_eq!(status, 200, "{cmd}: {body}");
        let shown: Value = reqwest::get(format!("{}/sim/faults", r.provider))
            .await
            .expect("GET /sim/faults")
            .json()
            .await
            .expect("JSON");
        assert_eq!(
            shown,
            serde_json::json!({"create_call": "ok", "omit_events": [], "duplicate_callbacks": false, "reverse_order": false}),
            "{cmd}"
        );
    }

    /// `VAR=value ... make run`: `make run` again with those settings. The first stack is
    /// stopped first, as it must be (the README's fixed ports and `.local/` would clash with
    /// a second one). The line promises retries: one call placed with the README's
    /// trigger-call curl is answered with a failure by the receiver for the first
    /// `RECEIVER_FAIL_FIRST` attempts, each retried after the next of `WEBHOOK_RETRY_DELAYS`,
    /// then verified and accepted.
    async fn make_run_with(&mut self, cmd: &ReadmeCommand) {
        let w = words(&cmd.code);
        let vars: Vec<(String, String)> = w[..w.len() - 2]
            .iter()
            .map(|x| assignment(x).expect("NAME=value"))
            .collect();
        for (name, value) in &vars {
            assert!(
                !value.contains('$'),
                "{cmd}: {name}'s value is expanded by the shell: not supported here"
            );
        }
        let get = |name: &str| vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let fail_first: u32 = get("RECEIVER_FAIL_FIRST")
            .unwrap_or_else(|| panic!("{cmd}: sets no RECEIVER_FAIL_FIRST: what does it show?"))
            .parse()
            .expect("RECEIVER_FAIL_FIRST is a number");
        assert!(
            fail_first > 0,
            "{cmd}: RECEIVER_FAIL_FIRST=0 shows no retry"
        );
        let delays: Vec<Duration> = get("WEBHOOK_RETRY_DELAYS")
            .map(|d| d.split(',').map(duration).collect())
            .unwrap_or_default();
        let trigger = self
            .commands
            .iter()
            .find(|c| classify(c) == Kind::TriggerCall)
            .cloned()
            .expect("the README's trigger-call curl");

        self.stop();
        let env: Vec<(&str, &str)> = vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        self.running = Some(Running::start(&env).await);
        let curl_home = self.curl_home.clone();
        let r = self.stack(cmd);
        let call_id = place_call(r, &trigger, &curl_home);
        for attempt in 1..=fail_first {
            let line = r.receiver_line(&call_id, attempt).await;
            assert!(
                line.contains("verified=yes") && line.ends_with("-> 500"),
                "{cmd}: attempt {attempt} is refused on purpose: {line}"
            );
        }
        let line = r.receiver_line(&call_id, fail_first + 1).await;
        assert!(
            line.contains("verified=yes (x-signature ok, webhook-signature ok)")
                && line.ends_with("-> 200"),
            "{cmd}: attempt {} is verified and accepted: {line}",
            fail_first + 1
        );
        // Each retry came after its delay (the receiver's clock: when each request arrived).
        let at = |attempt: u32| {
            let e = r
                .received()
                .into_iter()
                .find(|e| {
                    e["body"]["call_id"] == call_id.as_str()
                        && e["headers"]["x-attempt"] == attempt.to_string().as_str()
                })
                .unwrap_or_else(|| panic!("attempt {attempt} in the receiver's log"));
            chrono::DateTime::parse_from_rfc3339(e["received_at"].as_str().expect("received_at"))
                .expect("received_at")
        };
        for (i, delay) in delays.iter().enumerate().take(fail_first as usize) {
            let attempt = i as u32 + 1;
            let gap = (at(attempt + 1) - at(attempt))
                .to_std()
                .expect("attempts in order");
            eprintln!(
                "readme test: attempt {} came {gap:?} after attempt {attempt} (delay {delay:?})",
                attempt + 1
            );
            assert!(
                gap >= *delay,
                "{cmd}: attempt {} came {gap:?} after attempt {attempt}, before its delay {delay:?}",
                attempt + 1
            );
        }
        // The delivery log shows the series: the failures, then the delivery.
        let rows = r
            .await_deliveries("the delivered retry", |rows| {
                rows.iter().any(|d| {
                    d["call_id"] == call_id.as_str()
                        && d["outcome"] == "delivered"
                        && d["attempt"] == fail_first + 1
                })
            })
            .await;
        let mut series: Vec<(u64, String, u64)> = rows
            .iter()
            .filter(|d| d["call_id"] == call_id.as_str())
            .map(|d| {
                (
                    d["attempt"].as_u64().expect("attempt"),
                    d["outcome"].as_str().expect("outcome").to_string(),
                    d["http_status"].as_u64().expect("http_status"),
                )
            })
            .collect();
        series.sort();
        let mut expected: Vec<(u64, String, u64)> = (1..=u64::from(fail_first))
            .map(|a| (a, "failed".to_string(), 500))
            .collect();
        expected.push((u64::from(fail_first) + 1, "delivered".to_string(), 200));
        assert_eq!(series, expected, "{cmd}: the delivery log");
    }

    /// Stops the stack and removes what the test wrote.
    fn finish(mut self) {
        self.stop();
        for d in &self.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Runs the README's trigger-call curl: `{"success": true, "call_id": ...}`; the call id.
fn place_call(r: &Running, cmd: &ReadmeCommand, curl_home: &Path) -> String {
    let (body, status) = r.curl(cmd, curl_home);
    assert_eq!(status, 200, "{cmd}: {body}");
    assert_eq!(body["success"], true, "{cmd}: {body}");
    body["call_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{cmd}: a call_id in {body}"))
        .to_string()
}

/// `1s`, `500ms`, `2m` (the forms the README's settings use).
fn duration(s: &str) -> Duration {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().unwrap_or_else(|_| panic!("a duration: {s:?}"));
    match unit {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(60 * n),
        _ => panic!("a duration: {s:?}"),
    }
}

#[test]
fn commands_are_split_as_bash_splits_them() {
    let block = [
        "export A=1 B=x...   # a comment",
        "curl -d '{\"a\": \"#not\"}' \\",
        "  -H 'X: y'  # two lines",
        "# only a comment",
        "echo a#b \\# \"c # d\"",
        "",
    ];
    let got: Vec<(String, String, usize)> = split_commands(&block, 10)
        .into_iter()
        .map(|c| (c.code, c.comment, c.line))
        .collect();
    assert_eq!(
        got,
        vec![
            ("export A=1 B=x...".into(), "a comment".into(), 10),
            (
                "curl -d '{\"a\": \"#not\"}'   -H 'X: y'".into(),
                "two lines".into(),
                11
            ),
            ("echo a#b \\# \"c # d\"".into(), String::new(), 14),
        ]
    );
    assert_eq!(
        words("X=1 curl -d '{\"a\": 1}' \"$B\" \\'"),
        ["X=1", "curl", "-d", "{\"a\": 1}", "$B", "'"]
    );
    assert_eq!(
        referenced_vars("curl \"$BVAI_API/x\" -H \"Bearer ${KEY}\" -d '$NOT'"),
        BTreeSet::from(["BVAI_API".to_string(), "KEY".to_string()])
    );
}
