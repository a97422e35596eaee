//! A real S3 API for tests: moto's server (`moto_server`, PyPI `moto[server]`), which
//! `cargo xtask test` installs into `target/venv`, started on a free 127.0.0.1 port and stopped
//! when the handle is dropped; and a raw HTTP/1.1 client to look at what it stores.
//!
//! moto answers `PutObject` with `If-None-Match: *` on an existing key and with a stale
//! `If-Match` with `412 Precondition Failed`, as S3 does (the conditional tests check it).
//! Without the server the tests fail, saying how to install it: they never skip.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tessera_deployer::s3::{S3Options, S3Store};

/// Where `cargo xtask test` installs moto (`TESSERA_MOTO_SERVER` overrides it).
pub fn moto_server_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("TESSERA_MOTO_SERVER") {
        return PathBuf::from(bin);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/venv/bin/moto_server")
}

pub const ACCESS_KEY: &str = "tessera-test";
pub const SECRET_KEY: &str = "tessera-test-secret";
pub const REGION: &str = "us-east-1";

pub struct S3Server {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl S3Server {
    /// Starts moto on a free port of 127.0.0.1 and waits until it answers.
    pub fn start() -> S3Server {
        let bin = moto_server_bin();
        assert!(
            bin.exists(),
            "no S3 API server for the S3 tests: {} is missing. `cargo xtask test` installs it \
             (moto[server] from PyPI into target/venv); or run \
             `python3 -m venv target/venv && target/venv/bin/pip install 'moto[server]==5.2.5'`, \
             or set TESSERA_MOTO_SERVER to a moto_server binary",
            bin.display()
        );
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port();
            let log = std::env::temp_dir()
                .join(format!("tessera-moto-{}-{port}.log", std::process::id()));
            let out = std::fs::File::create(&log).unwrap();
            let child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
            let mut server = S3Server {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                log,
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = server.child.try_wait() {
                    last_error = format!("moto_server exited with {status}: {}", server.log());
                    break;
                }
                if let Ok(r) = try_http(server.addr, "GET", "/moto-api/", &[], b"") {
                    if r.status > 0 {
                        return server;
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if last_error.is_empty() {
                last_error = format!("moto_server did not answer within 60 s: {}", server.log());
            }
        }
        panic!("the S3 API server for the tests would not start: {last_error}");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates a bucket anyone may read (as a CDN origin would be), so raw GETs show what is
    /// stored.
    pub fn create_bucket(&self, bucket: &str) {
        let r = http(
            self.addr,
            "PUT",
            &format!("/{bucket}"),
            &[("x-amz-acl", "public-read")],
            b"",
        );
        assert_eq!(r.status, 200, "creating bucket {bucket}: {}", r.text());
    }

    pub fn options(&self) -> S3Options {
        S3Options {
            endpoint: Some(self.endpoint()),
            region: Some(REGION.into()),
            credentials: Some((ACCESS_KEY.into(), SECRET_KEY.into())),
        }
    }

    pub fn store(&self, url: &str) -> S3Store {
        S3Store::open(url, &self.options()).unwrap()
    }

    /// The environment a `tessera-deploy` process needs to reach this server, the usual AWS
    /// variables and nothing else.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`), unsigned.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    try_http(addr, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} http://{addr}{path}: {e}"))
}

fn try_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers in the answer"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if let Some(len) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.truncate(len);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}
