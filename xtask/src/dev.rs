//! `cargo xtask dev`: from a fresh machine to a running system on 127.0.0.1.

use crate::build;
use crate::run::{cargo, run};
use crate::tools;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn store() -> PathBuf {
    crate::root().join(".tessera/store")
}

/// Builds the deployer CLI and the BFF (which also serves the store as the CDN); returns their
/// paths.
pub fn server_bins() -> Result<(PathBuf, PathBuf)> {
    run(cargo().args([
        "build",
        "--quiet",
        "--bin",
        "tessera-deploy",
        "--bin",
        "tessera-bff",
    ]))?;
    let dir = crate::root().join("target/debug");
    Ok((dir.join("tessera-deploy"), dir.join("tessera-bff")))
}

pub fn publish(bin: &Path, store: &Path, dir: &Path) -> Result<()> {
    run(Command::new(bin)
        .arg("publish")
        .arg(dir)
        .arg("--store")
        .arg(store))
}

pub fn dev(args: &[String]) -> Result<()> {
    let addr = match args {
        [] => "127.0.0.1:8080".to_string(),
        [flag, addr] if flag == "--addr" => addr.clone(),
        _ => bail!("usage: cargo xtask dev [--addr 127.0.0.1:8080]"),
    };
    tools::bootstrap()?;
    let built = build::build(&[])?;
    let (deploy, bff) = server_bins()?;
    let store = store();
    for b in &built {
        publish(&deploy, &store, &b.dir)?;
    }
    let data = crate::root().join(".tessera/data");
    println!(
        "\nTessera is starting at http://{addr}/ (store: {}, SQLite in {}; dev user Alice)\n",
        store.display(),
        data.display()
    );
    run(Command::new(&bff)
        .arg("--store")
        .arg(&store)
        .arg("--data-dir")
        .arg(&data)
        .arg("--addr")
        .arg(&addr)
        // Sign-in through the OIDC provider comes with the shell's sign-in; until then the
        // development tokens.
        .arg("--dev-tokens"))
}
