//! Shop webhooks: configuring an endpoint, signed delivery, retries with back-off, giving up,
//! and the demo's receiver page.

use crate::helpers::{TestApp, id};
use crate::on_both;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use guichet_domain::order::{Delivery, LineKind, OrderLine};
use guichet_domain::{Currency, Money};
use guichet_server::webhooks::{
    self, DELIVERY_TIMEOUT, DeliveryStats, DemoReceiver, EVENT_ID_HEADER, MAX_ATTEMPTS,
    SIGNATURE_HEADER,
};
use guichet_server::{AppState, ServerConfig};
use guichet_store::{NewOrder, Order, OrderOp, Secret};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;
use uuid::Uuid;

/// A shop's endpoint on a local socket: records every request and answers `status`.
#[derive(Clone)]
struct Receiver {
    url: String,
    status: Arc<AtomicU16>,
    hits: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let receiver = Receiver {
            url: String::new(),
            status: Arc::new(AtomicU16::new(200)),
            hits: Arc::new(Mutex::new(Vec::new())),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/hooks", axum::routing::post(record))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, ..receiver }
    }

    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn hits(&self) -> Vec<(HeaderMap, Bytes)> {
        self.hits.lock().unwrap().clone()
    }
}

async fn record(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> AxumStatus {
    r.hits.lock().unwrap().push((headers, body));
    AxumStatus::from_u16(r.status.load(Ordering::SeqCst)).unwrap()
}

/// A shop key of the tenant's institution, created through the back office.
async fn shop_key(app: &TestApp, institution: &str) -> String {
    let key = app
        .created(
            "/api/v1/admin/shop-keys",
            json!({"institution_id": institution, "name": "Boutique"}),
        )
        .await;
    id(&key)
}

async fn put_webhook(app: &TestApp, key: &str, body: Value) -> (StatusCode, Value) {
    app.call(
        Method::PUT,
        &format!("/api/v1/admin/shop-keys/{key}/webhook"),
        Some(&app.admin),
        Some(body),
    )
    .await
}

/// An order of the tenant through the store (the shop API's orders are another test's subject).
async fn order(app: &TestApp, institution: &str, pos: &str, key: &str) -> Order {
    let eur = |minor| Money::new(minor, Currency::EUR);
    let now = OffsetDateTime::now_utc();
    app.store
        .create_order(&NewOrder {
            institution_id: institution.parse().unwrap(),
            point_of_sale_id: pos.parse().unwrap(),
            shop_key_id: Some(key.parse().unwrap()),
            contact_id: None,
            currency: Currency::EUR,
            language: "fr".into(),
            total: eur(1500),
            lines: vec![OrderLine {
                kind: LineKind::Fee,
                label: "Frais de dossier".into(),
                quantity: 1,
                unit_amount: eur(1500),
                event: None,
                voucher_product_id: None,
            }],
            delivery: Delivery {
                mode: "electronic".into(),
                delay: "immediate".into(),
                fee: eur(0),
            },
            first_event_at: None,
            return_url: None,
            cancel_url: None,
            checkout_token_hash: Uuid::now_v7().to_string(),
            hold_expires_at: now + time::Duration::minutes(20),
        })
        .await
        .unwrap()
}

/// Enqueues an `order.paid` event for `order`; returns its id.
async fn enqueue(app: &TestApp, order: &Order, key: &str) -> Uuid {
    let event_id = Uuid::now_v7();
    let payload = webhooks::event_body(
        event_id,
        "order.paid",
        OffsetDateTime::now_utc(),
        json!({"order_id": order.id, "amount_paid": {"amount_minor": 1500, "currency": "EUR"}}),
    );
    let current = app.store.get_order(order.id).await.unwrap();
    app.store
        .apply_order_ops(
            order.id,
            current.version,
            &[OrderOp::Webhook {
                shop_key_id: key.parse().unwrap(),
                event_id,
                event_type: "order.paid".into(),
                payload,
            }],
        )
        .await
        .unwrap();
    event_id
}

async fn events(app: &TestApp, key: &str) -> Vec<Value> {
    let (status, list) = app
        .admin_get(&format!("/api/v1/admin/webhook-events?shop_key_id={key}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array().unwrap().clone()
}

async fn event(app: &TestApp, key: &str, event_id: Uuid) -> Value {
    events(app, key)
        .await
        .into_iter()
        .find(|e| e["id"] == event_id.to_string())
        .expect("the event is listed")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).unwrap().to_str().unwrap()
}

async fn deliver(app: &TestApp, now: OffsetDateTime) -> DeliveryStats {
    let client = webhooks::http_client().unwrap();
    webhooks::deliver_due(&app.store, &client, now)
        .await
        .unwrap()
}

async fn delivered_once_signed_with_the_event_id(app: TestApp) {
    let t = app.tenant().await;
    let key = shop_key(&app, &t.institution).await;
    let receiver = Receiver::start().await;
    let (status, set) = put_webhook(&app, &key, json!({"url": receiver.url})).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    let secret = set["secret"]
        .as_str()
        .expect("a generated secret")
        .to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 6 + 43,
        "{secret}"
    );
    assert_eq!(set["url"], receiver.url);

    let order = order(&app, &t.institution, &t.pos, &key).await;
    let event_id = enqueue(&app, &order, &key).await;
    assert_eq!(event(&app, &key, event_id).await["status"], "pending");

    let stats = deliver(&app, OffsetDateTime::now_utc()).await;
    assert_eq!(
        stats,
        DeliveryStats {
            claimed: 1,
            delivered: 1,
            ..DeliveryStats::default()
        }
    );
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1, "exactly one POST");
    let (headers, body) = &hits[0];
    assert_eq!(header(headers, "content-type"), "application/json");
    assert_eq!(header(headers, EVENT_ID_HEADER), event_id.to_string());
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let signature = header(headers, SIGNATURE_HEADER);
    assert!(signature.starts_with("t="), "{signature}");
    webhooks::verify(
        &secret,
        signature,
        body,
        now,
        webhooks::DEFAULT_TOLERANCE_SECONDS,
    )
    .expect("the signature verifies with the shop's secret");
    assert!(
        webhooks::verify("whsec_other", signature, body, now, 300).is_err(),
        "and with no other secret"
    );
    let sent: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(sent["id"], event_id.to_string());
    assert_eq!(sent["type"], "order.paid");
    assert_eq!(sent["data"]["order_id"], order.id.to_string());
    assert!(sent["created_at"].as_str().unwrap().ends_with('Z'));

    let listed = event(&app, &key, event_id).await;
    assert_eq!(listed["status"], "delivered");
    assert_eq!(listed["attempts"], 1);
    assert_eq!(listed["type"], "order.paid");
    assert_eq!(listed["payload"]["id"], event_id.to_string());

    // Nothing is due any more, even much later: delivered means delivered once.
    let later = OffsetDateTime::now_utc() + time::Duration::days(2);
    assert_eq!(deliver(&app, later).await.claimed, 0);
    assert_eq!(receiver.hits().len(), 1);
}
on_both!(delivered_once_signed_with_the_event_id);

async fn retried_with_back_off_then_delivered_or_given_up(app: TestApp) {
    let t = app.tenant().await;
    let key = shop_key(&app, &t.institution).await;
    let receiver = Receiver::start().await;
    let secret = "shop-chosen-secret-0123";
    let (status, set) =
        put_webhook(&app, &key, json!({"url": receiver.url, "secret": secret})).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert!(set.get("secret").is_none(), "a given secret is not echoed");
    let order = order(&app, &t.institution, &t.pos, &key).await;

    // The shop is down: the first attempt fails and waits 30 s.
    receiver.answer(500);
    let first = enqueue(&app, &order, &key).await;
    let t0 = OffsetDateTime::now_utc();
    let stats = deliver(&app, t0).await;
    assert_eq!((stats.claimed, stats.retrying), (1, 1), "{stats:?}");
    assert_eq!(receiver.hits().len(), 1);
    let listed = event(&app, &key, first).await;
    assert_eq!(
        (listed["status"].as_str(), listed["attempts"].as_i64()),
        (Some("pending"), Some(1))
    );

    // Not before its back-off…
    assert_eq!(
        deliver(&app, t0 + time::Duration::seconds(25))
            .await
            .claimed,
        0
    );
    assert_eq!(receiver.hits().len(), 1);
    // …then again (fails: 60 s more)…
    let t1 = t0 + time::Duration::seconds(31);
    assert_eq!(deliver(&app, t1).await.retrying, 1);
    assert_eq!(receiver.hits().len(), 2);
    assert_eq!(
        deliver(&app, t1 + time::Duration::seconds(55))
            .await
            .claimed,
        0
    );
    // …and delivered once the shop is back.
    receiver.answer(204);
    let stats = deliver(&app, t1 + time::Duration::seconds(61)).await;
    assert_eq!((stats.claimed, stats.delivered), (1, 1), "{stats:?}");
    let hits = receiver.hits();
    assert_eq!(hits.len(), 3);
    for (headers, body) in &hits {
        assert_eq!(
            header(headers, EVENT_ID_HEADER),
            first.to_string(),
            "the same id every time"
        );
        let now = OffsetDateTime::now_utc().unix_timestamp();
        webhooks::verify(secret, header(headers, SIGNATURE_HEADER), body, now, 300).unwrap();
    }
    let listed = event(&app, &key, first).await;
    assert_eq!(
        (listed["status"].as_str(), listed["attempts"].as_i64()),
        (Some("delivered"), Some(3))
    );

    // A shop down for good: MAX_ATTEMPTS attempts, then the event is given up.
    receiver.answer(500);
    let doomed = enqueue(&app, &order, &key).await;
    let before = receiver.hits().len();
    let mut now = OffsetDateTime::now_utc();
    for attempt in 1..=MAX_ATTEMPTS {
        let stats = deliver(&app, now).await;
        assert_eq!(stats.claimed, 1, "attempt {attempt}");
        if attempt < MAX_ATTEMPTS {
            assert_eq!(stats.retrying, 1, "attempt {attempt}");
        } else {
            assert_eq!(stats.failed, 1, "the last attempt gives up");
        }
        // Past any back-off (at most an hour).
        now += time::Duration::hours(2);
    }
    let attempts = usize::try_from(MAX_ATTEMPTS).unwrap();
    assert_eq!(receiver.hits().len(), before + attempts);
    let listed = event(&app, &key, doomed).await;
    assert_eq!(listed["status"], "failed");
    assert_eq!(listed["attempts"], MAX_ATTEMPTS);
    // Never again, even when the shop comes back.
    receiver.answer(200);
    assert_eq!(
        deliver(&app, now + time::Duration::days(1)).await.claimed,
        0
    );
    assert_eq!(receiver.hits().len(), before + attempts);
    assert_eq!(event(&app, &key, first).await["status"], "delivered");
}
on_both!(retried_with_back_off_then_delivered_or_given_up);

async fn an_unreachable_endpoint_is_retried(app: TestApp) {
    let t = app.tenant().await;
    let key = shop_key(&app, &t.institution).await;
    // A port nobody listens on (bound, then closed).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    drop(listener);
    let (status, _) = put_webhook(&app, &key, json!({"url": url})).await;
    assert_eq!(status, StatusCode::OK);
    let order = order(&app, &t.institution, &t.pos, &key).await;
    let event_id = enqueue(&app, &order, &key).await;
    let started = std::time::Instant::now();
    let stats = deliver(&app, OffsetDateTime::now_utc()).await;
    assert!(started.elapsed() < DELIVERY_TIMEOUT + std::time::Duration::from_secs(5));
    assert_eq!((stats.claimed, stats.retrying), (1, 1), "{stats:?}");
    assert_eq!(event(&app, &key, event_id).await["status"], "pending");
}
on_both!(an_unreachable_endpoint_is_retried);

async fn without_an_endpoint_the_event_fails(app: TestApp) {
    let t = app.tenant().await;
    let key = shop_key(&app, &t.institution).await;
    let order = order(&app, &t.institution, &t.pos, &key).await;
    let event_id = enqueue(&app, &order, &key).await;
    let stats = deliver(&app, OffsetDateTime::now_utc()).await;
    assert_eq!(
        stats,
        DeliveryStats {
            claimed: 1,
            failed: 1,
            ..DeliveryStats::default()
        }
    );
    let listed = event(&app, &key, event_id).await;
    assert_eq!(listed["status"], "failed");
    assert_eq!(listed["attempts"], 1);
    let later = OffsetDateTime::now_utc() + time::Duration::days(1);
    assert_eq!(deliver(&app, later).await.claimed, 0, "given up at once");

    // Removing an endpoint: what is pending fails the same way.
    let receiver = Receiver::start().await;
    let (status, _) = put_webhook(&app, &key, json!({"url": receiver.url})).await;
    assert_eq!(status, StatusCode::OK);
    let pending = enqueue(&app, &order, &key).await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/admin/shop-keys/{key}/webhook"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .admin_get(&format!("/api/v1/admin/shop-keys/{key}/webhook"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no endpoint any more");
    assert_eq!(deliver(&app, OffsetDateTime::now_utc()).await.failed, 1);
    assert_eq!(event(&app, &key, pending).await["status"], "failed");
    assert!(receiver.hits().is_empty());
}
on_both!(without_an_endpoint_the_event_fails);

async fn configuring_endpoints(app: TestApp) {
    let t = app.tenant().await;
    let key = shop_key(&app, &t.institution).await;
    let path = format!("/api/v1/admin/shop-keys/{key}/webhook");

    for (body, field) in [
        (json!({}), "url"),
        (json!({"url": "not a url"}), "url"),
        (json!({"url": "ftp://shop.example/hooks"}), "url"),
        (json!({"url": "https://user:pw@shop.example/hooks"}), "url"),
        (
            json!({"url": "https://shop.example/hooks", "secret": "short"}),
            "secret",
        ),
    ] {
        let (status, err) = put_webhook(&app, &key, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(err["error"]["code"], "validation_failed");
        assert!(err["error"]["fields"][field].is_string(), "{body}: {err}");
    }
    let (status, _) = app.admin_get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was written");

    let unknown = Uuid::now_v7();
    let (status, err) = put_webhook(
        &app,
        &unknown.to_string(),
        json!({"url": "https://shop.example/h"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/admin/shop-keys/{unknown}/webhook"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, set) =
        put_webhook(&app, &key, json!({"url": "https://shop.example/guichet"})).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    let first_secret = set["secret"].as_str().unwrap().to_owned();
    let (status, got) = app.admin_get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["url"], "https://shop.example/guichet");
    assert!(got.get("secret").is_none(), "the secret is shown once");
    // Putting again without a secret rotates it.
    let (_, again) = put_webhook(&app, &key, json!({"url": "http://shop.example/h2"})).await;
    assert_ne!(again["secret"].as_str().unwrap(), first_secret);
    let stored = app
        .store
        .shop_webhook(key.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.secret.expose(), again["secret"].as_str().unwrap());
    assert_eq!(stored.url, "http://shop.example/h2");

    // Admins only.
    let operator = app.user("olga", "operator").await;
    let (status, _) = app
        .call(
            Method::PUT,
            &path,
            Some(&operator),
            Some(json!({"url": "https://evil.example/"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.call(Method::DELETE, &path, Some(&operator), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call(
            Method::GET,
            "/api/v1/admin/webhook-events",
            Some(&operator),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call(Method::GET, "/api/v1/admin/webhook-events", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.admin_get("/api/v1/admin/webhook-events?limit=0").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.store
            .shop_webhook(key.parse().unwrap())
            .await
            .unwrap()
            .unwrap()
            .url,
        "http://shop.example/h2",
        "the operator changed nothing"
    );

    // Documented.
    let (_, doc) = app.call(Method::GET, "/api/openapi.json", None, None).await;
    assert!(doc["paths"]["/api/v1/admin/shop-keys/{id}/webhook"]["put"].is_object());
    assert!(doc["paths"]["/api/v1/admin/webhook-events"]["get"].is_object());
}
on_both!(configuring_endpoints);

async fn the_demo_receiver_page_shows_what_the_shop_received(app: TestApp) {
    let receiver = DemoReceiver::new(Secret::new("whsec_demo-receiver-secret"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState {
        store: app.store.clone(),
        config: Arc::new(ServerConfig::new(base.clone())),
    };
    let router = guichet_server::router_with_demo(state, Some(receiver.clone()));
    let router = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let page_url = format!("{base}{}", DemoReceiver::PATH);

    // The app without a receiver has no such page.
    let (status, _) = app.call(Method::GET, DemoReceiver::PATH, None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let t = app.tenant().await;
    let key = shop_key(&app, &t.institution).await;
    let (status, _) = put_webhook(
        &app,
        &key,
        json!({"url": page_url, "secret": receiver.secret().expose()}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let order = order(&app, &t.institution, &t.pos, &key).await;
    let event_id = enqueue(&app, &order, &key).await;
    assert_eq!(deliver(&app, OffsetDateTime::now_utc()).await.delivered, 1);

    // A forged delivery is refused, and shown as such; its content is escaped.
    let forged = r#"{"id":"<script>alert(1)</script>","type":"order.paid"}"#;
    let resp = app
        .client
        .post(&page_url)
        .header("content-type", "application/json")
        .header(
            SIGNATURE_HEADER,
            webhooks::sign(
                "wrong secret",
                OffsetDateTime::now_utc().unix_timestamp(),
                forged.as_bytes(),
            ),
        )
        .body(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert!(!received[0].signature_valid);
    assert!(received[1].signature_valid);
    assert_eq!(
        received[1].event_id.as_deref(),
        Some(event_id.to_string().as_str())
    );
    assert_eq!(received[1].event_type.as_deref(), Some("order.paid"));

    let resp = app.client.get(&page_url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = resp.text().await.unwrap();
    assert!(html.contains(&event_id.to_string()), "{html}");
    assert!(html.contains("order.paid"));
    assert!(html.contains(">yes<") && html.contains(">no<"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script"), "no script, and input is escaped");
}
on_both!(the_demo_receiver_page_shows_what_the_shop_received);
