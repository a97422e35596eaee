//! The object store the deployer publishes to and the CDN serves from.
//!
//! The interface is the small part of S3 the deployer needs: get, put with a condition
//! (create-only, or replace only the version we read, by ETag), and headers derived from the
//! key. `LocalStore` keeps objects as files in a folder; `S3Store` (in `s3`) keeps them in a
//! bucket; `AnyStore` is whichever of the two a store URL names, for the command line.

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub mod s3;

/// Keys under this prefix are the deployer's own records; the CDN never serves them.
pub const INTERNAL_PREFIX: &str = "_tessera/";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    pub bytes: Vec<u8>,
    /// Opaque version tag, changes whenever the bytes do.
    pub etag: String,
}

/// When a put may happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutMode {
    Overwrite,
    /// Only if no object has the key (S3 `If-None-Match: *`).
    Create,
    /// Only if the object still has this ETag (S3 `If-Match`).
    Update(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    Written {
        etag: String,
    },
    /// The condition did not hold: someone else wrote first.
    Conflict,
}

pub trait Store: Send + Sync + 'static {
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Object>>> + Send;
    fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        mode: PutMode,
    ) -> impl Future<Output = Result<PutOutcome>> + Send;
    /// A human-readable name for messages (`/path/to/store`, `s3://bucket/prefix`).
    fn describe(&self) -> String;
}

/// Checks that a key is a plain relative path: no empty, `.` or `..` segments, no backslashes,
/// no hidden segments (the local store keeps its temporary files there).
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 1024 {
        bail!("object key {key:?} must be 1 to 1024 bytes");
    }
    if key.contains('\\') || key.contains('\0') {
        bail!("object key {key:?} contains a backslash or NUL");
    }
    for segment in key.split('/') {
        if segment.is_empty() || segment.starts_with('.') {
            bail!("object key {key:?} has an empty or hidden segment");
        }
    }
    Ok(())
}

/// `Content-Type` for a key, from its extension.
pub fn content_type(key: &str) -> &'static str {
    let ext = key.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `Cache-Control` for a key: everything inside an app's folder is content-addressed and never
/// changes; top-level files (manifests, `index.html`) change with every deploy, and so do the
/// deployer's own records under `_tessera/` (never served, but an S3 store keeps the header).
/// The CDN server sends it, and the S3 store uploads every object with it.
pub fn cache_control(key: &str) -> &'static str {
    if key.contains('/') && !key.starts_with(INTERNAL_PREFIX) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    }
}

fn etag_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// A store in a local folder. Writes are atomic (temporary file, then rename) and conditional
/// writes hold an exclusive lock on `_tessera/.lock`, so concurrent deployer processes on one
/// machine behave as they would against S3.
pub struct LocalStore {
    root: PathBuf,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl LocalStore {
    pub fn open(root: &Path) -> Result<LocalStore> {
        std::fs::create_dir_all(root.join(INTERNAL_PREFIX))
            .with_context(|| format!("creating the store folder {}", root.display()))?;
        Ok(LocalStore {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    fn read(path: &Path) -> Result<Option<Object>> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(Object {
                etag: etag_of(&bytes),
                bytes,
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            // A directory where a file is asked for is "no such object", as on S3.
            Err(_) if path.is_dir() => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
        let dir = path.parent().context("an object path has a parent")?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("object");
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.with_context(|| format!("writing {}", path.display()))
    }

    fn put_sync(&self, key: &str, bytes: Vec<u8>, mode: PutMode) -> Result<PutOutcome> {
        let path = self.path(key)?;
        let _guard = match mode {
            PutMode::Overwrite => None,
            _ => {
                let lock_path = self.root.join(INTERNAL_PREFIX).join(".lock");
                let lock = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&lock_path)
                    .with_context(|| format!("opening {}", lock_path.display()))?;
                lock.lock()
                    .with_context(|| format!("locking {}", lock_path.display()))?;
                Some(lock)
            }
        };
        let current = Self::read(&path)?;
        let allowed = match (&mode, &current) {
            (PutMode::Overwrite, _) | (PutMode::Create, None) => true,
            (PutMode::Create, Some(_)) => false,
            (PutMode::Update(etag), Some(obj)) => &obj.etag == etag,
            (PutMode::Update(_), None) => false,
        };
        if !allowed {
            return Ok(PutOutcome::Conflict);
        }
        Self::write_atomically(&path, &bytes)?;
        Ok(PutOutcome::Written {
            etag: etag_of(&bytes),
        })
    }
}

impl Store for LocalStore {
    async fn get(&self, key: &str) -> Result<Option<Object>> {
        let path = self.path(key)?;
        Self::read(&path)
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, mode: PutMode) -> Result<PutOutcome> {
        self.put_sync(key, bytes, mode)
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

/// A store named on the command line: `s3://bucket/prefix` is an S3 bucket, anything else a
/// local folder.
pub enum AnyStore {
    Local(LocalStore),
    S3(s3::S3Store),
}

impl AnyStore {
    /// Opens the store `url` names. A folder is created if missing; a bucket must exist.
    pub fn open(url: &str, s3: &s3::S3Options) -> Result<AnyStore> {
        if url.starts_with("s3://") {
            return Ok(AnyStore::S3(s3::S3Store::open(url, s3)?));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            bail!("{url}: unknown store scheme {scheme}:// (use s3://bucket/prefix or a folder)");
        }
        if s3.endpoint.is_some() || s3.region.is_some() {
            bail!("{url} is a folder: S3 settings (endpoint, region) are for s3:// stores");
        }
        Ok(AnyStore::Local(LocalStore::open(Path::new(url))?))
    }
}

impl Store for AnyStore {
    async fn get(&self, key: &str) -> Result<Option<Object>> {
        match self {
            AnyStore::Local(s) => s.get(key).await,
            AnyStore::S3(s) => s.get(key).await,
        }
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, mode: PutMode) -> Result<PutOutcome> {
        match self {
            AnyStore::Local(s) => s.put(key, bytes, mode).await,
            AnyStore::S3(s) => s.put(key, bytes, mode).await,
        }
    }

    fn describe(&self) -> String {
        match self {
            AnyStore::Local(s) => s.describe(),
            AnyStore::S3(s) => s.describe(),
        }
    }
}

/// Requests and bytes that went through a store, for figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub gets: u64,
    pub puts: u64,
    pub bytes_put: u64,
    pub bytes_got: u64,
}

/// A store that counts the requests made through it.
pub struct Counted<S> {
    inner: S,
    gets: AtomicU64,
    puts: AtomicU64,
    bytes_put: AtomicU64,
    bytes_got: AtomicU64,
}

impl<S: Store> Counted<S> {
    pub fn new(inner: S) -> Counted<S> {
        Counted {
            inner,
            gets: AtomicU64::new(0),
            puts: AtomicU64::new(0),
            bytes_put: AtomicU64::new(0),
            bytes_got: AtomicU64::new(0),
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The counts so far, and zero again.
    pub fn take(&self) -> Counts {
        Counts {
            gets: self.gets.swap(0, Ordering::Relaxed),
            puts: self.puts.swap(0, Ordering::Relaxed),
            bytes_put: self.bytes_put.swap(0, Ordering::Relaxed),
            bytes_got: self.bytes_got.swap(0, Ordering::Relaxed),
        }
    }
}

impl<S: Store> Store for Counted<S> {
    async fn get(&self, key: &str) -> Result<Option<Object>> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        let got = self.inner.get(key).await?;
        if let Some(obj) = &got {
            self.bytes_got
                .fetch_add(obj.bytes.len() as u64, Ordering::Relaxed);
        }
        Ok(got)
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, mode: PutMode) -> Result<PutOutcome> {
        self.puts.fetch_add(1, Ordering::Relaxed);
        self.bytes_put
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.inner.put(key, bytes, mode).await
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn keys_that_could_escape_or_hide_are_refused() {
        for bad in [
            "", "../x", "a/../b", "/abs", "a//b", ".hidden", "a/.tmp", "a\\b", "a/",
        ] {
            assert!(validate_key(bad).is_err(), "{bad:?} should be refused");
        }
        for good in [
            "index.html",
            "@tessera/cart/0123abcd/cart.js",
            "_tessera/registry.json",
        ] {
            validate_key(good).unwrap();
        }
    }

    #[test]
    fn headers_follow_the_key() {
        assert_eq!(content_type("@a/b/0011/b_bg.wasm"), "application/wasm");
        assert_eq!(content_type("apps.json"), "application/json");
        assert_eq!(content_type("x/unknown"), "application/octet-stream");
        assert_eq!(cache_control("importmap.json"), "no-cache");
        assert_eq!(cache_control("_tessera/registry.json"), "no-cache");
        assert_eq!(
            cache_control("@a/b/0011/b.js"),
            "public, max-age=31536000, immutable"
        );
    }

    #[test]
    fn store_urls_pick_the_backend() {
        use s3::S3Options;
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("store");
        let local = AnyStore::open(folder.to_str().unwrap(), &S3Options::default()).unwrap();
        assert!(matches!(local, AnyStore::Local(_)));
        assert!(folder.join(INTERNAL_PREFIX).is_dir());
        let with_endpoint = S3Options {
            endpoint: Some("http://127.0.0.1:9".into()),
            credentials: Some(("id".into(), "secret".into())),
            ..S3Options::default()
        };
        let bucket = AnyStore::open("s3://site/prod", &with_endpoint).unwrap();
        assert!(matches!(bucket, AnyStore::S3(_)));
        assert_eq!(bucket.describe(), "s3://site/prod");
        let err = AnyStore::open("gs://site", &S3Options::default())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("unknown store scheme gs://"), "{err}");
        let err = AnyStore::open(folder.to_str().unwrap(), &with_endpoint)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("for s3:// stores"), "{err}");
    }

    #[test]
    fn conditional_puts_detect_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        block(async {
            assert_eq!(store.get("a.json").await.unwrap(), None);
            let PutOutcome::Written { etag } = store
                .put("a.json", b"1".to_vec(), PutMode::Create)
                .await
                .unwrap()
            else {
                panic!("create on an empty key must succeed")
            };
            assert_eq!(
                store
                    .put("a.json", b"2".to_vec(), PutMode::Create)
                    .await
                    .unwrap(),
                PutOutcome::Conflict
            );
            let written = store
                .put("a.json", b"2".to_vec(), PutMode::Update(etag.clone()))
                .await
                .unwrap();
            assert!(matches!(written, PutOutcome::Written { .. }));
            // The ETag we read is stale now.
            assert_eq!(
                store
                    .put("a.json", b"3".to_vec(), PutMode::Update(etag))
                    .await
                    .unwrap(),
                PutOutcome::Conflict
            );
            assert_eq!(store.get("a.json").await.unwrap().unwrap().bytes, b"2");
            assert_eq!(
                store
                    .put("b.json", b"x".to_vec(), PutMode::Update("\"x\"".into()))
                    .await
                    .unwrap(),
                PutOutcome::Conflict
            );
        });
        // No temporary file is left behind.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
