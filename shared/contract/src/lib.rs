//! Tessera's contract: the types and rules every part shares, in plain Rust with native unit
//! tests and no browser dependencies. The shell, the service worker and the client runtime,
//! the app SDK, the deployer and the BFF all depend on it; it depends on none of them.
//!
//! `mfe.json` and its validation (`manifest`), the published manifests and path resolution
//! (`published`), route patterns (`routing`), cohorts (`cohort`), the app status machine and
//! lifecycle props (`lifecycle`), the host services of lifecycle ABI 2 (`host`), the bus
//! envelope (`bus`), the BFF sync protocol (`sync`, `live`, `auth`), how BFF answers read
//! (`bff`), how waiting commands show in answers (`overlay`), local overrides of an app's
//! bundle (`overrides`), the retry rule (`backoff`), real-user monitoring reports (`rum`), Web Push
//! subscriptions and notifications (`push`), the BFF's regions with the failover rule (`regions`)
//! and the small ordered collections the browser bundles keep (`vec_map`).

pub mod abi;
pub mod auth;
pub mod backoff;
pub mod bff;
pub mod bus;
pub mod cohort;
pub mod host;
pub mod lifecycle;
pub mod live;
pub mod manifest;
pub mod overlay;
pub mod overrides;
pub mod published;
pub mod push;
pub mod regions;
pub mod routing;
pub mod rum;
pub mod sync;
pub mod vec_map;

pub use lifecycle::{AppStatus, Props, Session, ABI_VERSION, SUPPORTED_ABIS};
pub use manifest::{ManifestError, MfeManifest};
pub use vec_map::{VecMap, VecSet};

/// Where `needle` first occurs in `haystack`, compared byte by byte. `str::find`,
/// `split_once` or `contains` with a `&str` link std's two-way searcher into a browser bundle
/// (about 1.5 KB), which for needles of a few bytes buys nothing.
pub fn find_text(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len().max(1))
        .position(|w| w == needle.as_bytes())
}

/// `text` in double quotes, as `{:?}` writes the names, routes and URLs that error messages
/// quote: `"` and `\` escaped, control characters as `\n` or `\u{..}`. `{:?}` would link
/// std's tables of printable characters into a browser bundle, with the panic messages that
/// share them; any other character is written as it is.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::{find_text, quoted};

    #[test]
    fn quoted_writes_what_debug_writes() {
        for text in [
            "/restaurants/:id",
            "",
            "say \"hi\"",
            "back\\slash",
            "tab\tnew\nline\r\0",
            "bell\u{7}del\u{7f}c1\u{85}",
            "it's café, 東京",
        ] {
            assert_eq!(quoted(text), format!("{text:?}"));
        }
    }

    #[test]
    fn finds_the_first_occurrence_as_str_find_does() {
        for (haystack, needle) in [
            ("https://a.test/x", "://"),
            ("a://b://c", "://"),
            ("no scheme", "://"),
            ("", "://"),
            ("ab", "abc"),
            ("/s/snippets/x/snippets/y", "/snippets/"),
            ("café://x", "://"),
        ] {
            assert_eq!(
                find_text(haystack, needle),
                haystack.find(needle),
                "{haystack}"
            );
        }
    }
}
