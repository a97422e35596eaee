//! The shell's services as an app calls them: lifecycle ABI 2 hands every app `props.host`, a
//! JS object whose functions run in the shell, once for all apps. Payloads are small JSON
//! values; answers and errors come back as promises. See `tessera_contract::host` for the
//! shapes.

use crate::js::{self, FromJs, ToJs};
use tessera_contract::bff::{BffError, Freshness};
use tessera_contract::host::{ErrorKind, Queued, HOST_FIELD};
use tessera_contract::sync::Problem;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// The shell's services for one app instance.
#[derive(Clone)]
pub struct Host {
    props: JsValue,
}

fn get(target: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// A value the host rejected with, as the contract's error: `kind`, `message` and, for
/// `problem`, the server's problem document.
fn host_error(e: JsValue) -> BffError {
    let message = get(&e, "message")
        .as_string()
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "the shell failed without saying why".into());
    let problem = js::field::<Option<Problem>>(&e, "problem").ok().flatten();
    ErrorKind::parse(get(&e, "kind").as_string().as_deref()).error(message, problem)
}

impl Host {
    /// The host of the app these props were handed to.
    pub fn new(props: &JsValue) -> Host {
        Host {
            props: props.clone(),
        }
    }

    /// Calls `target.method(...args)`, where `target` is `props.host` (or, for parcels, which
    /// ABI 1 already had, the props themselves), awaiting what it returns.
    async fn call(&self, method: &str, args: &[&JsValue]) -> Result<JsValue, JsValue> {
        let (this, f) = [get(&self.props, HOST_FIELD), self.props.clone()]
            .into_iter()
            .find_map(|target| {
                let f = get(&target, method).dyn_into::<js_sys::Function>().ok()?;
                Some((target, f))
            })
            .ok_or_else(|| JsValue::from_str(&format!("the shell offers no {method}")))?;
        let array: js_sys::Array = args.iter().copied().collect();
        let ret = f.apply(&this, &array)?;
        JsFuture::from(js_sys::Promise::resolve(&ret)).await
    }

    /// Reads `path` (a site path, `/api/restaurants?limit=20`) through the shell: its cache and
    /// service worker, with the user's waiting commands on top (read-your-writes) and how old
    /// the answer is.
    pub async fn query<T: FromJs>(&self, path: &str) -> Result<(T, Freshness), BffError> {
        let answer = self
            .call("query", &[&JsValue::from_str(path)])
            .await
            .map_err(host_error)?;
        let typed = T::from_js(&get(&answer, "data"))
            .map_err(|e| BffError::Decode(format!("{path}: {e}")))?;
        let freshness = get(&answer, "freshness");
        let freshness = Freshness {
            as_of_ms: get(&freshness, "asOfMs").as_f64().map(|ms| ms as u64),
            from_cache: get(&freshness, "fromCache").as_bool().unwrap_or(false),
        };
        Ok((typed, freshness))
    }

    /// Queues a command in the shell's outbox; returns once it is saved on this device. It is
    /// sent as soon as the server can be reached, and its result (applied, conflict,
    /// rejection) is the outbox's to report.
    /// `request` has the JS form of `tessera_contract::host::CommandRequest`.
    async fn command(&self, request: &JsValue) -> Result<Queued, BffError> {
        let queued = self.call("command", &[request]).await.map_err(host_error)?;
        Queued::from_js(&queued)
            .map_err(|e| BffError::Decode(format!("the shell's answer to a command: {e}")))
    }

    /// A client for one BFF base path (an app's `props.bff`).
    pub fn bff(&self, base: &str) -> Bff {
        Bff {
            host: self.clone(),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// Mounts parcel `app` into `element` with `data` as its props' data.
    pub async fn mount_parcel(
        &self,
        app: &str,
        element: &web_sys::HtmlElement,
        data: &JsValue,
    ) -> Result<(), JsValue> {
        self.call("mountParcel", &[&JsValue::from_str(app), element, data])
            .await
            .map(|_| ())
    }

    /// Unmounts the parcel in `element`; errors are the shell's to report.
    pub fn unmount_parcel(&self, app: &str, element: &web_sys::HtmlElement) {
        let (host, app, element) = (self.clone(), app.to_string(), element.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let _ = host
                .call("unmountParcel", &[&JsValue::from_str(&app), &element])
                .await;
        });
    }
}

/// One BFF base path (`/api/cart`) seen through the host: `path`s are relative to it.
#[derive(Clone)]
pub struct Bff {
    host: Host,
    base: String,
}

/// One change a waiting command makes to one query's answer (read-your-writes): the JS form of
/// `tessera_contract::overlay::Overlay`, with `query` relative to the [`Bff`]'s base.
#[derive(Clone, Debug)]
pub struct Overlay {
    pub query: String,
    pub edit: Edit,
}

/// Edits address the answer's JSON by JSON Pointer (RFC 6901), `""` being the whole answer;
/// see `tessera_contract::overlay::Edit`.
#[derive(Clone, Debug)]
pub enum Edit {
    /// Replaces the element of the array at `list` whose `key` field equals `value`'s, or
    /// appends `value` when there is none.
    Upsert {
        list: String,
        key: String,
        value: JsValue,
    },
    /// Removes the elements of the array at `list` whose `key` field is `id`.
    Remove {
        list: String,
        key: String,
        id: String,
    },
    /// Sets the field at `pointer` (its parent must exist and be an object).
    Set { pointer: String, value: JsValue },
}

impl ToJs for Edit {
    fn to_js(&self) -> JsValue {
        let o = js::object();
        let put = |k: &str, v: JsValue| js::set(&o, k, v);
        match self {
            Edit::Upsert { list, key, value } => {
                put("op", "upsert".to_js());
                put("list", list.to_js());
                put("key", key.to_js());
                put("value", value.clone());
            }
            Edit::Remove { list, key, id } => {
                put("op", "remove".to_js());
                put("list", list.to_js());
                put("key", key.to_js());
                put("id", id.to_js());
            }
            Edit::Set { pointer, value } => {
                put("op", "set".to_js());
                put("pointer", pointer.to_js());
                put("value", value.clone());
            }
        }
        o.into()
    }
}

/// A command for [`Bff::command`]: `PUT <base><path>` of `body` on `entity`, based on
/// `base_version` (`If-Match`), shown in query answers as `overlays` (their queries relative
/// to the base, like `path`) until the server confirms it.
pub struct CommandSpec<'a, B: ?Sized> {
    pub path: &'a str,
    pub body: &'a B,
    pub entity: &'a str,
    pub base_version: Option<i64>,
    /// What the user did, in their words, for the outbox view.
    pub label: String,
    pub overlays: Vec<Overlay>,
}

impl Bff {
    pub async fn get<T: FromJs>(&self, path: &str) -> Result<T, BffError> {
        Ok(self.query(path).await?.0)
    }

    /// A query with where its answer came from and how old it is, for views that show it.
    pub async fn query<T: FromJs>(&self, path: &str) -> Result<(T, Freshness), BffError> {
        self.host.query(&format!("{}{path}", self.base)).await
    }

    /// Queues a command in the shell's outbox; returns once it is saved on this device. It is
    /// sent as soon as the server can be reached, and its result (applied, conflict,
    /// rejection) is the outbox's to report.
    pub async fn command<B: ToJs + ?Sized>(
        &self,
        spec: CommandSpec<'_, B>,
    ) -> Result<Queued, BffError> {
        let overlays = js_sys::Array::new();
        for o in &spec.overlays {
            let overlay = js::object();
            js::set(
                &overlay,
                "query",
                format!("{}{}", self.base, o.query).to_js(),
            );
            js::set(&overlay, "edit", o.edit.to_js());
            overlays.push(&overlay);
        }
        let request = js::object();
        js::set(
            &request,
            "path",
            format!("{}{}", self.base, spec.path).to_js(),
        );
        js::set(&request, "body", spec.body.to_js());
        js::set(&request, "entity", spec.entity.to_js());
        js::set(&request, "baseVersion", spec.base_version.to_js());
        js::set(&request, "label", spec.label.to_js());
        js::set(&request, "overlays", overlays.into());
        self.host.command(&request.into()).await
    }
}
