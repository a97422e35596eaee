//! `tessera-deploy`: publish packaged builds to a store, list and roll back what is published,
//! and serve the store as a CDN would.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;
use tessera_deployer::publish::{self, PublishOptions};
use tessera_deployer::registry;
use tessera_deployer::store::LocalStore;
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

#[derive(Subcommand)]
enum Command {
    /// Upload a packaged build (dist/@scope/app or dist/@tessera/shell), then rewrite the manifests.
    Publish {
        dir: PathBuf,
        #[arg(long, default_value = ".tessera/store")]
        store: PathBuf,
        /// An origin app entries may be loaded from besides the site's own (repeatable).
        #[arg(long = "allowed-origin")]
        allowed_origins: Vec<String>,
    },
    /// What is published: each app's current version and the releases before it.
    List {
        #[arg(long, default_value = ".tessera/store")]
        store: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Make the release before the current one of an app (or @tessera/shell) current again.
    Rollback {
        app: String,
        #[arg(long, default_value = ".tessera/store")]
        store: PathBuf,
    },
    /// Serve the store over HTTP.
    Serve {
        #[arg(long, default_value = ".tessera/store")]
        store: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
    },
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("tessera-deploy: error: {e:#}");
        std::process::exit(1);
    }
}

#[tokio::main]
async fn real_main() -> Result<()> {
    match Cli::parse().command {
        Command::Publish {
            dir,
            store,
            allowed_origins,
        } => {
            let store = LocalStore::open(&store)?;
            let opts = PublishOptions {
                allowed_origins: AllowedOrigins(allowed_origins),
            };
            let r = publish::publish(&store, &dir, &opts).await?;
            println!(
                "published {} {} to {} (generation {})",
                r.name,
                r.version,
                store.root().display(),
                r.generation
            );
        }
        Command::List { store, json } => {
            let store = LocalStore::open(&store)?;
            let registry = registry::load(&store).await?.registry;
            if json {
                println!("{}", serde_json::to_string_pretty(&registry)?);
            } else {
                print!("{}", registry::describe(&registry));
            }
        }
        Command::Rollback { app, store } => {
            let store = LocalStore::open(&store)?;
            let r = publish::rollback(&store, &app).await?;
            println!(
                "rolled {} back to {} (generation {})",
                r.name, r.version, r.generation
            );
        }
        Command::Serve { store, addr } => {
            let store = Arc::new(LocalStore::open(&store)?);
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .with_context(|| format!("listening on {addr}"))?;
            let local = listener.local_addr()?;
            println!("serving {} on http://{local}/", store.root().display());
            axum::serve(listener, tessera_deployer::cdn_router(store))
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await?;
        }
    }
    Ok(())
}
