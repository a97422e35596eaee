//! A throwaway PostgreSQL server for tests and the benchmark, from Debian's `postgresql`
//! package, or the server named by `TESSERA_TEST_DATABASE_URL`. One server per process; each
//! caller gets its own database so tests run in parallel.
//!
//! The server stops when the process exits (an `atexit` hook), when the owning value is dropped,
//! and, should this process be killed outright, by a watchdog shell that outlives it.

#![allow(dead_code)] // each including crate uses a different part

use anyhow::{anyhow, bail, Context, Result};
use sqlx::{Connection, Executor};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const URL_VAR: &str = "TESSERA_TEST_DATABASE_URL";

struct Running {
    child: Child,
    dir: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        // SIGQUIT is PostgreSQL's immediate shutdown: the data is thrown away anyway.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGQUIT) };
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

extern "C" fn stop_at_exit() {
    if let Ok(mut running) = RUNNING.lock() {
        running.take();
    }
}

/// The URL of a maintenance database (`postgres`) on the shared test server, starting it on
/// first use. Panics with what to install when PostgreSQL is missing: tests must not pass by
/// skipping half their backends.
pub fn admin_url(durable: bool) -> String {
    if let Ok(url) = std::env::var(URL_VAR) {
        return url;
    }
    SERVER
        .get_or_init(|| start(durable).map_err(|e| format!("{e:#}")))
        .clone()
        .unwrap_or_else(|e| panic!("cannot start a throwaway PostgreSQL: {e}"))
}

/// A fresh, empty database on the test server; returns its URL.
pub async fn create_database(durable: bool) -> Result<String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let admin = admin_url(durable);
    let name = format!(
        "tessera_t{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .with_context(|| format!("connecting to {admin}"))?;
    conn.execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
        .await?;
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .with_context(|| format!("creating database {name}"))?;
    conn.close().await?;
    let (base, _) = admin
        .rsplit_once('/')
        .ok_or_else(|| anyhow!("{URL_VAR} has no database path: {admin}"))?;
    Ok(format!("{base}/{name}"))
}

fn bin_dir() -> Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").exists() && bin.join("postgres").exists()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| {
        anyhow!(
            "PostgreSQL server binaries not found in /usr/lib/postgresql/<version>/bin: \
             install them with `apt-get install postgresql`, or set {URL_VAR} to a server this user may create databases on"
        )
    })
}

/// initdb refuses to run as root, so as root everything runs as Debian's `postgres` user.
fn as_server_user(program: &Path) -> Command {
    if unsafe { libc::geteuid() } == 0 {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn start(durable: bool) -> Result<String> {
    let bin = bin_dir()?;
    let dir = std::env::temp_dir().join(format!("tessera-pg-{}-{}", std::process::id(), nanos()));
    let data = dir.join("data");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if unsafe { libc::geteuid() } == 0 {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .context("running chown")?;
        if !status.success() {
            bail!("chown postgres {} failed: does the `postgres` user exist? (apt-get install postgresql creates it)", dir.display());
        }
    }
    let out = as_server_user(&bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        ])
        .output()
        .context("running initdb")?;
    if !out.status.success() {
        bail!(
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let log = std::fs::File::create(dir.join("server.log"))?;
    let mut cmd = as_server_user(&bin.join("postgres"));
    cmd.arg("-D").arg(&data).arg("-k").arg(&dir);
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-c",
        "max_connections=300",
        "-c",
        "shared_buffers=128MB",
    ]);
    if !durable {
        // Tests throw the data away; skipping fsync keeps them fast on a shared disk.
        cmd.args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]);
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting postgres")?;
    let pid = child.id();
    *RUNNING.lock().unwrap() = Some(Running {
        child,
        dir: dir.clone(),
    });
    unsafe { libc::atexit(stop_at_exit) };
    let watchdog = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill -QUIT {pid} 2>/dev/null; sleep 2; rm -rf '{dir}'",
        me = std::process::id(),
        dir = dir.display()
    );
    Command::new("sh")
        .args(["-c", &watchdog])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the watchdog")?;

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = Command::new(bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .status();
        if ready.map(|s| s.success()).unwrap_or(false) {
            break;
        }
        if let Some(status) = RUNNING
            .lock()
            .unwrap()
            .as_mut()
            .and_then(|r| r.child.try_wait().ok().flatten())
        {
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            bail!("postgres exited with {status}: {log}");
        }
        if Instant::now() > deadline {
            bail!(
                "postgres did not become ready within 30 s (log in {})",
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
}

/// Stops the server now (the benchmark's way; tests rely on the exit hook).
pub fn stop() {
    stop_at_exit();
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}
