//! The outbox's rules: what state each queued command is in, which commands may be sent now,
//! what an answer from the BFF does to an entry, and how long a failed send waits. The browser
//! side keeps the entries in IndexedDB and performs the sends; everything it decides comes from
//! here, so the rules are tested natively (including random interleavings with crashes).
//!
//! Ordering: commands on one entity (a cart, a menu item) are sent in the order they were
//! queued, one at a time or several in one batch ([`Outbox::claim_batch`]), where the server
//! runs them in order and each carries the version the one before it produces; commands on
//! different entities never wait for each other. A conflict stops its entity until the user
//! resolves it, because every later command on that entity was based on the same outdated
//! version. Nothing leaves the outbox without either the server confirming it or the user
//! discarding it. What a batch's results do to its commands is in [`Outbox::settle_batch`] and
//! `docs/outbox-durability.md` ("Batches").

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tessera_contract::bff::{decode, BffError};
use tessera_contract::overlay::Overlay;
use tessera_contract::sync::Problem;
use tessera_contract::{VecMap, VecSet};

pub use tessera_contract::backoff::{backoff_ms, BACKOFF_BASE_MS, BACKOFF_CAP_MS};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryState {
    /// Waiting to be sent (again, after `not_before_ms`).
    Pending,
    /// Handed to the network; after a crash it is pending again (the idempotency key makes
    /// the second send harmless).
    Sending,
    /// The server applied it; the entry is removed.
    Done,
    /// The server's version moved on (`412`): the user chooses in the inbox.
    Conflict,
    /// The server refused it for good (a validation `4xx`); kept, with the server's message,
    /// until the user retries or discards it.
    Rejected,
}

impl EntryState {
    pub const ALL: [EntryState; 5] = [
        EntryState::Pending,
        EntryState::Sending,
        EntryState::Done,
        EntryState::Conflict,
        EntryState::Rejected,
    ];

    /// Its serde name (the outbox's records, the panel's `data-state`).
    pub fn as_str(self) -> &'static str {
        match self {
            EntryState::Pending => "pending",
            EntryState::Sending => "sending",
            EntryState::Done => "done",
            EntryState::Conflict => "conflict",
            EntryState::Rejected => "rejected",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    /// `PUT`, `POST` or `DELETE`.
    pub method: String,
    /// The BFF path, e.g. `/api/cart/items/pho-corner~pho-bo`.
    pub path: String,
    /// The JSON body, as sent.
    pub body: Option<String>,
}

impl Command {
    /// Whether the command can ride in a `POST /api/batch`: a `PUT` to a BFF path (`/api/…`,
    /// no query string) with a JSON object body or none, which is what the batch endpoint
    /// takes. Anything else is sent alone.
    pub fn batchable(&self) -> bool {
        self.method == "PUT"
            && self.path.starts_with("/api/")
            && !self.path.contains(['?', '#'])
            && self.body.as_deref().is_none_or(crate::json::is_object)
    }
}

/// What the server said about the entity when it refused a command as outdated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Theirs {
    pub version: Option<i64>,
    /// The server's current representation, for the inbox to show beside mine.
    pub body: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Queue position: entries are sent in `id` order within their entity.
    pub id: u64,
    pub idempotency_key: String,
    /// Which entity the command changes (`cart:alice`, `menu-item:pho-corner/pho-bo`).
    pub entity: String,
    /// Whose command it is: replays use that user's token, read fresh at replay time.
    pub subject: String,
    /// The entity version the user's change was based on (`If-Match`); `None` for commands
    /// that do not depend on one.
    pub base_version: Option<i64>,
    pub command: Command,
    /// What the user did, in their words ("Phở bò × 3 in the cart"), for the outbox view.
    #[serde(default)]
    pub label: String,
    pub state: EntryState,
    pub attempts: u32,
    pub error: Option<String>,
    /// Set on a conflict.
    pub theirs: Option<Theirs>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    /// A pending entry waits until then (backoff, `Retry-After`).
    pub not_before_ms: u64,
    /// How the command shows in query answers while it waits (read-your-writes).
    #[serde(default)]
    pub overlays: Vec<Overlay>,
}

/// The most commands one batch carries (the BFF's limit for `POST /api/batch`).
pub const BATCH_MAX: usize = 100;

/// About how many bytes of JSON a batch may take: the BFF takes request bodies up to 64 KiB
/// (a batch over it is a `413`, and the rest of the run would send alone), so a batch of long
/// commands goes out with fewer than [`BATCH_MAX`].
pub const BATCH_MAX_BYTES: usize = 48 * 1024;

/// About how many bytes `e` takes in a batch's JSON.
fn batch_bytes(e: &Entry) -> usize {
    // Names, quotes and the `If-Match`, generously.
    const FRAME: usize = 100;
    FRAME
        + e.command.path.len()
        + e.idempotency_key.len()
        + e.command.body.as_ref().map_or(0, String::len)
}

/// One command of a claimed batch, as it goes out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchItem {
    /// The entry as claimed (`sending`).
    pub entry: Entry,
    /// The `If-Match` it carries: the entry's base version for the first command of its
    /// entity in the batch; for each later one, the version the one before it produces
    /// (its `If-Match` + 1: every accepted command moves its entity one version on).
    pub if_match: Option<i64>,
}

/// Commands of one user sent in one `POST /api/batch` (one token per request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub subject: String,
    pub items: Vec<BatchItem>,
}

/// Per entity, the version the server last said one of the user's commands produced, during
/// this run of the replayer. A batch carries more than one command of an entity only when
/// the first one's `If-Match` is that version: see [`Outbox::claim_batch`].
pub type Confirmed = VecMap<String, i64>;

/// One result of a batch: what it means, and whether it is the answer recorded for an
/// earlier send of the key (then its version is the one the command produced back then,
/// which says nothing about the entity now).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub outcome: Outcome,
    pub replayed: bool,
}

impl From<Outcome> for Answer {
    fn from(outcome: Outcome) -> Answer {
        Answer {
            outcome,
            replayed: false,
        }
    }
}

/// A command as an app hands it to the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEntry {
    pub idempotency_key: String,
    pub entity: String,
    pub subject: String,
    pub base_version: Option<i64>,
    pub command: Command,
    pub label: String,
    pub overlays: Vec<Overlay>,
}

impl NewEntry {
    /// `self` as a waiting entry not yet in any outbox (id 0), for a copy kept as an entry's
    /// JSON; [`NewEntry::from`] gives it back.
    pub fn as_entry(&self, now_ms: u64) -> Entry {
        Outbox::default().enqueue(0, self.clone(), now_ms).clone()
    }
}

impl From<Entry> for NewEntry {
    fn from(e: Entry) -> NewEntry {
        NewEntry {
            idempotency_key: e.idempotency_key,
            entity: e.entity,
            subject: e.subject,
            base_version: e.base_version,
            command: e.command,
            label: e.label,
            overlays: e.overlays,
        }
    }
}

/// What an answer (or the lack of one) means for the entry that was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: applied; `version` is the entity's new version (from the `ETag`).
    Applied { version: Option<i64> },
    /// 412: based on an outdated version.
    Conflict(Theirs),
    /// Any other 4xx but 401, 408 and 429: will never succeed as it is.
    Rejected { status: u16, message: String },
    /// No answer, 5xx, 401 (a fresh token may fix it), 408 or 429: try again later.
    Retry {
        error: String,
        retry_after_ms: Option<u64>,
    },
}

/// Classifies an HTTP answer to a command. `message` is the server's problem detail or title.
pub fn classify(
    status: u16,
    version: Option<i64>,
    retry_after_ms: Option<u64>,
    message: String,
) -> Outcome {
    match status {
        200..=299 => Outcome::Applied { version },
        412 => Outcome::Conflict(Theirs {
            version,
            body: None,
        }),
        401 => Outcome::Retry {
            error: format!("HTTP 401: sign in again to send this ({message})"),
            retry_after_ms,
        },
        408 | 429 | 500..=599 => Outcome::Retry {
            error: format!("HTTP {status}: {message}"),
            retry_after_ms,
        },
        _ => Outcome::Rejected { status, message },
    }
}

/// What an HTTP answer to a command means, from its status, `ETag` version, `Retry-After`
/// wait, `Content-Type` and body: [`classify`] with the server's problem detail as the
/// message, and for a `412` the entity as the server has it now (the problem's `current`).
pub fn outcome_of(
    url: &str,
    status: u16,
    version: Option<i64>,
    retry_after_ms: Option<u64>,
    content_type: &str,
    text: &str,
) -> Outcome {
    let error = decode(url, status, content_type, text, crate::json::parse).err();
    outcome_with(status, version, retry_after_ms, error)
}

/// [`classify`] with the message of `error` (the server's problem, or why a success body
/// would not read) and, for a `412`, the entity as the server has it now.
fn outcome_with(
    status: u16,
    version: Option<i64>,
    retry_after_ms: Option<u64>,
    error: Option<BffError>,
) -> Outcome {
    let message = error.as_ref().map(|p| p.to_string()).unwrap_or_default();
    let mut outcome = classify(status, version, retry_after_ms, message);
    if let (Outcome::Conflict(theirs), Some(BffError::Problem(p))) = (&mut outcome, &error) {
        if let Some(current) = &p.current {
            theirs.version = current
                .get("version")
                .and_then(|v| v.as_i64())
                .or(theirs.version);
            theirs.body = Some(current.to_string());
        }
    }
    outcome
}

/// Where batches go.
pub const BATCH_PATH: &str = "/api/batch";

/// The body of a `POST /api/batch` carrying `items`. The items are batchable
/// ([`Command::batchable`]): a body that is no JSON object cannot be, and is left out.
pub fn batch_body(items: &[BatchItem]) -> String {
    let commands: Vec<serde_json::Value> = items
        .iter()
        .map(|i| {
            let mut c = serde_json::json!({
                "method": i.entry.command.method,
                "path": i.entry.command.path,
                "idempotencyKey": i.entry.idempotency_key,
            });
            if let Some(v) = i.if_match {
                c["ifMatch"] = tessera_contract::sync::entity_etag(v).into();
            }
            if let Some(body) = &i.entry.command.body {
                if let Ok(body @ serde_json::Value::Object(_)) = crate::json::parse(body) {
                    c["body"] = body;
                }
            }
            c
        })
        .collect();
    serde_json::json!({ "commands": commands }).to_string()
}

/// What came back for a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchAnswer {
    /// One answer per command, in order.
    Results(Vec<Answer>),
    /// Nothing about any command (no answer, `401`, `408`, `429`, `5xx`, or a `200` that
    /// does not read as one result per command): each is retried with this.
    Failed(Outcome),
    /// The BFF has no batch endpoint (`404`, `405`) or refused the batch as a whole (another
    /// `4xx`): its commands go out alone, this run, as if never sent.
    Unsupported(String),
}

/// Reads the answer to a batch of `count` commands: its status, `Retry-After` wait,
/// `Content-Type` and body.
pub fn read_batch(
    count: usize,
    status: u16,
    retry_after_ms: Option<u64>,
    content_type: &str,
    text: &str,
) -> BatchAnswer {
    let retry = |error: String| {
        BatchAnswer::Failed(Outcome::Retry {
            error,
            retry_after_ms,
        })
    };
    match status {
        200 => match batch_results(text) {
            Ok(results) if results.len() == count => BatchAnswer::Results(
                results
                    .into_iter()
                    .map(|r| {
                        // A command's problem document is its body; its `ETag`, its version.
                        let error = (!(200..300).contains(&r.status)).then(|| {
                            let problem = (r.status >= 400)
                                .then(|| Problem::read(&r.body))
                                .flatten()
                                .unwrap_or_else(|| Problem::of_status(BATCH_PATH, r.status));
                            BffError::Problem(Box::new(problem))
                        });
                        let version = r
                            .etag
                            .as_deref()
                            .and_then(tessera_contract::sync::parse_version_tag);
                        Answer {
                            outcome: outcome_with(r.status, version, None, error),
                            replayed: r.replayed,
                        }
                    })
                    .collect(),
            ),
            Ok(results) => retry(format!(
                "{BATCH_PATH} answered {} results for {count} commands",
                results.len()
            )),
            Err(e) => retry(format!(
                "{BATCH_PATH} answered what is no batch result: {e}"
            )),
        },
        404 | 405 => BatchAnswer::Unsupported(format!("HTTP {status} from {BATCH_PATH}")),
        _ => match outcome_of(BATCH_PATH, status, None, retry_after_ms, content_type, text) {
            Outcome::Retry { error, .. } => retry(error),
            Outcome::Rejected { status, message } => {
                BatchAnswer::Unsupported(format!("HTTP {status} from {BATCH_PATH}: {message}"))
            }
            other => {
                BatchAnswer::Unsupported(format!("{BATCH_PATH} answered HTTP {status} ({other:?})"))
            }
        },
    }
}

/// One command's answer in a batch's `results`.
struct BatchResult {
    status: u16,
    body: serde_json::Value,
    replayed: bool,
    etag: Option<String>,
}

/// `{"results": [{"status": 200, "body": …, "replayed": false, "etag": "\"3\""}, …]}`; the
/// error names the first field that does not read.
fn batch_results(text: &str) -> Result<Vec<BatchResult>, String> {
    use serde_json::Value;
    let mut answer = crate::json::parse(text)?;
    let Some(Value::Array(results)) = answer.get_mut("results").map(Value::take) else {
        return Err("results: expected an array".into());
    };
    let mut read = Vec::with_capacity(results.len());
    for (i, mut r) in results.into_iter().enumerate() {
        let field = |name: &str| format!("results[{i}].{name}");
        let status = (r.get("status").and_then(Value::as_u64))
            .and_then(|s| u16::try_from(s).ok())
            .ok_or_else(|| format!("{}: expected an HTTP status", field("status")))?;
        let replayed = match r.get("replayed") {
            None | Some(Value::Null) => false,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| format!("{}: expected true or false", field("replayed")))?,
        };
        let etag = match r.get("etag") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_str()
                    .ok_or_else(|| format!("{}: expected a string", field("etag")))?
                    .to_owned(),
            ),
        };
        let body = r.get_mut("body").map(Value::take).unwrap_or_default();
        read.push(BatchResult {
            status,
            body,
            replayed,
            etag,
        });
    }
    Ok(read)
}

/// A `Retry-After` header (seconds or an HTTP date already converted by the caller to Unix ms)
/// as a wait from `now_ms`.
pub fn retry_after_ms(header: &str) -> Option<u64> {
    header.trim().parse::<u64>().ok().map(|s| s * 1000)
}

/// A user's decision on a conflict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Send my change again, on the server's current version.
    KeepMine,
    /// Drop my change; the server's state stands.
    TakeTheirs,
    /// Send an edited change on the server's current version.
    Edit { body: Option<String> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutboxError {
    NoSuchEntry(u64),
    /// An answer came for a command that entry `id` no longer holds (its id was handed out
    /// again while it was in flight).
    NotTheSentCommand(u64),
    /// The operation does not apply to an entry in this state.
    WrongState {
        id: u64,
        state: EntryState,
        doing: &'static str,
    },
}

impl std::fmt::Display for OutboxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutboxError::NoSuchEntry(id) => write!(f, "outbox entry {id} does not exist"),
            OutboxError::NotTheSentCommand(id) => write!(
                f,
                "an answer for outbox entry {id} is for another command (another idempotency key)"
            ),
            OutboxError::WrongState { id, state, doing } => {
                write!(f, "cannot {doing} outbox entry {id}: it is {state:?}")
            }
        }
    }
}

impl std::error::Error for OutboxError {}

/// The entries not yet done, by id. The browser loads it from IndexedDB, applies one of these
/// operations, and writes back the entries it changed ([`Outbox::take_changed`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outbox {
    entries: BTreeMap<u64, Entry>,
    changed: VecSet<u64>,
    /// Per entity, the versions the user's own confirmed commands moved it between (oldest
    /// first, the last [`APPLIED_KEPT`]), kept after their entries are gone: a command queued
    /// from a read that did not see the confirmation yet follows them onto the newest.
    applied: Applied,
    applied_changed: bool,
    /// The queries (with their subject) that commands the server applied since the last
    /// [`Outbox::take_confirmed_queries`] change: the saved answers to read again.
    confirmed_queries: VecSet<(String, String)>,
}

/// Per entity, `(based on, produced)` version pairs of the user's own confirmed commands.
pub type Applied = VecMap<String, Vec<(i64, i64)>>;

/// How far apart the clocks of a page and its worker may be (both read the system's clock,
/// which may be set back meanwhile).
pub const CLOCK_SLACK_MS: u64 = 1_000;

/// Whether an outbox read whose last settle is stamped `settled_at_ms` (ms since the epoch)
/// may lack a command the server applied after answering a request that went out at
/// `went_out_ms`, read before the outbox was. A writer stamps its settle after the server's
/// answer to the commands it lets go, so such a command is stamped after the request went
/// out; within [`CLOCK_SLACK_MS`] counts as after.
pub fn may_have_settled_since(settled_at_ms: u64, went_out_ms: u64) -> bool {
    settled_at_ms.saturating_add(CLOCK_SLACK_MS) >= went_out_ms
}

/// How many confirmed version steps are remembered per entity.
pub const APPLIED_KEPT: usize = 32;

/// What the status bar shows of the outbox; replayers broadcast it after every change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Commands still to reach the server.
    pub pending: usize,
    /// Conflicts and rejections waiting for the user.
    pub inbox: usize,
    /// A replay is running.
    pub syncing: bool,
}

impl Summary {
    /// Whether going from `before` to `self` only queued commands: nothing was sent, confirmed
    /// or refused, so no server answer changed (waiting commands are overlaid on answers,
    /// never part of them).
    pub fn only_queued_since(&self, before: &Summary) -> bool {
        self.pending > before.pending
            && self.inbox == before.inbox
            && !self.syncing
            && !before.syncing
    }

    /// Whether going from `before` to `self` emptied the outbox without leaving anything for
    /// the user: the moment for a short "all changes saved".
    pub fn drained_since(&self, before: &Summary) -> bool {
        before.pending > 0 && self.pending == 0 && self.inbox == 0
    }

    /// The status bar's words for it; nothing when there is nothing to say.
    pub fn label(&self) -> Option<String> {
        let changes = |n: usize| match n {
            1 => "1 change".to_string(),
            n => format!("{n} changes"),
        };
        let waiting = match (self.pending, self.syncing) {
            (0, _) => None,
            (n, true) => Some(format!("Sending {}…", changes(n))),
            (n, false) => Some(format!("{} not sent yet", changes(n))),
        };
        let inbox = match self.inbox {
            0 => None,
            1 => Some("1 needs your attention".to_string()),
            n => Some(format!("{n} need your attention")),
        };
        match (waiting, inbox) {
            (Some(w), Some(i)) => Some(format!("{w} · {i}")),
            (w, i) => w.or(i),
        }
    }
}

/// What to write to, or delete from, the durable store after an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Put(Box<Entry>),
    Delete(u64),
}

impl Outbox {
    /// The outbox as stored, after a restart: whatever was being sent when the page or worker
    /// died may or may not have reached the server, and is simply sent again.
    pub fn recover(stored: impl IntoIterator<Item = Entry>) -> Outbox {
        let mut outbox = Outbox::default();
        for mut e in stored {
            if e.state == EntryState::Sending {
                e.state = EntryState::Pending;
                e.not_before_ms = 0;
                outbox.changed.insert(e.id);
            }
            if e.state == EntryState::Done {
                outbox.changed.insert(e.id);
            }
            outbox.entries.insert(e.id, e);
        }
        outbox
    }

    /// The outbox as stored, while its replayer runs: entries being sent stay so.
    pub fn load(stored: impl IntoIterator<Item = Entry>) -> Outbox {
        // Inserted one by one: `collect()` into a B-tree links a stable sort of its own.
        let mut entries = BTreeMap::new();
        for e in stored {
            entries.insert(e.id, e);
        }
        Outbox {
            entries,
            ..Outbox::default()
        }
    }

    /// The overlays of the commands still to reach the server that `subject` queued, in
    /// queue order, for answers to `query`.
    pub fn overlays_for<'a>(
        &'a self,
        subject: &'a str,
        query: &'a str,
    ) -> impl Iterator<Item = &'a tessera_contract::overlay::Edit> + 'a {
        self.entries
            .values()
            .filter(move |e| {
                e.subject == subject && matches!(e.state, EntryState::Pending | EntryState::Sending)
            })
            .flat_map(|e| e.overlays.iter())
            .filter(move |o| o.query == query)
            .map(|o| &o.edit)
    }

    /// This outbox with the entries `earlier` had and this one no longer has (confirmed or
    /// discarded since), as they were then: for overlaying an answer whose request went out
    /// when the outbox was `earlier`, which may predate a command confirmed meanwhile.
    /// Overlay edits set, upsert or remove, so one applied again on an answer that already
    /// has it changes nothing.
    pub fn since(mut self, earlier: &Outbox) -> Outbox {
        for (id, entry) in &earlier.entries {
            let let_go = self
                .entries
                .get(id)
                .is_none_or(|now| now.state == EntryState::Done);
            if let_go {
                self.entries.insert(*id, entry.clone());
            }
        }
        self
    }

    /// Of `accepted` (commands taken from apps and still being saved), those this outbox does
    /// not hold yet: once saved, a command is here and must not count or show twice.
    pub fn not_yet_held<'a>(
        &'a self,
        accepted: &'a [NewEntry],
    ) -> impl Iterator<Item = &'a NewEntry> {
        accepted
            .iter()
            .filter(move |n| !self.holds_key(&n.idempotency_key))
    }

    /// [`Self::overlays_for`], then the edits of the `accepted` commands not held yet.
    pub fn overlays_with<'a>(
        &'a self,
        accepted: &'a [NewEntry],
        subject: &'a str,
        query: &'a str,
    ) -> impl Iterator<Item = &'a tessera_contract::overlay::Edit> + 'a {
        let taken = self
            .not_yet_held(accepted)
            .filter(move |n| n.subject == subject)
            .flat_map(|n| n.overlays.iter())
            .filter(move |o| o.query == query)
            .map(|o| &o.edit);
        self.overlays_for(subject, query).chain(taken)
    }

    /// [`Self::summary`], counting the `accepted` commands not held yet as waiting.
    pub fn summary_with(&self, accepted: &[NewEntry]) -> Summary {
        let mut summary = self.summary(false);
        summary.pending += self.not_yet_held(accepted).count();
        summary
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// Whether an entry was queued under `idempotency_key`.
    pub fn holds_key(&self, idempotency_key: &str) -> bool {
        self.entries
            .values()
            .any(|e| e.idempotency_key == idempotency_key)
    }

    pub fn get(&self, id: u64) -> Option<&Entry> {
        self.entries.get(&id)
    }

    /// Entries still to reach the server (pending or being sent).
    pub fn pending_count(&self) -> usize {
        self.entries
            .values()
            .filter(|e| matches!(e.state, EntryState::Pending | EntryState::Sending))
            .count()
    }

    pub fn summary(&self, syncing: bool) -> Summary {
        Summary {
            pending: self.pending_count(),
            inbox: self.inbox().count(),
            syncing,
        }
    }

    /// Conflicts and rejections: the inbox.
    pub fn inbox(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .values()
            .filter(|e| matches!(e.state, EntryState::Conflict | EntryState::Rejected))
    }

    /// Queues a command as entry `id`, which comes from the store's own counter, so ids keep
    /// growing even after entries are deleted.
    pub fn enqueue(&mut self, id: u64, mut new: NewEntry, now_ms: u64) -> &Entry {
        self.changed.insert(id);
        if let (Some(mut base), Some(steps)) = (new.base_version, self.applied.get(&new.entity)) {
            // Steps only go forward, so following them ends.
            while let Some(&(_, produced)) = steps.iter().find(|(from, _)| *from == base) {
                base = produced;
            }
            new.base_version = Some(base);
        }
        self.entries.entry(id).or_insert(Entry {
            id,
            idempotency_key: new.idempotency_key,
            entity: new.entity,
            subject: new.subject,
            base_version: new.base_version,
            command: new.command,
            label: new.label,
            state: EntryState::Pending,
            attempts: 0,
            error: None,
            theirs: None,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            not_before_ms: 0,
            overlays: new.overlays,
        })
    }

    /// Adds an entry another operation already stored (keeps a cached copy current).
    pub fn insert_stored(&mut self, e: Entry) {
        self.entries.insert(e.id, e);
    }

    /// The entries that may be sent now: for each entity, its oldest unfinished entry, if that
    /// one is pending and its wait is over. An entity with an entry being sent, or with a
    /// conflict, sends nothing. A rejected entry does not hold its entity: it had no effect.
    pub fn ready(&self, now_ms: u64) -> Vec<u64> {
        // An entity with a command on the wire, even behind a rejected one the user sent
        // again since, waits for its answer.
        let mut seen = self.sending_entities();
        let mut out = Vec::new();
        for e in self.entries.values() {
            if e.state == EntryState::Rejected || e.state == EntryState::Done {
                continue;
            }
            if !seen.insert(e.entity.as_str()) {
                continue; // Not the entity's head.
            }
            if e.state == EntryState::Pending && e.not_before_ms <= now_ms {
                out.push(e.id);
            }
        }
        out
    }

    fn sending_entities(&self) -> VecSet<&str> {
        self.entries
            .values()
            .filter(|e| e.state == EntryState::Sending)
            .map(|e| e.entity.as_str())
            .collect()
    }

    /// When the next entry becomes ready, for the replay timer; `None` when nothing waits.
    pub fn next_wake_ms(&self) -> Option<u64> {
        let mut seen = VecSet::new();
        self.entries
            .values()
            .filter(|e| !matches!(e.state, EntryState::Rejected | EntryState::Done))
            .filter(|e| seen.insert(e.entity.as_str()))
            .filter(|e| e.state == EntryState::Pending)
            .map(|e| e.not_before_ms)
            .min()
    }

    fn entry_mut(
        &mut self,
        id: u64,
        doing: &'static str,
        allowed: &[EntryState],
    ) -> Result<&mut Entry, OutboxError> {
        let e = self
            .entries
            .get_mut(&id)
            .ok_or(OutboxError::NoSuchEntry(id))?;
        if !allowed.contains(&e.state) {
            return Err(OutboxError::WrongState {
                id,
                state: e.state,
                doing,
            });
        }
        self.changed.insert(id);
        Ok(e)
    }

    /// Marks an entry as handed to the network. Only a ready entry may be sent.
    pub fn start_sending(&mut self, id: u64, now_ms: u64) -> Result<&Entry, OutboxError> {
        if !self.ready(now_ms).contains(&id) {
            let state = self
                .entries
                .get(&id)
                .ok_or(OutboxError::NoSuchEntry(id))?
                .state;
            return Err(OutboxError::WrongState {
                id,
                state,
                doing: "send (it is not its entity's next ready entry)",
            });
        }
        let e = self.entry_mut(id, "send", &[EntryState::Pending])?;
        e.state = EntryState::Sending;
        e.attempts += 1;
        e.updated_at_ms = now_ms;
        Ok(e)
    }

    /// Claims a batch for `POST /api/batch`: up to `max` entries (and about
    /// [`BATCH_MAX_BYTES`]) of one user (the subject of the oldest entry that could be sent
    /// now, skipping the subjects in `busy`), in queue order across entities, and marks them
    /// `sending`. `None` when no such entry is ready.
    ///
    /// Per entity the batch takes its next ready entry ([`Outbox::ready`]) and, behind it,
    /// the entries that follow it while each is pending, past its wait, batchable and, after
    /// the rebase the one before it would cause once applied ([`Outbox::settle`]), based on
    /// the version that one produces. Rejected entries are skipped, as [`Outbox::ready`]
    /// skips them; anything else ends the entity's run. Each carries the `If-Match` that
    /// one-at-a-time sending would give it if every command before it were applied.
    ///
    /// A command behind another in a batch can only be applied on the version the one before
    /// it produces; but the server checks a number, and if the one before it is refused
    /// while someone else moved the entity to exactly that number, it is applied anyway,
    /// before the refused one. So an entity's run goes beyond its first entry only when that
    /// entry's `If-Match` is the version the server answered last in this run (`confirmed`):
    /// then only a change by someone else in the moment between two batches can cause that.
    /// A run's first batch carries one command per entity.
    pub fn claim_batch(
        &mut self,
        now_ms: u64,
        max: usize,
        busy: &VecSet<String>,
        confirmed: &Confirmed,
    ) -> Option<Batch> {
        let ready: VecSet<u64> = self.ready(now_ms).into_iter().collect();
        let subject = self
            .entries
            .values()
            .find(|e| ready.contains(&e.id) && e.command.batchable() && !busy.contains(&e.subject))?
            .subject
            .clone();
        /// How far an entity's run has come.
        enum Run {
            /// Taking entries: the version steps the entries taken would make (`If-Match`
            /// → that + 1), the last one's `If-Match`.
            Open(Vec<(i64, i64)>, i64),
            Closed,
        }
        let mut runs: VecMap<&str, Run> = self
            .sending_entities()
            .into_iter()
            .map(|entity| (entity, Run::Closed))
            .collect();
        let mut taken: Vec<(u64, Option<i64>)> = Vec::new();
        let mut bytes = 0;
        for e in self.entries.values() {
            if taken.len() >= max {
                break;
            }
            if matches!(e.state, EntryState::Rejected | EntryState::Done) {
                continue;
            }
            let sendable = e.subject == subject
                && e.state == EntryState::Pending
                && e.not_before_ms <= now_ms
                && e.command.batchable();
            if sendable {
                // Full: the rest goes in the next batch (the first always goes).
                if !taken.is_empty() && bytes + batch_bytes(e) > BATCH_MAX_BYTES {
                    break;
                }
            }
            match runs.get_mut(e.entity.as_str()) {
                None => {
                    // The entity's next entry.
                    let run = match (sendable, e.base_version) {
                        (false, _) => Run::Closed,
                        (true, base) => {
                            bytes += batch_bytes(e);
                            taken.push((e.id, base));
                            match base {
                                Some(b) if confirmed.get(&e.entity) == Some(&b) => {
                                    Run::Open(vec![(b, b + 1)], b)
                                }
                                _ => Run::Closed,
                            }
                        }
                    };
                    runs.insert(e.entity.as_str(), run);
                }
                Some(Run::Open(steps, last)) => {
                    let mut base = e.base_version;
                    for &(from, to) in steps.iter() {
                        if base == Some(from) {
                            base = Some(to);
                        }
                    }
                    if sendable && base == Some(*last + 1) {
                        *last += 1;
                        steps.push((*last, *last + 1));
                        bytes += batch_bytes(e);
                        taken.push((e.id, base));
                    } else {
                        runs.insert(e.entity.as_str(), Run::Closed);
                    }
                }
                Some(Run::Closed) => {}
            }
        }
        let mut items = Vec::with_capacity(taken.len());
        for (id, if_match) in taken {
            self.changed.insert(id);
            let e = self.entries.get_mut(&id).expect("taken from the entries");
            e.state = EntryState::Sending;
            e.attempts += 1;
            e.updated_at_ms = now_ms;
            items.push(BatchItem {
                entry: e.clone(),
                if_match,
            });
        }
        Some(Batch { subject, items })
    }

    /// Records the answers to a batch, one per item in order (from [`classify`], as for a
    /// command sent alone; a batch that got no answer is a retry for each). Each
    /// answer settles only the command that was sent (the key, as [`Outbox::settle_sent`]);
    /// the refusals are returned, and the rest is settled.
    ///
    /// The first command of an entity in the batch, and each one behind a command that was
    /// applied and produced the version it was sent on, is settled as if sent alone. One
    /// behind a command that was not (conflict, rejection, retry, or another version) was
    /// sent on a version that did not come about:
    /// - refused (`412`, or any other refusal): it was not tried as one-at-a-time sending
    ///   would have sent it, so it is pending again at once, its send not counted, and waits
    ///   behind the one before it as it would have (a conflict holds the entity; a rejected
    ///   one does not, and it goes next on its own base version);
    /// - applied: the server applied it (someone else moved the entity to the version it
    ///   was sent on, or the one before it produced another version than expected); that is
    ///   what happened, so it is settled as applied, on the version it was sent on;
    /// - a retry: as any retry.
    ///
    /// `confirmed` keeps, per entity, the version of its last answer in the batch if that
    /// was applied and not a replay; any other answer forgets the entity's version.
    pub fn settle_batch(
        &mut self,
        items: &[BatchItem],
        answers: Vec<Answer>,
        now_ms: u64,
        mut jitter: impl FnMut() -> f64,
        confirmed: &mut Confirmed,
    ) -> Vec<OutboxError> {
        let mut errors = Vec::new();
        // Per entity seen in the batch: whether the next one's `If-Match` came about.
        let mut came_about: VecMap<&str, bool> = VecMap::new();
        for (item, Answer { outcome, replayed }) in items.iter().zip(answers) {
            let (id, entity) = (item.entry.id, item.entry.entity.as_str());
            let as_alone = came_about.get(entity).copied().unwrap_or(true);
            let produced = match outcome {
                Outcome::Applied { version } => version,
                _ => None,
            };
            came_about.insert(
                entity,
                produced.is_some() && produced == item.if_match.map(|m| m + 1),
            );
            match (produced, replayed) {
                (Some(v), false) => confirmed.insert(entity.to_owned(), v),
                // A replay tells an old version, a refusal another one, a retry nothing.
                _ => confirmed.remove(entity),
            };
            match self.entries.get(&id) {
                Some(e) if e.idempotency_key != item.entry.idempotency_key => {
                    errors.push(OutboxError::NotTheSentCommand(id));
                    continue;
                }
                Some(e) if e.state != EntryState::Sending => {
                    errors.push(OutboxError::WrongState {
                        id,
                        state: e.state,
                        doing: "settle",
                    });
                    continue;
                }
                Some(_) => {}
                None => {
                    errors.push(OutboxError::NoSuchEntry(id));
                    continue;
                }
            }
            let settled = match outcome {
                Outcome::Conflict(_) | Outcome::Rejected { .. } if !as_alone => {
                    self.unsend(id);
                    Ok(())
                }
                Outcome::Applied { version } => {
                    // The version the server checked it against, which later entries
                    // rebase from.
                    let stored = self.entries.get(&id).and_then(|e| e.base_version);
                    if let Some(e) = self.entries.get_mut(&id) {
                        e.base_version = item.if_match.or(stored);
                    }
                    let settled = self.settle(id, outcome, now_ms, jitter());
                    // Applied behind one that was not (a refusal that moved the version
                    // on): the later entries based on the version it was queued on follow
                    // it too, unless an earlier entry still holds the entity (a conflict, a
                    // retry), whose outcome they follow instead.
                    let head = || {
                        !self.entries.range(..id).any(|(_, e)| {
                            e.entity == entity
                                && !matches!(e.state, EntryState::Rejected | EntryState::Done)
                        })
                    };
                    if settled.is_ok() && stored != item.if_match && head() {
                        self.rebase_later(id, entity, stored, version);
                    }
                    settled
                }
                outcome => self.settle(id, outcome, now_ms, jitter()),
            };
            errors.extend(settled.err());
        }
        errors
    }

    /// Gives the claimed entries of a batch back, as if never sent (the BFF has no batch
    /// endpoint: they go out alone): pending, ready at once, their send not counted.
    pub fn release_batch(&mut self, items: &[BatchItem]) {
        for item in items {
            if self.entries.get(&item.entry.id).is_some_and(|e| {
                e.state == EntryState::Sending && e.idempotency_key == item.entry.idempotency_key
            }) {
                self.unsend(item.entry.id);
            }
        }
    }

    /// A `sending` entry back to pending, ready now, as if it had not been sent.
    fn unsend(&mut self, id: u64) {
        if let Some(e) = self.entries.get_mut(&id) {
            e.state = EntryState::Pending;
            e.attempts = e.attempts.saturating_sub(1);
            e.not_before_ms = 0;
            self.changed.insert(id);
        }
    }

    /// [`Outbox::settle`] for the answer to the send of `key`: only the command that was sent
    /// is settled by it, so no answer can ever confirm a command that never reached the server.
    pub fn settle_sent(
        &mut self,
        id: u64,
        key: &str,
        outcome: Outcome,
        now_ms: u64,
        jitter: f64,
    ) -> Result<(), OutboxError> {
        match self.entries.get(&id) {
            Some(e) if e.idempotency_key != key => Err(OutboxError::NotTheSentCommand(id)),
            _ => self.settle(id, outcome, now_ms, jitter),
        }
    }

    /// Records what the send of `id` came to. `jitter` in [0, 1) spreads retries.
    pub fn settle(
        &mut self,
        id: u64,
        outcome: Outcome,
        now_ms: u64,
        jitter: f64,
    ) -> Result<(), OutboxError> {
        let e = self.entry_mut(id, "settle", &[EntryState::Sending])?;
        e.updated_at_ms = now_ms;
        match outcome {
            Outcome::Applied { version } => {
                e.state = EntryState::Done;
                e.error = None;
                let (entity, based_on) = (e.entity.clone(), e.base_version);
                let changed: Vec<(String, String)> = (e.overlays.iter())
                    .map(|o| (e.subject.clone(), o.query.clone()))
                    .collect();
                self.confirmed_queries.extend(changed);
                // The commands queued after this one on the same entity were based on the same
                // version as this one; this one's effect is the user's own, so they now follow
                // the version it produced.
                self.rebase_later(id, &entity, based_on, version);
                if let (Some(from), Some(to)) = (based_on, version) {
                    if to > from {
                        let steps = self.applied.get_or_insert_with(entity, Vec::new);
                        steps.push((from, to));
                        if steps.len() > APPLIED_KEPT {
                            steps.remove(0);
                        }
                        self.applied_changed = true;
                    }
                }
            }
            Outcome::Conflict(theirs) => {
                e.state = EntryState::Conflict;
                e.error = Some("the server's version changed since this was made".into());
                e.theirs = Some(theirs);
            }
            Outcome::Rejected { status, message } => {
                e.state = EntryState::Rejected;
                e.error = Some(format!("HTTP {status}: {message}"));
            }
            Outcome::Retry {
                error,
                retry_after_ms,
            } => {
                e.state = EntryState::Pending;
                e.error = Some(error);
                let wait = retry_after_ms.unwrap_or_else(|| backoff_ms(e.attempts, jitter));
                e.not_before_ms = now_ms + wait;
            }
        }
        Ok(())
    }

    /// The user's decision on a conflict. Keeping mine or editing re-sends on the server's
    /// current version under the same idempotency key (the server records only accepted
    /// commands, so the key is still unused); taking theirs discards mine.
    pub fn resolve(
        &mut self,
        id: u64,
        resolution: Resolution,
        now_ms: u64,
    ) -> Result<(), OutboxError> {
        let e = self.entry_mut(id, "resolve", &[EntryState::Conflict])?;
        let theirs = e.theirs.take().and_then(|t| t.version);
        let old_base = e.base_version;
        let entity = e.entity.clone();
        match resolution {
            Resolution::TakeTheirs => {
                e.state = EntryState::Done;
                e.error = None;
            }
            Resolution::KeepMine | Resolution::Edit { .. } => {
                if let Resolution::Edit { body } = resolution {
                    e.command.body = body;
                }
                e.state = EntryState::Pending;
                e.error = None;
                e.attempts = 0;
                e.not_before_ms = 0;
                e.updated_at_ms = now_ms;
                e.base_version = theirs.or(old_base);
            }
        }
        // Later commands on the entity were based on the outdated version too: they move to
        // the server's current one and are sent after this one, as the user queued them.
        self.rebase_later(id, &entity, old_base, theirs);
        Ok(())
    }

    /// Moves the entries queued after `id` on `entity` that were based on version `old` onto
    /// version `new` (when both are known).
    fn rebase_later(&mut self, id: u64, entity: &str, old: Option<i64>, new: Option<i64>) {
        let (Some(old), Some(new)) = (old, new) else {
            return;
        };
        for (k, l) in self.entries.range_mut(id + 1..) {
            if l.entity == entity && l.base_version == Some(old) {
                l.base_version = Some(new);
                self.changed.insert(*k);
            }
        }
    }

    /// The network came back (or the token was renewed) at `at_ms`: entries backing off from
    /// a failure before then go now, since what failed them was most likely what is back. One
    /// that failed since (a run still going at that moment got a `401` or a `503` after it)
    /// keeps its backoff.
    pub fn wake(&mut self, at_ms: u64) {
        for e in self.entries.values_mut() {
            if e.state == EntryState::Pending && e.not_before_ms > 0 && e.updated_at_ms <= at_ms {
                e.not_before_ms = 0;
                self.changed.insert(e.id);
            }
        }
    }

    /// Sends a rejected entry again (the user fixed what the server objected to elsewhere).
    pub fn retry(&mut self, id: u64, now_ms: u64) -> Result<(), OutboxError> {
        let e = self.entry_mut(id, "retry", &[EntryState::Rejected])?;
        e.state = EntryState::Pending;
        e.attempts = 0;
        e.not_before_ms = 0;
        e.updated_at_ms = now_ms;
        Ok(())
    }

    /// The user drops an entry that has not reached the server.
    pub fn discard(&mut self, id: u64) -> Result<(), OutboxError> {
        let e = self.entry_mut(
            id,
            "discard",
            &[
                EntryState::Pending,
                EntryState::Conflict,
                EntryState::Rejected,
            ],
        )?;
        e.state = EntryState::Done;
        Ok(())
    }

    /// The remembered version steps, with the outbox they belong to (see [`Outbox::applied`]).
    pub fn with_applied(mut self, applied: Applied) -> Outbox {
        self.applied = applied;
        self
    }

    /// The version steps to write back, if any changed since the last call.
    pub fn take_applied(&mut self) -> Option<Applied> {
        std::mem::take(&mut self.applied_changed).then(|| self.applied.clone())
    }

    /// The queries, with their subject, that commands the server applied since the last call
    /// change (their overlays name them).
    pub fn take_confirmed_queries(&mut self) -> VecSet<(String, String)> {
        std::mem::take(&mut self.confirmed_queries)
    }

    /// What to write to the store since the last call; done entries are deleted from it.
    pub fn take_changed(&mut self) -> Vec<Change> {
        let ids = std::mem::take(&mut self.changed);
        let mut out = Vec::new();
        for id in ids {
            match self.entries.get(&id) {
                Some(e) if e.state == EntryState::Done => {
                    self.entries.remove(&id);
                    out.push(Change::Delete(id));
                }
                Some(e) => out.push(Change::Put(Box::new(e.clone()))),
                None => out.push(Change::Delete(id)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
