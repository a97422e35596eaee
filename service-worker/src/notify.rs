//! Push notifications: the BFF's news of the user's orders (the push message's payload, a
//! `tessera_contract::push::Notification` as JSON) shown as a system notification, and a click
//! on one leading to its page: a window of the site already showing it is focused, otherwise a
//! new one opens. The decisions are `tessera_contract::push::{click_path, window_for}`.

use crate::scope;
use tessera_contract::push::{click_path, window_for, Notification, SHOW_MESSAGE};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

fn err(e: JsValue) -> String {
    scope::message(&e)
}

/// `push`: shows the message. A message that is not a notification of ours is still shown
/// (browsers penalise a push that shows nothing), as a plain "Tessera" notice.
pub async fn show(event: &web_sys::PushEvent) -> Result<JsValue, String> {
    let text = event.data().map(|d| d.text()).unwrap_or_default();
    let news: Notification = serde_json::from_str(&text).unwrap_or_else(|e| {
        scope::log(&format!(
            "tessera service worker: a push that is no notification: {e}"
        ));
        Notification {
            title: "Tessera".into(),
            body: String::new(),
            url: "/".into(),
            tag: "tessera".into(),
        }
    });
    let options = web_sys::NotificationOptions::new();
    options.set_body(&news.body);
    options.set_tag(&news.tag);
    options.set_data(&JsValue::from_str(click_path(&news.url)));
    if let Some(icon) = crate::shell()
        .files
        .iter()
        .find(|f| f.ends_with("/icon-192.png"))
    {
        options.set_icon(icon);
    }
    let shown = scope::global()
        .registration()
        .show_notification_with_options(&news.title, &options)
        .map_err(err)?;
    JsFuture::from(shown).await.map_err(err)
}

/// `notificationclick`: closes the notification and shows its page, in the window that shows it
/// (asked to show it again) or a new one.
pub async fn click(event: &web_sys::NotificationEvent) -> Result<JsValue, String> {
    let notification = event.notification();
    notification.close();
    let path = notification.data().as_string().unwrap_or_default();
    let path = click_path(&path);
    let clients = scope::global().clients();
    let query = web_sys::ClientQueryOptions::new();
    query.set_type(web_sys::ClientType::Window);
    query.set_include_uncontrolled(true);
    let open: js_sys::Array = JsFuture::from(clients.match_all_with_options(&query))
        .await
        .map_err(err)?
        .unchecked_into();
    let windows: Vec<web_sys::WindowClient> = open.iter().map(JsCast::unchecked_into).collect();
    let paths: Vec<String> = windows
        .iter()
        .map(|w| {
            web_sys::Url::new(&w.url())
                .map(|u| format!("{}{}{}", u.pathname(), u.search(), u.hash()))
                .unwrap_or_default()
        })
        .collect();
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    let Some(i) = window_for(path, &refs) else {
        return JsFuture::from(clients.open_window(path)).await.map_err(err);
    };
    // A window's URL is as the browser last recorded it, which need not follow the page's own
    // navigations (`history.pushState`): the page is asked to show `path` whatever it shows.
    let show = js_sys::Object::new();
    for (key, value) in [("type", SHOW_MESSAGE), ("path", path)] {
        js_sys::Reflect::set(&show, &key.into(), &value.into()).map_err(err)?;
    }
    windows[i].post_message(&show).map_err(err)?;
    JsFuture::from(windows[i].focus().map_err(err)?)
        .await
        .map_err(err)
}
