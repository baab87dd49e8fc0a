//! The smallest Lambda function: `lambda_runtime` and an echo handler. `make bench-cold`
//! measures every function against it (docs/benchmarks.md).

use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, std::convert::Infallible>(
                serde_json::json!({ "ok": event.payload.is_object() }),
            )
        },
    ))
    .await
}
