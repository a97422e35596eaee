//! `tessera-deploy publish` killed with SIGKILL at random points, round after round, on a folder
//! and on a bucket (moto): the live manifests never name a missing file, `verify` passes after
//! each kill, and a later publish succeeds. The seed is printed; `TESSERA_KILL_SEED` replays it.

mod common;

use common::s3server::S3Server;
use common::{app_build, routed_mfe, shell_build};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tessera_deployer::store::{LocalStore, Store};

const ROUNDS: usize = 15;

fn deploy(env: &[(&'static str, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera-deploy"));
    cmd.envs(env.iter().cloned()).stdin(Stdio::null());
    cmd
}

/// xorshift64*: enough to spread kill times, and replayable from the printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn seed() -> u64 {
    std::env::var("TESSERA_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        })
}

/// Every store URL the live manifests name exists.
async fn live_manifests_name_only_present_files(store: &impl Store, label: &str) {
    let get_json = |key: &'static str| async move {
        store
            .get(key)
            .await
            .unwrap()
            .map(|o| serde_json::from_slice::<serde_json::Value>(&o.bytes).unwrap())
    };
    let map = get_json("importmap.json").await.expect("importmap.json");
    let apps = get_json("apps.json").await.expect("apps.json");
    let mut urls: Vec<String> = map["imports"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_str().unwrap().to_string())
        .filter(|u| u.starts_with("/@"))
        .collect();
    for entry in apps["apps"].as_object().unwrap().values() {
        for u in entry["preload"].as_array().into_iter().flatten() {
            urls.push(u.as_str().unwrap().to_string());
        }
    }
    for url in urls {
        assert!(
            store.get(&url[1..]).await.unwrap().is_some(),
            "{label}: the live manifests name {url}, which is missing"
        );
    }
}

fn verify_passes(
    store_url: &str,
    env: &[(&'static str, String)],
    label: &str,
) -> serde_json::Value {
    let out = deploy(env)
        .args(["verify", "--store", store_url, "--json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{label}: verify failed:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&text).unwrap()
}

/// A bundle big enough that uploading it takes a while: the entry and padding modules.
fn big_app(root: &Path, short: &str, round: usize) -> std::path::PathBuf {
    let pad = format!("// round {round} {}\n", "x".repeat(96)).repeat(4000);
    app_build(
        root,
        short,
        &routed_mfe(short),
        &format!("export const round = {round};\n{pad}"),
    )
}

async fn kill_rounds(
    store: &impl Store,
    store_url: &str,
    env: &[(&'static str, String)],
    label: &str,
) {
    let seed = seed();
    eprintln!("{label}: kill seed {seed} (TESSERA_KILL_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().unwrap();
    let shell = shell_build(tmp.path());
    let ok = deploy(env)
        .args(["publish", shell.to_str().unwrap(), "--store", store_url])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // How long an uninterrupted publish takes: kill times are drawn from 0 to 1.2 times that.
    let started = Instant::now();
    let first = big_app(&tmp.path().join("r0"), "k0", 0);
    let ok = deploy(env)
        .args(["publish", first.to_str().unwrap(), "--store", store_url])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let full = started.elapsed();
    eprintln!("{label}: one publish takes {} ms", full.as_millis());
    let (mut finished, mut behind) = (0, 0);
    for round in 1..=ROUNDS {
        let short = format!("k{}", round % 3);
        let dir = big_app(&tmp.path().join(format!("r{round}")), &short, round);
        let offset = Duration::from_micros(rng.next() % (full.as_micros() as u64 * 6 / 5 + 1));
        let mut child = deploy(env)
            .args(["publish", dir.to_str().unwrap(), "--store", store_url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(offset);
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        if status.success() {
            finished += 1;
        }
        let label = format!(
            "{label} round {round} (@test/{short} killed at {} ms)",
            offset.as_millis()
        );
        live_manifests_name_only_present_files(store, &label).await;
        let v = verify_passes(store_url, env, &label);
        if v["behind"] == true {
            behind += 1;
        }
        eprintln!(
            "{label}: {}; verify: snapshot {}, {} notes",
            if status.success() {
                "had finished"
            } else {
                "killed"
            },
            v["snapshot"],
            v["notes"].as_array().unwrap().len()
        );
    }
    eprintln!(
        "{label}: {finished} of {ROUNDS} publishes finished before the kill; {behind} rounds ended with \
         the live manifests behind a committed snapshot (verify: a note)"
    );
    assert!(
        finished < ROUNDS,
        "{label}: no publish was ever interrupted"
    );
    // A later publish succeeds and leaves the newest set live.
    let last = big_app(&tmp.path().join("last"), "k9", 99);
    let ok = deploy(env)
        .args(["publish", last.to_str().unwrap(), "--store", store_url])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let v = verify_passes(store_url, env, label);
    let newest = v["snapshot"].as_u64().unwrap();
    assert!(
        v["liveFrom"]
            .as_object()
            .unwrap()
            .values()
            .all(|n| n.as_u64() == Some(newest)),
        "{label}: after a complete publish the live set is the newest: {v}"
    );
    live_manifests_name_only_present_files(store, label).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn publishes_killed_at_random_points_on_a_folder_leave_a_whole_set() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let store = LocalStore::open(&root).unwrap();
    kill_rounds(&store, root.to_str().unwrap(), &[], "folder").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn publishes_killed_at_random_points_on_a_bucket_leave_a_whole_set() {
    let s3 = S3Server::start();
    s3.create_bucket("site");
    let store = s3.store("s3://site/kill");
    kill_rounds(&store, "s3://site/kill", &s3.env(), "bucket").await;
}
