//! The micro-app lifecycle: the props the shell hands to an app and the status machine the
//! shell keeps per app (the single-spa states).

use serde::{Deserialize, Serialize};
use std::fmt;

pub use crate::abi::{ABI_VERSION, SUPPORTED_ABIS};

/// The signed-in user as the shell sees it; anonymous until sign-in exists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub user_name: Option<String>,
    pub id_token: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

impl Session {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// What the shell passes to `bootstrap`, `mount` and `update`. Apps must ignore fields they do
/// not know, so the shell can add fields without an ABI change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Props {
    /// The app's manifest name, e.g. `@tessera/cart`.
    pub name: String,
    /// The route prefix the app owns (`/cart`); empty for always-on apps and parcels.
    pub base_path: String,
    pub abi: u32,
    pub session: Session,
    /// Parameters of the matched route (`:id` → `id`).
    #[serde(default)]
    pub params: crate::routing::Params,
    /// The navigation entries of every mount point, in menu order.
    #[serde(default)]
    pub navigation: Vec<crate::published::NavLink>,
    /// App-specific data, e.g. a parcel's input.
    #[serde(default)]
    pub data: serde_json::Value,
    /// The app's BFF base path from its manifest (`/api/cart`), so a deployment can move it.
    #[serde(default)]
    pub bff: Option<String>,
}

/// The status of one registered app, as single-spa names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AppStatus {
    NotLoaded,
    Loading,
    NotBootstrapped,
    Bootstrapping,
    NotMounted,
    Mounting,
    Mounted,
    Unmounting,
    /// Loading failed; retried on the next activation and when the browser comes back online.
    LoadError,
    /// A lifecycle function threw; the app is skipped until the page reloads.
    Broken,
}

/// What happened to an app; the status machine decides where that leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LifecycleEvent {
    LoadStarted,
    Loaded,
    LoadFailed,
    BootstrapStarted,
    Bootstrapped,
    MountStarted,
    Mounted,
    UnmountStarted,
    Unmounted,
    /// A lifecycle function (bootstrap, mount, unmount, update) threw or rejected.
    LifecycleFailed,
    /// The shell will not run the app (an ABI it does not speak, missing lifecycle exports).
    Refused,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidTransition {
    pub from: AppStatus,
    pub event: LifecycleEvent,
}

impl fmt::Display for InvalidTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "event {} is not valid in status {}",
            self.event.name(),
            self.from
        )
    }
}

impl std::error::Error for InvalidTransition {}

impl LifecycleEvent {
    /// The event's name as written here (`LoadStarted`), without `Debug`'s formatting code
    /// in the shell.
    pub fn name(self) -> &'static str {
        match self {
            LifecycleEvent::LoadStarted => "LoadStarted",
            LifecycleEvent::Loaded => "Loaded",
            LifecycleEvent::LoadFailed => "LoadFailed",
            LifecycleEvent::BootstrapStarted => "BootstrapStarted",
            LifecycleEvent::Bootstrapped => "Bootstrapped",
            LifecycleEvent::MountStarted => "MountStarted",
            LifecycleEvent::Mounted => "Mounted",
            LifecycleEvent::UnmountStarted => "UnmountStarted",
            LifecycleEvent::Unmounted => "Unmounted",
            LifecycleEvent::LifecycleFailed => "LifecycleFailed",
            LifecycleEvent::Refused => "Refused",
        }
    }
}

impl AppStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AppStatus::NotLoaded => "NOT_LOADED",
            AppStatus::Loading => "LOADING",
            AppStatus::NotBootstrapped => "NOT_BOOTSTRAPPED",
            AppStatus::Bootstrapping => "BOOTSTRAPPING",
            AppStatus::NotMounted => "NOT_MOUNTED",
            AppStatus::Mounting => "MOUNTING",
            AppStatus::Mounted => "MOUNTED",
            AppStatus::Unmounting => "UNMOUNTING",
            AppStatus::LoadError => "LOAD_ERROR",
            AppStatus::Broken => "BROKEN",
        }
    }

    /// The next status, or an error for an event that cannot happen in this status (a shell bug).
    pub fn next(self, event: LifecycleEvent) -> Result<AppStatus, InvalidTransition> {
        use AppStatus as S;
        use LifecycleEvent as E;
        let next = match (self, event) {
            (S::NotLoaded | S::LoadError, E::LoadStarted) => S::Loading,
            (S::Loading, E::Loaded) => S::NotBootstrapped,
            (S::Loading, E::LoadFailed) => S::LoadError,
            (S::NotBootstrapped, E::BootstrapStarted) => S::Bootstrapping,
            (S::Bootstrapping, E::Bootstrapped) => S::NotMounted,
            (S::NotMounted, E::MountStarted) => S::Mounting,
            (S::Mounting, E::Mounted) => S::Mounted,
            (S::Mounted, E::UnmountStarted) => S::Unmounting,
            (S::Unmounting, E::Unmounted) => S::NotMounted,
            (
                S::Bootstrapping | S::NotMounted | S::Mounting | S::Mounted | S::Unmounting,
                E::LifecycleFailed,
            ) => S::Broken,
            (S::NotLoaded | S::Loading | S::LoadError | S::NotBootstrapped, E::Refused) => {
                S::Broken
            }
            (from, event) => return Err(InvalidTransition { from, event }),
        };
        Ok(next)
    }

    /// Whether activating the app should (re)start loading it.
    pub fn needs_load(self) -> bool {
        matches!(self, AppStatus::NotLoaded | AppStatus::LoadError)
    }
}

impl fmt::Display for AppStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::LifecycleEvent as Ev;

    #[test]
    fn event_names_are_their_debug_form() {
        for e in [
            Ev::LoadStarted,
            Ev::Loaded,
            Ev::LoadFailed,
            Ev::BootstrapStarted,
            Ev::Bootstrapped,
            Ev::MountStarted,
            Ev::Mounted,
            Ev::UnmountStarted,
            Ev::Unmounted,
            Ev::LifecycleFailed,
            Ev::Refused,
        ] {
            assert_eq!(e.name(), format!("{e:?}"));
        }
    }

    use super::*;
    use AppStatus as S;
    use LifecycleEvent as E;

    fn run(events: &[E]) -> Result<S, InvalidTransition> {
        events.iter().try_fold(S::NotLoaded, |s, e| s.next(*e))
    }

    #[test]
    fn happy_path_mounts_and_remounts() {
        let mounted = run(&[
            E::LoadStarted,
            E::Loaded,
            E::BootstrapStarted,
            E::Bootstrapped,
            E::MountStarted,
            E::Mounted,
        ])
        .unwrap();
        assert_eq!(mounted, S::Mounted);
        let again = [E::UnmountStarted, E::Unmounted, E::MountStarted, E::Mounted]
            .iter()
            .try_fold(mounted, |s, e| s.next(*e))
            .unwrap();
        assert_eq!(again, S::Mounted);
    }

    #[test]
    fn load_error_is_retried() {
        let failed = run(&[E::LoadStarted, E::LoadFailed]).unwrap();
        assert_eq!(failed, S::LoadError);
        assert!(failed.needs_load());
        assert_eq!(failed.next(E::LoadStarted).unwrap(), S::Loading);
    }

    #[test]
    fn a_throwing_lifecycle_breaks_the_app_for_good() {
        let broken = run(&[
            E::LoadStarted,
            E::Loaded,
            E::BootstrapStarted,
            E::Bootstrapped,
            E::MountStarted,
            E::LifecycleFailed,
        ])
        .unwrap();
        assert_eq!(broken, S::Broken);
        assert!(!broken.needs_load());
        for e in [E::LoadStarted, E::MountStarted, E::BootstrapStarted] {
            assert_eq!(
                broken.next(e),
                Err(InvalidTransition {
                    from: S::Broken,
                    event: e
                })
            );
        }
    }

    #[test]
    fn a_refused_app_is_broken_without_loading() {
        assert_eq!(S::NotLoaded.next(E::Refused).unwrap(), S::Broken);
        assert_eq!(
            run(&[E::LoadStarted, E::Loaded, E::Refused]).unwrap(),
            S::Broken
        );
        assert!(S::Mounted.next(E::Refused).is_err());
    }

    #[test]
    fn impossible_events_are_errors() {
        assert!(S::NotLoaded.next(E::MountStarted).is_err());
        assert!(S::Mounted.next(E::Loaded).is_err());
        assert!(S::NotLoaded.next(E::LifecycleFailed).is_err());
        let err = S::Mounted.next(E::Loaded).unwrap_err();
        assert_eq!(
            err.to_string(),
            "event Loaded is not valid in status MOUNTED"
        );
    }

    #[test]
    fn status_serialises_as_single_spa_names() {
        assert_eq!(
            serde_json::to_string(&S::NotBootstrapped).unwrap(),
            "\"NOT_BOOTSTRAPPED\""
        );
        assert_eq!(
            serde_json::to_string(&S::LoadError).unwrap(),
            "\"LOAD_ERROR\""
        );
        assert_eq!(S::LoadError.to_string(), "LOAD_ERROR");
    }

    #[test]
    fn props_ignore_unknown_fields_and_default_optional_ones() {
        let p: Props = serde_json::from_str(
            r#"{"name":"@tessera/cart","basePath":"/cart","abi":1,
                "session":{"userName":null,"idToken":null},"future":"field"}"#,
        )
        .unwrap();
        assert_eq!(p.name, "@tessera/cart");
        assert!(p.params.is_empty());
        assert!(!p.session.has_role("admin"));
    }
}
