//! Configuration from flags and environment variables, with defaults that work on a laptop:
//! SQLite in `.tessera/data`, listening on loopback.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The clock skew tolerated on a token's `exp` and `nbf` unless configured otherwise.
pub const DEFAULT_OIDC_LEEWAY_SECS: u64 = 60;

#[derive(Parser, Clone, Debug)]
#[command(
    name = "tessera-bff",
    about = "Tessera's reference Backend-for-Frontend"
)]
pub struct Config {
    /// Folder for the SQLite database (`tessera.db`), used unless a database URL is given.
    #[arg(long, env = "TESSERA_DATA_DIR", default_value = ".tessera/data")]
    pub data_dir: PathBuf,
    /// `postgres://…` switches to PostgreSQL; `sqlite://…` picks another SQLite file.
    #[arg(long, env = "TESSERA_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Address to listen on; port 0 picks a free port (the bin prints the one it got).
    #[arg(long, env = "TESSERA_BFF_ADDR", default_value = "127.0.0.1:8081")]
    pub addr: SocketAddr,
    /// Time the simulated kitchen takes for each order step.
    #[arg(long, env = "TESSERA_KITCHEN_STEP_MS", default_value_t = 3000)]
    pub kitchen_step_ms: u64,
    /// Also serve this object store (a folder, or `s3://bucket/prefix` with the usual `AWS_*`
    /// variables; published by `tessera-deploy publish`) at every path outside `/api`, as the
    /// CDN would: the whole system from one process.
    #[arg(long, env = "TESSERA_STORE")]
    pub store: Option<String>,
    /// Database connections in the pool (PostgreSQL; SQLite readers).
    #[arg(long, env = "TESSERA_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub max_connections: u32,
    /// How live updates reach the clients of other BFF instances: `auto` (PostgreSQL
    /// `LISTEN/NOTIFY` on PostgreSQL, nothing on SQLite), `none`, `postgres`, or a NATS server
    /// URL `nats://HOST:PORT`.
    #[arg(long, env = "TESSERA_LIVE_FANOUT", default_value = "auto")]
    pub live_fanout: String,
    /// Live connections: a heartbeat this often; a peer silent for two is closed.
    #[arg(long, env = "TESSERA_LIVE_HEARTBEAT_MS", default_value_t = 15_000)]
    pub live_heartbeat_ms: u64,
    /// Live updates: read the log this often even when no commit was announced (the fan-out's
    /// safety net).
    #[arg(long, env = "TESSERA_LIVE_POLL_MS", default_value_t = 1_000)]
    pub live_poll_ms: u64,
    /// A client must send its whole request head (request line and headers) within this long
    /// of starting it, or it is disconnected.
    #[arg(long, env = "TESSERA_HTTP_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub http_header_timeout_ms: u64,
    /// A request body that sends nothing for this long is answered 408 and the connection
    /// closed.
    #[arg(long, env = "TESSERA_HTTP_BODY_TIMEOUT_MS", default_value_t = 30_000)]
    pub http_body_timeout_ms: u64,
    /// OpenID Connect issuer whose tokens are accepted (`iss`, and the base of its discovery
    /// document `<issuer>/.well-known/openid-configuration`, which names the JWKS).
    #[arg(long, env = "TESSERA_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// The `aud` a token must carry: the client id the shell signs in with (it sends the ID token).
    #[arg(long, env = "TESSERA_OIDC_AUDIENCE", default_value = "tessera")]
    pub oidc_audience: String,
    /// A token signed with an unknown key refetches the JWKS at most this often.
    #[arg(long, env = "TESSERA_OIDC_JWKS_REFETCH_MS", default_value_t = 30_000)]
    pub oidc_jwks_refetch_ms: u64,
    /// Clock skew tolerated on a token's `exp` and `nbf`, in seconds.
    #[arg(long, env = "TESSERA_OIDC_LEEWAY_SECS", default_value_t = DEFAULT_OIDC_LEEWAY_SECS)]
    pub oidc_leeway_secs: u64,
    /// An origin a browser may load a local override of an app from (a team's
    /// `tessera-deploy dev` server; repeatable, or comma-separated in the variable). Pages name
    /// them for the shell and let them through their Content-Security-Policy; without any, the
    /// shell ignores overrides.
    #[arg(long = "override-origin", env = "TESSERA_OVERRIDE_ORIGINS", value_delimiter = ',',
          value_parser = tessera_contract::overrides::parse_origin_setting)]
    pub override_origins: Vec<String>,
    /// The BFF's regions when this server also serves the site (`--store`): `name=origin`,
    /// repeatable (or comma-separated in the variable), in order. Pages and their service
    /// worker use the user's primary region and move to the next when it stops answering;
    /// all regions must share one database. See "Regions" in the README.
    #[arg(long = "region", env = "TESSERA_REGIONS", value_delimiter = ',',
          value_parser = tessera_contract::regions::parse_one)]
    pub regions: Vec<tessera_contract::regions::Region>,
    /// Real-user monitoring: the most samples kept (the oldest go first).
    #[arg(long, env = "TESSERA_RUM_MAX_SAMPLES", default_value_t = 1_000_000)]
    pub rum_max_samples: u64,
    /// Real-user monitoring: samples older than this are deleted.
    #[arg(long, env = "TESSERA_RUM_RETENTION_HOURS", default_value_t = 168)]
    pub rum_retention_hours: u64,
    /// Real-user monitoring: reports a caller may send per minute (a page sends one or two).
    #[arg(long, env = "TESSERA_RUM_REPORTS_PER_MINUTE", default_value_t = 30)]
    pub rum_reports_per_minute: u32,
    /// Web Push: the VAPID private key (the 32-byte P-256 scalar, base64url). Without it the
    /// server makes one on its first start and keeps it in the database, where every process on
    /// that database finds it (browsers' subscriptions are bound to it).
    #[arg(long, env = "TESSERA_VAPID_PRIVATE_KEY", hide_env_values = true)]
    pub vapid_private_key: Option<String>,
    /// Web Push: who runs this server, a `mailto:` or `https:` URI, sent to push services with
    /// every notification (some refuse notifications without a way to reach the sender).
    #[arg(
        long,
        env = "TESSERA_VAPID_SUBJECT",
        default_value = "mailto:push@tessera.invalid"
    )]
    pub vapid_subject: String,
    /// Web Push: the push services notifications may go to, as `host`, `host:port` or
    /// `*.domain`, comma-separated; a subscription to any other is refused, so no user can make
    /// the server send requests elsewhere. Plain `http://` only to a loopback host named here.
    #[arg(
        long,
        env = "TESSERA_PUSH_HOSTS",
        value_delimiter = ',',
        default_value = "fcm.googleapis.com,updates.push.services.mozilla.com,*.push.apple.com,*.notify.windows.com"
    )]
    pub push_hosts: Vec<String>,
    /// Also accept unsigned `dev:<subject>:<roles>` tokens. Development and tests only: anyone
    /// can claim any identity with them.
    #[arg(long, env = "TESSERA_DEV_TOKENS")]
    pub dev_tokens: bool,
}

impl Config {
    /// What the bin would run with and no flags (environment variables still apply), for a
    /// process that embeds the API.
    pub fn defaults() -> Config {
        Config::parse_from(["tessera-bff"])
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("tessera.db").display()
            ),
        }
    }
}
