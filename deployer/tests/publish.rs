//! Publishing against a real local store: rejections leave the store byte-identical, one app's
//! release never touches another's files, rollback, and concurrent publishers lose nothing.

mod common;

use common::{edit_built, routed_mfe, write, Fixture};
use serde_json::json;
use std::path::Path;
use tessera_contract::manifest::AllowedOrigins;
use tessera_deployer::publish::{self, PublishOptions};
use tessera_deployer::store::LocalStore;

/// Publishing `dir` fails with a message holding every one of `expected`, and the store is
/// byte-for-byte what it was.
async fn assert_rejected(f: &Fixture, dir: &Path, expected: &[&str]) {
    let before = f.snapshot();
    let err = format!(
        "{:#}",
        f.publish(dir).await.expect_err("publish must be rejected")
    );
    for e in expected {
        assert!(err.contains(e), "error should mention {e:?}:\n{err}");
    }
    assert!(
        f.snapshot() == before,
        "a rejected publish changed the store:\n{err}"
    );
}

#[tokio::test]
async fn malformed_manifests_are_rejected_naming_file_field_and_problem() {
    let f = Fixture::with_shell().await;
    f.publish(&f.routed_app("hello", "export const v = 1;"))
        .await
        .unwrap();
    let mfe_of = |dir: &Path| dir.join("mfe.json").display().to_string();

    let dir = f.routed_app("a", "1");
    edit_built(&dir, |v| {
        v.as_object_mut().unwrap().remove("activation");
    });
    assert_rejected(
        &f,
        &dir,
        &[&mfe_of(&dir), "field `activation`", "is required"],
    )
    .await;

    let dir = f.routed_app("a", "1");
    edit_built(&dir, |v| v["activation"] = json!({"routes": ["no-slash"]}));
    assert_rejected(
        &f,
        &dir,
        &[&mfe_of(&dir), "field `activation.routes[0]`", "no-slash"],
    )
    .await;

    let dir = f.routed_app("a", "1");
    edit_built(&dir, |v| v["abi"] = json!(7));
    assert_rejected(&f, &dir, &[&mfe_of(&dir), "field `abi`", "unknown ABI 7"]).await;

    let dir = f.routed_app("a", "1");
    edit_built(&dir, |v| {
        v["importMap"]["imports"]["@test/a"] = json!("https://evil.example/a.js");
        v["importMap"]["integrity"] =
            json!({"https://evil.example/a.js": v["files"][0]["integrity"].clone()});
    });
    assert_rejected(
        &f,
        &dir,
        &[
            &mfe_of(&dir),
            "field `importMap.imports.@test/a`",
            "outside the allowed origins",
        ],
    )
    .await;

    let dir = f.app(
        "b",
        &routed_mfe("b")
            .replace("\"/b\"]", "\"/hello\"]")
            .replace("\"route\":\"/b\"", "\"route\":\"/hello\""),
        "1",
    );
    assert_rejected(
        &f,
        &dir,
        &[
            "@test/b",
            "field `activation.routes[0]`",
            "\"/hello\" is already claimed by @test/hello",
        ],
    )
    .await;

    let dir = f.app(
        "lib",
        &routed_mfe("lib").replace("@test/lib", "@vendor/lib"),
        "1",
    );
    assert_rejected(
        &f,
        &dir,
        &[
            "@vendor/lib",
            "field `name`",
            "reserved by the base import map",
        ],
    )
    .await;

    let dir = f.app(
        "shell",
        &routed_mfe("shell").replace("@test/shell", "@tessera/shell"),
        "1",
    );
    assert_rejected(
        &f,
        &dir,
        &[&mfe_of(&dir), "field `name`", "is the shell's name"],
    )
    .await;

    let dir = f.routed_app("a", "1");
    edit_built(&dir, |v| v["mountPoint"] = json!("sidebar"));
    assert_rejected(
        &f,
        &dir,
        &[
            "@test/a",
            "field `mountPoint`",
            "\"sidebar\" is not a mount point of the shell",
        ],
    )
    .await;

    let dir = f.routed_app("a", "1");
    std::fs::write(dir.join("mfe.json"), "{ \"schema\": 1, ").unwrap();
    assert_rejected(&f, &dir, &[&mfe_of(&dir), "EOF"]).await;

    // A bundle whose bytes do not match what its manifest says.
    let dir = f.routed_app("a", "1");
    let version = serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(dir.join("mfe.json")).unwrap(),
    )
    .unwrap()["version"]
        .as_str()
        .unwrap()
        .to_string();
    write(&dir.join(&version).join("a.js"), "tampered");
    assert_rejected(&f, &dir, &["a.js", "does not match its integrity"]).await;

    // A file whose size is not the one the manifest lists.
    let dir = f.routed_app("s", "1");
    edit_built(&dir, |v| v["files"][0]["size"] = json!(999));
    assert_rejected(&f, &dir, &["s.js", "1 bytes, the manifest says 999"]).await;

    // An allowed origin makes the same cross-origin entry acceptable.
    let dir = f.routed_app("c", "1");
    edit_built(&dir, |v| {
        v["importMap"]["imports"]["@test/c"] = json!("https://cdn.example/c.js");
        v["importMap"]["integrity"] =
            json!({"https://cdn.example/c.js": v["files"][0]["integrity"].clone()});
    });
    let opts = PublishOptions {
        allowed_origins: AllowedOrigins(vec!["https://cdn.example".into()]),
        ..PublishOptions::default()
    };
    publish::publish(&f.store, &dir, &opts).await.unwrap();
    assert_eq!(
        f.json("importmap.json")["imports"]["@test/c"],
        "https://cdn.example/c.js"
    );
}

#[tokio::test]
async fn an_app_cannot_be_published_before_the_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&tmp.path().join("store")).unwrap();
    let src = tmp.path().join("src");
    write(&src.join("files/x.js"), "1");
    write(&src.join("mfe.json"), &routed_mfe("x"));
    let dir = tessera_deployer::package_app(
        &src.join("files"),
        &src.join("mfe.json"),
        &tmp.path().join("dist"),
    )
    .unwrap();
    let err = publish::publish(&store, &dir, &PublishOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no shell is published") && err.contains("@tessera/shell"),
        "{err}"
    );
    assert!(!store.root().join("apps.json").exists());
    assert!(
        !store.root().join("@test").exists(),
        "nothing is uploaded for a rejected app"
    );
}

#[tokio::test]
async fn republishing_one_app_leaves_every_other_app_untouched() {
    let f = Fixture::with_shell().await;
    f.publish(&f.routed_app("one", "export const v = 1;"))
        .await
        .unwrap();
    f.publish(&f.routed_app("two", "export const v = 2;"))
        .await
        .unwrap();
    let index_before = f.read("index.html");
    let map_before = f.json("importmap.json");
    let two_files = |f: &Fixture| {
        let mut s = f.snapshot();
        s.retain(|k, _| k.starts_with("@test/two/"));
        s
    };
    let two_before = two_files(&f);
    let two_mtimes: Vec<_> = two_before
        .keys()
        .map(|k| {
            std::fs::metadata(f.store.root().join(k))
                .unwrap()
                .modified()
                .unwrap()
        })
        .collect();

    f.publish(&f.routed_app("one", "export const v = 'one, again';"))
        .await
        .unwrap();

    let map_after = f.json("importmap.json");
    assert_ne!(
        map_after["imports"]["@test/one"],
        map_before["imports"]["@test/one"]
    );
    assert_eq!(
        map_after["imports"]["@test/two"],
        map_before["imports"]["@test/two"]
    );
    assert_eq!(
        map_after["integrity"][map_after["imports"]["@test/two"].as_str().unwrap()],
        map_before["integrity"][map_before["imports"]["@test/two"].as_str().unwrap()]
    );
    assert_eq!(
        f.json("apps.json")["apps"]["@test/two"],
        json!({"version": f.json("apps.json")["apps"]["@test/two"]["version"], "abi": 1, "specifier": "@test/two"})
    );
    assert!(two_files(&f) == two_before);
    let mtimes_after: Vec<_> = two_before
        .keys()
        .map(|k| {
            std::fs::metadata(f.store.root().join(k))
                .unwrap()
                .modified()
                .unwrap()
        })
        .collect();
    assert_eq!(
        two_mtimes, mtimes_after,
        "no file of the other app is rewritten"
    );
    assert_eq!(f.read("index.html"), index_before);
    // The old bundle of `one` stays: pages loaded before the deploy still find their files.
    let old = map_before["imports"]["@test/one"]
        .as_str()
        .unwrap()
        .trim_start_matches('/');
    assert!(f.store.root().join(old).is_file());
}

#[tokio::test]
async fn rollback_returns_to_the_previous_release_and_stops_at_the_first() {
    let f = Fixture::with_shell().await;
    let v1 = f.publish(&f.routed_app("r", "1")).await.unwrap();
    let v2 = f.publish(&f.routed_app("r", "2")).await.unwrap();
    assert_ne!(v1.version, v2.version);
    assert_eq!(
        f.json("apps.json")["apps"]["@test/r"]["version"],
        v2.version.as_str()
    );

    let back = publish::rollback(&f.store, "@test/r").await.unwrap();
    assert_eq!(back.version, v1.version);
    assert_eq!(
        f.json("apps.json")["apps"]["@test/r"]["version"],
        v1.version.as_str()
    );
    assert!(f.json("importmap.json")["imports"]["@test/r"]
        .as_str()
        .unwrap()
        .contains(&v1.version));

    let before = f.snapshot();
    let err = format!(
        "{:#}",
        publish::rollback(&f.store, "@test/r").await.unwrap_err()
    );
    assert!(err.contains("nothing to roll back to"), "{err}");
    let err = format!(
        "{:#}",
        publish::rollback(&f.store, "@test/nope").await.unwrap_err()
    );
    assert!(
        err.contains("@test/nope is not published") && err.contains("@test/r"),
        "{err}"
    );
    assert!(f.snapshot() == before);
}

#[tokio::test]
async fn snapshots_are_numbered_immutable_and_rollback_to_one_restores_its_set() {
    let f = Fixture::with_shell().await;
    let a1 = f.publish(&f.routed_app("a", "a1")).await.unwrap();
    let b1 = f.publish(&f.routed_app("b", "b1")).await.unwrap();
    let a2 = f.publish(&f.routed_app("a", "a2")).await.unwrap();
    assert_eq!((a1.generation, b1.generation, a2.generation), (2, 3, 4));
    let first_snapshot = f.read("_tessera/snapshots/1.json");
    let c = f.publish(&f.routed_app("c", "c1")).await.unwrap();
    assert_eq!(c.generation, 5);

    // Whole set of snapshot 3: a at a1, b at b1, no c.
    let r = publish::restore(&f.store, 3).await.unwrap();
    assert_eq!(r.generation, 6);
    let apps = f.json("apps.json");
    assert_eq!(apps["apps"]["@test/a"]["version"], a1.version.as_str());
    assert_eq!(apps["apps"]["@test/b"]["version"], b1.version.as_str());
    assert!(apps["apps"].get("@test/c").is_none(), "{apps}");
    assert!(f.json("importmap.json")["imports"].get("@test/c").is_none());
    let changes: Vec<String> = r.changes.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        changes,
        [
            format!("remove @test/c (was {})", c.version),
            format!("restore @test/a@{} (was {})", a1.version, a2.version),
        ]
    );

    // History is append-only: every snapshot is still there, unchanged.
    assert_eq!(f.read("_tessera/snapshots/1.json"), first_snapshot);
    let history = tessera_deployer::registry::history(&f.store).await.unwrap();
    let numbers: Vec<u64> = history.iter().map(|s| s.generation).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5, 6]);
    assert_eq!(
        history[3].changes[0].to_string(),
        format!("publish @test/a@{} (was {})", a2.version, a1.version)
    );
    assert!(history
        .windows(2)
        .all(|w| w[0].published_at <= w[1].published_at));

    // One app back: a's previous release (a2, which the restore replaced).
    let back = publish::rollback(&f.store, "@test/a").await.unwrap();
    assert_eq!(
        (back.version.as_str(), back.generation),
        (a2.version.as_str(), 7)
    );
    assert_eq!(
        f.json("apps.json")["apps"]["@test/b"]["version"],
        b1.version.as_str()
    );

    // A snapshot number that does not exist: an error naming it, nothing written.
    let before = f.snapshot();
    let err = format!("{:#}", publish::restore(&f.store, 99).await.unwrap_err());
    assert!(err.contains("there is no snapshot 99"), "{err}");
    assert!(f.snapshot() == before);

    // A stale or missing head hint only costs reads.
    std::fs::write(
        f.store.root().join("_tessera/head.json"),
        r#"{"schema":2,"snapshot":2}"#,
    )
    .unwrap();
    let loaded = tessera_deployer::registry::load(&f.store).await.unwrap();
    assert_eq!(loaded.registry.generation, 7);
    std::fs::remove_file(f.store.root().join("_tessera/head.json")).unwrap();
    let next = f.publish(&f.routed_app("d", "d1")).await.unwrap();
    assert_eq!(next.generation, 8);
}

#[test]
fn concurrent_publishers_lose_no_entry() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let f = rt.block_on(Fixture::with_shell());
    let dirs: Vec<_> = (0..8)
        .map(|i| f.routed_app(&format!("app{i}"), &format!("export const i = {i};")))
        .collect();
    let root = f.store.root().to_path_buf();
    // Each publisher has its own store handle, as separate deployer processes would.
    std::thread::scope(|s| {
        for dir in &dirs {
            let root = root.clone();
            s.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                let store = LocalStore::open(&root).unwrap();
                rt.block_on(publish::publish(&store, dir, &PublishOptions::default()))
                    .unwrap();
            });
        }
    });
    let apps = f.json("apps.json");
    let map = f.json("importmap.json");
    for i in 0..8 {
        let name = format!("@test/app{i}");
        assert!(
            apps["apps"].get(&name).is_some(),
            "{name} missing from apps.json"
        );
        assert!(
            map["imports"].get(&name).is_some(),
            "{name} missing from importmap.json"
        );
    }
    let registry = rt
        .block_on(tessera_deployer::registry::load(&f.store))
        .unwrap()
        .registry;
    assert_eq!(
        registry.generation, 9,
        "the shell and eight apps, one snapshot each"
    );
}

/// Browsers look for a new service worker only when `/sw.js` changes byte-wise, so every
/// publish that changes the site must change it, and one that changes nothing must not.
#[tokio::test]
async fn every_publish_that_changes_the_site_changes_the_worker_script() {
    use tessera_deployer::package::SW_STAMP_PLACEHOLDER;
    let f = Fixture::with_shell().await;
    let shell_only = f.read("sw.js");
    assert!(!shell_only.contains(SW_STAMP_PLACEHOLDER));

    let v1 = f.routed_app("one", "export const v = 1;");
    f.publish(&v1).await.unwrap();
    let after_v1 = f.read("sw.js");
    assert_ne!(after_v1, shell_only, "a new app changes the worker");

    f.publish(&v1).await.unwrap();
    assert_eq!(
        f.read("sw.js"),
        after_v1,
        "identical content: the same worker"
    );

    f.publish(&f.routed_app("one", "export const v = 2;"))
        .await
        .unwrap();
    let after_v2 = f.read("sw.js");
    assert_ne!(
        after_v2, after_v1,
        "a new version of an app changes the worker"
    );
    // Only the stamp handed to the Rust worker differs: the shell release is the same.
    let differing: Vec<(&str, &str)> = after_v1
        .lines()
        .zip(after_v2.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(differing.len(), 1, "{differing:?}");
    assert!(differing[0].0.contains("rust.configure("));

    publish::rollback(&f.store, "@test/one").await.unwrap();
    assert_eq!(
        f.read("sw.js"),
        after_v1,
        "back to the same published set: back to the same worker"
    );
}

/// A store written by the deployer that kept one `_tessera/registry.json` (schema 1): the first
/// commit starts the snapshots from it, keeping every app and its releases.
#[tokio::test]
async fn a_schema_1_registry_is_the_starting_point_of_the_snapshots() {
    let f = Fixture::with_shell().await;
    let a1 = f.publish(&f.routed_app("a", "1")).await.unwrap();
    let a2 = f.publish(&f.routed_app("a", "2")).await.unwrap();
    // Turn the store into what the old deployer left: registry.json, no snapshots.
    let mut legacy = f.latest();
    legacy["schema"] = serde_json::json!(1);
    legacy["generation"] = serde_json::json!(7);
    let obj = legacy.as_object_mut().unwrap();
    obj.remove("changes");
    obj.remove("publishedAt");
    std::fs::write(
        f.store.root().join("_tessera/registry.json"),
        serde_json::to_string_pretty(&legacy).unwrap(),
    )
    .unwrap();
    std::fs::remove_dir_all(f.store.root().join("_tessera/snapshots")).unwrap();
    std::fs::remove_file(f.store.root().join("_tessera/head.json")).unwrap();

    let b = f.publish(&f.routed_app("b", "1")).await.unwrap();
    assert_eq!(b.generation, 1);
    let apps = f.json("apps.json");
    assert_eq!(apps["apps"]["@test/a"]["version"], a2.version.as_str());
    assert!(apps["apps"].get("@test/b").is_some());
    // The old release history came along: a rolls back to a1.
    let back = publish::rollback(&f.store, "@test/a").await.unwrap();
    assert_eq!(
        (back.version.as_str(), back.generation),
        (a1.version.as_str(), 2)
    );
}

/// Every import-map entry carries integrity: a shell whose base import map has an entry without
/// one is refused before anything is written.
#[tokio::test]
async fn a_base_import_map_entry_without_integrity_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&tmp.path().join("store")).unwrap();
    let dir = common::shell_build(tmp.path());
    let path = dir.join("shell.json");
    let mut shell: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    shell["baseImportMap"]["integrity"] = json!({});
    std::fs::write(&path, shell.to_string()).unwrap();
    let err = format!(
        "{:#}",
        publish::publish(&store, &dir, &PublishOptions::default())
            .await
            .unwrap_err()
    );
    assert!(
        err.contains("baseImportMap.integrity[\"/vendor/lib.js\"] (for @vendor/lib)")
            && err.contains("nothing was published"),
        "{err}"
    );
    assert!(tessera_deployer::registry::load(&store)
        .await
        .unwrap()
        .registry
        .shell
        .is_none());
}

#[tokio::test]
async fn a_manifest_with_thousands_of_routes_is_refused_at_once_with_the_limit() {
    // Issue 18: 8,000 routes took 8 s (every pair compared) and 200,000 never finished.
    let f = Fixture::with_shell().await;
    let mfe_of = |dir: &Path| dir.join("mfe.json").display().to_string();
    for count in [8_000usize, 200_000] {
        let dir = f.routed_app("many", "1");
        edit_built(&dir, |v| {
            let mut routes: Vec<String> = (0..count).map(|i| format!("/many/r{i}")).collect();
            routes[0] = "/many".into();
            // Duplicates too: each would have been compared with every other route.
            routes[count - 1] = "/many/r1".into();
            v["activation"] = json!({ "routes": routes });
        });
        assert_rejected(
            &f,
            &dir,
            &[
                &mfe_of(&dir),
                "field `activation.routes`",
                &format!("lists {count} routes; an app may list at most 256"),
            ],
        )
        .await;
    }
}

#[tokio::test]
async fn dot_segments_and_control_characters_in_mfe_json_are_refused() {
    let f = Fixture::with_shell().await;
    let mfe_of = |dir: &Path| dir.join("mfe.json").display().to_string();
    let dir = f.routed_app("dots", "1");
    edit_built(&dir, |v| {
        v["activation"] = json!({ "routes": ["/dots", "/dots/../admin"] })
    });
    assert_rejected(
        &f,
        &dir,
        &[
            &mfe_of(&dir),
            "field `activation.routes[1]`",
            "\"/dots/../admin\" has a \"..\" segment",
        ],
    )
    .await;
    let dir = f.routed_app("bidi", "1");
    edit_built(&dir, |v| v["nav"]["label"] = json!("Orders\u{202E}gnp.exe"));
    assert_rejected(
        &f,
        &dir,
        &[&mfe_of(&dir), "field `nav.label`", "contains U+202E"],
    )
    .await;
}
