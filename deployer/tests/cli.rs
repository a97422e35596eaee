//! The command line as CI uses it: exit codes, `--dry-run`, progress on stderr, `--json`.

mod common;

use common::Fixture;
use std::process::{Command, Output, Stdio};
use tessera_deployer::publish::{self, GaveUp, PublishOptions};
use tessera_deployer::store::{LocalStore, Object, PutMode, PutOutcome, Store};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera-deploy"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test]
async fn exit_codes_mean_something() {
    let f = Fixture::with_shell().await;
    let store = f.store.root().to_str().unwrap().to_string();
    // 2: usage.
    assert_eq!(run(&["publish"]).status.code(), Some(2));
    assert_eq!(run(&["rollback", "--store", &store]).status.code(), Some(2));
    assert_eq!(
        run(&["rollback", "@a/b", "--to", "1"]).status.code(),
        Some(2)
    );
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    let help = text(&run(&["--help"])).0;
    assert!(help.contains("3 verify or check found problems"), "{help}");
    // 1: an error, named.
    let o = run(&["publish", f.tmp.path().to_str().unwrap(), "--store", &store]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).1.contains("is not a packaged build"),
        "{:?}",
        text(&o)
    );
    let o = run(&["rollback", "@test/none", "--store", &store]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).1.contains("@test/none is not published"),
        "{:?}",
        text(&o)
    );
    // A new app only goes into a new or empty folder; `check` needs a built app.
    let o = run(&["new", f.tmp.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("is not empty"), "{:?}", text(&o));
    let o = run(&["check", f.tmp.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).1.contains("is not a packaged app"),
        "{:?}",
        text(&o)
    );
    // 0 and 3 are covered by the verify tests and, for `check`, by `team-app.test.mjs`.
}

/// A store where another publisher always takes the next snapshot number first.
struct AlwaysBeaten(LocalStore);

impl Store for AlwaysBeaten {
    async fn get(&self, key: &str) -> anyhow::Result<Option<Object>> {
        self.0.get(key).await
    }
    async fn put(&self, key: &str, bytes: Vec<u8>, mode: PutMode) -> anyhow::Result<PutOutcome> {
        if key.starts_with("_tessera/snapshots/") {
            return Ok(PutOutcome::Conflict);
        }
        self.0.put(key, bytes, mode).await
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

#[tokio::test]
async fn giving_up_on_conflicts_is_its_own_error() {
    let f = Fixture::with_shell().await;
    let beaten = AlwaysBeaten(LocalStore::open(f.store.root()).unwrap());
    let err = publish::publish(&beaten, &f.routed_app("a", "1"), &PublishOptions::default())
        .await
        .unwrap_err();
    assert!(err.chain().any(|c| c.is::<GaveUp>()), "{err:#}");
    assert!(
        format!("{err:#}").contains("gave up after 20 attempts"),
        "{err:#}"
    );
}

#[tokio::test]
async fn dry_runs_write_nothing_and_say_what_would_change() {
    let f = Fixture::with_shell().await;
    let store = f.store.root().to_str().unwrap().to_string();
    let a1 = f
        .publish(&f.routed_app("a", "export const a = 1;"))
        .await
        .unwrap();
    let a2_dir = f.routed_app("a", "export const a = 22;");
    let before = f.snapshot();

    let o = run(&[
        "publish",
        a2_dir.to_str().unwrap(),
        "--store",
        &store,
        "--dry-run",
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(f.snapshot() == before, "a dry run changed the store");
    let built: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a2_dir.join("mfe.json")).unwrap()).unwrap();
    let a2 = built["version"].as_str().unwrap();
    assert!(
        out.contains(&format!("dry run: nothing was written to {store}")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "would upload 1 file (20 B), 0 already there:\n  @test/a/{a2}/a.js 20 B"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "would commit snapshot 3:\n  publish @test/a@{a2} (was {})",
            a1.version
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "importmap.json imports[\"@test/a\"]: /@test/a/{}/a.js -> /@test/a/{a2}/a.js",
            a1.version
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "apps.json apps[\"@test/a\"].version: {} -> {a2}",
            a1.version
        )),
        "{out}"
    );
    assert!(err.is_empty(), "no progress lines in a dry run: {err}");

    let o = run(&[
        "publish",
        a2_dir.to_str().unwrap(),
        "--store",
        &store,
        "--dry-run",
        "--json",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["dryRun"], true);
    assert_eq!(r["bytesUploaded"], 20);
    assert_eq!(r["files"][0]["uploaded"], true);
    assert!(f.snapshot() == before);

    // Rollback dry runs, one app and a whole set.
    let o = run(&["publish", a2_dir.to_str().unwrap(), "--store", &store]);
    assert_eq!(o.status.code(), Some(0));
    let before = f.snapshot();
    let o = run(&["rollback", "@test/a", "--store", &store, "--dry-run"]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains(&format!("rollback @test/a@{} (was {a2})", a1.version)),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "apps.json apps[\"@test/a\"].version: {a2} -> {}",
            a1.version
        )),
        "{out}"
    );
    let o = run(&[
        "rollback",
        "--to",
        "1",
        "--store",
        &store,
        "--dry-run",
        "--json",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["changes"][0]["action"], "remove", "{r}");
    assert_eq!(r["generation"], 4);
    assert!(
        f.snapshot() == before,
        "a rollback dry run changed the store"
    );
}

#[tokio::test]
async fn progress_goes_to_stderr_and_json_to_stdout() {
    let f = Fixture::with_shell().await;
    let store = f.store.root().to_str().unwrap().to_string();
    let dir = f.routed_app("p", "export const p = 1;");
    let o = run(&[
        "publish",
        dir.to_str().unwrap(),
        "--store",
        &store,
        "--json",
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let version = r["version"].as_str().unwrap();
    assert_eq!(
        (r["name"].as_str(), r["generation"].as_u64()),
        (Some("@test/p"), Some(2))
    );
    assert_eq!(r["dryRun"], false);
    assert_eq!(r["changes"][0]["action"], "publish");
    assert!(
        err.contains(&format!("[1/1] @test/p/{version}/p.js 19 B uploaded")),
        "{err}"
    );
    // Again: the file is already there.
    let o = run(&["publish", dir.to_str().unwrap(), "--store", &store]);
    let (out, err) = text(&o);
    assert!(err.contains("19 B already there"), "{err}");
    assert!(out.contains("(snapshot 3, 0 B uploaded)"), "{out}");
    for cmd in ["list", "history", "verify"] {
        let o = run(&[cmd, "--store", &store, "--json"]);
        assert_eq!(o.status.code(), Some(0), "{cmd}");
        serde_json::from_slice::<serde_json::Value>(&o.stdout)
            .unwrap_or_else(|e| panic!("{cmd} --json: {e}"));
    }
    let o = run(&["rollback", "@test/p", "--store", &store, "--json"]);
    assert_eq!(o.status.code(), Some(1), "only one release of @test/p");
}
