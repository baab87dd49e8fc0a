//! The Rust receiver as a program:
//!
//!     BVAI_API_KEY=bvai_live_... WEBHOOK_SECRET=whsec_... PORT=4003 cargo run -p bvai-receiver
//!
//! Listens on 127.0.0.1:$PORT (0 picks a free port); the first line printed is the address.

use bvai_receiver::{app, serve, Error};

fn var(name: &'static str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| Error::MissingVariable(name))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let app = app(&var("BVAI_API_KEY")?, &var("WEBHOOK_SECRET")?)?;
    let port: u16 = std::env::var("PORT")
        .unwrap_or_else(|_| "4003".into())
        .parse()?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    serve(listener, app).await
}
