//! The micro-apps of the workspace: every `micro-apps/<dir>/` with an `mfe.json`.

use anyhow::{Context, Result};
use std::path::PathBuf;

pub struct App {
    /// Folder and crate name, e.g. `add-to-cart`.
    pub crate_name: String,
    pub dir: PathBuf,
}

pub fn all() -> Result<Vec<App>> {
    let base = crate::root().join("micro-apps");
    let mut apps = Vec::new();
    for entry in std::fs::read_dir(&base).with_context(|| format!("reading {}", base.display()))? {
        let dir = entry?.path();
        if dir.join("mfe.json").is_file() && dir.join("Cargo.toml").is_file() {
            let crate_name = dir
                .file_name()
                .and_then(|n| n.to_str())
                .context("app folder name is not UTF-8")?
                .to_string();
            apps.push(App { crate_name, dir });
        }
    }
    apps.sort_by(|a, b| a.crate_name.cmp(&b.crate_name));
    Ok(apps)
}
