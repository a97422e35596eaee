//! `cargo xtask dev`: from a fresh machine to a running system on 127.0.0.1.

use crate::build;
use crate::run::{cargo, run};
use crate::tools;
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub fn store() -> PathBuf {
    crate::root().join(".tessera/store")
}

/// Builds the deployer CLI and the BFF (which also serves the store as the CDN); returns their
/// paths.
pub fn server_bins() -> Result<(PathBuf, PathBuf)> {
    server_bins_in("dev")
}

/// The deployer and the BFF built in cargo profile `profile` (`dev`, or `server` for
/// benchmarks: figures of a debug BFF say little about the real one).
pub fn server_bins_in(profile: &str) -> Result<(PathBuf, PathBuf)> {
    run(cargo().args([
        "build",
        "--quiet",
        "--profile",
        profile,
        "--bin",
        "tessera-deploy",
        "--bin",
        "tessera-bff",
    ]))?;
    let dir = crate::root()
        .join("target")
        .join(if profile == "dev" { "debug" } else { profile });
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
    let provider = start_provider(&addr)?;
    println!(
        "\nTessera is starting at http://{addr}/ (store: {}, SQLite in {})\n\
         Sign in at {} as alice / alice (a customer) or ada / ada (an admin).\n",
        store.display(),
        data.display(),
        provider.issuer,
    );
    run(Command::new(&bff)
        .arg("--store")
        .arg(&store)
        .arg("--data-dir")
        .arg(&data)
        .arg("--addr")
        .arg(&addr)
        .arg("--oidc-issuer")
        .arg(&provider.issuer)
        // A team's `tessera-deploy dev` (its default address) may override its app here.
        .arg("--override-origin")
        .arg(DEV_OVERRIDE_ORIGIN))
}

/// Where `tessera-deploy dev` serves an app by default.
const DEV_OVERRIDE_ORIGIN: &str = "http://127.0.0.1:8787";

/// The development OpenID Connect provider (`tests/oidc/provider.mjs`), stopped with the
/// dev command.
struct Provider {
    issuer: String,
    child: Child,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The provider listens on [`PROVIDER_PORT`], so the issuer (and a signed-in browser's
/// session) stays the same across restarts; it sends users back to the shell at `addr`.
fn start_provider(addr: &str) -> Result<Provider> {
    let mut child = Command::new("node")
        .arg(tools::tests_dir().join("oidc/provider.mjs"))
        .args(["--port", PROVIDER_PORT])
        .arg("--redirect-uri")
        .arg(format!(
            "http://{addr}{}",
            tessera_contract::auth::CALLBACK_PATH
        ))
        .arg("--post-logout-redirect-uri")
        .arg(format!("http://{addr}/"))
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the OIDC provider (node tests/oidc/provider.mjs)")?;
    let stdout = child.stdout.take().context("the provider's stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let provider = Provider {
        issuer: line
            .trim()
            .strip_prefix("oidc issuer ")
            .unwrap_or_default()
            .to_string(),
        child,
    };
    if provider.issuer.is_empty() {
        bail!("the OIDC provider did not start (is port {PROVIDER_PORT} taken?)");
    }
    Ok(provider)
}

const PROVIDER_PORT: &str = "8082";
