//! OpenID Connect with the `openidconnect` crate: discovery, the authorization request (code
//! flow with PKCE, state and nonce), the code exchange with ID-token verification against the
//! provider's keys, renewal by refresh token, and the provider's end-session URL. HTTP goes
//! through the page's `fetch`.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreTokenResponse};
use openidconnect::{
    AuthorizationCode, ClientId, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    HttpRequest, HttpResponse, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, ProviderMetadataWithLogout, RedirectUrl, RefreshToken, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use tessera_contract::auth::{Claims, Tokens, SCOPES};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The provider as discovered, with this page's redirect URI set.
pub struct Provider {
    client: Client,
    end_session: Option<String>,
    client_id: String,
}

/// What the page keeps (in `sessionStorage`) between sending the user to the provider and the
/// provider sending them back: only this tab's one-time secrets, never tokens.
#[derive(Serialize, Deserialize)]
pub struct Pending {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub return_to: String,
}

#[derive(Debug)]
pub struct FetchError(String);

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FetchError {}

/// `openidconnect`'s HTTP client: one request through `fetch`, credentials omitted (the
/// provider's token endpoint needs none from a public client).
async fn fetch(request: HttpRequest) -> Result<HttpResponse, FetchError> {
    let fail = |what: &str| FetchError(format!("{} {}: {what}", request.method(), request.uri()));
    let init = web_sys::RequestInit::new();
    init.set_method(request.method().as_str());
    init.set_credentials(web_sys::RequestCredentials::Omit);
    let headers = web_sys::Headers::new().map_err(|_| fail("no Headers"))?;
    for (name, value) in request.headers() {
        if let Ok(value) = value.to_str() {
            let _ = headers.set(name.as_str(), value);
        }
    }
    init.set_headers(&headers);
    if !request.body().is_empty() {
        let body = js_sys::Uint8Array::from(request.body().as_slice());
        init.set_body(&body);
    }
    let window = web_sys::window().ok_or_else(|| fail("no window"))?;
    let response: web_sys::Response =
        JsFuture::from(window.fetch_with_str_and_init(&request.uri().to_string(), &init))
            .await
            .map_err(|e| fail(&js_error(&e)))?
            .unchecked_into();
    let buffer = JsFuture::from(response.array_buffer().map_err(|_| fail("no body"))?)
        .await
        .map_err(|_| fail("reading the body"))?;
    let mut out = openidconnect::http::Response::builder().status(response.status());
    if let Ok(Some(content_type)) = response.headers().get("content-type") {
        out = out.header("content-type", content_type);
    }
    out.body(js_sys::Uint8Array::new(&buffer).to_vec())
        .map_err(|e| fail(&e.to_string()))
}

fn js_error(e: &wasm_bindgen::JsValue) -> String {
    js_sys::Reflect::get(e, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

fn redirect_uri() -> String {
    let origin = web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    format!("{origin}{}", tessera_contract::auth::CALLBACK_PATH)
}

impl Provider {
    pub async fn discover(issuer: &str, client_id: &str) -> Result<Provider, String> {
        let issuer_url =
            IssuerUrl::new(issuer.to_owned()).map_err(|e| format!("issuer {issuer:?}: {e}"))?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer_url, &fetch)
            .await
            .map_err(|e| format!("discovering {issuer}: {}", error_chain(&e)))?;
        let end_session = metadata
            .additional_metadata()
            .end_session_endpoint
            .as_ref()
            .map(|u| u.url().to_string());
        let redirect = RedirectUrl::new(redirect_uri()).map_err(|e| e.to_string())?;
        let client =
            CoreClient::from_provider_metadata(metadata, ClientId::new(client_id.to_owned()), None)
                .set_redirect_uri(redirect);
        Ok(Provider {
            client,
            end_session,
            client_id: client_id.to_owned(),
        })
    }

    /// Where to send the user to sign in, and the secrets to check the answer with.
    pub fn authorize(&self, return_to: &str) -> (String, Pending) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self.client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in SCOPES {
            request = request.add_scope(Scope::new(scope.to_owned()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let pending = Pending {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            return_to: return_to.to_owned(),
        };
        // Without `prompt=consent` the provider may skip asking for offline access and issue
        // no refresh token.
        (format!("{url}&prompt=consent"), pending)
    }

    /// Exchanges the code the provider sent back and verifies the ID token (signature by the
    /// provider's published keys, issuer, audience, expiry, and the nonce of this sign-in).
    pub async fn exchange(&self, code: &str, pending: &Pending) -> Result<Tokens, String> {
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| e.to_string())?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(&fetch)
            .await
            .map_err(|e| format!("exchanging the code: {}", error_chain(&e)))?;
        let nonce = Nonce::new(pending.nonce.clone());
        self.tokens(&response, None, |token| {
            token
                .claims(&self.client.id_token_verifier(), &nonce)
                .map(|c| c.expiration().timestamp_millis() as f64)
                .map_err(|e| format!("the provider's ID token was refused: {e}"))
        })
    }

    /// A fresh ID token for the refresh token. The provider may rotate the refresh token; the
    /// old one is kept when it does not.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, Renewal> {
        let token = RefreshToken::new(refresh_token.to_owned());
        let response = self
            .client
            .exchange_refresh_token(&token)
            .map_err(|e| Renewal::Refused(e.to_string()))?
            .request_async(&fetch)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(r) => {
                    Renewal::Refused(format!("the provider refused renewal: {r}"))
                }
                other => Renewal::Unreachable(error_chain(&other)),
            })?;
        self.tokens(&response, Some(refresh_token), |token| {
            // A renewed ID token carries no nonce (there was no authorization request).
            token
                .claims(&self.client.id_token_verifier(), |_: Option<&Nonce>| Ok(()))
                .map(|c| c.expiration().timestamp_millis() as f64)
                .map_err(|e| format!("the renewed ID token was refused: {e}"))
        })
        .map_err(Renewal::Refused)
    }

    fn tokens(
        &self,
        response: &CoreTokenResponse,
        old_refresh: Option<&str>,
        verify: impl FnOnce(&CoreIdToken) -> Result<f64, String>,
    ) -> Result<Tokens, String> {
        let id_token = response
            .id_token()
            .ok_or("the provider answered without an ID token")?;
        let expires_at_ms = verify(id_token)?;
        let text = id_token.to_string();
        Claims::of_verified(&text).ok_or("the ID token has no subject")?;
        Ok(Tokens {
            id_token: text,
            refresh_token: response
                .refresh_token()
                .map(|t| t.secret().clone())
                .or_else(|| old_refresh.map(str::to_owned)),
            expires_at_ms,
        })
    }

    /// The provider's end-session URL for this user, back to `return_to` afterwards.
    pub fn end_session(&self, id_token: &str, return_to: &str) -> Option<String> {
        let url = web_sys::Url::new(self.end_session.as_deref()?).ok()?;
        let query = url.search_params();
        query.set("id_token_hint", id_token);
        query.set("client_id", &self.client_id);
        query.set("post_logout_redirect_uri", return_to);
        url.set_search(&query.to_string().as_string().unwrap_or_default());
        Some(url.href())
    }
}

/// Why a renewal failed: the provider said no (the session is over), or could not be reached
/// (keep the session and try again later).
pub enum Renewal {
    Refused(String),
    Unreachable(String),
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
