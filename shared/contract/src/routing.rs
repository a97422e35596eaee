//! Route patterns (`/restaurants/:id`) and matching of a URL path against them.
//!
//! A pattern matches a path either exactly or as a prefix on a segment boundary, the way
//! single-spa activates apps: `/restaurants` is active at `/restaurants/7/menu` but not at
//! `/restaurantsX`.

use crate::vec_map::VecMap;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// A parsed route pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutePattern {
    source: String,
    segments: Vec<Segment>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError {
    pub pattern: String,
    pub problem: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "route {}: {}",
            crate::quoted(&self.pattern),
            self.problem
        )
    }
}

impl std::error::Error for PatternError {}

/// Most segments a route may have (deeper routes nest deeper in `apps.json`, which browsers
/// parse with a bounded nesting depth).
pub const MAX_ROUTE_SEGMENTS: usize = 16;
/// Longest route, in bytes.
pub const MAX_ROUTE_LEN: usize = 512;

/// Parameters captured by a match, by name.
pub type Params = VecMap<String, String>;

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_literal_segment(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
}

impl RoutePattern {
    /// Parses `/a/:b/c`. The root pattern `/` has no segments.
    pub fn parse(pattern: &str) -> Result<RoutePattern, PatternError> {
        let err = |problem: String| PatternError {
            pattern: pattern.to_string(),
            problem,
        };
        if pattern.len() > MAX_ROUTE_LEN {
            return Err(PatternError {
                pattern: format!(
                    "{}…",
                    pattern.get(..pattern.floor_char_boundary(40)).unwrap_or("")
                ),
                problem: format!(
                    "is {} bytes long; a route may have at most {MAX_ROUTE_LEN}",
                    pattern.len()
                ),
            });
        }
        let rest = pattern
            .strip_prefix('/')
            .ok_or_else(|| err("must start with '/'".into()))?;
        let mut segments = Vec::new();
        if !rest.is_empty() {
            let rest = rest.strip_suffix('/').unwrap_or(rest);
            let count = rest.split('/').count();
            if count > MAX_ROUTE_SEGMENTS {
                return Err(err(format!(
                    "has {count} segments; a route may have at most {MAX_ROUTE_SEGMENTS}"
                )));
            }
            let mut seen = Vec::new();
            for seg in rest.split('/') {
                if seg.is_empty() {
                    return Err(err("has an empty segment ('//')".into()));
                }
                if is_dot_segment(seg) {
                    return Err(err(format!(
                        "has a {} segment: '.' and '..' segments are not allowed in routes",
                        crate::quoted(seg)
                    )));
                }
                if let Some(name) = seg.strip_prefix(':') {
                    if !is_ident(name) {
                        return Err(err(format!(
                            "parameter {} is not a valid name",
                            crate::quoted(seg)
                        )));
                    }
                    if seen.contains(&name) {
                        return Err(err(format!(
                            "parameter {} appears twice",
                            crate::quoted(seg)
                        )));
                    }
                    seen.push(name);
                    segments.push(Segment::Param(name.to_string()));
                } else if is_literal_segment(seg) {
                    segments.push(Segment::Literal(seg.to_string()));
                } else {
                    return Err(err(format!(
                        "segment {} may only hold letters, digits, '-', '_', '.', '~'",
                        crate::quoted(seg)
                    )));
                }
            }
        }
        Ok(RoutePattern {
            source: pattern.to_string(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The pattern in a canonical form (`/a/:b`), so `/a/` and `/a` compare equal and
    /// `/a/:x` and `/a/:y` are the same route.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        for seg in &self.segments {
            out.push('/');
            match seg {
                Segment::Literal(l) => out.push_str(l),
                Segment::Param(_) => out.push_str(":*"),
            }
        }
        if out.is_empty() {
            out.push('/');
        }
        out
    }

    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// Number of segments; deeper patterns are more specific.
    pub fn depth(&self) -> usize {
        self.segments.len()
    }

    /// Matches `path` as a prefix on a segment boundary; returns captured params.
    /// The root pattern only matches the root path, so it never shadows every route.
    pub fn match_prefix(&self, path: &str) -> Option<Params> {
        let parts = split_path(path);
        if self.segments.is_empty() {
            return parts.is_empty().then(Params::new);
        }
        if parts.len() < self.segments.len() {
            return None;
        }
        let mut params = Params::new();
        for (seg, part) in self.segments.iter().zip(parts.iter()) {
            match seg {
                Segment::Literal(l) if l == part => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => {
                    params.insert(name.clone(), param_value(part)?);
                }
            }
        }
        Some(params)
    }

    /// Matches `path` exactly (all segments, no more).
    pub fn match_exact(&self, path: &str) -> Option<Params> {
        (split_path(path).len() == self.segments.len())
            .then(|| self.match_prefix(path))
            .flatten()
    }

    /// Whether every path this pattern matches is also matched by `parent` as a prefix.
    pub fn is_within(&self, parent: &RoutePattern) -> bool {
        if parent.segments.is_empty() {
            return true;
        }
        self.segments.len() >= parent.segments.len()
            && parent
                .segments
                .iter()
                .zip(&self.segments)
                .all(|(p, c)| match (p, c) {
                    (Segment::Param(_), _) => true,
                    (Segment::Literal(a), Segment::Literal(b)) => a == b,
                    (Segment::Literal(_), Segment::Param(_)) => false,
                })
    }
}

/// `.` or `..`, also written with `%2e` as URL parsing reads them.
fn is_dot_segment(seg: &str) -> bool {
    dot_segment_len(seg).is_some()
}

/// 1 for `.`, 2 for `..` (either written plainly or with `%2e`), `None` for any other segment.
fn dot_segment_len(seg: &str) -> Option<usize> {
    let dot = |s: &str| s == "." || s.eq_ignore_ascii_case("%2e");
    if dot(seg) {
        return Some(1);
    }
    [1, 3]
        .into_iter()
        .any(|at| seg.get(..at).is_some_and(dot) && seg.get(at..).is_some_and(dot))
        .then_some(2)
}

/// The path without query or fragment, split into non-empty segments, with dot segments
/// resolved the way URL parsing resolves them (`/a/./b` is `/a/b`, `/x/../admin` is `/admin`,
/// `..` above the root stays at the root), so a path the browser did not normalise cannot
/// match a route its URL does not point at.
/// A path segment as a route parameter's value: decoded, and never a path step (apps build
/// URLs from it): not `.` or `..`, and no `/` or `\` once decoded.
fn param_value(part: &str) -> Option<String> {
    let value = percent_decode(part);
    let steps = value.bytes().any(|b| b == b'/' || b == b'\\');
    (!matches!(value.as_str(), "." | "..") && !steps).then_some(value)
}

/// The segment right after `prefix` in `path`, as `<prefix>/:param` would match it
/// (`/restaurants`, `/restaurants/pho-corner/x` → `pho-corner`), without parsing a pattern:
/// an app that only needs this carries no pattern parser and its error messages.
pub fn segment_after(prefix: &str, path: &str) -> Option<String> {
    let (prefix, parts) = (split_path(prefix), split_path(path));
    if parts.len() <= prefix.len() || parts[..prefix.len()] != prefix[..] {
        return None;
    }
    param_value(parts[prefix.len()])
}

fn split_path(path: &str) -> Vec<&str> {
    // By bytes, and `get` rather than an index: a two-char pattern's searcher, or a slice's
    // panic message (which formats chars with `Debug`), costs a browser bundle kilobytes.
    let end = path.bytes().position(|b| b == b'?' || b == b'#');
    let path = end.and_then(|end| path.get(..end)).unwrap_or(path);
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        match dot_segment_len(seg) {
            Some(1) => {}
            Some(_) => {
                out.pop();
            }
            None => out.push(seg),
        }
    }
    out
}

/// A hex digit's value (`u8::from_str_radix` would also take a sign: `%+f`).
fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes; invalid escapes are kept as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RoutePattern {
        RoutePattern::parse(s).unwrap()
    }

    #[test]
    fn prefix_matching_respects_segment_boundaries() {
        let r = p("/restaurants");
        assert!(r.match_prefix("/restaurants").is_some());
        assert!(r.match_prefix("/restaurants/").is_some());
        assert!(r.match_prefix("/restaurants/7/menu").is_some());
        assert!(r.match_prefix("/restaurants?sort=name").is_some());
        assert!(r.match_prefix("/restaurantsX").is_none());
        assert!(r.match_prefix("/").is_none());
    }

    #[test]
    fn params_are_captured_and_decoded() {
        let r = p("/restaurants/:id/items/:item");
        let params = r.match_prefix("/restaurants/r%201/items/pho#top").unwrap();
        assert_eq!(params["id"], "r 1");
        assert_eq!(params["item"], "pho");
        assert!(r.match_exact("/restaurants/r1/items/pho/extra").is_none());
        assert!(r.match_exact("/restaurants/r1/items/pho").is_some());
    }

    #[test]
    fn bad_escapes_are_kept() {
        assert_eq!(percent_decode("a%zzb%4"), "a%zzb%4");
        assert_eq!(percent_decode("%+f%-1%4g"), "%+f%-1%4g");
        assert_eq!(percent_decode("%e9%ff"), "\u{fffd}\u{fffd}");
        assert_eq!(percent_decode("%41%42"), "AB");
    }

    #[test]
    fn root_matches_only_root() {
        let root = p("/");
        assert!(root.is_root());
        assert!(root.match_prefix("/").is_some());
        assert!(root.match_prefix("").is_some());
        assert!(root.match_prefix("/cart").is_none());
    }

    #[test]
    fn invalid_patterns_say_why() {
        for (bad, why) in [
            ("cart", "must start with '/'"),
            ("/a//b", "empty segment"),
            ("/a/:", "not a valid name"),
            ("/a/:1x", "not a valid name"),
            ("/a/:x/:x", "appears twice"),
            ("/a b", "may only hold"),
            ("/a?b", "may only hold"),
            ("/x/../admin", "'..' segment"),
            (
                "/a".repeat(17).as_str(),
                "has 17 segments; a route may have at most 16",
            ),
            (
                format!("/{}", "a".repeat(600)).as_str(),
                "is 601 bytes long",
            ),
            ("/x/./admin", "\".\" segment"),
            ("/..", "'..' segment"),
            ("/a\\b", "may only hold"),
        ] {
            let err = RoutePattern::parse(bad).unwrap_err();
            assert!(err.to_string().contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn canonical_form_equates_param_names_and_trailing_slash() {
        assert_eq!(p("/a/:x/").canonical(), p("/a/:y").canonical());
        assert_ne!(p("/a/b").canonical(), p("/a/:b").canonical());
        assert_eq!(p("/").canonical(), "/");
    }

    #[test]
    fn dot_segments_in_paths_cannot_reach_another_route() {
        let admin = p("/admin");
        let cart = p("/cart");
        // What the URL points at decides, as the browser would resolve it.
        for path in [
            "/admin/../cart",
            "/admin/%2e%2e/cart",
            "/admin/.%2E/cart",
            "/./cart",
            "/../../cart",
        ] {
            assert!(admin.match_prefix(path).is_none(), "{path}");
            assert!(cart.match_prefix(path).is_some(), "{path}");
        }
        assert!(admin.match_prefix("/cart/../admin/x").is_some());
        assert!(cart.match_exact("/cart/x/..").is_some());
        // A parameter is never a dot segment, however it is written.
        let item = p("/items/:id");
        assert!(item.match_prefix("/items/%2E%2E").is_none());
        assert!(item.match_prefix("/items/..%2f").is_none());
        assert!(item.match_prefix("/items/a%5Cb").is_none());
        assert_eq!(item.match_prefix("/items/a%20b").unwrap()["id"], "a b");
        assert!(item.match_prefix("/items/..").is_none());
        assert_eq!(item.match_prefix("/items/7/..").map(|_| ()), None);
        assert_eq!(item.match_prefix("/items/7/./").unwrap()["id"], "7");
    }

    #[test]
    fn dot_segments_are_recognised_in_every_spelling() {
        for (seg, len) in [
            (".", Some(1)),
            ("%2e", Some(1)),
            ("%2E", Some(1)),
            ("..", Some(2)),
            (".%2e", Some(2)),
            ("%2E.", Some(2)),
            ("%2e%2E", Some(2)),
            ("...", None),
            ("%2e%2e%2e", None),
            (".a", None),
            ("%2", None),
            ("", None),
        ] {
            assert_eq!(dot_segment_len(seg), len, "{seg:?}");
        }
    }

    #[test]
    fn nesting() {
        assert!(p("/restaurants/:id").is_within(&p("/restaurants")));
        assert!(p("/restaurants/7").is_within(&p("/restaurants/:id")));
        assert!(!p("/restaurants/:id").is_within(&p("/restaurants/7")));
        assert!(!p("/cart").is_within(&p("/restaurants")));
        assert!(p("/cart").is_within(&p("/")));
    }

    #[test]
    fn segment_after_matches_as_a_param_pattern_would() {
        for (prefix, path) in [
            ("/restaurants", "/restaurants/pho-corner"),
            ("/restaurants/", "/restaurants/pho-corner/more?x=1"),
            ("/restaurants", "/restaurants/caf%C3%A9"),
            ("/restaurants", "/restaurants"),
            ("/restaurants", "/restaurantsx/1"),
            ("/restaurants", "/restaurants/%2F"),
            ("/restaurants", "/restaurants/.."),
            ("/restaurants", "/restaurants/a/../b"),
            ("/restaurants", "/cart/1"),
            ("/", "/a"),
        ] {
            let pattern =
                RoutePattern::parse(&format!("{}/:id", prefix.trim_end_matches('/'))).unwrap();
            let expected = pattern.match_prefix(path).and_then(|mut p| p.remove("id"));
            assert_eq!(segment_after(prefix, path), expected, "{prefix} {path}");
        }
        assert_eq!(
            segment_after("/restaurants", "/restaurants/caf%C3%A9").as_deref(),
            Some("café")
        );
    }
}
