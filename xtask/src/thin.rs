//! The rule that keeps micro-apps thin: the client runtime (outbox, IndexedDB stores, the BFF
//! client, the live connection) lives once, in the shell, and no app bundle may carry a copy.
//! An app that links it shows in its wasm-bindgen glue, which holds the JS side of every
//! browser API the wasm imports.

use anyhow::{bail, Context, Result};
use std::path::Path;

/// What in an app's JS glue betrays the client runtime, and what it stands for.
const RUNTIME_MARKS: [(&str, &str); 5] = [
    ("indexedDB", "IndexedDB"),
    ("IDBDatabase", "IndexedDB"),
    (".fetch(", "fetch"),
    ("WebSocket", "WebSocket"),
    ("BroadcastChannel", "BroadcastChannel"),
];

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

/// Fails naming every app bundle under `dirs` (label, folder) whose JS reaches a runtime API.
pub fn check_apps<'a>(dirs: impl IntoIterator<Item = (&'a str, &'a Path)>) -> Result<()> {
    let mut problems = Vec::new();
    for (label, dir) in dirs {
        for file in crate::bench::files(dir)? {
            if file.extension().and_then(|e| e.to_str()) != Some("js") {
                continue;
            }
            let glue = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let apis = runtime_apis(&glue);
            if !apis.is_empty() {
                problems.push(format!(
                    "{label}: {} reaches {} (the client runtime belongs in the shell; call the \
                     host services instead)",
                    file.display(),
                    apis.join(", ")
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "micro-apps carry the client runtime:\n{}",
            problems.join("\n")
        );
    }
    Ok(())
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
    fn a_fat_bundle_fails_the_check_and_a_thin_one_passes() {
        let dir = std::env::temp_dir().join(format!("tessera-thin-{}", std::process::id()));
        let (thin, fat) = (dir.join("thin"), dir.join("fat"));
        std::fs::create_dir_all(&thin).unwrap();
        std::fs::create_dir_all(&fat).unwrap();
        std::fs::write(thin.join("app.js"), "export default function init() {}").unwrap();
        std::fs::write(fat.join("app.js"), "x.indexedDB.open('tessera-outbox')").unwrap();
        check_apps([("thin", thin.as_path())]).unwrap();
        let err = check_apps([("thin", thin.as_path()), ("fat", fat.as_path())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("fat:") && err.contains("IndexedDB"), "{err}");
        assert!(!err.contains("thin:"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
