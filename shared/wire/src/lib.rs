//! Plain JS values to Rust and back without serde: the shell hands apps JS objects (props,
//! query answers, bus envelopes), and an app reads the fields it declares with [`from_js!`]
//! and writes command bodies with [`ToJs`]; the shell and the client runtime read what the
//! browser's `JSON.parse` made the same way. Serde's derive and visitor machinery cost every
//! app about 25 KB gzip before it read a single field of its own, and the shell's start path
//! as much again; these are a few hundred bytes. The browser tests (`tests/forms.rs`) check
//! each contract type's form against its serde form, so the two cannot drift apart.
//!
//! The SDK re-exports this crate as `tessera_sdk::js`.

mod contract;
mod json;

use std::fmt;
use tessera_contract::VecMap;
use wasm_bindgen::JsCast;
pub use wasm_bindgen::JsValue;

/// Why a JS value is not the Rust type asked for, and where in it: `items[2].totalCents:
/// expected an integer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    path: String,
    expected: &'static str,
}

impl DecodeError {
    pub fn expected(what: &'static str) -> DecodeError {
        DecodeError {
            path: String::new(),
            expected: what,
        }
    }

    /// The same error one level further out: `key` is the field (or `[i]`, the index) it was
    /// found under.
    pub fn under(mut self, key: &str) -> DecodeError {
        self.path = if self.path.is_empty() {
            key.to_string()
        } else if self.path.starts_with('[') {
            format!("{key}{}", self.path)
        } else {
            format!("{key}.{}", self.path)
        };
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "expected {}", self.expected)
        } else {
            write!(f, "{}: expected {}", self.path, self.expected)
        }
    }
}

/// A Rust value read from a plain JS value (what `JSON.parse` makes).
pub trait FromJs: Sized {
    fn from_js(value: &JsValue) -> Result<Self, DecodeError>;

    /// What a missing field reads as; an error unless the type has an obvious empty value.
    fn missing() -> Result<Self, DecodeError> {
        Err(DecodeError::expected("a value"))
    }
}

/// A plain JS value made from a Rust value.
pub trait ToJs {
    fn to_js(&self) -> JsValue;
}

/// `T` from JSON text, parsed by the browser's `JSON.parse`; the error says what was wrong and
/// where (`not JSON: …`, or `apps.@tessera/cart.abi: expected an integer (u32)`).
pub fn parse<T: FromJs>(text: &str) -> Result<T, String> {
    T::from_js(&json(text)?).map_err(|e| e.to_string())
}

/// Kept out of [`parse`], which is compiled once per type it reads.
fn json(text: &str) -> Result<JsValue, String> {
    js_sys::JSON::parse(text).map_err(|e| {
        let why = e
            .dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .unwrap_or_default();
        format!("not JSON: {why}")
    })
}

fn get(object: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn absent(value: &JsValue) -> bool {
    value.is_undefined() || value.is_null()
}

/// Field `key` of `object`; a missing (or `null`) field reads as [`FromJs::missing`].
pub fn field<T: FromJs>(object: &JsValue, key: &str) -> Result<T, DecodeError> {
    if !object.is_object() {
        return Err(DecodeError::expected("an object"));
    }
    let value = get(object, key);
    if absent(&value) {
        T::missing()
    } else {
        T::from_js(&value)
    }
    .map_err(|e| e.under(key))
}

/// Field `key` of `object`, or `T::default()` when it is missing.
pub fn field_or_default<T: FromJs + Default>(
    object: &JsValue,
    key: &str,
) -> Result<T, DecodeError> {
    let value = get(object, key);
    if absent(&value) {
        Ok(T::default())
    } else {
        field(object, key)
    }
}

/// Sets `object[key]`; `undefined` values are left out, as `JSON.stringify` would.
pub fn set(object: &js_sys::Object, key: &str, value: JsValue) {
    if !value.is_undefined() {
        let _ = js_sys::Reflect::set(object, &JsValue::from_str(key), &value);
    }
}

/// A new empty object, for [`ToJs`] implementations.
pub fn object() -> js_sys::Object {
    js_sys::Object::new()
}

/// Copies the fields of `inner` (when it is an object) into `object`: serde's `flatten`.
pub fn assign(object: &js_sys::Object, inner: JsValue) {
    if let Ok(inner) = inner.dyn_into::<js_sys::Object>() {
        js_sys::Object::assign(object, &inner);
    }
}

impl FromJs for JsValue {
    fn from_js(value: &JsValue) -> Result<Self, DecodeError> {
        Ok(value.clone())
    }
    fn missing() -> Result<Self, DecodeError> {
        Ok(JsValue::UNDEFINED)
    }
}

impl ToJs for JsValue {
    fn to_js(&self) -> JsValue {
        self.clone()
    }
}

impl FromJs for String {
    fn from_js(value: &JsValue) -> Result<Self, DecodeError> {
        value.as_string().ok_or(DecodeError::expected("a string"))
    }
}

impl ToJs for String {
    fn to_js(&self) -> JsValue {
        JsValue::from_str(self)
    }
}

impl ToJs for str {
    fn to_js(&self) -> JsValue {
        JsValue::from_str(self)
    }
}

impl FromJs for bool {
    fn from_js(value: &JsValue) -> Result<Self, DecodeError> {
        value
            .as_bool()
            .ok_or(DecodeError::expected("true or false"))
    }
}

impl ToJs for bool {
    fn to_js(&self) -> JsValue {
        JsValue::from_bool(*self)
    }
}

impl FromJs for f64 {
    fn from_js(value: &JsValue) -> Result<Self, DecodeError> {
        value.as_f64().ok_or(DecodeError::expected("a number"))
    }
}

impl ToJs for f64 {
    fn to_js(&self) -> JsValue {
        JsValue::from_f64(*self)
    }
}

/// Integers travel as JS numbers: exact up to 2^53, which ids, cents and versions stay under.
macro_rules! integers {
    ($($t:ty),*) => {$(
        impl FromJs for $t {
            fn from_js(value: &JsValue) -> Result<Self, DecodeError> {
                value
                    .as_f64()
                    .filter(|n| n.fract() == 0.0 && *n >= <$t>::MIN as f64 && *n <= <$t>::MAX as f64)
                    .map(|n| n as $t)
                    .ok_or(DecodeError::expected(concat!("an integer (", stringify!($t), ")")))
            }
        }

        impl ToJs for $t {
            fn to_js(&self) -> JsValue {
                JsValue::from_f64(*self as f64)
            }
        }
    )*};
}
integers!(u8, u32, u64, usize, i32, i64);

impl<T: FromJs> FromJs for Option<T> {
    fn from_js(value: &JsValue) -> Result<Self, DecodeError> {
        if absent(value) {
            Ok(None)
        } else {
            T::from_js(value).map(Some)
        }
    }
    fn missing() -> Result<Self, DecodeError> {
        Ok(None)
    }
}

impl<T: ToJs> ToJs for Option<T> {
    fn to_js(&self) -> JsValue {
        self.as_ref().map_or(JsValue::NULL, ToJs::to_js)
    }
}

impl<T: FromJs> FromJs for Vec<T> {
    fn from_js(value: &JsValue) -> Result<Self, DecodeError> {
        let array = value
            .dyn_ref::<js_sys::Array>()
            .ok_or(DecodeError::expected("an array"))?;
        // A loop, not `collect::<Result<_, _>>()`: its adapter is monomorphised per type.
        let mut items = Vec::with_capacity(array.length() as usize);
        for (i, v) in array.iter().enumerate() {
            items.push(T::from_js(&v).map_err(|e| e.under(&format!("[{i}]")))?);
        }
        Ok(items)
    }
}

impl<T: ToJs> ToJs for Vec<T> {
    fn to_js(&self) -> JsValue {
        self.iter()
            .map(ToJs::to_js)
            .collect::<js_sys::Array>()
            .into()
    }
}

/// A pair as serde writes a tuple: a two-element array.
impl<A: FromJs, B: FromJs> FromJs for (A, B) {
    fn from_js(value: &JsValue) -> Result<Self, DecodeError> {
        let array = value
            .dyn_ref::<js_sys::Array>()
            .filter(|a| a.length() == 2)
            .ok_or(DecodeError::expected("a pair"))?;
        Ok((
            A::from_js(&array.get(0)).map_err(|e| e.under("[0]"))?,
            B::from_js(&array.get(1)).map_err(|e| e.under("[1]"))?,
        ))
    }
}

impl<T: FromJs> FromJs for VecMap<String, T> {
    fn from_js(value: &JsValue) -> Result<Self, DecodeError> {
        let object = value
            .dyn_ref::<js_sys::Object>()
            .ok_or(DecodeError::expected("an object"))?;
        let mut map = VecMap::new();
        for k in js_sys::Object::keys(object)
            .iter()
            .filter_map(|k| k.as_string())
        {
            let v = T::from_js(&get(value, &k)).map_err(|e| e.under(&k))?;
            map.insert(k, v);
        }
        Ok(map)
    }
}

impl<T: ToJs> ToJs for VecMap<String, T> {
    fn to_js(&self) -> JsValue {
        let object = js_sys::Object::new();
        for (k, v) in self {
            set(&object, k, v.to_js());
        }
        object.into()
    }
}

/// Implements [`FromJs`] (and, with `to_js` first, [`ToJs`] as well) for a struct by naming
/// each field's JS key:
///
/// ```ignore
/// tessera_sdk::from_js!(CartView { cart: flatten, pending: "tesseraPending" default });
/// ```
///
/// `"key"` reads `object.key` (a missing key is an error unless the type is an `Option`);
/// `"key" default` reads a missing key as `Default::default()`; `flatten` reads the field's
/// type from the same object (serde's `#[serde(flatten)]`). Every field must be named: the
/// struct literal the macro builds does not compile otherwise.
#[macro_export]
macro_rules! from_js {
    (to_js $ty:ident { $($field:ident : $key:tt $($default:ident)?),* $(,)? }) => {
        $crate::from_js!($ty { $($field : $key $($default)?),* });
        impl $crate::ToJs for $ty {
            fn to_js(&self) -> $crate::JsValue {
                let object = $crate::object();
                $( $crate::from_js!(@set object, self.$field, $key); )*
                object.into()
            }
        }
    };
    ($ty:ident { $($field:ident : $key:tt $($default:ident)?),* $(,)? }) => {
        impl $crate::FromJs for $ty {
            fn from_js(value: &$crate::JsValue) -> Result<Self, $crate::DecodeError> {
                Ok($ty { $($field: $crate::from_js!(@get value, $key $($default)?),)* })
            }
        }
    };
    (@get $v:ident, flatten) => { $crate::FromJs::from_js($v)? };
    (@get $v:ident, $key:literal default) => { $crate::field_or_default($v, $key)? };
    (@get $v:ident, $key:literal) => { $crate::field($v, $key)? };
    (@set $o:ident, $value:expr, flatten) => {
        $crate::assign(&$o, $crate::ToJs::to_js(&$value))
    };
    (@set $o:ident, $value:expr, $key:literal) => {
        $crate::set(&$o, $key, $crate::ToJs::to_js(&$value))
    };
}
