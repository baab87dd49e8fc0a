//! `make bench-scale-profiles`: captures the capacity model's profiles on the emulator
//! (`AWS_ENDPOINT_URL`, started by the `with-emulator` launcher) and writes them to the path
//! given (default `bench/scale/profiles.json`), with a summary of what changed against the
//! file it replaces. docs/benchmarks.md, "Capacity model".

use integration_tests::scale::{capture, describe, differences, GOLDEN};
use integration_tests::Emulator;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| GOLDEN.to_string());
    let emu = Emulator::connect().await;
    let profiles = match capture(&emu).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("capture failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The profiles, one line per request: the step, then each request without its byte
    // counts (bytes in brackets: item before/after, index entries, messages).
    for segment in profiles["segments"].as_array().into_iter().flatten() {
        println!("{}", segment["name"].as_str().unwrap_or(""));
        for r in segment["requests"].as_array().into_iter().flatten() {
            let (line, bytes) = describe(r);
            println!("  {line} {bytes:?}");
        }
    }
    if let Some(old) = std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
    {
        let diff = differences(&old, &profiles);
        if diff.is_empty() {
            println!("profiles unchanged against {path}");
        } else {
            println!("profiles changed against {path}:");
            for d in diff {
                println!("  {d}");
            }
        }
    }
    let text = match serde_json::to_string_pretty(&profiles) {
        Ok(t) => t + "\n",
        Err(e) => {
            eprintln!("encoding the profiles: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(dir) = std::path::Path::new(&path).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("writing {path}: {e}");
        return ExitCode::FAILURE;
    }
    let segments = profiles["segments"].as_array().map_or(0, Vec::len);
    let requests: usize = profiles["segments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["requests"].as_array().map_or(0, Vec::len))
        .sum();
    println!("wrote {path}: {segments} steps, {requests} AWS requests");
    ExitCode::SUCCESS
}
