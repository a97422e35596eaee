//! Installs what the build and the tests need, when it is missing: the wasm target, the
//! wasm-bindgen CLI matching Cargo.lock, npm packages (Playwright, binaryen's wasm-opt,
//! terser), Debian's Chromium with its driver and PostgreSQL, and schemathesis and moto's S3
//! server in a Python venv.

use crate::run::{cargo, output, run};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use tessera_deployer::toolchain::{self, cargo_bin, Toolchain};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub fn tests_dir() -> PathBuf {
    crate::root().join("tests")
}

/// The build tools, with the npm ones from `tests/node_modules` (installed by [`bootstrap`]).
pub fn toolchain() -> Toolchain {
    Toolchain::with_node_dir(&tests_dir())
}

pub fn wasm_bindgen_test_runner() -> PathBuf {
    cargo_bin("wasm-bindgen-test-runner")
}

/// What `cargo xtask dev` needs.
pub fn bootstrap() -> Result<()> {
    wasm_target()?;
    wasm_bindgen_cli()?;
    browser()
}

/// The npm packages (Playwright among them) and Debian's Chromium with its driver: what a
/// script driving a browser needs (`cargo xtask synthetic`).
pub fn browser() -> Result<()> {
    npm_packages()?;
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        apt_install(&["chromium", "chromium-driver"])?;
    }
    Ok(())
}

/// What `cargo xtask test` needs besides: a PostgreSQL server for the BFF's storage tests, a NATS
/// server for its live fan-out test, schemathesis for its API tests, and moto's S3 API server
/// for the deployer's S3 store tests.
pub fn bootstrap_tests() -> Result<()> {
    bootstrap()?;
    if postgres_bin_dir().is_none() {
        apt_install(&["postgresql"])?;
    }
    // Debian installs it in /usr/sbin, which a non-root PATH may lack.
    if !Path::new("/usr/sbin/nats-server").exists() && !Path::new("/usr/bin/nats-server").exists() {
        apt_install(&["nats-server"])?;
    }
    schemathesis()?;
    moto()
}

/// Debian's PostgreSQL binaries (`/usr/lib/postgresql/<major>/bin`), newest major first.
pub fn postgres_bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| d.join("initdb").exists())
        .collect();
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
    });
    dirs.pop()
}

pub const SCHEMATHESIS_VERSION: &str = "4.32.5";

fn venv() -> PathBuf {
    crate::root().join("target/venv")
}

pub fn schemathesis_bin() -> PathBuf {
    venv().join("bin/schemathesis")
}

fn schemathesis() -> Result<()> {
    let have = output(Command::new(schemathesis_bin()).arg("--version")).unwrap_or_default();
    if have.contains(SCHEMATHESIS_VERSION) {
        return Ok(());
    }
    pip_install(&format!("schemathesis=={SCHEMATHESIS_VERSION}"))
}

/// moto's server: a real S3 API (it honours `If-None-Match: *` and `If-Match` on PutObject with
/// 412) that the deployer's tests start on 127.0.0.1.
pub const MOTO_VERSION: &str = "5.2.5";

/// Where the deployer's S3 tests look for it (they fail, saying so, when it is missing).
pub fn moto_server_bin() -> PathBuf {
    venv().join("bin/moto_server")
}

fn moto() -> Result<()> {
    let have = output(Command::new(venv().join("bin/python")).args([
        "-c",
        "import moto, flask, flask_cors; print(moto.__version__)",
    ]))
    .unwrap_or_default();
    if have.trim() == MOTO_VERSION && moto_server_bin().exists() {
        return Ok(());
    }
    pip_install(&format!("moto[server]=={MOTO_VERSION}"))
}

/// Installs a PyPI package into `target/venv`, creating the venv first if needed.
fn pip_install(spec: &str) -> Result<()> {
    if !venv().join("bin/pip").exists() {
        run(Command::new("python3").arg("-m").arg("venv").arg(venv()))
            .context("creating a Python venv (Debian: apt-get install python3-venv)")?;
    }
    run(Command::new(venv().join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(spec))
    .with_context(|| format!("installing {spec} from PyPI"))
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

/// The wasm-bindgen CLI and its test runner (one crate installs both).
fn wasm_bindgen_cli() -> Result<()> {
    if !wasm_bindgen_test_runner().exists() {
        // A CLI of the right version without its runner: install both again.
        let _ = std::fs::remove_file(cargo_bin("wasm-bindgen"));
    }
    toolchain::wasm_bindgen_cli()
}

/// twiggy, the wasm size profiler `cargo xtask bench` prints each bundle's biggest items with.
pub const TWIGGY_VERSION: &str = "0.8.0";

pub fn twiggy() -> Result<PathBuf> {
    let bin = cargo_bin("twiggy");
    let have = output(Command::new(&bin).arg("--version")).unwrap_or_default();
    if !have.contains(TWIGGY_VERSION) {
        run(cargo().args(["install", "twiggy", "--version", TWIGGY_VERSION, "--locked"]))?;
    }
    Ok(bin)
}

fn npm_packages() -> Result<()> {
    let dir = tests_dir();
    let stamp = dir.join("node_modules/.package-lock.json");
    let lock = dir.join("package-lock.json");
    let fresh = match (stamp.metadata(), lock.metadata()) {
        (Ok(s), Ok(l)) => s.modified()? >= l.modified()?,
        _ => false,
    };
    let tools = toolchain();
    if !fresh || !tools.wasm_opt.exists() || !tools.terser.exists() {
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir))
        .context("installing the npm test packages (tests/package.json)")?;
    }
    Ok(())
}

fn apt_install(packages: &[&str]) -> Result<()> {
    let is_root = output(Command::new("id").arg("-u")).is_some_and(|u| u.trim() == "0");
    if !is_root {
        bail!(
            "missing Debian packages: run `sudo apt-get install -y {}`",
            packages.join(" ")
        );
    }
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}
