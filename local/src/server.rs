//! The one small HTTP/1 server the local stack's parts share (gateway, provider simulator,
//! webhook receiver): bind on 127.0.0.1, read each request's body whole (with a size cap),
//! hand it to a service, stop on request. Binding is separate from serving so every address is
//! known before anything starts (the simulator needs the gateway's URL, the account the
//! receiver's). A service can also answer with no answer at all: [`reset_reply`] makes the
//! server reset the connection (the provider simulator's `reset_after_accept` fault).

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full, Limited};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

/// A request with its body read.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub method: http::Method,
    pub uri: http::Uri,
    pub version: http::Version,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub peer: SocketAddr,
}

impl Incoming {
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    pub fn query(&self) -> &str {
        self.uri.query().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub type Reply = http::Response<Full<Bytes>>;
pub type Service = Arc<dyn Fn(Incoming) -> BoxFuture<'static, Reply> + Send + Sync>;

/// A JSON reply (`content-type: application/json`).
pub fn json_reply(status: u16, body: &serde_json::Value) -> Reply {
    bytes_reply(
        status,
        Some("application/json"),
        Bytes::from(body.to_string()),
    )
}

pub fn bytes_reply(status: u16, content_type: Option<&str>, body: Bytes) -> Reply {
    let mut res = http::Response::new(Full::new(body));
    *res.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(ct) = content_type.and_then(|c| http::HeaderValue::from_str(c).ok()) {
        res.headers_mut().insert(http::header::CONTENT_TYPE, ct);
    }
    res
}

/// Marks a reply the server must not send: it resets the connection instead (TCP RST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetConnection;

/// A "reply" that makes the server drop the connection with a reset, sending nothing.
pub fn reset_reply() -> Reply {
    let mut res = bytes_reply(500, None, Bytes::new());
    res.extensions_mut().insert(ResetConnection);
    res
}

/// A second handle on an accepted socket, kept to reset the connection when a service asks.
fn with_twin(
    stream: tokio::net::TcpStream,
) -> std::io::Result<(tokio::net::TcpStream, std::net::TcpStream)> {
    let std_stream = stream.into_std()?;
    let twin = std_stream.try_clone()?;
    Ok((tokio::net::TcpStream::from_std(std_stream)?, twin))
}

/// Sets `SO_LINGER` 0 on the socket behind `twin`: when its last handle closes, the kernel
/// sends a reset instead of a normal close.
fn arm_reset(twin: &std::net::TcpStream) -> std::io::Result<()> {
    let handle = tokio::net::TcpStream::from_std(twin.try_clone()?)?;
    handle.set_zero_linger()
}

/// A bound, not yet serving, listener.
pub struct Listener {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Listener {
    /// Binds 127.0.0.1:`port` (0 = any free port).
    pub async fn bind(port: u16) -> std::io::Result<Listener> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        Ok(Listener { listener, addr })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves until `Server::stop`. Bodies over `max_body` bytes get a 413 without reaching the
    /// service (API Gateway's answer and shape).
    pub fn serve(self, max_body: usize, service: Service) -> Server {
        let (tx, mut rx) = oneshot::channel::<()>();
        let addr = self.addr;
        let listener = self.listener;
        let task = tokio::spawn(async move {
            // Dropping the set when the loop ends aborts open connections.
            let mut connections = JoinSet::new();
            loop {
                let (stream, peer) = tokio::select! {
                    _ = &mut rx => break,
                    accepted = listener.accept() => match accepted {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::warn!(target: "server", "accept failed on {addr}: {e}");
                            continue;
                        }
                    },
                    // Reap finished connections so the set does not grow forever.
                    Some(_) = connections.join_next(), if !connections.is_empty() => continue,
                };
                let service = service.clone();
                connections.spawn(async move {
                    let (stream, twin) = match with_twin(stream) {
                        Ok(pair) => pair,
                        Err(e) => {
                            tracing::warn!(target: "server", "cannot serve {peer} on {addr}: {e}");
                            return;
                        }
                    };
                    let twin = Arc::new(twin);
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let service = service.clone();
                        let twin = twin.clone();
                        async move {
                            let reply = read_and_call(req, peer, max_body, service).await;
                            if reply.extensions().get::<ResetConnection>().is_none() {
                                return Ok(reply);
                            }
                            // An error from the service makes hyper close the connection
                            // without answering; with linger 0 the close is a reset.
                            if let Err(e) = arm_reset(&twin) {
                                tracing::warn!(target: "server", "cannot arm a reset for {peer}: {e}");
                            }
                            Err(std::io::Error::new(
                                std::io::ErrorKind::ConnectionReset,
                                "the service asked for a reset",
                            ))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Server {
            addr,
            shutdown: Some(tx),
            task,
        }
    }
}

async fn read_and_call(
    req: hyper::Request<hyper::body::Incoming>,
    peer: SocketAddr,
    max_body: usize,
    service: Service,
) -> Reply {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, max_body).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return json_reply(
                413,
                &serde_json::json!({"message": "Request Entity Too Large"}),
            )
        }
        Err(_) => return json_reply(400, &serde_json::json!({"message": "Bad Request"})),
    };
    service(Incoming {
        method: parts.method,
        uri: parts.uri,
        version: parts.version,
        headers: parts.headers,
        body,
        peer,
    })
    .await
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, closes open connections and waits for the loop to end.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_caps_bodies_and_stops() {
        let listener = Listener::bind(0).await.expect("bind");
        let url = listener.url();
        let server = listener.serve(
            8,
            Arc::new(|req: Incoming| {
                Box::pin(async move {
                    bytes_reply(
                        200,
                        Some("text/plain"),
                        Bytes::from(format!("{} {} {}", req.method, req.path(), req.body.len())),
                    )
                })
            }),
        );
        let client = reqwest::Client::new();
        let res = client
            .post(format!("{url}/x?y=1"))
            .body("1234")
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.expect("body"), "POST /x 4");
        let res = client
            .post(format!("{url}/x"))
            .body("123456789")
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 413);
        server.stop().await;
        let after = client.get(format!("{url}/x")).send().await;
        assert!(after.is_err(), "server still answering after stop");
    }
}
