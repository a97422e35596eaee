//! The BFF trusting an OpenID Connect issuer (`--oidc-issuer`): JWTs signed in the test with
//! fixed keys, checked against a stand-in issuer's discovery and JWKS. Every rejection is a 401
//! naming what failed (never echoing the token) and changes nothing; an unknown key refetches
//! the JWKS once per interval; roles and ownership come from the claims. Both databases.

mod common;

use common::live::{Live, LiveClient};
use common::oidc::{now, TestIssuer, ATTACKER, KEY_A, KEY_B, KEY_C};
use common::{key, Resp, TestDb, TestServer};
use serde_json::{json, Value};
use std::time::Duration;
use tessera_bff::{AppState, Config};

/// The JWKS refetch interval the tests run with.
const REFETCH_MS: u64 = 300;

on_both_databases!(
    bad_tokens_are_401s_that_name_the_failure_and_change_nothing,
    an_unknown_key_refetches_the_jwks_once_per_interval,
    customers_reach_only_their_own_data_and_no_admin_command,
);

fn oidc_config(db: &TestDb, issuer: &TestIssuer) -> Config {
    Config {
        oidc_issuer: Some(issuer.issuer.clone()),
        oidc_jwks_refetch_ms: REFETCH_MS,
        dev_tokens: false,
        ..common::config(&db.url, 3_600_000)
    }
}

/// Asserts a 401 for a presented token whose problem and `WWW-Authenticate` name `what`, and
/// that neither carries `token`'s signature.
fn assert_rejected(r: &Resp, what: &str, token: &str) {
    let problem = r.problem(401);
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains(what), "{what:?} not in {detail:?}");
    let challenge = r.header("www-authenticate").unwrap();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\", error_description=\""),
        "{challenge}"
    );
    assert!(challenge.contains(what), "{what:?} not in {challenge:?}");
    if let Some(signature) = token.rsplit('.').next().filter(|s| s.len() > 8) {
        assert!(!r.text.contains(signature), "the body echoes the token");
        assert!(
            !challenge.contains(signature),
            "the header echoes the token"
        );
    }
}

/// What a rejected request must not have changed: the log, Alice's cart, the menu item.
async fn snapshot(s: &TestServer, admin: &str, alice: &str) -> (Vec<Value>, Value, Value) {
    let cart = s.get("/api/cart", Some(alice)).await;
    assert_eq!(cart.status, 200, "{}", cart.text);
    let restaurant = s.get("/api/restaurants/pho-corner", None).await.json();
    (
        s.events_as(admin).await,
        cart.json(),
        restaurant["menu"][0].clone(),
    )
}

async fn bad_tokens_are_401s_that_name_the_failure_and_change_nothing(kind: common::Kind) {
    let issuer = TestIssuer::start(&[KEY_A, KEY_C]).await;
    let db = TestDb::new(kind).await;
    let s = TestServer::start_config(oidc_config(&db, &issuer)).await;
    // Browsers learn where to sign in from the BFF itself.
    let auth = s.get("/api/auth/config", None).await;
    assert_eq!(
        auth.json(),
        json!({"mode": "oidc", "issuer": issuer.issuer, "clientId": "tessera"})
    );
    let admin = issuer.token("ada", &["customer", "admin"]);
    let alice = issuer.token("alice", &["customer"]);

    // Good tokens first, RS256 and ES256; a small change so the log is not empty.
    let added = s
        .put(
            "/api/cart/items/pho-bo",
            &alice,
            &key(),
            None,
            r#"{"quantity": 1}"#,
        )
        .await;
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(added.json()["lastModifiedBy"], "alice");
    let es256 = KEY_C.sign(&issuer.claims("alice", &["customer"]));
    assert_eq!(s.get("/api/cart", Some(&es256)).await.status, 200);
    let before = snapshot(&s, &admin, &alice).await;

    let claims = |edit: &dyn Fn(&mut Value)| {
        let mut c = issuer.claims("alice", &["customer", "admin"]);
        edit(&mut c);
        c
    };
    let t = now();
    // A genuine token of Alice's with Ada's claims spliced in: the signature no longer fits.
    let spliced = {
        let genuine: Vec<String> = alice.split('.').map(str::to_owned).collect();
        let ada: Vec<String> = admin.split('.').map(str::to_owned).collect();
        format!("{}.{}.{}", genuine[0], ada[1], genuine[2])
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "signed by another key under a published kid",
            ATTACKER.sign_as(KEY_A.kid, &claims(&|_| {})),
            "bad signature",
        ),
        (
            "claims spliced into a genuine token",
            spliced,
            "bad signature",
        ),
        (
            "another issuer",
            KEY_A.sign(&claims(&|c| c["iss"] = json!("https://evil.example"))),
            "wrong issuer",
        ),
        (
            "another audience",
            KEY_A.sign(&claims(&|c| c["aud"] = json!("someone-else"))),
            "wrong audience",
        ),
        (
            "expired beyond the 60 s leeway",
            KEY_A.sign(&claims(&|c| c["exp"] = json!(t - 120))),
            "expired",
        ),
        (
            "nbf beyond the leeway",
            KEY_A.sign(&claims(&|c| c["nbf"] = json!(t + 300))),
            "not yet valid",
        ),
        (
            "no exp",
            KEY_A.sign(&claims(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            })),
            "lacks the exp claim",
        ),
        (
            "no aud",
            KEY_A.sign(&claims(&|c| {
                c.as_object_mut().unwrap().remove("aud");
            })),
            "lacks the aud claim",
        ),
        (
            "a kid nobody published",
            ATTACKER.sign(&claims(&|_| {})),
            "unknown key",
        ),
        (
            "HS256 under a published kid",
            jsonwebtoken::encode(
                &jsonwebtoken::Header {
                    kid: Some(KEY_A.kid.into()),
                    ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
                },
                &claims(&|_| {}),
                &jsonwebtoken::EncodingKey::from_secret(b"the public key, perhaps").unwrap(),
            )
            .unwrap(),
            "unsupported signature algorithm",
        ),
        (
            "alg none",
            format!(
                "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
                admin.split('.').nth(1).unwrap()
            ),
            "malformed token",
        ),
        (
            "a development token",
            "dev:ada:customer,admin".into(),
            "malformed token",
        ),
        ("not a JWT at all", "abc.def".into(), "malformed token"),
    ];
    for (label, token, what) in &cases {
        let put = s
            .put(
                "/api/restaurants/pho-corner/menu/pho-bo",
                token,
                &key(),
                Some(1),
                r#"{"name": "Pwned", "priceCents": 1, "available": true}"#,
            )
            .await;
        assert_rejected(&put, what, token);
        let cart = s
            .put(
                "/api/cart/items/banh-mi",
                token,
                &key(),
                Some(1),
                r#"{"quantity": 9}"#,
            )
            .await;
        assert_rejected(&cart, what, token);
        let read = s.get("/api/cart", Some(token)).await;
        assert_rejected(&read, what, token);
        eprintln!("rejected: {label}");
    }

    // No token at all: a plain challenge.
    let none = s.get("/api/cart", None).await;
    none.problem(401);
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    let none = s
        .raw(
            s.http
                .put(format!("{}/api/cart/items/banh-mi", s.base))
                .header("idempotency-key", key())
                .header("content-type", "application/json")
                .body(r#"{"quantity": 9}"#),
        )
        .await;
    none.problem(401);

    // Within the leeway is fine.
    let late = KEY_A.sign(&claims(&|c| c["exp"] = json!(t - 30)));
    assert_eq!(s.get("/api/cart", Some(&late)).await.status, 200);
    let early = KEY_A.sign(&claims(&|c| c["nbf"] = json!(t + 30)));
    assert_eq!(s.get("/api/cart", Some(&early)).await.status, 200);

    // A live connection's hello goes through the same checks.
    let mut live = LiveClient::connect(&s.base, &cases[4].1, 0, &[]).await;
    match live.next(Duration::from_secs(10)).await {
        Live::Closed(4001, reason) => assert!(reason.contains("expired"), "{reason}"),
        other => panic!("expected a 4001 close, got {other:?}"),
    }
    let mut live = LiveClient::connect(&s.base, &alice, 0, &[]).await;
    assert!(matches!(
        live.next(Duration::from_secs(10)).await,
        Live::Ready(_)
    ));

    assert_eq!(
        snapshot(&s, &admin, &alice).await,
        before,
        "no rejected request changed anything"
    );
    s.stop().await;
}

async fn an_unknown_key_refetches_the_jwks_once_per_interval(kind: common::Kind) {
    // Long enough that the burst below surely fits in one interval on a busy machine.
    const REFETCH_MS: u64 = 1_500;
    let interval = Duration::from_millis(REFETCH_MS + 100);
    let issuer = TestIssuer::start(&[KEY_A]).await;
    let db = TestDb::new(kind).await;
    let s = TestServer::start_config(Config {
        oidc_jwks_refetch_ms: REFETCH_MS,
        ..oidc_config(&db, &issuer)
    })
    .await;
    let admin = issuer.token("ada", &["customer", "admin"]);
    // Signed ahead: signing is slow in a debug build.
    let rotated = KEY_B.sign(&issuer.claims("ada", &["customer", "admin"]));
    let bogus: Vec<String> = (0..20)
        .map(|i| KEY_B.sign_as(&format!("bogus-{i}"), &issuer.claims("ada", &["admin"])))
        .collect();
    let r = s.get("/api/cart", Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(issuer.discovery_fetches(), 1);
    assert_eq!(issuer.jwks_fetches(), 1);
    let before = s.events_as(&admin).await;

    // A token signed with key B, which the issuer has not published yet.
    tokio::time::sleep(interval).await;
    let r = s
        .put(
            "/api/restaurants/pho-corner/menu/pho-bo",
            &rotated,
            &key(),
            Some(1),
            r#"{"name": "Phở bò", "priceCents": 1390, "available": true}"#,
        )
        .await;
    assert_rejected(&r, "unknown key", &rotated);
    assert_eq!(issuer.jwks_fetches(), 2, "the unknown kid refetched once");

    // A stream of made-up kids within the interval fetches nothing more.
    let answers =
        futures::future::join_all(bogus.iter().map(|t| s.get("/api/cart", Some(t)))).await;
    for (r, t) in answers.iter().zip(&bogus) {
        assert_rejected(r, "unknown key", t);
    }
    assert_rejected(
        &s.get("/api/cart", Some(&rotated)).await,
        "unknown key",
        &rotated,
    );
    assert_eq!(issuer.jwks_fetches(), 2, "no refetch within the interval");
    assert_eq!(
        s.events_as(&admin).await,
        before,
        "the rejection changed nothing"
    );

    // The issuer rotates: B published beside A. The same token passes after one refetch.
    issuer.publish(&[KEY_B, KEY_A]);
    tokio::time::sleep(interval).await;
    let r = s
        .put(
            "/api/restaurants/pho-corner/menu/pho-bo",
            &rotated,
            &key(),
            Some(1),
            r#"{"name": "Phở bò", "priceCents": 1390, "available": true}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["lastModifiedBy"], "ada");
    assert_eq!(issuer.jwks_fetches(), 3);
    // Both keys are now known: no more fetches, and the live hello takes the new key too.
    assert_eq!(s.get("/api/cart", Some(&rotated)).await.status, 200);
    assert_eq!(s.get("/api/cart", Some(&admin)).await.status, 200);
    let mut live = LiveClient::connect(&s.base, &rotated, 0, &[]).await;
    assert!(matches!(
        live.next(Duration::from_secs(10)).await,
        Live::Ready(_)
    ));
    assert_eq!(issuer.jwks_fetches(), 3);
    assert_eq!(issuer.discovery_fetches(), 1);
    s.stop().await;
}

async fn customers_reach_only_their_own_data_and_no_admin_command(kind: common::Kind) {
    let issuer = TestIssuer::start(&[KEY_A]).await;
    let db = TestDb::new(kind).await;
    let s = TestServer::start_config(oidc_config(&db, &issuer)).await;
    // Browsers learn where to sign in from the BFF itself.
    let auth = s.get("/api/auth/config", None).await;
    assert_eq!(
        auth.json(),
        json!({"mode": "oidc", "issuer": issuer.issuer, "clientId": "tessera"})
    );
    let admin = issuer.token("ada", &["customer", "admin"]);
    let alice = issuer.token("alice", &["customer"]);
    let bob = issuer.token("bob", &["customer"]);
    // No roles claim at all: a signed-in user with no roles.
    let carol = KEY_A.sign(&{
        let mut c = issuer.claims("carol", &[]);
        c.as_object_mut().unwrap().remove("roles");
        c
    });

    let added = s
        .put(
            "/api/cart/items/pho-bo",
            &alice,
            &key(),
            None,
            r#"{"quantity": 1}"#,
        )
        .await;
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(added.json()["owner"], "alice");
    let order = s
        .put("/api/cart/checkout/alice-1", &alice, &key(), Some(1), "{}")
        .await;
    assert_eq!(order.status, 201, "{}", order.text);
    assert_eq!(order.json()["lastModifiedBy"], "alice");
    let before = s.events_as(&admin).await;
    let menu_before = s.get("/api/restaurants/pho-corner", None).await.json();

    // Bob cannot read Alice's order; his cart and his orders are his own.
    s.get("/api/orders/alice-1", Some(&bob)).await.problem(404);
    let bobs = s.get("/api/cart", Some(&bob)).await.json();
    assert_eq!(bobs["owner"], "bob");
    assert_eq!(bobs["version"], 0);
    assert_eq!(bobs["lines"], json!([]));
    assert_eq!(
        s.get("/api/orders", Some(&bob)).await.json()["items"],
        json!([])
    );
    assert_eq!(
        s.get("/api/orders/alice-1", Some(&alice)).await.json(),
        order.json()
    );

    // Customers (and users without roles) cannot edit menus.
    for token in [&alice, &bob, &carol] {
        let r = s
            .put(
                "/api/restaurants/pho-corner/menu/pho-bo",
                token,
                &key(),
                Some(1),
                r#"{"name": "Cheap phở", "priceCents": 1, "available": true}"#,
            )
            .await;
        let problem = r.problem(403);
        assert!(
            problem["detail"].as_str().unwrap().contains("admin"),
            "{problem}"
        );
    }
    assert_eq!(s.get("/api/cart", Some(&carol)).await.status, 200);
    assert_eq!(
        s.events_as(&admin).await,
        before,
        "the refused commands appended nothing"
    );
    assert_eq!(
        s.get("/api/restaurants/pho-corner", None).await.json(),
        menu_before
    );

    // The admin can, and the change is theirs.
    let edited = s
        .put(
            "/api/restaurants/pho-corner/menu/pho-bo",
            &admin,
            &key(),
            Some(1),
            r#"{"name": "Phở bò", "priceCents": 1390, "available": true}"#,
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    assert_eq!(edited.json()["lastModifiedBy"], "ada");
    s.stop().await;
}

#[tokio::test]
async fn without_an_identity_provider_the_bff_refuses_to_start() {
    let db = TestDb::new(common::Kind::Sqlite).await;
    let config = Config {
        dev_tokens: false,
        oidc_issuer: None,
        ..common::config(&db.url, 3_600_000)
    };
    let err = AppState::connect(&config)
        .await
        .err()
        .expect("no identity provider: no start")
        .to_string();
    assert!(
        err.contains("--oidc-issuer") && err.contains("--dev-tokens"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_provider_is_a_503_not_a_rejection() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let db = TestDb::new(common::Kind::Sqlite).await;
    let s = TestServer::start_config(Config {
        oidc_issuer: Some(format!("http://127.0.0.1:{port}")),
        dev_tokens: false,
        ..common::config(&db.url, 3_600_000)
    })
    .await;
    let issuer = TestIssuer::start(&[KEY_A]).await;
    let token = issuer.token("alice", &["customer"]);
    let r = s.get("/api/cart", Some(&token)).await;
    let problem = r.problem(503);
    assert_eq!(problem["type"], "/problems/identity-provider-unavailable");
    s.stop().await;
}

#[tokio::test]
async fn with_both_configured_dev_tokens_and_jwts_are_accepted() {
    let issuer = TestIssuer::start(&[KEY_A]).await;
    let db = TestDb::new(common::Kind::Sqlite).await;
    let s = TestServer::start_config(Config {
        dev_tokens: true,
        ..oidc_config(&db, &issuer)
    })
    .await;
    let jwt = issuer.token("alice", &["customer"]);
    assert_eq!(
        s.get("/api/cart", Some(&jwt)).await.json()["owner"],
        "alice"
    );
    assert_eq!(
        s.get("/api/cart", Some(common::BOB)).await.json()["owner"],
        "bob"
    );
    let forged = ATTACKER.sign(&issuer.claims("alice", &["admin"]));
    assert_rejected(
        &s.get("/api/cart", Some(&forged)).await,
        "unknown key",
        &forged,
    );
    s.stop().await;
}
