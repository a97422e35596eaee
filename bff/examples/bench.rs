//! Command throughput and latency on SQLite and on PostgreSQL (a throwaway server with its
//! durable defaults), loopback only:
//!
//!     cargo run --profile server -p tessera-bff --example bench [-- --seconds 10 --clients 32 --only sqlite]
//!
//! Each client is one customer putting items into its own cart with If-Match and a fresh
//! Idempotency-Key, one command at a time, as the offline outbox replays them.

#[path = "../tests/common/pg.rs"]
mod pg;

use anyhow::{bail, Context, Result};
use std::time::{Duration, Instant};
use tessera_bff::{AppState, Config};

struct Args {
    seconds: u64,
    clients: usize,
    only: Option<String>,
    connections: u32,
}

fn args() -> Result<Args> {
    let mut a = Args {
        seconds: 10,
        clients: 32,
        only: None,
        connections: 16,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => a.seconds = value()?.parse()?,
            "--clients" => a.clients = value()?.parse()?,
            "--only" => a.only = Some(value()?),
            "--connections" => a.connections = value()?.parse()?,
            other => bail!("unknown argument {other}; expected --seconds N, --clients N, --connections N, --only sqlite|postgres"),
        }
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = args()?;
    let dir = tempfile::tempdir()?;
    println!(
        "{} clients, {} s per database, each command a PUT /api/cart/items/{{id}} with If-Match",
        args.clients, args.seconds
    );
    for backend in ["sqlite", "postgres"] {
        if args.only.as_deref().is_some_and(|o| o != backend) {
            continue;
        }
        let url = match backend {
            "sqlite" => format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            ),
            _ => pg::create_database(true).await?,
        };
        run(backend, &url, &args).await?;
    }
    pg::stop();
    Ok(())
}

async fn run(backend: &str, url: &str, args: &Args) -> Result<()> {
    let config = Config {
        data_dir: "unused".into(),
        database_url: Some(url.to_owned()),
        addr: "127.0.0.1:0".parse()?,
        kitchen_step_ms: 3_600_000,
        store: None,
        max_connections: args.connections,
        dev_tokens: true,
        ..Config::defaults()
    };
    let state = AppState::connect(&config).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = tessera_bff::router(state.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .timeout(Duration::from_secs(30))
        .build()?;

    let warmup = Duration::from_secs(1);
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + Duration::from_secs(args.seconds);
    let items = [
        "pho-bo",
        "banh-mi",
        "goi-cuon",
        "margherita",
        "diavola",
        "maki-set",
        "fries",
    ];
    let clients: Vec<_> = (0..args.clients)
        .map(|c| {
            let (http, base) = (http.clone(), base.clone());
            tokio::spawn(async move {
                let token = format!("dev:bench{c}:customer");
                let mut version = 0i64;
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let mut n = 0usize;
                while Instant::now() < end {
                    let item = items[(n + c) % items.len()];
                    n += 1;
                    let t = Instant::now();
                    let r = http
                        .put(format!("{base}/api/cart/items/{item}"))
                        .bearer_auth(&token)
                        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                        .header("if-match", version.to_string())
                        .header("content-type", "application/json")
                        .body(format!(r#"{{"quantity": {}}}"#, n % 5 + 1))
                        .send()
                        .await;
                    let ok = match r {
                        Ok(r) if r.status().is_success() => {
                            let v: serde_json::Value = r.json().await.unwrap_or_default();
                            version = v["version"].as_i64().unwrap_or(version);
                            true
                        }
                        _ => false,
                    };
                    if t >= measure_from && Instant::now() <= end {
                        if ok {
                            latencies.push(t.elapsed());
                        } else {
                            errors += 1;
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for c in clients {
        let (l, e) = c.await?;
        latencies.extend(l);
        errors += e;
    }
    server.abort();
    state.db.close().await;
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{backend:>8}: {:>7.0} commands/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} commands, {errors} errors)",
        latencies.len() as f64 / args.seconds as f64,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.len(),
    );
    Ok(())
}
