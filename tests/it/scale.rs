//! The capacity model's small version (docs/benchmarks.md, "Capacity model"): the profiles
//! re-captured from the real functions on the emulator must be the committed golden
//! (`bench/scale/profiles.json`), and the model must run on the golden. A change in the
//! requests the code makes fails here, naming the request, until the golden is re-captured
//! (`make bench-scale-profiles`) and committed with the change, so the model is never left
//! computing from requests the code no longer makes.

use integration_tests::scale::{capture, differences, GOLDEN};
use integration_tests::Emulator;
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

#[tokio::test]
async fn captured_profiles_are_the_committed_golden() {
    let emu = Emulator::connect().await;
    let fresh = capture(&emu).await.expect("capture");
    let text = std::fs::read_to_string(root().join(GOLDEN)).expect("the golden profiles");
    let golden: serde_json::Value = serde_json::from_str(&text).expect("golden JSON");
    let diff = differences(&golden, &fresh);
    assert!(
        diff.is_empty(),
        "the functions' AWS requests differ from {GOLDEN}:\n  {}\n\
         If the change is intended, re-capture and commit the profiles with it:\n  \
         make bench-scale-profiles   (then make bench-scale for the model's table)",
        diff.join("\n  ")
    );
}

#[test]
fn the_model_runs_on_the_golden() {
    let root = root();
    let venv = std::env::var("VENV").map_or_else(|_| root.join(".venv"), |v| root.join(v));
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make venv` (the capacity model needs Python and PyYAML)",
        python.display()
    );
    let out = Command::new(&python)
        .current_dir(&root)
        .args(["tools/capacity_model.py", "--profiles", GOLDEN])
        .output()
        .expect("run the model");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the model failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needed in [
        "Ten hottest partition keys",
        "First limit at the sustained load",
        "First limit at the peak load",
        "webhook-delivery concurrency at 1,000/s <= 400",
        "$ per million webhooks <= 12",
    ] {
        assert!(stdout.contains(needed), "no {needed:?} in:\n{stdout}");
    }
    let verdicts = stdout
        .lines()
        .filter(|l| l.starts_with("- PASS") || l.starts_with("- MISS"))
        .count();
    assert_eq!(verdicts, 6, "one PASS/MISS line per goal:\n{stdout}");
}
