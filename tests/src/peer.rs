//! Real HTTP servers on 127.0.0.1 for tests: webhook receivers and the voice provider.
//! Every request is recorded (method, path, headers, raw body) before the handler answers.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Bytes,
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("recorded body is JSON")
    }
}

/// What the handler answers: status, body, extra headers.
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            body: String::new(),
            headers: vec![],
        }
    }
    pub fn json(status: u16, v: serde_json::Value) -> Reply {
        Reply {
            status,
            body: v.to_string(),
            headers: vec![("content-type".into(), "application/json".into())],
        }
    }
    pub fn with_header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
}

type Handler =
    Arc<dyn Fn(Recorded, usize) -> Pin<Box<dyn Future<Output = Reply> + Send>> + Send + Sync>;

pub struct TestServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    notify: Arc<Notify>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    shutdown: tokio::sync::oneshot::Sender<()>,
}

impl TestServer {
    /// Starts a server whose handler gets each request and its 0-based index.
    pub async fn start<F, Fut>(handler: F) -> TestServer
    where
        F: Fn(Recorded, usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |r, i| Box::pin(handler(r, i)));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let notify = Arc::new(Notify::new());
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let (reqs, n, inf, maxf) = (
            requests.clone(),
            notify.clone(),
            in_flight.clone(),
            max_in_flight.clone(),
        );
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    _ = &mut rx => break,
                    acc = listener.accept() => match acc { Ok(s) => s, Err(_) => continue },
                };
                let (handler, reqs, n, inf, maxf) = (
                    handler.clone(),
                    reqs.clone(),
                    n.clone(),
                    inf.clone(),
                    maxf.clone(),
                );
                tokio::spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<Incoming>| {
                        let (handler, reqs, n, inf, maxf) = (
                            handler.clone(),
                            reqs.clone(),
                            n.clone(),
                            inf.clone(),
                            maxf.clone(),
                        );
                        async move {
                            let now = inf.fetch_add(1, Ordering::SeqCst) + 1;
                            maxf.fetch_max(now, Ordering::SeqCst);
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let rec = Recorded {
                                method: parts.method.to_string(),
                                path: parts
                                    .uri
                                    .path_and_query()
                                    .map(|p| p.to_string())
                                    .unwrap_or_default(),
                                headers: parts
                                    .headers
                                    .iter()
                                    .map(|(k, v)| {
                                        (
                                            k.as_str().to_string(),
                                            v.to_str().unwrap_or("").to_string(),
                                        )
                                    })
                                    .collect(),
                                body,
                                at: Instant::now(),
                            };
                            let idx = {
                                let mut g = reqs.lock().expect("lock");
                                g.push(rec.clone());
                                g.len() - 1
                            };
                            n.notify_waiters();
                            let reply = handler(rec, idx).await;
                            inf.fetch_sub(1, Ordering::SeqCst);
                            let mut res = hyper::Response::new(Full::new(Bytes::from(reply.body)));
                            *res.status_mut() =
                                hyper::StatusCode::from_u16(reply.status).expect("status");
                            for (k, v) in reply.headers {
                                res.headers_mut().insert(
                                    hyper::header::HeaderName::from_bytes(k.as_bytes())
                                        .expect("header name"),
                                    hyper::header::HeaderValue::from_str(&v).expect("header value"),
                                );
                            }
                            Ok::<_, std::convert::Infallible>(res)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        TestServer {
            addr,
            requests,
            notify,
            in_flight,
            max_in_flight,
            shutdown: tx,
        }
    }

    /// A server that answers every request with the same status and JSON body.
    pub async fn fixed(status: u16, body: serde_json::Value) -> TestServer {
        TestServer::start(move |_, _| {
            let body = body.clone();
            async move { Reply::json(status, body) }
        })
        .await
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().map(|g| g.clone()).unwrap_or_default()
    }

    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests arrived, or panics after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: std::time::Duration) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "expected {n} requests within {timeout:?}, got {}",
                    self.requests().len()
                );
            }
        }
    }

    pub fn stop(self) {
        let _ = self.shutdown.send(());
    }
}
