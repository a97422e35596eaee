//! Publish figures: time, requests and bytes for the full set (shell and four apps) and for one
//! app, on a local folder and on an S3 API (moto's server on 127.0.0.1, from target/venv or
//! `TESSERA_MOTO_SERVER`). Requests are counted by `store::Counted` around the store.
//!
//! `cargo run --profile server -p tessera-deployer --example publish_bench`
//!
//! The builds are synthetic, sized like the demo's release builds: a shell of 420 KB (wasm,
//! glue, worker, icons) and apps of a 90 KB wasm and a 12 KB JS glue each.

#[allow(dead_code)]
#[path = "../tests/common/s3server.rs"]
mod s3server;

use std::path::{Path, PathBuf};
use std::time::Instant;
use tessera_deployer::publish::{self, PublishOptions};
use tessera_deployer::store::{Counted, Counts, LocalStore, Store};

const APPS: [&str; 4] = ["nav", "restaurants", "add-to-cart", "cart"];
const ROUNDS: usize = 5;

/// Bytes that do not compress away, different per seed.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn shell(root: &Path) -> PathBuf {
    let src = root.join("shell-src");
    write(
        &src.join("files/shell.js"),
        &[
            b"export default async function init() {}\n".as_slice(),
            &noise(30_000, 1),
        ]
        .concat(),
    );
    write(&src.join("files/shell_bg.wasm"), &noise(300_000, 2));
    write(&src.join("files/sw/tessera_sw.js"), &noise(8_000, 3));
    write(&src.join("files/sw/tessera_sw_bg.wasm"), &noise(70_000, 4));
    write(
        &src.join("shell.json"),
        br#"{"schema":1,"mountPoints":["nav","main"],"defaultRoute":"/restaurants","notFoundMountPoint":"main"}"#,
    );
    write(
        &src.join("index.html"),
        b"<html><head><link data-trunk rel=\"rust\" href=\"shell/Cargo.toml\"></head></html>",
    );
    write(&src.join("importmap.json"), br#"{"imports":{}}"#);
    let out = root.join("dist");
    tessera_deployer::package_shell(
        &src.join("files"),
        &src.join("shell.json"),
        &src.join("index.html"),
        &src.join("importmap.json"),
        &out,
    )
    .unwrap()
}

fn app(root: &Path, short: &str, seed: u64) -> PathBuf {
    let src = root.join(format!("src-{short}-{seed}"));
    let entry = short.replace('-', "_");
    write(&src.join(format!("files/{entry}.js")), &noise(12_000, seed));
    write(
        &src.join(format!("files/{entry}_bg.wasm")),
        &noise(90_000, seed + 1),
    );
    let mfe = if short == "nav" {
        r#"{"schema":1,"name":"@tessera/nav","abi":1,"activation":"always","mountPoint":"nav"}"#
            .to_string()
    } else {
        format!(
            r#"{{"schema":1,"name":"@tessera/{short}","abi":1,"activation":{{"routes":["/{short}"]}},"mountPoint":"main"}}"#
        )
    };
    write(&src.join("mfe.json"), mfe.as_bytes());
    let out = root.join(format!("dist-{seed}"));
    tessera_deployer::package_app(&src.join("files"), &src.join("mfe.json"), &out).unwrap()
}

struct Figure {
    ms: f64,
    counts: Counts,
}

async fn measure<S: Store>(store: &Counted<S>, dirs: &[PathBuf]) -> Figure {
    store.take();
    let started = Instant::now();
    for dir in dirs {
        publish::publish(store, dir, &PublishOptions::default())
            .await
            .unwrap();
    }
    Figure {
        ms: started.elapsed().as_secs_f64() * 1000.0,
        counts: store.take(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn report(backend: &str, what: &str, figures: &[Figure]) {
    let c = figures[0].counts;
    println!(
        "| {backend} | {what} | {:.0} ms | {} | {} GET + {} PUT = {} |",
        median(figures.iter().map(|f| f.ms).collect()),
        c.bytes_put,
        c.gets,
        c.puts,
        c.gets + c.puts
    );
}

async fn bench<S: Store>(backend: &str, open: impl Fn(usize) -> S, root: &Path) {
    let (mut full, mut one) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let store = Counted::new(open(round));
        let work = root.join(format!("{backend}-{round}"));
        let mut dirs = vec![shell(&work)];
        dirs.extend(
            APPS.iter()
                .enumerate()
                .map(|(i, a)| app(&work, a, 10 + i as u64)),
        );
        full.push(measure(&store, &dirs).await);
        // One app's new version into that set.
        let next = app(&work, "cart", 100 + round as u64);
        one.push(measure(&store, &[next]).await);
    }
    report(backend, "full set (shell + 4 apps), empty store", &full);
    report(backend, "one app (new version of cart)", &one);
}

#[tokio::main]
async fn main() {
    let tmp = tempfile::tempdir().unwrap();
    println!("| store | publish | time (median of {ROUNDS}) | bytes uploaded | requests |");
    println!("|---|---|---|---|---|");
    let local_root = tmp.path().join("stores");
    bench(
        "folder",
        |round| LocalStore::open(&local_root.join(round.to_string())).unwrap(),
        tmp.path(),
    )
    .await;
    let s3 = s3server::S3Server::start();
    s3.create_bucket("bench");
    bench(
        "S3 (moto on 127.0.0.1)",
        |round| s3.store(&format!("s3://bench/round{round}")),
        tmp.path(),
    )
    .await;
}
