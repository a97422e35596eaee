//! The deployer's record of what is published: numbered, immutable snapshots of the whole
//! published set. Snapshot `n` (`_tessera/snapshots/<n>.json`) holds the current shell and every
//! current app, each with the releases before it (for one-app rollback), when it was taken and
//! what changed. A publisher takes the next number with a create-only write, so two publishers
//! can never both take it: the loser reads the newest snapshot again and retries. Snapshots are
//! never rewritten or deleted (history is append-only); the public manifests are derived from the
//! newest one.
//!
//! Finding the newest: `_tessera/head.json` names a recent snapshot (a hint, written after each
//! commit, possibly stale or behind when a publisher was killed), and the numbers after it are
//! probed until one is missing. Numbers are dense because snapshot `n + 1` is only ever written
//! by someone who read snapshot `n`.
//!
//! A store last written by a deployer that kept one `_tessera/registry.json` (schema 1) starts
//! from it: the first commit becomes snapshot 1.

use crate::package::ShellManifest;
use crate::store::{PutMode, PutOutcome, Store};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tessera_contract::cohort::CohortRule;
use tessera_contract::MfeManifest;

pub const SNAPSHOT_PREFIX: &str = "_tessera/snapshots/";
pub const HEAD_KEY: &str = "_tessera/head.json";
/// The single registry object of earlier deployers, read once to start the snapshots from.
pub const LEGACY_REGISTRY_KEY: &str = "_tessera/registry.json";
pub const REGISTRY_SCHEMA: u32 = 2;
/// Releases kept per app besides the current one.
pub const HISTORY: usize = 5;

pub fn snapshot_key(n: u64) -> String {
    format!("{SNAPSHOT_PREFIX}{n}.json")
}

/// One snapshot: the whole published set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registry {
    pub schema: u32,
    /// The snapshot's number: grows by one with every committed change (0: nothing yet).
    pub generation: u64,
    /// Unix seconds when the snapshot was committed.
    #[serde(default)]
    pub published_at: u64,
    /// What this snapshot changed against the one before it.
    #[serde(default)]
    pub changes: Vec<Change>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Releases<ShellManifest>>,
    #[serde(default)]
    pub apps: BTreeMap<String, Releases<MfeManifest>>,
    /// Per app, a version published to some users only (`publish --cohort`), until `promote`
    /// makes it the released one or `abort` drops it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cohorts: BTreeMap<String, CohortRelease>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CohortRelease {
    /// Who gets it; the shell takes the first rule that admits the user.
    pub rules: Vec<CohortRule>,
    pub release: Release<MfeManifest>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub app: String,
    pub action: Action,
    /// The version now current (`None`: the app was removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The version current before (`None`: the app was new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    Publish,
    Rollback,
    /// `rollback --to <n>`: the app as it was in snapshot n.
    Restore,
    /// `rollback --to <n>`: the app was not published in snapshot n.
    Remove,
    /// `publish --cohort`: a version for some users.
    Cohort,
    /// The cohort's version became the released one.
    Promote,
    /// The cohort was dropped.
    Abort,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::Rollback => "rollback",
            Action::Restore => "restore",
            Action::Remove => "remove",
            Action::Cohort => "cohort",
            Action::Promote => "promote",
            Action::Abort => "abort",
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.action.as_str(), self.app)?;
        if let Some(v) = &self.version {
            write!(f, "@{v}")?;
        }
        if let Some(v) = &self.from {
            write!(f, " (was {v})")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Releases<T> {
    pub current: Release<T>,
    /// Newest first.
    pub previous: Vec<Release<T>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Release<T> {
    pub manifest: T,
    /// Unix seconds.
    pub published_at: u64,
}

/// What a release is identified by.
pub trait Versioned {
    fn version(&self) -> &str;
}

impl Versioned for MfeManifest {
    fn version(&self) -> &str {
        self.version.as_deref().unwrap_or("")
    }
}

impl Versioned for ShellManifest {
    fn version(&self) -> &str {
        &self.version
    }
}

impl<T: Versioned + Clone> Releases<T> {
    pub fn first(release: Release<T>) -> Self {
        Releases {
            current: release,
            previous: Vec::new(),
        }
    }

    /// Makes `release` current. Publishing the current version again changes nothing; publishing
    /// an older one moves it to the front.
    pub fn push(&mut self, release: Release<T>) {
        if release.manifest.version() == self.current.manifest.version() {
            return;
        }
        self.previous
            .retain(|r| r.manifest.version() != release.manifest.version());
        let old = std::mem::replace(&mut self.current, release);
        self.previous.insert(0, old);
        self.previous.truncate(HISTORY);
    }

    /// Makes the release before the current one current again.
    pub fn roll_back(&mut self) -> Result<()> {
        if self.previous.is_empty() {
            bail!(
                "version {} is the only release: there is nothing to roll back to",
                self.current.manifest.version()
            );
        }
        self.current = self.previous.remove(0);
        Ok(())
    }
}

/// The newest snapshot as read (`registry.generation == 0`: nothing committed yet).
pub struct Loaded {
    pub registry: Registry,
}

fn empty() -> Registry {
    Registry {
        schema: REGISTRY_SCHEMA,
        ..Registry::default()
    }
}

fn parse_snapshot(store: &impl Store, n: u64, bytes: &[u8]) -> Result<Registry> {
    let key = snapshot_key(n);
    let registry: Registry = serde_json::from_slice(bytes)
        .with_context(|| format!("{}/{key} is not a snapshot", store.describe()))?;
    if registry.schema != REGISTRY_SCHEMA {
        bail!(
            "{}/{key} has schema {}; this deployer speaks {REGISTRY_SCHEMA}",
            store.describe(),
            registry.schema
        );
    }
    if registry.generation != n {
        bail!(
            "{}/{key} says it is snapshot {}",
            store.describe(),
            registry.generation
        );
    }
    Ok(registry)
}

/// Snapshot `n`, if it exists.
pub async fn snapshot(store: &impl Store, n: u64) -> Result<Option<Registry>> {
    match store.get(&snapshot_key(n)).await? {
        None => Ok(None),
        Some(obj) => parse_snapshot(store, n, &obj.bytes).map(Some),
    }
}

#[derive(Serialize, Deserialize)]
struct Head {
    schema: u32,
    snapshot: u64,
}

async fn head_hint(store: &impl Store) -> Result<u64> {
    Ok(match store.get(HEAD_KEY).await? {
        None => 0,
        Some(obj) => match serde_json::from_slice::<Head>(&obj.bytes) {
            Ok(h) if h.schema == REGISTRY_SCHEMA => h.snapshot,
            // Only a hint: probing from 0 finds the newest just the same.
            _ => 0,
        },
    })
}

/// The newest snapshot.
pub async fn load(store: &impl Store) -> Result<Loaded> {
    let mut n = head_hint(store).await?;
    let mut newest = None;
    if n > 0 {
        newest = snapshot(store, n).await?;
        if newest.is_none() {
            // A hint naming a missing snapshot is wrong: start over.
            n = 0;
        }
    }
    while let Some(next) = snapshot(store, n + 1).await? {
        n += 1;
        newest = Some(next);
    }
    if let Some(registry) = newest {
        return Ok(Loaded { registry });
    }
    // Nothing committed yet: start from an earlier deployer's registry, if there is one.
    let registry = match store.get(LEGACY_REGISTRY_KEY).await? {
        None => empty(),
        Some(obj) => {
            let mut legacy: Registry = serde_json::from_slice(&obj.bytes).with_context(|| {
                format!(
                    "{}/{LEGACY_REGISTRY_KEY} is not a registry",
                    store.describe()
                )
            })?;
            legacy.schema = REGISTRY_SCHEMA;
            legacy.generation = 0;
            legacy.changes.clear();
            legacy
        }
    };
    Ok(Loaded { registry })
}

/// Every snapshot, oldest first.
pub async fn history(store: &impl Store) -> Result<Vec<Registry>> {
    let newest = load(store).await?.registry.generation;
    let mut all = Vec::new();
    for n in 1..=newest {
        all.push(
            snapshot(store, n)
                .await?
                .with_context(|| format!("{}/{} is missing", store.describe(), snapshot_key(n)))?,
        );
    }
    Ok(all)
}

/// Writes `next` as the snapshot after `loaded`, create-only. `None`: someone else took that
/// number first; load again and retry.
pub async fn commit(
    store: &impl Store,
    loaded: &Loaded,
    mut next: Registry,
) -> Result<Option<Registry>> {
    next.schema = REGISTRY_SCHEMA;
    next.generation = loaded.registry.generation + 1;
    next.published_at = now();
    let mut bytes = serde_json::to_vec_pretty(&next)?;
    bytes.push(b'\n');
    match store
        .put(&snapshot_key(next.generation), bytes, PutMode::Create)
        .await?
    {
        PutOutcome::Conflict => Ok(None),
        PutOutcome::Written { .. } => {
            let head = serde_json::to_vec(&Head {
                schema: REGISTRY_SCHEMA,
                snapshot: next.generation,
            })?;
            store.put(HEAD_KEY, head, PutMode::Overwrite).await?;
            Ok(Some(next))
        }
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Unix seconds as `2026-11-29T13:44:28Z`.
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// One line per snapshot for `tessera-deploy history`.
pub fn describe_history(snapshots: &[Registry]) -> String {
    if snapshots.is_empty() {
        return "nothing is published\n".into();
    }
    snapshots
        .iter()
        .map(|s| {
            let changes: Vec<String> = s.changes.iter().map(|c| c.to_string()).collect();
            format!(
                "{:>5}  {}  {}\n",
                s.generation,
                utc(s.published_at),
                if changes.is_empty() {
                    "no change".into()
                } else {
                    changes.join(", ")
                }
            )
        })
        .collect()
}

/// A table of what is published, one line per app, for `tessera-deploy list`.
pub fn describe(registry: &Registry) -> String {
    fn line<T: Versioned>(name: &str, r: &Releases<T>) -> String {
        let previous: Vec<&str> = r.previous.iter().map(|p| p.manifest.version()).collect();
        format!(
            "{name:<28} {:<18} published {:<12} previous: {}\n",
            r.current.manifest.version(),
            r.current.published_at,
            if previous.is_empty() {
                "none".into()
            } else {
                previous.join(", ")
            }
        )
    }
    let mut out = format!("snapshot {}\n", registry.generation);
    if let Some(shell) = &registry.shell {
        out.push_str(&line(crate::package::SHELL_NAME, shell));
    }
    for (name, r) in &registry.apps {
        out.push_str(&line(name, r));
    }
    if registry.shell.is_none() && registry.apps.is_empty() {
        out.push_str("nothing is published\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct V(&'static str);
    impl Versioned for V {
        fn version(&self) -> &str {
            self.0
        }
    }
    fn rel(v: &'static str) -> Release<V> {
        Release {
            manifest: V(v),
            published_at: 0,
        }
    }
    fn versions(r: &Releases<V>) -> Vec<&str> {
        std::iter::once(&r.current)
            .chain(&r.previous)
            .map(|r| r.manifest.0)
            .collect()
    }

    #[test]
    fn history_is_newest_first_bounded_and_free_of_repeats() {
        let mut r = Releases::first(rel("a"));
        r.push(rel("a"));
        assert_eq!(versions(&r), ["a"]);
        for v in ["b", "c", "d", "e", "f", "g"] {
            r.push(rel(v));
        }
        assert_eq!(versions(&r), ["g", "f", "e", "d", "c", "b"]);
        r.push(rel("d"));
        assert_eq!(versions(&r), ["d", "g", "f", "e", "c", "b"]);
    }

    #[test]
    fn utc_formats_unix_seconds() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_795_873_468), "2026-11-28T13:44:28Z");
    }

    #[test]
    fn rollback_takes_the_previous_release_and_stops_at_the_first() {
        let mut r = Releases::first(rel("a"));
        r.push(rel("b"));
        r.roll_back().unwrap();
        assert_eq!(versions(&r), ["a"]);
        let err = r.roll_back().unwrap_err().to_string();
        assert!(err.contains("nothing to roll back to"), "{err}");
    }
}
