//! How many live WebSocket clients one BFF holds, on loopback, with p99 delivery under 500 ms,
//! and its memory per connection:
//!
//!     cargo run --profile server -p tessera-bff --example live_load [-- --steps 5000,10000,20000 --events 20]
//!
//! The BFF runs in a child process (this program again, with `--serve`), on SQLite, so its
//! memory is its own. For each step the generator opens that many sockets (customers
//! `load<i>`, subscribed to `menu-item`), reads the BFF's resident memory, then an admin edits
//! a menu item `--events` times, 200 ms apart; every client timestamps every event. Latency
//! is from just before the edit's PUT is sent to the client reading the event. Bounded: at most
//! `--steps`' largest count of sockets, and a step stops after 5 minutes.

use anyhow::{bail, Context, Result};
use futures::{SinkExt, StreamExt};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const STEP_LIMIT: Duration = Duration::from_secs(300);
const CONNECT_PARALLEL: usize = 256;

struct Args {
    steps: Vec<usize>,
    events: usize,
}

fn args() -> Result<Args> {
    let mut a = Args {
        // Two processes (the BFF and this one) each hold one descriptor per socket: where the
        // open-file limit is 20,000, as on our machines, a step stays below it.
        steps: vec![5_000, 10_000, 15_000, 19_900],
        events: 20,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--steps" => {
                a.steps = value()?
                    .split(',')
                    .map(|n| {
                        n.trim()
                            .parse()
                            .context("--steps takes counts like 5000,10000")
                    })
                    .collect::<Result<_>>()?
            }
            "--events" => a.events = value()?.parse()?,
            other => bail!("unknown argument {other}; expected --steps N,N,… or --events N"),
        }
    }
    Ok(a)
}

/// Raises this process's open-file limit (children inherit it): to 100,000 where allowed
/// (root), else to the hard limit.
fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        let wanted = libc::rlimit {
            rlim_cur: 100_000,
            rlim_max: limit.rlim_max.max(100_000),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) != 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    limit.rlim_cur
}

fn rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS")?;
    Ok(kb * 1024)
}

struct Bff {
    child: Child,
    base: String,
}

impl Drop for Bff {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_bff(dir: &std::path::Path) -> Result<Bff> {
    let url = format!("sqlite://{}?mode=rwc", dir.join("tessera.db").display());
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--serve", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let line = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .context("the BFF said nothing")??;
    let base = line
        .strip_prefix("listening on ")
        .context("no listening line")?
        .trim_end_matches('/')
        .to_owned();
    Ok(Bff { child, base })
}

fn main() -> Result<()> {
    let mut argv = std::env::args().skip(1);
    if argv.next().as_deref() == Some("--serve") {
        let url = argv.next().context("--serve URL")?;
        let mut config = tessera_bff::Config::defaults();
        config.database_url = Some(url);
        config.addr = "127.0.0.1:0".parse()?;
        config.dev_tokens = true;
        return tokio::runtime::Runtime::new()?.block_on(tessera_bff::serve(config));
    }
    let args = args()?;
    let fds = raise_fd_limit();
    tokio::runtime::Runtime::new()?.block_on(generate(args, fds))
}

async fn generate(args: Args, fds: u64) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let bff = spawn_bff(dir.path())?;
    let pid = bff.child.id();
    let http = reqwest::Client::new();
    println!(
        "live load: release BFF on SQLite (pid {pid}), open-file limit {fds}, {} events per step",
        args.events
    );
    println!("| clients | connected in | BFF memory | per connection | delivery p50 | p99 | max | missing |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut version = 1;
    let idle = rss_bytes(pid)?;
    let mut most_under_500ms = 0;
    for &n in &args.steps {
        if n as u64 + 100 > fds {
            println!("| {n} | over the open-file limit ({fds}) |");
            continue;
        }
        let started = Instant::now();
        let clients = match tokio::time::timeout(STEP_LIMIT, connect_all(&bff.base, n)).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                println!("| {n} | failed: {e:#} |");
                break;
            }
            Err(_) => {
                println!("| {n} | not connected within {STEP_LIMIT:?} |");
                break;
            }
        };
        let connected_in = started.elapsed();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let held = rss_bytes(pid)?;
        // Against the idle BFF before the first step.
        let per_conn = held.saturating_sub(idle) as f64 / n as f64;

        // Every client records when it read each event, until it has them all or time is up.
        let deadline = tokio::time::Instant::now()
            + Duration::from_millis(200 * args.events as u64)
            + Duration::from_secs(10);
        let events = args.events;
        let readers: Vec<_> = clients
            .into_iter()
            .map(|mut socket| {
                tokio::spawn(async move {
                    let mut mine = Vec::with_capacity(events);
                    while mine.len() < events {
                        let Ok(Some(Ok(message))) =
                            tokio::time::timeout_at(deadline, socket.next()).await
                        else {
                            break;
                        };
                        if let Message::Text(text) = message {
                            // The generator shares the machine with the BFF: read the seq
                            // without parsing the whole event.
                            if let Some(seq) = event_seq(text.as_str()) {
                                mine.push((seq, Instant::now()));
                            }
                        }
                    }
                    mine
                })
            })
            .collect();
        let mut sent = Vec::new();
        for _ in 0..args.events {
            let at = Instant::now();
            let r = http
                .put(format!(
                    "{}/api/restaurants/pho-corner/menu/pho-bo",
                    bff.base
                ))
                .bearer_auth("dev:ada:admin")
                .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                .header("if-match", format!("\"{version}\""))
                .header("content-type", "application/json")
                .body(format!(
                    r#"{{"name": "Phở bò {version}", "priceCents": 1350, "available": true}}"#
                ))
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("menu edit failed: {} {}", r.status(), r.text().await?);
            }
            version += 1;
            let seq = newest_seq(&http, &bff.base, sent.last().map_or(0, |(s, _)| *s)).await?;
            sent.push((seq, at));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut received = Vec::with_capacity(n * args.events);
        for r in readers {
            received.extend(r.await?);
        }
        let mut latencies: Vec<f64> = Vec::with_capacity(n * args.events);
        for (seq, at) in received.iter() {
            if let Some((_, sent_at)) = sent.iter().find(|(s, _)| s == seq) {
                latencies.push(at.duration_since(*sent_at).as_secs_f64() * 1000.0);
            }
        }
        let expected = n * args.events;
        let missing = expected.saturating_sub(latencies.len());
        latencies.sort_by(|a, b| a.total_cmp(b));
        let pct = |p: f64| -> f64 {
            if latencies.is_empty() {
                return f64::NAN;
            }
            latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1]
        };
        println!(
            "| {n} | {:.1} s | {:.0} MB | {:.1} KB | {:.0} ms | {:.0} ms | {:.0} ms | {missing} |",
            connected_in.as_secs_f64(),
            held as f64 / 1e6,
            per_conn / 1e3,
            pct(0.5),
            pct(0.99),
            latencies.last().copied().unwrap_or(f64::NAN),
        );
        if missing == 0 && pct(0.99) < 500.0 {
            most_under_500ms = n;
        }
        // Let the BFF see the sockets go before the next step.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    println!("most clients held with every event delivered and p99 < 500 ms: {most_under_500ms}");
    Ok(())
}

/// The newest seq in the log (the edit just made), read from the log itself.
async fn newest_seq(http: &reqwest::Client, base: &str, after: i64) -> Result<i64> {
    let page: serde_json::Value = http
        .get(format!("{base}/api/events?after={after}&limit=100"))
        .bearer_auth("dev:ada:admin")
        .send()
        .await?
        .json()
        .await?;
    page["items"]
        .as_array()
        .and_then(|items| items.last())
        .and_then(|e| e["seq"].as_i64())
        .context("the edit's event in the log")
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `n` sockets, each past its `caught-up`.
async fn connect_all(base: &str, n: usize) -> Result<Vec<Socket>> {
    let url = format!("{}/api/live", base.replace("http://", "ws://"));
    let results: Vec<Result<Socket>> = futures::stream::iter(0..n)
        .map(|i| {
            let url = url.clone();
            async move {
                let (mut socket, _) = tokio_tungstenite::connect_async(&url)
                    .await
                    .with_context(|| format!("socket {i}"))?;
                let hello = serde_json::json!({
                    "type": "hello", "token": format!("dev:load{i}:customer"), "topics": ["menu-item"]
                });
                socket.send(Message::text(hello.to_string())).await?;
                while let Some(message) = socket.next().await {
                    if let Message::Text(t) = message? {
                        if t.as_str().contains("\"caught-up\"") {
                            return Ok(socket);
                        }
                    }
                }
                bail!("socket {i} closed before caught-up")
            }
        })
        .buffer_unordered(CONNECT_PARALLEL)
        .collect()
        .await;
    results.into_iter().collect()
}

/// The `seq` of an `event` message (the event's last field, after its `data`).
fn event_seq(text: &str) -> Option<i64> {
    if !text.starts_with(r#"{"type":"event""#) {
        return None;
    }
    let at = text.rfind(r#""seq":"#)? + 6;
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}
