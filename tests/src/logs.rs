//! Capturing what a tracing subscriber writes, for tests that check log lines (their shape,
//! or that no secret is in them): a `MakeWriter` that keeps every byte in memory.

use std::sync::{Arc, Mutex};

/// The bytes written so far; clones share them, so one goes to the subscriber
/// (`move || capture.clone()`) and the test keeps another to read.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8(bytes).expect("UTF-8 logs")
    }
}

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs the calling test alone, in a child process of the test binary, when it is not that
/// child already: `true` in the child (run the test's body there), `false` in the parent once
/// the child passed (it panics if the child failed).
///
/// Why: tracing caches each callsite's interest for the whole process. A test that installs
/// its own subscriber with `set_default` while other tests run in parallel threads can have
/// callsites first reached by those threads cached as disabled in the meantime, and then its
/// capture misses lines it should see (observed: the functions' info lines missing from the
/// trace-level capture when run beside the trigger-call tests). Alone in a process, the test
/// sees every line; the child inherits the environment (the emulator's endpoint included).
pub fn isolated(test: &str) -> bool {
    const CHILD: &str = "BVAI_ISOLATED_TEST";
    if std::env::var(CHILD).is_ok_and(|t| t == test) {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let out = std::process::Command::new(exe)
        .args([test, "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD, test)
        .output()
        .expect("run the test in its own process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test} in its own process: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    false
}
