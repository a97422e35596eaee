//! The tools a bundle is built with besides cargo, at the versions this project pins: the
//! wasm-bindgen CLI (crates.io; it must equal the `wasm-bindgen` crate every app links) and,
//! from npm, binaryen's wasm-opt (Debian's binaryen 108 emits wasm that fails at start) and
//! terser. `cargo xtask` installs them for the workspace; `tessera-deploy build` installs them
//! once per machine for a team's own repository.

use crate::process::{cargo, output, run};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Must equal the `wasm-bindgen` version pinned in the workspace's Cargo.toml.
pub const WASM_BINDGEN_VERSION: &str = "0.2.130";
/// npm packages (name, version); `tests/package.json` pins the same (a test keeps them equal).
pub const NODE_TOOLS: [(&str, &str); 2] = [("binaryen", "132.0.0"), ("terser", "5.51.2")];

pub struct Toolchain {
    pub wasm_bindgen: PathBuf,
    pub wasm_opt: PathBuf,
    pub terser: PathBuf,
}

impl Toolchain {
    /// The tools with the npm ones under `node_dir/node_modules/.bin`.
    pub fn with_node_dir(node_dir: &Path) -> Toolchain {
        let bin = node_dir.join("node_modules/.bin");
        Toolchain {
            wasm_bindgen: cargo_bin("wasm-bindgen"),
            wasm_opt: bin.join("wasm-opt"),
            terser: bin.join("terser"),
        }
    }

    /// The tools for building outside this workspace, installed where missing: wasm-bindgen
    /// with `cargo install`, the npm ones into `$TESSERA_NODE_TOOLS` (default: a folder of
    /// this user's cache named by their versions).
    pub fn install_for_teams() -> Result<Toolchain> {
        wasm_bindgen_cli()?;
        let node_dir = std::env::var_os("TESSERA_NODE_TOOLS")
            .map(PathBuf::from)
            .unwrap_or_else(default_node_dir);
        let tools = Toolchain::with_node_dir(&node_dir);
        if !tools.wasm_opt.exists() || !tools.terser.exists() {
            npm_install(&node_dir)?;
        }
        Ok(tools)
    }
}

/// A binary `cargo install` put in `$CARGO_HOME/bin`.
pub fn cargo_bin(name: &str) -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"));
    home.join("bin").join(name)
}

/// Installs the wasm-bindgen CLI of [`WASM_BINDGEN_VERSION`] unless it is there.
pub fn wasm_bindgen_cli() -> Result<()> {
    let have = output(Command::new(cargo_bin("wasm-bindgen")).arg("--version"));
    if have.as_deref().map(str::trim) == Some(&format!("wasm-bindgen {WASM_BINDGEN_VERSION}")) {
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
    .context("installing the wasm-bindgen CLI")
}

fn default_node_dir() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let stamp: Vec<String> = NODE_TOOLS.iter().map(|(n, v)| format!("{n}-{v}")).collect();
    cache
        .join("tessera")
        .join(format!("node-tools-{}", stamp.join("-")))
}

fn npm_install(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let deps: Vec<String> = NODE_TOOLS
        .iter()
        .map(|(n, v)| format!("\"{n}\": \"{v}\""))
        .collect();
    let package = format!(
        "{{ \"private\": true, \"description\": \"Build tools of tessera-deploy\", \"devDependencies\": {{ {} }} }}\n",
        deps.join(", ")
    );
    std::fs::write(dir.join("package.json"), package)?;
    run(Command::new("npm")
        .args(["install", "--no-audit", "--no-fund"])
        .current_dir(dir))
    .with_context(|| {
        format!(
            "installing {} with npm into {}",
            deps.join(", "),
            dir.display()
        )
    })
}
