//! Local overrides: one browser loads an app from another URL than the published one (a team's
//! build served by `tessera-deploy dev`), while everyone else keeps the published app. The
//! overrides are kept in the browser's `localStorage`; the site decides whether to honour them:
//! its server names the origins overrides may come from in the page
//! (`<meta name="tessera-override-origins" content="origin …">`) and lets exactly those through
//! its Content-Security-Policy. No meta, no overrides.

/// `localStorage` key: a JSON object, app name → entry module URL.
pub const STORAGE_KEY: &str = "tessera.overrides";
/// Query parameter that sets one: `?tessera-override=<app>=<url>` (an empty URL removes it).
pub const URL_PARAM: &str = "tessera-override";
/// The page's `<meta name>` listing the origins overrides may come from, space-separated.
pub const ORIGINS_META: &str = "tessera-override-origins";

/// The origin of an absolute `http(s)` URL (`http://127.0.0.1:8787`), lower-cased and without
/// the scheme's default port; `None` for anything else (relative, other schemes, user info).
pub fn origin_of(url: &str) -> Option<String> {
    let at = crate::find_text(url, "://")?;
    let (scheme, rest) = (url.get(..at)?, url.get(at + 3..)?);
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') || authority.contains(char::is_whitespace) {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    Some(format!("{scheme}://{authority}"))
}

/// Whether this site lets `app` load from `url`: `Ok` or why not, in words for the status bar.
pub fn check(url: &str, allowed_origins: &[String]) -> Result<(), String> {
    let Some(origin) = origin_of(url) else {
        return Err(format!(
            "{} is not an absolute http(s) URL",
            crate::quoted(url)
        ));
    };
    if allowed_origins.is_empty() {
        return Err("this site does not allow overrides".into());
    }
    let allowed = allowed_origins
        .iter()
        .filter_map(|o| origin_of(o))
        .any(|o| o == origin);
    if allowed {
        Ok(())
    } else {
        // Not `join`: its generic copy costs the shell 1 KB of wasm.
        let mut why = String::from("this site allows overrides only from");
        for (i, o) in allowed_origins.iter().enumerate() {
            why.push_str(if i == 0 { " " } else { ", " });
            why.push_str(o);
        }
        Err(why)
    }
}

/// A server's setting of an origin overrides may come from (`http://127.0.0.1:8787`), checked
/// and normalised; the error says what is wrong with it.
pub fn parse_origin_setting(origin: &str) -> Result<String, String> {
    let rest = origin.split_once("://").map_or("", |(_, r)| r);
    let bare = !rest.trim_end_matches('/').contains(['/', '?', '#']);
    match origin_of(origin) {
        Some(o) if bare => Ok(o),
        _ => Err(format!(
            "{origin:?} is not an origin (scheme, host and port, e.g. http://127.0.0.1:8787)"
        )),
    }
}

/// The origins the page's meta lists.
pub fn parse_origins(meta: &str) -> Vec<String> {
    meta.split_whitespace().map(str::to_string).collect()
}

/// The query parameter's value for an override (`@acme/cart=http://…/cart.js`), to be
/// percent-encoded into a URL.
pub fn param_value(app: &str, url: &str) -> String {
    format!("{app}={url}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_and_only_http_s_counts() {
        assert_eq!(
            origin_of("http://127.0.0.1:8787/cart.js").as_deref(),
            Some("http://127.0.0.1:8787")
        );
        assert_eq!(
            origin_of("HTTPS://Dev.Example.com:443/x?y#z").as_deref(),
            Some("https://dev.example.com")
        );
        assert_eq!(origin_of("http://a:80").as_deref(), Some("http://a"));
        for bad in [
            "/cart.js",
            "javascript:alert(1)",
            "data:text/javascript,1",
            "http://user@evil/",
            "http:///x",
            "ftp://a/",
        ] {
            assert_eq!(origin_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_allowed_origins_pass_and_the_reason_says_why() {
        let allowed = vec!["http://127.0.0.1:8787".to_string()];
        assert_eq!(check("http://127.0.0.1:8787/cart.js", &allowed), Ok(()));
        let err = check("http://127.0.0.1:9999/cart.js", &allowed).unwrap_err();
        assert!(err.contains("only from http://127.0.0.1:8787"), "{err}");
        let err = check("http://127.0.0.1:8787/cart.js", &[]).unwrap_err();
        assert_eq!(err, "this site does not allow overrides");
        let err = check("cart.js", &allowed).unwrap_err();
        assert!(err.contains("not an absolute"), "{err}");
    }

    #[test]
    fn settings_and_the_meta_name_origins() {
        assert_eq!(
            parse_origin_setting("http://127.0.0.1:8787/").as_deref(),
            Ok("http://127.0.0.1:8787")
        );
        for bad in ["http://a/x", "127.0.0.1:8787", "http://a?x", "*"] {
            assert!(parse_origin_setting(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_origins(" http://a  https://b "),
            ["http://a", "https://b"]
        );
    }
}
