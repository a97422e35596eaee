//! `tessera-deploy dev`: one app's build served for a local override, rebuilt when its sources
//! change. The app runs inside a real site (local or deployed, whose server allows overrides
//! from this origin) against its real BFF, and nothing else is rebuilt.

use crate::build::{build_app, target_dir, Finish};
use crate::toolchain::Toolchain;
use anyhow::{Context, Result};
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tessera_contract::overrides;

/// How often the sources are looked at for changes.
const POLL: Duration = Duration::from_millis(500);

/// What is being served: the newest build's bundle folder and its entry module's file.
struct Served {
    name: String,
    dir: PathBuf,
    entry: String,
}

/// Builds the app in `app_dir` and reads what was built.
fn build(app_dir: &Path, out: &Path, tools: &Toolchain) -> Result<Served> {
    let packaged = build_app(app_dir, out, tools, Finish::Quick)?;
    let mfe = packaged.join("mfe.json");
    let label = mfe.display().to_string();
    let text = std::fs::read_to_string(&mfe).with_context(|| format!("reading {label}"))?;
    let m = tessera_contract::manifest::parse(&label, &text)?;
    let entry = m
        .import_map
        .as_ref()
        .and_then(|map| map.imports.get(&m.name))
        .map(|url| url.trim_start_matches("./").to_string())
        .with_context(|| format!("{label} names no entry module"))?;
    let version = m.version.clone().unwrap_or_default();
    Ok(Served {
        dir: packaged.join(version),
        name: m.name,
        entry,
    })
}

/// The newest modification time of the files a build reads (sources, manifest, Cargo.toml).
fn newest_change(app_dir: &Path) -> Option<SystemTime> {
    fn walk(dir: &Path, newest: &mut Option<SystemTime>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, newest);
            } else if let Ok(t) = entry.metadata().and_then(|m| m.modified()) {
                *newest = (*newest).max(Some(t));
            }
        }
    }
    let mut newest = None;
    walk(&app_dir.join("src"), &mut newest);
    for file in ["mfe.json", "Cargo.toml"] {
        if let Ok(t) = app_dir.join(file).metadata().and_then(|m| m.modified()) {
            newest = newest.max(Some(t));
        }
    }
    newest
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// A file of the current build, to any origin (the site's page imports it), never cached.
fn answer(served: &RwLock<Served>, uri: &Uri) -> Response {
    let rel = uri.path().trim_start_matches('/');
    let dir = served.read().expect("served lock").dir.clone();
    let bytes = (!rel.split('/').any(|p| p == ".." || p.is_empty()))
        .then(|| std::fs::read(dir.join(rel)).ok())
        .flatten();
    let mut res = match bytes {
        Some(bytes) => (
            [(header::CONTENT_TYPE, content_type(rel))],
            Body::from(bytes),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, format!("not found: /{rel}\n")).into_response(),
    };
    let headers = res.headers_mut();
    for (name, value) in [
        ("access-control-allow-origin", "*"),
        ("cross-origin-resource-policy", "cross-origin"),
        ("cache-control", "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    res
}

/// Serves the app in `app_dir` on `listener`, rebuilding on change, until the process ends.
/// `site` (the site's URL) only makes the printed link complete.
pub async fn dev(
    app_dir: PathBuf,
    listener: tokio::net::TcpListener,
    site: Option<String>,
    tools: Toolchain,
) -> Result<()> {
    let out = target_dir(&app_dir)?.join("tessera-dev");
    // Taken before the first build: a change made while it runs is built next.
    let mut seen = newest_change(&app_dir);
    let first = {
        let (app_dir, out) = (app_dir.clone(), out.clone());
        tokio::task::spawn_blocking(move || build(&app_dir, &out, &tools).map(|s| (s, tools)))
            .await??
    };
    let (served, tools) = first;
    let url = format!("http://{}/{}", listener.local_addr()?, served.entry);
    let value = overrides::param_value(&served.name, &url);
    println!(
        "serving {} on http://{}/",
        served.name,
        listener.local_addr()?
    );
    println!("override: {value}");
    let query = format!(
        "?{}={}",
        overrides::URL_PARAM,
        utf8_percent_encode(&value, NON_ALPHANUMERIC)
    );
    match &site {
        Some(site) => println!("open: {}/{query}", site.trim_end_matches('/')),
        None => println!(
            "open the site with {query} (its server must allow overrides from this origin)"
        ),
    }
    let served = Arc::new(RwLock::new(served));
    let watched = served.clone();
    tokio::spawn(async move {
        let tools = Arc::new(tools);
        loop {
            tokio::time::sleep(POLL).await;
            let now = newest_change(&app_dir);
            if now == seen {
                continue;
            }
            seen = now;
            let (dir, out, tools) = (app_dir.clone(), out.clone(), tools.clone());
            match tokio::task::spawn_blocking(move || build(&dir, &out, &tools)).await {
                Ok(Ok(next)) => {
                    println!("rebuilt {}: reload the page", next.dir.display());
                    *watched.write().expect("served lock") = next;
                }
                Ok(Err(e)) => eprintln!(
                    "tessera-deploy dev: the build failed, still serving the last one: {e:#}"
                ),
                Err(e) => eprintln!("tessera-deploy dev: the build stopped: {e}"),
            }
        }
    });
    let app = Router::new().fallback(move |uri: Uri| {
        let served = served.clone();
        async move { answer(&served, &uri) }
    });
    axum::serve(listener, app)
        .await
        .context("serving the build")
}
