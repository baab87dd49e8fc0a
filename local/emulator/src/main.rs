//! `with-emulator <command...>`: starts moto's server on 127.0.0.1 (a free port, or
//! `MOTO_PORT`), runs the command with the AWS SDK pointed at it, stops it, and exits with the
//! command's status. `make test` runs the whole test suite this way. Fails loudly when the
//! emulator cannot start.

use emulator::{free_port, sdk_environment, Group, Moto, SDK_VARIABLES_REMOVED};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("with-emulator: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((program, rest)) = args.split_first() else {
        return Err("usage: with-emulator <command> [args...]".into());
    };
    let venv = PathBuf::from(std::env::var("VENV").unwrap_or_else(|_| ".venv".into()));
    let port = match std::env::var("MOTO_PORT").ok().filter(|p| !p.is_empty()) {
        Some(p) => p
            .parse()
            .map_err(|_| format!("MOTO_PORT must be a port number, got {p:?}"))?,
        None => free_port().map_err(|e| format!("no free port for the emulator: {e}"))?,
    };
    let log = std::env::temp_dir().join(format!("moto-{port}.log"));
    let moto = Moto::start(
        &Moto::binary(&venv),
        port,
        &log,
        Duration::from_secs(30),
        Group::Shared,
    )
    .map_err(|e| e.to_string())?;
    eprintln!(
        "AWS emulator (moto) ready on {} (log {})",
        moto.endpoint(),
        log.display()
    );
    let mut command = Command::new(program);
    command.args(rest).envs(sdk_environment(moto.endpoint()));
    for name in SDK_VARIABLES_REMOVED {
        command.env_remove(name);
    }
    let status = command
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"));
    moto.stop();
    let status = status?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}
