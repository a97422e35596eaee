//! `verify`: the live set against the store, through the library and the command line.

mod common;

use common::Fixture;
use std::process::{Command, Stdio};
use tessera_deployer::registry;
use tessera_deployer::verify::verify;

fn run_verify(f: &Fixture, json: bool) -> (i32, String) {
    let mut args = vec!["verify", "--store", f.store.root().to_str().unwrap()];
    if json {
        args.push("--json");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_tessera-deploy"))
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test]
async fn a_clean_set_passes_and_each_damage_is_named() {
    let f = Fixture::with_shell().await;
    let a = f
        .publish(&f.routed_app("a", "export const a = 1;"))
        .await
        .unwrap();
    f.publish(&f.routed_app("b", "export const b = 1;"))
        .await
        .unwrap();
    let v = verify(&f.store).await.unwrap();
    assert!(v.ok(), "{}", v.describe());
    assert_eq!(v.snapshot, 3);
    assert!(
        v.live_from.values().all(|n| *n == Some(3)),
        "{:?}",
        v.live_from
    );
    assert!(v.files_checked >= 10, "{}", v.files_checked);
    let (code, out) = run_verify(&f, true);
    assert_eq!(code, 0, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["problems"], serde_json::json!([]));

    // A bundle file changed in the store: the app, the key, expected and found hashes.
    let key = format!("@test/a/{}/a.js", a.version);
    let expected = f.json("importmap.json")["integrity"][format!("/{key}")]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::write(f.store.root().join(&key), "export const a = 'evil';").unwrap();
    let v = verify(&f.store).await.unwrap();
    assert!(!v.ok());
    let p = &v.problems[0];
    assert_eq!(
        (p.app.as_deref(), p.key.as_str(), p.expected.as_str()),
        (Some("@test/a"), key.as_str(), expected.as_str())
    );
    assert!(p.found.starts_with("sha384-") && p.found != expected, "{p}");
    let (code, out) = run_verify(&f, false);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains(&format!(
            "problem: @test/a: {key}: expected {expected}, found sha384-"
        )),
        "{out}"
    );

    // Missing.
    std::fs::remove_file(f.store.root().join(&key)).unwrap();
    let v = verify(&f.store).await.unwrap();
    assert!(
        v.problems
            .iter()
            .any(|p| p.key == key && p.found == "nothing (missing)"),
        "{}",
        v.describe()
    );
    std::fs::write(f.store.root().join(&key), "export const a = 1;").unwrap();
    assert!(verify(&f.store).await.unwrap().ok());

    // A live manifest that no snapshot renders to.
    let apps = f.read("apps.json");
    std::fs::write(
        f.store.root().join("apps.json"),
        apps.replace("@test/b", "@test/x"),
    )
    .unwrap();
    let v = verify(&f.store).await.unwrap();
    assert!(
        v.problems
            .iter()
            .any(|p| p.key == "apps.json" && p.found == "other content"),
        "{}",
        v.describe()
    );
    assert_eq!(v.live_from["apps.json"], None);
    std::fs::write(f.store.root().join("apps.json"), apps).unwrap();

    // An import-map entry without integrity.
    let map = f.read("importmap.json");
    let mut stripped: serde_json::Value = serde_json::from_str(&map).unwrap();
    stripped["integrity"] = serde_json::json!({});
    std::fs::write(f.store.root().join("importmap.json"), stripped.to_string()).unwrap();
    let v = verify(&f.store).await.unwrap();
    assert!(
        v.problems.iter().any(|p| p.key == "importmap.json"
            && p.found == "none"
            && p.app.as_deref() == Some("@test/a")),
        "{}",
        v.describe()
    );
    std::fs::write(f.store.root().join("importmap.json"), map).unwrap();
    assert!(verify(&f.store).await.unwrap().ok());
}

#[tokio::test]
async fn manifests_behind_the_newest_snapshot_are_a_note_not_a_problem() {
    let f = Fixture::with_shell().await;
    f.publish(&f.routed_app("a", "1")).await.unwrap();
    // A publisher that committed snapshot 3 and was stopped before writing the manifests.
    let loaded = registry::load(&f.store).await.unwrap();
    let mut next = loaded.registry.clone();
    next.apps.clear();
    registry::commit(&f.store, &loaded, next)
        .await
        .unwrap()
        .unwrap();
    let v = verify(&f.store).await.unwrap();
    assert!(v.ok(), "{}", v.describe());
    assert_eq!(v.snapshot, 3);
    assert_eq!(v.live_from["apps.json"], Some(2));
    assert!(
        v.notes
            .iter()
            .any(|n| n.contains("apps.json is snapshot 2's")),
        "{:?}",
        v.notes
    );
    assert!(v.behind);
    let store = f.store.root().to_str().unwrap();
    let code = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tessera-deploy"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(code(&["verify", "--store", store]), Some(0));
    assert_eq!(code(&["verify", "--store", store, "--strict"]), Some(3));
    // The next publish writes the newest set.
    f.publish(&f.routed_app("b", "1")).await.unwrap();
    let v = verify(&f.store).await.unwrap();
    assert!(
        v.ok() && v.live_from.values().all(|n| *n == Some(4)),
        "{}",
        v.describe()
    );
    assert!(!v.behind);
    assert_eq!(code(&["verify", "--store", store, "--strict"]), Some(0));
}

#[tokio::test]
async fn an_empty_store_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tessera_deployer::store::LocalStore::open(tmp.path()).unwrap();
    let v = verify(&store).await.unwrap();
    assert!(v.ok());
    assert_eq!(v.notes, ["nothing is published"]);
}
