//! Which push services the server sends notifications to. A subscription's endpoint is a URL the
//! user's browser hands over, so without this list any user could make the server send requests
//! to any address it can reach, internal ones included.

use anyhow::{bail, Result};
use reqwest::Url;

/// The most an endpoint may be: push services' URLs are a few hundred characters.
pub const MAX_ENDPOINT: usize = 2048;

#[derive(Clone, Debug, PartialEq)]
enum Rule {
    /// `host` or `host:port`; without a port, the scheme's default.
    Exact { host: String, port: Option<u16> },
    /// `*.domain`: any host below `domain`, on the default port.
    Below(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Hosts(Vec<Rule>);

fn loopback(host: &str) -> bool {
    host == "localhost" || host == "127.0.0.1" || host == "[::1]" || host.starts_with("127.")
}

impl Hosts {
    /// `--push-hosts`: each entry `host`, `host:port` or `*.domain`.
    pub fn parse(entries: &[String]) -> Result<Hosts> {
        let mut rules = Vec::new();
        for raw in entries {
            let entry = raw.trim().to_ascii_lowercase();
            if entry.is_empty() {
                continue;
            }
            if let Some(domain) = entry.strip_prefix("*.") {
                if domain.is_empty() || domain.contains(['*', ':', '/']) {
                    bail!("--push-hosts: {raw:?} is not `*.domain`");
                }
                rules.push(Rule::Below(domain.to_owned()));
                continue;
            }
            let url = Url::parse(&format!("https://{entry}/"))
                .ok()
                .filter(|u| u.path() == "/" && u.username().is_empty() && u.query().is_none());
            let Some(host) = url.as_ref().and_then(|u| u.host_str()) else {
                bail!("--push-hosts: {raw:?} is not `host`, `host:port` or `*.domain`");
            };
            rules.push(Rule::Exact {
                host: host.to_owned(),
                port: url.as_ref().and_then(Url::port),
            });
        }
        Ok(Hosts(rules))
    }

    /// `Ok` when the server may send to `endpoint`; otherwise why not, for the user's problem.
    pub fn check(&self, endpoint: &str) -> Result<(), String> {
        if endpoint.len() > MAX_ENDPOINT {
            return Err(format!("at most {MAX_ENDPOINT} characters"));
        }
        let url = Url::parse(endpoint).map_err(|e| format!("not a URL: {e}"))?;
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        if host.is_empty() || !url.username().is_empty() || url.password().is_some() {
            return Err("an https:// URL with a host and no user name".into());
        }
        let default_port = url.port().is_none();
        let exact = self.0.iter().any(|rule| match rule {
            Rule::Exact { host: h, port } => {
                *h == host && (*port == url.port() || (port.is_none() && default_port))
            }
            Rule::Below(_) => false,
        });
        let below = default_port
            && self.0.iter().any(|rule| match rule {
                Rule::Below(domain) => host
                    .strip_suffix(domain.as_str())
                    .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
                Rule::Exact { .. } => false,
            });
        match url.scheme() {
            "https" if exact || below => Ok(()),
            // Plain http only to a loopback service named exactly: a stand-in in tests.
            "http" if exact && loopback(&host) => Ok(()),
            "https" | "http" => Err(format!(
                "{host} is not a push service this server sends to (--push-hosts)"
            )),
            other => Err(format!("an https:// URL, not {other}:")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(list: &[&str]) -> Hosts {
        Hosts::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn only_the_push_services_named() {
        let h = hosts(&["fcm.googleapis.com", "*.push.apple.com", "127.0.0.1:9000"]);
        assert_eq!(h.check("https://fcm.googleapis.com/fcm/send/abc"), Ok(()));
        assert_eq!(h.check("https://FCM.googleapis.com:443/x"), Ok(()));
        assert_eq!(h.check("https://web.push.apple.com/QGuQ"), Ok(()));
        assert_eq!(h.check("http://127.0.0.1:9000/push/a"), Ok(()));
        for refused in [
            "https://push.apple.com/x",
            "https://evil.com/fcm.googleapis.com",
            "https://fcm.googleapis.com.evil.com/x",
            "https://fcm.googleapis.com:8443/x",
            "http://fcm.googleapis.com/x",
            "https://web.push.apple.com:444/x",
            "http://127.0.0.1:9001/push/a",
            "https://user@fcm.googleapis.com/x",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(h.check(refused).is_err(), "{refused}");
        }
        let long = format!("https://fcm.googleapis.com/{}", "a".repeat(MAX_ENDPOINT));
        assert!(h.check(&long).unwrap_err().contains("2048"));
        assert!(h
            .check("https://169.254.169.254/latest")
            .unwrap_err()
            .contains("--push-hosts"));
    }

    #[test]
    fn a_bad_entry_is_named() {
        for bad in ["*.", "https://x.com", "x.com/path", "*.a:1"] {
            let err = Hosts::parse(&[bad.to_string()]).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
