//! `module-cycles` (`make check`): exits 1, listing each cycle with the references that make
//! it, when a module of any workspace crate names a sibling that names it back.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match module_graph::module_cycles(&workspace) {
        Ok(cycles) if cycles.is_empty() => {
            println!("module-cycles: no module cycle in any crate");
            ExitCode::SUCCESS
        }
        Ok(cycles) => {
            eprintln!(
                "module-cycles: {} module cycles (a module names a sibling that names it back, maybe round others):\n{}",
                cycles.len(),
                cycles.join("\n")
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("module-cycles: {e}");
            ExitCode::from(2)
        }
    }
}
