//! The "slim SDK" anchor: what every function needs at the least (the SDK configuration and
//! the three clients, built once per cold start, and lambda_http), with no work of its own.
//! `make bench-cold` measures every function against it (docs/benchmarks.md).

use lambda_http::{service_fn, Body, Request, Response};

struct Clients {
    dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    secrets: aws_sdk_secretsmanager::Client,
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let clients: &'static Clients = Box::leak(Box::new(Clients {
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
        sqs: aws_sdk_sqs::Client::new(&sdk),
        secrets: aws_sdk_secretsmanager::Client::new(&sdk),
    }));
    lambda_http::run(service_fn(move |req: Request| async move {
        // Touch the clients so that they are built and kept, as in a function.
        let regions = [
            clients.dynamodb.config().region().is_some(),
            clients.sqs.config().region().is_some(),
            clients.secrets.config().region().is_some(),
        ];
        let body = format!("{} {:?}", req.uri().path(), regions);
        Ok::<_, std::convert::Infallible>(Response::new(Body::from(body)))
    }))
    .await
}
