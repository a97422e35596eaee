//! Builds the shell and each micro-app on its own (one cargo invocation per app, so features
//! never unify across apps and one app's bytes never depend on another's) with the deployer's
//! build steps, which teams outside this workspace use too, then packages them into
//! `dist/<app>/<hash>/` with the built `mfe.json`.

use crate::apps::{self, App};
use crate::tools;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use tessera_deployer::build::{compile, Finish};

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

/// The service worker's crate folder and its module's name inside the shell bundle
/// (`sw/<name>.js`).
const SERVICE_WORKER: (&str, &str) = ("service-worker", "tessera_sw");
/// The sign-in module's crate folder and its name inside the shell bundle (`auth/<name>.js`),
/// which the shell imports only when a user signs in, renews or signs out.
const SIGN_IN: (&str, &str) = ("shell/auth", "tessera_auth");
/// The platform module's crate folder and its name inside the shell bundle
/// (`platform/<name>.js`, with its own `snippets/`), which the start module imports as it
/// begins.
const PLATFORM: (&str, &str) = ("shell/platform", "tessera_platform");

/// Where a crate's module is built before packaging (the shell's stays there: the e2e
/// fixtures package it again as a second release).
pub fn build_dir(label: &str) -> PathBuf {
    crate::root().join("target/tessera-build").join(label)
}

fn build_shell() -> Result<Built> {
    let root = crate::root();
    let tools = tools::toolchain();
    let files = build_dir("shell");
    compile(
        &root.join("shell"),
        "shell",
        &files,
        &tools,
        Finish::Release,
    )?;
    // The worker ships inside the shell's bundle: one worker per shell release.
    for (folder, (crate_dir, name)) in [
        ("sw", SERVICE_WORKER),
        ("auth", SIGN_IN),
        ("platform", PLATFORM),
    ] {
        let built = build_dir(name);
        compile(&root.join(crate_dir), name, &built, &tools, Finish::Release)?;
        let glue = std::fs::read_to_string(built.join(format!("{name}.js")))
            .with_context(|| format!("reading {crate_dir}'s JS glue"))?;
        let dir = files.join(folder);
        if folder == "platform" {
            // Its snippets beside its glue, where the glue imports them from.
            copy_tree(&built.join("snippets"), &dir.join("snippets"))?;
        } else if glue.contains("./snippets/") {
            bail!(
                "{crate_dir}'s JS glue imports wasm-bindgen snippets (`inline_js`), which are \
                 not copied into the shell's `{folder}/`: the module would not load. Call the \
                 browser through web-sys or js-sys there instead"
            );
        }
        std::fs::create_dir_all(&dir)?;
        for file in [format!("{name}.js"), format!("{name}_bg.wasm")] {
            std::fs::copy(built.join(&file), dir.join(&file))
                .with_context(|| format!("copying {crate_dir}'s {file}"))?;
        }
    }
    let dir = package_shell(&files, &root.join("index.html"), &dist())?;
    report("shell", &dir);
    Ok(Built {
        label: "shell".into(),
        dir,
    })
}

/// Copies the folder `from` into `to` (nothing when `from` does not exist).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    if !from.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let path = entry?.path();
        let target = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            copy_tree(&path, &target)?;
        } else {
            std::fs::copy(&path, &target).with_context(|| format!("copying {}", path.display()))?;
        }
    }
    Ok(())
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
    let dir =
        tessera_deployer::build::build_app(&app.dir, out, &tools::toolchain(), Finish::Release)?;
    report(&app.crate_name, &dir);
    Ok(Built {
        label: app.crate_name.clone(),
        dir,
    })
}

fn report(label: &str, dir: &Path) {
    println!("built {label} → {}", dir.display());
}
