//! The local AWS emulator, moto's server on 127.0.0.1, as a child process: the one launcher
//! behind `make test` (the `with-emulator` binary runs the test command against it) and
//! `make run` (the local stack starts and stops it).
//!
//! Standard library only: `make test` builds this crate on its own before the workspace, and a
//! crate without dependencies cannot change the features the workspace's dependencies are
//! built with.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub enum MotoError {
    Missing(String),
    Spawn {
        bin: String,
        source: std::io::Error,
    },
    Log {
        path: String,
        source: std::io::Error,
    },
    Exited {
        status: String,
        log: String,
    },
    Timeout {
        endpoint: String,
        seconds: u64,
        log: String,
    },
}

impl std::fmt::Display for MotoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MotoError::Missing(bin) => write!(
                f,
                "{bin} not found; run `make venv` (make test and make run do it) to install the emulator"
            ),
            MotoError::Spawn { bin, source } => write!(f, "cannot start {bin}: {source}"),
            MotoError::Log { path, source } => {
                write!(f, "cannot open the emulator log {path}: {source}")
            }
            MotoError::Exited { status, log } => {
                write!(f, "the emulator exited during startup ({status}); see {log}")
            }
            MotoError::Timeout {
                endpoint,
                seconds,
                log,
            } => write!(
                f,
                "the emulator did not answer on {endpoint} within {seconds} s; see {log}"
            ),
        }
    }
}

impl std::error::Error for MotoError {}

/// moto's server with a speed fix to its SQS clock (same values, no per-message date
/// arithmetic): see the script's own notes.
pub const LAUNCHER: &str = include_str!("moto_server.py");

/// How the child relates to the terminal's signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// In the caller's process group: a terminal's Ctrl-C stops it with the caller (`make
    /// test`: nothing may outlive the test run).
    Shared,
    /// In a group of its own: Ctrl-C reaches only the caller, which then stops it in order
    /// (`make run` stops its servers first, the emulator last).
    Own,
}

/// A running moto server; killed and reaped when stopped or dropped.
pub struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    /// `<venv>/bin/moto_server`.
    pub fn binary(venv: &Path) -> PathBuf {
        venv.join("bin").join("moto_server")
    }

    /// Starts moto's server on `127.0.0.1:<port>` (output to `log`) and waits until it
    /// answers, at most `ready_within`. `bin` is the virtualenv's `moto_server`, which shows
    /// that moto is installed; the server runs through [`LAUNCHER`] with the interpreter
    /// beside it, so it gets the launcher's one speed fix.
    pub fn start(
        bin: &Path,
        port: u16,
        log: &Path,
        ready_within: Duration,
        group: Group,
    ) -> Result<Moto, MotoError> {
        if !bin.exists() {
            return Err(MotoError::Missing(bin.display().to_string()));
        }
        let log_err = |source| MotoError::Log {
            path: log.display().to_string(),
            source,
        };
        let log_file = std::fs::File::create(log).map_err(log_err)?;
        let log_copy = log_file.try_clone().map_err(log_err)?;
        let python = bin.with_file_name("python3");
        let mut command = Command::new(&python);
        command
            .args(["-c", LAUNCHER, "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::from(log_copy));
        if group == Group::Own {
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
        }
        let child = command.spawn().map_err(|source| MotoError::Spawn {
            bin: python.display().to_string(),
            source,
        })?;
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + ready_within;
        loop {
            if let Some(status) = moto.try_exited() {
                return Err(MotoError::Exited {
                    status,
                    log: log.display().to_string(),
                });
            }
            if answers(addr) {
                return Ok(moto);
            }
            if Instant::now() >= deadline {
                return Err(MotoError::Timeout {
                    endpoint: moto.endpoint.clone(),
                    seconds: ready_within.as_secs(),
                    log: log.display().to_string(),
                });
            }
            // A child process offers no readiness signal: poll it.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `Some(status)` once the emulator has exited on its own.
    pub fn try_exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    /// Kills the emulator and reaps it.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// True when moto's management API answers 200 on `addr`.
fn answers(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}

/// A free TCP port on 127.0.0.1 (bound and released; the emulator binds it right after).
pub fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(l.local_addr()?.port())
}

/// The environment that points the AWS SDK at the emulator (and nowhere else: a profile or
/// session token from the shell must never send a test or `make run` to a real account).
pub fn sdk_environment(endpoint: &str) -> [(&'static str, String); 5] {
    [
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
    ]
}

/// Variables removed from the environment for the same reason.
pub const SDK_VARIABLES_REMOVED: [&str; 5] = [
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_says_how_to_install_it() {
        let e = Moto::start(
            Path::new("/nonexistent/bin/moto_server"),
            1,
            Path::new("/tmp/unused.log"),
            Duration::from_secs(1),
            Group::Shared,
        )
        .err()
        .expect("no emulator there");
        assert!(e.to_string().contains("make venv"), "{e}");
    }

    #[test]
    fn a_closed_port_does_not_answer() {
        let port = free_port().unwrap();
        assert!(!answers(SocketAddr::from(([127, 0, 0, 1], port))));
    }
}
