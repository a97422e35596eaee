//! Dependencies point one way: apps → SDK → wire → contract, shell → runtime → wire → contract,
//! and within a crate no circle of modules (`a` names `crate::b`, `b` names `crate::a`).
//! Checked by tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each top-level module of the crate in `src` with the sibling modules it names through
/// `crate::<module>` (comments left out; a file under `src/<module>/` belongs to `<module>`).
pub fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    collect(src, &mut files);
    let module_of = |file: &Path| -> Option<String> {
        let rel = file.strip_prefix(src).ok()?;
        let first = rel.components().next()?.as_os_str().to_str()?;
        Some(first.trim_end_matches(".rs").to_string())
    };
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(module) = module_of(file) else {
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let deps = graph.entry(module.clone()).or_default();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            for (i, _) in code.match_indices("crate::") {
                let name: String = code[i + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name != module && name != "lib" && modules.contains(&name) {
                    deps.insert(name);
                }
            }
        }
    }
    graph.remove("lib");
    graph.remove("main");
    graph
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A circle of modules, if the graph has one (`[a, b, a]`).
pub fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every crate of the workspace: its folder.
    fn crates() -> Vec<std::path::PathBuf> {
        let root = crate::root();
        let mut dirs: Vec<_> = [
            "shared/contract",
            "shared/runtime",
            "shared/sdk",
            "shared/wire",
            "shell",
            "shell/auth",
            "shell/common",
            "shell/platform",
            "service-worker",
            "deployer",
            "bff",
            "xtask",
            "examples/readme-app",
        ]
        .iter()
        .map(|d| root.join(d))
        .collect();
        dirs.extend(crate::apps::all().unwrap().into_iter().map(|a| a.dir));
        dirs
    }

    #[test]
    fn no_crate_has_a_circle_of_modules() {
        for dir in crates() {
            assert!(dir.join("src").is_dir(), "{}", dir.display());
            let graph = module_graph(&dir.join("src"));
            if let Some(cycle) = find_cycle(&graph) {
                panic!(
                    "{}: modules in a circle: {}",
                    dir.display(),
                    cycle.join(" → ")
                );
            }
        }
    }

    /// The `tessera-*` crates a crate's Cargo.toml depends on.
    fn tessera_deps(dir: &Path) -> BTreeSet<String> {
        let text = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("tessera-"))
            .filter_map(|rest| rest.split([' ', '=']).next())
            .map(|name| format!("tessera-{name}"))
            .collect()
    }

    #[test]
    fn crates_depend_one_way() {
        let root = crate::root();
        let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(tessera_deps(&root.join("shared/contract")), set(&[]));
        // The JS forms of the contract's types, shared by the SDK and the runtime.
        assert_eq!(
            tessera_deps(&root.join("shared/wire")),
            set(&["tessera-contract"])
        );
        assert_eq!(
            tessera_deps(&root.join("shared/sdk")),
            set(&["tessera-contract", "tessera-wire"])
        );
        assert_eq!(
            tessera_deps(&root.join("shared/runtime")),
            set(&["tessera-contract", "tessera-wire"])
        );
        for app in crate::apps::all().unwrap() {
            assert_eq!(
                tessera_deps(&app.dir),
                set(&["tessera-sdk"]),
                "{}",
                app.crate_name
            );
        }
        assert_eq!(
            tessera_deps(&root.join("examples/readme-app")),
            set(&["tessera-sdk"])
        );
        // The start module draws the first page without the client runtime; the platform
        // module holds it. The start module loads the platform at run time, never links it.
        assert_eq!(
            tessera_deps(&root.join("shell")),
            set(&["tessera-contract", "tessera-sdk"])
        );
        let start = std::fs::read_to_string(root.join("shell/Cargo.toml")).unwrap();
        assert!(
            !start.contains("shell-platform"),
            "the start module links the platform"
        );
        assert_eq!(
            tessera_deps(&root.join("shell/platform")),
            set(&["tessera-contract", "tessera-runtime", "tessera-sdk"])
        );
    }

    #[test]
    fn circles_are_found_and_named() {
        let graph = |edges: &[(&str, &str)]| {
            let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for (a, b) in edges {
                g.entry(a.to_string()).or_default().insert(b.to_string());
                g.entry(b.to_string()).or_default();
            }
            g
        };
        assert_eq!(
            find_cycle(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])),
            None
        );
        assert_eq!(
            find_cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])).unwrap(),
            ["a", "b", "c", "a"]
        );
        let dir = std::env::temp_dir().join(format!("tessera-layers-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src/b")).unwrap();
        std::fs::write(
            dir.join("src/a.rs"),
            "use crate::b::x; // crate::c in a comment",
        )
        .unwrap();
        std::fs::write(dir.join("src/b/inner.rs"), "fn f() { crate::a::g() }").unwrap();
        std::fs::write(dir.join("src/c.rs"), "").unwrap();
        let g = module_graph(&dir.join("src"));
        assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "a"]);
        assert!(g["c"].is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
