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

    let state = AppState {
        store: store.clone(),
        config: Arc::new(ServerConfig {
            base_url: base_url.clone(),
        }),
    };
    let info = seed(&state, &base_url, &database_url).await?;
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
    println!("  written to    {}", json_path.display());
    if seed_only {
        return Ok(ExitCode::SUCCESS);
    }
    crate::serve(store, listener, base_url).await?;
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

/// Seeds the demo institution (issue 2's list) and returns what demo.json tells.
pub async fn seed(
    state: &AppState,
    base_url: &str,
    database_url: &str,
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
                base_url: format!("{base_url}/psp-sim/ncol/test"),
                merchant_id: "GUICHETTEST".to_owned(),
                settings,
                credentials,
                card_saving_enabled: true,
                cvv_on_saved_cards: true,
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
    store
        .create_shop_key(
            inst.id,
            "Boutique de démonstration",
            &prefix,
            &guichet_server::auth::sha256_hex(&shop_api_key),
        )
        .await?;

    let mut points_of_sale = BTreeMap::new();
    points_of_sale.insert("internet".to_owned(), pos_web.id);
    points_of_sale.insert("box_office".to_owned(), pos_counter.id);
    let mut sales_channels = BTreeMap::new();
    sales_channels.insert("internet".to_owned(), internet.id);
    sales_channels.insert("box_office".to_owned(), box_office.id);

    Ok(DemoInfo {
        base_url: base_url.to_owned(),
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
        promo_codes: BTreeMap::new(),
        vouchers: Vec::new(),
        events: Vec::new(),
    })
}
