//! `guichet demo`: a fresh SQLite database seeded with a demo institution, so that the whole
//! flow works on a new machine with no set-up. Balances are created through the ledger, never
//! written in place.

use anyhow::Context;
use guichet_domain::config::{
    ChannelKind, PaymentModeCode, PaymentModeStatus, PaymentModeType, ProviderKind, PublicNames,
    Role, ThreeDsPolicy,
};
use guichet_domain::{Currency, Money};
use guichet_server::{AppState, ServerConfig};
use guichet_store::{
    ConnectOptions, DynStore, MasterKey, NewContact, PaymentModeFields, PaymentSystemInput, Secret,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use uuid::Uuid;

/// What `demo.json` holds (API.md).
#[derive(Serialize)]
pub struct DemoInfo {
    pub base_url: String,
    pub admin_url: String,
    pub openapi_url: String,
    pub database_url: String,
    pub shop_api_key: String,
    pub admin_user: String,
    pub admin_password: String,
    pub institution: Uuid,
    pub points_of_sale: BTreeMap<String, Uuid>,
    pub sales_channels: BTreeMap<String, Uuid>,
    pub payment_modes: BTreeMap<String, Uuid>,
    pub contacts: BTreeMap<String, Uuid>,
    /// Filled by the settlement features (promo codes, vouchers, events).
    pub promo_codes: BTreeMap<String, String>,
    pub vouchers: Vec<serde_json::Value>,
    pub events: Vec<serde_json::Value>,
    pub voucher_products: BTreeMap<String, Uuid>,
    /// The demo's page showing the webhooks the shop received.
    pub webhook_receiver_url: String,
    /// The built-in provider simulator (API.md, `guichet psp-sim`).
    pub psp_sim_url: String,
}

/// A voucher sold at the counter: its liability is funded from the counter's cash.
async fn issue_counter_voucher(
    store: &DynStore,
    institution_id: Uuid,
    product_id: Uuid,
    value: Money,
) -> anyhow::Result<guichet_store::Voucher> {
    use guichet_domain::AccountKind;
    let mut random = [0u8; 10];
    getrandom::fill(&mut random).map_err(|_| anyhow::anyhow!("no randomness"))?;
    let code = guichet_domain::voucher::VoucherCode::generate(random);
    let id = Uuid::now_v7();
    let liability = store
        .ledger_account(
            institution_id,
            AccountKind::VoucherLiability,
            id,
            value.currency(),
        )
        .await?;
    let cash = store
        .ledger_account(
            institution_id,
            AccountKind::Cash,
            institution_id,
            value.currency(),
        )
        .await?;
    let funding = guichet_domain::TransactionBuilder::new(
        "voucher_sale",
        "Bon cadeau vendu au guichet (démo)",
    )
    .debit(cash.id, cash.kind, value)
    .credit(liability.id, liability.kind, value)
    .build()?;
    Ok(store
        .issue_voucher(
            &guichet_store::NewVoucher {
                id,
                institution_id,
                code: code.as_str().to_owned(),
                product_id: Some(product_id),
                face_value: value,
                reusable: true,
                expires_at: time::OffsetDateTime::now_utc() + time::Duration::days(365),
                issued_order_id: None,
            },
            &funding,
        )
        .await?)
}

fn random_password() -> anyhow::Result<String> {
    // 15 bytes = 120 bits, as 20 URL-safe characters.
    let mut bytes = [0u8; 15];
    getrandom::fill(&mut bytes).map_err(|_| anyhow::anyhow!("no randomness"))?;
    Ok(hex::encode(bytes).chars().take(20).collect())
}

pub async fn run(listen: SocketAddr, data_dir: &Path, seed_only: bool) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let data_dir = data_dir
        .canonicalize()
        .with_context(|| format!("resolving {}", data_dir.display()))?;
    // A fresh database each time: the demo must show a known state.
    let db_path = data_dir.join("guichet.db");
    for suffix in ["", "-wal", "-shm"] {
        let p = data_dir.join(format!("guichet.db{suffix}"));
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    let key_path = data_dir.join("master.key");
    if !key_path.exists() {
        std::fs::write(&key_path, MasterKey::generate_hex()? + "\n")
            .with_context(|| format!("writing {}", key_path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    let database_url = format!("sqlite://{}", db_path.display());
    let store = guichet_store::connect(ConnectOptions {
        url: database_url.clone(),
        master_key: MasterKey::from_file(&key_path)?,
        max_connections: 4,
    })
    .await?;
    store.migrate().await?;

    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen} (use --listen to pick another address)"))?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");
    // The provider simulator, built in: its own port, as a real provider is another site.
    let sim_listener = tokio::net::TcpListener::bind((addr.ip(), 0))
        .await
        .context("listening for the provider simulator")?;
    let psp_sim_url = format!("http://{}", sim_listener.local_addr()?);
    let mut sim_config = guichet_psp_sim::SimConfig::default();
    for account in &mut sim_config.ogone_accounts {
        account.feedback_url = Some(format!("{base_url}/psp/ogone/feedback"));
    }
    let simulator = guichet_psp_sim::Simulator::new(sim_config, psp_sim_url.clone());

    let state = AppState {
        store: store.clone(),
        config: Arc::new(ServerConfig::new(base_url.clone())),
    };
    let receiver = guichet_server::webhooks::DemoReceiver::new(Secret::new(
        guichet_server::webhooks::generate_secret()
            .map_err(|e| anyhow::anyhow!("{}", e.message))?,
    ));
    let info = seed(
        &state,
        &base_url,
        &psp_sim_url,
        &database_url,
        receiver.secret(),
    )
    .await?;
    let json_path = data_dir.join("demo.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&info)? + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;

    println!("Guichet demo");
    println!("  service       {}", info.base_url);
    println!("  health        {}/health", info.base_url);
    println!("  API document  {}", info.openapi_url);
    println!(
        "  back office   {}  (API login: POST {}/api/v1/admin/login)",
        info.admin_url, info.base_url
    );
    println!("  admin user    {}", info.admin_user);
    println!("  password      {}", info.admin_password);
    println!("  shop API key  {}", info.shop_api_key);
    println!("  database      {}", info.database_url);
    println!("  provider sim  {}", info.psp_sim_url);
    println!("  written to    {}", json_path.display());
    if seed_only {
        return Ok(ExitCode::SUCCESS);
    }
    tokio::spawn(async move {
        if let Err(e) = simulator.serve(sim_listener).await {
            tracing::error!(error = %e, "the provider simulator stopped");
        }
    });
    let config = ServerConfig::new(base_url);
    crate::serve(store, listener, config, true, Some(receiver)).await?;
    Ok(ExitCode::SUCCESS)
}

fn names(fr: &str, en: &str) -> anyhow::Result<PublicNames> {
    let mut m = BTreeMap::new();
    m.insert("fr".to_owned(), fr.to_owned());
    m.insert("en".to_owned(), en.to_owned());
    PublicNames::parse(&m).map_err(|e| anyhow::anyhow!("{e}"))
}

fn mode(
    code: &str,
    internal: &str,
    fr: &str,
    en: &str,
    t: PaymentModeType,
) -> anyhow::Result<PaymentModeFields> {
    Ok(PaymentModeFields {
        code: PaymentModeCode::parse(code).map_err(|e| anyhow::anyhow!("{e}"))?,
        internal_name: internal.to_owned(),
        public_names: names(fr, en)?,
        mode_type: t,
        status: PaymentModeStatus::Visible,
        predetermined: false,
        available_for_payment: true,
        available_for_refund: true,
        min_order: None,
        max_order: None,
    })
}

async fn contact(
    store: &DynStore,
    institution_id: Uuid,
    first: &str,
    last: &str,
    email: &str,
    deferred_allowed: bool,
    deferred_max_minor: i64,
) -> anyhow::Result<guichet_store::Contact> {
    Ok(store
        .create_contact(&NewContact {
            institution_id,
            external_ref: Some(format!("demo-{}", last.to_lowercase())),
            first_name: first.to_owned(),
            last_name: last.to_owned(),
            email: email.to_owned(),
            language: "fr".to_owned(),
            currency: Currency::EUR,
            deferred_allowed,
            deferred_max: Money::new(deferred_max_minor, Currency::EUR),
        })
        .await?)
}

/// Seeds the demo institution and returns what demo.json tells.
pub async fn seed(
    state: &AppState,
    base_url: &str,
    psp_sim_url: &str,
    database_url: &str,
    webhook_secret: &Secret,
) -> anyhow::Result<DemoInfo> {
    let store = &state.store;
    let inst = store
        .create_institution("Théâtre de démonstration", Currency::EUR)
        .await?;
    let org = store
        .create_organizer(inst.id, "Théâtre de démonstration — programmation")
        .await?;
    let internet = store
        .create_sales_channel(org.id, ChannelKind::Internet, "Internet")
        .await?;
    let box_office = store
        .create_sales_channel(org.id, ChannelKind::BoxOffice, "Guichet")
        .await?;
    let pos_web = store
        .create_point_of_sale(internet.id, "Billetterie en ligne")
        .await?;
    let pos_counter = store
        .create_point_of_sale(box_office.id, "Guichet du théâtre")
        .await?;
    // The mobile application pays through Worldline Sips (its hosted page).
    let mobile = store
        .create_sales_channel(org.id, ChannelKind::Mobile, "Application mobile")
        .await?;
    let pos_mobile = store
        .create_point_of_sale(mobile.id, "Application mobile")
        .await?;

    let mut payment_modes = BTreeMap::new();
    let online = [
        mode(
            "CBWEB",
            "FR * CB WEB",
            "FR * CB WEB",
            "EN * CB WEB",
            PaymentModeType::Card,
        )?,
        mode(
            "BON",
            "Bon cadeau",
            "Bon cadeau",
            "Gift voucher",
            PaymentModeType::Voucher,
        )?,
        mode(
            "AVOIR",
            "Solde avoir",
            "Solde avoir",
            "Credit balance",
            PaymentModeType::CreditBalance,
        )?,
        mode(
            "COMPTE",
            "Compte d'attente",
            "Compte d'attente",
            "Deferred account",
            PaymentModeType::DeferredAccount,
        )?,
    ];
    for fields in &online {
        let m = store.create_payment_mode(inst.id, fields).await?;
        store.associate_payment_mode(pos_web.id, m.id).await?;
        store.associate_payment_mode(pos_mobile.id, m.id).await?;
        payment_modes.insert(fields.code.as_str().to_owned(), m.id);
    }
    // Vouchers are usable at the counter too (F3).
    store
        .associate_payment_mode(pos_counter.id, payment_modes["BON"])
        .await?;

    // The internet channel's payment system: Ogone with the simulator's public test merchant
    // (API.md, psp-sim). Its secrets are sealed at rest like any real merchant's.
    let mut settings = BTreeMap::new();
    settings.insert("userid".to_owned(), "API".to_owned());
    settings.insert("hash_algorithm".to_owned(), "SHA-512".to_owned());
    let mut credentials = BTreeMap::new();
    credentials.insert("password".to_owned(), Secret::new("guichet-test"));
    credentials.insert("sha_in".to_owned(), Secret::new("Mysecretsig1875!?"));
    credentials.insert("sha_out".to_owned(), Secret::new("Mysecretsig1875!?"));
    store
        .put_payment_system(
            internet.id,
            &PaymentSystemInput {
                provider: ProviderKind::Ogone,
                label: "Ogone Hidden POST (ePC) v6u2 — simulator".to_owned(),
                base_url: format!("{psp_sim_url}/ncol/test"),
                merchant_id: "GUICHETTEST".to_owned(),
                settings,
                credentials,
                card_saving_enabled: true,
                cvv_on_saved_cards: true,
                max_saved_cards: 5,
                three_ds_policy: ThreeDsPolicy::CloseToEvent,
                three_ds_days: 3,
            },
        )
        .await?;

    // The mobile channel's: Sips 2.0 with the simulator's public test merchant.
    let mut settings = BTreeMap::new();
    settings.insert("key_version".to_owned(), "1".to_owned());
    let mut credentials = BTreeMap::new();
    credentials.insert("secret_key".to_owned(), Secret::new("002001000000001_KEY1"));
    store
        .put_payment_system(
            mobile.id,
            &PaymentSystemInput {
                provider: ProviderKind::Sips,
                label: "Worldline Sips 2.0 Paypage — simulator".to_owned(),
                base_url: psp_sim_url.to_owned(),
                merchant_id: "002001000000001".to_owned(),
                settings,
                credentials,
                card_saving_enabled: false,
                cvv_on_saved_cards: true,
                max_saved_cards: 5,
                three_ds_policy: ThreeDsPolicy::CloseToEvent,
                three_ds_days: 3,
            },
        )
        .await?;

    let karin = contact(
        store,
        inst.id,
        "Karin",
        "DEU",
        "karin.deu@example.org",
        true,
        20_000,
    )
    .await?; // 200.00 EUR maximum outstanding
    let anne = contact(
        store,
        inst.id,
        "Anne",
        "LICATESE",
        "anne.licatese@secutixtest.com",
        false,
        0,
    )
    .await?;
    let claudio = contact(
        store,
        inst.id,
        "Claudio",
        "PIMPAO",
        "claudio.pimpao@example.org",
        false,
        0,
    )
    .await?;
    guichet_server::admin::contacts::post_credit_adjustment(
        state,
        &karin,
        Money::new(1_500, Currency::EUR),
        "Avoir d'ouverture (démo)",
    )
    .await
    .map_err(|e| anyhow::anyhow!("crediting Karin: {}", e.message))?;
    let mut contacts = BTreeMap::new();
    contacts.insert("karin".to_owned(), karin.id);
    contacts.insert("anne".to_owned(), anne.id);
    contacts.insert("claudio".to_owned(), claudio.id);

    let admin_password = random_password()?;
    let hash = guichet_server::auth::hash_password(&admin_password)
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    store.create_user("admin", &hash, Role::Admin).await?;

    let shop_api_key = guichet_server::auth::random_token(guichet_server::auth::SHOP_KEY_PREFIX)
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let prefix: String = shop_api_key
        .chars()
        .take(guichet_server::auth::SHOP_KEY_SHOWN)
        .collect();
    let shop_key = store
        .create_shop_key(
            inst.id,
            "Boutique de démonstration",
            &prefix,
            &guichet_server::auth::sha256_hex(&shop_api_key),
        )
        .await?;
    // The shop's webhooks go to the demo's own receiver page, which shows what a shop gets.
    let webhook_receiver_url =
        format!("{base_url}{}", guichet_server::webhooks::DemoReceiver::PATH);
    store
        .set_shop_webhook(
            shop_key.id,
            Some(&guichet_store::WebhookEndpoint {
                url: webhook_receiver_url.clone(),
                secret: webhook_secret.clone(),
            }),
        )
        .await?;

    // Promo code of the seed's screen: "Nouveaux venus", 5 % on the whole order.
    let nouveaux_venus = guichet_domain::promo::PromoCode::parse("NOUVEAUX-VENUS")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    store
        .create_promo_code(
            inst.id,
            &guichet_store::NewPromoCode {
                code: nouveaux_venus.as_str().to_owned(),
                label: "Nouveaux venus".to_owned(),
                rule: guichet_domain::promo::PromoRule {
                    kind: guichet_domain::promo::PromoKind::DiscountCode,
                    discount: guichet_domain::promo::Discount::Percent { basis_points: 500 },
                    valid_from: None,
                    valid_until: None,
                    channels: Vec::new(),
                    max_uses_total: None,
                    max_uses_per_contact: None,
                    min_order: None,
                },
                batch_id: None,
            },
        )
        .await?;
    let mut promo_codes = BTreeMap::new();
    promo_codes.insert(
        "nouveaux_venus".to_owned(),
        nouveaux_venus.as_str().to_owned(),
    );

    // A gift voucher product, and one voucher of 20.00 EUR sold at the counter.
    let twenty = Money::new(2_000, Currency::EUR);
    let product = store
        .create_voucher_product(
            inst.id,
            "Bon cadeau 20 €",
            Currency::EUR,
            &guichet_domain::voucher::VoucherProductRule {
                value: guichet_domain::voucher::VoucherValue::Fixed {
                    value: twenty,
                    price: twenty,
                },
                validity: guichet_domain::voucher::VoucherValidity::Days(365),
                reusable: true,
            },
        )
        .await?;
    let voucher = issue_counter_voucher(store, inst.id, product.id, twenty).await?;
    let vouchers = vec![serde_json::json!({
        "code": voucher.code,
        "balance_minor": voucher.balance.amount_minor(),
    })];

    // Events in 2, 20 and 100 days, at 20:00 Paris time (UTC+01:00 in winter).
    let today = time::OffsetDateTime::now_utc()
        .to_offset(time::macros::offset!(+1))
        .replace_time(time::macros::time!(20:00));
    let events = [(2, "Le Misanthrope"), (20, "La Flûte enchantée"), (100, "Cyrano de Bergerac")]
        .iter()
        .enumerate()
        .map(|(i, (days, name))| {
            let starts_at = today + time::Duration::days(*days);
            serde_json::json!({
                "id": format!("EV-{}", i + 1),
                "name": name,
                "starts_at": starts_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            })
        })
        .collect();

    let mut points_of_sale = BTreeMap::new();
    points_of_sale.insert("internet".to_owned(), pos_web.id);
    points_of_sale.insert("box_office".to_owned(), pos_counter.id);
    points_of_sale.insert("mobile".to_owned(), pos_mobile.id);
    let mut sales_channels = BTreeMap::new();
    sales_channels.insert("internet".to_owned(), internet.id);
    sales_channels.insert("box_office".to_owned(), box_office.id);
    sales_channels.insert("mobile".to_owned(), mobile.id);

    Ok(DemoInfo {
        base_url: base_url.to_owned(),
        psp_sim_url: psp_sim_url.to_owned(),
        admin_url: format!("{base_url}/api/v1/admin"),
        openapi_url: format!("{base_url}/api/openapi.json"),
        database_url: database_url.to_owned(),
        shop_api_key,
        admin_user: "admin".to_owned(),
        admin_password,
        institution: inst.id,
        points_of_sale,
        sales_channels,
        payment_modes,
        contacts,
        promo_codes,
        vouchers,
        events,
        voucher_products: [("bon_cadeau_20".to_owned(), product.id)]
            .into_iter()
            .collect(),
        webhook_receiver_url,
    })
}
