//! Packaging: a folder of build output plus the team's `mfe.json` becomes
//! `<out>/<name>/<version>/…` and `<out>/<name>/mfe.json`, where the version is a hash of the
//! content. Identical inputs give byte-identical output.

use anyhow::{bail, Context, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha384};
use std::path::{Path, PathBuf};
use tessera_contract::manifest::{self, BundleFile, ImportMapFragment, ManifestError};
use tessera_contract::published::{ImportMap, ShellLayout};

use crate::icons::ICONS;

pub const SHELL_NAME: &str = "@tessera/shell";
const SHELL_ENTRY: &str = "shell.js";
const SHELL_WASM: &str = "shell_bg.wasm";
/// The service worker's wasm-bindgen module and wasm, built into the shell's bundle: one
/// worker per shell release.
pub const SW_GLUE: &str = "sw/tessera_sw.js";
pub const SW_WASM: &str = "sw/tessera_sw_bg.wasm";
/// Files the shell's package renders for the site root; `publish` copies the current shell's
/// to the root of the store.
pub const SHELL_ROOT_FILES: [&str; 3] = ["manifest.webmanifest", "sw.js", "index.html"];
/// Stands in `sw.js` for the published set's stamp until a publish writes the file to the site
/// root: browsers look for a new worker only when the script's bytes change, and a publish of
/// one micro-app must reach them as surely as a new shell does.
pub const SW_STAMP_PLACEHOLDER: &str = "@@tessera-published-stamp@@";
const THEME_COLOUR: &str = "#0f766e";

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

    /// Adds a file generated at packaging time (it counts in the version like any other).
    fn add(&mut self, rel: &str, bytes: Vec<u8>) {
        self.files.retain(|(r, _)| r != rel);
        self.files.push((rel.to_string(), bytes));
        self.files.sort_by(|a, b| a.0.cmp(&b.0));
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

/// `sw.js`, the service worker the browser registers at the site root (it must be there to
/// control every path). A module worker must register its listeners synchronously and may not
/// use dynamic `import()`, so this shim imports the shell release's hashed worker module
/// statically, starts its wasm from the precache when it is there (so the worker also starts
/// cold while offline), and hands every event to Rust.
fn render_worker(base: &str, version: &str, shell_files: &[BundleFile]) -> Result<String> {
    let urls: Vec<String> = shell_files
        .iter()
        .map(|f| format!("{base}{}", f.path))
        .collect();
    let urls = serde_json::to_string(&urls)?;
    Ok(format!(
        r#"// Tessera's service worker for shell {version}, rendered by tessera-deploy. The logic is
// Rust ({base}{SW_WASM}); this module only wires the browser's events to it.
import init, * as rust from "{base}{SW_GLUE}";

const WASM = "{base}{SW_WASM}";
const ready = caches
  .match(WASM, {{ ignoreVary: true }})
  .then((cached) => init({{ module_or_path: cached ?? WASM }}))
  .then(() => rust.configure("{version}", "{SW_STAMP_PLACEHOLDER}", {urls}));
let started = false;
ready.then(() => {{ started = true; }}, (e) => console.error("tessera service worker did not start", e));

// No skipWaiting here: a new worker waits until the pages it would take over are gone or the
// user accepts the update (the shell then asks for it with a message).
self.addEventListener("install", (event) => event.waitUntil(ready.then(() => rust.on_install())));
self.addEventListener("activate", (event) => event.waitUntil(ready.then(() => rust.on_activate())));
self.addEventListener("fetch", (event) => {{
  if (started) {{
    const answer = rust.on_fetch(event);
    if (answer) event.respondWith(answer);
    return;
  }}
  // Still starting (a cold start): wait for Rust; when it passes, go to the network as usual.
  const pass = () => fetch(event.request);
  event.respondWith(ready.then(() => rust.on_fetch(event) ?? pass(), pass));
}});
self.addEventListener("message", (event) =>
  event.waitUntil(ready.then(() => rust.on_message(event.data, event.ports))));
self.addEventListener("sync", (event) => event.waitUntil(ready.then(() => rust.on_sync(event.tag))));
self.addEventListener("push", (event) => event.waitUntil(ready.then(() => rust.on_push(event))));
self.addEventListener("notificationclick", (event) =>
  event.waitUntil(ready.then(() => rust.on_notification_click(event))));
"#
    ))
}

/// The web app manifest: what makes the site installable.
fn render_web_manifest(base: &str) -> Result<String> {
    let icons: Vec<serde_json::Value> = ICONS
        .iter()
        .map(|i| {
            serde_json::json!({
                "src": format!("{base}{}", i.path),
                "sizes": format!("{0}x{0}", i.size),
                "type": "image/png",
                "purpose": i.purpose,
            })
        })
        .collect();
    let manifest = serde_json::json!({
        "name": "Tessera Eats",
        "short_name": "Tessera",
        "id": "/",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "theme_color": THEME_COLOUR,
        "background_color": THEME_COLOUR,
        "icons": icons,
    });
    let mut text = serde_json::to_string_pretty(&manifest)?;
    text.push('\n');
    Ok(text)
}

/// Packages the shell build (with the service worker's files under `sw/`) with its layout,
/// base import map and page template; adds the icons; returns `<out_root>/@tessera/shell`
/// holding `<version>/…`, `shell.json`, `index.html`, `sw.js` and `manifest.webmanifest`.
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
    let mut bundle = Bundle::read(files_dir)?;
    for icon in &ICONS {
        bundle.add(icon.path, icon.png());
    }
    for required in [SHELL_ENTRY, SHELL_WASM, SW_GLUE, SW_WASM] {
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
    let url_base = format!("/{}", crate::merge::bundle_dir(SHELL_NAME, &version));
    // What the entry imports statically; never the sign-in module (imported only to sign in),
    // the platform module (after the first page, on a first visit) or the worker's (the page
    // never imports it): preloaded, the page would fetch and compile them while it starts.
    let snippets: Vec<&str> = files
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| p.starts_with("snippets/") && p.ends_with(".js"))
        .collect();
    let index = render_index(&template, &url_base, &entry_sri, &snippets)?;
    let worker = render_worker(&url_base, &version, &files)?;
    let web_manifest = render_web_manifest(&url_base)?;
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
    for (name, text) in SHELL_ROOT_FILES.iter().zip([web_manifest, worker, index]) {
        std::fs::write(dir.join(name), text)?;
    }
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
    fn the_page_preloads_the_start_path_only() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        let put = |rel: &str, text: &str| {
            let path = src.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        for js in [
            "files/shell.js",
            "files/snippets/shell-1/inline0.js",
            "files/auth/tessera_auth.js",
            "files/sw/tessera_sw.js",
        ] {
            put(js, "export default async function init() {}\n");
        }
        for wasm in [
            "files/shell_bg.wasm",
            "files/auth/tessera_auth_bg.wasm",
            "files/sw/tessera_sw_bg.wasm",
        ] {
            put(wasm, "\0asm-stand-in");
        }
        put(
            "shell.json",
            r#"{"schema":1,"mountPoints":["nav","main"],"defaultRoute":"/a","notFoundMountPoint":"main"}"#,
        );
        put(
            "index.html",
            "<head><link data-trunk rel=\"rust\" href=\"shell/Cargo.toml\"></head>",
        );
        put("importmap.json", r#"{"imports":{}}"#);
        let out = tmp.path().join("dist");
        let dir = package_shell(
            &src.join("files"),
            &src.join("shell.json"),
            &src.join("index.html"),
            &src.join("importmap.json"),
            &out,
        )
        .unwrap();
        let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
        let preloaded: Vec<&str> = index
            .split("<link rel=\"modulepreload\" href=\"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap())
            .collect();
        assert_eq!(preloaded.len(), 2, "{index}");
        assert!(preloaded[0].ends_with("/shell.js"), "{index}");
        assert!(
            preloaded[1].ends_with("/snippets/shell-1/inline0.js"),
            "{index}"
        );
    }

    #[test]
    fn the_worker_imports_its_module_statically_and_registers_listeners_at_top_level() {
        let files = [BundleFile {
            path: "shell.js".into(),
            integrity: "sha384-x".into(),
            size: 1,
        }];
        let sw = render_worker("/@tessera/shell/abc/", "abc", &files).unwrap();
        assert!(
            sw.contains("import init, * as rust from \"/@tessera/shell/abc/sw/tessera_sw.js\";")
        );
        assert!(
            !sw.contains("import("),
            "no dynamic import in a service worker"
        );
        assert!(sw.contains(&format!(
            "rust.configure(\"abc\", \"{SW_STAMP_PLACEHOLDER}\", [\"/@tessera/shell/abc/shell.js\"])"
        )));
        for event in [
            "install",
            "activate",
            "fetch",
            "message",
            "sync",
            "push",
            "notificationclick",
        ] {
            assert!(
                sw.contains(&format!("\nself.addEventListener(\"{event}\"")),
                "{event} listener at top level"
            );
        }
    }

    #[test]
    fn the_web_manifest_is_installable() {
        let m: serde_json::Value =
            serde_json::from_str(&render_web_manifest("/@tessera/shell/abc/").unwrap()).unwrap();
        assert_eq!(m["name"], "Tessera Eats");
        assert_eq!(m["start_url"], "/");
        assert_eq!(m["display"], "standalone");
        let sizes: Vec<(&str, &str)> = m["icons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["sizes"].as_str().unwrap(), i["purpose"].as_str().unwrap()))
            .collect();
        assert_eq!(
            sizes,
            [
                ("192x192", "any"),
                ("512x512", "any"),
                ("512x512", "maskable")
            ]
        );
        assert_eq!(
            m["icons"][0]["src"],
            "/@tessera/shell/abc/icons/icon-192.png"
        );
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
