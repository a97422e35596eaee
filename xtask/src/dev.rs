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

/// Builds the deployer CLI and returns its path.
pub fn deployer_bin() -> Result<PathBuf> {
    run(cargo().args([
        "build",
        "--quiet",
        "--package",
        "tessera-deployer",
        "--bin",
        "tessera-deploy",
    ]))?;
    Ok(crate::root().join("target/debug/tessera-deploy"))
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
    let bin = deployer_bin()?;
    let store = store();
    for b in &built {
        publish(&bin, &store, &b.dir)?;
    }
    println!(
        "\nTessera is starting at http://{addr}/ (store: {})\n",
        store.display()
    );
    run(Command::new(&bin)
        .arg("serve")
        .arg("--store")
        .arg(&store)
        .arg("--addr")
        .arg(&addr))
}
