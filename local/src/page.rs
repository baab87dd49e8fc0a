//! The integration page (`page/` at the workspace root) served by the local gateway at
//! `http://127.0.0.1:3000/`: one literal `GET` route per file of the folder, plus `GET /` for
//! `index.html`. Files are read from disk on every request, so an edit shows on reload.
//!
//! The routes are literal (`GET /app.js`), so they cannot shadow an API route: the API lives
//! under `/api/` and `/hooks/`, and the gateway refuses duplicate route keys. `config.json`
//! in the folder says `"auth": null`: locally the gateway injects the demo account's claims
//! into the settings routes (see `gateway`), so the page signs nobody in.

use crate::gateway::{self, Route, RouteError};
use lambda_http::{Body, Response};
use std::path::{Path, PathBuf};

/// Where the page's files are: `PAGE_DIR`, or the workspace's `page/`.
pub const PAGE_DIR: &str = "PAGE_DIR";

/// The page's folder (`PAGE_DIR`, or `page/` next to this crate's workspace).
pub fn dir() -> PathBuf {
    match std::env::var_os(PAGE_DIR) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../page"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("cannot read the page folder {0}: {1}")]
    Dir(String, std::io::Error),
    #[error("the page folder {0} has no index.html")]
    NoIndex(String),
    #[error(transparent)]
    Route(#[from] RouteError),
}

/// The content type of a page file, by extension; `None` for files the page does not serve.
pub fn content_type(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    Some(match ext.as_str() {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        // Markdown is shown as text: browsers render it, never download it.
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

/// What the browser may load: this origin only (no CDN, no external font), nothing framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The customer docs the page links to, served beside it at `/docs/<name>` as plain text
/// (`make publish-page` uploads the same files under the same keys).
pub const LINKED_DOCS: &[&str] = &["webhooks.md"];

/// One `GET` route per servable file of `dir`, `GET /` for its `index.html`, and
/// `GET /docs/<name>` for each of [`LINKED_DOCS`] (read from the `docs/` beside `dir`).
pub fn routes(dir: &Path) -> Result<Vec<Route>, PageError> {
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(dir).map_err(|e| PageError::Dir(shown.clone(), e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| PageError::Dir(shown.clone(), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if is_file && !name.starts_with('.') && content_type(&name).is_some() {
            names.push(name);
        }
    }
    names.sort();
    if !names.iter().any(|n| n == "index.html") {
        return Err(PageError::NoIndex(shown));
    }
    let mut routes = vec![Route::new(
        "GET",
        "/",
        file_handler(dir.join("index.html")),
    )?];
    for name in names {
        let path = format!("/{name}");
        routes.push(Route::new("GET", &path, file_handler(dir.join(&name)))?);
    }
    let docs = dir.join("../docs");
    for name in LINKED_DOCS {
        let path = format!("/docs/{name}");
        routes.push(Route::new("GET", &path, file_handler(docs.join(name)))?);
    }
    Ok(routes)
}

fn file_handler(path: PathBuf) -> gateway::HttpHandler {
    gateway::handler(move |_req| {
        let path = path.clone();
        async move { serve(&path).await }
    })
}

async fn serve(path: &Path) -> Response<Body> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let reply = |status: u16, ctype: &str, body: Body| {
        Response::builder()
            .status(status)
            .header("content-type", ctype)
            .header("cache-control", "no-cache")
            .header("x-content-type-options", "nosniff")
            .header("referrer-policy", "no-referrer")
            .header("content-security-policy", CONTENT_SECURITY_POLICY)
            .body(body)
    };
    let built = match (content_type(&name), tokio::fs::read(path).await) {
        (Some(ctype), Ok(bytes)) => match String::from_utf8(bytes) {
            Ok(text) => reply(200, ctype, Body::Text(text)),
            Err(e) => reply(200, ctype, Body::Binary(e.into_bytes())),
        },
        _ => reply(
            404,
            "application/json",
            Body::Text(r#"{"message":"Not Found"}"#.into()),
        ),
    };
    built.unwrap_or_else(|_| Response::new(Body::Empty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type("index.html"), Some("text/html; charset=utf-8"));
        assert_eq!(
            content_type("app.JS"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(content_type("style.css"), Some("text/css; charset=utf-8"));
        assert_eq!(content_type("config.json"), Some("application/json"));
        assert_eq!(content_type("notes.md"), Some("text/plain; charset=utf-8"));
        assert_eq!(content_type("notes.rs"), None);
        assert_eq!(content_type("Makefile"), None);
    }

    #[test]
    fn the_workspace_page_has_literal_routes_only() {
        let routes = routes(&dir()).expect("page routes");
        let keys: Vec<String> = routes.iter().map(Route::route_key).collect();
        for k in [
            "GET /",
            "GET /index.html",
            "GET /app.js",
            "GET /style.css",
            "GET /config.json",
            "GET /docs/webhooks.md",
        ] {
            assert!(keys.contains(&k.to_string()), "{k} in {keys:?}");
        }
        assert!(
            keys.iter().all(|k| !k.contains('{')
                && !k.starts_with("GET /api/")
                && !k.starts_with("GET /hooks/")),
            "{keys:?}"
        );
    }
}
