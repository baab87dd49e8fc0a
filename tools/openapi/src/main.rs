//! `gen-openapi`: writes docs/openapi.yaml (`make openapi`); `gen-openapi --check` exits 1
//! when the committed document differs from the generated one (`make check`);
//! `gen-openapi --schemas` prints the derived schemas alone (answers and request bodies), as
//! JSON.

use std::process::ExitCode;

fn main() -> ExitCode {
    let arg = std::env::args().nth(1);
    if arg.as_deref() == Some("--schemas") {
        let mut schemas = openapi_gen::answer_schemas();
        schemas.extend(openapi_gen::request_schemas().0);
        let schemas = serde_json::Value::Object(schemas);
        return match serde_json::to_string_pretty(&schemas) {
            Ok(s) => {
                println!("{s}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("gen-openapi: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let text = match openapi_gen::render() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("gen-openapi: {e}");
            return ExitCode::FAILURE;
        }
    };
    let path = openapi_gen::root().join(openapi_gen::OUTPUT);
    match arg.as_deref() {
        Some("--check") => {
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            if committed == text {
                println!("{} is the generated document", openapi_gen::OUTPUT);
                ExitCode::SUCCESS
            } else {
                let line = committed
                    .lines()
                    .zip(text.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| committed.lines().count().min(text.lines().count()))
                    + 1;
                eprintln!(
                    "gen-openapi: {} differs from the generated document (first at line {line}); \
                     it is generated: edit the types or tools/openapi/prose.yaml and run `make openapi`",
                    openapi_gen::OUTPUT
                );
                ExitCode::FAILURE
            }
        }
        None => match std::fs::write(&path, text) {
            Ok(()) => {
                println!("wrote {}", openapi_gen::OUTPUT);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("gen-openapi: {}: {e}", path.display());
                ExitCode::FAILURE
            }
        },
        Some(other) => {
            eprintln!("usage: gen-openapi [--check | --schemas] (got {other})");
            ExitCode::FAILURE
        }
    }
}
