//! Packaged builds made on the fly: a shell with stand-in files and small apps with a JS entry.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod s3server;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tessera_deployer::publish::{self, PublishOptions, Report};
use tessera_deployer::store::LocalStore;

pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub store: LocalStore,
}

impl Fixture {
    /// A store with a shell (mount points `nav` and `main`) already published.
    pub async fn with_shell() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let store = LocalStore::open(&tmp.path().join("store")).unwrap();
        let f = Fixture { tmp, store };
        let dir = shell_build(f.tmp.path());
        f.publish(&dir).await.unwrap();
        f
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        let d = self.tmp.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Packages an app `@test/<short>` from a source `mfe.json` and an entry whose text is `body`.
    pub fn app(&self, short: &str, mfe: &str, body: &str) -> PathBuf {
        app_build(self.tmp.path(), short, mfe, body)
    }

    /// An app on its own route in `main`.
    pub fn routed_app(&self, short: &str, body: &str) -> PathBuf {
        self.app(short, &routed_mfe(short), body)
    }

    pub async fn publish(&self, dir: &Path) -> anyhow::Result<Report> {
        publish::publish(&self.store, dir, &PublishOptions::default()).await
    }

    pub fn read(&self, key: &str) -> String {
        std::fs::read_to_string(self.store.root().join(key)).unwrap()
    }

    pub fn json(&self, key: &str) -> serde_json::Value {
        serde_json::from_str(&self.read(key)).unwrap()
    }

    /// The newest snapshot of the published set, as stored.
    pub fn latest(&self) -> serde_json::Value {
        let n = self.json("_tessera/head.json")["snapshot"]
            .as_u64()
            .unwrap();
        self.json(&format!("_tessera/snapshots/{n}.json"))
    }

    /// Every file in the store with its bytes.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        tessera_deployer::package::list_files(self.store.root())
            .unwrap()
            .into_iter()
            .filter(|k| !k.ends_with(".lock"))
            .map(|k| {
                let bytes = std::fs::read(self.store.root().join(&k)).unwrap();
                (k, bytes)
            })
            .collect()
    }
}

/// Packages a shell (mount points `nav` and `main`, stand-in files) under `root`.
pub fn shell_build(root: &Path) -> PathBuf {
    let src = root.join("shell-src");
    write(
        &src.join("files/shell.js"),
        "export default async function init() {}\n",
    );
    write(&src.join("files/shell_bg.wasm"), "\0asm-stand-in");
    write(
        &src.join("files/sw/tessera_sw.js"),
        "export default async function init() {}\n",
    );
    write(&src.join("files/sw/tessera_sw_bg.wasm"), "\0asm-stand-in");
    write(
        &src.join("shell.json"),
        r#"{"schema":1,"mountPoints":["nav","main"],"defaultRoute":"/a","notFoundMountPoint":"main"}"#,
    );
    write(
        &src.join("index.html"),
        // Over the size the CDN compresses from, as a real page is.
        format!(
            "<html><head><link data-trunk rel=\"rust\" href=\"shell/Cargo.toml\"></head>\
             <body><!-- {} --></body></html>",
            "a page of some size ".repeat(60)
        )
        .as_str(),
    );
    write(
        &src.join("importmap.json"),
        r#"{"imports":{"@vendor/lib":"/vendor/lib.js"},
            "integrity":{"/vendor/lib.js":"sha384-ywB1P0WjXou1oD1pmsZQBycsMqsO3tFjGotgWkP/W+2AhgcroefMI1i67KE0yCWn"}}"#,
    );
    let out = root.join("dist");
    std::fs::create_dir_all(&out).unwrap();
    tessera_deployer::package_shell(
        &src.join("files"),
        &src.join("shell.json"),
        &src.join("index.html"),
        &src.join("importmap.json"),
        &out,
    )
    .unwrap()
}

/// Packages an app `@test/<short>` under `root` from a source `mfe.json` and an entry whose
/// text is `body`.
pub fn app_build(root: &Path, short: &str, mfe: &str, body: &str) -> PathBuf {
    let src = root.join(format!("src-{short}"));
    write(&src.join(format!("files/{short}.js")), body);
    write(&src.join("mfe.json"), mfe);
    let out = root.join("dist");
    std::fs::create_dir_all(&out).unwrap();
    tessera_deployer::package_app(&src.join("files"), &src.join("mfe.json"), &out).unwrap()
}

pub fn routed_mfe(short: &str) -> String {
    format!(
        r#"{{"schema":1,"name":"@test/{short}","abi":1,"activation":{{"routes":["/{short}"]}},"mountPoint":"main",
            "nav":{{"menuKey":"{short}","label":"{short}","route":"/{short}"}}}}"#
    )
}

pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Rewrites a packaged app's built `mfe.json` through `edit`.
pub fn edit_built(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("mfe.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}
