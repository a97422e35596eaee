//! `tessera-deploy`: publish packaged builds to a store, list and roll back what is published,
//! and serve the store as a CDN would.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;
use tessera_contract::cohort::CohortRule;
use tessera_contract::manifest::AllowedOrigins;
use tessera_deployer::build::Finish;
use tessera_deployer::publish::{self, PublishOptions};
use tessera_deployer::registry;
use tessera_deployer::s3::S3Options;
use tessera_deployer::scaffold::{self, NewApp, SdkSource};
use tessera_deployer::store::{AnyStore, Store};
use tessera_deployer::toolchain::Toolchain;

#[derive(Parser)]
#[command(
    name = "tessera-deploy",
    version,
    about = "Create, build and check micro-apps, publish them, and serve them as a CDN would",
    after_help = "Exit codes: 0 ok; 1 error (store unreachable, build rejected, ...); 2 usage; \
                  3 verify or check found problems; 4 gave up after concurrent publishers kept winning. \
                  Never asks questions: safe for CI."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the store is. S3 credentials come from `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`
/// (and `AWS_SESSION_TOKEN`), never from instance metadata.
#[derive(Args)]
struct StoreArgs {
    /// A folder, or `s3://bucket/prefix` for an S3 bucket.
    #[arg(long, default_value = ".tessera/store")]
    store: String,
    /// The S3 API's URL for an s3:// store (default: `AWS_ENDPOINT_URL`, else AWS itself).
    #[arg(long)]
    s3_endpoint: Option<String>,
    /// The bucket's region for an s3:// store (default: `AWS_REGION`, else us-east-1).
    #[arg(long)]
    s3_region: Option<String>,
}

impl StoreArgs {
    fn open(&self) -> Result<AnyStore> {
        AnyStore::open(
            &self.store,
            &S3Options {
                endpoint: self.s3_endpoint.clone(),
                region: self.s3_region.clone(),
                credentials: None,
            },
        )
    }
}

#[derive(Subcommand)]
enum Command {
    /// Create a new micro-app in a new folder, anywhere: Cargo.toml (depending on the app SDK),
    /// mfe.json, a view using a query, a command and a live event, and a browser test.
    New {
        dir: PathBuf,
        /// The app's manifest name (default: `@team/<folder>`).
        #[arg(long)]
        name: Option<String>,
        /// The route it owns (default: `/<folder>`).
        #[arg(long)]
        route: Option<String>,
        /// Its menu label and heading (default: from the folder's name).
        #[arg(long)]
        label: Option<String>,
        /// The app SDK's folder (default: the SDK of the source tree this tool was installed from).
        #[arg(long, conflicts_with = "sdk_git")]
        sdk_path: Option<PathBuf>,
        /// A git repository holding the app SDK (this project's), instead of a folder.
        #[arg(long)]
        sdk_git: Option<String>,
        /// The commit, tag or branch of `--sdk-git`.
        #[arg(long, requires = "sdk_git")]
        sdk_rev: Option<String>,
    },
    /// Build an app's crate (a folder with Cargo.toml and mfe.json) into a bundle ready to
    /// publish: size-optimised wasm, wasm-bindgen, wasm-opt, minified glue, content-hashed.
    /// Installs the pinned wasm-bindgen CLI and, with npm, wasm-opt and terser when missing
    /// (into $TESSERA_NODE_TOOLS, default ~/.cache/tessera).
    Build {
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Where the bundle goes (`<out>/<name>/`).
        #[arg(long, default_value = "dist")]
        out: PathBuf,
    },
    /// Serve one app's build for a local override (without wasm-opt and minifying: seconds
    /// sooner, larger than published), rebuilding when its sources change; prints
    /// the override (and with --site the link that sets it). The site's server must allow
    /// overrides from this origin (`--override-origin`).
    Dev {
        #[arg(default_value = ".")]
        dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8787")]
        addr: String,
        /// The site to print the link for, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        site: Option<String>,
    },
    /// Check a built app before publishing: manifest, files against their integrity, the entry
    /// module's lifecycle exports and ABI, no client runtime inside, size against a budget (a
    /// warning). Exits 3 when anything is wrong.
    Check {
        /// The built app's folder (`dist/@scope/app`).
        dir: PathBuf,
        /// The budget in KiB of wasm and JS, gzip -9.
        #[arg(long, default_value_t = tessera_deployer::check::DEFAULT_BUDGET_BYTES / 1024)]
        budget_kb: u64,
    },
    /// Upload a packaged build (dist/@scope/app or dist/@tessera/shell), then rewrite the manifests.
    Publish {
        dir: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
        /// An origin app entries may be loaded from besides the site's own (repeatable).
        #[arg(long = "allowed-origin")]
        allowed_origins: Vec<String>,
        /// Print what would be uploaded and which manifest entries would change; write nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
        /// Offer this version only to a cohort, `role:<role>` or `percent:<0-100>`
        /// (repeatable); everyone else keeps the released version until `promote`.
        #[arg(long, value_parser = CohortRule::parse)]
        cohort: Vec<CohortRule>,
    },
    /// Make an app's cohort version the one everyone gets.
    Promote {
        app: String,
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Drop an app's cohort version: everyone gets the released one.
    Abort {
        app: String,
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// What is published: each app's current version and the releases before it.
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        json: bool,
    },
    /// Every snapshot of the published set: number, time, what changed.
    History {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        json: bool,
    },
    /// Make the release before the current one of an app (or @tessera/shell) current again, or
    /// with `--to N` the whole set of snapshot N; either way as a new snapshot.
    Rollback {
        #[arg(required_unless_present = "to", conflicts_with = "to")]
        app: Option<String>,
        /// The snapshot whose whole set becomes current again.
        #[arg(long)]
        to: Option<u64>,
        #[command(flatten)]
        store: StoreArgs,
        /// Print which manifest entries would change; write nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Check the live set against the store: every file present with the right hash, the live
    /// manifests those of the newest snapshot. Exits 3 when anything is wrong.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        json: bool,
        /// Live manifests from an older snapshot (a publish interrupted after its commit, or
        /// still running) count as a problem too, not just a note.
        #[arg(long)]
        strict: bool,
    },
    /// Serve the store over HTTP.
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
        /// An origin bundles may be served from, for the pages' Content-Security-Policy
        /// (repeatable; the page's own origin is always allowed).
        #[arg(long = "allowed-origin")]
        allowed_origins: Vec<String>,
        /// An origin pages may call besides their own, e.g. the sign-in provider (repeatable).
        #[arg(long = "connect-origin")]
        connect_origins: Vec<String>,
        /// An origin a browser may load a local override of an app from, e.g. a team's
        /// `tessera-deploy dev` (repeatable); without any, the shell ignores overrides.
        #[arg(long = "override-origin", value_parser = tessera_contract::overrides::parse_origin_setting)]
        override_origins: Vec<String>,
        /// A region of the BFF, `name=origin` (repeatable, in order): pages and the service
        /// worker move to the next when the one in use stops answering.
        #[arg(long = "region", value_parser = tessera_contract::regions::parse_one)]
        regions: Vec<tessera_contract::regions::Region>,
        /// Seconds a client may take to send a request's header before its connection is closed.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
        header_timeout: u64,
        /// Seconds a connection may move no byte (a stalled body, an idle keep-alive
        /// connection, a client that stops reading) before it is closed.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
        idle_timeout: u64,
    },
}

/// Exit codes (documented in the README and `--help`).
const EXIT_ERROR: i32 = 1;
const EXIT_VERIFY_FAILED: i32 = 3;
const EXIT_CONFLICT: i32 = 4;

fn main() {
    // clap exits 2 on a usage error.
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("tessera-deploy: error: {e:#}");
            let gave_up = e.chain().any(|c| c.is::<publish::GaveUp>());
            std::process::exit(if gave_up { EXIT_CONFLICT } else { EXIT_ERROR });
        }
    }
}

#[tokio::main]
async fn real_main(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::New {
            dir,
            name,
            route,
            label,
            sdk_path,
            sdk_git,
            sdk_rev,
        } => {
            let sdk = match (sdk_path, sdk_git) {
                (Some(path), _) => SdkSource::Path(
                    path.canonicalize()
                        .with_context(|| format!("--sdk-path {}", path.display()))?,
                ),
                (None, Some(url)) => SdkSource::Git { url, rev: sdk_rev },
                (None, None) => SdkSource::beside_this_tool().context(
                    "the app SDK's source is not beside this tool any more: pass --sdk-path or --sdk-git",
                )?,
            };
            let mut app = NewApp::for_folder(&dir, sdk)?;
            app.route = route.unwrap_or_else(|| {
                format!(
                    "/{}",
                    name.as_deref()
                        .unwrap_or(&app.name)
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                )
            });
            if let Some(label) = label {
                app.label = label;
            }
            if let Some(name) = name {
                app.name = name;
            }
            for file in scaffold::new_app(&dir, &app)? {
                println!("created {}", file.display());
            }
            println!(
                "{} at {}: build it with `tessera-deploy build {}`",
                app.name,
                app.route,
                dir.display()
            );
        }
        Command::Build { dir, out } => {
            let tools = Toolchain::install_for_teams()?;
            let built = tessera_deployer::build::build_app(&dir, &out, &tools, Finish::Release)?;
            println!("built {}", built.display());
        }
        Command::Dev { dir, addr, site } => {
            let tools = Toolchain::install_for_teams()?;
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .with_context(|| format!("listening on {addr}"))?;
            tessera_deployer::dev::dev(dir, listener, site, tools).await?;
        }
        Command::Check { dir, budget_kb } => {
            let checked = tessera_deployer::check::check_app(&dir, budget_kb * 1024)?;
            for p in &checked.problems {
                println!("problem: {p}");
            }
            for w in &checked.warnings {
                println!("warning: {w}");
            }
            println!(
                "{}: {} problem{}, {} warning{}; {} B of wasm and JS (gzip -9)",
                dir.display(),
                checked.problems.len(),
                if checked.problems.len() == 1 { "" } else { "s" },
                checked.warnings.len(),
                if checked.warnings.len() == 1 { "" } else { "s" },
                checked.gzip_bytes
            );
            if !checked.ok() {
                return Ok(EXIT_VERIFY_FAILED);
            }
        }
        Command::Publish {
            dir,
            store,
            allowed_origins,
            dry_run,
            json,
            cohort,
        } => {
            let store = store.open()?;
            let opts = PublishOptions {
                allowed_origins: AllowedOrigins(allowed_origins),
                dry_run,
                progress: true,
                cohort,
            };
            let r = publish::publish(&store, &dir, &opts).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else if dry_run {
                print!("{}", describe_dry_run(&store.describe(), &r));
            } else {
                println!(
                    "published {} {} to {} (snapshot {}, {} B uploaded)",
                    r.name,
                    r.version,
                    store.describe(),
                    r.generation,
                    r.bytes_uploaded
                );
            }
        }
        Command::List { store, json } => {
            let store = store.open()?;
            let registry = registry::load(&store).await?.registry;
            if json {
                println!("{}", serde_json::to_string_pretty(&registry)?);
            } else {
                print!("{}", registry::describe(&registry));
            }
        }
        Command::Promote {
            app,
            store,
            dry_run,
            json,
        } => end_cohort(store, &app, true, dry_run, json).await?,
        Command::Abort {
            app,
            store,
            dry_run,
            json,
        } => end_cohort(store, &app, false, dry_run, json).await?,
        Command::History { store, json } => {
            let store = store.open()?;
            let snapshots = registry::history(&store).await?;
            if json {
                let rows: Vec<serde_json::Value> = snapshots
                    .iter()
                    .map(|s| {
                        serde_json::json!({
                            "snapshot": s.generation,
                            "publishedAt": s.published_at,
                            "time": registry::utc(s.published_at),
                            "changes": s.changes,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print!("{}", registry::describe_history(&snapshots));
            }
        }
        Command::Rollback {
            app,
            to,
            store,
            dry_run,
            json,
        } => {
            let store = store.open()?;
            let r = match (&app, to) {
                (_, Some(n)) => publish::restore_set(&store, n, dry_run).await?,
                (Some(app), None) => publish::rollback_app(&store, app, dry_run).await?,
                (None, None) => unreachable!("clap requires one"),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else if dry_run {
                print!("{}", describe_dry_run(&store.describe(), &r));
            } else if let Some(n) = to {
                println!("restored snapshot {n} as snapshot {}", r.generation);
                for c in &r.changes {
                    println!("  {c}");
                }
            } else {
                println!(
                    "rolled {} back to {} (snapshot {})",
                    r.name, r.version, r.generation
                );
            }
        }
        Command::Verify {
            store,
            json,
            strict,
        } => {
            let store = store.open()?;
            let v = tessera_deployer::verify::verify(&store).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", v.describe());
            }
            if !v.ok() || (strict && v.behind) {
                return Ok(EXIT_VERIFY_FAILED);
            }
        }
        Command::Serve {
            store,
            addr,
            allowed_origins,
            connect_origins,
            override_origins,
            regions,
            header_timeout,
            idle_timeout,
        } => {
            let store = Arc::new(store.open()?);
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .with_context(|| format!("listening on {addr}"))?;
            let local = listener.local_addr()?;
            println!("serving {} on http://{local}/", store.describe());
            let policy = tessera_deployer::cdn::SecurityPolicy {
                bundle_origins: allowed_origins,
                connect_origins,
                override_origins,
                regions: tessera_contract::regions::distinct(regions)
                    .map_err(|e| anyhow::anyhow!("--region: {e}"))?,
            };
            let timeouts = tessera_deployer::cdn::Timeouts {
                header_read: std::time::Duration::from_secs(header_timeout),
                idle: std::time::Duration::from_secs(idle_timeout),
            };
            tessera_deployer::cdn::serve(
                listener,
                tessera_deployer::cdn::cdn_router_with(store, policy),
                timeouts,
                async {
                    let _ = tokio::signal::ctrl_c().await;
                },
            )
            .await?;
        }
    }
    Ok(0)
}

fn describe_dry_run(store: &str, r: &publish::Report) -> String {
    let mut out = format!("dry run: nothing was written to {store}\n");
    if !r.files.is_empty() {
        let (new, there): (Vec<_>, Vec<_>) = r.files.iter().partition(|f| f.uploaded);
        out.push_str(&format!(
            "would upload {} file{} ({} B), {} already there:\n",
            new.len(),
            if new.len() == 1 { "" } else { "s" },
            r.bytes_uploaded,
            there.len()
        ));
        for f in new {
            out.push_str(&format!("  {} {} B\n", f.key, f.size));
        }
    }
    out.push_str(&format!("would commit snapshot {}:\n", r.generation));
    if r.changes.is_empty() {
        out.push_str("  no change\n");
    }
    for c in &r.changes {
        out.push_str(&format!("  {c}\n"));
    }
    out.push_str("manifest entries that would change:\n");
    if r.manifest_changes.is_empty() {
        out.push_str("  none\n");
    }
    for c in &r.manifest_changes {
        out.push_str(&format!("  {c}\n"));
    }
    out
}

async fn end_cohort(
    store: StoreArgs,
    app: &str,
    promote: bool,
    dry_run: bool,
    json: bool,
) -> Result<()> {
    let store = store.open()?;
    let r = publish::end_cohort(&store, app, promote, dry_run).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else if dry_run {
        print!("{}", describe_dry_run(&store.describe(), &r));
    } else if promote {
        println!(
            "released {} {} to everyone (snapshot {})",
            r.name, r.version, r.generation
        );
    } else {
        println!(
            "dropped the cohort version {} of {} (snapshot {})",
            r.version, r.name, r.generation
        );
    }
    Ok(())
}
