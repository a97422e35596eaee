//! `tessera-deploy verify`: checks the live published set against the store.
//!
//! - every file the newest snapshot's releases name (the shell's and each app's `files`, and the
//!   shell's rendered root files) is in the store with the integrity its manifest claims;
//! - the live manifests (`importmap.json`, `mount-points.json`, `apps.json`,
//!   `manifest.webmanifest`, `sw.js`, `index.html`) are byte for byte what the newest snapshot
//!   renders to;
//! - every URL the live import map and `apps.json` name inside the store exists, and every
//!   import-map entry in the store carries an `integrity` that matches the stored bytes.
//!
//! Live manifests that are exactly an *older* snapshot's rendering are not a problem but a note:
//! a publisher committed a snapshot and was stopped (or is still running) before it rewrote them;
//! the site serves a complete older set, and the next publish or rollback writes the newest.

use crate::merge::bundle_dir;
use crate::package::{sri, SHELL_NAME, SHELL_ROOT_FILES};
use crate::publish::{render, shell_root_file_key, PUBLISHED_FILES};
use crate::registry::{self, Registry};
use crate::store::Store;
use anyhow::Result;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use tessera_contract::manifest::BundleFile;
use tessera_contract::published::{AppsManifest, ImportMap};

/// How many snapshots before the newest live manifests may lag behind and still be explained.
const LAG_EXPLAINED: u64 = 10;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// The app (or `@tessera/shell`) the file belongs to, when it belongs to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The store key.
    pub key: String,
    pub expected: String,
    pub found: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(app) = &self.app {
            write!(f, "{app}: ")?;
        }
        write!(
            f,
            "{}: expected {}, found {}",
            self.key, self.expected, self.found
        )
    }
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub store: String,
    /// The newest snapshot.
    pub snapshot: u64,
    /// For each live manifest, the snapshot it is the rendering of (`None`: of none checked).
    pub live_from: BTreeMap<String, Option<u64>>,
    /// Some live manifest is an older snapshot's (an interrupted or running publish).
    pub behind: bool,
    /// Objects read and checked.
    pub files_checked: usize,
    pub problems: Vec<Problem>,
    pub notes: Vec<String>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn describe(&self) -> String {
        let mut out = format!(
            "{}: snapshot {}, {} objects checked, {} problem{}\n",
            self.store,
            self.snapshot,
            self.files_checked,
            self.problems.len(),
            if self.problems.len() == 1 { "" } else { "s" }
        );
        for p in &self.problems {
            out.push_str(&format!("  problem: {p}\n"));
        }
        for n in &self.notes {
            out.push_str(&format!("  note: {n}\n"));
        }
        out
    }
}

struct Checker<'a, S: Store> {
    store: &'a S,
    v: Verification,
    /// Keys already checked, with whether they were fine.
    seen: BTreeMap<String, bool>,
}

impl<S: Store> Checker<'_, S> {
    fn problem(&mut self, app: Option<&str>, key: &str, expected: String, found: String) {
        self.v.problems.push(Problem {
            app: app.map(str::to_string),
            key: key.to_string(),
            expected,
            found,
        });
    }

    /// The object at `key` exists and, when `integrity` is given, matches it.
    async fn file(&mut self, app: Option<&str>, key: &str, integrity: Option<&str>) -> Result<()> {
        let memo = format!("{key}\0{}", integrity.unwrap_or(""));
        if self.seen.contains_key(&memo) {
            return Ok(());
        }
        self.v.files_checked += 1;
        let fine = match self.store.get(key).await? {
            None => {
                let expected = integrity.map_or("the file".into(), |i| format!("a file with {i}"));
                self.problem(app, key, expected, "nothing (missing)".into());
                false
            }
            Some(obj) => match integrity {
                Some(want) if sri(&obj.bytes) != want => {
                    let found = sri(&obj.bytes);
                    self.problem(app, key, want.to_string(), found);
                    false
                }
                _ => true,
            },
        };
        self.seen.insert(memo, fine);
        Ok(())
    }

    async fn bundle(&mut self, app: &str, version: &str, files: &[BundleFile]) -> Result<()> {
        let base = bundle_dir(app, version);
        for f in files {
            self.file(Some(app), &format!("{base}{}", f.path), Some(&f.integrity))
                .await?;
        }
        Ok(())
    }
}

/// The app whose bundle a store key lies in, if any.
fn owner<'a>(names: &'a BTreeSet<String>, key: &str) -> Option<&'a str> {
    names
        .iter()
        .find(|n| key.starts_with(&format!("{n}/")))
        .map(String::as_str)
}

/// Checks the live set in `store`. Store errors (unreachable, unreadable) are errors; what is
/// wrong with the set is in the answer's `problems`.
pub async fn verify(store: &impl Store) -> Result<Verification> {
    let newest = registry::load(store).await?.registry;
    let mut c = Checker {
        store,
        v: Verification {
            store: store.describe(),
            snapshot: newest.generation,
            ..Verification::default()
        },
        seen: BTreeMap::new(),
    };
    if newest.shell.is_none() && newest.apps.is_empty() {
        c.v.notes.push("nothing is published".into());
        return Ok(c.v);
    }
    // 1. Every file of every current release.
    if let Some(shell) = &newest.shell {
        let m = &shell.current.manifest;
        c.bundle(SHELL_NAME, &m.version, &m.files).await?;
        for name in SHELL_ROOT_FILES {
            c.file(
                Some(SHELL_NAME),
                &shell_root_file_key(&m.version, name),
                None,
            )
            .await?;
        }
    }
    for (name, r) in &newest.apps {
        let m = &r.current.manifest;
        c.bundle(name, m.version.as_deref().unwrap_or_default(), &m.files)
            .await?;
    }
    extra_releases(&mut c, &newest).await?;

    // 2. The live manifests against the newest snapshot's rendering (or an older one's).
    let mut rendered: BTreeMap<u64, Vec<(&'static str, Vec<u8>)>> = BTreeMap::new();
    match render(store, &newest).await {
        Ok(files) => {
            rendered.insert(newest.generation, files);
        }
        Err(e) => c.problem(
            None,
            &registry::snapshot_key(newest.generation),
            "a snapshot that renders to manifests".into(),
            format!("{e:#}"),
        ),
    }
    let mut live = BTreeMap::new();
    for key in PUBLISHED_FILES {
        live.insert(key, store.get(key).await?.map(|o| o.bytes));
        c.v.files_checked += 1;
    }
    let matches = |rendered: &BTreeMap<u64, Vec<(&str, Vec<u8>)>>, key: &str, bytes: &[u8]| {
        rendered
            .iter()
            .rev()
            .find(|(_, files)| files.iter().any(|(k, b)| *k == key && b == bytes))
            .map(|(n, _)| *n)
    };
    let oldest = newest.generation.saturating_sub(LAG_EXPLAINED).max(1);
    let mut next_older = newest.generation;
    for key in PUBLISHED_FILES {
        let Some(bytes) = &live[key] else {
            c.v.live_from.insert(key.to_string(), None);
            c.problem(
                None,
                key,
                format!("as rendered from snapshot {}", newest.generation),
                "nothing (missing)".into(),
            );
            continue;
        };
        let mut from = matches(&rendered, key, bytes);
        while from.is_none() && next_older > oldest {
            next_older -= 1;
            if let Some(older) = registry::snapshot(store, next_older).await? {
                if let Ok(files) = render(store, &older).await {
                    rendered.insert(next_older, files);
                }
            }
            from = matches(&rendered, key, bytes);
        }
        c.v.live_from.insert(key.to_string(), from);
        match from {
            Some(n) if n == newest.generation => {}
            Some(n) => {
                c.v.behind = true;
                c.v.notes.push(format!(
                "{key} is snapshot {n}'s, not the newest ({}): a publish was interrupted or is \
                 running; the site serves an older complete set until the next publish or rollback",
                newest.generation
            ))
            }
            None => c.problem(
                None,
                key,
                format!(
                    "as rendered from snapshot {} (or one of the {LAG_EXPLAINED} before)",
                    newest.generation
                ),
                "other content".into(),
            ),
        }
    }

    // 3. What the live manifests name: files present, import-map entries with integrity.
    let mut names: BTreeSet<String> = newest.apps.keys().cloned().collect();
    names.insert(SHELL_NAME.to_string());
    if let Some(Ok(map)) = live["importmap.json"]
        .as_ref()
        .map(|b| serde_json::from_slice::<ImportMap>(b))
    {
        for (spec, url) in &map.imports {
            let key = url.strip_prefix('/').unwrap_or("");
            let Some(app) = owner(&names, key) else {
                if map.integrity.contains_key(url) {
                    c.v.notes.push(format!(
                        "importmap.json: {spec} -> {url} is outside the store's bundles: its bytes are not checked"
                    ));
                } else {
                    c.problem(
                        None,
                        "importmap.json",
                        format!("an integrity for {url} ({spec})"),
                        "none".into(),
                    );
                }
                continue;
            };
            match map.integrity.get(url) {
                None => c.problem(
                    Some(app),
                    "importmap.json",
                    format!("an integrity for {url}"),
                    "none".into(),
                ),
                Some(i) => c.file(Some(app), key, Some(i)).await?,
            }
        }
    } else if live["importmap.json"].is_some() {
        c.problem(
            None,
            "importmap.json",
            "an import map".into(),
            "unreadable JSON".into(),
        );
    }
    if let Some(Ok(apps)) = live["apps.json"]
        .as_ref()
        .map(|b| serde_json::from_slice::<AppsManifest>(b))
    {
        for (name, entry) in &apps.apps {
            for url in &entry.preload {
                if let Some(key) = url.strip_prefix('/') {
                    c.file(Some(name), key, None).await?;
                }
            }
            for cohort in &entry.cohorts {
                if let Some(key) = cohort.entry.strip_prefix('/') {
                    c.file(Some(name), key, Some(&cohort.integrity)).await?;
                }
                for url in &cohort.preload {
                    if let Some(key) = url.strip_prefix('/') {
                        c.file(Some(name), key, None).await?;
                    }
                }
            }
        }
    } else if live["apps.json"].is_some() {
        c.problem(
            None,
            "apps.json",
            "the apps manifest".into(),
            "unreadable JSON".into(),
        );
    }
    Ok(c.v)
}

/// Releases besides the current ones that the live set names: cohort versions.
async fn extra_releases<S: Store>(c: &mut Checker<'_, S>, newest: &Registry) -> Result<()> {
    for (name, cohort) in &newest.cohorts {
        let m = &cohort.release.manifest;
        c.bundle(name, m.version.as_deref().unwrap_or_default(), &m.files)
            .await?;
    }
    Ok(())
}
