//! Builds the shell and each micro-app on its own: `cargo build` for wasm32 (one invocation per
//! app, so features never unify across apps and one app's bytes never depend on another's),
//! wasm-bindgen `--target web`, wasm-opt `-Oz`, terser on the JS glue, then packaging into `dist/<app>/<hash>/` with
//! the built `mfe.json`.

use crate::apps::{self, App};
use crate::run::{cargo, run};
use crate::tools;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn dist() -> PathBuf {
    crate::root().join("dist")
}

/// What one build produced: the packaged folder for `deployer publish`.
pub struct Built {
    pub label: String,
    pub dir: PathBuf,
}

/// Builds the named apps (`shell` or a `micro-apps/` folder name), or everything when none
/// are named. The shell comes first, as it must be published first.
pub fn build(selected: &[String]) -> Result<Vec<Built>> {
    let all = apps::all()?;
    for name in selected {
        if name != "shell" && !all.iter().any(|a| &a.crate_name == name) {
            let known: Vec<&str> = all.iter().map(|a| a.crate_name.as_str()).collect();
            bail!("no app {name:?}; apps are shell, {}", known.join(", "));
        }
    }
    let wanted = |n: &str| selected.is_empty() || selected.iter().any(|s| s == n);
    let mut built = Vec::new();
    if wanted("shell") {
        built.push(build_shell()?);
    }
    for app in all.iter().filter(|a| wanted(&a.crate_name)) {
        built.push(build_app(app, &dist())?);
    }
    Ok(built)
}

/// The service worker's crate and its module's name inside the shell bundle (`sw/<name>.js`).
const SERVICE_WORKER: (&str, &str) = ("service-worker", "tessera_sw");
/// The sign-in module's crate and its name inside the shell bundle (`auth/<name>.js`), which
/// the shell imports only when a user signs in, renews or signs out.
const SIGN_IN: (&str, &str) = ("shell-auth", "tessera_auth");

fn build_shell() -> Result<Built> {
    let root = crate::root();
    let files = compile("shell", "shell")?;
    // The worker ships inside the shell's bundle: one worker per shell release.
    for (folder, (crate_name, name)) in [("sw", SERVICE_WORKER), ("auth", SIGN_IN)] {
        let built = compile(crate_name, name)?;
        let dir = files.join(folder);
        std::fs::create_dir_all(&dir)?;
        for file in [format!("{name}.js"), format!("{name}_bg.wasm")] {
            std::fs::copy(built.join(&file), dir.join(&file))
                .with_context(|| format!("copying {crate_name}'s {file}"))?;
        }
    }
    let dir = package_shell(&files, &root.join("index.html"), &dist())?;
    report("shell", &dir);
    Ok(Built {
        label: "shell".into(),
        dir,
    })
}

/// Packages the shell built into `files` with the page template `template` into `out`.
pub fn package_shell(files: &Path, template: &Path, out: &Path) -> Result<PathBuf> {
    let root = crate::root();
    tessera_deployer::package_shell(
        files,
        &root.join("shell/shell.json"),
        template,
        &root.join("importmap.json"),
        out,
    )
    .context("packaging the shell")
}

/// Builds and packages one app into `out` (`dist/` for the ones that are published).
pub fn build_app(app: &App, out: &Path) -> Result<Built> {
    let files = compile(&app.crate_name, &app.out_name())?;
    let dir = tessera_deployer::package_app(&files, &app.mfe(), out)
        .with_context(|| format!("packaging {}", app.crate_name))?;
    report(&app.crate_name, &dir);
    Ok(Built {
        label: app.crate_name.clone(),
        dir,
    })
}

fn report(label: &str, dir: &Path) {
    println!("built {label} → {}", dir.display());
}

/// Compiles one crate to an optimised ES module; returns the folder holding its files.
fn compile(crate_name: &str, out_name: &str) -> Result<PathBuf> {
    let root = crate::root();
    run(cargo().args([
        "build",
        "--release",
        "--target",
        "wasm32-unknown-unknown",
        "--package",
        crate_name,
    ]))?;
    let wasm = root
        .join("target/wasm32-unknown-unknown/release")
        .join(format!("{}.wasm", crate_name.replace('-', "_")));
    let out = root.join("target/tessera-build").join(crate_name);
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("clearing {}", out.display()))?;
    }
    run(Command::new(tools::wasm_bindgen())
        .args([
            "--target",
            "web",
            "--no-typescript",
            "--out-name",
            out_name,
            "--out-dir",
        ])
        .arg(&out)
        .arg(&wasm))?;
    let bg = out.join(format!("{out_name}_bg.wasm"));
    run(Command::new(tools::wasm_opt())
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
    let glue = out.join(format!("{out_name}.js"));
    run(Command::new(tools::terser())
        .arg(&glue)
        .args(["--module", "--compress", "--mangle", "--output"])
        .arg(&glue))?;
    Ok(out)
}
