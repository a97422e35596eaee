//! Thin browser glue every micro-app and the shell share: the event bus on `window`, location
//! changes, parcels, and parsing the props the shell hands to lifecycle functions.

use crate::bff::BffError;
use crate::bus::{event_name, Envelope};
use crate::lifecycle::Props;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// How many envelopes per topic the page keeps, so an app loaded later can catch up.
const REPLAY_LIMIT: u32 = 200;

#[wasm_bindgen(inline_js = r#"
export function bus_log(topic) {
  const all = (globalThis.__tesseraBus ||= {});
  return (all[topic] ||= []);
}
"#)]
extern "C" {
    fn bus_log(topic: &str) -> js_sys::Array;
}

fn window() -> web_sys::Window {
    web_sys::window().expect("no window: this code runs in a page")
}

/// A fresh unique id (time + randomness is enough to tell envelopes apart on one page).
pub fn new_id() -> String {
    let rand = (js_sys::Math::random() * 1e16) as u64;
    format!("{:x}-{rand:x}", js_sys::Date::now() as u64)
}

/// Publishes an envelope on `tessera:<topic>` and records it for late subscribers.
pub fn publish(topic: &str, kind: &str, source: &str, data: serde_json::Value) -> Envelope {
    let env = Envelope::new(kind, new_id(), js_sys::Date::now() as u64, source, data);
    let text = serde_json::to_string(&env).unwrap_or_default();
    let log = bus_log(topic);
    log.push(&JsValue::from_str(&text));
    if log.length() > REPLAY_LIMIT {
        log.shift();
    }
    let init = web_sys::CustomEventInit::new();
    init.set_detail(&JsValue::from_str(&text));
    if let Ok(event) = web_sys::CustomEvent::new_with_event_init_dict(&event_name(topic), &init) {
        let _ = window().dispatch_event(&event);
    }
    env
}

/// A listener on `window`; removed when dropped.
pub struct Listener {
    name: String,
    callback: Closure<dyn FnMut(web_sys::Event)>,
}

impl Listener {
    pub fn new(name: &str, f: impl FnMut(web_sys::Event) + 'static) -> Listener {
        let callback = Closure::<dyn FnMut(web_sys::Event)>::new(f);
        let _ = window().add_event_listener_with_callback(name, callback.as_ref().unchecked_ref());
        Listener {
            name: name.to_string(),
            callback,
        }
    }

    /// Keeps the listener for the life of the page.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = window().remove_event_listener_with_callback(
            &self.name,
            self.callback.as_ref().unchecked_ref(),
        );
    }
}

/// Subscribes to a topic. With `replay`, envelopes published before the call are delivered
/// first, oldest first; malformed envelopes and ones from a future layout are skipped.
pub fn subscribe(topic: &str, replay: bool, mut f: impl FnMut(Envelope) + 'static) -> Listener {
    if replay {
        for text in bus_log(topic).iter() {
            if let Some(env) = text.as_string().as_deref().and_then(Envelope::parse) {
                f(env);
            }
        }
    }
    Listener::new(&event_name(topic), move |event| {
        let detail = event
            .dyn_ref::<web_sys::CustomEvent>()
            .and_then(|e| e.detail().as_string());
        if let Some(env) = detail.as_deref().and_then(Envelope::parse) {
            f(env);
        }
    })
}

/// Calls `f` with every live domain event the shell relays (topic [`topics::LIVE`]).
///
/// [`topics::LIVE`]: crate::bus::topics::LIVE
pub fn on_live(mut f: impl FnMut(crate::sync::DomainEvent) + 'static) -> Listener {
    subscribe(crate::bus::topics::LIVE, false, move |env| {
        if let Some(event) = env.data_as() {
            f(event);
        }
    })
}

/// The current path (`/restaurants/7`).
pub fn current_path() -> String {
    window()
        .location()
        .pathname()
        .unwrap_or_else(|_| "/".into())
}

/// Calls `f` with the new path whenever the URL changes (the shell dispatches `popstate`
/// after every navigation it makes, so pushes are seen as well as back/forward).
pub fn on_location_change(mut f: impl FnMut(String) + 'static) -> Listener {
    Listener::new("popstate", move |_| f(current_path()))
}

/// Navigates within the page: pushes the URL and lets the shell and every app know.
pub fn navigate(path: &str) {
    let w = window();
    if let Ok(history) = w.history() {
        let _ = history.push_state_with_url(&JsValue::NULL, "", Some(path));
    }
    if let Ok(event) = web_sys::PopStateEvent::new("popstate") {
        let _ = w.dispatch_event(&event);
    }
}

/// Parses the props object the shell passes to a lifecycle function.
pub fn parse_props(props: &JsValue) -> Result<Props, JsValue> {
    let text = js_sys::JSON::stringify(props)?
        .as_string()
        .ok_or_else(|| JsValue::from_str("props are not JSON-serialisable"))?;
    serde_json::from_str(&text).map_err(|e| JsValue::from_str(&format!("invalid props: {e}")))
}

/// What the shell offers apps besides data: mounting parcels of other apps.
#[derive(Clone)]
pub struct Host {
    props: JsValue,
}

impl Host {
    pub fn new(props: &JsValue) -> Host {
        Host {
            props: props.clone(),
        }
    }

    fn call(&self, method: &str, args: &[&JsValue]) -> Result<js_sys::Promise, JsValue> {
        let f: js_sys::Function = js_sys::Reflect::get(&self.props, &JsValue::from_str(method))?
            .dyn_into()
            .map_err(|_| JsValue::from_str(&format!("the shell offers no {method}")))?;
        let array: js_sys::Array = args.iter().copied().collect();
        let ret = f.apply(&JsValue::NULL, &array)?;
        Ok(js_sys::Promise::resolve(&ret))
    }

    /// Mounts parcel `app` into `element` with `data` as its props' data.
    pub async fn mount_parcel(
        &self,
        app: &str,
        element: &web_sys::HtmlElement,
        data: &serde_json::Value,
    ) -> Result<(), JsValue> {
        let data = js_sys::JSON::parse(&data.to_string())?;
        let promise = self.call("mountParcel", &[&JsValue::from_str(app), element, &data])?;
        wasm_bindgen_futures::JsFuture::from(promise)
            .await
            .map(|_| ())
    }

    /// Unmounts the parcel in `element`; errors are the shell's to report.
    pub fn unmount_parcel(&self, app: &str, element: &web_sys::HtmlElement) {
        let _ = self.call("unmountParcel", &[&JsValue::from_str(app), element]);
    }
}

/// Exports the lifecycle ABI (`abi`, `bootstrap`, `mount`, `unmount`, `update`) for a Leptos
/// micro-app, so every team writes only its views.
///
/// `bootstrap` is `fn(&Props, Host)`, run once per page; `view` is
/// `fn(ArcRwSignal<Props>, Host) -> impl IntoView`, run once per mounted instance (an app used as
/// a parcel has several). `update` sets the instance's props signal. The using crate must
/// depend on `leptos`, `wasm-bindgen` and `web-sys` (feature `HtmlElement`).
#[macro_export]
macro_rules! micro_app {
    (bootstrap: $bootstrap:expr, view: $view:expr $(,)?) => {
        type __TesseraInstance = (
            ::web_sys::HtmlElement,
            ::std::boxed::Box<dyn ::std::any::Any>,
            ::leptos::prelude::ArcRwSignal<$crate::Props>,
        );

        ::std::thread_local! {
            static __TESSERA_INSTANCES: ::std::cell::RefCell<::std::vec::Vec<__TesseraInstance>> =
                const { ::std::cell::RefCell::new(::std::vec::Vec::new()) };
        }

        /// The lifecycle ABI this app was built against.
        #[::wasm_bindgen::prelude::wasm_bindgen]
        pub fn abi() -> u32 {
            $crate::ABI_VERSION
        }

        #[::wasm_bindgen::prelude::wasm_bindgen]
        pub fn bootstrap(props: ::wasm_bindgen::JsValue) -> Result<(), ::wasm_bindgen::JsValue> {
            let parsed = $crate::browser::parse_props(&props)?;
            ($bootstrap)(&parsed, $crate::browser::Host::new(&props));
            Ok(())
        }

        #[::wasm_bindgen::prelude::wasm_bindgen]
        pub fn mount(
            element: ::web_sys::HtmlElement,
            props: ::wasm_bindgen::JsValue,
        ) -> Result<(), ::wasm_bindgen::JsValue> {
            let parsed = $crate::browser::parse_props(&props)?;
            let signal = ::leptos::prelude::ArcRwSignal::new(parsed);
            let host = $crate::browser::Host::new(&props);
            let for_view = signal.clone();
            let handle =
                ::leptos::mount::mount_to(element.clone(), move || ($view)(for_view, host));
            __TESSERA_INSTANCES.with(|i| {
                i.borrow_mut()
                    .push((element, ::std::boxed::Box::new(handle), signal))
            });
            Ok(())
        }

        #[::wasm_bindgen::prelude::wasm_bindgen]
        pub fn unmount(element: ::web_sys::HtmlElement) -> Result<(), ::wasm_bindgen::JsValue> {
            // Dropping the handle removes the view's DOM and runs its cleanups.
            let removed: ::std::vec::Vec<__TesseraInstance> = __TESSERA_INSTANCES.with(|i| {
                let mut all = i.borrow_mut();
                let (gone, kept) = ::std::mem::take(&mut *all)
                    .into_iter()
                    .partition(|(el, _, _)| el == &element);
                *all = kept;
                gone
            });
            drop(removed);
            Ok(())
        }

        #[::wasm_bindgen::prelude::wasm_bindgen]
        pub fn update(
            element: ::web_sys::HtmlElement,
            props: ::wasm_bindgen::JsValue,
        ) -> Result<(), ::wasm_bindgen::JsValue> {
            use ::leptos::prelude::Set;
            let parsed = $crate::browser::parse_props(&props)?;
            __TESSERA_INSTANCES.with(|i| {
                if let Some((_, _, signal)) = i.borrow().iter().find(|(el, _, _)| el == &element) {
                    signal.set(parsed);
                }
            });
            Ok(())
        }
    };
}

/// Where the shell keeps the signed-in user's current token for the page: `window.__tessera`
/// `.token`. Renewal replaces it while apps stay mounted with the props they got.
const TOKEN_FIELD: &str = "token";

/// Called by the shell whenever the session changes (`None`: signed out).
pub fn set_current_token(token: Option<&str>) {
    let global: JsValue = js_sys::global().into();
    let shell = js_sys::Reflect::get(&global, &"__tessera".into())
        .ok()
        .filter(JsValue::is_object)
        .unwrap_or_else(|| {
            let object: JsValue = js_sys::Object::new().into();
            let _ = js_sys::Reflect::set(&global, &"__tessera".into(), &object);
            object
        });
    let value = token.map(JsValue::from).unwrap_or(JsValue::NULL);
    let _ = js_sys::Reflect::set(&shell, &TOKEN_FIELD.into(), &value);
}

fn current_token() -> Option<String> {
    let shell = js_sys::Reflect::get(&js_sys::global(), &"__tessera".into()).ok()?;
    js_sys::Reflect::get(&shell, &TOKEN_FIELD.into())
        .ok()?
        .as_string()
}

/// Calls an app's BFF with the session's bearer token on every request. Queries come back
/// with the user's waiting commands on top; commands go through the outbox.
#[derive(Clone, Debug)]
pub struct Bff {
    base: String,
    token: Option<String>,
    /// Whose commands these are (from the token), so only the user's own waiting commands
    /// show in their answers.
    subject: String,
}

/// A fresh `Idempotency-Key` (a UUID). Reuse one key for every retry of the same intent.
pub fn new_idempotency_key() -> String {
    window()
        .crypto()
        .map(|c| c.random_uuid())
        .unwrap_or_else(|_| new_id())
}

/// A command for [`Bff::command`]: `PUT <base><path>` of `body` on `entity`, based on
/// `base_version` (`If-Match`), shown in query answers as `overlays` (their queries relative
/// to the base, like `path`) until the server confirms it.
pub struct CommandSpec<'a, B> {
    pub path: &'a str,
    pub body: &'a B,
    pub entity: &'a str,
    pub base_version: Option<i64>,
    /// What the user did, in their words, for the outbox view.
    pub label: String,
    pub overlays: Vec<crate::overlay::Overlay>,
}

impl Bff {
    /// `base` is the app's BFF path (`/api/cart`); requests go to `<base><path>`.
    pub fn new(base: &str, session: &crate::Session) -> Bff {
        let subject = session
            .id_token
            .as_deref()
            .and_then(crate::read_through::token_subject)
            .unwrap_or_default();
        Bff {
            base: base.trim_end_matches('/').to_string(),
            token: session.id_token.clone(),
            subject,
        }
    }

    /// The token to send: the shell's current one for the same user (it renews tokens while
    /// apps stay mounted), else the one the app was mounted with.
    fn token(&self) -> Option<String> {
        current_token()
            .filter(|t| crate::read_through::token_subject(t).as_deref() == Some(&self.subject))
            .or_else(|| self.token.clone())
    }

    pub async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, BffError> {
        Ok(self.query(path).await?.0)
    }

    /// A query with where its answer came from and how old it is, for views that show it.
    /// Every query's freshness is also announced on the bus (`data.loaded`) for the status bar.
    pub async fn query<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<(T, crate::bff::Freshness), BffError> {
        let url = format!("{}{path}", self.base);
        let (mut value, freshness) = self.send("GET", &url).await?;
        crate::outbox_client::overlay(&self.subject, &url, &mut value).await;
        let typed =
            serde_json::from_value(value).map_err(|e| BffError::Decode(format!("{url}: {e}")))?;
        let loaded = crate::bff::DataLoaded {
            path: url,
            freshness,
        };
        if let Ok(data) = serde_json::to_value(&loaded) {
            publish(
                crate::bff::DATA_TOPIC,
                crate::bff::DATA_LOADED,
                &self.base,
                data,
            );
        }
        Ok((typed, freshness))
    }

    /// Queues a command in the outbox and returns once it is saved on this device; it is
    /// sent as soon as the server can be reached, and its result (applied, conflict,
    /// rejection) is the outbox's to report.
    pub async fn command<B: serde::Serialize>(
        &self,
        spec: CommandSpec<'_, B>,
    ) -> Result<crate::outbox::Entry, BffError> {
        let body = serde_json::to_string(spec.body).map_err(|e| BffError::Decode(e.to_string()))?;
        let overlays = spec
            .overlays
            .into_iter()
            .map(|mut o| {
                o.query = format!("{}{}", self.base, o.query);
                o
            })
            .collect();
        let new = crate::outbox::NewEntry {
            idempotency_key: new_idempotency_key(),
            entity: format!("{}@{}", spec.entity, self.subject),
            subject: self.subject.clone(),
            base_version: spec.base_version,
            command: crate::outbox::Command {
                method: "PUT".into(),
                path: format!("{}{}", self.base, spec.path),
                body: Some(body),
            },
            label: spec.label,
            overlays,
        };
        crate::outbox_client::queue(new)
            .await
            .map_err(|e| BffError::Storage(e.to_string()))
    }

    async fn send(
        &self,
        method: &str,
        url: &str,
    ) -> Result<(serde_json::Value, crate::bff::Freshness), BffError> {
        let network =
            |e: JsValue| BffError::Network(format!("{url}: {}", crate::js_value::error_text(&e)));
        let headers = web_sys::Headers::new().map_err(network)?;
        headers.set("Accept", "application/json").map_err(network)?;
        if let Some(token) = self.token() {
            headers
                .set("Authorization", &format!("Bearer {token}"))
                .map_err(network)?;
        }
        let init = web_sys::RequestInit::new();
        init.set_method(method);
        init.set_headers(&headers);
        let response: web_sys::Response =
            wasm_bindgen_futures::JsFuture::from(window().fetch_with_str_and_init(url, &init))
                .await
                .map_err(network)?
                .unchecked_into();
        let header = |name: &str| response.headers().get(name).ok().flatten();
        let content_type = header("content-type").unwrap_or_default();
        let freshness = crate::bff::Freshness::from_headers(
            header(crate::read_through::AS_OF_HEADER).as_deref(),
            header(crate::read_through::SOURCE_HEADER).as_deref(),
        );
        let text = wasm_bindgen_futures::JsFuture::from(response.text().map_err(network)?)
            .await
            .map_err(network)?
            .as_string()
            .unwrap_or_default();
        let value = crate::bff::decode(url, response.status(), &content_type, &text)?;
        Ok((value, freshness))
    }
}

/// A time of day in the user's locale ("14:03"), for as-of notices.
pub fn clock(unix_ms: u64) -> String {
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"hour".into(), &"2-digit".into());
    let _ = js_sys::Reflect::set(&options, &"minute".into(), &"2-digit".into());
    js_sys::Date::new(&JsValue::from_f64(unix_ms as f64))
        .to_locale_time_string_with_options("default", &options)
        .into()
}

/// The notice an app shows above data from the saved copy, if it is one.
pub fn as_of_notice(freshness: &crate::bff::Freshness) -> Option<String> {
    let clock = freshness.as_of_ms.map(clock).unwrap_or_default();
    freshness.notice(&clock, js_sys::Date::now() as u64)
}
