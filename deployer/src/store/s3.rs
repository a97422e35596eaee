//! The store in an S3 bucket (any S3 API: AWS, MinIO, R2, moto…), through the `object_store`
//! crate.
//!
//! `s3://bucket/prefix` names it. The endpoint, region and credentials come from the usual AWS
//! environment variables (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID` (required),
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`), which [`S3Options`] can
//! override. Conditional writes use the standard `If-None-Match: *` and `If-Match: <etag>`
//! headers, and every object is uploaded with the `Content-Type` and `Cache-Control` a CDN in
//! front of the bucket must send (the same ones the deployer's own CDN server derives).

use super::{cache_control, content_type, validate_key, Object, PutMode, PutOutcome, Store};
use anyhow::{bail, Context, Result};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, S3ConditionalPut};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, ClientConfigKey, GetOptions, ObjectStore, PutOptions, RetryConfig,
    UpdateVersion,
};
use std::time::Duration;

/// Settings that override the AWS environment variables.
#[derive(Clone, Debug, Default)]
pub struct S3Options {
    /// The S3 API's base URL (`AWS_ENDPOINT_URL`). An `http://` endpoint given here is allowed
    /// without also setting `AWS_ALLOW_HTTP`: naming it is the choice.
    pub endpoint: Option<String>,
    /// The bucket's region (`AWS_REGION`, else `us-east-1`).
    pub region: Option<String>,
    /// Access key id and secret (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`). For programs
    /// and tests; the command line takes them from the environment only, never as arguments.
    pub credentials: Option<(String, String)>,
}

pub struct S3Store {
    url: String,
    /// Empty, or ends with `/`.
    prefix: String,
    s3: AmazonS3,
}

/// `s3://bucket/prefix` split into the bucket and the key prefix (empty, or ending with `/`).
pub fn parse_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("s3://")
        .with_context(|| format!("{url:?} is not an s3:// URL"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !valid_bucket {
        bail!("{url}: {bucket:?} is not an S3 bucket name (3 to 63 lowercase letters, digits, `-`, `.`)");
    }
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        return Ok((bucket.to_string(), String::new()));
    }
    validate_key(prefix).with_context(|| format!("{url}: the prefix after the bucket"))?;
    Ok((bucket.to_string(), format!("{prefix}/")))
}

impl S3Store {
    /// Opens `s3://bucket/prefix`. Nothing is requested yet: a missing bucket or bad
    /// credentials show on the first read or write, naming the store and the key.
    pub fn open(url: &str, options: &S3Options) -> Result<S3Store> {
        let (bucket, prefix) = parse_url(url)?;
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&bucket)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            // A deploy from CI should fail within a minute, not retry for three.
            .with_retry(RetryConfig {
                max_retries: 4,
                retry_timeout: Duration::from_secs(60),
                ..RetryConfig::default()
            })
            // Set key by key: replacing the client options would drop `AWS_ALLOW_HTTP`.
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                "10s",
            )
            .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), "120s");
        if let Some(endpoint) = &options.endpoint {
            builder = builder.with_endpoint(endpoint);
            if endpoint.starts_with("http://") {
                builder = builder.with_allow_http(true);
            }
        }
        if let Some(region) = &options.region {
            builder = builder.with_region(region);
        }
        if let Some((id, secret)) = &options.credentials {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret);
        }
        require_static_credentials(&builder, url)?;
        let s3 = builder
            .build()
            .with_context(|| format!("configuring the S3 client for {url}"))?;
        Ok(S3Store {
            url: format!("s3://{bucket}/{}", prefix.trim_end_matches('/'))
                .trim_end_matches('/')
                .to_string(),
            prefix,
            s3,
        })
    }

    fn location(&self, key: &str) -> Result<Path> {
        validate_key(key).with_context(|| format!("{}: {key}", self.url))?;
        Path::parse(format!("{}{key}", self.prefix))
            .with_context(|| format!("{}: {key:?} is not a valid S3 key", self.url))
    }
}

/// Without an access key and secret, `object_store` falls back to the credential provider chain:
/// web identity (STS), the container credential endpoint (169.254.170.2) and finally the
/// instance metadata service (169.254.169.254). A deploy must never send traffic to an address
/// nobody named, so a store without static credentials is refused before any request.
fn require_static_credentials(builder: &AmazonS3Builder, url: &str) -> Result<()> {
    let has = |key: AmazonS3ConfigKey| {
        builder
            .get_config_value(&key)
            .is_some_and(|v| !v.is_empty())
    };
    let (id, secret) = (
        has(AmazonS3ConfigKey::AccessKeyId),
        has(AmazonS3ConfigKey::SecretAccessKey),
    );
    if id && secret {
        return Ok(());
    }
    let missing: Vec<&str> = [
        (!id).then_some("AWS_ACCESS_KEY_ID"),
        (!secret).then_some("AWS_SECRET_ACCESS_KEY"),
    ]
    .into_iter()
    .flatten()
    .collect();
    bail!(
        "{url}: no S3 credentials: set {} (and AWS_SESSION_TOKEN for temporary credentials). \
         tessera-deploy does not fall back to instance metadata, container or web-identity \
         credentials",
        missing.join(" and ")
    )
}

/// Whether a 404 is S3's `NoSuchBucket` rather than `NoSuchKey`.
fn no_such_bucket(e: &object_store::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        if err.to_string().contains("NoSuchBucket") {
            return true;
        }
        source = err.source();
    }
    false
}

impl Store for S3Store {
    async fn get(&self, key: &str) -> Result<Option<Object>> {
        let location = self.location(key)?;
        let result = match self.s3.get_opts(&location, GetOptions::default()).await {
            Ok(r) => r,
            // S3 answers 404 for a missing bucket too: that is an error, not an empty store.
            Err(e @ object_store::Error::NotFound { .. }) if !no_such_bucket(&e) => {
                return Ok(None)
            }
            Err(e) => return Err(e).with_context(|| format!("{}: reading {key}", self.url)),
        };
        let etag = result
            .meta
            .e_tag
            .clone()
            .with_context(|| format!("{}: {key} came without an ETag", self.url))?;
        let bytes = result
            .bytes()
            .await
            .with_context(|| format!("{}: reading {key}", self.url))?;
        Ok(Some(Object {
            bytes: bytes.to_vec(),
            etag,
        }))
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, mode: PutMode) -> Result<PutOutcome> {
        let location = self.location(key)?;
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, content_type(key).into());
        attributes.insert(Attribute::CacheControl, cache_control(key).into());
        let opts = PutOptions {
            mode: match mode {
                PutMode::Overwrite => object_store::PutMode::Overwrite,
                PutMode::Create => object_store::PutMode::Create,
                PutMode::Update(etag) => object_store::PutMode::Update(UpdateVersion {
                    e_tag: Some(etag),
                    version: None,
                }),
            },
            attributes,
            ..PutOptions::default()
        };
        match self.s3.put_opts(&location, bytes.into(), opts).await {
            Ok(written) => Ok(PutOutcome::Written {
                etag: written.e_tag.unwrap_or_default(),
            }),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(PutOutcome::Conflict),
            Err(e) => Err(e).with_context(|| format!("{}: writing {key}", self.url)),
        }
    }

    fn describe(&self) -> String {
        self.url.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_bucket_and_an_optional_prefix() {
        assert_eq!(parse_url("s3://site").unwrap(), ("site".into(), "".into()));
        assert_eq!(parse_url("s3://site/").unwrap(), ("site".into(), "".into()));
        assert_eq!(
            parse_url("s3://my.site-1/prod/eu/").unwrap(),
            ("my.site-1".into(), "prod/eu/".into())
        );
        for bad in [
            "s3://",
            "s3://ab",
            "s3://Upper",
            "s3://a_b/x",
            "s3://site/a/../b",
            "s3://site/a//b",
            "file:///tmp",
        ] {
            assert!(parse_url(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn keys_sit_under_the_prefix() {
        let opts = S3Options {
            endpoint: Some("http://127.0.0.1:1".into()),
            region: Some("us-east-1".into()),
            credentials: Some(("id".into(), "secret".into())),
        };
        let store = S3Store::open("s3://site/prod/", &opts).unwrap();
        assert_eq!(store.describe(), "s3://site/prod");
        assert_eq!(
            store.location("@a/b/00ff/b.js").unwrap().as_ref(),
            "prod/@a/b/00ff/b.js"
        );
        assert!(store.location("../x").is_err());
        let bare = S3Store::open("s3://site", &opts).unwrap();
        // Only the secret: refused, naming what is missing (no AWS variables are set in tests
        // that run this crate's unit tests through `cargo xtask test`).
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            let half = S3Options {
                credentials: Some((String::new(), "secret".into())),
                ..opts.clone()
            };
            let err = S3Store::open("s3://site", &half).err().unwrap().to_string();
            assert!(err.contains("set AWS_ACCESS_KEY_ID"), "{err}");
            assert!(!err.contains("AWS_SECRET_ACCESS_KEY and"), "{err}");
        }
        assert_eq!(bare.describe(), "s3://site");
        assert_eq!(bare.location("index.html").unwrap().as_ref(), "index.html");
    }
}
