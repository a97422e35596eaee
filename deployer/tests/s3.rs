//! The S3 store against a real S3 API (moto's server on 127.0.0.1, started per test): headers
//! as stored, conditional writes, publishing and rollback through `tessera-deploy`, eight
//! concurrent publisher processes over several rounds, and the CDN server reading a bucket.

mod common;

use common::s3server::{http, S3Server};
use common::{app_build, routed_mfe, shell_build};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;
use tessera_deployer::publish::{self, PublishOptions};
use tessera_deployer::registry;
use tessera_deployer::store::{PutMode, PutOutcome, Store};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

fn deploy() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tessera-deploy"))
}

/// Runs `tessera-deploy` with the AWS variables pointing at `s3`; its stdout on success.
fn run_deploy(s3: &S3Server, args: &[&str]) -> String {
    let out = deploy()
        .args(args)
        .envs(s3.env())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tessera-deploy {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn objects_are_stored_with_their_content_type_and_cache_control() {
    let s3 = S3Server::start();
    s3.create_bucket("site");
    let store = s3.store("s3://site/prod");
    let cases = [
        (
            "@test/a/0123abcd/a_bg.wasm",
            "application/wasm",
            IMMUTABLE,
            &b"\0asm"[..],
        ),
        (
            "@test/a/0123abcd/a.js",
            "text/javascript; charset=utf-8",
            IMMUTABLE,
            b"export default 1;",
        ),
        ("apps.json", "application/json", "no-cache", b"{}"),
        (
            "index.html",
            "text/html; charset=utf-8",
            "no-cache",
            b"<html>",
        ),
        (
            "sw.js",
            "text/javascript; charset=utf-8",
            "no-cache",
            b"// sw",
        ),
        (
            "manifest.webmanifest",
            "application/manifest+json",
            "no-cache",
            b"{}",
        ),
        (
            "_tessera/registry.json",
            "application/json",
            "no-cache",
            b"{}",
        ),
    ];
    for (key, _, _, bytes) in cases {
        let written = store
            .put(key, bytes.to_vec(), PutMode::Overwrite)
            .await
            .unwrap();
        let PutOutcome::Written { etag } = written else {
            panic!("{key}: an overwrite cannot conflict")
        };
        let got = store.get(key).await.unwrap().expect("just written");
        assert_eq!(got.bytes, bytes, "{key}");
        assert_eq!(got.etag, etag, "{key}: the ETag of the put is the one read");
    }
    for (key, content_type, cache_control, bytes) in cases {
        let path = format!("/site/prod/{key}");
        for method in ["HEAD", "GET"] {
            let r = http(s3.addr, method, &path, &[], b"");
            assert_eq!(r.status, 200, "{method} {path}: {}", r.text());
            assert_eq!(
                r.header("content-type"),
                Some(content_type),
                "{method} {path}"
            );
            assert_eq!(
                r.header("cache-control"),
                Some(cache_control),
                "{method} {path}"
            );
            if method == "GET" {
                assert_eq!(r.body, bytes, "{path}");
            }
        }
    }
    assert_eq!(store.get("apps-missing.json").await.unwrap(), None);
}

#[tokio::test]
async fn conditional_writes_conflict_and_change_nothing() {
    let s3 = S3Server::start();
    s3.create_bucket("site");
    let store = s3.store("s3://site");
    let key = "_tessera/registry.json";
    let PutOutcome::Written { etag: first } = store
        .put(key, b"1".to_vec(), PutMode::Create)
        .await
        .unwrap()
    else {
        panic!("create on a new key must succeed")
    };
    // moto answers 412 here; any other answer would be an error, not a conflict.
    assert_eq!(
        store
            .put(key, b"2".to_vec(), PutMode::Create)
            .await
            .unwrap(),
        PutOutcome::Conflict,
        "create on an existing key"
    );
    assert_eq!(store.get(key).await.unwrap().unwrap().bytes, b"1");

    let PutOutcome::Written { etag: second } = store
        .put(key, b"2".to_vec(), PutMode::Update(first.clone()))
        .await
        .unwrap()
    else {
        panic!("update with the current ETag must succeed")
    };
    assert_ne!(first, second);
    assert_eq!(
        store
            .put(key, b"3".to_vec(), PutMode::Update(first))
            .await
            .unwrap(),
        PutOutcome::Conflict,
        "update with a stale ETag"
    );
    let now = store.get(key).await.unwrap().unwrap();
    assert_eq!((now.bytes.as_slice(), now.etag), (&b"2"[..], second));
    let raw = http(s3.addr, "GET", &format!("/site/{key}"), &[], b"");
    assert_eq!(raw.body, b"2", "the bucket holds what the winner wrote");

    assert_eq!(
        store
            .put(
                "nothing.json",
                b"x".to_vec(),
                PutMode::Update("\"abc\"".into())
            )
            .await
            .unwrap(),
        PutOutcome::Conflict,
        "update of a missing key"
    );
    assert_eq!(store.get("nothing.json").await.unwrap(), None);

    // The server itself refused the two conflicting writes to the registry with 412.
    let refused: Vec<String> = s3
        .log()
        .lines()
        .filter(|l| l.contains(&format!("PUT /site/{key}")) && l.contains("\" 412"))
        .map(str::to_string)
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
}

#[tokio::test]
async fn errors_name_the_store_and_the_key() {
    let s3 = S3Server::start();
    let store = s3.store("s3://no-such-bucket/prod");
    let err = format!("{:#}", store.get("apps.json").await.unwrap_err());
    assert!(
        err.contains("s3://no-such-bucket/prod") && err.contains("apps.json"),
        "{err}"
    );
    let err = format!(
        "{:#}",
        store
            .put("index.html", b"x".to_vec(), PutMode::Overwrite)
            .await
            .unwrap_err()
    );
    assert!(
        err.contains("s3://no-such-bucket/prod") && err.contains("index.html"),
        "{err}"
    );
}

/// What `apps.json` and `importmap.json` of `prefix` in bucket `site` name, read raw.
fn published_apps(s3: &S3Server, prefix: &str) -> (serde_json::Value, serde_json::Value) {
    let get = |name: &str| {
        let r = http(s3.addr, "GET", &format!("/site/{prefix}/{name}"), &[], b"");
        assert_eq!(r.status, 200, "{name}: {}", r.text());
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{name}");
        r.json()
    };
    (get("apps.json"), get("importmap.json"))
}

#[tokio::test]
async fn publish_list_and_rollback_on_a_bucket() {
    let s3 = S3Server::start();
    s3.create_bucket("site");
    let tmp = tempfile::tempdir().unwrap();
    let url = "s3://site/prod";
    let store = s3.store(url);
    let shell = shell_build(tmp.path());
    publish::publish(&store, &shell, &PublishOptions::default())
        .await
        .unwrap();
    let one_v1 = app_build(tmp.path(), "one", &routed_mfe("one"), "export const v = 1;");
    let r1 = publish::publish(&store, &one_v1, &PublishOptions::default())
        .await
        .unwrap();
    // The command line, with the AWS variables only.
    let two = app_build(tmp.path(), "two", &routed_mfe("two"), "export const v = 2;");
    let out = run_deploy(&s3, &["publish", two.to_str().unwrap(), "--store", url]);
    assert!(
        out.contains("published @test/two") && out.contains(url),
        "{out}"
    );
    let one_v2 = app_build(
        tmp.path(),
        "one",
        &routed_mfe("one"),
        "export const v = 'two';",
    );
    let r2 = publish::publish(&store, &one_v2, &PublishOptions::default())
        .await
        .unwrap();

    // Publishing the same build again finds its files already there, byte for byte.
    publish::publish(&store, &two, &PublishOptions::default())
        .await
        .unwrap();

    let (apps, map) = published_apps(&s3, "prod");
    assert_eq!(apps["apps"]["@test/one"]["version"], r2.version.as_str());
    assert!(apps["apps"].get("@test/two").is_some(), "{apps}");
    assert_eq!(apps["schema"], 1);
    let entry = map["imports"]["@test/one"].as_str().unwrap();
    assert!(entry.contains(&r2.version), "{map}");
    assert!(map["integrity"][entry]
        .as_str()
        .unwrap()
        .starts_with("sha384-"));
    assert_eq!(map["imports"]["@vendor/lib"], "/vendor/lib.js");
    let bundle = http(s3.addr, "GET", &format!("/site/prod{entry}"), &[], b"");
    assert_eq!(bundle.status, 200, "{entry}");
    assert_eq!(bundle.body, b"export const v = 'two';");
    assert_eq!(bundle.header("cache-control"), Some(IMMUTABLE));
    assert_eq!(
        bundle.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let points = store.get("mount-points.json").await.unwrap().unwrap();
    let points: serde_json::Value = serde_json::from_slice(&points.bytes).unwrap();
    assert!(points.to_string().contains("@test/two"), "{points}");
    for name in ["index.html", "sw.js", "manifest.webmanifest"] {
        let r = http(s3.addr, "HEAD", &format!("/site/prod/{name}"), &[], b"");
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{name}");
    }

    let listed: serde_json::Value =
        serde_json::from_str(&run_deploy(&s3, &["list", "--store", url, "--json"])).unwrap();
    assert_eq!(listed["generation"], 5);
    assert_eq!(
        listed["apps"]["@test/one"]["previous"][0]["manifest"]["version"],
        r1.version.as_str()
    );

    let out = run_deploy(&s3, &["rollback", "@test/one", "--store", url]);
    assert!(out.contains(&r1.version), "{out}");
    let (apps, map) = published_apps(&s3, "prod");
    assert_eq!(apps["apps"]["@test/one"]["version"], r1.version.as_str());
    assert!(map["imports"]["@test/one"]
        .as_str()
        .unwrap()
        .contains(&r1.version));
    assert!(apps["apps"].get("@test/two").is_some(), "{apps}");

    // History on a bucket: one snapshot per command, each saying what changed.
    let history: serde_json::Value =
        serde_json::from_str(&run_deploy(&s3, &["history", "--store", url, "--json"])).unwrap();
    let rows = history.as_array().unwrap();
    assert_eq!(rows.len(), 6, "{history}");
    assert_eq!(rows[5]["snapshot"], 6);
    assert_eq!(rows[5]["changes"][0]["action"], "rollback");
    assert_eq!(rows[5]["changes"][0]["version"], r1.version.as_str());
    assert_eq!(rows[3]["changes"][0]["app"], "@test/one");
    assert!(
        rows[4]["changes"].as_array().unwrap().is_empty(),
        "{history}"
    );
    let text = run_deploy(&s3, &["history", "--store", url]);
    assert!(
        text.contains(&format!("rollback @test/one@{}", r1.version)),
        "{text}"
    );
    // The whole set of snapshot 2 (the shell and one v1): two is removed, as a new snapshot.
    let out = run_deploy(&s3, &["rollback", "--to", "2", "--store", url]);
    assert!(out.contains("restored snapshot 2 as snapshot 7"), "{out}");
    let (apps, _) = published_apps(&s3, "prod");
    assert!(apps["apps"].get("@test/two").is_none(), "{apps}");
    assert_eq!(apps["apps"]["@test/one"]["version"], r1.version.as_str());

    // verify on a bucket: clean, then a bundle file overwritten behind the deployer's back.
    let v: serde_json::Value =
        serde_json::from_str(&run_deploy(&s3, &["verify", "--store", url, "--json"])).unwrap();
    assert_eq!(v["problems"], serde_json::json!([]), "{v}");
    assert_eq!(v["snapshot"], 7);
    let entry = map["imports"]["@test/one"].as_str().unwrap().to_string();
    store
        .put(
            entry.trim_start_matches('/'),
            b"tampered".to_vec(),
            PutMode::Overwrite,
        )
        .await
        .unwrap();
    let out = deploy()
        .args(["verify", "--store", url])
        .envs(s3.env())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains(&format!(
            "problem: @test/one: {}",
            entry.trim_start_matches('/')
        )),
        "{text}"
    );

    // A dry run on a bucket sends no PUT; a cohort release there, then promote.
    let puts = |s3: &S3Server| {
        s3.log()
            .lines()
            .filter(|l| l.contains("\"PUT /site/prod/"))
            .count()
    };
    let before = puts(&s3);
    assert!(before > 10, "moto's log shows the PUTs so far");
    let one_v3 = app_build(tmp.path(), "one", &routed_mfe("one"), "export const v = 3;");
    let out = run_deploy(
        &s3,
        &[
            "publish",
            one_v3.to_str().unwrap(),
            "--store",
            url,
            "--dry-run",
        ],
    );
    assert!(out.contains("would upload 1 file"), "{out}");
    let out = run_deploy(&s3, &["rollback", "--to", "3", "--store", url, "--dry-run"]);
    assert!(
        out.contains("dry run: nothing was written to s3://site/prod"),
        "{out}"
    );
    assert_eq!(puts(&s3), before, "a dry run wrote to the bucket");
    run_deploy(
        &s3,
        &[
            "publish",
            one_v3.to_str().unwrap(),
            "--store",
            url,
            "--cohort",
            "role:beta",
        ],
    );
    let (apps, map) = published_apps(&s3, "prod");
    assert_eq!(apps["apps"]["@test/one"]["version"], r1.version.as_str());
    let cohort_entry = apps["apps"]["@test/one"]["cohorts"][0]["entry"]
        .as_str()
        .unwrap();
    assert_eq!(
        apps["apps"]["@test/one"]["cohorts"][0]["rule"]["role"],
        "beta"
    );
    assert!(map["integrity"][cohort_entry]
        .as_str()
        .unwrap()
        .starts_with("sha384-"));
    let bundle = http(
        s3.addr,
        "GET",
        &format!("/site/prod{cohort_entry}"),
        &[],
        b"",
    );
    assert_eq!(bundle.body, b"export const v = 3;");
    run_deploy(&s3, &["promote", "@test/one", "--store", url]);
    let (apps, _) = published_apps(&s3, "prod");
    assert!(apps["apps"]["@test/one"].get("cohorts").is_none(), "{apps}");
    assert_ne!(apps["apps"]["@test/one"]["version"], r1.version.as_str());

    // Another prefix in the same bucket is another store.
    assert_eq!(
        registry::load(&s3.store("s3://site/staging"))
            .await
            .unwrap()
            .registry
            .generation,
        0
    );
}

/// Publishes the shell to `s3://site/<prefix>` and eight apps at once from eight
/// `tessera-deploy` processes; every app must be in the manifests. Returns how many registry
/// commits the server refused with 412 (publishers that lost a race and retried).
fn concurrent_round(s3: &S3Server, root: &Path, prefix: &str) -> usize {
    let url = format!("s3://site/{prefix}");
    let shell = shell_build(&root.join(prefix));
    run_deploy(s3, &["publish", shell.to_str().unwrap(), "--store", &url]);
    let dirs: Vec<_> = (0..8)
        .map(|i| {
            let short = format!("app{i}");
            app_build(
                &root.join(prefix),
                &short,
                &routed_mfe(&short),
                &format!("export const i = {i};"),
            )
        })
        .collect();
    let started = Instant::now();
    let children: Vec<_> = dirs
        .iter()
        .map(|dir| {
            deploy()
                .args(["publish", dir.to_str().unwrap(), "--store", &url])
                .envs(s3.env())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{prefix}: a publisher failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    eprintln!(
        "{prefix}: eight concurrent publishes took {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let (apps, map) = published_apps(s3, prefix);
    let points = http(
        s3.addr,
        "GET",
        &format!("/site/{prefix}/mount-points.json"),
        &[],
        b"",
    )
    .text();
    for i in 0..8 {
        let name = format!("@test/app{i}");
        assert!(
            apps["apps"].get(&name).is_some(),
            "{prefix}: {name} missing from apps.json: {apps}"
        );
        let entry = map["imports"][&name]
            .as_str()
            .unwrap_or_else(|| panic!("{prefix}: {name} missing from importmap.json: {map}"));
        assert!(
            points.contains(&name),
            "{prefix}: {name} missing from mount-points.json"
        );
        let file = http(s3.addr, "HEAD", &format!("/site/{prefix}{entry}"), &[], b"");
        assert_eq!(file.status, 200, "{prefix}: {entry} named but missing");
    }
    // moto logs each request: count the snapshot commits it refused (number already taken).
    let refused = s3
        .log()
        .lines()
        .filter(|l| l.contains(&format!("PUT /site/{prefix}/_tessera/snapshots/")))
        .filter(|l| l.contains("\" 412"))
        .count();
    eprintln!("{prefix}: {refused} snapshot commits lost a race and were retried");
    let verified: serde_json::Value =
        serde_json::from_str(&run_deploy(s3, &["verify", "--store", &url, "--json"])).unwrap();
    assert_eq!(
        verified["problems"],
        serde_json::json!([]),
        "{prefix}: {verified}"
    );
    let listed: serde_json::Value =
        serde_json::from_str(&run_deploy(s3, &["list", "--store", &url, "--json"])).unwrap();
    assert_eq!(
        listed["generation"], 9,
        "{prefix}: the shell and eight apps, one snapshot each"
    );
    refused
}

#[test]
fn eight_concurrent_publisher_processes_lose_no_entry_round_after_round() {
    let s3 = S3Server::start();
    s3.create_bucket("site");
    let tmp = tempfile::tempdir().unwrap();
    let refused: usize = (1..=5)
        .map(|round| concurrent_round(&s3, tmp.path(), &format!("round{round}")))
        .sum();
    assert!(
        refused > 0,
        "no publisher ever lost a race: the test did not exercise concurrent commits"
    );
}

/// Kills the child process when dropped, so a failing assertion does not leave it running.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_cdn_server_serves_a_bucket() {
    let s3 = S3Server::start();
    s3.create_bucket("site");
    let tmp = tempfile::tempdir().unwrap();
    let url = "s3://site/cdn";
    let store = s3.store(url);
    publish::publish(&store, &shell_build(tmp.path()), &PublishOptions::default())
        .await
        .unwrap();
    let app = app_build(
        tmp.path(),
        "hello",
        &routed_mfe("hello"),
        "export const hi = 1;",
    );
    publish::publish(&store, &app, &PublishOptions::default())
        .await
        .unwrap();

    // Endpoint and region by flag this time; only the credentials come from the environment.
    let mut serve = KillOnDrop(
        deploy()
            .args(["serve", "--store", url, "--addr", "127.0.0.1:0"])
            .args(["--s3-endpoint", &s3.endpoint(), "--s3-region", "us-east-1"])
            .envs(
                s3.env()
                    .into_iter()
                    .filter(|(k, _)| k.starts_with("AWS_ACCESS") || k.starts_with("AWS_SECRET")),
            )
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_ALLOW_HTTP")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(serve.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains(url), "{line}");
    let addr: std::net::SocketAddr = line
        .trim()
        .rsplit_once("http://")
        .map(|(_, a)| a.trim_end_matches('/'))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .parse()
        .unwrap();

    let apps = http(addr, "GET", "/apps.json", &[], b"");
    assert_eq!(apps.status, 200, "{}", apps.text());
    assert_eq!(apps.header("content-type"), Some("application/json"));
    assert_eq!(apps.header("cache-control"), Some("no-cache"));
    let entry = apps.json()["apps"]["@test/hello"]["version"]
        .as_str()
        .map(|v| format!("/@test/hello/{v}/hello.js"))
        .expect("hello is published");
    let bundle = http(addr, "GET", &entry, &[], b"");
    assert_eq!(bundle.status, 200, "{entry}: {}", bundle.text());
    assert_eq!(bundle.body, b"export const hi = 1;");
    assert_eq!(
        bundle.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(bundle.header("cache-control"), Some(IMMUTABLE));
    let etag = bundle.header("etag").expect("an ETag").to_string();
    let again = http(addr, "GET", &entry, &[("If-None-Match", &etag)], b"");
    assert_eq!(again.status, 304);

    let page = http(addr, "GET", "/hello", &[], b"");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    assert_eq!(
        http(addr, "GET", "/_tessera/snapshots/1.json", &[], b"").status,
        404
    );
    assert_eq!(
        http(addr, "GET", "/@test/hello/0000/missing.js", &[], b"").status,
        404
    );
}

/// With no credentials the command fails at once, naming the variables to set, and never asks a
/// credential endpoint: the instance-metadata endpoint is pointed at a listener here that must
/// see no connection.
#[test]
fn a_bucket_without_credentials_is_refused_before_any_request() {
    let metadata = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    metadata.set_nonblocking(true).unwrap();
    let s3_api = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    s3_api.set_nonblocking(true).unwrap();
    let mut cmd = deploy();
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    let started = Instant::now();
    let out = cmd
        .args([
            "list",
            "--store",
            "s3://site/prod",
            "--s3-endpoint",
            &format!("http://{}", s3_api.local_addr().unwrap()),
        ])
        .env(
            "AWS_METADATA_ENDPOINT",
            format!("http://{}", metadata.local_addr().unwrap()),
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "s3://site/prod: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        ),
        "{stderr}"
    );
    assert!(started.elapsed().as_secs() < 10, "it must fail at once");
    assert!(
        metadata.accept().is_err(),
        "the metadata endpoint was contacted"
    );
    assert!(s3_api.accept().is_err(), "the S3 API was contacted");
}
