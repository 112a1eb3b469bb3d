//! Test harness: a simulator on a real socket, a reqwest client that does not follow
//! redirects, a tiny receiver for feedback and automatic responses, and signing helpers.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::post;
use base64::Engine as _;
use guichet_psp::ogone::signature::{HashAlgorithm, sha_in, verify_sha_out};
use guichet_psp::sips::seal::json_seal;
use guichet_psp_sim::{SimConfig, Simulator};
use serde_json::Value;

pub const PSPID: &str = "GUICHETTEST";
pub const USERID: &str = "API";
pub const PSWD: &str = "guichet-test";
pub const PASSPHRASE: &str = "Mysecretsig1875!?";
pub const ALG: HashAlgorithm = HashAlgorithm::Sha512;
pub const MERCHANT: &str = "002001000000001";
pub const SIPS_KEY: &str = "002001000000001_KEY1";

pub type Form = Vec<(String, String)>;

/// Feedback and automatic responses received, by path (`feedback`, `auto`).
#[derive(Clone, Default)]
pub struct Inbox {
    messages: Arc<Mutex<Vec<(String, Form)>>>,
}

impl Inbox {
    pub fn all(&self, path: &str) -> Vec<Form> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, f)| f.clone())
            .collect()
    }

    /// Waits until `n` messages arrived on `path` (or the time is up) and returns them all.
    pub async fn wait(&self, path: &str, n: usize, within: Duration) -> Vec<Form> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.all(path);
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn receive(
    State(inbox): State<Inbox>,
    Path(path): Path<String>,
    body: Bytes,
) -> &'static str {
    let form: Form = url::form_urlencoded::parse(&body).into_owned().collect();
    inbox.messages.lock().unwrap().push((path, form));
    "OK"
}

pub struct Harness {
    pub sim: Simulator,
    pub base: String,
    pub client: reqwest::Client,
    pub inbox: Inbox,
    /// Where the receiver listens: `{receiver}/feedback`, `{receiver}/auto`.
    pub receiver: String,
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A simulator with the default merchants, a 1 s hang, and Ogone feedback sent to the
/// receiver.
pub async fn start() -> Harness {
    start_with(|_| {}).await
}

pub async fn start_with(adjust: impl FnOnce(&mut SimConfig)) -> Harness {
    let inbox = Inbox::default();
    let app = Router::new()
        .route("/{path}", post(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut config = SimConfig {
        hang: Duration::from_millis(1500),
        ..SimConfig::default()
    };
    config.ogone_accounts[0].feedback_url = Some(format!("{receiver}/feedback"));
    adjust(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let sim = Simulator::new(config, base.clone());
    tokio::spawn(sim.clone().serve(listener));
    Harness {
        sim,
        base,
        client: client(),
        inbox,
        receiver,
    }
}

pub fn owned(fields: &[(&str, &str)]) -> Form {
    fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn refs(form: &Form) -> Vec<(&str, &str)> {
    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The form with `SHASIGN` = SHA-IN over every field.
pub fn sign_in(fields: &[(&str, &str)]) -> Form {
    let mut form = owned(fields);
    let sign = sha_in(&refs(&form), PASSPHRASE, ALG);
    form.push(("SHASIGN".into(), sign));
    form
}

/// Whether the SHA-OUT `SHASIGN` of these parameters is right.
pub fn sha_out_ok(params: &Form) -> bool {
    let given = value(params, "SHASIGN").unwrap_or_default();
    verify_sha_out(&refs(params), PASSPHRASE, ALG, &given)
}

pub fn value(params: &Form, name: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

pub fn query_of(location: &str) -> Form {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs().into_owned().collect()
}

impl Harness {
    pub fn ogone(&self, page: &str) -> String {
        format!("{}/ncol/test/{page}", self.base)
    }

    /// POSTs a DirectLink form (signed with SHA-IN) and returns the raw XML.
    pub async fn direct_raw(&self, page: &str, fields: &[(&str, &str)]) -> String {
        let response = self
            .client
            .post(self.ogone(page))
            .form(&sign_in(fields))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(content_type, "text/xml; charset=utf-8");
        response.text().await.unwrap()
    }

    pub async fn direct(&self, page: &str, fields: &[(&str, &str)]) -> Nc {
        let xml = self.direct_raw(page, fields).await;
        parse_nc(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"))
    }

    /// The Alias Gateway: card fields unsigned, the rest signed. Returns the redirect.
    pub async fn alias_gateway(
        &self,
        signed: &[(&str, &str)],
        card: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut signed_form = owned(signed);
        let sign = sha_in(&refs(&signed_form), PASSPHRASE, ALG);
        signed_form.push(("SHASIGN".into(), sign));
        signed_form.extend(owned(card));
        self.client
            .post(self.ogone("alias_gateway_utf8.asp"))
            .form(&signed_form)
            .send()
            .await
            .unwrap()
    }

    /// Creates an alias for a card; panics unless accepted.
    pub async fn alias(&self, number: &str, cvc: &str) -> String {
        let response = self
            .alias_gateway(
                &[
                    ("PSPID", PSPID),
                    ("ORDERID", "alias-order"),
                    ("ACCEPTURL", "http://shop.test/accept"),
                    ("EXCEPTIONURL", "http://shop.test/exception"),
                    ("ALIASPERSISTEDAFTERUSE", "Y"),
                ],
                &[
                    ("CN", "Karin Deu"),
                    ("CARDNO", number),
                    ("ED", "1239"),
                    ("CVC", cvc),
                ],
            )
            .await;
        assert_eq!(response.status(), 303);
        let location = location(&response);
        assert!(
            location.starts_with("http://shop.test/accept?"),
            "{location}"
        );
        let params = query_of(&location);
        assert!(sha_out_ok(&params));
        value(&params, "ALIAS").unwrap()
    }

    /// orderdirect with an alias.
    pub async fn pay(&self, order_id: &str, alias: &str, extra: &[(&str, &str)]) -> Nc {
        let mut fields = vec![
            ("PSPID", PSPID),
            ("USERID", USERID),
            ("PSWD", PSWD),
            ("ORDERID", order_id),
            ("AMOUNT", "1500"),
            ("CURRENCY", "EUR"),
            ("ALIAS", alias),
            ("OPERATION", "SAL"),
            ("ECI", "7"),
        ];
        for (k, v) in extra {
            match fields.iter_mut().find(|(name, _)| name == k) {
                Some(slot) => slot.1 = v,
                None => fields.push((k, v)),
            }
        }
        self.direct("orderdirect.asp", &fields).await
    }

    pub async fn query(&self, extra: &[(&str, &str)]) -> Nc {
        let mut fields = vec![("PSPID", PSPID), ("USERID", USERID), ("PSWD", PSWD)];
        fields.extend_from_slice(extra);
        self.direct("querydirect.asp", &fields).await
    }

    pub async fn maintain(&self, payid: &str, operation: &str, amount: &str) -> Nc {
        let mut fields = vec![
            ("PSPID", PSPID),
            ("USERID", USERID),
            ("PSWD", PSWD),
            ("PAYID", payid),
            ("OPERATION", operation),
            ("CURRENCY", "EUR"),
        ];
        if !amount.is_empty() {
            fields.push(("AMOUNT", amount));
        }
        self.direct("maintenancedirect.asp", &fields).await
    }

    pub async fn transactions(&self) -> Vec<Value> {
        let v: Value = self
            .client
            .get(format!("{}/__sim/transactions", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v.as_array().unwrap().clone()
    }

    pub async fn admin(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}/__sim/{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn fault(&self, body: Value) {
        let response = self.admin("faults", body).await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    }

    /// A sealed Sips JSON request (keyVersion 1, HMAC-SHA-256 seal).
    pub async fn sips(&self, path: &str, mut body: Value) -> Value {
        let raw = self
            .sips_raw(path, {
                body["keyVersion"] = Value::from(1);
                let seal = json_seal(&body, SIPS_KEY).unwrap();
                body["seal"] = Value::from(seal);
                body
            })
            .await;
        serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{e}: {raw}"))
    }

    pub async fn sips_raw(&self, path: &str, body: Value) -> String {
        let response = self
            .client
            .post(format!("{}/rs-services/v2/{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The `action` of the first form of a page and its hidden fields.
pub fn form_of(html: &str) -> (String, Form) {
    let start = html.find("<form").expect("a form");
    let rest = &html[start..];
    let action_at = rest.find("action=\"").expect("an action") + "action=\"".len();
    let action_end = rest[action_at..].find('"').unwrap();
    let action = unescape(&rest[action_at..action_at + action_end]);
    let mut fields = Vec::new();
    let marker = "<input type=\"hidden\" name=\"";
    let mut cursor = rest;
    while let Some(at) = cursor.find(marker) {
        cursor = &cursor[at + marker.len()..];
        let name_end = cursor.find('"').unwrap();
        let name = unescape(&cursor[..name_end]);
        let value_at = cursor.find("value=\"").unwrap() + "value=\"".len();
        let value_end = cursor[value_at..].find('"').unwrap();
        let value = unescape(&cursor[value_at..value_at + value_end]);
        fields.push((name, value));
        cursor = &cursor[value_at + value_end..];
    }
    (action, fields)
}

/// A DirectLink `<ncresponse>`, read strictly enough to notice a truncated reply. (Kept here
/// rather than borrowed from the connector, so the simulator's tests stand on their own.)
#[derive(Debug, Clone)]
pub struct Nc {
    pub attributes: Form,
    pub status: u16,
    pub order_id: Option<String>,
    pub pay_id: Option<String>,
    pub pay_id_sub: Option<String>,
    pub nc_error: Option<String>,
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub brand: Option<String>,
    pub pm: Option<String>,
    pub eci: Option<String>,
    pub alias: Option<String>,
    /// `HTML_ANSWER`, base64-decoded.
    pub html_answer: Option<String>,
}

pub fn parse_nc(xml: &str) -> Result<Nc, String> {
    let body = xml
        .strip_prefix("<?xml version=\"1.0\"?>")
        .ok_or("no XML declaration")?;
    let body = body
        .trim_end()
        .strip_suffix("</ncresponse>")
        .ok_or("truncated: no </ncresponse>")?;
    let body = body
        .strip_prefix("<ncresponse")
        .ok_or("root is not ncresponse")?;
    let tag_end = body.find('>').ok_or("unclosed start tag")?;
    let (tag, children) = (&body[..tag_end], &body[tag_end + 1..]);
    let mut attributes = Vec::new();
    let mut rest = tag.trim_start();
    while !rest.is_empty() {
        let eq = rest.find("=\"").ok_or("attribute without value")?;
        let name = rest[..eq].trim().to_owned();
        let after = &rest[eq + 2..];
        let close = after.find('"').ok_or("unclosed attribute")?;
        attributes.push((name, unescape(&after[..close])));
        rest = after[close + 1..].trim_start();
    }
    let html_answer = match children.trim() {
        "" => None,
        child => {
            let b64 = child
                .strip_prefix("<HTML_ANSWER>")
                .and_then(|c| c.strip_suffix("</HTML_ANSWER>"))
                .ok_or("unexpected child element")?;
            let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|e| e.to_string())?;
            Some(String::from_utf8(bytes).map_err(|e| e.to_string())?)
        }
    };
    let get = |name: &str| {
        attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let status = get("STATUS")
        .ok_or("no STATUS")?
        .parse()
        .map_err(|_| "STATUS not a number")?;
    Ok(Nc {
        status,
        order_id: get("orderID"),
        pay_id: get("PAYID"),
        pay_id_sub: get("PAYIDSUB"),
        nc_error: get("NCERROR"),
        amount: get("amount"),
        currency: get("currency"),
        brand: get("BRAND"),
        pm: get("PM"),
        eci: get("ECI"),
        alias: get("ALIAS"),
        html_answer,
        attributes,
    })
}
