//! Test plumbing: a BFF on a fresh database of either kind, served on 127.0.0.1, and a small
//! HTTP client that keeps status, headers and the exact body text.

#![allow(dead_code)] // each test binary uses a different part

pub mod live;
pub mod nats;
pub mod oidc;
pub mod pg;

use reqwest::header::HeaderMap;
use serde_json::Value;
use std::time::Duration;
use tessera_bff::{AppState, Config};
use tokio::task::JoinHandle;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// Runs an async test body once per database kind, as two tests.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Kind::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Kind::Postgres).await
            }
        }
    )*};
}

pub const ADMIN: &str = "dev:ada:admin";
pub const ALICE: &str = "dev:alice:customer";
pub const BOB: &str = "dev:bob:customer";

/// A database of `kind` that lives as long as the returned guard.
pub struct TestDb {
    pub url: String,
    _dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn new(kind: Kind) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = match kind {
            Kind::Sqlite => format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("tessera.db").display()
            ),
            Kind::Postgres => pg::create_database(false)
                .await
                .expect("a PostgreSQL test database"),
        };
        TestDb { url, _dir: dir }
    }
}

pub fn config(url: &str, kitchen_step_ms: u64) -> Config {
    Config {
        data_dir: "unused".into(),
        database_url: Some(url.to_owned()),
        addr: "127.0.0.1:0".parse().unwrap(),
        kitchen_step_ms,
        store: None,
        max_connections: 8,
        dev_tokens: true,
        ..Config::defaults()
    }
}

pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    pub state: AppState,
    config: Config,
    server: JoinHandle<()>,
    kitchen: JoinHandle<()>,
    live: JoinHandle<()>,
    push: JoinHandle<()>,
}

pub struct Stopped(Config);

impl Stopped {
    pub async fn restart(self) -> TestServer {
        TestServer::start_config(self.0).await
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json answer with `status`, returning the problem.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        let p = self.json();
        assert_eq!(p["status"], status);
        assert!(p["type"].is_string() && p["title"].is_string(), "{p}");
        p
    }
}

/// The `errors` members of a problem, as `pointer`/`parameter`/`header` strings.
pub fn error_targets(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            for k in ["pointer", "parameter", "header"] {
                if let Some(v) = e[k].as_str() {
                    return format!("{k}:{v}");
                }
            }
            panic!("error without a target: {e}")
        })
        .collect()
}

impl TestServer {
    pub async fn start(db: &TestDb) -> TestServer {
        TestServer::start_with(db, 3_600_000).await
    }

    pub async fn start_with(db: &TestDb, kitchen_step_ms: u64) -> TestServer {
        TestServer::start_config(config(&db.url, kitchen_step_ms)).await
    }

    pub async fn start_config(config: Config) -> TestServer {
        let state = AppState::connect(&config).await.expect("connect");
        let config = Config {
            // A restart gets a new port: the old one may linger.
            addr: "127.0.0.1:0".parse().unwrap(),
            ..config
        };
        let listener = tokio::net::TcpListener::bind(config.addr).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = tessera_bff::router(state.clone());
        let header_timeout = Duration::from_millis(config.http_header_timeout_ms);
        let server = tokio::spawn(tessera_bff::server::serve_http(
            listener,
            app,
            header_timeout,
            std::future::pending(),
        ));
        let kitchen = tessera_bff::kitchen::spawn(state.clone());
        let live = tessera_bff::live::spawn(state.clone());
        let push = tessera_bff::push::sender::spawn(state.clone());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build()
            .unwrap();
        TestServer {
            base,
            http,
            state,
            config,
            server,
            kitchen,
            live,
            push,
        }
    }

    /// Another handle on the same server for a spawned task; only the original stops it.
    pub fn attach(&self) -> TestServer {
        TestServer {
            base: self.base.clone(),
            http: self.http.clone(),
            state: self.state.clone(),
            config: self.config.clone(),
            server: tokio::spawn(async {}),
            kitchen: tokio::spawn(async {}),
            live: tokio::spawn(async {}),
            push: tokio::spawn(async {}),
        }
    }

    /// Stops the server (as [`Self::stop`]), keeping what it takes to start it again on the
    /// same database.
    pub async fn stop_serving(self) -> Stopped {
        let config = self.config.clone();
        self.stop().await;
        Stopped(config)
    }

    pub async fn stop(self) {
        self.state.live.close_all();
        self.kitchen.abort();
        self.push.abort();
        self.server.abort();
        let _ = self.kitchen.await;
        let _ = self.push.await;
        let _ = self.server.await;
        let _ = self.live.await;
        self.state.db.close().await;
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.expect("body");
        Resp {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    pub async fn get_if_none_match(&self, path: &str, token: Option<&str>, etag: &str) -> Resp {
        let mut req = self
            .http
            .get(format!("{}{path}", self.base))
            .header("if-none-match", etag);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    /// A command: `PUT path` with a JSON body, an Idempotency-Key and, when given, If-Match.
    pub async fn put(
        &self,
        path: &str,
        token: &str,
        key: &str,
        if_match: Option<i64>,
        body: &str,
    ) -> Resp {
        let mut req = self
            .http
            .put(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(v) = if_match {
            req = req.header("if-match", format!("\"{v}\""));
        }
        self.send(req).await
    }

    pub async fn raw(&self, req: reqwest::RequestBuilder) -> Resp {
        self.send(req).await
    }

    /// Menu item `item` of `restaurant` as the public menu shows it, if it is on the menu.
    pub async fn menu_item(&self, restaurant: &str, item: &str) -> Option<Value> {
        let detail = self
            .get(&format!("/api/restaurants/{restaurant}"), None)
            .await
            .json();
        detail["menu"]
            .as_array()?
            .iter()
            .find(|i| i["id"] == item)
            .cloned()
    }

    /// The whole event log, as the admin sees it.
    pub async fn all_events(&self) -> Vec<Value> {
        self.events_as(ADMIN).await
    }

    /// The whole log as `token`'s caller may see it.
    pub async fn events_as(&self, token: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .get(&format!("/api/events?after={after}&limit=100"), Some(token))
                .await;
            assert_eq!(page.status, 200, "{}", page.text);
            let page = page.json();
            let items = page["items"].as_array().unwrap().clone();
            if items.is_empty() {
                return out;
            }
            after = page["nextCursor"].as_str().unwrap().parse().unwrap();
            out.extend(items);
        }
    }
}

pub fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}
