//! Cohort releases: which version of an app a user gets.
//!
//! `apps.json` gives each app its released version and, while a release is being tried out, a
//! list of `cohorts`: each a [`CohortRule`] and the tried version's entry URL, integrity and
//! preloads ([`CohortEntry`]). The first cohort whose rule admits the user decides; a user in
//! none gets the released version. [`choose`] is the whole decision, pure and the same on every
//! platform: a role rule admits users with that role; a percent rule admits a user when a stable
//! hash of (app name, user subject) mod 100 is below the percentage, so the same user always
//! lands on the same side for one app, and different apps split users independently. The hash
//! is FNV-1a 64 over UTF-8 bytes (never std's `DefaultHasher`, which differs between builds), so
//! the deployer, native tests and the shell in wasm agree.

use serde::{Deserialize, Serialize};

/// Who is admitted to a cohort. JSON: `{"role":"beta"}` or `{"percent":10}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CohortRule {
    /// Users with this role.
    Role(String),
    /// This share of users (0 to 100), by [`percent_bucket`].
    Percent(u8),
}

/// One cohort of an app in `apps.json`: who gets which version, and what to load for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CohortEntry {
    pub rule: CohortRule,
    pub version: String,
    /// The URL of the version's entry module (what the import map gives the released one).
    pub entry: String,
    /// The entry's subresource integrity.
    pub integrity: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preload: Vec<String>,
}

impl CohortRule {
    /// `role:<role>` or `percent:<0-100>`.
    pub fn parse(text: &str) -> Result<CohortRule, String> {
        match text.split_once(':') {
            Some(("role", role)) if !role.trim().is_empty() => {
                Ok(CohortRule::Role(role.trim().to_string()))
            }
            Some(("percent", n)) => match n.trim().parse::<u8>() {
                Ok(n) if n <= 100 => Ok(CohortRule::Percent(n)),
                _ => Err(format!(
                    "{}: the percentage must be 0 to 100",
                    crate::quoted(text)
                )),
            },
            _ => Err(format!(
                "{} is not a cohort rule (role:<role> or percent:<0-100>)",
                crate::quoted(text)
            )),
        }
    }

    /// Whether a user (`subject`: the stable user id, the OIDC `sub`; `None` when signed out)
    /// with `roles` is in this cohort of `app`.
    pub fn admits(&self, app: &str, subject: Option<&str>, roles: &[String]) -> bool {
        match self {
            CohortRule::Role(role) => roles.iter().any(|r| r == role),
            CohortRule::Percent(n) => subject.is_some_and(|s| percent_bucket(app, s) < *n),
        }
    }
}

impl std::fmt::Display for CohortRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CohortRule::Role(r) => write!(f, "role:{r}"),
            CohortRule::Percent(n) => write!(f, "percent:{n}"),
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a64_feed(mut hash: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// FNV-1a, 64 bits.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv1a64_feed(FNV_OFFSET, bytes)
}

/// A user's stable bucket (0 to 99) for an app: FNV-1a 64 of the app name's UTF-8 bytes, one
/// 0 byte, and the subject's UTF-8 bytes, mod 100.
pub fn percent_bucket(app: &str, subject: &str) -> u8 {
    let h = fnv1a64_feed(
        fnv1a64_feed(fnv1a64(app.as_bytes()), &[0]),
        subject.as_bytes(),
    );
    (h % 100) as u8
}

/// The cohort of `app` (of its `apps.json` entry's `cohorts`) the user is in: load its
/// `entry`, `integrity` and `preload`; `None`: the released version, loaded through the import
/// map as usual.
pub fn choose<'a>(
    app: &str,
    cohorts: &'a [CohortEntry],
    subject: Option<&str>,
    roles: &[String],
) -> Option<&'a CohortEntry> {
    cohorts.iter().find(|c| c.rule.admits(app, subject, roles))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn buckets_are_pinned_so_every_platform_agrees() {
        // Changing these moves users between versions: never change the hash.
        let pinned: Vec<u8> = ["alice", "bob", "carol", "dave", "ünïcødé"]
            .iter()
            .map(|s| percent_bucket("@tessera/cart", s))
            .collect();
        assert_eq!(pinned, PINNED);
        // The app name counts: another app splits users differently.
        let other: Vec<u8> = ["alice", "bob", "carol", "dave", "ünïcødé"]
            .iter()
            .map(|s| percent_bucket("@tessera/nav", s))
            .collect();
        assert_ne!(pinned, other);
    }

    // Computed independently (Python) from the FNV-1a 64 definition.
    const PINNED: [u8; 5] = [39, 48, 86, 99, 48];

    #[test]
    fn a_percentage_admits_about_that_share_of_users_and_always_the_same_ones() {
        let users: Vec<String> = (0..10_000).map(|i| format!("user-{i}")).collect();
        let rule = CohortRule::Percent(10);
        let admitted: Vec<&String> = users
            .iter()
            .filter(|u| rule.admits("@tessera/cart", Some(u), &[]))
            .collect();
        assert!((900..=1100).contains(&admitted.len()), "{}", admitted.len());
        for u in &admitted {
            assert!(rule.admits("@tessera/cart", Some(u), &[]));
        }
        // Growing the percentage only adds users.
        let wider = CohortRule::Percent(25);
        assert!(admitted
            .iter()
            .all(|u| wider.admits("@tessera/cart", Some(u), &[])));
        assert!(!CohortRule::Percent(100).admits("@tessera/cart", None, &[]));
        assert!(!CohortRule::Percent(0).admits("@tessera/cart", Some("alice"), &[]));
        assert!(users.iter().all(|u| CohortRule::Percent(100).admits(
            "@tessera/cart",
            Some(u),
            &[]
        )));
    }

    #[test]
    fn rules_parse_print_and_serialize() {
        let beta = CohortRule::parse("role:beta").unwrap();
        assert_eq!(beta, CohortRule::Role("beta".into()));
        assert_eq!(beta.to_string(), "role:beta");
        assert_eq!(serde_json::to_string(&beta).unwrap(), r#"{"role":"beta"}"#);
        let ten = CohortRule::parse("percent:10").unwrap();
        assert_eq!(serde_json::to_string(&ten).unwrap(), r#"{"percent":10}"#);
        for bad in ["percent:101", "percent:x", "role:", "beta", "group:x"] {
            assert!(CohortRule::parse(bad).is_err(), "{bad}");
        }
        assert!(beta.admits("@a/b", None, &["beta".into()]));
        assert!(!beta.admits("@a/b", Some("alice"), &["admin".into()]));
    }

    #[test]
    fn the_first_cohort_that_admits_the_user_decides() {
        let cohort = |rule: CohortRule, v: &str| CohortEntry {
            rule,
            version: v.into(),
            entry: format!("/@a/b/{v}/b.js"),
            integrity: "sha384-x".into(),
            preload: vec![],
        };
        let entry = [
            cohort(CohortRule::Role("beta".into()), "c1"),
            cohort(CohortRule::Percent(100), "c2"),
        ];
        let beta = ["beta".to_string()];
        assert_eq!(
            choose("@a/b", &entry, Some("u"), &beta).unwrap().version,
            "c1"
        );
        assert_eq!(
            choose("@a/b", &entry, Some("u"), &[]).unwrap().version,
            "c2"
        );
        assert!(
            choose("@a/b", &entry, None, &[]).is_none(),
            "signed out: released"
        );
        assert!(choose("@a/b", &[], Some("u"), &beta).is_none());
    }
}
