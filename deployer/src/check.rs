//! `tessera-deploy check`: what a team runs on a built app before publishing it. Everything
//! `publish` would refuse (the manifest, the files against their integrity), and what only
//! shows in the shell later: the entry module's lifecycle exports, an app carrying the client
//! runtime, a bundle over its size budget (a warning, not a refusal).

use crate::publish::{app_problems, file_problems};
use anyhow::{Context, Result};
use flate2::{write::GzEncoder, Compression};
use std::io::Write;
use std::path::Path;
use tessera_contract::manifest::{self, AllowedOrigins, ManifestError, MfeManifest};

/// The per-app budget of issue 16: wasm + JS, gzip -9.
pub const DEFAULT_BUDGET_BYTES: u64 = 40 * 1024;

/// What an app's JS glue betrays the client runtime by, and what it stands for: the runtime
/// (outbox, IndexedDB stores, the BFF client, the live connection) lives once, in the shell,
/// and an app that links a copy shows it in its wasm-bindgen glue, which holds the JS side of
/// every browser API its wasm imports.
const RUNTIME_MARKS: [(&str, &str); 5] = [
    ("indexedDB", "IndexedDB"),
    ("IDBDatabase", "IndexedDB"),
    (".fetch(", "fetch"),
    ("WebSocket", "WebSocket"),
    ("BroadcastChannel", "BroadcastChannel"),
];

/// The lifecycle functions every app's entry module exports.
const LIFECYCLE: [&str; 4] = ["default", "bootstrap", "mount", "unmount"];

#[derive(Debug, Default)]
pub struct Checked {
    /// What publishing would refuse or the shell would fail on.
    pub problems: Vec<ManifestError>,
    /// What works but should not ship so (over budget).
    pub warnings: Vec<ManifestError>,
    /// wasm + JS of the bundle, gzip -9.
    pub gzip_bytes: u64,
}

impl Checked {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The runtime APIs `glue` reaches, each named once.
pub fn runtime_apis(glue: &str) -> Vec<&'static str> {
    let mut found: Vec<&'static str> = RUNTIME_MARKS
        .iter()
        .filter(|(mark, _)| glue.contains(mark))
        .map(|(_, api)| *api)
        .collect();
    found.dedup();
    found
}

/// Checks the packaged app in `dir` (`<dir>/mfe.json` beside `<dir>/<version>/`, as `tessera-deploy
/// build` and `cargo xtask build` write it) against a size budget in gzip bytes.
pub fn check_app(dir: &Path, budget_bytes: u64) -> Result<Checked> {
    let mut checked = Checked::default();
    let mfe = dir.join("mfe.json");
    let label = mfe.display().to_string();
    let text = std::fs::read_to_string(&mfe).with_context(|| {
        format!(
            "{} is not a packaged app: no mfe.json (build it first)",
            dir.display()
        )
    })?;
    let m = match manifest::parse(&label, &text) {
        Ok(m) => m,
        Err(e) => {
            checked.problems.push(e);
            return Ok(checked);
        }
    };
    // Origins are the site's to allow; the bundle's own files are what is checked here.
    checked.problems = app_problems(&m, &label, &AllowedOrigins::default());
    let Some(version) = m.version.clone() else {
        return Ok(checked);
    };
    let bundle = dir.join(&version);
    let shown = |rel: &str| bundle.join(rel).display().to_string();
    match file_problems(&bundle, &m.files) {
        Ok(found) => checked.problems.extend(
            found
                .into_iter()
                .map(|(rel, problem)| ManifestError::new(&shown(&rel), "", problem)),
        ),
        Err(e) => checked.problems.push(ManifestError::new(
            &bundle.display().to_string(),
            "",
            format!("the bundle folder cannot be read: {e:#}"),
        )),
    }
    check_entry(&m, &bundle, &label, &mut checked);
    let mut gzip_bytes = 0;
    for f in &m.files {
        let is_code = f.path.ends_with(".js") || f.path.ends_with(".wasm");
        let Ok(bytes) = std::fs::read(bundle.join(&f.path)) else {
            continue;
        };
        if is_code {
            gzip_bytes += gzip_len(&bytes)?;
        }
        if f.path.ends_with(".js") {
            let apis = runtime_apis(&String::from_utf8_lossy(&bytes));
            if !apis.is_empty() {
                checked.problems.push(ManifestError::new(
                    &shown(&f.path),
                    "",
                    format!(
                        "reaches {} (the client runtime belongs in the shell; call the host services instead)",
                        apis.join(", ")
                    ),
                ));
            }
        }
    }
    checked.gzip_bytes = gzip_bytes;
    if gzip_bytes > budget_bytes {
        checked.warnings.push(ManifestError::new(
            &bundle.display().to_string(),
            "",
            format!(
                "{gzip_bytes} B of wasm and JS (gzip -9), over the budget of {budget_bytes} B: every user pays for each byte"
            ),
        ));
    }
    Ok(checked)
}

/// The entry module (the import-map entry packaging wrote) exports the lifecycle, and its wasm,
/// when it has one beside it, exports the functions the glue wraps.
fn check_entry(m: &MfeManifest, bundle: &Path, label: &str, checked: &mut Checked) {
    let Some(entry) = m
        .import_map
        .as_ref()
        .and_then(|map| map.imports.get(&m.name))
        .and_then(|url| url.strip_prefix("./"))
    else {
        checked.problems.push(ManifestError::new(
            label,
            format!("importMap.imports[{:?}]", m.name),
            "names no entry module in the bundle (packaging writes `./<module>.js`)",
        ));
        return;
    };
    let path = bundle.join(entry);
    let shown = path.display().to_string();
    let Ok(glue) = std::fs::read_to_string(&path) else {
        return; // already named as missing
    };
    let exported = js_exports(&glue);
    let missing: Vec<&str> = LIFECYCLE
        .into_iter()
        .filter(|name| !exported.iter().any(|e| e == name))
        .collect();
    if !missing.is_empty() {
        checked.problems.push(ManifestError::new(
            &shown,
            "exports",
            format!(
                "no {} (the shell calls the lifecycle: the default init, bootstrap, mount, unmount)",
                missing.join(", ")
            ),
        ));
    }
    let wasm_path = bundle.join(format!("{}_bg.wasm", entry.trim_end_matches(".js")));
    let Ok(wasm) = std::fs::read(&wasm_path) else {
        return; // a plain-JS app
    };
    match wasm_exports(&wasm) {
        Ok(names) => {
            let missing: Vec<&str> = ["bootstrap", "mount", "unmount"]
                .into_iter()
                .filter(|n| !names.iter().any(|e| e == n))
                .collect();
            if !missing.is_empty() {
                checked.problems.push(ManifestError::new(
                    &wasm_path.display().to_string(),
                    "exports",
                    format!(
                        "no {} (an app's crate calls `tessera_sdk::micro_app!`)",
                        missing.join(", ")
                    ),
                ));
            }
            if m.abi >= 2 && !names.iter().any(|n| n == "abi") {
                checked.problems.push(ManifestError::new(
                    label,
                    "abi",
                    format!(
                        "is {} but {} exports no `abi` (built against an older SDK?)",
                        m.abi,
                        wasm_path.display()
                    ),
                ));
            }
        }
        Err(problem) => checked.problems.push(ManifestError::new(
            &wasm_path.display().to_string(),
            "",
            problem,
        )),
    }
}

/// The size of `bytes` after gzip -9, as budgets count it.
pub fn gzip_len(bytes: &[u8]) -> Result<u64> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::best());
    enc.write_all(bytes)?;
    Ok(enc.finish()?.len() as u64)
}

/// The names an ES module exports, read from its text: `export function f`, `export class C`,
/// `export default`, and `export { a as b, c }` lists (what wasm-bindgen and terser write).
pub fn js_exports(source: &str) -> Vec<String> {
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let mut names = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("export") {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + "export".len()..];
        rest = after;
        if before.is_some_and(|c| ident(c) || c == '.') || after.starts_with(ident) {
            continue;
        }
        let after = after.trim_start();
        let word = |s: &str| -> String { s.chars().take_while(|&c| ident(c)).collect() };
        if let Some(list) = after.strip_prefix('{') {
            let Some(end) = list.find('}') else { break };
            for item in list[..end].split(',') {
                let item = item.trim();
                let name = item.rsplit(" as ").next().unwrap_or(item).trim();
                if !name.is_empty() {
                    names.push(name.to_string());
                }
            }
        } else if after.starts_with("default") {
            names.push("default".into());
        } else {
            let decl = after.strip_prefix("async").map_or(after, str::trim_start);
            for keyword in ["function", "class", "const", "let", "var"] {
                if let Some(tail) = decl.strip_prefix(keyword) {
                    let tail = tail.trim_start_matches(['*', ' ']);
                    let name = word(tail);
                    if !name.is_empty() {
                        names.push(name);
                    }
                    break;
                }
            }
        }
    }
    names
}

/// The names a wasm module exports (its export section), or what is wrong with it.
pub fn wasm_exports(wasm: &[u8]) -> Result<Vec<String>, String> {
    fn leb(bytes: &[u8], at: &mut usize) -> Result<u32, String> {
        let (mut value, mut shift) = (0u32, 0);
        loop {
            let b = *bytes.get(*at).ok_or("ends inside a number")?;
            *at += 1;
            value |= u32::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
            if shift > 28 {
                return Err("holds a malformed number".into());
            }
        }
    }
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err("is not a WebAssembly module".into());
    }
    let mut at = 8;
    while at < wasm.len() {
        let id = wasm[at];
        at += 1;
        let size = leb(wasm, &mut at)? as usize;
        let end = at.checked_add(size).filter(|&e| e <= wasm.len());
        let end = end.ok_or("has a section that runs past its end")?;
        if id == 7 {
            let mut p = at;
            let count = leb(wasm, &mut p)?;
            let mut names = Vec::new();
            for _ in 0..count {
                let len = leb(wasm, &mut p)? as usize;
                let name = wasm
                    .get(p..p + len)
                    .ok_or("has an export name past its end")?;
                names.push(String::from_utf8_lossy(name).into_owned());
                p += len + 1; // the name, then the export's kind
                leb(wasm, &mut p)?; // its index
            }
            return Ok(names);
        }
        at = end;
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glue_that_reaches_storage_or_the_network_is_named() {
        let thin = "export function __wbg_dispatchEvent_1(a, b) { return a.dispatchEvent(b); }";
        assert!(runtime_apis(thin).is_empty());
        let fat = "imports.wbg.__wbg_indexedDB_2 = function(a) { return a.indexedDB; };\n\
                   imports.wbg.__wbg_open_3 = function(a) { return a.open(); };\n\
                   const r = arg0.fetch(arg1);";
        assert_eq!(runtime_apis(fat), ["IndexedDB", "fetch"]);
        assert_eq!(runtime_apis("new WebSocket(url)"), ["WebSocket"]);
    }

    #[test]
    fn exports_are_read_from_plain_and_minified_modules() {
        let plain = "export default async function init() {}\nexport function abi() { return 1; }\n\
                     export async function bootstrap() {}\nexport class Thing {}\nconst exports = 1;";
        assert_eq!(js_exports(plain), ["default", "abi", "bootstrap", "Thing"]);
        let minified =
            "x=O.exports,y=1;export function mount(e,n){}export{L as initSync,W as default};";
        assert_eq!(js_exports(minified), ["mount", "initSync", "default"]);
    }

    #[test]
    fn wasm_exports_are_read_from_the_export_section() {
        // A module with one type, one function and exports `mount` and `m` (a memory).
        let module: Vec<u8> = [
            &b"\0asm\x01\0\0\0"[..],
            &[1, 4, 1, 0x60, 0, 0], // type: () -> ()
            &[3, 2, 1, 0],          // function 0 of type 0
            &[5, 3, 1, 0, 1],       // memory, min 1 page
            &[
                7, 13, 2, 5, b'm', b'o', b'u', b'n', b't', 0, 0, 1, b'm', 2, 0,
            ][..],
            &[10, 4, 1, 2, 0, 0x0b], // body: end
        ]
        .concat();
        assert_eq!(wasm_exports(&module).unwrap(), ["mount", "m"]);
        assert!(wasm_exports(b"not wasm").is_err());
        assert!(wasm_exports(&module[..20]).is_err());
    }
}
