//! The CDN server over a published store: cache headers, types, revalidation, deep-link
//! fallback, and nothing served from outside the public part of the store.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::Fixture;
use http_body_util::BodyExt;
use std::sync::Arc;
use tessera_deployer::store::LocalStore;
use tower::ServiceExt;

struct Got {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

async fn get(store: &Arc<LocalStore>, path: &str, headers: &[(header::HeaderName, &str)]) -> Got {
    ask(&tessera_deployer::cdn_router(store.clone()), path, headers).await
}

/// A request to one server (`get` asks a new one each time).
async fn ask(cdn: &axum::Router, path: &str, headers: &[(header::HeaderName, &str)]) -> Got {
    let mut req = Request::get(path);
    for (k, v) in headers {
        req = req.header(k, *v);
    }
    let res = cdn
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    Got {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes().to_vec(),
    }
}

fn h(g: &Got, name: header::HeaderName) -> &str {
    g.headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

#[tokio::test]
async fn serves_the_store_as_a_cdn_would() {
    let f = Fixture::with_shell().await;
    f.publish(&f.routed_app("hello", "export const hi = 1;"))
        .await
        .unwrap();
    std::fs::write(f.tmp.path().join("secret.txt"), "outside the store").unwrap();
    let store = Arc::new(LocalStore::open(f.store.root()).unwrap());

    let index = get(&store, "/", &[]).await;
    assert_eq!(index.status, StatusCode::OK);
    assert_eq!(h(&index, header::CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(h(&index, header::CACHE_CONTROL), "no-cache");
    // The page as stored, with a fresh nonce on every script tag, which its policy names.
    let csp = h(&index, header::CONTENT_SECURITY_POLICY).to_string();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the policy names a nonce")
        .to_string();
    assert_eq!(
        String::from_utf8(index.body.clone()).unwrap(),
        f.read("index.html")
            .replace("<script", &format!("<script nonce=\"{nonce}\""))
    );
    for part in [
        "default-src 'self'",
        "'wasm-unsafe-eval'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
    ] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    let script_src = csp
        .split(';')
        .find(|d| d.trim().starts_with("script-src"))
        .unwrap();
    assert!(
        !script_src.contains(" 'unsafe-eval'") && !script_src.contains("'unsafe-inline'"),
        "{script_src}"
    );
    assert_eq!(h(&index, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(h(&index, header::X_FRAME_OPTIONS), "DENY");
    let again = get(&store, "/", &[]).await;
    assert_ne!(
        h(&again, header::CONTENT_SECURITY_POLICY),
        csp,
        "each page response has its own nonce"
    );
    assert_eq!(
        again.status,
        StatusCode::OK,
        "a page is never a 304: the cached copy's nonce would not match"
    );

    // The current shell's service worker and web app manifest are at the root, revalidated on
    // every load (the browser checks the worker for updates), and point into its bundle.
    let sw = get(&store, "/sw.js", &[]).await;
    assert_eq!(sw.status, StatusCode::OK);
    assert_eq!(
        h(&sw, header::CONTENT_TYPE),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(h(&sw, header::CACHE_CONTROL), "no-cache");
    let sw_text = String::from_utf8(sw.body.clone()).unwrap();
    let shell_version = f.latest()["shell"]["current"]["manifest"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(sw_text.contains(&format!(
        "from \"/@tessera/shell/{shell_version}/sw/tessera_sw.js\""
    )));
    let manifest = get(&store, "/manifest.webmanifest", &[]).await;
    assert_eq!(
        h(&manifest, header::CONTENT_TYPE),
        "application/manifest+json"
    );
    let manifest: serde_json::Value = serde_json::from_slice(&manifest.body).unwrap();
    let icon = manifest["icons"][0]["src"].as_str().unwrap().to_string();
    let png = get(&store, &icon, &[]).await;
    assert_eq!(
        (png.status, h(&png, header::CONTENT_TYPE)),
        (StatusCode::OK, "image/png")
    );
    assert!(png.body.starts_with(b"\x89PNG"));

    // Deep links get the page; missing files with an extension do not.
    let deep = get(&store, "/hello/some/where", &[]).await;
    assert_eq!(deep.status, StatusCode::OK);
    assert_eq!(h(&deep, header::CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(
        get(&store, "/hello/missing.js", &[]).await.status,
        StatusCode::NOT_FOUND
    );

    let apps = get(&store, "/apps.json", &[]).await;
    assert_eq!(h(&apps, header::CONTENT_TYPE), "application/json");
    assert_eq!(h(&apps, header::CACHE_CONTROL), "no-cache");
    let etag = h(&apps, header::ETAG).to_string();
    assert!(etag.starts_with('"'), "{etag}");
    let again = get(&store, "/apps.json", &[(header::IF_NONE_MATCH, &etag)]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());

    let entry = f.json("importmap.json")["imports"]["@test/hello"]
        .as_str()
        .unwrap()
        .to_string();
    let js = get(&store, &entry, &[]).await;
    assert_eq!(js.status, StatusCode::OK);
    assert_eq!(
        h(&js, header::CONTENT_TYPE),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        h(&js, header::CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    let wasm = f.json("importmap.json")["imports"]["@test/hello"]
        .as_str()
        .unwrap()
        .replace("hello.js", "x.wasm");
    assert_eq!(get(&store, &wasm, &[]).await.status, StatusCode::NOT_FOUND);
    let shell_wasm = format!(
        "/@tessera/shell/{}/shell_bg.wasm",
        f.latest()["shell"]["current"]["manifest"]["version"]
            .as_str()
            .unwrap()
    );
    let w = get(&store, &shell_wasm, &[]).await;
    assert_eq!(
        (w.status, h(&w, header::CONTENT_TYPE)),
        (StatusCode::OK, "application/wasm")
    );

    // Large objects are gzipped once and served from the cache after; small ones go as they are.
    let big_body = "export const filler = `".to_string() + &"tessera ".repeat(1000) + "`;\n";
    f.publish(&f.routed_app("big", &big_body)).await.unwrap();
    let big = f.json("importmap.json")["imports"]["@test/big"]
        .as_str()
        .unwrap()
        .to_string();
    let accept = [(header::ACCEPT_ENCODING, "gzip, deflate, br")];
    for _ in 0..2 {
        let gz = get(&store, &big, &accept).await;
        assert_eq!(h(&gz, header::CONTENT_ENCODING), "gzip");
        assert!(
            gz.body.len() < big_body.len() / 10,
            "{} bytes",
            gz.body.len()
        );
        let mut plain = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz.body[..]), &mut plain)
            .unwrap();
        assert_eq!(plain, big_body);
        let gz_etag = h(&gz, header::ETAG).to_string();
        assert_ne!(
            gz_etag,
            h(&get(&store, &big, &[]).await, header::ETAG),
            "each coding has its own validator"
        );
        let again = get(
            &store,
            &big,
            &[accept[0].clone(), (header::IF_NONE_MATCH, &gz_etag)],
        )
        .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    }
    let plain = get(&store, &big, &[(header::ACCEPT_ENCODING, "gzip;q=0, br")]).await;
    assert_eq!(
        (h(&plain, header::CONTENT_ENCODING), plain.body.len()),
        ("", big_body.len())
    );
    let small = get(&store, &entry, &accept).await;
    assert_eq!(h(&small, header::CONTENT_ENCODING), "");
    assert_eq!(h(&small, header::VARY), "accept-encoding");

    for bad in [
        "/_tessera/head.json",
        "/_tessera/snapshots/1.json",
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/@test/hello/..%2f..%2f..%2fsecret.txt",
    ] {
        let g = get(&store, bad, &[]).await;
        assert_eq!(g.status, StatusCode::NOT_FOUND, "{bad}");
        assert!(
            !String::from_utf8_lossy(&g.body).contains("outside the store"),
            "{bad}"
        );
    }
    let post = tessera_deployer::cdn_router(store.clone())
        .oneshot(Request::post("/apps.json").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// The Content-Security-Policy and the body of the page at `path` served under `policy`.
#[tokio::test]
async fn brotli_is_made_once_in_the_background_and_served_from_then_on() {
    let f = Fixture::with_shell().await;
    let body = "export const filler = `".to_string() + &"tessera brotli ".repeat(2000) + "`;\n";
    f.publish(&f.routed_app("big", &body)).await.unwrap();
    let path = f.json("importmap.json")["imports"]["@test/big"]
        .as_str()
        .unwrap()
        .to_string();
    let cdn = tessera_deployer::cdn_router(Arc::new(LocalStore::open(f.store.root()).unwrap()));
    let both = [(header::ACCEPT_ENCODING, "gzip, deflate, br, zstd")];

    // The first answer does not wait for brotli: gzip, while brotli is made.
    let first = ask(&cdn, &path, &both).await;
    assert_eq!(h(&first, header::CONTENT_ENCODING), "gzip");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let br = loop {
        let got = ask(&cdn, &path, &both).await;
        if h(&got, header::CONTENT_ENCODING) == "br" {
            break got;
        }
        assert_eq!(h(&got, header::CONTENT_ENCODING), "gzip");
        assert!(
            std::time::Instant::now() < deadline,
            "no brotli body after 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let mut plain = String::new();
    std::io::Read::read_to_string(
        &mut brotli::Decompressor::new(&br.body[..], 4096),
        &mut plain,
    )
    .unwrap();
    assert_eq!(plain, body);
    assert!(
        br.body.len() < first.body.len(),
        "brotli {} B, gzip {} B",
        br.body.len(),
        first.body.len()
    );
    let tag = h(&br, header::ETAG).to_string();
    assert!(tag.ends_with("-br\""), "{tag}");
    assert_ne!(tag, h(&first, header::ETAG));
    assert_eq!(h(&br, header::VARY), "accept-encoding");
    let again = ask(
        &cdn,
        &path,
        &[both[0].clone(), (header::IF_NONE_MATCH, &tag)],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);

    // Who takes no brotli still gets gzip or the bytes as they are.
    let gz = ask(&cdn, &path, &[(header::ACCEPT_ENCODING, "gzip, br;q=0")]).await;
    assert_eq!(h(&gz, header::CONTENT_ENCODING), "gzip");
    let plain = ask(&cdn, &path, &[]).await;
    assert_eq!(
        (h(&plain, header::CONTENT_ENCODING), plain.body.len()),
        ("", body.len())
    );

    // A page is made per response (its nonce), in brotli at once.
    let page = ask(&cdn, "/", &both).await;
    assert_eq!(h(&page, header::CONTENT_ENCODING), "br");
    let mut html = String::new();
    std::io::Read::read_to_string(
        &mut brotli::Decompressor::new(&page.body[..], 4096),
        &mut html,
    )
    .unwrap();
    assert!(html.contains("<script nonce="), "{html}");
}

async fn page_under(
    store: &Arc<LocalStore>,
    policy: tessera_deployer::cdn::SecurityPolicy,
    path: &str,
) -> (String, String) {
    let res = tessera_deployer::cdn::cdn_router_with(store.clone(), policy)
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let csp = res.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (csp, String::from_utf8(body.to_vec()).unwrap())
}

/// One directive of a policy, e.g. `script-src …`.
fn directive(csp: &str, name: &str) -> String {
    csp.split(';')
        .map(str::trim)
        .find(|d| d.starts_with(name))
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn pages_may_load_and_call_only_the_configured_origins() {
    let f = Fixture::with_shell().await;
    let store = Arc::new(LocalStore::open(f.store.root()).unwrap());
    let policy = tessera_deployer::cdn::SecurityPolicy {
        bundle_origins: vec!["https://cdn.example.com".into()],
        connect_origins: vec!["https://id.example.com".into()],
        ..Default::default()
    };
    let (csp, _) = page_under(&store, policy, "/").await;
    let script = directive(&csp, "script-src");
    assert!(script.contains("https://cdn.example.com"), "{csp}");
    assert!(!script.contains("id.example.com"), "{csp}");
    assert!(
        directive(&csp, "connect-src").contains("https://id.example.com"),
        "{csp}"
    );
}

#[tokio::test]
async fn override_origins_are_let_through_and_named_in_the_page() {
    let f = Fixture::with_shell().await;
    let store = Arc::new(LocalStore::open(f.store.root()).unwrap());
    let policy = tessera_deployer::cdn::SecurityPolicy {
        override_origins: vec!["http://127.0.0.1:8787".into()],
        ..Default::default()
    };
    let (csp, page) = page_under(&store, policy, "/cart").await;
    for name in ["script-src", "connect-src"] {
        assert!(
            directive(&csp, name).contains("http://127.0.0.1:8787"),
            "{csp}"
        );
    }
    assert!(
        page.contains(
            r#"<meta name="tessera-override-origins" content="http://127.0.0.1:8787"></head>"#
        ),
        "{page}"
    );
    let (csp, page) = page_under(&store, Default::default(), "/cart").await;
    assert!(
        !csp.contains("8787") && !page.contains("tessera-override-origins"),
        "{csp}"
    );
}

#[tokio::test]
async fn regions_are_named_to_the_page_and_the_worker_and_may_be_called() {
    let f = Fixture::with_shell().await;
    let store = Arc::new(LocalStore::open(f.store.root()).unwrap());
    let regions =
        tessera_contract::regions::parse("eu=http://127.0.0.1:8181 us=https://us.example.com")
            .unwrap();
    let policy = tessera_deployer::cdn::SecurityPolicy {
        regions: regions.clone(),
        ..Default::default()
    };
    let (csp, page) = page_under(&store, policy.clone(), "/cart").await;
    let connect = directive(&csp, "connect-src");
    for origin in [
        "http://127.0.0.1:8181",
        "ws://127.0.0.1:8181",
        "https://us.example.com",
        "wss://us.example.com",
    ] {
        assert!(connect.contains(origin), "{csp}");
    }
    assert!(
        page.contains(r#"<meta name="tessera-regions" content="eu=http://127.0.0.1:8181 us=https://us.example.com"></head>"#),
        "{page}"
    );

    let worker = |policy| {
        let store = store.clone();
        async move {
            let response = tessera_deployer::cdn::cdn_router_with(store, policy)
                .oneshot(Request::get("/sw.js").body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let etag = response.headers()[header::ETAG]
                .to_str()
                .unwrap()
                .to_owned();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (etag, String::from_utf8(body.to_vec()).unwrap())
        }
    };
    let (tag, script) = worker(policy).await;
    assert!(
        script.starts_with(
            "self.tesseraRegions = \"eu=http://127.0.0.1:8181 us=https://us.example.com\";\n// Tessera"
        ),
        "{script}"
    );
    let (plain_tag, plain) = worker(Default::default()).await;
    assert!(
        !plain.contains("tesseraRegions") && plain_tag != tag,
        "{plain_tag} {tag}"
    );
    let other = tessera_deployer::cdn::SecurityPolicy {
        regions: regions[..1].to_vec(),
        ..Default::default()
    };
    assert_ne!(worker(other).await.0, tag, "other regions, another sw.js");
}

/// The headers every answer carries, errors included.
fn assert_security_headers(headers: &axum::http::HeaderMap, what: &str) {
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        ("cross-origin-opener-policy", "same-origin"),
        (
            "permissions-policy",
            "camera=(), microphone=(), geolocation=()",
        ),
    ] {
        assert_eq!(
            headers.get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "{what}: {name}"
        );
    }
}

#[tokio::test]
async fn errors_carry_the_security_headers_and_weak_etags_revalidate() {
    let f = Fixture::with_shell().await;
    let store = Arc::new(LocalStore::open(f.store.root()).unwrap());

    let missing = get(&store, "/nothing/here.js", &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_security_headers(&missing.headers, "404");
    assert_eq!(
        h(&missing, header::CONTENT_SECURITY_POLICY),
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
    );
    let internal = get(&store, "/_tessera/head.json", &[]).await;
    assert_eq!(internal.status, StatusCode::NOT_FOUND);
    assert_security_headers(&internal.headers, "404 for _tessera/");
    for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let res = tessera_deployer::cdn_router(store.clone())
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri("/apps.json")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(res.headers()[header::ALLOW], "GET, HEAD");
        assert_security_headers(res.headers(), method);
        assert!(res.headers().contains_key(header::CONTENT_SECURITY_POLICY));
    }

    let apps = get(&store, "/apps.json", &[]).await;
    assert_security_headers(&apps.headers, "200");
    let etag = h(&apps, header::ETAG).to_string();
    for inm in [
        format!("W/{etag}"),
        format!("\"nope\", W/{etag}"),
        format!("\"nope\",{etag}"),
        "*".to_string(),
    ] {
        let again = get(&store, "/apps.json", &[(header::IF_NONE_MATCH, &inm)]).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{inm}");
        assert!(again.body.is_empty(), "{inm}");
        assert_eq!(h(&again, header::ETAG), etag);
        assert_security_headers(&again.headers, "304");
    }
    let other = get(
        &store,
        "/apps.json",
        &[(header::IF_NONE_MATCH, "W/\"nope\"")],
    )
    .await;
    assert_eq!(other.status, StatusCode::OK);
}

/// Reads what the server sends until it closes the connection; `None` if it is still open
/// after `limit`.
async fn read_until_closed(
    stream: &mut tokio::net::TcpStream,
    limit: std::time::Duration,
) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read).await.ok()?;
    Some(got)
}

#[tokio::test]
async fn slow_clients_are_cut_off_after_the_configured_timeouts() {
    use std::time::{Duration, Instant};
    use tokio::io::AsyncWriteExt;
    let f = Fixture::with_shell().await;
    let store = Arc::new(LocalStore::open(f.store.root()).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let timeouts = tessera_deployer::cdn::Timeouts {
        header_read: Duration::from_millis(300),
        idle: Duration::from_millis(600),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tessera_deployer::cdn::serve(
        listener,
        tessera_deployer::cdn_router(store),
        timeouts,
        async {
            let _ = stopped.await;
        },
    ));
    // Far longer than either timeout, far shorter than "for ever".
    let limit = Duration::from_secs(10);

    // A whole request is answered as usual.
    let mut ok = tokio::net::TcpStream::connect(addr).await.unwrap();
    ok.write_all(b"GET /apps.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut ok, limit).await.expect("closed");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains("x-content-type-options: nosniff"), "{text}");

    // Half a header, then nothing.
    let started = Instant::now();
    let mut half = tokio::net::TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /apps.json HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let got = read_until_closed(&mut half, limit)
        .await
        .expect("a connection stopped mid-header is closed");
    assert!(
        !String::from_utf8_lossy(&got).contains("200 OK"),
        "no answer to half a request"
    );
    assert!(started.elapsed() >= Duration::from_millis(250));

    // A connection that never sends a byte.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    read_until_closed(&mut silent, limit)
        .await
        .expect("a silent connection is closed");

    // A body that stops coming: the answer may come, the connection still closes.
    let mut body = tokio::net::TcpStream::connect(addr).await.unwrap();
    body.write_all(b"PUT /apps.json HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
        .await
        .unwrap();
    read_until_closed(&mut body, limit)
        .await
        .expect("a connection stopped mid-body is closed");

    // A keep-alive connection with no next request.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /apps.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let got = read_until_closed(&mut idle, limit)
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200 OK"));

    stop.send(()).unwrap();
    tokio::time::timeout(limit, server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_after_the_idle_timeout() {
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;
    let f = Fixture::with_shell().await;
    // Far more than the loopback socket buffers hold, so the server's writes stall.
    let size = 24 << 20;
    std::fs::write(f.store.root().join("big.bin"), vec![7u8; size]).unwrap();
    let store = Arc::new(LocalStore::open(f.store.root()).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let timeouts = tessera_deployer::cdn::Timeouts {
        // Long: only the idle timeout can end this connection within the test.
        header_read: Duration::from_secs(60),
        idle: Duration::from_millis(500),
    };
    tokio::spawn(tessera_deployer::cdn::serve(
        listener,
        tessera_deployer::cdn_router(store),
        timeouts,
        std::future::pending(),
    ));
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Ten times the idle timeout: the server must have filled the socket buffers and stalled
    // first, which takes a while on a loaded machine (a 2 s wait once let the reads resume the
    // transfer before the cut-off).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let got = read_until_closed(&mut slow, Duration::from_secs(60))
        .await
        .expect("a client that stops reading is cut off");
    let text = String::from_utf8_lossy(&got[..got.len().min(200)]).to_string();
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(
        got.len() < size,
        "the answer was cut short ({} of {size} bytes)",
        got.len()
    );
}
