//! Building one wasm crate into the files of a bundle, the same way for this workspace's apps
//! (`cargo xtask build`) and for a team's app in a repository of its own (`tessera-deploy
//! build`): `cargo build` for wasm32 in the size-optimised profile, wasm-bindgen `--target web`,
//! wasm-opt `-Oz`, terser on the JS glue; then, for an app, packaging with its `mfe.json`.

use crate::process::{cargo, run};
use crate::toolchain::Toolchain;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The profile every browser bundle is built with, whatever the crate's own `Cargo.toml` says
/// (a profile there only counts in a workspace's root, which a team's crate may not be):
/// smallest code, one codegen unit across crates, no unwinding.
const RELEASE_PROFILE: [(&str, &str); 5] = [
    ("opt-level", "\"z\""),
    ("lto", "true"),
    ("codegen-units", "1"),
    ("panic", "\"abort\""),
    ("strip", "\"debuginfo\""),
];

/// What cargo says of the crate at a folder: its library's name and where it builds.
struct CrateInfo {
    lib_name: String,
    target_dir: PathBuf,
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<MetaPackage>,
    target_directory: PathBuf,
}

#[derive(Deserialize)]
struct MetaPackage {
    manifest_path: PathBuf,
    targets: Vec<MetaTarget>,
}

#[derive(Deserialize)]
struct MetaTarget {
    name: String,
    crate_types: Vec<String>,
}

fn crate_info(crate_dir: &Path) -> Result<CrateInfo> {
    let manifest = crate_dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!("{} has no Cargo.toml", crate_dir.display());
    }
    let out = cargo()
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .context("could not run `cargo metadata`")?;
    if !out.status.success() {
        bail!(
            "cargo metadata for {}: {}",
            manifest.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let meta: Metadata =
        serde_json::from_slice(&out.stdout).context("reading `cargo metadata`'s answer")?;
    let manifest = manifest.canonicalize()?;
    let package = meta
        .packages
        .iter()
        .find(|p| p.manifest_path.canonicalize().ok().as_ref() == Some(&manifest))
        .with_context(|| format!("cargo metadata does not list {}", manifest.display()))?;
    let lib = package
        .targets
        .iter()
        .find(|t| t.crate_types.iter().any(|c| c == "cdylib"))
        .with_context(|| {
            format!(
                "{}: a micro-app is a library with `crate-type = [\"cdylib\", \"rlib\"]` under [lib]",
                manifest.display()
            )
        })?;
    Ok(CrateInfo {
        lib_name: lib.name.replace('-', "_"),
        target_dir: meta.target_directory,
    })
}

/// Where cargo builds the crate in `crate_dir` (its workspace's `target/`, or `CARGO_TARGET_DIR`).
pub fn target_dir(crate_dir: &Path) -> Result<PathBuf> {
    Ok(crate_info(crate_dir)?.target_dir)
}

/// How far a build goes after wasm-bindgen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// wasm-opt `-Oz` and minified glue: what is published.
    Release,
    /// Straight from wasm-bindgen, for `tessera-deploy dev`: wasm-opt is most of a rebuild's
    /// time (4.4 of 6 s for the scaffolded app), and a local override need not be small.
    Quick,
}

/// Compiles the crate in `crate_dir` to an ES module named `out_name` (`out_name.js`,
/// `out_name_bg.wasm`, `snippets/`) in `out`, which is emptied first.
pub fn compile(
    crate_dir: &Path,
    out_name: &str,
    out: &Path,
    tools: &Toolchain,
    finish: Finish,
) -> Result<()> {
    compile_crate(
        crate_dir,
        &crate_info(crate_dir)?,
        out_name,
        out,
        tools,
        finish,
    )
}

fn compile_crate(
    crate_dir: &Path,
    info: &CrateInfo,
    out_name: &str,
    out: &Path,
    tools: &Toolchain,
    finish: Finish,
) -> Result<()> {
    let mut build = cargo();
    build
        .args(["build", "--release", "--target", "wasm32-unknown-unknown"])
        .arg("--manifest-path")
        .arg(crate_dir.join("Cargo.toml"));
    for (key, value) in RELEASE_PROFILE {
        build.args(["--config", &format!("profile.release.{key}={value}")]);
    }
    run(&mut build)?;
    let wasm = info
        .target_dir
        .join("wasm32-unknown-unknown/release")
        .join(format!("{}.wasm", info.lib_name));
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("clearing {}", out.display()))?;
    }
    run(Command::new(&tools.wasm_bindgen)
        .args([
            "--target",
            "web",
            "--no-typescript",
            "--out-name",
            out_name,
            "--out-dir",
        ])
        .arg(out)
        .arg(&wasm))?;
    if finish == Finish::Quick {
        return Ok(());
    }
    let bg = out.join(format!("{out_name}_bg.wasm"));
    run(Command::new(&tools.wasm_opt)
        .arg("-Oz")
        // The features rustc's wasm32 target enables by default.
        .args([
            "--enable-bulk-memory",
            "--enable-sign-ext",
            "--enable-mutable-globals",
            "--enable-nontrapping-float-to-int",
            "--enable-reference-types",
            "--enable-multivalue",
        ])
        // Custom sections no browser reads (the toolchain's names and the target's features).
        .args(["--strip-producers", "--strip-target-features"])
        .arg(&bg)
        .arg("-o")
        .arg(&bg))?;
    // The glue as wasm-bindgen writes it is readable source: minified, 2 KB gzip less per
    // bundle. Export and import names are kept (the shell calls `mount`, the wasm imports
    // `__wbg_*` by name), as terser leaves properties and module exports alone.
    // Likewise the JS snippets beside it (`inline_js`), which wasm-bindgen copies as written.
    let mut files = vec![out.join(format!("{out_name}.js"))];
    files.extend(snippets(&out.join("snippets"))?);
    for file in files {
        run(Command::new(&tools.terser)
            .arg(&file)
            .args(["--module", "--compress", "--mangle", "--output"])
            .arg(&file))?;
    }
    Ok(())
}

/// Every `.js` file under `dir` (none if it does not exist).
fn snippets(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    if !dir.exists() {
        return Ok(found);
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(snippets(&path)?);
        } else if path.extension().is_some_and(|e| e == "js") {
            found.push(path);
        }
    }
    Ok(found)
}

/// The module name of an app: the last part of its manifest name, as a file stem
/// (`@tessera/add-to-cart` → `add_to_cart`), which packaging looks for.
fn module_name(mfe: &Path) -> Result<String> {
    let label = mfe.display().to_string();
    let text = std::fs::read_to_string(mfe).with_context(|| format!("reading {label}"))?;
    let m = tessera_contract::manifest::parse(&label, &text)?;
    Ok(m.name
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .replace('-', "_"))
}

/// Builds the app crate in `app_dir` (with its `mfe.json`) and packages it into
/// `<out_root>/<name>/`; returns that folder.
pub fn build_app(
    app_dir: &Path,
    out_root: &Path,
    tools: &Toolchain,
    finish: Finish,
) -> Result<PathBuf> {
    let mfe = app_dir.join("mfe.json");
    let name = module_name(&mfe)?;
    let info = crate_info(app_dir)?;
    let files = info.target_dir.join("tessera-build").join(&name);
    compile_crate(app_dir, &info, &name, &files, tools, finish)?;
    crate::package_app(&files, &mfe, out_root)
        .with_context(|| format!("packaging {}", app_dir.display()))
}
