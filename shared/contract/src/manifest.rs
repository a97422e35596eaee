//! `mfe.json`: what one micro-app build declares about itself, with a versioned schema and
//! validation whose errors name the file, the field and the problem.
//!
//! A team writes the *source* form (no `version`, `importMap` or `files`); the build adds those
//! three and the deployer only accepts that *built* form.

use crate::abi::SUPPORTED_ABIS;
use crate::routing::RoutePattern;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// The `mfe.json` schema this code reads and writes.
pub const MFE_SCHEMA: u32 = 1;

/// Most activation routes one app may list.
pub const MAX_ROUTES_PER_APP: usize = 256;
/// Most files one bundle may hold.
pub const MAX_FILES_PER_APP: usize = 2000;
/// Most parcels one app may expose.
pub const MAX_PARCELS_PER_APP: usize = 256;
/// Most roles one app may require.
pub const MAX_ROLES_PER_APP: usize = 64;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MfeManifest {
    pub schema: u32,
    /// `@scope/name`, lowercase.
    pub name: String,
    /// Content hash of the bundle; set by the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The lifecycle ABI the app was built against.
    pub abi: u32,
    /// Import-map fragment: the app's specifier → its entry file, with `integrity`; set by the
    /// build with URLs relative to the bundle folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_map: Option<ImportMapFragment>,
    /// Every file of the bundle with its integrity; set by the build.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<BundleFile>,
    pub activation: Activation,
    /// The shell mount point the app renders into (not needed for parcel-only apps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_point: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nav: Option<NavMeta>,
    /// Names of the parcels this app exposes for other apps to mount by hand.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parcels: Vec<String>,
    /// The BFF base path the app talks to, `/api/<app>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bff: Option<String>,
    /// Roles a user needs for the app to be activated at all; empty means everyone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportMapFragment {
    pub imports: BTreeMap<String, String>,
    #[serde(default)]
    pub integrity: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleFile {
    /// Path relative to the bundle folder.
    pub path: String,
    /// Subresource-integrity string, `sha384-<base64>`.
    pub integrity: String,
    pub size: u64,
}

/// When the shell mounts the app.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Activation {
    /// On every route (navigation, status widgets).
    Always,
    /// Never by route: only mounted by another app as a parcel.
    Manual,
    /// On these route prefixes.
    Routes(Vec<String>),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NavMeta {
    pub menu_key: String,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    pub route: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_role: Option<String>,
    #[serde(default)]
    pub order: i32,
}

/// A problem with one field of one manifest file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    pub file: String,
    pub field: String,
    pub problem: String,
}

impl ManifestError {
    pub fn new(file: &str, field: impl Into<String>, problem: impl Into<String>) -> Self {
        ManifestError {
            file: file.to_string(),
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.file, self.problem)
        } else {
            write!(f, "{}: field `{}`: {}", self.file, self.field, self.problem)
        }
    }
}

impl std::error::Error for ManifestError {}

/// Origins from which bundle entries may be loaded besides the site's own (relative URLs).
#[derive(Clone, Debug, Default)]
pub struct AllowedOrigins(pub Vec<String>);

impl AllowedOrigins {
    /// Whether an entry URL is same-origin (relative) or under an allowed origin.
    pub fn allows(&self, url: &str) -> bool {
        if crate::find_text(url, "://").is_none() && !url.starts_with("//") {
            return true;
        }
        self.0.iter().any(|origin| {
            let origin = origin.trim_end_matches('/');
            url.strip_prefix(origin)
                .is_some_and(|rest| rest.starts_with('/'))
        })
    }
}

/// Parses `mfe.json` text; a serde error is reported with the path of the offending field.
pub fn parse(file: &str, text: &str) -> Result<MfeManifest, ManifestError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let mut problem = inner.to_string();
        // serde reports a missing field on its parent; name the field itself.
        if let Some(missing) = problem
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            let field = if field == "." || field == "?" {
                missing.to_string()
            } else {
                format!("{field}.{missing}")
            };
            return ManifestError::new(file, field, "is required");
        }
        if field == "." || field == "?" {
            // No field to name (malformed JSON): the line and column say where.
            return ManifestError::new(file, "", problem);
        }
        if let Some(at) = problem.find(" at line ") {
            problem.truncate(at);
        }
        ManifestError::new(file, field, problem)
    })
}

fn valid_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('@') else {
        return false;
    };
    let Some((scope, app)) = rest.split_once('/') else {
        return false;
    };
    let part = |s: &str| {
        !s.is_empty()
            && !s.starts_with('-')
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    part(scope) && part(app)
}

fn valid_mount_point(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn valid_integrity(s: &str) -> bool {
    s.strip_prefix("sha384-").is_some_and(|b64| {
        b64.len() == 64
            && b64
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
    })
}

/// The first character of `text` that must not appear in text shown to people: a control
/// character (C0, DEL, C1) or one that reorders text around it (bidirectional embeddings,
/// overrides, isolates and marks), which could make a label read as something else.
pub fn forbidden_char(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        c.is_control()
            || matches!(c,
                '\u{200E}' | '\u{200F}' | '\u{061C}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}' | '\u{2029}')
    })
}

/// The problem with `text` as human-readable text, if any.
fn text_problem(text: &str) -> Option<String> {
    forbidden_char(text).map(|c| {
        let kind = if c.is_control() {
            "a control character"
        } else {
            "a bidirectional-formatting character"
        };
        format!(
            "contains U+{:04X} ({kind}), which is not allowed in text shown to users",
            c as u32
        )
    })
}

/// Indices of the items whose key an earlier item already had, with that earlier index;
/// one pass with a hash set, so thousands of items cost no more than a few.
pub fn duplicates<T, K: std::hash::Hash + Eq>(
    items: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> K,
) -> Vec<(usize, usize)> {
    let mut first: std::collections::HashMap<K, usize> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match first.entry(key(&item)) {
            std::collections::hash_map::Entry::Occupied(e) => out.push((i, *e.get())),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(i);
            }
        }
    }
    out
}

fn valid_relative_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && p.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
        && !p.contains(['\\', '?', '#'])
}

impl MfeManifest {
    /// The specifier other code imports the app by: its name.
    pub fn specifier(&self) -> &str {
        &self.name
    }

    /// The routes the app is activated on, parsed (errors were caught by `validate_source`).
    pub fn route_patterns(&self) -> Vec<RoutePattern> {
        match &self.activation {
            Activation::Routes(routes) => routes
                .iter()
                .filter_map(|r| RoutePattern::parse(r).ok())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Checks everything a team writes by hand.
    pub fn validate_source(&self, file: &str) -> Vec<ManifestError> {
        let mut errs = Vec::new();
        let mut err =
            |field: &str, problem: String| errs.push(ManifestError::new(file, field, problem));
        if self.schema != MFE_SCHEMA {
            err(
                "schema",
                format!(
                    "unknown schema version {} (this deployer reads {MFE_SCHEMA})",
                    self.schema
                ),
            );
        }
        if !valid_name(&self.name) {
            err(
                "name",
                format!("{:?} is not a valid name: use @scope/app with lowercase letters, digits and '-'", self.name),
            );
        }
        if !SUPPORTED_ABIS.contains(&self.abi) {
            err(
                "abi",
                format!("unknown ABI {} (supported: {SUPPORTED_ABIS:?})", self.abi),
            );
        }
        let patterns = match &self.activation {
            Activation::Routes(routes) if routes.len() > MAX_ROUTES_PER_APP => {
                // Past the limit nothing else about the routes is worth reporting.
                err(
                    "activation.routes",
                    format!(
                        "lists {} routes; an app may list at most {MAX_ROUTES_PER_APP}",
                        routes.len()
                    ),
                );
                Vec::new()
            }
            Activation::Routes(routes) => {
                if routes.is_empty() {
                    err("activation.routes", "lists no route".into());
                }
                let mut parsed: Vec<RoutePattern> = Vec::new();
                let mut seen: HashSet<String> = HashSet::new();
                for (i, r) in routes.iter().enumerate() {
                    match RoutePattern::parse(r) {
                        Ok(p) if p.is_root() => err(
                            &format!("activation.routes[{i}]"),
                            "the root route '/' belongs to the shell's default route".into(),
                        ),
                        Ok(p) => {
                            if !seen.insert(p.canonical()) {
                                err(
                                    &format!("activation.routes[{i}]"),
                                    format!("route {r:?} is listed twice"),
                                );
                            }
                            parsed.push(p);
                        }
                        Err(e) => err(&format!("activation.routes[{i}]"), e.problem_with_route()),
                    }
                }
                parsed
            }
            Activation::Always | Activation::Manual => Vec::new(),
        };
        match (&self.activation, &self.mount_point) {
            (Activation::Manual, _) => {}
            (_, None) => err(
                "mountPoint",
                "is required for an app activated by route or always".into(),
            ),
            (_, Some(mp)) if !valid_mount_point(mp) => err(
                "mountPoint",
                format!("{mp:?} is not a valid mount point name (lowercase letters, digits, '-')"),
            ),
            _ => {}
        }
        if let Some(nav) = &self.nav {
            if nav.label.trim().is_empty() {
                err("nav.label", "is empty".into());
            }
            if nav.menu_key.trim().is_empty() {
                err("nav.menuKey", "is empty".into());
            }
            let texts = [
                ("nav.label", Some(&nav.label)),
                ("nav.menuKey", Some(&nav.menu_key)),
                ("nav.icon", nav.icon.as_ref()),
                ("nav.requiredRole", nav.required_role.as_ref()),
            ];
            for (field, text) in texts {
                if let Some(problem) = text.and_then(|t| text_problem(t)) {
                    err(field, problem);
                }
            }
            match RoutePattern::parse(&nav.route) {
                Err(e) => err("nav.route", e.problem_with_route()),
                Ok(_) if !patterns.iter().any(|p| p.match_prefix(&nav.route).is_some()) => err(
                    "nav.route",
                    format!("{:?} is not one of the app's activation routes, so the link would not show the app", nav.route),
                ),
                Ok(_) => {}
            }
        }
        if self.parcels.len() > MAX_PARCELS_PER_APP {
            err(
                "parcels",
                format!(
                    "lists {} parcels; an app may expose at most {MAX_PARCELS_PER_APP}",
                    self.parcels.len()
                ),
            );
        } else {
            if self.parcels.iter().any(|p| p.trim().is_empty()) {
                err("parcels", "holds an empty parcel name".into());
            }
            for (i, p) in self.parcels.iter().enumerate() {
                if let Some(problem) = text_problem(p) {
                    err(&format!("parcels[{i}]"), problem);
                }
            }
            for (i, first) in duplicates(&self.parcels, |p| p.as_str()) {
                err(
                    &format!("parcels[{i}]"),
                    format!(
                        "{:?} is listed twice (first as parcels[{first}])",
                        self.parcels[i]
                    ),
                );
            }
        }
        if self.roles.len() > MAX_ROLES_PER_APP {
            err(
                "roles",
                format!(
                    "lists {} roles; an app may require at most {MAX_ROLES_PER_APP}",
                    self.roles.len()
                ),
            );
        } else {
            for (i, r) in self.roles.iter().enumerate() {
                if r.trim().is_empty() {
                    err(&format!("roles[{i}]"), "is empty".into());
                } else if let Some(problem) = text_problem(r) {
                    err(&format!("roles[{i}]"), problem);
                }
            }
        }
        if let Some(bff) = &self.bff {
            let ok = bff
                .strip_prefix("/api/")
                .is_some_and(|rest| !rest.is_empty() && RoutePattern::parse(bff).is_ok());
            if !ok {
                err(
                    "bff",
                    format!("{bff:?} must be a path under /api/, e.g. /api/cart"),
                );
            }
        }
        errs
    }

    /// Checks a manifest produced by the build, as the deployer receives it: the source rules
    /// plus a version, an import-map entry for the app's name inside the allowed origins, and
    /// integrity for every file.
    pub fn validate_built(&self, file: &str, origins: &AllowedOrigins) -> Vec<ManifestError> {
        let mut errs = self.validate_source(file);
        let mut err =
            |field: &str, problem: String| errs.push(ManifestError::new(file, field, problem));
        match &self.version {
            None => err(
                "version",
                "is required (set by the build: the bundle's content hash)".into(),
            ),
            Some(v) if v.len() < 8 || !v.chars().all(|c| c.is_ascii_hexdigit()) => err(
                "version",
                format!("{v:?} is not a content hash (hex, 8+ digits)"),
            ),
            _ => {}
        }
        if self.files.len() > MAX_FILES_PER_APP {
            err(
                "files",
                format!(
                    "lists {} files; a bundle may hold at most {MAX_FILES_PER_APP}",
                    self.files.len()
                ),
            );
            return errs;
        }
        for (i, first) in duplicates(&self.files, |f| f.path.as_str()) {
            err(
                &format!("files[{i}].path"),
                format!(
                    "{:?} is listed twice (first as files[{first}])",
                    self.files[i].path
                ),
            );
        }
        for (i, f) in self.files.iter().enumerate() {
            if !valid_relative_path(&f.path) {
                err(
                    &format!("files[{i}].path"),
                    format!("{:?} is not a relative path inside the bundle", f.path),
                );
            }
            if !valid_integrity(&f.integrity) {
                err(
                    &format!("files[{i}].integrity"),
                    format!("{:?} is not a sha384 integrity string", f.integrity),
                );
            }
        }
        let Some(map) = &self.import_map else {
            err("importMap", "is required (set by the build)".into());
            return errs;
        };
        for key in map.imports.keys().filter(|k| **k != self.name) {
            err(
                &format!("importMap.imports.{key}"),
                format!("an app may only map its own name {:?}", self.name),
            );
        }
        let Some(entry) = map.imports.get(&self.name) else {
            err(
                &format!("importMap.imports.{}", self.name),
                "is required: the app's entry module".into(),
            );
            return errs;
        };
        let field = format!("importMap.imports.{}", self.name);
        if !origins.allows(entry) {
            err(
                &field,
                format!(
                    "entry URL {entry:?} is outside the allowed origins {:?}",
                    origins.0
                ),
            );
        } else if !entry.contains("://") {
            match entry.strip_prefix("./") {
                Some(rel) if valid_relative_path(rel) => {
                    if !self.files.iter().any(|f| f.path == rel) {
                        err(&field, format!("entry {entry:?} is not one of the bundle's files"));
                    }
                }
                _ => err(&field, format!("entry {entry:?} must be './<file>' relative to the bundle or an absolute URL")),
            }
        }
        match map.integrity.get(entry) {
            None => err(
                &format!("importMap.integrity.{entry}"),
                "is required for the entry".into(),
            ),
            Some(i) if !valid_integrity(i) => err(
                &format!("importMap.integrity.{entry}"),
                format!("{i:?} is not a sha384 integrity string"),
            ),
            Some(i) => {
                if let Some(f) = entry
                    .strip_prefix("./")
                    .and_then(|rel| self.files.iter().find(|f| f.path == rel))
                {
                    if &f.integrity != i {
                        err(
                            &format!("importMap.integrity.{entry}"),
                            "does not match the file's integrity in `files`".into(),
                        );
                    }
                }
            }
        }
        errs
    }
}

impl crate::routing::PatternError {
    fn problem_with_route(&self) -> String {
        format!("{:?} {}", self.pattern, self.problem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SOURCE: &str = r#"{
        "schema": 1,
        "name": "@tessera/cart",
        "abi": 1,
        "activation": {"routes": ["/cart"]},
        "mountPoint": "main",
        "nav": {"menuKey": "cart", "label": "Cart", "icon": "cart", "route": "/cart", "order": 30},
        "bff": "/api/cart"
    }"#;

    fn integrity(c: char) -> String {
        format!("sha384-{}", c.to_string().repeat(64))
    }

    fn built() -> MfeManifest {
        let mut m = parse("mfe.json", SOURCE).unwrap();
        m.version = Some("0123456789abcdef".into());
        m.files = vec![
            BundleFile {
                path: "cart.js".into(),
                integrity: integrity('a'),
                size: 10,
            },
            BundleFile {
                path: "cart_bg.wasm".into(),
                integrity: integrity('b'),
                size: 20,
            },
        ];
        m.import_map = Some(ImportMapFragment {
            imports: [("@tessera/cart".to_string(), "./cart.js".to_string())].into(),
            integrity: [("./cart.js".to_string(), integrity('a'))].into(),
        });
        m
    }

    fn problems(m: &MfeManifest) -> Vec<String> {
        m.validate_built(
            "cart/mfe.json",
            &AllowedOrigins(vec!["https://cdn.example.com".into()]),
        )
        .iter()
        .map(|e| e.to_string())
        .collect()
    }

    #[test]
    fn a_good_manifest_passes_and_round_trips() {
        let m = built();
        assert_eq!(problems(&m), Vec::<String>::new());
        let text = serde_json::to_string_pretty(&m).unwrap();
        assert_eq!(parse("x", &text).unwrap(), m);
        assert!(m.validate_source("x").is_empty());
    }

    #[test]
    fn missing_field_is_named() {
        let text = SOURCE.replace(r#""mountPoint": "main","#, "");
        let m = parse("cart/mfe.json", &text).unwrap();
        let errs = m.validate_source("cart/mfe.json");
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            "cart/mfe.json: field `mountPoint`: is required for an app activated by route or always"
        );
        let text = SOURCE.replace(r#""name": "@tessera/cart","#, "");
        let e = parse("cart/mfe.json", &text).unwrap_err();
        assert_eq!(e.to_string(), "cart/mfe.json: field `name`: is required");
        let text = SOURCE.replace(r#""label": "Cart", "#, "");
        let e = parse("cart/mfe.json", &text).unwrap_err();
        assert_eq!(e.field, "nav.label");
    }

    #[test]
    fn wrong_types_and_unknown_fields_are_named() {
        let e = parse("f", &SOURCE.replace(r#""abi": 1"#, r#""abi": "one""#)).unwrap_err();
        assert_eq!(e.field, "abi");
        assert!(e.problem.contains("invalid type"), "{e}");
        let e = parse(
            "f",
            &SOURCE.replace(r#""abi": 1"#, r#""abi": 1, "mountpoint": "x""#),
        )
        .unwrap_err();
        assert!(e.problem.contains("unknown field `mountpoint`"), "{e}");
        let e = parse("f", "{").unwrap_err();
        assert_eq!(e.field, "");
        assert!(e.problem.contains("EOF"), "{e}");
    }

    #[test]
    fn bad_route_is_named() {
        let mut m = built();
        m.activation = Activation::Routes(vec!["/cart".into(), "cart//x".into()]);
        let p = problems(&m);
        assert_eq!(
            p,
            vec!["cart/mfe.json: field `activation.routes[1]`: \"cart//x\" must start with '/'"]
        );
        m.activation = Activation::Routes(vec!["/".into()]);
        assert!(problems(&m)
            .iter()
            .any(|p| p.contains("activation.routes[0]") && p.contains("default route")));
    }

    #[test]
    fn unknown_abi_and_schema() {
        let mut m = built();
        m.abi = 9;
        m.schema = 2;
        let p = problems(&m);
        assert!(
            p.contains(
                &"cart/mfe.json: field `abi`: unknown ABI 9 (supported: [1, 2])".to_string()
            ),
            "{p:?}"
        );
        assert!(p
            .iter()
            .any(|p| p.contains("`schema`: unknown schema version 2")));
    }

    #[test]
    fn entry_outside_allowed_origins() {
        let mut m = built();
        let evil = "https://evil.example.net/cart.js".to_string();
        let map = m.import_map.as_mut().unwrap();
        map.imports.insert("@tessera/cart".into(), evil.clone());
        map.integrity = [(evil, integrity('a'))].into();
        let p = problems(&m);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("field `importMap.imports.@tessera/cart`: entry URL \"https://evil.example.net/cart.js\" is outside the allowed origins"));
        // A look-alike origin is not the allowed one.
        assert!(!AllowedOrigins(vec!["https://cdn.example.com".into()])
            .allows("https://cdn.example.com.evil.net/x.js"));
        assert!(AllowedOrigins(vec!["https://cdn.example.com/".into()])
            .allows("https://cdn.example.com/x.js"));
        assert!(!AllowedOrigins::default().allows("//evil.net/x.js"));
    }

    #[test]
    fn built_fields_are_checked() {
        let mut m = built();
        m.version = None;
        m.files[1].path = "../escape.wasm".into();
        m.import_map
            .as_mut()
            .unwrap()
            .integrity
            .insert("./cart.js".into(), "md5-x".into());
        m.import_map
            .as_mut()
            .unwrap()
            .imports
            .insert("@other/app".into(), "./x.js".into());
        let p = problems(&m).join("\n");
        assert!(p.contains("field `version`: is required"), "{p}");
        assert!(p.contains("field `files[1].path`"), "{p}");
        assert!(
            p.contains("field `importMap.integrity../cart.js`: \"md5-x\" is not a sha384"),
            "{p}"
        );
        assert!(
            p.contains("field `importMap.imports.@other/app`: an app may only map its own name"),
            "{p}"
        );
        let mut m = built();
        m.import_map
            .as_mut()
            .unwrap()
            .integrity
            .insert("./cart.js".into(), integrity('z'));
        assert!(problems(&m)[0].contains("does not match"));
        let mut m = built();
        m.files.remove(0);
        assert!(problems(&m)[0].contains("is not one of the bundle's files"));
    }

    #[test]
    fn names_mount_points_nav_and_bff() {
        let mut m = built();
        m.name = "Cart".into();
        m.mount_point = Some("Main Area".into());
        m.nav.as_mut().unwrap().route = "/orders".into();
        m.bff = Some("/cart".into());
        let p = problems(&m).join("\n");
        assert!(
            p.contains("field `name`: \"Cart\" is not a valid name"),
            "{p}"
        );
        assert!(p.contains("field `mountPoint`: \"Main Area\""), "{p}");
        assert!(
            p.contains("field `nav.route`: \"/orders\" is not one of the app's activation routes"),
            "{p}"
        );
        assert!(p.contains("field `bff`"), "{p}");
        for good in ["@a/b", "@tessera/add-to-cart", "@t2/x9"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["a/b", "@a", "@/b", "@a/", "@A/b", "@a/-b", "@a/b/c"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn duplicates_are_found_in_one_pass() {
        assert_eq!(
            duplicates(["a", "b", "a", "c", "b", "a"], |s| *s),
            [(2, 0), (4, 1), (5, 0)]
        );
        assert!(duplicates(Vec::<&str>::new(), |s| *s).is_empty());
        // 200,000 distinct keys and one repeat: found, in linear time (a pairwise check of
        // this many would not finish in a test's lifetime).
        let mut keys: Vec<String> = (0..200_000).map(|i| format!("/r{i}")).collect();
        keys.push("/r7".into());
        assert_eq!(duplicates(&keys, |k| k.as_str()), [(200_000, 7)]);
    }

    #[test]
    fn duplicate_routes_parcels_and_files_are_named() {
        let mut m = built();
        m.activation = Activation::Routes(vec!["/cart".into(), "/a/:x".into(), "/a/:y/".into()]);
        m.parcels = vec!["mini".into(), "mini".into()];
        m.files.push(m.files[1].clone());
        let p = problems(&m).join("\n");
        assert!(
            p.contains("field `activation.routes[2]`: route \"/a/:y/\" is listed twice"),
            "{p}"
        );
        assert!(
            p.contains("field `parcels[1]`: \"mini\" is listed twice (first as parcels[0])"),
            "{p}"
        );
        assert!(
            p.contains(
                "field `files[2].path`: \"cart_bg.wasm\" is listed twice (first as files[1])"
            ),
            "{p}"
        );
    }

    #[test]
    fn limits_are_reported_once_with_the_field() {
        let mut m = built();
        let routes: Vec<String> = (0..200_000).map(|i| format!("/r{i}")).collect();
        m.activation = Activation::Routes(routes);
        m.nav = None;
        m.files = (0..=MAX_FILES_PER_APP)
            .map(|i| BundleFile {
                path: format!("f{i}.js"),
                integrity: integrity('a'),
                size: 1,
            })
            .collect();
        m.parcels = vec!["p".into(); MAX_PARCELS_PER_APP + 1];
        m.roles = vec!["r".into(); MAX_ROLES_PER_APP + 1];
        let p = problems(&m);
        assert!(p.contains(&"cart/mfe.json: field `activation.routes`: lists 200000 routes; an app may list at most 256".to_string()), "{p:?}");
        assert!(
            p.contains(
                &"cart/mfe.json: field `files`: lists 2001 files; a bundle may hold at most 2000"
                    .to_string()
            ),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|e| e.contains("field `parcels`: lists 257 parcels")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|e| e.contains("field `roles`: lists 65 roles")),
            "{p:?}"
        );
        assert_eq!(p.len(), 4, "one problem per limit: {p:?}");
        let mut m = built();
        let mut routes = vec!["/cart".to_string()];
        routes.extend((1..MAX_ROUTES_PER_APP).map(|i| format!("/cart{i}")));
        m.activation = Activation::Routes(routes);
        assert!(problems(&m).is_empty());
    }

    #[test]
    fn dot_segments_and_backslashes_in_routes_are_refused() {
        for (route, why) in [
            ("/x/../admin", "\"/x/../admin\" has a \"..\" segment"),
            ("/cart/./x", "has a \".\" segment"),
            ("/cart/%2e%2e", "has a \"%2e%2e\" segment"),
            ("/cart\\admin", "may only hold"),
            ("/cart//x", "empty segment"),
        ] {
            let mut m = built();
            m.activation = Activation::Routes(vec!["/cart".into(), route.into()]);
            let p = problems(&m);
            assert_eq!(p.len(), 1, "{route}: {p:?}");
            assert!(
                p[0].starts_with("cart/mfe.json: field `activation.routes[1]`: "),
                "{p:?}"
            );
            assert!(p[0].contains(why), "{route}: {p:?}");
        }
        let mut m = built();
        m.nav.as_mut().unwrap().route = "/cart/../admin".into();
        assert!(problems(&m)[0].contains("field `nav.route`"));
        m.nav.as_mut().unwrap().route = "/cart".into();
        m.bff = Some("/api/../admin".into());
        assert!(problems(&m)[0].contains("field `bff`"));
    }

    #[test]
    fn control_and_bidi_characters_in_text_are_refused() {
        for (c, code) in [
            ('\0', "U+0000"),
            ('\u{7}', "U+0007"),
            ('\n', "U+000A"),
            ('\u{7f}', "U+007F"),
            ('\u{85}', "U+0085"),
            ('\u{9b}', "U+009B"),
            ('\u{202E}', "U+202E"),
            ('\u{202A}', "U+202A"),
            ('\u{2066}', "U+2066"),
            ('\u{2069}', "U+2069"),
            ('\u{200F}', "U+200F"),
            ('\u{200E}', "U+200E"),
        ] {
            let text = format!("Car{c}t");
            let mut m = built();
            let nav = m.nav.as_mut().unwrap();
            nav.label = text.clone();
            nav.menu_key = text.clone();
            nav.icon = Some(text.clone());
            nav.required_role = Some(text.clone());
            m.roles = vec!["ok".into(), text.clone()];
            m.parcels = vec![text.clone()];
            let p = problems(&m);
            for field in [
                "nav.label",
                "nav.menuKey",
                "nav.icon",
                "nav.requiredRole",
                "roles[1]",
                "parcels[0]",
            ] {
                let line = p
                    .iter()
                    .find(|e| e.contains(&format!("field `{field}`:")))
                    .unwrap_or_else(|| panic!("{field} {code}: {p:?}"));
                assert!(line.contains(&format!("contains {code} (")), "{line}");
                assert!(
                    line.contains("not allowed in text shown to users"),
                    "{line}"
                );
            }
            assert_eq!(p.len(), 6, "{p:?}");
        }
        assert!(text_problem("\u{202E}").unwrap().contains("bidirectional"));
        assert!(text_problem("\u{7}")
            .unwrap()
            .contains("a control character"));
        for fine in ["Cart", "Панель", "عربة التسوق", "購物車 🛒", "Crème brûlée"]
        {
            assert_eq!(forbidden_char(fine), None, "{fine}");
        }
        let mut m = built();
        m.name = "@tessera/ca\u{0}rt".into();
        assert!(problems(&m)[0].contains("field `name`: \"@tessera/ca\\0rt\" is not a valid name"));
    }

    #[test]
    fn activation_forms() {
        let always: Activation = serde_json::from_str(r#""always""#).unwrap();
        assert_eq!(always, Activation::Always);
        let manual: Activation = serde_json::from_str(r#""manual""#).unwrap();
        assert_eq!(manual, Activation::Manual);
        let routes: Activation = serde_json::from_str(r#"{"routes":["/a"]}"#).unwrap();
        assert_eq!(routes, Activation::Routes(vec!["/a".into()]));
        let mut m = built();
        m.activation = Activation::Manual;
        m.mount_point = None;
        m.nav = None;
        assert!(problems(&m).is_empty());
    }
}
