//! Serves a store over HTTP as a CDN in front of it would: content-addressed bundles cached
//! forever, manifests and `index.html` revalidated (ETag, `304`), `index.html` for any path
//! without an extension (deep links), and nothing outside the store or under `_tessera/`.
//! Like a CDN edge, it compresses each object version once and keeps the result: brotli at
//! its densest for browsers that take it (about a sixth fewer bytes than gzip on wasm), made
//! in the background so no request waits for it, and gzip until then and for the rest.

use crate::store::{cache_control, content_type, validate_key, Object, Store, INTERNAL_PREFIX};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::time::{Instant, Sleep};

/// Smaller bodies are sent as they are: a coding's framing would eat the gain.
const MIN_COMPRESS: usize = 1024;
/// Bytes of compressed bodies kept; past it the cache starts over.
const CACHE_BYTES: usize = 64 << 20;
/// Brotli's densest setting, for bodies compressed once and served many times: 1-2 s of one
/// core for a 500 KB wasm module, spent in the background.
const BROTLI_STORED: (u32, u32) = (11, 22);
/// For bodies made per response (pages, each with its own nonce): a few ms.
const BROTLI_FAST: (u32, u32) = (5, 22);

/// A content coding of a response body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Coding {
    Brotli,
    Gzip,
}

impl Coding {
    /// Its `Content-Encoding` name.
    fn name(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
        }
    }

    /// What it adds to the object's entity-tag: each representation has its own validator,
    /// as RFC 9110 asks of content codings.
    fn tag_suffix(self) -> &'static str {
        match self {
            Coding::Brotli => "-br",
            Coding::Gzip => "-gz",
        }
    }
}

/// Compressed bodies by object ETag (a content hash, so an entry never goes stale) and
/// coding, their total size, and the brotli bodies being made.
#[derive(Default)]
struct Compressed {
    bytes: usize,
    bodies: HashMap<(String, Coding), Arc<Vec<u8>>>,
    brewing: HashSet<String>,
}

impl Compressed {
    fn keep(&mut self, etag: String, coding: Coding, body: Arc<Vec<u8>>) {
        if self.bytes + body.len() > CACHE_BYTES {
            let brewing = std::mem::take(&mut self.brewing);
            *self = Compressed {
                brewing,
                ..Compressed::default()
            };
        }
        self.bytes += body.len();
        self.bodies.insert((etag, coding), body);
    }
}

struct Cdn<S> {
    store: Arc<S>,
    compressed: Arc<Mutex<Compressed>>,
    policy: SecurityPolicy,
}

/// What the page may load and talk to besides its own origin, for its Content-Security-Policy.
#[derive(Clone, Debug, Default)]
pub struct SecurityPolicy {
    /// Origins bundles may be served from (the deployer's `--allowed-origin`s).
    pub bundle_origins: Vec<String>,
    /// Origins the page may call: the sign-in provider (discovery, keys, tokens).
    pub connect_origins: Vec<String>,
    /// Origins a browser may load a local override of an app from (a team's `tessera-deploy
    /// dev`); the page names them for the shell, which honours no override without them.
    pub override_origins: Vec<String>,
    /// The BFF's regions (`--region`): the page may call each, and the page and the service
    /// worker are told them, in order.
    pub regions: Vec<tessera_contract::regions::Region>,
}

impl SecurityPolicy {
    /// The policy of a page whose inline scripts carry `nonce`: scripts from this origin and
    /// the bundle origins only, wasm compiled from fetched bytes (`'wasm-unsafe-eval'`), no
    /// plugins, no framing, no `<base>` elsewhere, forms only to this origin.
    pub fn header(&self, nonce: &str) -> String {
        let bundles: Vec<&str> = self
            .bundle_origins
            .iter()
            .chain(&self.override_origins)
            .map(String::as_str)
            .collect();
        let bundles = bundles.join(" ");
        let connect: Vec<&str> = self
            .bundle_origins
            .iter()
            .chain(&self.override_origins)
            .chain(&self.connect_origins)
            .map(String::as_str)
            .collect();
        // The live connection goes to the region in use: its `ws` origin too.
        let sockets: Vec<String> = self
            .regions
            .iter()
            .map(|r| format!("{} {}", r.origin, r.origin.replacen("http", "ws", 1)))
            .collect();
        let connect = [connect.join(" "), sockets.join(" ")].join(" ");
        format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval' {bundles}; \
             connect-src 'self' {}; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
             worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'self'; \
             form-action 'self'; frame-ancestors 'none'",
            connect
        )
        .replace("  ", " ")
        .replace(" ;", ";")
    }
}

/// The router that serves `store` with the default policy (this origin only); mount it at
/// `/` (or nest it under other routes).
pub fn cdn_router<S: Store>(store: Arc<S>) -> Router {
    cdn_router_with(store, SecurityPolicy::default())
}

/// The router that serves `store`, pages with `policy`.
pub fn cdn_router_with<S: Store>(store: Arc<S>, policy: SecurityPolicy) -> Router {
    let cdn = Arc::new(Cdn {
        store,
        compressed: Arc::default(),
        policy,
    });
    Router::new().fallback(respond::<S>).with_state(cdn)
}

/// The policy of an answer that is not a page (errors: 404, 405, 500): it may load and run
/// nothing and be framed by nobody.
const ERROR_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// A fresh nonce for one page response.
fn nonce() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS gives random bytes");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The page with `nonce` on every `<script` tag, so its own inline scripts run and injected
/// ones do not, and the origins overrides may come from and the BFF's regions named for the
/// shell.
fn page(html: &[u8], nonce: &str, policy: &SecurityPolicy) -> Vec<u8> {
    let mut page =
        String::from_utf8_lossy(html).replace("<script", &format!("<script nonce=\"{nonce}\""));
    let metas = [
        (
            tessera_contract::overrides::ORIGINS_META,
            policy.override_origins.join(" "),
        ),
        (
            tessera_contract::regions::META,
            tessera_contract::regions::setting(&policy.regions),
        ),
    ];
    for (name, content) in metas.iter().filter(|(_, c)| !c.is_empty()) {
        let meta = format!(
            "<meta name=\"{name}\" content=\"{}\">",
            content.replace(['"', '<', '>', '&'], "")
        );
        match page.find("</head>") {
            Some(at) => page.insert_str(at, &meta),
            None => page.insert_str(0, &meta),
        }
    }
    page.into_bytes()
}

/// `sw.js` telling the worker the BFF's regions (a first line setting `self.tesseraRegions`),
/// and its entity-tag, which changes with them: a worker learns new regions as it learns of
/// any new `sw.js`.
fn worker_with_regions(
    script: &[u8],
    etag: &str,
    regions: &[tessera_contract::regions::Region],
) -> (Vec<u8>, String) {
    let setting = tessera_contract::regions::setting(regions);
    let line = format!(
        "self.tesseraRegions = {};\n",
        serde_json::to_string(&setting).unwrap_or_default()
    );
    use sha2::Digest;
    let digest = sha2::Sha256::digest(setting.as_bytes());
    let tag = format!(
        "{}-r{:02x}{:02x}{:02x}{:02x}\"",
        etag.trim_end_matches('"'),
        digest[0],
        digest[1],
        digest[2],
        digest[3]
    );
    ([line.as_bytes(), script].concat(), tag)
}

/// Headers every response carries.
fn security_headers(headers: &mut HeaderMap) {
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        ("cross-origin-opener-policy", "same-origin"),
        ("x-frame-options", "DENY"),
        (
            "permissions-policy",
            "camera=(), microphone=(), geolocation=()",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

fn gzipped(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    enc.write_all(bytes)
        .and_then(|_| enc.finish())
        .expect("gzip into memory cannot fail")
}

/// `bytes` as this CDN serves an object to browsers that take brotli (for the benchmarks'
/// figures).
pub fn stored_brotli(bytes: &[u8]) -> Vec<u8> {
    brotli(BROTLI_STORED, bytes)
}

fn brotli((quality, window): (u32, u32), bytes: &[u8]) -> Vec<u8> {
    let mut enc = brotli::CompressorWriter::new(Vec::new(), 4096, quality, window);
    enc.write_all(bytes)
        .expect("brotli into memory cannot fail");
    // Finishes the stream.
    enc.into_inner()
}

/// `bytes` in `coding`, made now.
fn encoded(coding: Coding, bytes: &[u8]) -> Vec<u8> {
    match coding {
        Coding::Brotli => brotli(BROTLI_FAST, bytes),
        Coding::Gzip => gzipped(bytes),
    }
}

/// One brotli body is made at a time: the server's other cores stay free for requests.
static BREWER: Mutex<()> = Mutex::new(());

impl<S> Cdn<S> {
    fn cached(&self, object: &Object, coding: Coding) -> Option<Arc<Vec<u8>>> {
        let cache = self.compressed.lock().expect("cache lock");
        cache.bodies.get(&(object.etag.clone(), coding)).cloned()
    }

    fn gzip(&self, object: &Object) -> Arc<Vec<u8>> {
        if let Some(hit) = self.cached(object, Coding::Gzip) {
            return hit;
        }
        let zipped = Arc::new(gzipped(&object.bytes));
        let mut cache = self.compressed.lock().expect("cache lock");
        cache.keep(object.etag.clone(), Coding::Gzip, zipped.clone());
        zipped
    }

    /// The object's brotli body if it is made; if not, starts making it (once) and answers
    /// `None`, so this request is served another way and a later one gets it.
    fn brotli(&self, object: &Object) -> Option<Arc<Vec<u8>>> {
        if let Some(hit) = self.cached(object, Coding::Brotli) {
            return Some(hit);
        }
        let mut cache = self.compressed.lock().expect("cache lock");
        if cache.brewing.insert(object.etag.clone()) {
            let (etag, bytes, compressed) = (
                object.etag.clone(),
                object.bytes.clone(),
                self.compressed.clone(),
            );
            tokio::task::spawn_blocking(move || {
                let body = {
                    let _turn = BREWER.lock().unwrap_or_else(|e| e.into_inner());
                    Arc::new(stored_brotli(&bytes))
                };
                let mut cache = compressed.lock().expect("cache lock");
                cache.brewing.remove(&etag);
                cache.keep(etag, Coding::Brotli, body);
            });
        }
        None
    }
}

/// Whether the request's `Accept-Encoding` allows `coding` (and does not refuse it with
/// `q=0`).
fn accepts(headers: &HeaderMap, coding: Coding) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|offer| {
            let mut parts = offer.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused =
                parts.any(|p| p.replace(' ', "") == "q=0" || p.replace(' ', "") == "q=0.0");
            (name.eq_ignore_ascii_case(coding.name()) || name == "*") && !refused
        })
}

fn compressible(content_type: &str) -> bool {
    !content_type.starts_with("image/png") && content_type != "application/octet-stream"
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("not found: {what}\n"),
    )
        .into_response()
}

/// The store key for a request path, or `None` when the path cannot name a public object.
fn key_for(path: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    let key = decoded.trim_start_matches('/');
    let key = if key.is_empty() { "index.html" } else { key };
    if key.starts_with(INTERNAL_PREFIX) || validate_key(key).is_err() {
        return None;
    }
    Some(key.to_string())
}

/// A path the single-page app routes itself: its last segment has no extension.
fn is_app_route(key: &str) -> bool {
    !key.rsplit('/').next().unwrap_or(key).contains('.')
}

/// Every answer, errors included, with the security headers.
async fn respond<S: Store>(state: State<Arc<Cdn<S>>>, req: Request) -> Response {
    let mut res = answer(state, req).await;
    let headers = res.headers_mut();
    security_headers(headers);
    if res.status().as_u16() >= 400 && !res.headers().contains_key(header::CONTENT_SECURITY_POLICY)
    {
        res.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(ERROR_CSP),
        );
    }
    res
}

/// Whether an `If-None-Match` header (all its lines) matches `etag`, by the weak comparison
/// RFC 9110 asks for here: `W/` is ignored on both sides, any tag of the list may match,
/// and `*` matches any current representation.
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    let ours = opaque(etag).unwrap_or(etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|list| {
            if list.trim() == "*" {
                return true;
            }
            entity_tags(list).any(|tag| tag == ours)
        })
}

/// The opaque part of an entity-tag, quotes included (`"x"` of `W/"x"`).
fn opaque(tag: &str) -> Option<&str> {
    let tag = tag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    (tag.len() >= 2 && tag.starts_with('"') && tag.ends_with('"')).then_some(tag)
}

/// The opaque tags of a comma-separated list of entity-tags; a malformed rest ends the list.
fn entity_tags(list: &str) -> impl Iterator<Item = &str> {
    let mut rest = list;
    std::iter::from_fn(move || {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let body = rest.strip_prefix("W/").unwrap_or(rest);
        let inner = body.strip_prefix('"')?;
        let end = inner.find('"')?;
        let tag = &body[..end + 2];
        rest = &inner[end + 1..];
        Some(tag)
    })
}

async fn answer<S: Store>(State(cdn): State<Arc<Cdn<S>>>, req: Request) -> Response {
    let store = &cdn.store;
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let path = req.uri().path();
    let Some(mut key) = key_for(path) else {
        return not_found(path);
    };
    let mut object = match store.get(&key).await {
        Ok(o) => o,
        Err(e) => return server_error(&key, e),
    };
    if object.is_none() && is_app_route(&key) {
        key = "index.html".into();
        object = match store.get(&key).await {
            Ok(o) => o,
            Err(e) => return server_error(&key, e),
        };
    }
    let Some(mut object) = object else {
        return not_found(path);
    };
    if key == "sw.js" && !cdn.policy.regions.is_empty() {
        (object.bytes, object.etag) =
            worker_with_regions(&object.bytes, &object.etag, &cdn.policy.regions);
    }
    let kind = content_type(&key);
    let compress = compressible(kind) && object.bytes.len() >= MIN_COMPRESS;
    let takes = |coding| compress && accepts(req.headers(), coding);
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control(&key)),
    );
    security_headers(&mut headers);
    if kind.starts_with("text/html") {
        // A page gets a fresh nonce each time, so it is never answered with a 304 (the cached
        // body would carry the old nonce) nor from the cache of compressed bodies.
        let nonce = nonce();
        if let Ok(csp) = HeaderValue::from_str(&cdn.policy.header(&nonce)) {
            headers.insert(header::CONTENT_SECURITY_POLICY, csp);
        }
        let page = page(&object.bytes, &nonce, &cdn.policy);
        let coding = [Coding::Brotli, Coding::Gzip]
            .into_iter()
            .find(|&c| takes(c));
        let Some(coding) = coding else {
            return (StatusCode::OK, headers, Body::from(page)).into_response();
        };
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(coding.name()),
        );
        return (StatusCode::OK, headers, Body::from(encoded(coding, &page))).into_response();
    }
    let body = match (takes(Coding::Brotli), takes(Coding::Gzip)) {
        (true, gzip) => match cdn.brotli(&object) {
            Some(body) => Some((Coding::Brotli, body)),
            None => gzip.then(|| (Coding::Gzip, cdn.gzip(&object))),
        },
        (false, true) => Some((Coding::Gzip, cdn.gzip(&object))),
        (false, false) => None,
    };
    let etag = match &body {
        Some((coding, _)) => format!(
            "{}{}\"",
            object.etag.trim_end_matches('"'),
            coding.tag_suffix()
        ),
        None => object.etag.clone(),
    };
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    if none_match(req.headers(), &etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let Some((coding, body)) = body else {
        return (StatusCode::OK, headers, Body::from(object.bytes)).into_response();
    };
    headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(coding.name()),
    );
    (StatusCode::OK, headers, Body::from(body.as_ref().clone())).into_response()
}

fn server_error(key: &str, e: anyhow::Error) -> Response {
    eprintln!("cdn: reading {key}: {e:#}");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("could not read {key}\n"),
    )
        .into_response()
}

/// How long a client may take over a request before its connection is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// From the moment the server waits for a request (on a new connection or the next one
    /// on a kept-alive connection) to the end of its header.
    pub header_read: Duration,
    /// With no byte read or written in either direction while the server waits on the
    /// connection: a body that stops coming, a client that stops reading the answer.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header_read: Duration::from_secs(10),
            idle: Duration::from_secs(30),
        }
    }
}

/// Serves `router` (HTTP/1.1) on `listener` until `shutdown` completes, closing connections
/// that break `timeouts`, then lets the requests in flight finish. `axum::serve` sets no
/// timeouts at all, so a client that stops mid-header or mid-body would hold its
/// connection open for ever.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    let (done_tx, done_rx) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    eprintln!("cdn: accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let io = hyper_util::rt::TokioIo::new(IdleTimeout::new(stream, timeouts.idle));
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let mut stop = stop_rx.clone();
        let done = done_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(timeouts.header_read);
            let mut conn = std::pin::pin!(builder.serve_connection(io, service));
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                }
            }
            drop(done);
        });
    }
    drop(done_rx);
    let _ = stop_tx.send(());
    done_tx.closed().await;
    Ok(())
}

/// A connection that fails with `TimedOut` once it has moved no byte, in either direction,
/// for `idle` while something waited on it.
struct IdleTimeout<T> {
    io: T,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    armed: bool,
}

impl<T> IdleTimeout<T> {
    fn new(io: T, idle: Duration) -> Self {
        IdleTimeout {
            io,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            armed: false,
        }
    }

    /// `poll` of the inner connection, with the idle clock restarted on any progress.
    fn watch<R>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(Pin<&mut T>, &mut Context<'_>) -> Poll<std::io::Result<R>>,
    ) -> Poll<std::io::Result<R>>
    where
        T: Unpin,
    {
        match poll(Pin::new(&mut self.io), cx) {
            Poll::Ready(result) => {
                self.armed = false;
                Poll::Ready(result)
            }
            Poll::Pending => {
                if !self.armed {
                    self.timer.as_mut().reset(Instant::now() + self.idle);
                    self.armed = true;
                }
                match self.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the connection was idle for too long",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for IdleTimeout<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.get_mut().watch(cx, |io, cx| io.poll_read(cx, buf))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for IdleTimeout<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().watch(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut()
            .watch(cx, |io, cx| io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().watch(cx, |io, cx| io.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().watch(cx, |io, cx| io.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths_map_to_public_keys_only() {
        assert_eq!(key_for("/").as_deref(), Some("index.html"));
        assert_eq!(key_for("/apps.json").as_deref(), Some("apps.json"));
        assert_eq!(
            key_for("/%40tessera/cart/abc/cart.js").as_deref(),
            Some("@tessera/cart/abc/cart.js")
        );
        for bad in [
            "/_tessera/registry.json",
            "/../etc/passwd",
            "/a/%2e%2e/b",
            "/%2e%2e%2fsecret",
            "/.hidden",
            "/a//b",
        ] {
            assert_eq!(key_for(bad), None, "{bad}");
        }
    }

    #[test]
    fn codings_are_negotiated_from_accept_encoding() {
        let takes = |v: &str, coding| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            accepts(&h, coding)
        };
        let with = |v: &str| takes(v, Coding::Gzip);
        assert!(with("gzip, deflate, br, zstd"));
        assert!(with("br;q=1.0, GZIP;q=0.5"));
        assert!(with("*"));
        assert!(!with("br"));
        assert!(!with("gzip;q=0, br"));
        assert!(!with("identity"));
        assert!(!accepts(&HeaderMap::new(), Coding::Gzip));
        assert!(takes("gzip, deflate, br, zstd", Coding::Brotli));
        assert!(takes("BR;q=0.5", Coding::Brotli));
        assert!(takes("*", Coding::Brotli));
        assert!(!takes("gzip, deflate", Coding::Brotli));
        assert!(!takes("br;q=0, gzip", Coding::Brotli));
        assert!(!takes("brotli", Coding::Brotli), "a name is whole");
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let with = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(header::IF_NONE_MATCH, HeaderValue::from_str(v).unwrap());
            }
            none_match(&h, "\"abc\"")
        };
        assert!(with(&["\"abc\""]));
        assert!(with(&["W/\"abc\""]));
        assert!(with(&["\"x\", W/\"abc\""]));
        assert!(with(&["\"x\",W/\"abc\",\"y\""]));
        assert!(with(&["\"x\"", "W/\"abc\""]));
        assert!(with(&["*"]));
        assert!(
            with(&["\"a,b\", \"abc\""]),
            "a comma inside a tag is part of it"
        );
        assert!(!with(&["\"abcd\""]));
        assert!(!with(&["abc"]), "an unquoted tag is no tag");
        assert!(!with(&["w/\"abc\""]), "the weak prefix is case-sensitive");
        assert!(!with(&["\"abc"]));
        assert!(!with(&[]));
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"abc\""));
        assert!(none_match(&h, "W/\"abc\""), "our tag weak, theirs strong");
    }

    #[test]
    fn only_extensionless_paths_fall_back_to_the_page() {
        assert!(is_app_route("restaurants/pho-corner"));
        assert!(!is_app_route("index.html"));
        assert!(!is_app_route("@tessera/cart/abc/missing.js"));
    }
}
