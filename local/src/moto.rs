//! The local AWS emulator as a child process: moto's server on 127.0.0.1, started by the local
//! stack and killed when it stops.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error(
        "{0} not found; run `make venv` (or `make run`, which does it) to install the emulator"
    )]
    Missing(String),
    #[error("cannot start {bin}: {source}")]
    Spawn { bin: String, source: std::io::Error },
    #[error("cannot open the emulator log {path}: {source}")]
    Log {
        path: String,
        source: std::io::Error,
    },
    #[error("the emulator exited during startup ({status}); see {log}")]
    Exited { status: String, log: String },
    #[error("the emulator did not answer on {endpoint} within {seconds} s; see {log}")]
    Timeout {
        endpoint: String,
        seconds: u64,
        log: String,
    },
}

/// A running moto server.
pub struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    /// `<venv>/bin/moto_server`.
    pub fn binary(venv: &Path) -> PathBuf {
        venv.join("bin").join("moto_server")
    }

    /// Starts `moto_server -H 127.0.0.1 -p <port>` (output to `log`) and waits until it
    /// answers. The child is in its own process group, so a terminal's Ctrl-C reaches only
    /// the local stack, which then stops it; it is also killed if the handle is dropped.
    pub async fn start(
        bin: &Path,
        port: u16,
        log: &Path,
        ready_within: Duration,
    ) -> Result<Moto, MotoError> {
        if !bin.exists() {
            return Err(MotoError::Missing(bin.display().to_string()));
        }
        let log_file = std::fs::File::create(log).map_err(|source| MotoError::Log {
            path: log.display().to_string(),
            source,
        })?;
        let log_err = log_file.try_clone().map_err(|source| MotoError::Log {
            path: log.display().to_string(),
            source,
        })?;
        let mut child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::from(log_err))
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| MotoError::Spawn {
                bin: bin.display().to_string(),
                source,
            })?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let probe = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .map_err(|e| MotoError::Spawn {
                bin: bin.display().to_string(),
                source: std::io::Error::other(e),
            })?;
        let deadline = Instant::now() + ready_within;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(MotoError::Exited {
                    status: status.to_string(),
                    log: log.display().to_string(),
                });
            }
            if probe
                .get(format!("{endpoint}/moto-api/"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(Moto { child, endpoint });
            }
            if Instant::now() >= deadline {
                let _ = child.kill().await;
                return Err(MotoError::Timeout {
                    endpoint,
                    seconds: ready_within.as_secs(),
                    log: log.display().to_string(),
                });
            }
            // Polling a child process that offers no readiness signal.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Resolves when the emulator exits on its own (it should not while the stack runs).
    pub async fn exited(&mut self) -> String {
        match self.child.wait().await {
            Ok(s) => s.to_string(),
            Err(e) => e.to_string(),
        }
    }

    /// Kills the emulator and reaps it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; the emulator binds it right after).
pub fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(l.local_addr()?.port())
}
