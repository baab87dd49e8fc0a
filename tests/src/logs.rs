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
