//! Regions: the BFF runs in more than one place (all of them on one database), and a client
//! moves its traffic to another region when its own stops answering, and back when it answers
//! again. The site names its regions once, where it is served (`--region name=origin`, in
//! order); the page carries them in `<meta name="tessera-regions" content="name=origin …">`
//! and the service worker in its script. Each user has a primary region of their own, so users
//! spread over the regions; [`Failover`] decides, from what each request to a region did, which
//! region a client uses now. A command sent twice across a switch applies once: its
//! idempotency key is in the shared database.

use crate::overrides::origin_of;
use serde::{Deserialize, Serialize};

/// The page's `<meta name>` naming the regions, `name=origin` separated by spaces.
pub const META: &str = "tessera-regions";
/// Consecutive failed requests to the region in use before moving to the next.
pub const FAIL_AFTER: u32 = 3;
/// Consecutive answers of the user's primary, while away from it, before moving back.
pub const BACK_AFTER: u32 = 2;
/// How often a client away from its primary asks the primary's `/api/health`.
pub const PROBE_EVERY_MS: u32 = 1_000;

/// One BFF region: a short name for the status bar and the origin its API is served at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    pub name: String,
    pub origin: String,
}

/// One `name=origin` setting, checked: the name is 1-32 of `a-z 0-9 -`, the origin an
/// absolute `http(s)` origin with no path.
pub fn parse_one(setting: &str) -> Result<Region, String> {
    let Some((name, url)) = setting.trim().split_once('=') else {
        return Err(format!(
            "region {setting:?}: expected <name>=<origin>, e.g. eu=https://eu.api.example.com"
        ));
    };
    let good_name = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !good_name {
        return Err(format!(
            "region {setting:?}: the name must be 1-32 of a-z, 0-9 and -"
        ));
    }
    let authority = url.split_once("://").map_or("", |(_, rest)| rest);
    let bare = authority.strip_suffix('/').unwrap_or(authority);
    let origin = origin_of(url)
        .filter(|_| !bare.contains(['/', '?', '#']))
        .ok_or_else(|| {
            format!(
                "region {setting:?}: {url:?} is not an http(s) origin (scheme, host and port only)"
            )
        })?;
    Ok(Region {
        name: name.to_owned(),
        origin,
    })
}

/// The site's regions from their settings (`name=origin`, separated by spaces or commas), in
/// order; names and origins must each be unique.
pub fn parse(settings: &str) -> Result<Vec<Region>, String> {
    let regions = settings
        .split([' ', ',', '\n'])
        .filter(|s| !s.is_empty())
        .map(parse_one)
        .collect::<Result<Vec<_>, _>>()?;
    distinct(regions)
}

/// `regions` as given, if no two share a name or an origin (each a region of its own).
pub fn distinct(regions: Vec<Region>) -> Result<Vec<Region>, String> {
    for (i, region) in regions.iter().enumerate() {
        if let Some(twin) = regions[..i]
            .iter()
            .find(|r| r.name == region.name || r.origin == region.origin)
        {
            return Err(format!(
                "regions {}={} and {}={}: each region needs its own name and origin",
                twin.name, twin.origin, region.name, region.origin
            ));
        }
    }
    Ok(regions)
}

/// The settings `parse` reads back: what the page's meta and the worker's script carry.
pub fn setting(regions: &[Region]) -> String {
    let mut out = String::new();
    for r in regions {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&r.name);
        out.push('=');
        out.push_str(&r.origin);
    }
    out
}

/// The index of `subject`'s primary region among `count`: the same for a user everywhere
/// (FNV-1a of the subject), so one user's tabs and worker agree; region 0 for nobody.
pub fn primary_for(subject: Option<&str>, count: usize) -> usize {
    let Some(subject) = subject.filter(|_| count > 1) else {
        return 0;
    };
    let hash = subject.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash as usize % count
}

/// Which region a client uses, from what its requests did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failover {
    regions: Vec<Region>,
    primary: usize,
    current: usize,
    /// Consecutive failures of each region.
    failures: Vec<u32>,
    /// Consecutive answers of the primary while away from it.
    primary_answers: u32,
}

impl Failover {
    /// Starts on region 0 as the primary; `None` without regions.
    pub fn new(regions: Vec<Region>) -> Option<Failover> {
        (!regions.is_empty()).then(|| Failover {
            failures: vec![0; regions.len()],
            regions,
            primary: 0,
            current: 0,
            primary_answers: 0,
        })
    }

    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// The region in use and its index.
    pub fn current(&self) -> (usize, &Region) {
        (self.current, &self.regions[self.current])
    }

    pub fn primary(&self) -> usize {
        self.primary
    }

    /// The user's primary is `index` (another user signed in): a client that is on its old
    /// primary moves with it, unless the new one is failing. Returns the region now in use if
    /// it changed.
    pub fn prefer(&mut self, index: usize) -> Option<usize> {
        if index >= self.regions.len() || index == self.primary {
            return None;
        }
        let was_home = self.current == self.primary;
        self.primary = index;
        self.primary_answers = 0;
        if was_home && self.failures[index] < FAIL_AFTER && self.current != index {
            self.current = index;
            return Some(index);
        }
        None
    }

    /// A request to region `index` got no answer (or a gateway's 502/503/504). Returns the
    /// region now in use if this moved the client: the next one in order that has not failed
    /// as often, after [`FAIL_AFTER`] failures in a row of the one in use.
    pub fn failed(&mut self, index: usize) -> Option<usize> {
        let count = self.regions.len();
        let failures = self.failures.get_mut(index)?;
        *failures = failures.saturating_add(1);
        if index == self.primary {
            self.primary_answers = 0;
        }
        if index != self.current || self.failures[index] < FAIL_AFTER || count < 2 {
            return None;
        }
        let next = (1..count)
            .map(|step| (self.current + step) % count)
            .min_by_key(|&i| self.failures[i])?;
        self.current = next;
        Some(next)
    }

    /// Region `index` answered. Returns the region now in use if this brought the client back
    /// to its primary ([`BACK_AFTER`] answers in a row), or moved it off a failing region.
    pub fn answered(&mut self, index: usize) -> Option<usize> {
        *self.failures.get_mut(index)? = 0;
        if index != self.primary || self.current == self.primary {
            return None;
        }
        self.primary_answers += 1;
        if self.primary_answers < BACK_AFTER {
            return None;
        }
        self.primary_answers = 0;
        self.current = self.primary;
        Some(self.primary)
    }

    /// The region to probe (`/api/health`) now and then: the primary while away from it.
    pub fn to_probe(&self) -> Option<usize> {
        (self.current != self.primary).then_some(self.primary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Failover {
        Failover::new(
            parse("eu=https://eu.example.com us=https://us.example.com,ap=http://127.0.0.1:9000")
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn settings_parse_and_print_back() {
        let regions = parse(" eu=https://EU.example.com:443/ us=http://127.0.0.1:8081\n").unwrap();
        assert_eq!(
            regions,
            vec![
                Region {
                    name: "eu".into(),
                    origin: "https://eu.example.com".into()
                },
                Region {
                    name: "us".into(),
                    origin: "http://127.0.0.1:8081".into()
                },
            ]
        );
        assert_eq!(parse(&setting(&regions)).unwrap(), regions);
        assert_eq!(parse("").unwrap(), vec![]);
    }

    #[test]
    fn bad_settings_name_the_setting_and_the_fault() {
        for (bad, says) in [
            ("eu", "expected <name>=<origin>"),
            ("EU=https://eu.example.com", "the name must be"),
            ("=https://eu.example.com", "the name must be"),
            ("eu=https://eu.example.com/api", "is not an http(s) origin"),
            ("eu=ftp://eu.example.com", "is not an http(s) origin"),
            ("eu=eu.example.com", "is not an http(s) origin"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(bad) && e.contains(says), "{bad}: {e}");
        }
        let e = parse("eu=https://a.example eu=https://b.example").unwrap_err();
        assert!(e.contains("its own name and origin"), "{e}");
        assert!(parse("a=https://x.example b=https://x.example").is_err());
    }

    #[test]
    fn each_user_has_a_stable_primary_and_users_spread() {
        assert_eq!(primary_for(None, 3), 0);
        assert_eq!(primary_for(Some("alice"), 1), 0);
        assert_eq!(primary_for(Some("alice"), 3), primary_for(Some("alice"), 3));
        let mut seen = [0; 3];
        for i in 0..300 {
            seen[primary_for(Some(&format!("user-{i}")), 3)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 60), "{seen:?}");
    }

    #[test]
    fn three_failures_in_a_row_move_to_the_next_region() {
        let mut f = three();
        assert_eq!(f.failed(0), None);
        assert_eq!(f.answered(0), None, "an answer starts the count again");
        assert_eq!((f.failed(0), f.failed(0)), (None, None));
        assert_eq!(f.failed(0), Some(1));
        assert_eq!(f.current().1.name, "us");
        assert_eq!(f.to_probe(), Some(0), "the primary is probed while away");
        // The next region fails too: the one that failed least is next, the primary last.
        for _ in 0..2 {
            assert_eq!(f.failed(1), None);
        }
        assert_eq!(f.failed(1), Some(2));
        for _ in 0..2 {
            assert_eq!(f.failed(2), None);
        }
        assert_eq!(f.failed(2), Some(0), "all failed as often: on in order");
    }

    #[test]
    fn failures_of_a_region_not_in_use_move_nothing() {
        let mut f = three();
        for _ in 0..5 {
            assert_eq!(f.failed(2), None);
        }
        assert_eq!(f.current().0, 0);
        assert_eq!(f.failed(9), None);
        assert_eq!(f.answered(9), None);
    }

    #[test]
    fn the_primary_answering_twice_in_a_row_brings_the_client_back() {
        let mut f = three();
        for _ in 0..3 {
            f.failed(0);
        }
        assert_eq!(f.current().0, 1);
        assert_eq!(f.answered(1), None);
        assert_eq!(f.answered(0), None, "once is not enough");
        assert_eq!(f.failed(0), None, "a failure starts the count again");
        assert_eq!(f.answered(0), None);
        assert_eq!(f.answered(0), Some(0));
        assert_eq!((f.current().0, f.to_probe()), (0, None));
    }

    #[test]
    fn another_user_moves_a_client_at_home_to_their_primary() {
        let mut f = three();
        assert_eq!(f.prefer(2), Some(2));
        assert_eq!((f.primary(), f.current().0), (2, 2));
        assert_eq!(f.prefer(2), None);
        // Away from home (the primary failed), a new primary that is failing is not taken.
        for _ in 0..3 {
            f.failed(2);
        }
        assert_eq!(f.current().0, 0);
        for _ in 0..3 {
            f.failed(1);
        }
        assert_eq!(f.prefer(1), None);
        assert_eq!((f.primary(), f.current().0), (1, 0));
        assert_eq!(f.to_probe(), Some(1));
    }

    #[test]
    fn one_region_never_moves() {
        let mut f = Failover::new(parse("eu=https://eu.example.com").unwrap()).unwrap();
        for _ in 0..10 {
            assert_eq!(f.failed(0), None);
        }
        assert_eq!(f.to_probe(), None);
        assert!(Failover::new(vec![]).is_none());
    }
}
