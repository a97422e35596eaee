//! The lifecycle exports of a Leptos micro-app, so every team writes only its views.

use tessera_contract::Props;
use wasm_bindgen::JsValue;

/// Parses the props object the shell passes to a lifecycle function. It reads the JS object
/// itself (no JSON text in between: an app then carries no JSON parser).
pub fn parse_props(props: &JsValue) -> Result<Props, JsValue> {
    serde_wasm_bindgen::from_value(props.clone())
        .map_err(|e| JsValue::from_str(&format!("invalid props: {e}")))
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
