//! The service worker's decisions, as plain Rust: which strategy serves a request, and which
//! URLs make one precache set (and the set's cache name). The browser side
//! (`service-worker/`) only carries these decisions out, so they are tested here natively.

use tessera_contract::VecMap;

/// Manifests the deployer rewrites on every publish (`no-cache` at the CDN).
pub const MANIFEST_URLS: [&str; 3] = ["/importmap.json", "/apps.json", "/mount-points.json"];
/// `index.html` is precached under the site root, the PWA's `start_url`.
pub const PAGE_URL: &str = "/";
pub const WEB_MANIFEST_URL: &str = "/manifest.webmanifest";
/// The worker script itself: the browser fetches it for update checks; never from a cache.
pub const WORKER_URL: &str = "/sw.js";
/// How long a network-first request waits for the network before answering from the cache.
pub const NETWORK_TIMEOUT_MS: i32 = 3_000;
/// BFF queries that never go through the read-through cache: the heartbeat, and the event log
/// and its live feed, which are about what is new (an old answer would be wrong, not stale).
pub const UNCACHED_API: [&str; 4] = ["/api/health", "/api/events", "/api/live", "/api/live/poll"];
/// Every precache set's cache is named `tessera-set-<hash>`; `prune_sets` decides which go.
pub const SET_CACHE_PREFIX: &str = "tessera-set-";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Content-addressed bundle files: they never change, so a cached copy is always right.
    CacheFirst,
    /// Manifests, `index.html`, the web app manifest: fresh when the network answers in time.
    NetworkFirst,
    /// A page navigation to an app route: the network's page, or the cached `index.html`.
    Navigation,
    /// A BFF query (`GET /api/…`): answered through the read-through cache in IndexedDB
    /// (`read_through`), so it has an answer offline.
    Api,
    /// Anything else (other methods, other origins, the worker script): not touched.
    PassThrough,
}

impl Strategy {
    /// Whether the worker answers the request itself (`respondWith`) or lets the browser go
    /// to the network as if there were no worker.
    pub fn handled(self) -> bool {
        matches!(
            self,
            Strategy::CacheFirst | Strategy::NetworkFirst | Strategy::Navigation | Strategy::Api
        )
    }
}

/// The strategy for a request. `path` is the URL's path (no query); `navigate` is true for a
/// request whose mode is `navigate`.
pub fn strategy(method: &str, same_origin: bool, path: &str, navigate: bool) -> Strategy {
    if !same_origin || !method.eq_ignore_ascii_case("GET") {
        return Strategy::PassThrough;
    }
    if is_api(path) {
        // The heartbeat measures the BFF itself and the event log is read by cursor: an
        // answer from a cache would be a lie for both.
        if UNCACHED_API.contains(&path) {
            return Strategy::PassThrough;
        }
        return Strategy::Api;
    }
    if path == WORKER_URL {
        return Strategy::PassThrough;
    }
    if is_bundle_file(path) {
        return Strategy::CacheFirst;
    }
    if MANIFEST_URLS.contains(&path) || path == WEB_MANIFEST_URL || path == "/index.html" {
        return Strategy::NetworkFirst;
    }
    if navigate && is_app_route(path) {
        return Strategy::Navigation;
    }
    Strategy::PassThrough
}

/// A path of the BFF's API.
pub fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// `/<@scope>/<app>/<hex version>/<file…>`: a file of a published bundle.
pub fn is_bundle_file(path: &str) -> bool {
    let mut parts = path.strip_prefix('/').unwrap_or("").splitn(4, '/');
    let (Some(scope), Some(app), Some(version), Some(file)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    scope.len() > 1
        && scope.starts_with('@')
        && !app.is_empty()
        && version.len() >= 8
        && version.bytes().all(|b| b.is_ascii_hexdigit())
        && !file.is_empty()
        && !file.ends_with('/')
}

/// A path the CDN answers with `index.html`: its last segment has no extension.
fn is_app_route(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or("");
    !last.contains('.')
}

/// One installable set: everything the site needs offline, cached together or not at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrecacheSet {
    /// `tessera-set-<16 hex digits>`, a hash of the bundle URLs (which carry content hashes).
    pub name: String,
    /// The page, the manifests and every bundle file, sorted, without duplicates.
    pub urls: Vec<String>,
}

/// The precache set for a shell release and the published manifests: the shell's own files,
/// each app's entry (from `importmap.json`) and its preloads (from `apps.json`). Entries on
/// other origins are left to the browser: the worker only caches this origin.
pub fn precache_set<'a>(
    shell_files: impl IntoIterator<Item = &'a str>,
    app_entries: impl IntoIterator<Item = &'a str>,
    app_preloads: impl IntoIterator<Item = &'a str>,
) -> PrecacheSet {
    let mut bundles: Vec<String> = shell_files
        .into_iter()
        .chain(app_entries)
        .chain(app_preloads)
        .filter(|u| u.starts_with('/') && !u.starts_with("//"))
        .map(str::to_string)
        .collect();
    bundles.sort();
    bundles.dedup();
    let name = format!("{SET_CACHE_PREFIX}{:016x}", fnv1a(&bundles));
    let mut urls: Vec<String> = [PAGE_URL, WEB_MANIFEST_URL]
        .into_iter()
        .chain(MANIFEST_URLS)
        .map(str::to_string)
        .chain(bundles)
        .collect();
    urls.sort();
    urls.dedup();
    PrecacheSet { name, urls }
}

/// FNV-1a over the URLs, each terminated by a newline: small, stable across builds and
/// platforms, and enough to tell sets apart (the URLs themselves carry SHA-256 prefixes).
fn fnv1a(urls: &[String]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in urls.iter().flat_map(|u| u.bytes().chain([b'\n'])) {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Whether `needed` more bytes fit in the origin's storage (`navigator.storage.estimate()`),
/// keeping a tenth of the quota free for the outbox and the read-through cache.
pub fn quota_allows(usage: f64, quota: f64, needed: f64) -> bool {
    usage + needed <= quota * 0.9
}

/// What pruning leaves: the set caches to delete, and the page → set records still worth
/// keeping.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruning {
    pub delete: Vec<String>,
    pub records: VecMap<String, String>,
}

/// Which set caches can go. A page keeps the set it started with until it reloads: its
/// import map points at that set's bundle URLs, and a lazy load offline must still find them.
///
/// - `cache_names`: every cache of the origin; only `tessera-set-*` ones are considered.
/// - `current`: the active worker's set, never deleted.
/// - `live_clients`: the ids of every window client that exists now.
/// - `records`: client id → the set the worker answered its navigation from.
/// - `newer_worker_pending`: a worker is installing or waiting; its set is in the cache names
///   but in no record, so nothing is deleted until it activates or is discarded.
///
/// A live client with no record (a page loaded before any worker, or whose record was lost)
/// could use any set, so then nothing is deleted either. Records of clients that are gone are
/// dropped.
pub fn prune_sets<'a>(
    cache_names: impl IntoIterator<Item = &'a str>,
    current: &str,
    live_clients: &[&str],
    records: &VecMap<String, String>,
    newer_worker_pending: bool,
) -> Pruning {
    let records: VecMap<String, String> = records
        .iter()
        .filter(|(client, _)| live_clients.contains(&client.as_str()))
        .map(|(c, s)| (c.clone(), s.clone()))
        .collect();
    let unknown_client = live_clients.iter().any(|c| !records.contains_key(*c));
    if newer_worker_pending || unknown_client {
        return Pruning {
            delete: Vec::new(),
            records,
        };
    }
    let mut delete: Vec<String> = cache_names
        .into_iter()
        .filter(|n| n.starts_with(SET_CACHE_PREFIX) && *n != current)
        .filter(|n| !records.values().any(|used| used == n))
        .map(str::to_string)
        .collect();
    delete.sort();
    delete.dedup();
    Pruning { delete, records }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = "/@tessera/cart/0123456789abcdef/cart.js";

    #[test]
    fn bundle_files_are_cache_first() {
        assert_eq!(strategy("GET", true, ENTRY, false), Strategy::CacheFirst);
        let snippet = "/@tessera/shell/0123456789abcdef/snippets/x-1/inline0.js";
        assert_eq!(strategy("GET", true, snippet, false), Strategy::CacheFirst);
        // Not a version: too short, or not hex.
        assert!(!is_bundle_file("/@tessera/cart/abc/cart.js"));
        assert!(!is_bundle_file("/@tessera/cart/0123456789abcdeg/cart.js"));
        assert!(!is_bundle_file("/tessera/cart/0123456789abcdef/cart.js"));
        assert!(!is_bundle_file("/@tessera/cart/0123456789abcdef/"));
        assert!(!is_bundle_file("/@tessera/cart/mfe.json"));
    }

    #[test]
    fn manifests_and_the_page_are_network_first() {
        for path in MANIFEST_URLS
            .into_iter()
            .chain(["/index.html", "/manifest.webmanifest"])
        {
            assert_eq!(
                strategy("GET", true, path, false),
                Strategy::NetworkFirst,
                "{path}"
            );
        }
    }

    #[test]
    fn navigations_to_app_routes_fall_back_to_the_page() {
        for path in ["/", "/cart", "/restaurants/pho-corner"] {
            assert_eq!(
                strategy("GET", true, path, true),
                Strategy::Navigation,
                "{path}"
            );
        }
        // Same paths fetched by a script are not navigations.
        assert_eq!(strategy("GET", true, "/cart", false), Strategy::PassThrough);
        // A navigation to a file is not an app route.
        assert_eq!(
            strategy("GET", true, "/robots.txt", true),
            Strategy::PassThrough
        );
    }

    #[test]
    fn bff_queries_are_read_through_other_methods_origins_and_the_worker_pass_through() {
        assert_eq!(strategy("GET", true, "/api/cart", false), Strategy::Api);
        assert_eq!(strategy("GET", true, "/api", true), Strategy::Api);
        assert!(Strategy::Api.handled());
        assert_eq!(
            strategy("GET", true, "/api/health", false),
            Strategy::PassThrough
        );
        assert_eq!(
            strategy("GET", true, "/api/events", false),
            Strategy::PassThrough
        );
        assert_eq!(
            strategy("GET", true, "/api/live/poll", false),
            Strategy::PassThrough
        );
        assert_eq!(
            strategy("PUT", true, "/api/cart/items/x", false),
            Strategy::PassThrough
        );
        assert_eq!(strategy("PUT", true, ENTRY, false), Strategy::PassThrough);
        assert_eq!(strategy("POST", true, "/cart", true), Strategy::PassThrough);
        assert_eq!(strategy("GET", false, ENTRY, false), Strategy::PassThrough);
        assert_eq!(
            strategy("GET", true, "/sw.js", false),
            Strategy::PassThrough
        );
        assert_eq!(strategy("get", true, ENTRY, false), Strategy::CacheFirst);
        assert!(Strategy::CacheFirst.handled() && Strategy::Navigation.handled());
    }

    fn set(shell: &[&str], entries: &[&str], preloads: &[&str]) -> PrecacheSet {
        precache_set(
            shell.iter().copied(),
            entries.iter().copied(),
            preloads.iter().copied(),
        )
    }

    #[test]
    fn a_set_holds_the_page_manifests_and_every_bundle_file_once() {
        let shell = ["/@tessera/shell/1111111111111111/shell.js"];
        let wasm = "/@tessera/cart/0123456789abcdef/cart_bg.wasm";
        let s = set(
            &shell,
            &[ENTRY, "https://cdn.example.com/@x/y/0123456789abcdef/y.js"],
            &[wasm, wasm],
        );
        assert_eq!(
            s.urls,
            vec![
                "/",
                "/@tessera/cart/0123456789abcdef/cart.js",
                "/@tessera/cart/0123456789abcdef/cart_bg.wasm",
                "/@tessera/shell/1111111111111111/shell.js",
                "/apps.json",
                "/importmap.json",
                "/manifest.webmanifest",
                "/mount-points.json",
            ]
        );
        assert!(
            s.name.starts_with(SET_CACHE_PREFIX) && s.name.len() == SET_CACHE_PREFIX.len() + 16
        );
    }

    #[test]
    fn the_set_name_is_stable_and_changes_with_any_bundle() {
        let shell = ["/@tessera/shell/1111111111111111/shell.js"];
        let a = set(
            &shell,
            &[ENTRY],
            &["/@tessera/cart/0123456789abcdef/cart_bg.wasm"],
        );
        // Same files in another order: same set.
        let b = set(
            &shell,
            &[ENTRY],
            &["/@tessera/cart/0123456789abcdef/cart_bg.wasm"],
        );
        assert_eq!(a, b);
        let reordered = precache_set(
            [ENTRY],
            ["/@tessera/cart/0123456789abcdef/cart_bg.wasm"],
            shell,
        );
        assert_eq!(a.name, reordered.name);
        // A new cart build, a new shell, or one more app: another set.
        let cart2 = set(&shell, &["/@tessera/cart/fedcba9876543210/cart.js"], &[]);
        let shell2 = set(
            &["/@tessera/shell/2222222222222222/shell.js"],
            &[ENTRY],
            &[],
        );
        let more = set(
            &shell,
            &[ENTRY, "/@tessera/nav/0123456789abcdef/nav.js"],
            &[],
        );
        let names = [&a.name, &cart2.name, &shell2.name, &more.name];
        for (i, x) in names.iter().enumerate() {
            for y in &names[i + 1..] {
                assert_ne!(x, y);
            }
        }
    }

    #[test]
    fn quota_keeps_a_margin() {
        assert!(quota_allows(0.0, 1000.0, 900.0));
        assert!(!quota_allows(100.0, 1000.0, 850.0));
        assert!(!quota_allows(0.0, 0.0, 1.0));
    }

    fn records(pairs: &[(&str, &str)]) -> VecMap<String, String> {
        pairs
            .iter()
            .map(|(c, s)| (c.to_string(), s.to_string()))
            .collect()
    }

    const OLD: &str = "tessera-set-0000000000000001";
    const NEW: &str = "tessera-set-0000000000000002";
    const CACHES: [&str; 4] = [OLD, NEW, "tessera-meta", "other-library-cache"];

    #[test]
    fn a_set_an_open_page_started_with_stays() {
        let r = records(&[("a", OLD), ("b", NEW)]);
        let p = prune_sets(CACHES, NEW, &["a", "b"], &r, false);
        assert_eq!(p.delete, Vec::<String>::new());
        assert_eq!(p.records, r);
    }

    #[test]
    fn a_set_no_page_uses_goes_and_records_of_closed_pages_are_dropped() {
        let r = records(&[("a", OLD), ("b", NEW), ("c", NEW)]);
        let p = prune_sets(CACHES, NEW, &["b"], &r, false);
        assert_eq!(p.delete, vec![OLD.to_string()]);
        assert_eq!(p.records, records(&[("b", NEW)]));
        // No page at all: only the current set stays; other caches are never touched.
        let p = prune_sets(CACHES, NEW, &[], &r, false);
        assert_eq!(p.delete, vec![OLD.to_string()]);
        assert!(p.records.is_empty());
    }

    #[test]
    fn the_current_set_stays_even_when_no_page_records_it() {
        let p = prune_sets(CACHES, OLD, &["a"], &records(&[("a", NEW)]), false);
        assert_eq!(p.delete, Vec::<String>::new());
    }

    #[test]
    fn a_page_without_a_record_keeps_every_set() {
        let r = records(&[("a", NEW), ("gone", OLD)]);
        let p = prune_sets(CACHES, NEW, &["a", "unrecorded"], &r, false);
        assert_eq!(p.delete, Vec::<String>::new());
        assert_eq!(p.records, records(&[("a", NEW)]));
    }

    #[test]
    fn a_pending_worker_keeps_its_freshly_installed_set() {
        // The active worker serves OLD; NEW was just installed by a waiting worker.
        let r = records(&[("a", OLD)]);
        let p = prune_sets(CACHES, OLD, &["a"], &r, true);
        assert_eq!(p.delete, Vec::<String>::new());
        assert_eq!(p.records, r);
    }
}
