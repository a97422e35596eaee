//! Crash safety: the real binary is killed with SIGKILL in the middle of a burst of commands and
//! restarted. Every acknowledged command must be there with its event, and entity versions and
//! events must match one to one (no event without its change, no change without its event).
//! Half the customers also send batches (`POST /api/batch`), so a kill can land inside one:
//! its commands commit together or not at all.

mod common;

use common::{key, Kind, TestDb, ADMIN};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

on_both_databases!(killed_mid_burst_loses_no_acknowledged_command);

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

/// Starts `tessera-bff` on `url` and waits for its "listening on" line.
fn spawn(url: &str) -> Bff {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera-bff"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--kitchen-step-ms",
            "3600000",
            "--database-url",
            url,
            "--dev-tokens",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawning tessera-bff");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("tessera-bff did not say where it listens");
    let addr = line
        .strip_prefix("listening on http://")
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    Bff {
        base: format!("http://{addr}"),
        child,
    }
}

/// What the client saw acknowledged.
#[derive(Clone, Debug)]
struct Ack {
    path: String,
    key: String,
    body: String,
    /// The cart version once this command was applied.
    version_after: i64,
    status: u16,
    text: String,
    /// Sent in a `POST /api/batch` (its `text` is then the result's body, re-serialized).
    batched: bool,
}

/// Two chained cart changes in one `POST /api/batch`; the acknowledged ones, or `None` when the
/// server died under it.
async fn send_batch(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    items: &[&str],
    c: usize,
    n: usize,
    version: &mut i64,
) -> Option<Vec<Ack>> {
    let commands: Vec<(String, String, String)> = (0..2)
        .map(|i| {
            (
                format!("/api/cart/items/{}", items[(n + c + i) % items.len()]),
                key(),
                format!(r#"{{"quantity": {}}}"#, (n + i) % 4 + 1),
            )
        })
        .collect();
    let body = serde_json::json!({
        "commands": commands.iter().enumerate().map(|(i, (path, k, body))| serde_json::json!({
            "method": "PUT", "path": path, "idempotencyKey": k,
            "ifMatch": format!("\"{}\"", *version + i as i64),
            "body": serde_json::from_str::<Value>(body).unwrap(),
        })).collect::<Vec<_>>(),
    });
    let resp = http
        .post(format!("{base}/api/batch"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .ok()?;
    let status = resp.status().as_u16();
    let text = resp.text().await.ok()?;
    assert_eq!(status, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    let mut acks = Vec::new();
    for ((path, k, body), result) in commands
        .into_iter()
        .zip(answer["results"].as_array().unwrap())
    {
        let status = result["status"].as_u64().unwrap() as u16;
        assert!(status == 200 || status == 201, "{result}");
        *version = result["body"]["version"].as_i64().unwrap();
        acks.push(Ack {
            path,
            key: k,
            body,
            version_after: *version,
            status,
            text: result["body"].to_string(),
            batched: true,
        });
    }
    Some(acks)
}

async fn killed_mid_burst_loses_no_acknowledged_command(kind: Kind) {
    let db = TestDb::new(kind).await;
    let mut bff = spawn(&db.url);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let items = [
        "pho-bo",
        "banh-mi",
        "goi-cuon",
        "margherita",
        "diavola",
        "tiramisu",
    ];
    let acked = Arc::new(AtomicUsize::new(0));

    // Each customer writes its own cart in sequence, checking out now and then, until the
    // server dies under it.
    let customers: Vec<_> = (0..12)
        .map(|c| {
            let (http, base, acked) = (http.clone(), bff.base.clone(), acked.clone());
            tokio::spawn(async move {
                let token = format!("dev:crash{c}:customer");
                let mut version = 0;
                let mut acks = Vec::new();
                for n in 0.. {
                    // Odd customers send every fifth step as a batch of two chained changes.
                    if c % 2 == 1 && n % 5 == 2 {
                        let Some(batch) =
                            send_batch(&http, &base, &token, &items, c, n, &mut version).await
                        else {
                            break;
                        };
                        acked.fetch_add(batch.len(), Ordering::Relaxed);
                        acks.extend(batch);
                        continue;
                    }
                    let (path, body) = if n % 5 == 4 {
                        (format!("/api/cart/checkout/c{c}-o{n}"), "{}".to_owned())
                    } else {
                        (
                            format!("/api/cart/items/{}", items[(n + c) % items.len()]),
                            format!(r#"{{"quantity": {}}}"#, n % 4 + 1),
                        )
                    };
                    let k = key();
                    let sent = http
                        .put(format!("{base}{path}"))
                        .bearer_auth(&token)
                        .header("idempotency-key", &k)
                        .header("if-match", version.to_string())
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    let Ok(resp) = sent else { break };
                    let status = resp.status().as_u16();
                    let Ok(text) = resp.text().await else { break };
                    assert!(status < 500, "{status} {text}");
                    if status == 200 || status == 201 {
                        let v: Value = serde_json::from_str(&text).unwrap();
                        version = if path.contains("checkout") {
                            version + 1
                        } else {
                            v["version"].as_i64().unwrap()
                        };
                        acks.push(Ack {
                            path,
                            key: k,
                            body,
                            version_after: version,
                            status,
                            text,
                            batched: false,
                        });
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                }
                (token, acks)
            })
        })
        .collect();

    let started = Instant::now();
    while acked.load(Ordering::Relaxed) < 150 && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    bff.child.kill().expect("kill -9"); // std's kill is SIGKILL
    bff.child.wait().unwrap();
    let mut results = Vec::new();
    for c in customers {
        results.push(c.await.unwrap());
    }
    let total: usize = results.iter().map(|(_, a)| a.len()).sum();
    assert!(
        total >= 150,
        "the burst was too short to mean anything: {total} acknowledged"
    );

    let bff = spawn(&db.url);
    let get = |path: String, token: String| {
        let http = http.clone();
        let url = format!("{}{path}", bff.base);
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let mut events = Vec::new();
    let mut after = 0i64;
    loop {
        let page = get(
            format!("/api/events?after={after}&limit=100"),
            ADMIN.to_owned(),
        )
        .await;
        let items = page["items"].as_array().unwrap().clone();
        if items.is_empty() {
            break;
        }
        after = page["nextCursor"].as_str().unwrap().parse().unwrap();
        events.extend(items);
    }

    // Cart versions and orders each event says happened, per customer.
    let mut cart_versions: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut placed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in &events {
        let (owner, cart_version) = match e["type"].as_str().unwrap() {
            "cart.updated" => (
                e["data"]["owner"].as_str().unwrap(),
                e["data"]["version"].as_i64().unwrap(),
            ),
            "order.placed" => {
                let owner = e["data"]["order"]["owner"].as_str().unwrap();
                placed
                    .entry(owner.to_owned())
                    .or_default()
                    .insert(e["data"]["order"]["id"].as_str().unwrap().to_owned());
                (owner, e["data"]["cart"]["version"].as_i64().unwrap())
            }
            other => panic!("unexpected event {other}"),
        };
        cart_versions
            .entry(owner.to_owned())
            .or_default()
            .push(cart_version);
    }

    for (token, acks) in &results {
        let subject = token.split(':').nth(1).unwrap();
        let cart = get("/api/cart".to_owned(), token.clone()).await;
        let version = cart["version"].as_i64().unwrap();
        let last_acked = acks.last().map_or(0, |a| a.version_after);
        assert!(
            version >= last_acked,
            "{subject}: cart at {version}, but {last_acked} was acknowledged"
        );
        // Every version the cart went through has exactly one event, and no event names a
        // version the cart never reached.
        let seen = cart_versions.get(subject).cloned().unwrap_or_default();
        assert_eq!(
            seen,
            (1..=version).collect::<Vec<_>>(),
            "{subject}: events vs cart versions"
        );
        // Orders: the acknowledged ones exist, and the stored ones are exactly those with events.
        let orders = get("/api/orders?limit=100".to_owned(), token.clone()).await;
        let stored: BTreeSet<String> = orders["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect();
        for a in acks.iter().filter(|a| a.path.contains("checkout")) {
            let id = a.path.rsplit('/').next().unwrap();
            assert!(
                stored.contains(id),
                "{subject}: acknowledged order {id} lost"
            );
        }
        assert_eq!(
            stored,
            placed.get(subject).cloned().unwrap_or_default(),
            "{subject}: orders vs order.placed events"
        );
    }

    // An acknowledged command replayed after the restart still answers as it did (byte for
    // byte; one acknowledged in a batch, as the same JSON).
    for batched in [false, true] {
        let Some((token, a)) = results
            .iter()
            .flat_map(|(t, acks)| acks.iter().map(move |a| (t, a)))
            .find(|(_, a)| a.batched == batched)
        else {
            assert!(batched, "no single command was acknowledged");
            continue;
        };
        let replay = http
            .put(format!("{}{}", bff.base, a.path))
            .bearer_auth(token)
            .header("idempotency-key", &a.key)
            .header("content-type", "application/json")
            .body(a.body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(replay.status().as_u16(), a.status);
        let text = replay.text().await.unwrap();
        if batched {
            let text: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(text, serde_json::from_str::<Value>(&a.text).unwrap());
        } else {
            assert_eq!(text, a.text);
        }
    }
}
