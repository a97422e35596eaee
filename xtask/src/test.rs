//! `cargo xtask test`: every check the project has, in the order that fails fastest.

use crate::build;
use crate::dev::server_bins;
use crate::run::{cargo, run};
use crate::tools;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::SystemTime;

const WASM_CRATES: [&str; 10] = [
    "shell",
    "shell-auth",
    "service-worker",
    "nav",
    "restaurants",
    "add-to-cart",
    "cart",
    "menu-admin",
    "operations",
    "readme-app",
];

pub fn test(args: &[String]) -> Result<()> {
    let skip_e2e = args.iter().any(|a| a == "--skip-e2e");
    tools::bootstrap_tests()?;
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    let mut wasm_clippy = cargo();
    wasm_clippy.args([
        "clippy",
        "--target",
        "wasm32-unknown-unknown",
        "-p",
        "tessera-runtime",
        "--features",
        "tessera-runtime/browser",
        "-p",
        "tessera-sdk",
        "-p",
        "tessera-wire",
    ]);
    for c in WASM_CRATES {
        wasm_clippy.args(["-p", c]);
    }
    run(wasm_clippy.args(["--", "-D", "warnings"]))?;
    run(cargo()
        .args(["test", "--workspace"])
        .env("TESSERA_MOTO_SERVER", tools::moto_server_bin()))?;
    browser_tests()?;
    if skip_e2e {
        return Ok(());
    }
    end_to_end()
}

/// wasm-bindgen-test suites in headless Chromium: the app SDK in a page (bus, location, props,
/// host calls, both forms of `micro_app!`, the DOM helpers), the JS forms of the contract's
/// types against their serde forms (`tessera-wire`), and the client runtime's stores: the
/// read-through cache's IndexedDB store in a page and in a service worker, the outbox's store
/// in a page, and replays asked for while another replayer holds the lock.
fn browser_tests() -> Result<()> {
    let suites: [&[&str]; 3] = [
        &[
            "-p",
            "tessera-sdk",
            "--test",
            "browser",
            "--test",
            "wire",
            "--test",
            "dom_app",
            "--test",
            "leptos_app",
        ],
        &["-p", "tessera-wire", "--test", "forms"],
        &[
            "-p",
            "tessera-runtime",
            "--features",
            "browser",
            "--test",
            "response_store_window",
            "--test",
            "response_store_worker",
            "--test",
            "outbox_store",
            "--test",
            "replay_asks",
            "--test",
            "js_forms",
        ],
    ];
    for suite in suites {
        run(cargo()
            .args(["test", "--target", "wasm32-unknown-unknown"])
            .args(suite)
            .env(
                "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
                tools::wasm_bindgen_test_runner(),
            )
            .env("CHROMEDRIVER", tools::CHROMEDRIVER)
            .env("WASM_BINDGEN_TEST_TIMEOUT", "60"))?;
    }
    Ok(())
}

pub fn fixtures_dir() -> PathBuf {
    crate::root().join("target/e2e-fixtures")
}

/// Packages the plain-JS fixture apps (a broken one, two versions of a hello app, the host
/// services' apps), and a second release of the shell from the same build.
pub fn package_fixtures() -> Result<()> {
    let src = crate::root().join("tests/fixtures");
    let out = fixtures_dir();
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    for entry in std::fs::read_dir(&src).with_context(|| format!("reading {}", src.display()))? {
        let dir = entry?.path();
        if !dir.join("mfe.json").is_file() {
            continue;
        }
        let label = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("fixture")
            .to_string();
        let files = dir.join("files");
        tessera_deployer::package_app(&files, &dir.join("mfe.json"), &out.join(&label))
            .with_context(|| format!("packaging fixture {label}"))?;
    }
    package_next_shell(&out)
}

/// `<out>/shell-next/@tessera/shell`: the shell of the last build as a new release (its page
/// differs by a comment, so its version does), for the test that an app keeps working when the
/// shell is republished without it.
fn package_next_shell(out: &std::path::Path) -> Result<()> {
    let root = crate::root();
    let files = build::build_dir("shell");
    if !files.join("sw").is_dir() {
        bail!(
            "{} holds no built shell: run `cargo xtask build shell` first",
            files.display()
        );
    }
    let template = std::fs::read_to_string(root.join("index.html"))?;
    let next = out.join("shell-next-index.html");
    std::fs::write(
        &next,
        format!("{template}<!-- the next shell release -->\n"),
    )?;
    build::package_shell(&files, &next, &out.join("shell-next"))
        .context("packaging the next shell release")?;
    Ok(())
}

/// Every file under `dist/` with its bytes and modification time.
fn snapshot_dist() -> Result<BTreeMap<String, (Vec<u8>, SystemTime)>> {
    let dist = build::dist();
    tessera_deployer::package::list_files(&dist)?
        .into_iter()
        .map(|rel| {
            let path = dist.join(&rel);
            let bytes = std::fs::read(&path)?;
            Ok((rel, (bytes, path.metadata()?.modified()?)))
        })
        .collect()
}

/// Every built app passes `tessera-deploy check` (the contract, and no client runtime inside:
/// no IndexedDB, fetch or WebSocket in its glue); sizes over budget are printed, not failed.
fn check_apps(built: &[build::Built]) -> Result<()> {
    let mut problems = Vec::new();
    for b in built.iter().filter(|b| b.label != "shell") {
        let checked = tessera_deployer::check::check_app(
            &b.dir,
            tessera_deployer::check::DEFAULT_BUDGET_BYTES,
        )?;
        for w in &checked.warnings {
            println!("warning: {w}");
        }
        problems.extend(checked.problems.iter().map(|p| p.to_string()));
    }
    if !problems.is_empty() {
        bail!(
            "built apps fail the contract check:\n{}",
            problems.join("\n")
        );
    }
    println!("every built app passes the contract check; none carries the client runtime");
    Ok(())
}

/// Rebuilding one app rewrites only that app's output, and identical sources give the
/// identical content hash.
fn rebuild_one_app_in_isolation(app: &str) -> Result<()> {
    let before = snapshot_dist()?;
    build::build(&[app.to_string()])?;
    let after = snapshot_dist()?;
    let own = format!("@tessera/{app}/");
    let others = |m: &BTreeMap<String, (Vec<u8>, SystemTime)>| {
        m.iter()
            .filter(|(k, _)| !k.starts_with(&own))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    if others(&before) != others(&after) {
        bail!("rebuilding {app} changed files of other apps in dist/");
    }
    let own_files = |m: &BTreeMap<String, (Vec<u8>, SystemTime)>| -> Vec<(String, Vec<u8>)> {
        m.iter()
            .filter(|(k, _)| k.starts_with(&own))
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect()
    };
    if own_files(&before) != own_files(&after) {
        bail!("rebuilding {app} from unchanged sources gave different output (the build is not reproducible)");
    }
    println!("rebuilt {app} alone: its hash is unchanged and no other app's file was touched");
    Ok(())
}

fn end_to_end() -> Result<()> {
    let built = build::build(&[])?;
    check_apps(&built)?;
    rebuild_one_app_in_isolation("cart")?;
    run_e2e(&[])
}

/// `cargo xtask e2e [FILE...]`: the end-to-end tests (all, or the named files under
/// `tests/e2e/`) against what `dist/` holds now, for working on one of them.
pub fn e2e(files: &[String]) -> Result<()> {
    tools::bootstrap_tests()?;
    run_e2e(files)
}

fn run_e2e(files: &[String]) -> Result<()> {
    let (deploy, bff) = server_bins()?;
    package_fixtures()?;
    let targets: Vec<String> = if files.is_empty() {
        vec!["e2e/".into()]
    } else {
        files.iter().map(|f| format!("e2e/{f}")).collect()
    };
    run(Command::new("node")
        // No test takes two minutes here; one that hangs fails at five instead of holding
        // CI until its own limit, and the log names it. A file whose tests are over exits
        // even if a server it started is still running (a failed start once held CI so).
        .args([
            "--test",
            "--test-concurrency=1",
            "--test-timeout=300000",
            "--test-force-exit",
        ])
        .args(&targets)
        .current_dir(tools::tests_dir())
        .env("TESSERA_DEPLOY_BIN", deploy)
        .env("TESSERA_BFF_BIN", bff)
        .env("TESSERA_DIST", build::dist())
        .env("TESSERA_FIXTURES", fixtures_dir())
        .env("TESSERA_MOTO_SERVER", tools::moto_server_bin())
        // For the scaffolded app's own browser test (`team-app.test.mjs`).
        .env(
            "TESSERA_WASM_TEST_RUNNER",
            tools::wasm_bindgen_test_runner(),
        )
        .env("CHROMEDRIVER", tools::CHROMEDRIVER)
        .env("CHROMIUM", tools::CHROMIUM))
}
