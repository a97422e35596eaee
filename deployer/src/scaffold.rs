//! `tessera-deploy new`: a new micro-app folder, anywhere, that builds and publishes as it is:
//! `Cargo.toml` (a workspace of its own, depending on the app SDK by path or git), `mfe.json`,
//! a small view that uses a query, a command and a live event, and a browser test.

use crate::toolchain::WASM_BINDGEN_VERSION;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use tessera_contract::manifest;

/// The files of a new app: (path in the app's folder, template).
const TEMPLATES: [(&str, &str); 4] = [
    ("Cargo.toml", include_str!("../scaffold/Cargo.toml.in")),
    ("mfe.json", include_str!("../scaffold/mfe.json.in")),
    ("src/lib.rs", include_str!("../scaffold/src/lib.rs.in")),
    (
        "tests/browser.rs",
        include_str!("../scaffold/tests/browser.rs.in"),
    ),
];

/// Where the new app takes the app SDK from.
#[derive(Clone, Debug)]
pub enum SdkSource {
    Path(PathBuf),
    Git { url: String, rev: Option<String> },
}

impl SdkSource {
    /// The SDK of the source tree this tool was built from, when that is still there (as it is
    /// after `cargo install --path deployer`).
    pub fn beside_this_tool() -> Option<SdkSource> {
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/sdk");
        sdk.join("Cargo.toml")
            .is_file()
            .then(|| sdk.canonicalize().ok().map(SdkSource::Path))
            .flatten()
    }

    /// The dependency's value in `Cargo.toml`.
    fn toml(&self) -> String {
        match self {
            SdkSource::Path(p) => format!("{{ path = {} }}", toml_string(&p.to_string_lossy())),
            SdkSource::Git { url, rev } => {
                let rev = rev
                    .as_ref()
                    .map(|r| format!(", rev = {}", toml_string(r)))
                    .unwrap_or_default();
                format!("{{ git = {}{rev} }}", toml_string(url))
            }
        }
    }
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// What the new app is called and where it shows.
#[derive(Clone, Debug)]
pub struct NewApp {
    /// Its manifest name, `@scope/name`.
    pub name: String,
    /// The route it owns, e.g. `/orders`.
    pub route: String,
    /// Its menu label and heading.
    pub label: String,
    pub sdk: SdkSource,
}

impl NewApp {
    /// An app for folder `dir` with the defaults: `@team/<folder>` at `/<folder>`.
    pub fn for_folder(dir: &Path, sdk: SdkSource) -> Result<NewApp> {
        let short = dir
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{}: the folder needs a UTF-8 name", dir.display()))?;
        Ok(NewApp {
            name: format!("@team/{short}"),
            route: format!("/{short}"),
            label: label_of(short),
            sdk,
        })
    }
}

/// `order-history` → `Order history`.
pub fn label_of(short: &str) -> String {
    let words = short.replace(['-', '_'], " ");
    let mut chars = words.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Writes the new app into `dir` (absent or empty); returns the files written.
pub fn new_app(dir: &Path, app: &NewApp) -> Result<Vec<PathBuf>> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty: a new app goes into a new folder, nothing was written",
            dir.display()
        );
    }
    let short = app.name.rsplit('/').next().unwrap_or_default();
    let vars = [
        ("{{crate}}", short.to_string()),
        ("{{crate_ident}}", short.replace('-', "_")),
        ("{{name}}", app.name.clone()),
        ("{{route}}", app.route.clone()),
        ("{{label}}", app.label.clone()),
        ("{{menu_key}}", short.to_string()),
        ("{{sdk}}", app.sdk.toml()),
        ("{{wasm_bindgen}}", WASM_BINDGEN_VERSION.to_string()),
    ];
    let render = |template: &str| {
        vars.iter()
            .fold(template.to_string(), |text, (key, value)| {
                text.replace(key, value)
            })
    };
    if app.label.contains(['"', '\\', '<', '>']) {
        bail!(
            "label {:?}: quotes, backslashes and angle brackets are not allowed; nothing was written",
            app.label
        );
    }
    // The manifest first: a name or route the contract refuses writes nothing.
    let mfe = render(TEMPLATES[1].1);
    let label = dir.join("mfe.json").display().to_string();
    let parsed = manifest::parse(&label, &mfe)?;
    let errs = parsed.validate_source(&label);
    if !errs.is_empty() {
        let lines: Vec<String> = errs.iter().map(|e| format!("  {e}")).collect();
        bail!(
            "the app cannot be created, nothing was written:\n{}",
            lines.join("\n")
        );
    }
    let mut written = Vec::new();
    for (rel, template) in TEMPLATES {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("a file has a parent"))
            .with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(&path, render(template))
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace_file(rel: &str) -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)).unwrap()
    }

    #[test]
    fn pinned_versions_are_the_workspace_s() {
        let cargo = workspace_file("Cargo.toml");
        assert!(
            cargo.contains(&format!("wasm-bindgen = \"={WASM_BINDGEN_VERSION}\"")),
            "the workspace pins another wasm-bindgen than the scaffold and the build"
        );
        let npm = workspace_file("tests/package.json");
        for (name, version) in crate::toolchain::NODE_TOOLS {
            assert!(
                npm.contains(&format!("\"{name}\": \"{version}\"")),
                "tests/package.json pins another {name} than tessera-deploy build"
            );
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tessera-new-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_new_app_has_its_files_with_every_placeholder_filled() {
        let dir = temp("orders");
        let app = NewApp {
            name: "@acme/order-history".into(),
            route: "/history".into(),
            label: "Order history".into(),
            sdk: SdkSource::Git {
                url: "https://git.example.com/tessera.git".into(),
                rev: Some("abc123".into()),
            },
        };
        let files = new_app(&dir, &app).unwrap();
        assert_eq!(files.len(), 4);
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            assert!(!text.contains("{{"), "{} keeps a placeholder", f.display());
        }
        let cargo = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(cargo.contains("name = \"order-history\""), "{cargo}");
        assert!(
            cargo.contains(
                "tessera-sdk = { git = \"https://git.example.com/tessera.git\", rev = \"abc123\" }"
            ),
            "{cargo}"
        );
        let test = std::fs::read_to_string(dir.join("tests/browser.rs")).unwrap();
        assert!(test.contains("order_history::mount("), "{test}");
        let m = manifest::parse(
            "mfe.json",
            &std::fs::read_to_string(dir.join("mfe.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(m.name, "@acme/order-history");
        let err = new_app(&dir, &app).unwrap_err().to_string();
        assert!(err.contains("is not empty"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bad_name_or_route_is_refused_before_anything_is_written() {
        let dir = temp("bad");
        let mut app = NewApp::for_folder(&dir, SdkSource::Path("/sdk".into())).unwrap();
        app.name = "no-scope".into();
        let err = new_app(&dir, &app).unwrap_err().to_string();
        assert!(err.contains("field `name`"), "{err}");
        assert!(!dir.exists());
        app.name = "@team/bad".into();
        app.route = "no-slash".into();
        let err = new_app(&dir, &app).unwrap_err().to_string();
        assert!(err.contains("route"), "{err}");
        assert!(!dir.exists());
    }

    #[test]
    fn defaults_come_from_the_folder_name() {
        let app = NewApp::for_folder(Path::new("/x/order-history"), SdkSource::Path("/s".into()))
            .unwrap();
        assert_eq!(
            (app.name.as_str(), app.route.as_str(), app.label.as_str()),
            ("@team/order-history", "/order-history", "Order history")
        );
        assert_eq!(
            SdkSource::Path("/a \"b\"".into()).toml(),
            r#"{ path = "/a \"b\"" }"#
        );
    }
}
