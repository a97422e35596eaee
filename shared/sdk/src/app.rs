//! The lifecycle exports of a micro-app, so every team writes only its views.

use crate::js::FromJs;
use tessera_contract::published::NavLink;
use tessera_contract::Session;
use tessera_wire::from_js;
use wasm_bindgen::JsValue;

/// What the shell passes to `bootstrap`, `mount` and `update`, as an app reads it: the
/// contract's [`tessera_contract::Props`] with `data` left a JS value, which the app reads
/// into its own type with [`FromJs`] (a parcel's input, say). Fields the app does not know are
/// ignored, so the shell can add some without an ABI change.
#[derive(Clone, Debug, PartialEq)]
pub struct Props {
    /// The app's manifest name, e.g. `@tessera/cart`.
    pub name: String,
    /// The route prefix the app owns (`/cart`); empty for always-on apps and parcels.
    pub base_path: String,
    pub abi: u32,
    pub session: Session,
    /// Parameters of the matched route (`:id` → `id`), read on demand.
    pub params: Params,
    /// The navigation entries of every mount point, in menu order, read on demand.
    pub navigation: Navigation,
    /// App-specific data, e.g. a parcel's input; `undefined` when there is none.
    pub data: JsValue,
    /// The app's BFF base path from its manifest (`/api/cart`), so a deployment can move it.
    pub bff: Option<String>,
}

from_js!(Props {
    name: "name",
    base_path: "basePath",
    abi: "abi",
    session: "session",
    params: "params",
    navigation: "navigation",
    data: "data",
    bff: "bff",
});

/// The matched route's parameters as the shell passed them (`{"id": "7"}`). Read one at a time
/// ([`Params::get`]): an app that uses none links no map reader (about 0.8 KB gzip).
#[derive(Clone, Debug, PartialEq)]
pub struct Params(JsValue);

impl FromJs for Params {
    fn from_js(value: &JsValue) -> Result<Self, tessera_wire::DecodeError> {
        Ok(Params(value.clone()))
    }

    fn missing() -> Result<Self, tessera_wire::DecodeError> {
        Ok(Params(JsValue::UNDEFINED))
    }
}

impl Params {
    /// The value of `:name`; `None` when the route has no such parameter.
    pub fn get(&self, name: &str) -> Option<String> {
        tessera_wire::field::<Option<String>>(&self.0, name)
            .ok()
            .flatten()
    }

    /// All of them; the error names the parameter the shell got wrong.
    pub fn all(&self) -> Result<tessera_contract::routing::Params, tessera_wire::DecodeError> {
        if self.0.is_undefined() || self.0.is_null() {
            return Ok(Default::default());
        }
        FromJs::from_js(&self.0).map_err(|e| e.under("params"))
    }
}

/// The navigation entries as the shell passed them. Only a menu reads them, so their reader is
/// linked by the app that calls [`Navigation::links`] and by no other (about 1.4 KB gzip).
#[derive(Clone, Debug, PartialEq)]
pub struct Navigation(JsValue);

impl FromJs for Navigation {
    fn from_js(value: &JsValue) -> Result<Self, tessera_wire::DecodeError> {
        Ok(Navigation(value.clone()))
    }

    fn missing() -> Result<Self, tessera_wire::DecodeError> {
        Ok(Navigation(JsValue::UNDEFINED))
    }
}

impl Navigation {
    /// The entries, in menu order; none when the shell passed none. The error names the
    /// entry and field the shell got wrong.
    pub fn links(&self) -> Result<Vec<NavLink>, tessera_wire::DecodeError> {
        if self.0.is_undefined() || self.0.is_null() {
            return Ok(Vec::new());
        }
        Vec::from_js(&self.0).map_err(|e| e.under("navigation"))
    }
}

/// Reads the props object the shell passes to a lifecycle function; the error names the field.
pub fn parse_props(props: &JsValue) -> Result<Props, JsValue> {
    Props::from_js(props).map_err(|e| JsValue::from_str(&format!("invalid props: {e}")))
}

/// Exports the lifecycle ABI (`abi`, `bootstrap`, `mount`, `unmount`, `update`), so every team
/// writes only its views. Two forms:
///
/// - `micro_app!(bootstrap: b, mount: m)`: a view without a framework ([`crate::dom`]). `m` is
///   `fn(&HtmlElement, Props, Host) -> impl View`, run once per mounted instance (an app used
///   as a parcel has several); it fills the element, and the returned [`View`] hears of new
///   props. Unmounting drops the `View` and empties the element. The using crate depends on
///   `wasm-bindgen` and `web-sys` (feature `HtmlElement`).
/// - `micro_app!(bootstrap: b, view: v)`: a Leptos view. `v` is
///   `fn(ArcRwSignal<Props>, Host) -> impl IntoView`; `update` sets the props signal.
///   The using crate also depends on `leptos`.
///
/// `bootstrap` is `fn(&Props, Host)`, run once per page.
///
/// [`View`]: crate::dom::View
#[macro_export]
macro_rules! micro_app {
    (bootstrap: $bootstrap:expr, mount: $mount:expr $(,)?) => {
        $crate::__lifecycle!(
            $bootstrap,
            |element: &::web_sys::HtmlElement, props: $crate::Props, host: $crate::Host| {
                $crate::dom::Emptied::new(element, ($mount)(element, props, host))
            }
        );
    };
    (bootstrap: $bootstrap:expr, view: $view:expr $(,)?) => {
        struct __TesseraLeptos(
            ::std::boxed::Box<dyn ::std::any::Any>,
            ::leptos::prelude::ArcRwSignal<$crate::Props>,
        );

        impl $crate::dom::View for __TesseraLeptos {
            fn update(&mut self, props: $crate::Props) {
                ::leptos::prelude::Set::set(&self.1, props);
            }
        }

        $crate::__lifecycle!(
            $bootstrap,
            |element: &::web_sys::HtmlElement, props: $crate::Props, host: $crate::Host| {
                let signal = ::leptos::prelude::ArcRwSignal::new(props);
                let for_view = signal.clone();
                // Dropping the handle removes the view's DOM and runs its cleanups.
                let handle =
                    ::leptos::mount::mount_to(element.clone(), move || ($view)(for_view, host));
                __TesseraLeptos(::std::boxed::Box::new(handle), signal)
            }
        );
    };
}

/// The lifecycle exports around a `mount` closure returning a [`crate::dom::View`]; used by
/// [`micro_app!`], not part of the API.
#[doc(hidden)]
#[macro_export]
macro_rules! __lifecycle {
    ($bootstrap:expr, $mount:expr) => {
        ::std::thread_local! {
            static __TESSERA_INSTANCES: $crate::dom::Instances = const { $crate::dom::Instances::new() };
        }

        /// The lifecycle ABI this app was built against.
        #[::wasm_bindgen::prelude::wasm_bindgen]
        pub fn abi() -> u32 {
            $crate::ABI_VERSION
        }

        #[::wasm_bindgen::prelude::wasm_bindgen]
        pub fn bootstrap(props: ::wasm_bindgen::JsValue) -> Result<(), ::wasm_bindgen::JsValue> {
            let parsed = $crate::parse_props(&props)?;
            ($bootstrap)(&parsed, $crate::Host::new(&props));
            Ok(())
        }

        #[::wasm_bindgen::prelude::wasm_bindgen]
        pub fn mount(
            element: ::web_sys::HtmlElement,
            props: ::wasm_bindgen::JsValue,
        ) -> Result<(), ::wasm_bindgen::JsValue> {
            let parsed = $crate::parse_props(&props)?;
            let view = ($mount)(&element, parsed, $crate::Host::new(&props));
            __TESSERA_INSTANCES.with(|i| i.add(element, ::std::boxed::Box::new(view)));
            Ok(())
        }

        #[::wasm_bindgen::prelude::wasm_bindgen]
        pub fn unmount(element: ::web_sys::HtmlElement) -> Result<(), ::wasm_bindgen::JsValue> {
            __TESSERA_INSTANCES.with(|i| i.remove(&element));
            Ok(())
        }

        #[::wasm_bindgen::prelude::wasm_bindgen]
        pub fn update(
            element: ::web_sys::HtmlElement,
            props: ::wasm_bindgen::JsValue,
        ) -> Result<(), ::wasm_bindgen::JsValue> {
            let parsed = $crate::parse_props(&props)?;
            __TESSERA_INSTANCES.with(|i| i.update(&element, parsed));
            Ok(())
        }
    };
}

/// Makes [talc](https://crates.io/crates/talc) the app's global allocator instead of std's
/// dlmalloc: about 2 KB gzip less. For every app drawn with [`crate::dom`]. A Leptos view with
/// event handlers (`on:`) links dlmalloc anyway (tachys keeps each handler in a `SendWrapper`,
/// which asks `std::thread::current`, whose thread handle std allocates with dlmalloc), so
/// there talc only adds its 0.5 KB; leave it out. Likewise, a Leptos view should hold its
/// listeners with [`keep`](crate::keep) rather than `StoredValue::new_local` (another
/// `SendWrapper`). An app's wasm is single-threaded; talc frees and merges memory as dlmalloc
/// does.
#[macro_export]
macro_rules! small_allocator {
    () => {
        #[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
        #[global_allocator]
        static __TESSERA_ALLOCATOR: $crate::__private::talc::wasm::WasmDynamicTalc =
            $crate::__private::talc::wasm::new_wasm_dynamic_allocator();
    };
}
