//! The benchmark's data: the demo institution (`demo::seed`), its internet channel's Ogone
//! account pointed at the simulator, buyers with a saved card each, gift vouchers, and the
//! shop's webhooks pointed at a receiver in this process.

use anyhow::{Context, anyhow, bail};
use guichet_domain::config::{ProviderKind, ThreeDsPolicy};
use guichet_domain::{AccountKind, Currency, Money};
use guichet_server::{AppState, ServerConfig};
use guichet_store::{DynStore, NewContact, PaymentSystemInput, Secret};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

pub const PROMO_CODE: &str = "NOUVEAUX-VENUS";
/// Each voucher covers this much of a checkout.
pub const VOUCHER_MINOR: i64 = 2_000;
/// An order: two tickets at 18.00 (36.00; 34.20 after the promo code, 14.20 after the voucher).
pub const TICKET_MINOR: i64 = 1_800;

pub struct Seeded {
    pub institution: Uuid,
    pub point_of_sale: Uuid,
    pub channel: Uuid,
    pub shop_key: String,
    /// Webhooks the shop received (the receiver in this process).
    pub webhooks: Arc<AtomicU64>,
}

/// The demo institution, its internet channel paying through the simulator (3-D Secure never
/// asked, saved cards paid in one tap), and the shop's webhooks sent to this process.
pub async fn base(store: &DynStore, sim_url: &str) -> anyhow::Result<Seeded> {
    let state = AppState {
        store: store.clone(),
        config: Arc::new(ServerConfig::new("http://127.0.0.1")),
    };
    let secret = Secret::new(
        guichet_server::webhooks::generate_secret().map_err(|e| anyhow!("{}", e.message))?,
    );
    let info = crate::demo::seed(&state, "http://127.0.0.1", sim_url, "bench", &secret).await?;
    let channel = info.sales_channels["internet"];
    let mut settings = BTreeMap::new();
    settings.insert("userid".to_owned(), "API".to_owned());
    settings.insert("hash_algorithm".to_owned(), "SHA-512".to_owned());
    let mut credentials = BTreeMap::new();
    credentials.insert("password".to_owned(), Secret::new("guichet-test"));
    credentials.insert("sha_in".to_owned(), Secret::new("Mysecretsig1875!?"));
    credentials.insert("sha_out".to_owned(), Secret::new("Mysecretsig1875!?"));
    store
        .put_payment_system(
            channel,
            &PaymentSystemInput {
                provider: ProviderKind::Ogone,
                label: "Ogone — simulator (benchmark)".to_owned(),
                base_url: format!("{sim_url}/ncol/test"),
                merchant_id: "GUICHETTEST".to_owned(),
                settings,
                credentials,
                card_saving_enabled: true,
                cvv_on_saved_cards: false,
                max_saved_cards: 5,
                three_ds_policy: ThreeDsPolicy::Never,
                three_ds_days: 0,
            },
        )
        .await?;
    // The shop's webhooks: to a receiver here that answers 204, as a shop would.
    let webhooks = Arc::new(AtomicU64::new(0));
    let receiver = receiver(webhooks.clone()).await?;
    let key = store
        .list_shop_keys(Some(info.institution))
        .await?
        .into_iter()
        .next()
        .context("the demo's shop key")?;
    store
        .set_shop_webhook(
            key.id,
            Some(&guichet_store::WebhookEndpoint {
                url: receiver,
                secret,
            }),
        )
        .await?;
    Ok(Seeded {
        institution: info.institution,
        point_of_sale: info.points_of_sale["internet"],
        channel,
        shop_key: info.shop_api_key,
        webhooks,
    })
}

async fn receiver(count: Arc<AtomicU64>) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let count = count.clone();
            async move {
                count.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}

/// `n` buyers (no credit balance, no deferred account).
pub async fn contacts(store: &DynStore, institution: Uuid, n: usize) -> anyhow::Result<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let c = store
            .create_contact(&NewContact {
                institution_id: institution,
                external_ref: Some(format!("bench-{i}")),
                first_name: "Acheteur".to_owned(),
                last_name: format!("BENCH{i}"),
                email: format!("bench{i}@example.org"),
                language: "fr".to_owned(),
                currency: Currency::EUR,
                deferred_allowed: false,
                deferred_max: Money::zero(Currency::EUR),
            })
            .await?;
        ids.push(c.id);
    }
    Ok(ids)
}

/// `n` single-use gift vouchers of [`VOUCHER_MINOR`], sold at the counter (funded from its
/// cash account through the ledger, as the demo's); returns their codes.
pub async fn vouchers(store: &DynStore, institution: Uuid, n: u64) -> anyhow::Result<Vec<String>> {
    let value = Money::new(VOUCHER_MINOR, Currency::EUR);
    let cash = store
        .ledger_account(institution, AccountKind::Cash, institution, Currency::EUR)
        .await?;
    let mut codes = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let id = Uuid::now_v7();
        let liability = store
            .ledger_account(
                institution,
                AccountKind::VoucherLiability,
                id,
                Currency::EUR,
            )
            .await?;
        let funding = guichet_domain::TransactionBuilder::new("voucher_sale", "Bon (benchmark)")
            .debit(cash.id, cash.kind, value)
            .credit(liability.id, liability.kind, value)
            .build()?;
        let mut random = [0u8; 10];
        getrandom::fill(&mut random).map_err(|_| anyhow!("no randomness"))?;
        let code = guichet_domain::voucher::VoucherCode::generate(random);
        store
            .issue_voucher(
                &guichet_store::NewVoucher {
                    id,
                    institution_id: institution,
                    code: code.as_str().to_owned(),
                    product_id: None,
                    face_value: value,
                    reusable: false,
                    expires_at: time::OffsetDateTime::now_utc() + time::Duration::days(365),
                    issued_order_id: None,
                },
                &funding,
            )
            .await?;
        codes.push(code.as_str().to_owned());
    }
    Ok(codes)
}

/// The body of an order of two tickets for an event `days` ahead.
pub fn order_body(seeded: &Seeded, contact: Uuid, days: i64) -> Value {
    let starts = (time::OffsetDateTime::now_utc() + time::Duration::days(days))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    json!({
        "point_of_sale": seeded.point_of_sale,
        "contact": contact,
        "currency": "EUR",
        "language": "fr",
        "lines": [{"kind": "ticket", "label": "Le Misanthrope", "quantity": 2,
                   "unit_amount_minor": TICKET_MINOR,
                   "event": {"id": "EV-1", "name": "Le Misanthrope", "starts_at": starts}}],
        "delivery": {"mode": "Électronique", "delay": "Immédiat", "fee_minor": 0}
    })
}

/// The buyer saves a card, as on the payment page: an order, its card form posted to the
/// provider (the browser's part) with a test card, then the payment with the signed return.
/// Returns the saved card's id.
pub async fn save_card(
    http: &reqwest::Client,
    base: &str,
    seeded: &Seeded,
    store: &DynStore,
    contact: Uuid,
    pay_extra: Value,
) -> anyhow::Result<Uuid> {
    let created: Value = http
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(&seeded.shop_key)
        .json(&order_body(seeded, contact, 400))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = created["checkout_token"]
        .as_str()
        .context("checkout_token")?
        .to_owned();
    let summary: Value = http
        .get(format!("{base}/api/v1/checkout/{token}"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let form = &summary["means"]["card_form_save"];
    let url = form["url"].as_str().context("card_form_save")?;
    let mut fields: Vec<(String, String)> = form["fields"]
        .as_object()
        .context("card form fields")?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    for (k, v) in [
        ("CN", "Acheteur Bench"),
        ("CARDNO", guichet_psp_sim::test_cards::VISA_OK),
        ("ED", "1230"),
        ("CVC", "123"),
    ] {
        fields.push((k.to_owned(), v.to_owned()));
    }
    let resp = http.post(url).form(&fields).send().await?;
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .context("the provider's redirect")?;
    let query = location
        .split_once('?')
        .map(|(_, q)| q.to_owned())
        .context("the redirect's query")?;
    let mut body = json!({"means": "card", "accept_terms": true, "card_alias_return": query});
    if let (Some(b), Some(extra)) = (body.as_object_mut(), pay_extra.as_object()) {
        b.extend(extra.clone());
    }
    let paid: Value = http
        .post(format!("{base}/api/v1/checkout/{token}/pay"))
        .header("Idempotency-Key", Uuid::now_v7().to_string())
        .json(&body)
        .send()
        .await?
        .json()
        .await?;
    if paid["status"] != "paid" {
        bail!("saving a card: {paid}");
    }
    let cards = store.saved_cards_of_contact(contact).await?;
    Ok(cards.first().context("no saved card")?.id)
}

/// A client for one buyer, from its own loopback address (rate limits count per address, as
/// they would for buyers on the Internet).
pub fn client(i: usize, http2: bool) -> anyhow::Result<reqwest::Client> {
    let ip = std::net::Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8);
    let builder = reqwest::Client::builder()
        .local_address(std::net::IpAddr::V4(ip))
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(usize::MAX);
    // HTTP/2 without TLS (h2c, "prior knowledge"): the buyer's requests share one connection,
    // as they do behind a front proxy that speaks HTTP/2 to Guichet.
    let builder = if http2 {
        builder.http2_prior_knowledge()
    } else {
        builder
    };
    Ok(builder.build()?)
}
