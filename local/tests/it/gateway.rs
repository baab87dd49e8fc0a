//! The local API gateway over real HTTP: trigger-call's own `handle` behind it (against the
//! emulator, with a real HTTP server as the provider), and probe handlers that report exactly
//! what lambda_http gave them.

use base64::Engine;
use integration_tests::app::TestApp;
use integration_tests::deps::retell;
use integration_tests::peer::{Reply, TestServer};
use lambda_http::{Body, Request, RequestExt, Response};
use local_stack::gateway::{handler, Gateway, GatewayConfig, HttpHandler, Route};
use local_stack::server::{Listener, Server};
use local_stack::stack::trigger_call_routes;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

async fn start(routes: Vec<Route>, config: GatewayConfig) -> Server {
    let listener = Listener::bind(0).await.expect("bind");
    Arc::new(Gateway::new(routes, config).expect("gateway")).serve(listener)
}

fn json_response(status: u16, v: Value) -> Response<Body> {
    let mut r = Response::new(Body::Text(v.to_string()));
    *r.status_mut() = http::StatusCode::from_u16(status).expect("status");
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// Answers with what the handler saw.
fn probe() -> HttpHandler {
    handler(|req: Request| async move {
        let claims = match req.request_context() {
            lambda_http::request::RequestContext::ApiGatewayV2(ctx) => json!({
                "route_key": ctx.route_key,
                "source_ip": ctx.http.source_ip,
                "claims": ctx.authorizer.and_then(|a| a.jwt).map(|j| j.claims),
                "request_id": ctx.request_id,
            }),
            _ => json!(null),
        };
        let body = match req.body() {
            Body::Text(t) => json!({"text": t}),
            Body::Binary(b) => {
                json!({"binary": base64::engine::general_purpose::STANDARD.encode(b)})
            }
            _ => json!(null),
        };
        json_response(
            200,
            json!({
                "method": req.method().as_str(),
                "path": req.uri().path(),
                "query": req.query_string_parameters().all("tag"),
                "path_id": req.path_parameters().first("id"),
                "x_multi": req.headers().get("x-multi").and_then(|v| v.to_str().ok()),
                "cookie": req.headers().get("cookie").and_then(|v| v.to_str().ok()),
                "context": claims,
                "body": body,
            }),
        )
    })
}

#[tokio::test]
async fn trigger_call_works_through_the_gateway() {
    let mut app = TestApp::emulator().await;
    let seeded = app.agency().await;
    let provider = TestServer::start(|_, i| async move {
        Reply::json(
            201,
            json!({"call_id": format!("prov_{i}"), "call_status": "registered"}),
        )
    })
    .await;
    app.set_provider(retell(&provider.url(), &app.tunables));
    // The gateway's handler serves every request from the app (shared in an Arc).
    let app = Arc::new(app);
    let h = handler(move |req| {
        let app = app.clone();
        async move { trigger_call::handle(req, app.trigger_call_deps()).await }
    });
    let routes = trigger_call_routes()
        .iter()
        .map(|(m, p)| Route::new(m, p, h.clone()).expect("route"))
        .collect();
    let gw = start(routes, GatewayConfig::default()).await;
    let client = reqwest::Client::new();

    let res = client
        .post(format!("{}/api/trigger-call", gw.url()))
        .bearer_auth(&seeded.api_key)
        .json(&json!({"phone": "+15551234567", "name": "Zoë", "metadata": {"source": "gateway-test"}}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("apigw-requestid").is_some());
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["success"], true);
    let call_id = body["call_id"].as_str().expect("call_id").to_string();
    let dialed = provider.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(dialed[0].json()["to_number"], "+15551234567");
    assert_eq!(dialed[0].json()["metadata"]["call_id"], call_id.as_str());

    // The path parameter reaches the handler.
    let res = client
        .get(format!("{}/api/calls/{call_id}", gw.url()))
        .bearer_auth(&seeded.api_key)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let call: Value = res.json().await.expect("json");
    assert_eq!(call["call_id"], call_id.as_str());
    assert_eq!(call["status"], "dialing");
    assert_eq!(call["name"], "Zoë");

    // The handler's own errors pass through unchanged.
    let res = client
        .post(format!("{}/api/trigger-call", gw.url()))
        .json(&json!({"phone": "+15551234567"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 403);
    let err: Value = res.json().await.expect("json");
    assert_eq!(err["success"], false);
    assert_eq!(err["error"]["code"], "missing_api_key");

    // Routes not in the table: API Gateway's 404, also for another method or a trailing slash.
    for (method, path) in [
        ("GET", "/api/trigger-call"),
        ("POST", "/api/trigger-call/"),
        ("GET", "/nope"),
        ("PUT", &format!("/api/calls/{call_id}")),
    ] {
        let res = client
            .request(
                http::Method::from_bytes(method.as_bytes()).expect("method"),
                format!("{}{path}", gw.url()),
            )
            .bearer_auth(&seeded.api_key)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 404, "{method} {path}");
        let v: Value = res.json().await.expect("json");
        assert_eq!(v, json!({"message": "Not Found"}), "{method} {path}");
    }
    assert_eq!(provider.requests().len(), 1, "nothing else was dialed");
    gw.stop().await;
}

#[tokio::test]
async fn handlers_see_what_api_gateway_would_send() {
    let mut local_claims = serde_json::Map::new();
    local_claims.insert("custom:account_id".into(), json!("acct_demo"));
    let routes = vec![
        Route::new("ANY", "/echo/{id}", probe()).expect("route"),
        Route::new("POST", "/settings/{id}", probe())
            .expect("route")
            .with_injected_claims(),
    ];
    let gw = start(
        routes,
        GatewayConfig {
            local_claims,
            ..GatewayConfig::default()
        },
    )
    .await;
    let client = reqwest::Client::new();

    let res = client
        .put(format!("{}/echo/a%20b?tag=x&tag=y", gw.url()))
        .header("x-multi", "one")
        .header("x-multi", "two")
        .header("cookie", "s=1; t=2")
        .body(vec![0xffu8, 0x00, 0x80])
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.expect("json");
    assert_eq!(v["method"], "PUT");
    assert_eq!(v["path"], "/echo/a%20b");
    assert_eq!(v["path_id"], "a b");
    assert_eq!(v["query"], json!(["x", "y"]));
    assert_eq!(v["x_multi"], "one,two");
    assert_eq!(v["cookie"], "s=1; t=2");
    assert_eq!(v["body"], json!({"binary": "/wCA"}));
    assert_eq!(v["context"]["route_key"], "ANY /echo/{id}");
    assert_eq!(v["context"]["source_ip"], "127.0.0.1");
    assert_eq!(
        v["context"]["claims"],
        Value::Null,
        "no claims on a plain route"
    );

    // LOCAL-ONLY claims on flagged routes; unicode text bodies stay text.
    let res = client
        .post(format!("{}/settings/x", gw.url()))
        .header("content-type", "application/json")
        .body(r#"{"name":"Zoë ☎"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.expect("json");
    assert_eq!(
        v["context"]["claims"],
        json!({"custom:account_id": "acct_demo"})
    );
    assert_eq!(v["body"], json!({"text": r#"{"name":"Zoë ☎"}"#}));
    gw.stop().await;
}

#[tokio::test]
async fn failures_look_like_api_gateway() {
    let panics = handler(|_req| async move {
        if true {
            panic!("handler bug");
        }
        Response::new(Body::Empty)
    });
    let slow = handler(|_req| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Response::new(Body::Empty)
    });
    let cookies = handler(|_req| async move {
        let mut r = Response::new(Body::Binary(vec![1, 2, 3]));
        *r.status_mut() = http::StatusCode::ACCEPTED;
        r.headers_mut()
            .append("set-cookie", http::HeaderValue::from_static("a=1"));
        r.headers_mut()
            .append("set-cookie", http::HeaderValue::from_static("b=2"));
        r
    });
    let gw = start(
        vec![
            Route::new("GET", "/panic", panics).expect("route"),
            Route::new("GET", "/slow", slow).expect("route"),
            Route::new("POST", "/cookies", cookies).expect("route"),
        ],
        GatewayConfig {
            integration_timeout: Duration::from_millis(300),
            max_body: 1024,
            ..GatewayConfig::default()
        },
    )
    .await;
    let client = reqwest::Client::new();

    let res = client
        .get(format!("{}/panic", gw.url()))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 500);
    assert_eq!(
        res.json::<Value>().await.expect("json"),
        json!({"message": "Internal Server Error"})
    );

    let res = client
        .get(format!("{}/slow", gw.url()))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.json::<Value>().await.expect("json"),
        json!({"message": "Service Unavailable"})
    );

    let res = client
        .post(format!("{}/cookies", gw.url()))
        .body(vec![b'x'; 2048])
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 413);
    assert_eq!(
        res.json::<Value>().await.expect("json"),
        json!({"message": "Request Entity Too Large"})
    );

    let res = client
        .post(format!("{}/cookies", gw.url()))
        .body("ok")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 202);
    let set: Vec<&str> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(set, vec!["a=1", "b=2"]);
    assert_eq!(res.bytes().await.expect("body").as_ref(), &[1, 2, 3]);
    gw.stop().await;
}

#[tokio::test]
async fn the_gateway_serves_the_openapi_document() {
    let gw = start(
        vec![local_stack::openapi::route().expect("route")],
        GatewayConfig::default(),
    )
    .await;
    let res = reqwest::get(format!("{}/openapi.yaml", gw.url()))
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/yaml")
    );
    let body = res.text().await.expect("body");
    let on_disk =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml"))
            .expect("docs/openapi.yaml");
    assert_eq!(body.len(), on_disk.len());
    assert!(body == on_disk, "the served document is docs/openapi.yaml");
    // The generated document opens with a comment saying so, then the version.
    let first = body
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty());
    assert!(
        first.is_some_and(|l| l.starts_with("openapi: 3.1")),
        "{first:?}"
    );
}
