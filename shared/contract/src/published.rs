//! The published manifests the shell reads at start (the deployer merges them from the
//! shell's layout and every current `mfe.json`), and how the shell resolves a path with them.
//!
//! - `importmap.json`: a spec-valid import map (`imports`, `scopes`, `integrity`).
//! - `apps.json`: every app with its version and ABI, and a routes tree in the style of
//!   single-spa-layout (always-on apps, nested routes, a default route, a 404 target).
//! - `mount-points.json`: which apps render where, with the navigation metadata.

use crate::manifest::NavMeta;
use crate::routing::{Params, RoutePattern};
use crate::vec_map::VecMap;
use serde::{Deserialize, Serialize};

pub const PUBLISHED_SCHEMA: u32 = 1;

/// A spec-valid import map. `integrity` is keyed by resolved URL, as the spec has it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportMap {
    #[serde(default)]
    pub imports: VecMap<String, String>,
    #[serde(default, skip_serializing_if = "VecMap::is_empty")]
    pub scopes: VecMap<String, VecMap<String, String>>,
    #[serde(default, skip_serializing_if = "VecMap::is_empty")]
    pub integrity: VecMap<String, String>,
}

/// What the shell declares about its layout (`shell/shell.json`): the mount points it renders,
/// where `/` goes, and where the 404 page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShellLayout {
    pub schema: u32,
    pub mount_points: Vec<String>,
    pub default_route: String,
    pub not_found_mount_point: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppsManifest {
    pub schema: u32,
    pub apps: VecMap<String, AppEntry>,
    pub routes: RouteTree,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppEntry {
    pub version: String,
    pub abi: u32,
    /// The import-map specifier of the entry module.
    pub specifier: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parcels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bff: Option<String>,
    /// URLs of the bundle's other files that loading the entry fetches (its wasm, its JS
    /// snippets), so the shell can request them alongside the entry instead of one after another.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preload: Vec<String>,
    /// Versions being tried out by some users before everyone gets them; the first whose rule
    /// admits the user wins (`cohort::choose`). Empty: everyone gets `version`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cohorts: Vec<crate::cohort::CohortEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteTree {
    /// Apps mounted on every route.
    pub always: Vec<MountedApp>,
    pub routes: Vec<RouteNode>,
    /// Where `/` redirects when no route claims it.
    pub default: String,
    /// The mount point the shell's "not found" page renders into.
    pub not_found: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MountedApp {
    pub app: String,
    pub mount_point: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteNode {
    pub path: String,
    pub app: String,
    pub mount_point: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteNode>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MountPointsManifest {
    pub schema: u32,
    pub mount_points: Vec<MountPoint>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MountPoint {
    pub name: String,
    pub apps: Vec<String>,
    pub navigation: Vec<NavLink>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NavLink {
    pub app: String,
    /// Nested rather than flattened: `#[serde(flatten)]` costs every app's wasm a buffering
    /// deserializer.
    pub meta: NavMeta,
}

impl MountPointsManifest {
    /// Every navigation entry across mount points, in menu order.
    pub fn navigation(&self) -> Vec<NavLink> {
        let mut all: Vec<NavLink> = self
            .mount_points
            .iter()
            .flat_map(|mp| mp.navigation.iter().cloned())
            .collect();
        crate::vec_map::sort_short_by(&mut all, |a, b| {
            (a.meta.order, &a.meta.label).cmp(&(b.meta.order, &b.meta.label))
        });
        all
    }
}

/// The three published manifests.
#[derive(Clone, Debug, PartialEq)]
pub struct Published {
    pub import_map: ImportMap,
    pub apps: AppsManifest,
    pub mount_points: MountPointsManifest,
}

/// One app the shell should have mounted for a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activated {
    pub app: String,
    pub mount_point: String,
    /// The route prefix that activated it (empty for always-on apps).
    pub base_path: String,
    pub params: Params,
}

/// What the shell shows for a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Mount exactly these apps (always-on first, then routed apps outermost first).
    Show(Vec<Activated>),
    /// Replace the URL with this one (`/` → the default route).
    Redirect(String),
    /// No route claims the path: always-on apps, plus the 404 page in this mount point.
    NotFound {
        always: Vec<Activated>,
        mount_point: String,
    },
}

impl RouteTree {
    pub fn resolve(&self, path: &str) -> Resolution {
        let always: Vec<Activated> = self
            .always
            .iter()
            .map(|a| Activated {
                app: a.app.clone(),
                mount_point: a.mount_point.clone(),
                base_path: String::new(),
                params: Params::new(),
            })
            .collect();
        let mut routed = Vec::new();
        collect_matches(&self.routes, path, &mut routed);
        if !routed.is_empty() {
            let mut all = always;
            all.extend(routed);
            return Resolution::Show(all);
        }
        let is_root = RoutePattern::parse("/")
            .map(|root| root.match_prefix(path).is_some())
            .unwrap_or(false);
        if is_root && self.default != "/" {
            return Resolution::Redirect(self.default.clone());
        }
        Resolution::NotFound {
            always,
            mount_point: self.not_found.clone(),
        }
    }
}

fn collect_matches(nodes: &[RouteNode], path: &str, out: &mut Vec<Activated>) {
    for node in nodes {
        let Ok(pattern) = RoutePattern::parse(&node.path) else {
            continue;
        };
        if let Some(params) = pattern.match_prefix(path) {
            out.push(Activated {
                app: node.app.clone(),
                mount_point: node.mount_point.clone(),
                base_path: node.path.trim_end_matches('/').to_string(),
                params,
            });
            collect_matches(&node.routes, path, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(path: &str, app: &str) -> RouteNode {
        RouteNode {
            path: path.into(),
            app: app.into(),
            mount_point: "main".into(),
            routes: Vec::new(),
        }
    }

    fn shown(tree: &RouteTree, path: &str) -> Vec<String> {
        match tree.resolve(path) {
            Resolution::Show(apps) => apps.into_iter().map(|a| a.app).collect(),
            other => vec![format!("{other:?}")],
        }
    }

    #[test]
    fn a_path_with_dot_segments_shows_what_its_url_points_at() {
        let mut admin = node("/admin", "@t/admin");
        admin.routes.push(node("/admin/:id", "@t/admin-detail"));
        let tree = RouteTree {
            always: Vec::new(),
            routes: vec![admin, node("/cart", "@t/cart")],
            default: "/cart".into(),
            not_found: "main".into(),
        };
        assert_eq!(shown(&tree, "/admin/../cart"), ["@t/cart"]);
        assert_eq!(shown(&tree, "/admin/%2e%2e/cart"), ["@t/cart"]);
        assert_eq!(shown(&tree, "/cart/../admin"), ["@t/admin"]);
        // `..` is never an id: `/admin/..` is `/`, which goes to the default route.
        assert_eq!(shown(&tree, "/admin/.."), ["Redirect(\"/cart\")"]);
        assert_eq!(shown(&tree, "/admin/%2E%2E"), ["Redirect(\"/cart\")"]);
        assert_eq!(shown(&tree, "/admin/7"), ["@t/admin", "@t/admin-detail"]);
        assert_eq!(shown(&tree, "/admin/..%2Fcart"), ["@t/admin"]);
    }
}
