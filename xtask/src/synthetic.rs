//! `cargo xtask synthetic <site URL> [options]`: the scripted user journey of
//! `tests/synthetic/check.mjs` in headless Chromium against any deployed site; its output and
//! exit status (0 passed, 1 a step failed, 2 a bad command line) are the command's.

use crate::tools;
use anyhow::{Context, Result};
use std::process::Command;

pub fn synthetic(args: &[String]) -> Result<()> {
    tools::browser()?;
    let script = tools::tests_dir().join("synthetic/check.mjs");
    let status = Command::new("node")
        .arg(&script)
        .args(args)
        .env("CHROMIUM", tools::CHROMIUM)
        .status()
        .with_context(|| format!("running node {}", script.display()))?;
    std::process::exit(status.code().unwrap_or(1));
}
