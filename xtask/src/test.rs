//! `cargo xtask test`: every check the project has, in the order that fails fastest.

use crate::build;
use crate::dev::deployer_bin;
use crate::run::{cargo, run};
use crate::tools;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::Command;

const WASM_CRATES: [&str; 5] = ["shell", "nav", "restaurants", "add-to-cart", "cart"];

pub fn test(args: &[String]) -> Result<()> {
    let skip_e2e = args.iter().any(|a| a == "--skip-e2e");
    tools::bootstrap()?;
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
        "tessera-shared",
        "--features",
        "tessera-shared/browser",
    ]);
    for c in WASM_CRATES {
        wasm_clippy.args(["-p", c]);
    }
    run(wasm_clippy.args(["--", "-D", "warnings"]))?;
    run(cargo().args(["test", "--workspace"]))?;
    browser_tests()?;
    if skip_e2e {
        return Ok(());
    }
    end_to_end()
}

/// wasm-bindgen-test suites in headless Chromium.
fn browser_tests() -> Result<()> {
    run(cargo()
        .args([
            "test",
            "--target",
            "wasm32-unknown-unknown",
            "-p",
            "tessera-shared",
            "--features",
            "browser",
            "--test",
            "browser",
        ])
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
            tools::wasm_bindgen_test_runner(),
        )
        .env("CHROMEDRIVER", tools::CHROMEDRIVER)
        .env("WASM_BINDGEN_TEST_TIMEOUT", "60"))
}

pub fn fixtures_dir() -> PathBuf {
    crate::root().join("target/e2e-fixtures")
}

/// Packages the plain-JS fixture apps (a broken one, two versions of a hello app).
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
    Ok(())
}

fn end_to_end() -> Result<()> {
    build::build(&[])?;
    let bin = deployer_bin()?;
    package_fixtures()?;
    run(Command::new("node")
        .args(["--test", "--test-concurrency=1", "e2e/"])
        .current_dir(tools::tests_dir())
        .env("TESSERA_DEPLOY_BIN", bin)
        .env("TESSERA_DIST", build::dist())
        .env("TESSERA_FIXTURES", fixtures_dir())
        .env("CHROMIUM", tools::CHROMIUM))
}
