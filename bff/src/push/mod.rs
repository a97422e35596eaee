//! Web Push: a user opts in per browser (`routes::push`), and whenever the kitchen moves one of
//! their orders each of those browsers gets a notification, also with no page open. The news is
//! queued per subscription in the transaction of the change ([`queue`]) and sent after it
//! commits ([`sender`]), signed with the server's VAPID key and encrypted for the browser
//! ([`webpush`]), only to the push services `--push-hosts` names ([`hosts`]).

pub mod hosts;
pub mod sender;
pub mod webpush;

use crate::db::Db;
use crate::problem::ApiError;
use crate::sql::{query, Sql};
use crate::time::now_ms;
use crate::write::{Appended, Backend, Write};
use crate::Config;
use anyhow::{bail, Context, Result};
use tessera_contract::push::Notification;

/// Where the server keeps the VAPID key it made for itself.
const KEY_SETTING: &str = "vapid-private-key";

/// The server's push settings and the sender's wake-up call.
pub struct Push {
    key: webpush::VapidKey,
    public_key: String,
    subject: String,
    pub hosts: hosts::Hosts,
    http: reqwest::Client,
    wake: tokio::sync::Notify,
}

impl std::fmt::Debug for Push {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Push")
            .field("public_key", &self.public_key)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl Push {
    /// The key from `--vapid-private-key`, or the one in the database (made on the first start).
    pub async fn start(config: &Config, db: &Db) -> Result<Push> {
        let key = match &config.vapid_private_key {
            Some(text) => webpush::VapidKey::from_base64url(text).context("--vapid-private-key")?,
            None => {
                let made = webpush::VapidKey::generate().to_base64url();
                let kept = db
                    .write(KeepKey(made))
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.detail.as_deref().unwrap_or(e.title)))
                    .context("keeping the VAPID key in the database")?;
                webpush::VapidKey::from_base64url(&kept)
                    .context("the VAPID key stored in the database (server_settings)")?
            }
        };
        let subject = config.vapid_subject.trim().to_owned();
        if !(subject.starts_with("mailto:") || subject.starts_with("https://")) {
            bail!("--vapid-subject {subject:?}: a mailto: or https:// URI");
        }
        Ok(Push {
            public_key: key.public_key_base64url(),
            key,
            subject,
            hosts: hosts::Hosts::parse(&config.push_hosts)?,
            // Push services answer at once; a redirect is not theirs to make.
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .context("making the push HTTP client")?,
            wake: tokio::sync::Notify::new(),
        })
    }

    /// What browsers subscribe with (`applicationServerKey`).
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// Tells the sender that news was queued (after the queueing transaction committed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Stores `candidate` as the server's key unless one is there; answers the one kept (another
/// process may have made it first).
struct KeepKey(String);

impl Write for KeepKey {
    type Output = String;

    async fn run<C: Sql>(self, conn: &mut C, _: Backend) -> Result<(String, Appended), ApiError> {
        query(
            "INSERT INTO server_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(KEY_SETTING)
        .bind(self.0.as_str())
        .execute(&mut *conn)
        .await
        .context("storing a VAPID key")?;
        let kept: String = query("SELECT value FROM server_settings WHERE name = $1")
            .bind(KEY_SETTING)
            .fetch_one(&mut *conn)
            .await
            .context("reading the VAPID key")?
            .try_get("value")?;
        Ok((kept, Appended::Nothing))
    }
}

/// Queues `news` for each browser of `owner` that opted in, in the caller's transaction.
pub async fn queue<C: Sql>(conn: &mut C, owner: &str, news: &Notification) -> Result<(), ApiError> {
    let payload = serde_json::to_string(news).context("serializing a notification")?;
    query(
        "INSERT INTO push_queue (endpoint, payload, queued_ms) \
         SELECT endpoint, $1, $2 FROM push_subscriptions WHERE owner = $3",
    )
    .bind(payload)
    .bind(now_ms())
    .bind(owner)
    .execute(&mut *conn)
    .await
    .context("queueing notifications")?;
    Ok(())
}
