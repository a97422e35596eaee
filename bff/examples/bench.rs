//! Command throughput and latency on SQLite and on PostgreSQL (a throwaway server with its
//! durable defaults), loopback only:
//!
//!     cargo run --profile server -p tessera-bff --example bench [-- --seconds 10 --clients 32 --only sqlite]
//!
//! Each client is one customer putting items into its own cart with If-Match and a fresh
//! Idempotency-Key: first one command at a time, then in batches of `--batch` commands
//! (`POST /api/batch`, each on the version the previous one makes), as the outbox replays them.

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
    batch: usize,
}

fn args() -> Result<Args> {
    let mut a = Args {
        seconds: 10,
        clients: 32,
        only: None,
        connections: 16,
        batch: 25,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => a.seconds = value()?.parse()?,
            "--clients" => a.clients = value()?.parse()?,
            "--only" => a.only = Some(value()?),
            "--connections" => a.connections = value()?.parse()?,
            "--batch" => a.batch = value()?.parse()?,
            other => bail!("unknown argument {other}; expected --seconds N, --clients N, --connections N, --batch N, --only sqlite|postgres"),
        }
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = args()?;
    let dir = tempfile::tempdir()?;
    println!(
        "{} clients, {} s per database and mode, each command a PUT /api/cart/items/{{id}} with If-Match, \
         alone or {} to a POST /api/batch",
        args.clients, args.seconds, args.batch
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

    for batch in [1, args.batch] {
        let (latencies, errors, commands) = measure(&http, &base, args, batch).await?;
        let pct = |p: f64| {
            latencies
                .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
                .as_secs_f64()
                * 1e3
        };
        let mode = if batch == 1 {
            "alone".to_owned()
        } else {
            format!("{batch}/batch")
        };
        println!(
            "{backend:>8}, {mode:>8}: {:>7.0} commands/s  p50 {:>6.2} ms  p99 {:>6.2} ms per request  ({commands} commands, {errors} errors)",
            commands as f64 / args.seconds as f64,
            pct(0.50),
            pct(0.99),
        );
    }
    server.abort();
    state.db.close().await;
    Ok(())
}

const ITEMS: [&str; 7] = [
    "pho-bo",
    "banh-mi",
    "goi-cuon",
    "margherita",
    "diavola",
    "maki-set",
    "fries",
];

/// Every client sends `batch` commands per request (1: the single-command route) for
/// `args.seconds` after a second of warm-up: each request's latency (sorted), the failed
/// requests, and the commands applied.
async fn measure(
    http: &reqwest::Client,
    base: &str,
    args: &Args,
    batch: usize,
) -> Result<(Vec<Duration>, u64, usize)> {
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(1);
    let end = measure_from + Duration::from_secs(args.seconds);
    let clients: Vec<_> = (0..args.clients)
        .map(|c| {
            let (http, base) = (http.clone(), base.to_owned());
            tokio::spawn(async move {
                // A cart of its own per client and mode, so each mode starts at version 0.
                let token = format!("dev:bench{c}-{batch}:customer");
                let mut version = 0i64;
                let (mut latencies, mut errors, mut applied) = (Vec::new(), 0u64, 0usize);
                let mut n = 0usize;
                while Instant::now() < end {
                    let t = Instant::now();
                    let done = if batch == 1 {
                        n += 1;
                        single(&http, &base, &token, &mut version, ITEMS[(n + c) % ITEMS.len()], n)
                            .await
                    } else {
                        let commands: Vec<_> = (0..batch)
                            .map(|i| {
                                n += 1;
                                serde_json::json!({
                                    "method": "PUT",
                                    "path": format!("/api/cart/items/{}", ITEMS[(n + c) % ITEMS.len()]),
                                    "idempotencyKey": uuid::Uuid::new_v4().to_string(),
                                    "ifMatch": (version + i as i64).to_string(),
                                    "body": {"quantity": n % 5 + 1},
                                })
                            })
                            .collect();
                        several(&http, &base, &token, &mut version, commands).await
                    };
                    if t >= measure_from && Instant::now() <= end {
                        match done {
                            Some(count) => {
                                latencies.push(t.elapsed());
                                applied += count;
                            }
                            None => errors += 1,
                        }
                    }
                }
                (latencies, errors, applied)
            })
        })
        .collect();
    let (mut latencies, mut errors, mut applied) = (Vec::new(), 0, 0);
    for c in clients {
        let (l, e, a) = c.await?;
        latencies.extend(l);
        errors += e;
        applied += a;
    }
    latencies.sort();
    Ok((latencies, errors, applied))
}

/// One command alone: 1 when applied.
async fn single(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    version: &mut i64,
    item: &str,
    n: usize,
) -> Option<usize> {
    let r = http
        .put(format!("{base}/api/cart/items/{item}"))
        .bearer_auth(token)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .header("if-match", version.to_string())
        .header("content-type", "application/json")
        .body(format!(r#"{{"quantity": {}}}"#, n % 5 + 1))
        .send()
        .await
        .ok()
        .filter(|r| r.status().is_success())?;
    let v: serde_json::Value = r.json().await.ok()?;
    *version = v["version"].as_i64()?;
    Some(1)
}

/// One batch: how many of its commands applied (all, unless something is wrong).
async fn several(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    version: &mut i64,
    commands: Vec<serde_json::Value>,
) -> Option<usize> {
    let r = http
        .post(format!("{base}/api/batch"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "commands": commands }))
        .send()
        .await
        .ok()
        .filter(|r| r.status().is_success())?;
    let v: serde_json::Value = r.json().await.ok()?;
    let results = v["results"].as_array()?;
    let applied = results
        .iter()
        .filter(|r| r["status"].as_u64().is_some_and(|s| s < 300))
        .count();
    if let Some(newest) = results
        .iter()
        .rev()
        .find_map(|r| r["body"]["version"].as_i64())
    {
        *version = newest;
    }
    (applied == results.len()).then_some(applied)
}
