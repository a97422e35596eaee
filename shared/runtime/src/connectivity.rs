//! What the status bar says about the connection. It is measured by a heartbeat to the BFF
//! rather than taken from `navigator.onLine`, which says "online" behind a captive portal or
//! with the server down; the browser's "offline" is trusted at once, since it is never wrong.

use serde::{Deserialize, Serialize};

/// Bus topic and event type the shell announces changes with; `data` is [`Connectivity`].
pub const TOPIC: &str = "connectivity";
pub const CHANGED: &str = "connectivity.changed";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Link {
    /// No heartbeat has answered or failed yet.
    #[default]
    Checking,
    /// The last heartbeat reached the BFF.
    Connected,
    /// The browser has a network, but the BFF did not answer.
    Unreachable,
    /// The browser has no network.
    Offline,
}

impl Link {
    pub fn as_str(self) -> &'static str {
        match self {
            Link::Checking => "checking",
            Link::Connected => "connected",
            Link::Unreachable => "unreachable",
            Link::Offline => "offline",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connectivity {
    pub link: Link,
    /// When the BFF last answered (Unix ms).
    pub last_contact_ms: Option<u64>,
}

impl Connectivity {
    /// Records a heartbeat answer; `true` when what the user should see changed.
    pub fn heartbeat_ok(&mut self, now_ms: u64) -> bool {
        let changed = self.link != Link::Connected;
        self.link = Link::Connected;
        self.last_contact_ms = Some(now_ms);
        changed
    }

    /// Records a heartbeat that got no answer.
    pub fn heartbeat_failed(&mut self, browser_online: bool) -> bool {
        self.set(if browser_online {
            Link::Unreachable
        } else {
            Link::Offline
        })
    }

    /// The browser says it lost its network.
    pub fn browser_offline(&mut self) -> bool {
        self.set(Link::Offline)
    }

    fn set(&mut self, link: Link) -> bool {
        let changed = self.link != link;
        self.link = link;
        changed
    }

    /// The status bar's text.
    pub fn label(&self, now_ms: u64) -> String {
        let last = self
            .last_contact_ms
            .map(|t| format!(" · last contact {}", age(now_ms.saturating_sub(t))))
            .unwrap_or_default();
        match self.link {
            Link::Checking => "Checking the connection…".into(),
            Link::Connected => "Connected".into(),
            Link::Unreachable => format!("Server unreachable · showing saved data{last}"),
            Link::Offline => format!("Offline · showing saved data{last}"),
        }
    }
}

pub use tessera_contract::bff::age;

/// The data on screen since the last navigation that came from the device's saved copy, by
/// query path, with when the server last confirmed each (from `data.loaded` bus events).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SavedOnScreen {
    saved: tessera_contract::VecMap<String, Option<u64>>,
}

impl SavedOnScreen {
    /// A query's data arrived: a saved copy is noted, live data replaces the saved copy.
    pub fn loaded(&mut self, path: &str, freshness: tessera_contract::bff::Freshness) {
        if freshness.from_cache {
            self.saved.insert(path.to_string(), freshness.as_of_ms);
        } else {
            self.saved.remove(path);
        }
    }

    /// The user moved to another page: what was on screen is gone.
    pub fn clear(&mut self) {
        self.saved.clear();
    }

    /// "Data from 5 min ago" after the oldest saved copy on screen; `None` when all is live.
    pub fn label(&self, now_ms: u64) -> Option<String> {
        if self.saved.is_empty() {
            return None;
        }
        let oldest = self.saved.values().flatten().min();
        Some(match oldest {
            Some(t) => format!("data from {}", age(now_ms.saturating_sub(*t))),
            None => "saved data".to_string(),
        })
    }
}

/// Bringing the device's saved copy up to date with the server (today the read-ahead of the
/// offline set; the outbox's replay reports here too): whether a sync runs now, when one last
/// completed, and why the last one failed if it did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncState {
    pub running: bool,
    /// When a sync last completed (Unix ms); kept across restarts by the shell.
    pub last_ok_ms: Option<u64>,
    pub failure: Option<String>,
}

impl SyncState {
    pub fn started(&mut self) {
        self.running = true;
    }

    pub fn succeeded(&mut self, at_ms: u64) {
        self.running = false;
        self.last_ok_ms = Some(at_ms);
        self.failure = None;
    }

    pub fn failed(&mut self, why: String) {
        self.running = false;
        self.failure = Some(why);
    }

    /// The status bar's text.
    pub fn label(&self, now_ms: u64) -> String {
        let last = self.last_ok_ms.map(|t| age(now_ms.saturating_sub(t)));
        match (self.running, &self.failure, last) {
            (true, _, _) => "Syncing…".into(),
            (false, Some(_), Some(last)) => format!("Sync failed · last synced {last}"),
            (false, Some(_), None) => "Sync failed".into(),
            (false, None, Some(last)) => format!("Synced {last}"),
            (false, None, None) => "Not synced yet".into(),
        }
    }
}

/// The status bar's name for the version set a page runs: the short hash of its precache set
/// (`tessera-set-<hash>`) once a service worker serves it, else of the shell release alone,
/// since nothing is saved for offline use yet.
pub fn version_label(set: Option<&str>, shell_version: &str) -> String {
    const SHORT: usize = 8;
    match set.and_then(|s| s.strip_prefix("tessera-set-")) {
        Some(hash) => format!("Version {}", &hash[..hash.len().min(SHORT)]),
        None => format!(
            "Version {} · not saved for offline use",
            &shell_version[..shell_version.len().min(SHORT)]
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heartbeat_not_the_browser_says_connected() {
        let mut c = Connectivity::default();
        assert_eq!(c.label(0), "Checking the connection…");
        assert!(c.heartbeat_ok(1_000));
        assert!(
            !c.heartbeat_ok(2_000),
            "a second answer changes nothing the user sees"
        );
        assert_eq!(c.last_contact_ms, Some(2_000));
        assert_eq!(c.label(2_000), "Connected");
        // Online by the browser's account, but the server is down.
        assert!(c.heartbeat_failed(true));
        assert_eq!(c.link, Link::Unreachable);
        assert_eq!(
            c.label(47_000),
            "Server unreachable · showing saved data · last contact 45 s ago"
        );
        assert!(c.browser_offline());
        assert!(!c.heartbeat_failed(false));
        assert_eq!(
            c.label(182_000),
            "Offline · showing saved data · last contact 3 min ago"
        );
        assert!(c.heartbeat_ok(200_000));
        assert_eq!(c.link, Link::Connected);
    }

    #[test]
    fn ages_read_as_people_say_them() {
        assert_eq!(age(0), "just now");
        assert_eq!(age(4_999), "just now");
        assert_eq!(age(5_000), "5 s ago");
        assert_eq!(age(60_000), "1 min ago");
        assert_eq!(age(7_200_000), "2 h ago");
        assert_eq!(age(86_400_000), "1 day ago");
        assert_eq!(age(3 * 86_400_000), "3 days ago");
    }

    #[test]
    fn links_serialise_in_kebab_case() {
        let c = Connectivity {
            link: Link::Unreachable,
            last_contact_ms: Some(5),
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"link":"unreachable","lastContactMs":5}"#
        );
        assert_eq!(Link::Offline.as_str(), "offline");
    }

    #[test]
    fn the_oldest_saved_copy_on_screen_is_what_the_bar_reports() {
        use tessera_contract::bff::Freshness;
        let saved = |t| Freshness {
            as_of_ms: Some(t),
            from_cache: true,
        };
        let mut on = SavedOnScreen::default();
        assert_eq!(on.label(0), None);
        on.loaded("/api/cart", saved(240_000));
        on.loaded("/api/restaurants", saved(60_000));
        assert_eq!(on.label(360_000).as_deref(), Some("data from 5 min ago"));
        // The older copy is replaced by live data: the newer saved copy is what is left.
        on.loaded("/api/restaurants", Freshness::default());
        assert_eq!(on.label(360_000).as_deref(), Some("data from 2 min ago"));
        on.clear();
        assert_eq!(on.label(360_000), None);
        on.loaded(
            "/api/cart",
            Freshness {
                as_of_ms: None,
                from_cache: true,
            },
        );
        assert_eq!(on.label(1).as_deref(), Some("saved data"));
    }
    #[test]
    fn the_sync_label_says_running_done_or_failed_with_the_last_success() {
        let mut s = SyncState::default();
        assert_eq!(s.label(0), "Not synced yet");
        s.started();
        assert_eq!(s.label(0), "Syncing…");
        s.failed("HTTP 503".into());
        assert_eq!(s.label(0), "Sync failed");
        s.started();
        s.succeeded(60_000);
        assert_eq!(s.label(240_000), "Synced 3 min ago");
        s.failed("offline".into());
        assert_eq!(s.label(240_000), "Sync failed · last synced 3 min ago");
        assert_eq!(
            s.last_ok_ms,
            Some(60_000),
            "a failure keeps the last success"
        );
        s.succeeded(300_000);
        assert_eq!((s.failure, s.running), (None, false));
    }

    #[test]
    fn the_version_is_the_precache_set_once_saved() {
        assert_eq!(
            version_label(Some("tessera-set-0123456789abcdef"), "fedcba9876543210"),
            "Version 01234567"
        );
        assert_eq!(
            version_label(None, "fedcba9876543210"),
            "Version fedcba98 · not saved for offline use"
        );
        assert_eq!(
            version_label(Some("other"), "dev"),
            "Version dev · not saved for offline use"
        );
    }
}
