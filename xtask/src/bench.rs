//! `cargo xtask bench`: bundle sizes, real-user monitoring's bytes, page load timings (`tests/bench/load.mjs`), service
//! worker figures (`tests/bench/offline.mjs`), outbox figures (`tests/bench/outbox.mjs`) and
//! live-update figures (`tests/bench/live.mjs`), then the outbox durability tests at 200 kills
//! and 100 network flaps.
//! Figures are printed, never asserted.

use crate::build;
use crate::dev::server_bins_in;
use crate::run::run;
use crate::tools;
use anyhow::{Context, Result};
use std::path::Path;
use std::process::Command;

/// Sizes of each packaged app: its wasm, its JS (glue and snippets), raw and gzip, and the
/// whole as the CDN serves it to browsers that take brotli. The shell's
/// bundle is shown by module: the start path (what `index.html` loads before the first app
/// mounts), the platform module (imported beside it), the worker and the sign-in module.
fn sizes(built: &[build::Built]) -> Result<()> {
    println!(
        "\n{:<16} {:>10} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "app", "wasm raw", "wasm gz", "js raw", "js gz", "wasm+js gz", "wasm+js br"
    );
    for b in built {
        let all = files(&b.dir)?;
        if b.label != "shell" {
            size_row(&b.label, &all)?;
            continue;
        }
        let module_of = |f: &Path| {
            let path = f.to_string_lossy();
            ["platform", "sw", "auth"]
                .into_iter()
                .find(|m| path.contains(&format!("/{m}/")))
        };
        for (label, module) in [
            ("shell start", None),
            ("  platform", Some("platform")),
            ("  worker", Some("sw")),
            ("  sign-in", Some("auth")),
        ] {
            let mine: Vec<_> = all
                .iter()
                .filter(|f| module_of(f) == module)
                .cloned()
                .collect();
            size_row(label, &mine)?;
        }
    }
    Ok(())
}

fn size_row(label: &str, files: &[std::path::PathBuf]) -> Result<()> {
    let (mut wasm, mut wasm_gz, mut js, mut js_gz, mut br) = (0, 0, 0, 0, 0);
    for file in files {
        let bytes = std::fs::read(file)?;
        let gz = tessera_deployer::check::gzip_len(&bytes)? as usize;
        match file.extension().and_then(|e| e.to_str()) {
            Some("wasm") => (wasm, wasm_gz) = (wasm + bytes.len(), wasm_gz + gz),
            Some("js") => (js, js_gz) = (js + bytes.len(), js_gz + gz),
            _ => continue,
        }
        br += tessera_deployer::cdn::stored_brotli(&bytes).len();
    }
    println!(
        "{:<16} {:>10} {:>10} {:>10} {:>10} {:>12} {:>12}",
        label,
        wasm,
        wasm_gz,
        js,
        js_gz,
        wasm_gz + js_gz,
        br
    );
    Ok(())
}

/// twiggy's whole `top` listing of a crate's release wasm as rustc left it (before wasm-bindgen
/// and wasm-opt strip the names; sizes are therefore larger than shipped).
fn twiggy_top(name: &str) -> Result<String> {
    let wasm = crate::root()
        .join("target/wasm32-unknown-unknown/release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    crate::run::output(
        Command::new(tools::twiggy()?)
            .args(["top", "-n", "1000000"])
            .arg(&wasm),
    )
    .with_context(|| format!("twiggy top {}", wasm.display()))
}

/// The 10 biggest items of a listing, leaving out custom sections and wasm-bindgen's describe
/// exports, which the CLI removes.
fn biggest_items(name: &str, listing: &str) {
    println!("\ntwiggy top items of {name} (before wasm-bindgen and wasm-opt):");
    for line in listing
        .lines()
        .skip(2)
        .filter(|l| !l.contains("custom section") && !l.contains("subsection"))
        .filter(|l| !l.contains("export \"") && !l.contains("Total Rows") && !l.contains("more."))
        .take(10)
    {
        println!("{line}");
    }
}

/// Real-user monitoring's bytes on the shell's start path: its section of the start module's
/// JavaScript (`shell/src/start.js`, as written: the shipped file is minified as a whole, with
/// the other sections), gzip, and the items of `rum::` and its imports in the shell's twiggy
/// listing (raw bytes before wasm-bindgen and wasm-opt: the shipped wasm has no names to
/// attribute). `docs/benchmarks.md` holds the exact figure, from a build with and one without it.
fn rum_bytes(shell_listing: &str) -> Result<()> {
    let path = crate::root().join("shell/src/start.js");
    let js =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let snippet = rum_section(&js)
        .with_context(|| format!("{} has no section headed {RUM_HEADING:?}", path.display()))?
        .as_bytes();
    let (mut items, mut raw) = (0, 0);
    for line in shell_listing.lines() {
        let mut columns = line.split('┊');
        let (Some(size), Some(_), Some(name)) = (columns.next(), columns.next(), columns.next())
        else {
            continue;
        };
        // wasm-bindgen removes the describe functions; what is inlined into the lifecycle
        // cannot be told apart, so this undercounts.
        let rum = name.contains("rum::") || name.contains("__wbg_rum");
        if rum && !name.contains("describe") {
            if let Ok(size) = size.trim().parse::<u64>() {
                (items, raw) = (items + 1, raw + size);
            }
        }
    }
    println!(
        "\nreal-user monitoring on the shell's start path: its JS {} B gzip ({} B as written); \
         {items} wasm items of rum, {raw} B raw before wasm-bindgen and wasm-opt",
        tessera_deployer::check::gzip_len(snippet)?,
        snippet.len()
    );
    Ok(())
}

const RUM_HEADING: &str = "// --- Real-user monitoring";

/// The real-user monitoring section of the start module's JavaScript: from its heading to the
/// next section's, or to the end.
fn rum_section(js: &str) -> Option<&str> {
    let section = &js[js.find(RUM_HEADING)?..];
    let end = section[RUM_HEADING.len()..]
        .find("\n// --- ")
        .map_or(section.len(), |e| e + RUM_HEADING.len());
    Some(&section[..end])
}

pub fn files(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(files(&path)?);
        } else {
            out.push(path);
        }
    }
    Ok(out)
}

pub fn bench() -> Result<()> {
    tools::bootstrap()?;
    let mut built = build::build(&[])?;
    // The README's example app, packaged beside dist/ (it is never published).
    let example = crate::apps::App {
        crate_name: crate::readme_app::CRATE.into(),
        dir: crate::readme_app::dir(),
    };
    built.push(build::build_app(
        &example,
        &crate::root().join("target/readme-app-dist"),
    )?);
    sizes(&built)?;
    let shell_listing = twiggy_top("shell")?;
    biggest_items("shell", &shell_listing);
    biggest_items("the platform module", &twiggy_top("shell_platform")?);
    biggest_items("nav", &twiggy_top("nav")?);
    rum_bytes(&shell_listing)?;
    let (deploy, bff) = server_bins_in("server")?;
    // Page load first, then the service worker (precache, cached queries, offline start),
    // then the outbox (enqueue, reconnect to empty, replay throughput), then live updates
    // (event to DOM).
    for script in [
        "bench/load.mjs",
        "bench/offline.mjs",
        "bench/outbox.mjs",
        "bench/live.mjs",
    ] {
        run(Command::new("node")
            .arg(script)
            .current_dir(tools::tests_dir())
            .env("TESSERA_DEPLOY_BIN", &deploy)
            .env("TESSERA_BFF_BIN", &bff)
            .env("TESSERA_DIST", build::dist())
            .env("CHROMIUM", tools::CHROMIUM))?;
    }
    outbox_durability(&deploy, &bff)
}

/// The outbox's durability at benchmark scale: 200 seeded browser kills around replays and
/// 100 offline/online flaps during one (CI runs 20 of each), every run checked against the
/// BFF's event log; the tests print their seeds and per-round figures.
fn outbox_durability(deploy: &Path, bff: &Path) -> Result<()> {
    run(Command::new("node")
        .args(["--test", "--test-concurrency=1", "--test-force-exit"])
        .args([
            "e2e/outbox-durability.test.mjs",
            "e2e/outbox-flaps.test.mjs",
        ])
        .current_dir(tools::tests_dir())
        .env("TESSERA_KILL_ROUNDS", "200")
        .env("TESSERA_FLAPS", "100")
        .env("TESSERA_DEPLOY_BIN", deploy)
        .env("TESSERA_BFF_BIN", bff)
        .env("TESSERA_DIST", build::dist())
        .env("CHROMIUM", tools::CHROMIUM))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_monitoring_section_is_found_in_the_start_modules_js() {
        let js = std::fs::read_to_string(crate::root().join("shell/src/start.js")).unwrap();
        let section = super::rum_section(&js).unwrap();
        assert!(section.contains("export function rum_start"));
        assert!(!section.contains("stored_tokens") && !section.contains("first_query"));
        let sample = "a\n// --- Real-user monitoring\nx\n// --- Next\ny";
        assert_eq!(
            super::rum_section(sample),
            Some("// --- Real-user monitoring\nx")
        );
    }
}
