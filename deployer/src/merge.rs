//! Merging the shell's layout, the base import map and every app's built `mfe.json` into the
//! published manifests (`importmap.json`, `apps.json`, `mount-points.json`). Only the deployer
//! merges; browsers read the result through `tessera_contract::published`.

use std::collections::{BTreeMap, HashMap};
use tessera_contract::manifest::{Activation, ManifestError, MfeManifest};
use tessera_contract::published::*;
use tessera_contract::routing::RoutePattern;

/// Most routes the published set may hold, all apps together.
pub const MAX_PUBLISHED_ROUTES: usize = 10_000;
/// Most navigation entries the published set may hold, all apps together.
pub const MAX_NAV_ENTRIES: usize = 500;

/// One app to merge: the file it came from (for error messages), its built manifest, and the
/// public URL of its bundle folder (`/@tessera/cart/<hash>/`).
pub struct MergeInput<'a> {
    pub file: String,
    pub manifest: &'a MfeManifest,
    pub bundle_url: String,
}

/// The public folder of an app version in the store: `@tessera/cart/<hash>/`.
pub fn bundle_dir(name: &str, version: &str) -> String {
    format!("{name}/{version}/")
}

fn resolve_url(bundle_url: &str, entry: &str) -> String {
    match entry.strip_prefix("./") {
        Some(rel) => format!("{bundle_url}{rel}"),
        None => entry.to_string(),
    }
}

/// The files a browser loads for a built app, as URLs under its bundle at `bundle_url`
/// (`/@tessera/cart/<hash>/`), each with its subresource integrity.
pub struct BundleUrls {
    pub entry: String,
    pub integrity: String,
    /// The bundle's other JS and wasm files (what loading the entry fetches), to preload.
    pub others: Vec<(String, String)>,
}

impl BundleUrls {
    /// `None` for a manifest that is not built.
    pub fn of(m: &MfeManifest, bundle_url: &str) -> Option<BundleUrls> {
        let fragment = m.import_map.as_ref()?;
        let entry = fragment.imports.get(&m.name)?;
        let integrity = fragment.integrity.get(entry)?.clone();
        let others = m
            .files
            .iter()
            .map(|f| (format!("./{}", f.path), &f.integrity))
            .filter(|(rel, _)| rel != entry && (rel.ends_with(".wasm") || rel.ends_with(".js")))
            .map(|(rel, sri)| (resolve_url(bundle_url, &rel), sri.clone()))
            .collect();
        Some(BundleUrls {
            entry: resolve_url(bundle_url, entry),
            integrity,
            others,
        })
    }

    pub fn preload(&self) -> Vec<String> {
        self.others.iter().map(|(url, _)| url.clone()).collect()
    }

    /// Records every file's integrity in the import map, where the shell looks it up before
    /// it runs anything of the bundle.
    pub fn record_integrity(&self, import_map: &mut ImportMap) {
        import_map
            .integrity
            .insert(self.entry.clone(), self.integrity.clone());
        for (url, sri) in &self.others {
            import_map.integrity.insert(url.clone(), sri.clone());
        }
    }
}

/// Merges the shell layout, the base import map and every app into the published manifests.
/// Every problem is reported, each naming the file and field it comes from.
pub fn merge(
    base: &ImportMap,
    layout: &ShellLayout,
    inputs: &[MergeInput<'_>],
) -> Result<Published, Vec<ManifestError>> {
    let mut errs = Vec::new();
    let mut import_map = base.clone();
    let mut apps = tessera_contract::VecMap::new();
    let mut always = Vec::new();
    let mut routed: Vec<(RoutePattern, RouteNode, String)> = Vec::new();
    // Canonical route -> its index in `routed`, so a claim is checked in one look-up.
    let mut claimed: HashMap<String, usize> = HashMap::new();
    let mut nav_entries = 0usize;
    let mut mount_points: Vec<MountPoint> = layout
        .mount_points
        .iter()
        .map(|name| MountPoint {
            name: name.clone(),
            apps: Vec::new(),
            navigation: Vec::new(),
        })
        .collect();
    let mut owner_of_name: BTreeMap<&str, &str> = BTreeMap::new();

    if RoutePattern::parse(&layout.default_route).is_err() || layout.default_route == "/" {
        errs.push(ManifestError::new(
            "shell.json",
            "defaultRoute",
            format!("{:?} must be a route other than '/'", layout.default_route),
        ));
    }
    if !layout.mount_points.contains(&layout.not_found_mount_point) {
        errs.push(ManifestError::new(
            "shell.json",
            "notFoundMountPoint",
            format!(
                "{:?} is not one of the shell's mount points",
                layout.not_found_mount_point
            ),
        ));
    }

    for input in inputs {
        let m = input.manifest;
        let file = input.file.as_str();
        if let Some(first) = owner_of_name.insert(&m.name, file) {
            errs.push(ManifestError::new(
                file,
                "name",
                format!("{:?} is already published by {first}", m.name),
            ));
            continue;
        }
        if base.imports.contains_key(&m.name) {
            errs.push(ManifestError::new(
                file,
                "name",
                format!("{:?} is reserved by the base import map", m.name),
            ));
        }
        let (Some(version), Some(fragment)) = (&m.version, &m.import_map) else {
            errs.push(ManifestError::new(
                file,
                "version",
                "the manifest is not a built one",
            ));
            continue;
        };
        let urls = BundleUrls::of(m, &input.bundle_url);
        let preload = urls.as_ref().map(BundleUrls::preload).unwrap_or_default();
        if let Some(urls) = &urls {
            urls.record_integrity(&mut import_map);
        }
        for (spec, entry) in &fragment.imports {
            let url = resolve_url(&input.bundle_url, entry);
            if let Some(sri) = fragment.integrity.get(entry) {
                import_map.integrity.insert(url.clone(), sri.clone());
            }
            import_map.imports.insert(spec.clone(), url);
        }
        apps.insert(
            m.name.clone(),
            AppEntry {
                version: version.clone(),
                abi: m.abi,
                specifier: m.specifier().to_string(),
                roles: m.roles.clone(),
                parcels: m.parcels.clone(),
                bff: m.bff.clone(),
                preload,
                cohorts: Vec::new(),
            },
        );
        if let Some(mp_name) = &m.mount_point {
            match mount_points.iter_mut().find(|mp| &mp.name == mp_name) {
                Some(mp) => {
                    mp.apps.push(m.name.clone());
                    if let Some(nav) = &m.nav {
                        nav_entries += 1;
                        if nav_entries > MAX_NAV_ENTRIES {
                            errs.push(ManifestError::new(
                                file,
                                "nav",
                                format!(
                                    "the published set already has {MAX_NAV_ENTRIES} navigation entries, the most it may hold"
                                ),
                            ));
                        } else {
                            mp.navigation.push(NavLink {
                                app: m.name.clone(),
                                meta: nav.clone(),
                            });
                        }
                    }
                }
                None if !matches!(m.activation, Activation::Manual) => {
                    errs.push(ManifestError::new(
                        file,
                        "mountPoint",
                        format!(
                            "{mp_name:?} is not a mount point of the shell (it has {:?})",
                            layout.mount_points
                        ),
                    ))
                }
                None => {}
            }
        }
        let mount_point = m.mount_point.clone().unwrap_or_default();
        match &m.activation {
            Activation::Always => always.push(MountedApp {
                app: m.name.clone(),
                mount_point,
            }),
            Activation::Manual => {}
            Activation::Routes(paths) if routed.len() + paths.len() > MAX_PUBLISHED_ROUTES => {
                errs.push(ManifestError::new(
                    file,
                    "activation.routes",
                    format!(
                        "its {} routes would make {} published routes, all apps together; the most is {MAX_PUBLISHED_ROUTES}",
                        paths.len(),
                        routed.len() + paths.len()
                    ),
                ));
            }
            Activation::Routes(paths) => {
                for (i, path) in paths.iter().enumerate() {
                    let Ok(pattern) = RoutePattern::parse(path) else {
                        continue; // reported by validate_source
                    };
                    let field = format!("activation.routes[{i}]");
                    let canonical = pattern.canonical();
                    if let Some(&at) = claimed.get(&canonical) {
                        let (_, other, other_file) = &routed[at];
                        errs.push(ManifestError::new(
                            file,
                            field,
                            format!(
                                "route {path:?} is already claimed by {} ({other_file})",
                                other.app
                            ),
                        ));
                        continue;
                    }
                    claimed.insert(canonical, routed.len());
                    routed.push((
                        pattern,
                        RouteNode {
                            path: path.clone(),
                            app: m.name.clone(),
                            mount_point: mount_point.clone(),
                            routes: Vec::new(),
                        },
                        file.to_string(),
                    ));
                }
            }
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }

    // Shallow routes first, so each deeper route nests under the deepest route containing it.
    routed.sort_by(|a, b| (a.0.depth(), a.0.as_str()).cmp(&(b.0.depth(), b.0.as_str())));
    let mut tree = Tree::default();
    for (pattern, node, _) in routed {
        tree.insert(pattern, node);
    }
    let roots = tree.into_nodes();
    for mp in &mut mount_points {
        mp.navigation
            .sort_by(|a, b| (a.meta.order, &a.meta.label).cmp(&(b.meta.order, &b.meta.label)));
    }
    Ok(Published {
        import_map,
        apps: AppsManifest {
            schema: PUBLISHED_SCHEMA,
            apps,
            routes: RouteTree {
                always,
                routes: roots,
                default: layout.default_route.clone(),
                not_found: layout.not_found_mount_point.clone(),
            },
        },
        mount_points: MountPointsManifest {
            schema: PUBLISHED_SCHEMA,
            mount_points,
        },
    })
}

/// The routes tree under construction: each route goes under the first route (in insertion
/// order) of its level that contains it, and down from there, as `RoutePattern::is_within`
/// says. Each level indexes its routes by their segment at the level's depth, so a route
/// is compared with the few routes it could fall under, not with every route of the level.
#[derive(Default)]
struct Tree {
    nodes: Vec<TreeNode>,
    roots: Level,
}

struct TreeNode {
    pattern: RoutePattern,
    node: RouteNode,
    children: Level,
}

#[derive(Default)]
struct Level {
    /// Every route of the level, in insertion order.
    all: Vec<usize>,
    /// Routes whose segment at the level's depth is this literal.
    by_literal: HashMap<String, Vec<usize>>,
    /// Routes with a parameter at the level's depth, or no segment there.
    other: Vec<usize>,
}

/// The canonical segments of a pattern (`:*` for a parameter).
fn segments(pattern: &RoutePattern) -> Vec<String> {
    pattern
        .canonical()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn literal_at(segs: &[String], i: usize) -> Option<&str> {
    segs.get(i).map(String::as_str).filter(|s| *s != ":*")
}

impl Tree {
    fn insert(&mut self, pattern: RoutePattern, node: RouteNode) {
        let segs = segments(&pattern);
        let mut parent: Option<usize> = None;
        loop {
            let depth = parent.map_or(0, |p| self.nodes[p].pattern.depth());
            let level = match parent {
                Some(p) => &self.nodes[p].children,
                None => &self.roots,
            };
            // A route with a literal at `depth` is never within a route with another literal
            // there; every other route of the level may contain it.
            let literal = literal_at(&segs, depth);
            let same = literal.and_then(|l| level.by_literal.get(l));
            let within = same
                .into_iter()
                .flatten()
                .chain(&level.other)
                .copied()
                .filter(|&i| pattern.is_within(&self.nodes[i].pattern))
                .min();
            match within {
                Some(i) => parent = Some(i),
                None => break,
            }
        }
        let depth = parent.map_or(0, |p| self.nodes[p].pattern.depth());
        let index = self.nodes.len();
        let key = literal_at(&segs, depth).map(String::from);
        self.nodes.push(TreeNode {
            pattern,
            node,
            children: Level::default(),
        });
        let level = match parent {
            Some(p) => &mut self.nodes[p].children,
            None => &mut self.roots,
        };
        level.all.push(index);
        match key {
            Some(key) => level.by_literal.entry(key).or_default().push(index),
            None => level.other.push(index),
        }
    }

    /// The finished tree, each level in insertion order.
    fn into_nodes(self) -> Vec<RouteNode> {
        let mut slots: Vec<Option<TreeNode>> = self.nodes.into_iter().map(Some).collect();
        fn build(slots: &mut [Option<TreeNode>], level: &[usize]) -> Vec<RouteNode> {
            level
                .iter()
                .map(|&i| {
                    let TreeNode { node, children, .. } = slots[i].take().expect("each node once");
                    let mut node = node;
                    node.routes = build(slots, &children.all);
                    node
                })
                .collect()
        }
        build(&mut slots, &self.roots.all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_contract::manifest::{parse, BundleFile, ImportMapFragment, NavMeta};

    fn layout() -> ShellLayout {
        ShellLayout {
            schema: 1,
            mount_points: vec!["nav".into(), "main".into(), "aside".into()],
            default_route: "/restaurants".into(),
            not_found_mount_point: "main".into(),
        }
    }

    fn app(
        name: &str,
        activation: &str,
        mount_point: Option<&str>,
        nav: Option<(&str, i32)>,
    ) -> MfeManifest {
        let short = name.rsplit('/').next().unwrap();
        let mut m = parse(
            "t",
            &format!(r#"{{"schema":1,"name":"{name}","abi":1,"activation":{activation}}}"#),
        )
        .unwrap();
        m.mount_point = mount_point.map(String::from);
        m.nav = nav.map(|(route, order)| NavMeta {
            menu_key: short.into(),
            label: short.to_uppercase(),
            icon: None,
            route: route.into(),
            required_role: None,
            order,
        });
        m.version = Some("abcdef0123456789".into());
        let entry = format!("./{short}.js");
        let sri = format!("sha384-{}", "A".repeat(64));
        m.files = vec![BundleFile {
            path: format!("{short}.js"),
            integrity: sri.clone(),
            size: 1,
        }];
        m.import_map = Some(ImportMapFragment {
            imports: [(name.to_string(), entry.clone())].into(),
            integrity: [(entry, sri)].into(),
        });
        m
    }

    fn inputs(apps: &[MfeManifest]) -> Vec<MergeInput<'_>> {
        apps.iter()
            .map(|m| MergeInput {
                file: format!("{}/mfe.json", m.name),
                manifest: m,
                bundle_url: format!("/{}", bundle_dir(&m.name, m.version.as_deref().unwrap())),
            })
            .collect()
    }

    fn demo() -> Vec<MfeManifest> {
        vec![
            app("@t/nav", r#""always""#, Some("nav"), None),
            app(
                "@t/restaurants",
                r#"{"routes":["/restaurants"]}"#,
                Some("main"),
                Some(("/restaurants", 10)),
            ),
            app(
                "@t/reviews",
                r#"{"routes":["/restaurants/:id/reviews"]}"#,
                Some("aside"),
                None,
            ),
            app(
                "@t/cart",
                r#"{"routes":["/cart"]}"#,
                Some("main"),
                Some(("/cart", 20)),
            ),
            app("@t/add-to-cart", r#""manual""#, None, None),
        ]
    }

    #[test]
    fn merges_import_map_with_integrity() {
        let apps = demo();
        let base = ImportMap {
            imports: [("@t/bus".to_string(), "/bus.js".to_string())].into(),
            ..Default::default()
        };
        let p = merge(&base, &layout(), &inputs(&apps)).unwrap();
        let url = "/@t/cart/abcdef0123456789/cart.js";
        assert_eq!(p.import_map.imports["@t/cart"], url);
        assert_eq!(p.import_map.imports["@t/bus"], "/bus.js");
        assert!(p.import_map.integrity[url].starts_with("sha384-"));
        assert_eq!(p.import_map.integrity.len(), 5);
        let json = serde_json::to_value(&p.import_map).unwrap();
        assert!(
            json.get("scopes").is_none(),
            "empty scopes are omitted: {json}"
        );
        assert_eq!(p.apps.apps.len(), 5);
        assert_eq!(p.apps.apps["@t/cart"].version, "abcdef0123456789");
    }

    #[test]
    fn lists_what_loading_an_app_fetches_besides_its_entry() {
        let mut apps = demo();
        let sri = format!("sha384-{}", "B".repeat(64));
        for path in ["cart_bg.wasm", "snippets/x/inline0.js", "README.txt"] {
            apps[3].files.push(BundleFile {
                path: path.into(),
                integrity: sri.clone(),
                size: 1,
            });
        }
        let p = merge(&ImportMap::default(), &layout(), &inputs(&apps)).unwrap();
        assert_eq!(
            p.apps.apps["@t/cart"].preload,
            [
                "/@t/cart/abcdef0123456789/cart_bg.wasm",
                "/@t/cart/abcdef0123456789/snippets/x/inline0.js"
            ]
        );
        assert!(
            p.apps.apps["@t/nav"].preload.is_empty(),
            "the entry itself is not repeated"
        );
        // The shell checks every file it runs against the import map's integrity.
        for url in &p.apps.apps["@t/cart"].preload {
            assert_eq!(p.import_map.integrity.get(url), Some(&sri), "{url}");
        }
        assert!(!p
            .import_map
            .integrity
            .keys()
            .any(|u| u.ends_with("README.txt")));
    }

    #[test]
    fn builds_a_nested_routes_tree() {
        let apps = demo();
        let p = merge(&ImportMap::default(), &layout(), &inputs(&apps)).unwrap();
        let r = &p.apps.routes;
        assert_eq!(
            r.always,
            vec![MountedApp {
                app: "@t/nav".into(),
                mount_point: "nav".into()
            }]
        );
        let paths: Vec<_> = r.routes.iter().map(|n| n.path.as_str()).collect();
        assert_eq!(paths, vec!["/cart", "/restaurants"]);
        let restaurants = &r.routes[1];
        assert_eq!(restaurants.routes.len(), 1);
        assert_eq!(restaurants.routes[0].path, "/restaurants/:id/reviews");
    }

    #[test]
    fn resolves_routes_redirects_and_404() {
        let apps = demo();
        let p = merge(&ImportMap::default(), &layout(), &inputs(&apps)).unwrap();
        let tree = &p.apps.routes;
        let Resolution::Show(active) = tree.resolve("/restaurants/r1/reviews") else {
            panic!("expected apps");
        };
        let names: Vec<_> = active.iter().map(|a| a.app.as_str()).collect();
        assert_eq!(names, vec!["@t/nav", "@t/restaurants", "@t/reviews"]);
        assert_eq!(active[2].params["id"], "r1");
        assert_eq!(active[1].base_path, "/restaurants");
        let Resolution::Show(active) = tree.resolve("/restaurants/r1") else {
            panic!("expected apps");
        };
        assert_eq!(active.len(), 2);
        assert_eq!(
            tree.resolve("/"),
            Resolution::Redirect("/restaurants".into())
        );
        match tree.resolve("/nowhere") {
            Resolution::NotFound {
                always,
                mount_point,
            } => {
                assert_eq!(mount_point, "main");
                assert_eq!(always.len(), 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mount_points_carry_navigation_in_order() {
        let apps = demo();
        let p = merge(&ImportMap::default(), &layout(), &inputs(&apps)).unwrap();
        let main = p
            .mount_points
            .mount_points
            .iter()
            .find(|m| m.name == "main")
            .unwrap();
        assert_eq!(main.apps, vec!["@t/restaurants", "@t/cart"]);
        let labels: Vec<_> = p
            .mount_points
            .navigation()
            .iter()
            .map(|n| n.meta.label.clone())
            .collect();
        assert_eq!(labels, vec!["RESTAURANTS", "CART"]);
        let json = serde_json::to_value(&p.mount_points).unwrap();
        assert_eq!(
            json["mountPoints"][1]["navigation"][0]["meta"]["menuKey"],
            "restaurants"
        );
        assert_eq!(
            json["mountPoints"][1]["navigation"][0]["app"],
            "@t/restaurants"
        );
    }

    #[test]
    fn duplicates_and_unknown_mount_points_are_rejected_with_file_and_field() {
        let mut apps = demo();
        apps.push(app(
            "@t/cart",
            r#"{"routes":["/basket"]}"#,
            Some("main"),
            None,
        ));
        apps.push(app(
            "@t/basket",
            r#"{"routes":["/cart/"]}"#,
            Some("main"),
            None,
        ));
        apps.push(app("@t/footer", r#""always""#, Some("footer"), None));
        let mut ins = inputs(&apps);
        ins[5].file = "dup/mfe.json".into();
        let errs = merge(&ImportMap::default(), &layout(), &ins).unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(text.len(), 3, "{text:#?}");
        assert_eq!(
            text[0],
            "dup/mfe.json: field `name`: \"@t/cart\" is already published by @t/cart/mfe.json"
        );
        assert!(text[1].starts_with("@t/basket/mfe.json: field `activation.routes[0]`: route \"/cart/\" is already claimed by @t/cart"), "{}", text[1]);
        assert!(
            text[2].contains("field `mountPoint`: \"footer\" is not a mount point of the shell")
        );
    }

    /// `count` apps `@t/a<i>` on `main`, each with `per_app` flat routes.
    fn many(count: usize, per_app: usize) -> Vec<MfeManifest> {
        (0..count)
            .map(|a| {
                let mut m = app(&format!("@t/a{a}"), r#""always""#, Some("main"), None);
                m.activation =
                    Activation::Routes((0..per_app).map(|r| format!("/a{a}/r{r}")).collect());
                m
            })
            .collect()
    }

    #[test]
    fn the_most_published_routes_merge_and_one_more_is_refused() {
        // 10,000 routes: a pairwise claim check and tree build took seconds; now a hash look-up.
        let apps = many(40, 250);
        let p = merge(&ImportMap::default(), &layout(), &inputs(&apps)).unwrap();
        assert_eq!(p.apps.routes.routes.len(), MAX_PUBLISHED_ROUTES);
        let mut apps = many(40, 250);
        apps.push(app(
            "@t/extra",
            r#"{"routes":["/extra"]}"#,
            Some("main"),
            None,
        ));
        let errs = merge(&ImportMap::default(), &layout(), &inputs(&apps)).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(
            errs[0].to_string(),
            "@t/extra/mfe.json: field `activation.routes`: its 1 routes would make 10001 published routes, all apps together; the most is 10000"
        );
    }

    #[test]
    fn the_most_nav_entries_are_bounded() {
        let apps: Vec<MfeManifest> = (0..=MAX_NAV_ENTRIES)
            .map(|i| {
                let mut m = app(&format!("@t/n{i}"), r#""always""#, Some("main"), None);
                m.nav = Some(NavMeta {
                    menu_key: format!("n{i}"),
                    label: format!("N{i}"),
                    icon: None,
                    route: "/x".into(),
                    required_role: None,
                    order: 0,
                });
                m
            })
            .collect();
        let errs = merge(&ImportMap::default(), &layout(), &inputs(&apps)).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].file, format!("@t/n{MAX_NAV_ENTRIES}/mfe.json"));
        assert_eq!(errs[0].field, "nav");
        assert!(
            errs[0].problem.contains("500 navigation entries"),
            "{}",
            errs[0]
        );
        assert!(merge(
            &ImportMap::default(),
            &layout(),
            &inputs(&apps[..MAX_NAV_ENTRIES])
        )
        .is_ok());
    }

    #[test]
    fn the_tree_nests_each_route_under_the_first_route_containing_it() {
        let routes = [
            "/r/:id/reviews/:rid",
            "/r",
            "/:any",
            "/r/:id",
            "/r/7",
            "/r/7/menu",
            "/s/x",
            "/r/:id/reviews",
        ];
        let apps: Vec<MfeManifest> = routes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                app(
                    &format!("@t/a{i}"),
                    &format!(r#"{{"routes":["{r}"]}}"#),
                    Some("main"),
                    None,
                )
            })
            .collect();
        let p = merge(&ImportMap::default(), &layout(), &inputs(&apps)).unwrap();
        fn show(nodes: &[RouteNode]) -> String {
            nodes
                .iter()
                .map(|n| {
                    if n.routes.is_empty() {
                        n.path.clone()
                    } else {
                        format!("{}[{}]", n.path, show(&n.routes))
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        }
        // Shallow first, then by text: `/:any` comes before `/r` and contains it; `/r/7`
        // sorts before `/r/:id`, so it is not nested under it.
        assert_eq!(
            show(&p.apps.routes.routes),
            "/:any[/r[/r/7[/r/7/menu] /r/:id[/r/:id/reviews[/r/:id/reviews/:rid]]] /s/x]"
        );
        assert_eq!(p.apps.routes.routes, reference_tree(&routes, "a"));
        // Many mixed routes: the indexed tree is the one the pairwise build made.
        let mut routes: Vec<String> = Vec::new();
        for a in ["a", "b", ":p"] {
            for b in ["x", "y", ":q", "7"] {
                routes.push(format!("/{a}"));
                routes.push(format!("/{a}/{b}"));
                for c in ["m", ":r"] {
                    routes.push(format!("/{a}/{b}/{c}"));
                    routes.push(format!("/{a}/{c}/{b}"));
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        routes.retain(|r| seen.insert(RoutePattern::parse(r).unwrap().canonical()));
        let apps: Vec<MfeManifest> = routes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                app(
                    &format!("@t/m{i}"),
                    &format!(r#"{{"routes":["{r}"]}}"#),
                    Some("main"),
                    None,
                )
            })
            .collect();
        let p = merge(&ImportMap::default(), &layout(), &inputs(&apps)).unwrap();
        let refs: Vec<&str> = routes.iter().map(String::as_str).collect();
        assert_eq!(p.apps.routes.routes, reference_tree(&refs, "m"));
    }

    /// The tree as the earlier pairwise build made it (each route compared with every route
    /// of each level), for comparison.
    fn reference_tree(paths: &[&str], prefix: &str) -> Vec<RouteNode> {
        fn insert(level: &mut Vec<(RoutePattern, RouteNode)>, p: RoutePattern, n: RouteNode) {
            if let Some(parent) = level.iter_mut().find(|(q, _)| p.is_within(q)) {
                let mut children: Vec<(RoutePattern, RouteNode)> =
                    std::mem::take(&mut parent.1.routes)
                        .into_iter()
                        .map(|n| (RoutePattern::parse(&n.path).unwrap(), n))
                        .collect();
                insert(&mut children, p, n);
                parent.1.routes = children.into_iter().map(|(_, n)| n).collect();
            } else {
                level.push((p, n));
            }
        }
        let mut all: Vec<(usize, RoutePattern)> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| (i, RoutePattern::parse(p).unwrap()))
            .collect();
        all.sort_by(|a, b| (a.1.depth(), a.1.as_str()).cmp(&(b.1.depth(), b.1.as_str())));
        let mut roots = Vec::new();
        for (i, p) in all {
            let node = RouteNode {
                path: p.as_str().to_string(),
                app: format!("@t/{prefix}{i}"),
                mount_point: "main".into(),
                routes: Vec::new(),
            };
            insert(&mut roots, p, node);
        }
        roots.into_iter().map(|(_, n)| n).collect()
    }

    #[test]
    fn bad_layout_is_reported() {
        let mut l = layout();
        l.default_route = "/".into();
        l.not_found_mount_point = "x".into();
        let errs = merge(&ImportMap::default(), &l, &[]).unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].field, "defaultRoute");
        assert_eq!(errs[1].field, "notFoundMountPoint");
    }
}
