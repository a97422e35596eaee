//! Installs what the build and the tests need, when it is missing: the wasm target, the
//! wasm-bindgen CLI matching Cargo.lock, npm packages (Playwright, binaryen's wasm-opt) and
//! Debian's Chromium with its driver.

use crate::run::{cargo, output, run};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Must equal the `wasm-bindgen` version pinned in Cargo.toml.
pub const WASM_BINDGEN_VERSION: &str = "0.2.130";
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub fn tests_dir() -> PathBuf {
    crate::root().join("tests")
}

pub fn wasm_opt() -> PathBuf {
    tests_dir().join("node_modules/.bin/wasm-opt")
}

pub fn wasm_bindgen() -> PathBuf {
    cargo_bin("wasm-bindgen")
}

pub fn wasm_bindgen_test_runner() -> PathBuf {
    cargo_bin("wasm-bindgen-test-runner")
}

fn cargo_bin(name: &str) -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"));
    home.join("bin").join(name)
}

pub fn bootstrap() -> Result<()> {
    wasm_target()?;
    wasm_bindgen_cli()?;
    npm_packages()?;
    chromium()?;
    Ok(())
}

fn wasm_target() -> Result<()> {
    let installed =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if !installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    Ok(())
}

fn wasm_bindgen_cli() -> Result<()> {
    let have = output(Command::new(wasm_bindgen()).arg("--version")).unwrap_or_default();
    let runner = wasm_bindgen_test_runner().exists();
    if have.trim() == format!("wasm-bindgen {WASM_BINDGEN_VERSION}") && runner {
        return Ok(());
    }
    // `--locked` fails here: one of the CLI's locked dependencies is not on the registry.
    run(cargo().args([
        "install",
        "wasm-bindgen-cli",
        "--version",
        WASM_BINDGEN_VERSION,
        "--force",
    ]))
}

fn npm_packages() -> Result<()> {
    let dir = tests_dir();
    let stamp = dir.join("node_modules/.package-lock.json");
    let lock = dir.join("package-lock.json");
    let fresh = match (stamp.metadata(), lock.metadata()) {
        (Ok(s), Ok(l)) => s.modified()? >= l.modified()?,
        _ => false,
    };
    if !fresh || !wasm_opt().exists() {
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir))
        .context("installing the npm test packages (tests/package.json)")?;
    }
    Ok(())
}

fn chromium() -> Result<()> {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return Ok(());
    }
    let is_root = output(Command::new("id").arg("-u")).is_some_and(|u| u.trim() == "0");
    if !is_root {
        bail!(
            "Chromium is missing: run `sudo apt-get install -y chromium chromium-driver` (Debian)"
        );
    }
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .args([
            "install",
            "-y",
            "--no-install-recommends",
            "chromium",
            "chromium-driver",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive"))
}
