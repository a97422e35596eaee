//! The deployer's record of what is published: the current shell and every current app, each
//! with the releases before it (for rollback). It is the one object publishers change with a
//! conditional write; the public manifests are derived from it.

use crate::package::ShellManifest;
use crate::store::{PutMode, PutOutcome, Store};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tessera_shared::MfeManifest;

pub const REGISTRY_KEY: &str = "_tessera/registry.json";
pub const REGISTRY_SCHEMA: u32 = 1;
/// Releases kept per app besides the current one.
pub const HISTORY: usize = 5;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registry {
    pub schema: u32,
    /// Grows by one with every committed change; published manifests follow the newest.
    pub generation: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Releases<ShellManifest>>,
    #[serde(default)]
    pub apps: BTreeMap<String, Releases<MfeManifest>>,
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

/// The registry as read, with the ETag a conditional write must match (`None`: not yet created).
pub struct Loaded {
    pub registry: Registry,
    pub etag: Option<String>,
}

pub async fn load(store: &impl Store) -> Result<Loaded> {
    match store.get(REGISTRY_KEY).await? {
        None => Ok(Loaded {
            registry: Registry {
                schema: REGISTRY_SCHEMA,
                ..Registry::default()
            },
            etag: None,
        }),
        Some(obj) => {
            let registry: Registry = serde_json::from_slice(&obj.bytes).with_context(|| {
                format!("{}/{REGISTRY_KEY} is not a registry", store.describe())
            })?;
            if registry.schema != REGISTRY_SCHEMA {
                bail!(
                    "{}/{REGISTRY_KEY} has schema {}; this deployer speaks {REGISTRY_SCHEMA}",
                    store.describe(),
                    registry.schema
                );
            }
            Ok(Loaded {
                registry,
                etag: Some(obj.etag),
            })
        }
    }
}

/// Writes `next` as the following generation, only if the registry is still the one `loaded`
/// read. `None`: someone else committed first; reload and try again.
pub async fn commit(
    store: &impl Store,
    loaded: &Loaded,
    mut next: Registry,
) -> Result<Option<Registry>> {
    next.generation = loaded.registry.generation + 1;
    let mut bytes = serde_json::to_vec_pretty(&next)?;
    bytes.push(b'\n');
    let mode = match &loaded.etag {
        None => PutMode::Create,
        Some(etag) => PutMode::Update(etag.clone()),
    };
    Ok(match store.put(REGISTRY_KEY, bytes, mode).await? {
        PutOutcome::Written { .. } => Some(next),
        PutOutcome::Conflict => None,
    })
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
    let mut out = format!("generation {}\n", registry.generation);
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
    fn rollback_takes_the_previous_release_and_stops_at_the_first() {
        let mut r = Releases::first(rel("a"));
        r.push(rel("b"));
        r.roll_back().unwrap();
        assert_eq!(versions(&r), ["a"]);
        let err = r.roll_back().unwrap_err().to_string();
        assert!(err.contains("nothing to roll back to"), "{err}");
    }
}
