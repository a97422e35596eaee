//! Publishing, rollback and the derived public manifests.
//!
//! Order of writes, so that no client ever sees a manifest whose files are missing:
//! 1. validate the build and merge it with everything already published (a rejection writes
//!    nothing at all);
//! 2. upload the bundle (create-only: content-addressed keys never change);
//! 3. commit the next numbered snapshot of the whole set (create-only: a concurrent publisher
//!    that took the number first makes us read its snapshot and retry);
//! 4. write `importmap.json`, `mount-points.json`, `apps.json`, then the current shell's
//!    `manifest.webmanifest` and `sw.js`, then `index.html`, from the newest registry;
//!    whoever finds a newer snapshot after writing writes again, so the
//!    last writer always leaves the newest set.
//!
//! A publisher killed between 3 and 4 leaves the previous set live (every file it names is
//! still there); the next publish or rollback writes the newest. `verify` says so.

use crate::merge::{bundle_dir, merge, BundleUrls, MergeInput};
use crate::package::{
    list_files, parse_json, sri, ShellManifest, SHELL_NAME, SHELL_ROOT_FILES, SW_STAMP_PLACEHOLDER,
};
use crate::registry::{self, now, Action, Change, Registry, Release, Releases};
use crate::store::{PutMode, PutOutcome, Store};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use tessera_contract::cohort::{CohortEntry, CohortRule};
use tessera_contract::manifest::{self, AllowedOrigins, BundleFile, ManifestError};
use tessera_contract::published::Published;
use tessera_contract::MfeManifest;

pub const PUBLISHED_FILES: [&str; 6] = [
    "importmap.json",
    "mount-points.json",
    "apps.json",
    "manifest.webmanifest",
    "sw.js",
    "index.html",
];
const COMMIT_ATTEMPTS: usize = 20;

#[derive(Clone, Debug, Default)]
pub struct PublishOptions {
    /// Origins besides the site's own that an app's entry may be loaded from.
    pub allowed_origins: AllowedOrigins,
    /// Work out what would change and write nothing.
    pub dry_run: bool,
    /// A line on stderr per uploaded file.
    pub progress: bool,
    /// Publish to these cohorts only (an app, already released to everyone): `apps.json`
    /// offers the version to users the rules admit; `promote` releases it, `abort` drops it.
    pub cohort: Vec<CohortRule>,
}

/// One file of a bundle.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Upload {
    pub key: String,
    pub size: u64,
    /// `false`: the store already had it, byte for byte (content-addressed keys never change).
    pub uploaded: bool,
}

/// An entry of a published manifest that changes (`None`: absent on that side).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryChange {
    pub manifest: String,
    pub entry: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl std::fmt::Display for EntryChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        write!(
            f,
            "{} {}: {} -> {}",
            self.manifest,
            self.entry,
            show(&self.from),
            show(&self.to)
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub name: String,
    pub version: String,
    /// The snapshot committed (with `dry_run`: the number it would have taken).
    pub generation: u64,
    pub changes: Vec<Change>,
    pub dry_run: bool,
    /// The bundle's files (publish only).
    pub files: Vec<Upload>,
    /// Bytes sent (with `dry_run`: that would be sent).
    pub bytes_uploaded: u64,
    pub manifest_changes: Vec<EntryChange>,
}

/// Concurrent publishers kept taking the snapshot number first (exit code 4 on the command line).
#[derive(Debug)]
pub struct GaveUp(pub String);

impl std::fmt::Display for GaveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GaveUp {}

/// A packaged build: a micro-app (`mfe.json` beside `<version>/`) or the shell (`shell.json`
/// and the files it renders for the site root, `SHELL_ROOT_FILES`, beside `<version>/`).
enum Build {
    App(MfeManifest),
    Shell {
        manifest: ShellManifest,
        root_files: Vec<(&'static str, Vec<u8>)>,
    },
}

impl Build {
    fn name(&self) -> &str {
        match self {
            Build::App(m) => &m.name,
            Build::Shell { manifest, .. } => &manifest.name,
        }
    }

    fn version(&self) -> &str {
        match self {
            Build::App(m) => m.version.as_deref().unwrap_or_default(),
            Build::Shell { manifest, .. } => &manifest.version,
        }
    }

    fn files(&self) -> &[BundleFile] {
        match self {
            Build::App(m) => &m.files,
            Build::Shell { manifest, .. } => &manifest.files,
        }
    }
}

fn rejected(errs: &[ManifestError]) -> anyhow::Error {
    let lines: Vec<String> = errs.iter().map(|e| format!("  {e}")).collect();
    anyhow!(
        "rejected, nothing was published ({} problem{}):\n{}",
        errs.len(),
        if errs.len() == 1 { "" } else { "s" },
        lines.join("\n")
    )
}

fn read_build(dir: &Path, opts: &PublishOptions) -> Result<Build> {
    let read =
        |p: &Path| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()));
    let (mfe, shell) = (dir.join("mfe.json"), dir.join("shell.json"));
    let build = if mfe.is_file() {
        let label = mfe.display().to_string();
        let m = manifest::parse(&label, &read(&mfe)?).map_err(|e| rejected(&[e]))?;
        let errs = app_problems(&m, &label, &opts.allowed_origins);
        if !errs.is_empty() {
            return Err(rejected(&errs));
        }
        Build::App(m)
    } else if shell.is_file() {
        let manifest: ShellManifest = parse_json(&shell, &read(&shell)?)?;
        let label = shell.display().to_string();
        if manifest.schema != 1 {
            bail!(
                "{label}: field `schema`: unknown schema version {}",
                manifest.schema
            );
        }
        if manifest.name != SHELL_NAME {
            bail!(
                "{label}: field `name`: {:?} is not {SHELL_NAME:?}",
                manifest.name
            );
        }
        // Every import-map entry carries integrity: the base map's entries (no app owns them,
        // the deployer cannot hash them) must bring their own.
        let map = &manifest.base_import_map;
        let urls = map.imports.iter().chain(map.scopes.values().flatten());
        let missing: Vec<String> = urls
            .filter(|(_, url)| {
                !map.integrity
                    .get(*url)
                    .is_some_and(|i| i.starts_with("sha384-") && i.len() > 7)
            })
            .map(|(spec, url)| format!("baseImportMap.integrity[{url:?}] (for {spec})"))
            .collect();
        if !missing.is_empty() {
            bail!(
                "{label}: rejected, nothing was published: every import-map entry needs a sha384 integrity; missing or malformed: {}",
                missing.join(", ")
            );
        }
        let root_files = SHELL_ROOT_FILES
            .iter()
            .map(|name| {
                let path = dir.join(name);
                let bytes =
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                Ok((*name, bytes))
            })
            .collect::<Result<_>>()?;
        Build::Shell {
            manifest,
            root_files,
        }
    } else {
        bail!(
            "{} is not a packaged build: it has neither mfe.json nor shell.json (build it with `cargo xtask build`)",
            dir.display()
        );
    };
    check_files(dir, &build)?;
    Ok(build)
}

/// What is wrong with a built app's manifest (`label` names its file): the contract's rules for
/// a built `mfe.json`, and the shell's name, which no app may take.
pub fn app_problems(m: &MfeManifest, label: &str, origins: &AllowedOrigins) -> Vec<ManifestError> {
    let mut errs = m.validate_built(label, origins);
    if m.name == SHELL_NAME {
        errs.push(ManifestError::new(
            label,
            "name",
            format!("{SHELL_NAME:?} is the shell's name"),
        ));
    }
    errs
}

/// Every file the manifest lists is in the bundle with the integrity it claims, and nothing else is.
fn check_files(dir: &Path, build: &Build) -> Result<()> {
    let bundle = dir.join(build.version());
    if build.files().len() > manifest::MAX_FILES_PER_APP {
        bail!(
            "{}: field `files`: lists {} files; a bundle may hold at most {}",
            dir.display(),
            build.files().len(),
            manifest::MAX_FILES_PER_APP
        );
    }
    let problems: Vec<String> = file_problems(&bundle, build.files())
        .with_context(|| format!("{}: the bundle folder is missing", dir.display()))?
        .into_iter()
        .map(|(rel, problem)| format!("{rel}: {problem}"))
        .collect();
    if !problems.is_empty() {
        bail!(
            "{}: rejected, nothing was published:\n  {}",
            bundle.display(),
            problems.join("\n  ")
        );
    }
    Ok(())
}

/// What differs between the bundle folder `bundle` and the `files` its manifest lists: (the
/// file's path in the bundle, the problem), missing, changed and unlisted files alike.
pub fn file_problems(bundle: &Path, files: &[BundleFile]) -> Result<Vec<(String, String)>> {
    let on_disk = list_files(bundle)?;
    let listed: std::collections::HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let mut problems = Vec::new();
    for f in files {
        let problem = match std::fs::read(bundle.join(&f.path)) {
            Err(_) => "listed in the manifest but missing".to_string(),
            Ok(bytes) if sri(&bytes) != f.integrity => format!(
                "its content does not match its integrity {} (found {})",
                f.integrity,
                sri(&bytes)
            ),
            Ok(bytes) if bytes.len() as u64 != f.size => {
                format!("{} bytes, the manifest says {}", bytes.len(), f.size)
            }
            Ok(_) => continue,
        };
        problems.push((f.path.clone(), problem));
    }
    for rel in on_disk.iter().filter(|rel| !listed.contains(rel.as_str())) {
        problems.push((
            rel.clone(),
            "in the bundle but not listed in the manifest".into(),
        ));
    }
    Ok(problems)
}

/// Merges a registry into the published manifests. `last` names the app whose file errors
/// should be attributed to (the one being published or rolled back), so it merges last.
fn merge_registry(registry: &Registry, store_label: &str, last: Option<&str>) -> Result<Published> {
    let shell = registry.shell.as_ref().map(|s| &s.current.manifest).ok_or_else(|| {
        anyhow!("no shell is published in {store_label}: publish {SHELL_NAME} first (its layout names the mount points apps render into)")
    })?;
    let mut ordered: Vec<&Releases<MfeManifest>> = registry
        .apps
        .iter()
        .filter(|(n, _)| Some(n.as_str()) != last)
        .map(|(_, r)| r)
        .collect();
    ordered.extend(last.and_then(|n| registry.apps.get(n)));
    let inputs: Vec<MergeInput<'_>> = ordered
        .into_iter()
        .map(|r| {
            let m = &r.current.manifest;
            let version = m.version.as_deref().unwrap_or_default();
            MergeInput {
                file: if Some(m.name.as_str()) == last {
                    format!("{} {version}", m.name)
                } else {
                    format!("{} {version} (published)", m.name)
                },
                manifest: m,
                bundle_url: format!("/{}", bundle_dir(&m.name, version)),
            }
        })
        .collect();
    let mut published =
        merge(&shell.base_import_map, &shell.layout, &inputs).map_err(|errs| rejected(&errs))?;
    for (name, cohort) in &registry.cohorts {
        let m = &cohort.release.manifest;
        let version = m.version.as_deref().unwrap_or_default();
        let urls =
            BundleUrls::of(m, &format!("/{}", bundle_dir(name, version))).with_context(|| {
                format!(
                    "{store_label}: the cohort version {version} of {name} is not a built manifest"
                )
            })?;
        let app = published.apps.apps.get_mut(name).with_context(|| {
            format!("{store_label}: {name} has a cohort version {version} but no released one")
        })?;
        for rule in &cohort.rules {
            app.cohorts.push(CohortEntry {
                rule: rule.clone(),
                version: version.to_string(),
                entry: urls.entry.clone(),
                integrity: urls.integrity.clone(),
                preload: urls.preload(),
            });
        }
        urls.record_integrity(&mut published.import_map);
    }
    Ok(published)
}

/// Makes `release` current in `slot`, recording the change when the version changes.
fn make_current<T: registry::Versioned + Clone>(
    slot: &mut Option<Releases<T>>,
    release: Release<T>,
    name: &str,
    action: Action,
    changes: &mut Vec<Change>,
) {
    let version = release.manifest.version().to_string();
    let from = slot
        .as_ref()
        .map(|r| r.current.manifest.version().to_string());
    if from.as_deref() == Some(version.as_str()) {
        return;
    }
    match slot {
        Some(r) => r.push(release),
        None => *slot = Some(Releases::first(release)),
    }
    changes.push(Change {
        app: name.to_string(),
        action,
        version: Some(version),
        from,
    });
}

fn with_app_release(registry: &mut Registry, release: Release<MfeManifest>, action: Action) {
    let name = release.manifest.name.clone();
    let mut slot = registry.apps.remove(&name);
    make_current(&mut slot, release, &name, action, &mut registry.changes);
    registry.apps.extend(slot.map(|r| (name, r)));
}

fn with_build(mut registry: Registry, build: &Build) -> Registry {
    match build {
        Build::App(m) => {
            let release = Release {
                manifest: m.clone(),
                published_at: now(),
            };
            with_app_release(&mut registry, release, Action::Publish);
            // Released to everyone now: no cohort needs it any more.
            if registry
                .cohorts
                .get(&m.name)
                .is_some_and(|c| c.release.manifest.version == m.version)
            {
                registry.cohorts.remove(&m.name);
            }
        }
        Build::Shell { manifest, .. } => {
            let release = Release {
                manifest: manifest.clone(),
                published_at: now(),
            };
            make_current(
                &mut registry.shell,
                release,
                SHELL_NAME,
                Action::Publish,
                &mut registry.changes,
            );
        }
    }
    registry
}

/// Where a shell release's rendered root file (`index.html`, `sw.js`, …) is kept until it
/// becomes current.
pub fn shell_root_file_key(version: &str, name: &str) -> String {
    format!("{}shell/{version}/{name}", crate::store::INTERNAL_PREFIX)
}

/// `true`: written now; `false`: it was already there.
async fn put_immutable(store: &impl Store, key: &str, bytes: Vec<u8>) -> Result<bool> {
    let expected = bytes.clone();
    match store.put(key, bytes, PutMode::Create).await? {
        PutOutcome::Written { .. } => Ok(true),
        PutOutcome::Conflict => match store.get(key).await? {
            Some(obj) if obj.bytes == expected => Ok(false),
            _ => bail!(
                "{}/{key} already exists with other content: content-addressed files never change",
                store.describe()
            ),
        },
    }
}

/// Uploads the bundle (or with `dry_run` only looks which files the store lacks).
async fn upload(
    store: &impl Store,
    dir: &Path,
    build: &Build,
    opts: &PublishOptions,
) -> Result<Vec<Upload>> {
    let base = bundle_dir(build.name(), build.version());
    let mut todo: Vec<(String, Vec<u8>)> = Vec::new();
    for f in build.files() {
        let path = dir.join(build.version()).join(&f.path);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        todo.push((format!("{base}{}", f.path), bytes));
    }
    if let Build::Shell {
        manifest,
        root_files,
    } = build
    {
        for (name, bytes) in root_files {
            todo.push((shell_root_file_key(&manifest.version, name), bytes.clone()));
        }
    }
    let total = todo.len();
    let mut done = Vec::with_capacity(total);
    for (i, (key, bytes)) in todo.into_iter().enumerate() {
        let size = bytes.len() as u64;
        let uploaded = if opts.dry_run {
            store.get(&key).await?.is_none_or(|o| o.bytes != bytes)
        } else {
            put_immutable(store, &key, bytes).await?
        };
        if opts.progress && !opts.dry_run {
            eprintln!(
                "[{}/{total}] {key} {size} B {}",
                i + 1,
                if uploaded {
                    "uploaded"
                } else {
                    "already there"
                }
            );
        }
        done.push(Upload {
            key,
            size,
            uploaded,
        });
    }
    Ok(done)
}

/// The manifest entries that differ between two sets: import-map imports and integrity, app
/// versions in `apps.json`, apps per mount point.
fn manifest_changes(label: &str, before: &Registry, after: &Registry) -> Vec<EntryChange> {
    let flat = |r: &Registry| -> BTreeMap<(String, String), String> {
        let mut out = BTreeMap::new();
        let Ok(p) = (if r.shell.is_some() {
            merge_registry(r, label, None)
        } else {
            Err(anyhow!("no shell"))
        }) else {
            return out;
        };
        for (k, v) in &p.import_map.imports {
            out.insert(
                ("importmap.json".into(), format!("imports[{k:?}]")),
                v.clone(),
            );
        }
        for (k, v) in &p.import_map.integrity {
            out.insert(
                ("importmap.json".into(), format!("integrity[{k:?}]")),
                v.clone(),
            );
        }
        for (k, v) in &p.apps.apps {
            out.insert(
                ("apps.json".into(), format!("apps[{k:?}].version")),
                v.version.clone(),
            );
            if !v.cohorts.is_empty() {
                let cohorts: Vec<String> = v
                    .cohorts
                    .iter()
                    .map(|c| format!("{} gets {}", c.rule, c.version))
                    .collect();
                out.insert(
                    ("apps.json".into(), format!("apps[{k:?}].cohorts")),
                    cohorts.join(", "),
                );
            }
        }
        for mp in &p.mount_points.mount_points {
            out.insert(
                ("mount-points.json".into(), format!("{}.apps", mp.name)),
                mp.apps.join(", "),
            );
        }
        if let Some(shell) = &r.shell {
            out.insert(
                ("index.html".into(), "shell".into()),
                shell.current.manifest.version.clone(),
            );
        }
        out
    };
    let (a, b) = (flat(before), flat(after));
    let keys: std::collections::BTreeSet<&(String, String)> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| EntryChange {
            manifest: k.0.clone(),
            entry: k.1.clone(),
            from: a.get(k).cloned(),
            to: b.get(k).cloned(),
        })
        .collect()
}

/// Commits `change` applied to the newest registry, retrying when another publisher wins the
/// race. `change` validates as well: an error leaves the store as it was. Returns the snapshot
/// the change was applied to and the one committed; with `dry_run` nothing is committed and
/// the second is the snapshot that would have been.
async fn commit_with(
    store: &impl Store,
    dry_run: bool,
    mut change: impl FnMut(Registry) -> Result<Registry>,
) -> Result<(Registry, Registry)> {
    for _ in 0..COMMIT_ATTEMPTS {
        let loaded = registry::load(store).await?;
        let mut base = loaded.registry.clone();
        base.changes.clear();
        let mut next = change(base)?;
        if dry_run {
            next.generation = loaded.registry.generation + 1;
            next.published_at = now();
            return Ok((loaded.registry, next));
        }
        if let Some(committed) = registry::commit(store, &loaded, next).await? {
            return Ok((loaded.registry, committed));
        }
    }
    Err(GaveUp(format!(
        "{}: gave up after {COMMIT_ATTEMPTS} attempts: other publishers kept taking the next snapshot number; try again",
        store.describe()
    ))
    .into())
}

fn json(value: &impl serde::Serialize) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Identifies what a publish puts at the site root: the shell release and the manifests' bytes.
/// Identical content gives the identical stamp, so republishing it leaves `sw.js` unchanged
/// and browsers install nothing new.
fn published_stamp(shell_version: &str, manifests: &[Vec<u8>]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(shell_version.as_bytes());
    for bytes in manifests {
        // Length-prefixed, so moving bytes from one manifest to the next changes the stamp.
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The shell release's stored `sw.js` with the stamp in place of its placeholder. A worker
/// rendered before the placeholder existed gets the stamp as a trailing comment, which still
/// changes its bytes.
fn stamp_worker(stored: Vec<u8>, stamp: &str) -> Vec<u8> {
    match String::from_utf8(stored) {
        Ok(text) if text.contains(SW_STAMP_PLACEHOLDER) => {
            text.replace(SW_STAMP_PLACEHOLDER, stamp).into_bytes()
        }
        Ok(text) => format!("{text}// published set {stamp}\n").into_bytes(),
        Err(e) => e.into_bytes(),
    }
}

/// The site-root files (`PUBLISHED_FILES`, in that order) a snapshot renders to.
pub async fn render(
    store: &impl Store,
    registry: &Registry,
) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let published = merge_registry(registry, &store.describe(), None)?;
    let shell_version = &registry
        .shell
        .as_ref()
        .expect("merge needs a shell")
        .current
        .manifest
        .version;
    let mut contents = vec![
        json(&published.import_map)?,
        json(&published.mount_points)?,
        json(&published.apps)?,
    ];
    let stamp = published_stamp(shell_version, &contents);
    for name in SHELL_ROOT_FILES {
        let key = shell_root_file_key(shell_version, name);
        match store.get(&key).await? {
            Some(obj) if name == "sw.js" => contents.push(stamp_worker(obj.bytes, &stamp)),
            Some(obj) => contents.push(obj.bytes),
            None => bail!("{}/{key} is missing", store.describe()),
        }
    }
    Ok(PUBLISHED_FILES.into_iter().zip(contents).collect())
}

/// Writes the public manifests for `registry`, and again for any newer snapshot found after.
async fn write_published(store: &impl Store, mut registry: Registry) -> Result<()> {
    for _ in 0..COMMIT_ATTEMPTS {
        for (key, bytes) in render(store, &registry).await? {
            if store.get(key).await?.is_some_and(|o| o.bytes == bytes) {
                continue;
            }
            store.put(key, bytes, PutMode::Overwrite).await?;
        }
        let latest = registry::load(store).await?.registry;
        if latest.generation == registry.generation {
            return Ok(());
        }
        registry = latest;
    }
    bail!(
        "{}: the registry kept changing while the manifests were written; publish again",
        store.describe()
    )
}

/// Publishes a packaged build (`dist/@scope/app` or `dist/@tessera/shell`).
pub async fn publish(store: &impl Store, dir: &Path, opts: &PublishOptions) -> Result<Report> {
    let build = read_build(dir, opts)?;
    let label = store.describe();
    let check = |registry: Registry| -> Result<Registry> {
        if !opts.cohort.is_empty() {
            return with_cohort(registry, &build, &opts.cohort, &label);
        }
        let next = with_build(registry, &build);
        if next.shell.is_some() {
            merge_registry(&next, &label, Some(build.name()))?;
        } else if matches!(build, Build::App(_)) {
            bail!("no shell is published in {label}: publish {SHELL_NAME} first (its layout names the mount points apps render into)");
        }
        Ok(next)
    };
    // Validate against what is published now before uploading anything.
    check(registry::load(store).await?.registry)?;
    let files = upload(store, dir, &build, opts).await?;
    let (before, committed) = commit_with(store, opts.dry_run, check).await?;
    let mut report = finish(store, before, committed, opts.dry_run).await?;
    report.name = build.name().to_string();
    report.version = build.version().to_string();
    report.bytes_uploaded = files.iter().filter(|f| f.uploaded).map(|f| f.size).sum();
    report.files = files;
    Ok(report)
}

/// `registry` with `build` offered to the cohorts `rules` admit; validated both as it is and
/// as it will be once promoted.
fn with_cohort(
    mut registry: Registry,
    build: &Build,
    rules: &[CohortRule],
    label: &str,
) -> Result<Registry> {
    let Build::App(m) = build else {
        bail!("{SHELL_NAME} cannot be published to a cohort: every page runs one shell");
    };
    let Some(released) = registry.apps.get(&m.name) else {
        bail!(
            "{} is not published in {label}: publish it to everyone before a cohort release",
            m.name
        );
    };
    let current = released.current.manifest.version.clone();
    let version = m.version.clone().unwrap_or_default();
    if current.as_deref() == Some(version.as_str()) {
        bail!(
            "{} {version} is already the released version in {label}",
            m.name
        );
    }
    let release = Release {
        manifest: m.clone(),
        published_at: now(),
    };
    let mut promoted = registry.clone();
    promoted.cohorts.remove(&m.name);
    with_app_release(&mut promoted, release.clone(), Action::Promote);
    merge_registry(&promoted, label, Some(&m.name))
        .with_context(|| format!("{} {version} as a cohort release", m.name))?;
    registry.cohorts.insert(
        m.name.clone(),
        registry::CohortRelease {
            rules: rules.to_vec(),
            release,
        },
    );
    registry.changes.push(Change {
        app: m.name.clone(),
        action: Action::Cohort,
        version: Some(version),
        from: current,
    });
    merge_registry(&registry, label, Some(&m.name))?;
    Ok(registry)
}

/// Makes the cohort version of `name` the released one (`promote`), or drops it (`abort`).
pub async fn end_cohort(
    store: &impl Store,
    name: &str,
    promote: bool,
    dry_run: bool,
) -> Result<Report> {
    let label = store.describe();
    let mut version = String::new();
    let (before, after) = commit_with(store, dry_run, |mut registry| {
        let cohort = registry
            .cohorts
            .remove(name)
            .with_context(|| format!("{name} has no cohort release in {label}"))?;
        version = cohort.release.manifest.version.clone().unwrap_or_default();
        if promote {
            with_app_release(&mut registry, cohort.release, Action::Promote);
            merge_registry(&registry, &label, Some(name))?;
        } else {
            registry.changes.push(Change {
                app: name.to_string(),
                action: Action::Abort,
                version: Some(version.clone()),
                from: None,
            });
        }
        Ok(registry)
    })
    .await?;
    let mut report = finish(store, before, after, dry_run).await?;
    report.name = name.to_string();
    report.version = version;
    Ok(report)
}

/// Writes the manifests of a committed snapshot (unless `dry_run`) and reports the change.
async fn finish(
    store: &impl Store,
    before: Registry,
    after: Registry,
    dry_run: bool,
) -> Result<Report> {
    let report = Report {
        name: String::new(),
        version: String::new(),
        generation: after.generation,
        changes: after.changes.clone(),
        dry_run,
        files: Vec::new(),
        bytes_uploaded: 0,
        manifest_changes: manifest_changes(&store.describe(), &before, &after),
    };
    if !dry_run {
        write_published(store, after).await?;
    }
    Ok(report)
}

/// Makes the release before the current one of `name` (an app or the shell) current again.
pub async fn rollback(store: &impl Store, name: &str) -> Result<Report> {
    rollback_app(store, name, false).await
}

/// [`rollback`], or with `dry_run` only what it would change.
pub async fn rollback_app(store: &impl Store, name: &str, dry_run: bool) -> Result<Report> {
    let label = store.describe();
    let mut version = String::new();
    let (before, committed) = commit_with(store, dry_run, |mut registry| {
        if name == SHELL_NAME {
            let shell = registry
                .shell
                .as_mut()
                .ok_or_else(|| anyhow!("{name} is not published in {label}"))?;
            let from = shell.current.manifest.version.clone();
            shell
                .roll_back()
                .with_context(|| format!("rolling back {name}"))?;
            version = shell.current.manifest.version.clone();
            registry.changes.push(Change {
                app: name.to_string(),
                action: Action::Rollback,
                version: Some(version.clone()),
                from: Some(from),
            });
        } else {
            let names = published_names(&registry);
            let app = registry.apps.get_mut(name).ok_or_else(|| {
                anyhow!("{name} is not published in {label} (published: {names})")
            })?;
            let from = app.current.manifest.version.clone();
            app.roll_back()
                .with_context(|| format!("rolling back {name}"))?;
            version = app.current.manifest.version.clone().unwrap_or_default();
            registry.changes.push(Change {
                app: name.to_string(),
                action: Action::Rollback,
                version: Some(version.clone()),
                from,
            });
        }
        merge_registry(&registry, &label, Some(name)).with_context(|| {
            format!("the previous release of {name} no longer fits with the other apps")
        })?;
        Ok(registry)
    })
    .await?;
    let mut report = finish(store, before, committed, dry_run).await?;
    report.name = name.to_string();
    report.version = version;
    Ok(report)
}

/// Makes the whole set of snapshot `n` current again, as a new snapshot: the shell and every
/// app at the version they had then (each keeps its release history), apps published since
/// removed.
pub async fn restore(store: &impl Store, n: u64) -> Result<Report> {
    restore_set(store, n, false).await
}

/// [`restore`], or with `dry_run` only what it would change.
pub async fn restore_set(store: &impl Store, n: u64, dry_run: bool) -> Result<Report> {
    let label = store.describe();
    let target = registry::snapshot(store, n).await?.with_context(|| {
        format!("{label}: there is no snapshot {n} (see `tessera-deploy history`)")
    })?;
    let (before, committed) = commit_with(store, dry_run, |mut registry| {
        if let Some(shell) = &target.shell {
            make_current(
                &mut registry.shell,
                shell.current.clone(),
                SHELL_NAME,
                Action::Restore,
                &mut registry.changes,
            );
        }
        let gone: Vec<String> = registry
            .apps
            .keys()
            .filter(|name| !target.apps.contains_key(*name))
            .cloned()
            .collect();
        for name in gone {
            let removed = registry.apps.remove(&name).expect("listed above");
            registry.changes.push(Change {
                app: name,
                action: Action::Remove,
                version: None,
                from: removed.current.manifest.version,
            });
        }
        for releases in target.apps.values() {
            with_app_release(&mut registry, releases.current.clone(), Action::Restore);
        }
        registry.cohorts = target.cohorts.clone();
        merge_registry(&registry, &label, None)
            .with_context(|| format!("restoring snapshot {n}"))?;
        Ok(registry)
    })
    .await?;
    let mut report = finish(store, before, committed, dry_run).await?;
    report.name = format!("snapshot {n}");
    report.version = n.to_string();
    Ok(report)
}

fn published_names(registry: &Registry) -> String {
    let names: Vec<&str> = registry.apps.keys().map(String::as_str).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
