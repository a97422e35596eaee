//! The lifecycle exports of a Leptos micro-app, so every team writes only its views.

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
    /// Parameters of the matched route (`:id` → `id`).
    pub params: tessera_contract::routing::Params,
    /// The navigation entries of every mount point, in menu order.
    pub navigation: Vec<NavLink>,
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
    params: "params" default,
    navigation: "navigation" default,
    data: "data",
    bff: "bff",
});

/// Reads the props object the shell passes to a lifecycle function; the error names the field.
pub fn parse_props(props: &JsValue) -> Result<Props, JsValue> {
    Props::from_js(props).map_err(|e| JsValue::from_str(&format!("invalid props: {e}")))
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
            let signal = ::leptos::prelude::ArcRwSignal::new(parsed);
            let host = $crate::Host::new(&props);
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
            let parsed = $crate::parse_props(&props)?;
            __TESSERA_INSTANCES.with(|i| {
                if let Some((_, _, signal)) = i.borrow().iter().find(|(el, _, _)| el == &element) {
                    signal.set(parsed);
                }
            });
            Ok(())
        }
    };
}

/// Makes [talc](https://crates.io/crates/talc) the app's global allocator instead of std's
/// dlmalloc: about 2 KB gzip less for an app whose views have no event handlers (`on:`). An
/// app with handlers links dlmalloc anyway (tachys keeps each handler in a `SendWrapper`, which
/// asks `std::thread::current`, whose thread handle std allocates with dlmalloc), so there
/// talc only adds its 0.5 KB; leave it out. Likewise, such an app should hold its listeners with
/// [`keep`](crate::keep) rather than Leptos's `StoredValue::new_local` (another `SendWrapper`).
/// An app's wasm is single-threaded; talc frees and merges memory as dlmalloc does.
#[macro_export]
macro_rules! small_allocator {
    () => {
        #[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
        #[global_allocator]
        static __TESSERA_ALLOCATOR: $crate::__private::talc::wasm::WasmDynamicTalc =
            $crate::__private::talc::wasm::new_wasm_dynamic_allocator();
    };
}
