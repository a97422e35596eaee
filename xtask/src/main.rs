//! `cargo xtask <command>`: the project's own scripts, in Rust so they run wherever cargo does.
//!
//! - `dev`: install what is missing, build every app, publish to the local store, serve it.
//! - `test`: install what is missing, then every check: fmt, clippy, native tests,
//!   wasm-bindgen tests in headless Chromium, end-to-end tests with Playwright.
//! - `build [APP...]`: build the shell and apps (or only the named ones) into `dist/`.
//! - `e2e [FILE...]`: the end-to-end tests (or the named files of `tests/e2e/`) against
//!   what `dist/` holds now.
//! - `bench`: print bundle sizes, load/activation timings, service worker and outbox figures.
//! - `synthetic <site URL> [options]`: a scripted user journey against a deployed site, in
//!   headless Chromium, with each step's time; exits 1 when a step fails.
//! - `bootstrap`: only install the toolchain pieces.

mod apps;
mod bench;
mod build;
mod dev;
#[cfg(test)]
mod layers;
mod readme_app;
mod run;
mod synthetic;
mod test;
mod tools;

use anyhow::{bail, Result};
use std::path::PathBuf;

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = args
        .split_first()
        .map(|(c, r)| (c.as_str(), r))
        .unwrap_or(("help", &[]));
    match cmd {
        "bootstrap" => tools::bootstrap(),
        "build" => {
            tools::bootstrap()?;
            build::build(rest)?;
            Ok(())
        }
        "dev" => dev::dev(rest),
        "test" => test::test(rest),
        "e2e" => test::e2e(rest),
        "bench" => bench::bench(),
        "synthetic" => synthetic::synthetic(rest),
        "help" | "--help" | "-h" => {
            println!("usage: cargo xtask <dev [--addr 127.0.0.1:8080] | test [--skip-e2e] | build [APP...] | e2e [FILE...] | bench | synthetic URL [--help] | bootstrap>");
            Ok(())
        }
        other => bail!("unknown command {other:?}; try `cargo xtask help`"),
    }
}
