//! `tessera-deploy`: publish packaged builds to a store, list and roll back what is published,
//! and serve the store as a CDN would.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;
use tessera_deployer::publish::{self, PublishOptions};
use tessera_deployer::registry;
use tessera_deployer::s3::S3Options;
use tessera_deployer::store::{AnyStore, Store};
use tessera_shared::manifest::AllowedOrigins;

#[derive(Parser)]
#[command(
    name = "tessera-deploy",
    version,
    about = "Publish micro-app builds and serve them as a CDN would"
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
    /// Upload a packaged build (dist/@scope/app or dist/@tessera/shell), then rewrite the manifests.
    Publish {
        dir: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
        /// An origin app entries may be loaded from besides the site's own (repeatable).
        #[arg(long = "allowed-origin")]
        allowed_origins: Vec<String>,
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
    },
    /// Check the live set against the store: every file present with the right hash, the live
    /// manifests those of the newest snapshot. Exits 3 when anything is wrong.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        json: bool,
    },
    /// Serve the store over HTTP.
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
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
        Command::Publish {
            dir,
            store,
            allowed_origins,
        } => {
            let store = store.open()?;
            let opts = PublishOptions {
                allowed_origins: AllowedOrigins(allowed_origins),
            };
            let r = publish::publish(&store, &dir, &opts).await?;
            println!(
                "published {} {} to {} (snapshot {})",
                r.name,
                r.version,
                store.describe(),
                r.generation
            );
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
        Command::Rollback { app, to, store } => {
            let store = store.open()?;
            match (app, to) {
                (_, Some(n)) => {
                    let r = publish::restore(&store, n).await?;
                    println!("restored snapshot {n} as snapshot {}", r.generation);
                    for c in &r.changes {
                        println!("  {c}");
                    }
                }
                (Some(app), None) => {
                    let r = publish::rollback(&store, &app).await?;
                    println!(
                        "rolled {} back to {} (snapshot {})",
                        r.name, r.version, r.generation
                    );
                }
                (None, None) => unreachable!("clap requires one"),
            }
        }
        Command::Verify { store, json } => {
            let store = store.open()?;
            let v = tessera_deployer::verify::verify(&store).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", v.describe());
            }
            if !v.ok() {
                return Ok(EXIT_VERIFY_FAILED);
            }
        }
        Command::Serve { store, addr } => {
            let store = Arc::new(store.open()?);
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .with_context(|| format!("listening on {addr}"))?;
            let local = listener.local_addr()?;
            println!("serving {} on http://{local}/", store.describe());
            axum::serve(listener, tessera_deployer::cdn_router(store))
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await?;
        }
    }
    Ok(0)
}
