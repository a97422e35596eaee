//! Cohort releases: a version offered to some users (`publish --cohort`), then promoted or
//! aborted; `apps.json` carries what the shell needs and `cohort::choose` decides per user.

mod common;

use common::Fixture;
use std::process::{Command, Output, Stdio};
use tessera_contract::cohort::{choose, CohortRule};
use tessera_contract::published::AppsManifest;
use tessera_deployer::publish::{self, PublishOptions};
use tessera_deployer::verify::verify;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera-deploy"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(o: Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[tokio::test]
async fn a_cohort_gets_the_new_version_until_promoted_or_aborted() {
    let f = Fixture::with_shell().await;
    let store = f.store.root().to_str().unwrap().to_string();
    let v1 = f
        .publish(&f.routed_app("cart", "export const v = 1;"))
        .await
        .unwrap();
    f.publish(&f.routed_app("nav", "export const n = 1;"))
        .await
        .unwrap();
    let v2_dir = f.routed_app("cart", "export const v = 2;");
    let out = ok(run(&[
        "publish",
        v2_dir.to_str().unwrap(),
        "--store",
        &store,
        "--cohort",
        "role:beta",
        "--cohort",
        "percent:20",
    ]));
    assert!(out.contains("published @test/cart"), "{out}");
    let v2: String = serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(v2_dir.join("mfe.json")).unwrap(),
    )
    .unwrap()["version"]
        .as_str()
        .unwrap()
        .into();

    // Everyone else still gets v1: the import map and the released version are unchanged.
    let map = f.json("importmap.json");
    assert!(map["imports"]["@test/cart"]
        .as_str()
        .unwrap()
        .contains(&v1.version));
    let apps: AppsManifest = serde_json::from_str(&f.read("apps.json")).unwrap();
    let cart = &apps.apps["@test/cart"];
    assert_eq!(cart.version, v1.version);
    assert_eq!(cart.cohorts.len(), 2);
    assert_eq!(cart.cohorts[0].rule, CohortRule::Role("beta".into()));
    assert_eq!(cart.cohorts[1].rule, CohortRule::Percent(20));
    let c = &cart.cohorts[0];
    assert_eq!(c.version, v2);
    assert_eq!(c.entry, format!("/@test/cart/{v2}/cart.js"));
    assert_eq!(
        map["integrity"][&c.entry].as_str(),
        Some(c.integrity.as_str())
    );
    assert_eq!(
        std::fs::read_to_string(f.store.root().join(&c.entry[1..])).unwrap(),
        "export const v = 2;"
    );
    assert!(apps.apps["@test/nav"].cohorts.is_empty());
    assert!(verify(&f.store).await.unwrap().ok());

    // Who gets what: beta testers and about a fifth of everyone, the same users every time.
    let beta = ["beta".to_string()];
    assert_eq!(
        choose("@test/cart", &cart.cohorts, Some("zed"), &beta)
            .unwrap()
            .version,
        v2
    );
    let users: Vec<String> = (0..2000).map(|i| format!("user-{i}")).collect();
    let picks: Vec<bool> = users
        .iter()
        .map(|u| choose("@test/cart", &cart.cohorts, Some(u), &[]).is_some())
        .collect();
    let share = picks.iter().filter(|p| **p).count();
    assert!(
        (300..=500).contains(&share),
        "{share} of 2000 in a 20% cohort"
    );
    let again: Vec<bool> = users
        .iter()
        .map(|u| choose("@test/cart", &cart.cohorts, Some(u), &[]).is_some())
        .collect();
    assert_eq!(picks, again);
    assert!(choose("@test/cart", &cart.cohorts, None, &[]).is_none());

    // Promote: v2 for everyone, no cohort left; history says so.
    let out = ok(run(&["promote", "@test/cart", "--store", &store]));
    assert!(
        out.contains(&format!("released @test/cart {v2} to everyone")),
        "{out}"
    );
    let apps: AppsManifest = serde_json::from_str(&f.read("apps.json")).unwrap();
    assert_eq!(apps.apps["@test/cart"].version, v2);
    assert!(apps.apps["@test/cart"].cohorts.is_empty());
    assert!(f.json("importmap.json")["imports"]["@test/cart"]
        .as_str()
        .unwrap()
        .contains(&v2));
    // One-app rollback after a promote goes back to v1.
    let back = publish::rollback(&f.store, "@test/cart").await.unwrap();
    assert_eq!(back.version, v1.version);

    // Abort: a v3 cohort dropped, v1 stays released.
    let v3_dir = f.routed_app("cart", "export const v = 3;");
    let opts = PublishOptions {
        cohort: vec![CohortRule::Role("staff".into())],
        ..PublishOptions::default()
    };
    publish::publish(&f.store, &v3_dir, &opts).await.unwrap();
    let apps: AppsManifest = serde_json::from_str(&f.read("apps.json")).unwrap();
    assert_eq!(apps.apps["@test/cart"].cohorts.len(), 1);
    let out = ok(run(&["abort", "@test/cart", "--store", &store, "--json"]));
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["changes"][0]["action"], "abort");
    let apps: AppsManifest = serde_json::from_str(&f.read("apps.json")).unwrap();
    assert_eq!(apps.apps["@test/cart"].version, v1.version);
    assert!(apps.apps["@test/cart"].cohorts.is_empty());
    let history = ok(run(&["history", "--store", &store]));
    for line in [
        format!("cohort @test/cart@{v2} (was {})", v1.version),
        format!("promote @test/cart@{v2} (was {})", v1.version),
        "abort @test/cart@".to_string(),
    ] {
        assert!(history.contains(&line), "{line} not in:\n{history}");
    }
    assert!(verify(&f.store).await.unwrap().ok());

    // Refusals name the app and change nothing.
    let before = f.snapshot();
    let o = run(&["abort", "@test/cart", "--store", &store]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("@test/cart has no cohort release"));
    let o = run(&[
        "publish",
        v3_dir.to_str().unwrap(),
        "--store",
        &store,
        "--cohort",
        "percent:150",
    ]);
    assert_eq!(o.status.code(), Some(2), "a bad rule is a usage error");
    let new_dir = f.routed_app("fresh", "1");
    let o = run(&[
        "publish",
        new_dir.to_str().unwrap(),
        "--store",
        &store,
        "--cohort",
        "role:beta",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("publish it to everyone before a cohort release"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let released = f.routed_app("cart", "export const v = 1;");
    let o = run(&[
        "publish",
        released.to_str().unwrap(),
        "--store",
        &store,
        "--cohort",
        "role:beta",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("is already the released version"));
    assert!(f.snapshot() == before);
}
