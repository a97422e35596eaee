//! Packaging: a folder of build output plus the team's `mfe.json` becomes
//! `<out>/<name>/<version>/…` and `<out>/<name>/mfe.json`, where the version is a hash of the
//! content. Identical inputs give byte-identical output.

use anyhow::{bail, Context, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha384};
use std::path::{Path, PathBuf};
use tessera_shared::manifest::{self, BundleFile, ImportMapFragment, ManifestError};
use tessera_shared::publish::{ImportMap, ShellLayout};

pub const SHELL_NAME: &str = "@tessera/shell";
const SHELL_ENTRY: &str = "shell.js";
const SHELL_WASM: &str = "shell_bg.wasm";

/// What a packaged shell declares: its layout, the base import map and its files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShellManifest {
    pub schema: u32,
    pub name: String,
    pub version: String,
    pub layout: ShellLayout,
    pub base_import_map: ImportMap,
    pub files: Vec<BundleFile>,
}

/// Subresource integrity of some bytes.
pub fn sri(bytes: &[u8]) -> String {
    format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha384::digest(bytes))
    )
}

/// Every file under `dir`, as sorted `/`-separated relative paths.
pub fn list_files(dir: &Path) -> Result<Vec<String>> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                walk(base, &path, out)?;
            } else {
                let rel = path.strip_prefix(base)?.components();
                let parts: Vec<String> = rel
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

struct Bundle {
    files: Vec<(String, Vec<u8>)>,
}

impl Bundle {
    fn read(dir: &Path) -> Result<Bundle> {
        let files = list_files(dir)?
            .into_iter()
            .map(|rel| {
                let bytes =
                    std::fs::read(dir.join(&rel)).with_context(|| format!("reading {rel}"))?;
                Ok((rel, bytes))
            })
            .collect::<Result<Vec<_>>>()?;
        if files.is_empty() {
            bail!("{} holds no files to package", dir.display());
        }
        Ok(Bundle { files })
    }

    /// 16 hex digits of SHA-256 over every file (path and bytes) and the extra inputs.
    fn version(&self, extra: &[&[u8]]) -> String {
        let mut h = Sha256::new();
        for (rel, bytes) in &self.files {
            h.update((rel.len() as u64).to_le_bytes());
            h.update(rel.as_bytes());
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
        for e in extra {
            h.update((e.len() as u64).to_le_bytes());
            h.update(e);
        }
        h.finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn entries(&self) -> Vec<BundleFile> {
        self.files
            .iter()
            .map(|(rel, bytes)| BundleFile {
                path: rel.clone(),
                integrity: sri(bytes),
                size: bytes.len() as u64,
            })
            .collect()
    }

    fn has(&self, rel: &str) -> bool {
        self.files.iter().any(|(r, _)| r == rel)
    }

    /// Writes `<app_dir>/<version>/…`, replacing whatever an earlier build left in `app_dir`.
    fn write(&self, app_dir: &Path, version: &str) -> Result<()> {
        if app_dir.exists() {
            std::fs::remove_dir_all(app_dir)
                .with_context(|| format!("clearing {}", app_dir.display()))?;
        }
        for (rel, bytes) in &self.files {
            let path = app_dir.join(version).join(rel);
            std::fs::create_dir_all(path.parent().expect("a file has a parent"))?;
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }
}

fn problems(errs: &[ManifestError]) -> String {
    errs.iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Packages one micro-app build (`files_dir`) with its source `mfe.json`; returns
/// `<out_root>/<name>`.
pub fn package_app(files_dir: &Path, source_mfe: &Path, out_root: &Path) -> Result<PathBuf> {
    let label = source_mfe.display().to_string();
    let text = std::fs::read_to_string(source_mfe).with_context(|| format!("reading {label}"))?;
    let mut m = manifest::parse(&label, &text)?;
    let errs = m.validate_source(&label);
    if !errs.is_empty() {
        bail!("{}", problems(&errs));
    }
    let bundle = Bundle::read(files_dir)?;
    let short = m.name.rsplit('/').next().unwrap_or_default();
    let candidates = [
        format!("{short}.js"),
        format!("{}.js", short.replace('-', "_")),
    ];
    let entry = candidates.iter().find(|c| bundle.has(c)).with_context(|| {
        format!(
            "{} has no entry module (looked for {})",
            files_dir.display(),
            candidates.join(" or ")
        )
    })?;
    let version = bundle.version(&[text.as_bytes()]);
    let files = bundle.entries();
    let entry_sri = files
        .iter()
        .find(|f| &f.path == entry)
        .map(|f| f.integrity.clone())
        .unwrap_or_default();
    let entry_url = format!("./{entry}");
    m.import_map = Some(ImportMapFragment {
        imports: [(m.name.clone(), entry_url.clone())].into(),
        integrity: [(entry_url, entry_sri)].into(),
    });
    m.version = Some(version.clone());
    m.files = files;
    let app_dir = out_root.join(&m.name);
    bundle.write(&app_dir, &version)?;
    write_json(&app_dir.join("mfe.json"), &m)?;
    Ok(app_dir)
}

/// Replaces the template's `<link data-trunk rel="rust" …>` with the hashed shell bundle.
fn render_index(template: &str, base: &str, entry_sri: &str, snippets: &[&str]) -> Result<String> {
    let start = template
        .find("<link data-trunk rel=\"rust\"")
        .context("index.html has no <link data-trunk rel=\"rust\" …> where the shell goes")?;
    let end = start
        + template[start..]
            .find('>')
            .context("index.html: unterminated <link data-trunk …>")?
        + 1;
    // The snippets are only discovered once the entry is parsed: name them now so they load
    // alongside it.
    let snippet_tags: String = snippets
        .iter()
        .map(|s| format!("<link rel=\"modulepreload\" href=\"{base}{s}\">"))
        .collect();
    let tags = format!(
        "<link rel=\"modulepreload\" href=\"{base}{SHELL_ENTRY}\" integrity=\"{entry_sri}\" crossorigin=\"anonymous\">{snippet_tags}\
         <link rel=\"preload\" href=\"{base}{SHELL_WASM}\" as=\"fetch\" type=\"application/wasm\" crossorigin=\"anonymous\">\
         <script type=\"module\">import init from \"{base}{SHELL_ENTRY}\"; init({{ module_or_path: \"{base}{SHELL_WASM}\" }});</script>"
    );
    Ok(format!("{}{tags}{}", &template[..start], &template[end..]))
}

/// Packages the shell build with its layout, base import map and page template; returns
/// `<out_root>/@tessera/shell` holding `<version>/…`, `shell.json` and `index.html`.
pub fn package_shell(
    files_dir: &Path,
    layout_json: &Path,
    index_template: &Path,
    base_import_map: &Path,
    out_root: &Path,
) -> Result<PathBuf> {
    let read =
        |p: &Path| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()));
    let (layout_text, base_text, template) = (
        read(layout_json)?,
        read(base_import_map)?,
        read(index_template)?,
    );
    let layout: ShellLayout = parse_json(layout_json, &layout_text)?;
    let base: ImportMap = parse_json(base_import_map, &base_text)?;
    let bundle = Bundle::read(files_dir)?;
    for required in [SHELL_ENTRY, SHELL_WASM] {
        if !bundle.has(required) {
            bail!("{} has no {required}", files_dir.display());
        }
    }
    let version = bundle.version(&[
        layout_text.as_bytes(),
        base_text.as_bytes(),
        template.as_bytes(),
    ]);
    let files = bundle.entries();
    let entry_sri = files
        .iter()
        .find(|f| f.path == SHELL_ENTRY)
        .map(|f| f.integrity.clone())
        .unwrap_or_default();
    let url_base = format!(
        "/{}",
        tessera_shared::publish::bundle_dir(SHELL_NAME, &version)
    );
    let snippets: Vec<&str> = files
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| p.ends_with(".js") && *p != SHELL_ENTRY)
        .collect();
    let index = render_index(&template, &url_base, &entry_sri, &snippets)?;
    let dir = out_root.join(SHELL_NAME);
    bundle.write(&dir, &version)?;
    write_json(
        &dir.join("shell.json"),
        &ShellManifest {
            schema: 1,
            name: SHELL_NAME.into(),
            version,
            layout,
            base_import_map: base,
            files,
        },
    )?;
    std::fs::write(dir.join("index.html"), index)?;
    Ok(dir)
}

/// Parses JSON naming the file and the path of the offending field.
pub fn parse_json<T: serde::de::DeserializeOwned>(file: &Path, text: &str) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        anyhow::anyhow!("{}: field `{field}`: {}", file.display(), e.into_inner())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_rendering_replaces_the_trunk_link() {
        let t = "<head>\n  <link data-trunk rel=\"rust\" href=\"shell/Cargo.toml\" />\n</head>";
        let out = render_index(
            t,
            "/@tessera/shell/abc/",
            "sha384-x",
            &["snippets/s/inline0.js"],
        )
        .unwrap();
        assert!(out.contains(
            "<link rel=\"modulepreload\" href=\"/@tessera/shell/abc/snippets/s/inline0.js\">"
        ));
        assert!(!out.contains("data-trunk"));
        assert!(out.contains("import init from \"/@tessera/shell/abc/shell.js\""));
        assert!(out.contains("integrity=\"sha384-x\""));
        assert!(out.starts_with("<head>\n  <link rel=\"modulepreload\""));
        assert!(out.ends_with("</script>\n</head>"));
        assert!(render_index("<head></head>", "/", "x", &[]).is_err());
    }

    #[test]
    fn sri_is_sha384_base64() {
        // echo -n abc | openssl dgst -sha384 -binary | base64
        assert_eq!(
            sri(b"abc"),
            "sha384-ywB1P0WjXou1oD1pmsZQBycsMqsO3tFjGotgWkP/W+2AhgcroefMI1i67KE0yCWn"
        );
    }
}
