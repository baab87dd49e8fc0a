//! The integration page in a real browser: `local-stack` started as `make run` starts it (its
//! own emulator, ports chosen by the OS), then `local/tests/browser/page_test.py` drives
//! Debian's headless chromium through Selenium against the page it serves: the key shown once,
//! the toggle, a bad then a good webhook URL, the default agent, a failing delivery and its
//! retries appearing in the log, its redelivery, a test send, recovery, paging, phone width;
//! then every settings card (signing secret, events, do-not-call list, calling rules, calls,
//! endpoint health), keyboard focus, and axe-core on every card (docs/local-stack.md).
//!
//! Fails, never skips, when the browser, its driver or Selenium is missing: `make test`
//! installs them (`make browser`).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::stack::{venv, Stack};

fn tool(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// Loud, specific failures for a machine without the browser test's tools.
fn require_tools(python: &Path, chromium: &Path, driver: &Path) {
    for (path, what) in [
        (chromium, "chromium (Debian package `chromium`)"),
        (driver, "chromedriver (Debian package `chromium-driver`)"),
    ] {
        assert!(
            path.exists(),
            "{what} not found at {}: run `make browser` (as root it installs it with apt-get; \
             otherwise `sudo apt-get install chromium chromium-driver`). This test never skips.",
            path.display()
        );
    }
    let selenium = Command::new(python)
        .args(["-c", "import selenium"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        selenium,
        "Selenium is not installed in {}: run `make browser` (tools/requirements-browser.txt)",
        python.display()
    );
}

#[tokio::test]
async fn the_page_works_in_a_real_browser() {
    let python = venv().join("bin/python");
    let chromium = tool("CHROMIUM", "/usr/bin/chromium");
    let driver = tool("CHROMEDRIVER", "/usr/bin/chromedriver");
    require_tools(&python, &chromium, &driver);

    let dir = std::env::temp_dir().join(format!("local-page-{}", uuid::Uuid::new_v4().simple()));
    let mut stack = Stack::start_with(
        &dir,
        &[
            ("RECEIVER_FAIL_FIRST", "4"),
            ("WEBHOOK_RETRY_DELAYS", "1s,2s,3s"),
        ],
    );
    stack
        .wait_for_line("local stack ready", Duration::from_secs(120))
        .await;
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("stack.json")).expect("stack.json"))
            .expect("JSON");
    let s = |k: &str| info[k].as_str().expect(k).to_string();
    let api = s("api_base_url");
    let page_line = stack.wait_for_line("  Page ", Duration::from_secs(1)).await;
    assert!(
        page_line.contains(&format!("{api}/")),
        "the banner prints the page: {page_line}"
    );

    // The page's files, with their content types and the policy that keeps assets local.
    let client = reqwest::Client::new();
    for (path, ctype) in [
        ("/", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/config.json", "application/json"),
    ] {
        let res = client
            .get(format!("{api}{path}"))
            .send()
            .await
            .expect("get");
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.headers()["content-type"], ctype, "{path}");
        assert!(res.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .starts_with("default-src 'self'"));
    }
    let missing = client
        .get(format!("{api}/nope.js"))
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), 404);

    let shots = match std::env::var_os("PAGE_SCREENSHOTS") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => dir.join("screenshots"),
    };
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/page_test.py");
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .env("PAGE_URL", format!("{api}/"))
        .env("API_KEY", s("api_key"))
        .env("RECEIVER_URL", s("receiver_url"))
        .env("RECEIVER_LOG", s("receiver_log"))
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM", &chromium)
        .env("CHROMEDRIVER", &driver)
        .env("SE_OFFLINE", "true")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), out)
        .await
        .expect("the browser test finishes within 5 minutes")
        .expect("run the browser test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser test failed:\n{stdout}\n{stderr}\n--- local-stack:\n{}",
        stack.output().join("\n")
    );
    let passed = stdout
        .lines()
        .find_map(|l| l.strip_prefix("browser test passed: "))
        .unwrap_or_else(|| panic!("no summary line:\n{stdout}"));
    assert_eq!(passed, "128 checks", "{stdout}");
    for name in [
        "page-overview.png",
        "page-new-key.png",
        "page-failing-delivery.png",
        "page-phone.png",
        "page-events-secret.png",
        "page-dnc.png",
        "page-rules.png",
        "page-calls.png",
        "page-health.png",
    ] {
        let size = std::fs::metadata(shots.join(name))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size > 10_000, "{name}: {size} bytes");
    }
    // The webhooks really reached the receiver: 4 failures, the redelivery, the test send (the
    // browser test checks there are exactly these 6 before its settings cards), then at least
    // the call.started it waits for (that call's call.completed may still be on its way).
    let log = std::fs::read_to_string(s("receiver_log")).expect("receiver log");
    assert!(log.lines().count() >= 7, "{log}");
    assert!(log.contains("\"standard_webhooks_valid\":true"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
