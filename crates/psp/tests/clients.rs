//! The DirectLink and Sips clients against a tiny axum server (plain HTTP on 127.0.0.1:0) that
//! answers canned replies: a well-formed reply is parsed; a reply that never comes gives
//! `Timeout`; 503 gives `HttpStatus(503)`; garbage gives `Malformed`; a reply cut short gives
//! `Interrupted`; a closed port gives `NotSent`; a Sips reply with a wrong or missing seal gives
//! `BadSeal`.
//!
//! Transport: `reqwest::Client` cannot be built in this crate's tests (reqwest is compiled with
//! `rustls-no-provider` and the crate has no rustls dependency to install a crypto provider),
//! so the clients run over `RawHttp`, a minimal HTTP/1.1 implementation of the crate's public
//! `Transport` trait that follows the same contract (NotSent only when the connection was
//! never established).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use guichet_psp::call::{BoxFuture, CallError, HttpReply, HttpRequest, MAX_REPLY_BYTES, Transport};
use guichet_psp::card::{CardExpiry, MaskedCardNumber};
use guichet_psp::ogone::Credentials as OgoneCredentials;
use guichet_psp::ogone::alias::{
    AliasStatus, AliasUpdateError, AliasUpdateRequest, verify_alias_gateway_sha_in,
};
use guichet_psp::ogone::alias_delete::{AliasDeleteOutcome, AliasDeleteRequest};
use guichet_psp::ogone::client::DirectLink;
use guichet_psp::ogone::directlink::{
    Eci, MaintenanceOperation, MaintenanceRequest, Operation, OrderDirectRequest, Outcome,
    Password, QueryOutcome, QueryRequest,
};
use guichet_psp::ogone::params::VerifyError;
use guichet_psp::ogone::signature::{HashAlgorithm, sha_out, verify_sha_in};
use guichet_psp::sips::Credentials as SipsCredentials;
use guichet_psp::sips::client::Sips;
use guichet_psp::sips::office::{
    CashManagementRequest, GetTransactionDataRequest, TransactionStatus,
};
use guichet_psp::sips::paypage::PaymentInitRequest;
use guichet_psp::sips::seal::{json_seal, verify_json_seal};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_millis(200);
const SIPS_KEY: &str = "002001000000001_KEY1";
const OGONE_PASS: &str = "Mysecretsig1875!?";

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 transport
// ---------------------------------------------------------------------------------------------

struct RawHttp;

impl Transport for RawHttp {
    fn post(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpReply, CallError>> {
        Box::pin(async move {
            match tokio::time::timeout(request.timeout, exchange(&request)).await {
                Ok(result) => result,
                Err(_) => Err(CallError::Timeout),
            }
        })
    }
}

async fn exchange(request: &HttpRequest) -> Result<HttpReply, CallError> {
    let url = &request.url;
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let mut stream = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| CallError::NotSent(e.to_string()))?;
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {}\r\nAccept: {}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        request.content_type,
        request.accept,
        request.body.len()
    );
    let interrupted = |e: std::io::Error| CallError::Interrupted(e.to_string());
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(interrupted)?;
    stream.write_all(&request.body).await.map_err(interrupted)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.map_err(interrupted)?;
    parse_reply(&raw)
}

fn parse_reply(raw: &[u8]) -> Result<HttpReply, CallError> {
    let cut = |what: &str| CallError::Interrupted(format!("reply cut short: {what}"));
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| cut("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| cut("headers not text"))?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| cut("no status line"))?;
    let mut content_type = None;
    let mut location = None;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-type" => content_type = Some(value.to_owned()),
            "location" => location = Some(value.to_owned()),
            "content-length" => length = value.parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    let rest = &raw[end + 4..];
    let body = if chunked {
        dechunk(rest).ok_or_else(|| cut("bad chunked body"))?
    } else if let Some(n) = length {
        if rest.len() < n {
            return Err(cut("shorter than Content-Length"));
        }
        rest[..n].to_vec()
    } else {
        rest.to_vec()
    };
    if body.len() > MAX_REPLY_BYTES {
        return Err(CallError::Malformed("reply too large".into()));
    }
    Ok(HttpReply {
        status,
        content_type,
        body,
        location,
    })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..eol]).ok()?.trim(), 16).ok()?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

// ---------------------------------------------------------------------------------------------
// The canned server: `/{mode}/{*path}`
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    content_type: String,
    body: Vec<u8>,
}

#[derive(Clone, Default)]
struct Server {
    seen: Arc<Mutex<Vec<Recorded>>>,
}

const NCRESPONSE_CAPTURED: &str = r#"<?xml version="1.0"?><ncresponse orderID="G-42" PAYID="3014726" NCSTATUS="0" NCERROR="0" NCERRORPLUS="!" ACCEPTANCE="test123" STATUS="9" amount="19.99" currency="EUR" PM="CreditCard" BRAND="VISA" CARDNO="XXXXXXXXXXXX1111" ED="1230" ECI="9" ALIAS="A1B2C3"></ncresponse>"#;
const NCRESPONSE_REFUND: &str = r#"<?xml version="1.0"?><ncresponse orderID="G-42" PAYID="3014726" PAYIDSUB="2" NCSTATUS="0" NCERROR="0" NCERRORPLUS="!" STATUS="81" amount="4.5" currency="EUR"></ncresponse>"#;
const NCRESPONSE_ALIAS_DELETED: &str = r#"<?xml version="1.0"?><ncresponse ALIAS="A1B2C3" NCSTATUS="0" NCERROR="0" NCERRORPLUS="!" STATUS="7"></ncresponse>"#;
const NCRESPONSE_ALIAS_UNKNOWN: &str = r#"<?xml version="1.0"?><ncresponse ALIAS="A1B2C3" NCSTATUS="5" NCERROR="50001130" NCERRORPLUS="unknown alias" STATUS="0"></ncresponse>"#;
const NCRESPONSE_UNKNOWN: &str = r#"<?xml version="1.0"?><ncresponse orderID="G-43" PAYID="0" NCSTATUS="5" NCERROR="50001130" NCERRORPLUS="unknown order" STATUS="0"></ncresponse>"#;

fn sealed(mut m: Value, key: &str) -> String {
    m["seal"] = json!(json_seal(&m, key).unwrap());
    m.to_string()
}

fn sips_reply(path: &str, key: &str) -> String {
    if path.ends_with("paymentInit") {
        sealed(
            json!({
                "redirectionStatusCode": "00",
                "redirectionStatusMessage": "INITIALISATION REQUEST ACCEPTED",
                "redirectionUrl": "http://127.0.0.1/paymentprovider/init",
                "redirectionVersion": "IR_WS_2.35",
                "redirectionData": "tok123",
            }),
            key,
        )
    } else if path.ends_with("getTransactionData") {
        sealed(
            json!({
                "responseCode": "00",
                "transactionReference": "G42A1",
                "transactionStatus": "CAPTURED",
                "amount": 1999,
                "currentAmount": 1499,
                "currencyCode": "978",
                "maskedPan": "411111######1111",
            }),
            key,
        )
    } else {
        sealed(
            json!({
                "responseCode": "00",
                "acquirerResponseCode": "00",
                "newAmount": 1499,
                "newStatus": "CAPTURED",
            }),
            key,
        )
    }
}

/// The Alias Gateway's answer to an alias update: `303` to ACCEPTURL with the stored card
/// (new ED and CN from the form), signed with `sha_out_pass`.
fn alias_update_redirect(body: &[u8], sha_out_pass: &str) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let get = |n: &str| {
        form.iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let fields = [
        ("ORDERID", get("ORDERID")),
        ("ALIAS", get("ALIAS")),
        ("BRAND", "VISA".to_owned()),
        ("CARDNO", get("CARDNO")),
        ("CN", get("CN")),
        ("ED", get("ED")),
        ("STATUS", "2".to_owned()),
        ("NCERROR", "0".to_owned()),
        ("NCERRORCARDNO", "0".to_owned()),
        ("NCERRORCN", "0".to_owned()),
        ("NCERRORCVC", "0".to_owned()),
        ("NCERRORED", "0".to_owned()),
    ];
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let sign = sha_out(&refs, sha_out_pass, HashAlgorithm::Sha512);
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(refs);
    query.append_pair("SHASIGN", &sign);
    let location = format!("{}?{}", get("ACCEPTURL"), query.finish());
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_str(&location).unwrap());
    r
}

async fn handler(
    State(server): State<Server>,
    Path((mode, path)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    server.seen.lock().unwrap().push(Recorded {
        path: format!("/{mode}/{path}"),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        body: body.to_vec(),
    });
    let xml = |s: &str| {
        (
            [(header::CONTENT_TYPE, "text/xml; charset=iso-8859-1")],
            s.to_owned(),
        )
            .into_response()
    };
    let json_reply = |s: String| ([(header::CONTENT_TYPE, "application/json")], s).into_response();
    match mode.as_str() {
        "ok" if path.ends_with("orderdirect_utf8.asp") => xml(NCRESPONSE_CAPTURED),
        "ok" if path.ends_with("maintenancedirect.asp") => xml(NCRESPONSE_REFUND),
        "ok" if path.ends_with("querydirect_utf8.asp") => xml(NCRESPONSE_UNKNOWN),
        "ok" if path.ends_with("aliasdirect_utf8.asp") => xml(NCRESPONSE_ALIAS_DELETED),
        "ok" if path.ends_with("alias_gateway_utf8.asp") => {
            alias_update_redirect(&body, OGONE_PASS)
        }
        "gone" => xml(NCRESPONSE_ALIAS_UNKNOWN),
        "badsha" => alias_update_redirect(&body, "not-the-sha-out"),
        "nolocation" => StatusCode::SEE_OTHER.into_response(),
        "ok" => json_reply(sips_reply(&path, SIPS_KEY)),
        "badseal" => json_reply(sips_reply(&path, "002001000000001_KEY2")),
        "unsealed" => json_reply(r#"{"responseCode":"03"}"#.to_owned()),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            xml(NCRESPONSE_CAPTURED)
        }
        "unavailable" => (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response(),
        "garbage" => (
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Internal error</body></html>",
        )
            .into_response(),
        "truncated" => xml(&NCRESPONSE_CAPTURED[..NCRESPONSE_CAPTURED.len() / 2]),
        "lost" => {
            // A stream with no size hint, so the announced length is kept and never met.
            let mut r = Response::new(Body::from_stream(Body::empty().into_data_stream()));
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from_static("4096"));
            r
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn start() -> (String, Server) {
    let server = Server::default();
    let app = Router::new()
        .route("/{mode}/{*path}", post(handler))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), server)
}

/// A port nobody listens on.
async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

fn transport() -> Arc<dyn Transport> {
    Arc::new(RawHttp)
}

fn ogone_creds() -> OgoneCredentials {
    OgoneCredentials::new(
        "GUICHETTEST",
        "API",
        "guichet-test",
        OGONE_PASS,
        OGONE_PASS,
        HashAlgorithm::Sha512,
    )
}

fn order() -> OrderDirectRequest {
    OrderDirectRequest {
        pspid: String::new(),
        userid: String::new(),
        pswd: Password(String::new()),
        order_id: "G-42".into(),
        amount_cents: 1999,
        currency: "EUR".into(),
        alias: "A1B2C3".into(),
        alias_usage: None,
        operation: Operation::Sale,
        eci: Eci::RecurringAfterEcommerce,
        flag3d: false,
        win3ds: None,
        accept_url: None,
        decline_url: None,
        exception_url: None,
        browser: None,
        language: None,
        remote_addr: None,
        param_plus: None,
        complus: None,
    }
}

fn directlink(base: &str, mode: &str) -> DirectLink {
    DirectLink::with_transport(transport(), &format!("{base}/{mode}/ncol/test/"), TIMEOUT).unwrap()
}

fn form_of(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

// ---------------------------------------------------------------------------------------------
// Ogone DirectLink
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn ogone_order_reply_is_parsed() {
    let (base, server) = start().await;
    let reply = directlink(&base, "ok")
        .order(&order(), &ogone_creds())
        .await
        .unwrap();
    assert_eq!(reply.outcome(), Outcome::Captured);
    assert_eq!(reply.pay_id.as_deref(), Some("3014726"));
    assert_eq!(reply.amount_minor(), Ok(Some(1999)));
    assert_eq!(reply.card_number.unwrap().as_str(), "XXXXXXXXXXXX1111");

    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/ok/ncol/test/orderdirect_utf8.asp");
    assert!(
        seen[0]
            .content_type
            .starts_with("application/x-www-form-urlencoded")
    );
    let form = form_of(&seen[0].body);
    let names: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "PSPID",
            "USERID",
            "PSWD",
            "ORDERID",
            "AMOUNT",
            "CURRENCY",
            "ALIAS",
            "OPERATION",
            "ECI",
            "SHASIGN"
        ]
    );
    assert_eq!(form[0].1, "GUICHETTEST");
    assert_eq!(form[2].1, "guichet-test");
    assert_eq!(form[4].1, "1999");
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert!(verify_sha_in(
        &refs,
        OGONE_PASS,
        HashAlgorithm::Sha512,
        &form[9].1
    ));
}

#[tokio::test]
async fn ogone_maintenance_and_query() {
    let (base, server) = start().await;
    let client = directlink(&base, "ok");
    let refund = MaintenanceRequest {
        pay_id: "3014726".into(),
        operation: MaintenanceOperation::Refund,
        amount_minor: 450,
        currency: "EUR".into(),
    };
    let reply = client.maintenance(&refund, &ogone_creds()).await.unwrap();
    assert_eq!(reply.outcome(), Outcome::RefundPending);
    assert_eq!(reply.pay_id_sub.as_deref(), Some("2"));
    assert_eq!(reply.amount_minor(), Ok(Some(450)));

    let reply = client
        .query(&QueryRequest::by_order_id("G-43"), &ogone_creds())
        .await
        .unwrap();
    assert_eq!(reply.query_outcome(), QueryOutcome::NotReceived);

    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen[0].path, "/ok/ncol/test/maintenancedirect.asp");
    let form = form_of(&seen[0].body);
    assert!(form.contains(&("OPERATION".into(), "RFD".into())));
    assert!(form.contains(&("AMOUNT".into(), "450".into())));
    assert_eq!(seen[1].path, "/ok/ncol/test/querydirect_utf8.asp");
    assert!(form_of(&seen[1].body).contains(&("ORDERID".into(), "G-43".into())));
}

#[tokio::test]
async fn ogone_no_reply_within_the_timeout() {
    let (base, _server) = start().await;
    let started = Instant::now();
    let err = directlink(&base, "slow")
        .order(&order(), &ogone_creds())
        .await
        .unwrap_err();
    assert_eq!(err, CallError::Timeout);
    assert!(err.may_have_reached_provider());
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn ogone_http_status_garbage_and_lost_replies() {
    let (base, _server) = start().await;
    let creds = ogone_creds();
    assert_eq!(
        directlink(&base, "unavailable")
            .order(&order(), &creds)
            .await,
        Err(CallError::HttpStatus(503))
    );
    assert!(matches!(
        directlink(&base, "garbage").order(&order(), &creds).await,
        Err(CallError::Malformed(_))
    ));
    assert!(matches!(
        directlink(&base, "truncated").order(&order(), &creds).await,
        Err(CallError::Malformed(_))
    ));
    let lost = directlink(&base, "lost").order(&order(), &creds).await;
    assert!(matches!(lost, Err(CallError::Interrupted(_))), "{lost:?}");
    assert!(lost.unwrap_err().may_have_reached_provider());
}

#[tokio::test]
async fn ogone_closed_port_is_not_sent() {
    let base = closed_port().await;
    let err = directlink(&base, "ok")
        .order(&order(), &ogone_creds())
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::NotSent(_)), "{err:?}");
    assert!(!err.may_have_reached_provider());
}

// ---------------------------------------------------------------------------------------------
// Ogone saved cards: alias update and deletion
// ---------------------------------------------------------------------------------------------

fn alias_update() -> AliasUpdateRequest {
    AliasUpdateRequest::new(
        "G-upd-1",
        "A1B2C3",
        MaskedCardNumber::parse("XXXXXXXXXXXX1111").unwrap(),
        CardExpiry::new(1, 2031).unwrap(),
        "Jane Q. Doe",
        "https://guichet.example/ogone/alias-update",
        "https://guichet.example/ogone/alias-update",
    )
}

#[tokio::test]
async fn ogone_alias_update_reads_the_redirect_without_following_it() {
    let (base, server) = start().await;
    let updated = directlink(&base, "ok")
        .update_alias(&alias_update(), &ogone_creds())
        .await
        .unwrap();
    assert_eq!(updated.status, AliasStatus::Updated);
    assert_eq!(updated.alias, "A1B2C3");
    assert_eq!(updated.expiry, CardExpiry::new(1, 2031).unwrap());
    assert_eq!(updated.holder, "Jane Q. Doe");
    assert_eq!(updated.card_number.unwrap().as_str(), "XXXXXXXXXXXX1111");

    // One POST, to the gateway; nothing fetched at the ACCEPTURL.
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/ok/ncol/test/alias_gateway_utf8.asp");
    assert!(
        seen[0]
            .content_type
            .starts_with("application/x-www-form-urlencoded")
    );
    let form = form_of(&seen[0].body);
    let names: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "PSPID",
            "ORDERID",
            "ACCEPTURL",
            "EXCEPTIONURL",
            "ALIASPERSISTEDAFTERUSE",
            "ALIAS",
            "SHASIGN",
            "CARDNO",
            "ED",
            "CN"
        ]
    );
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert!(verify_alias_gateway_sha_in(
        &refs,
        OGONE_PASS,
        HashAlgorithm::Sha512,
        &form[6].1
    ));
    assert!(form.iter().all(|(k, _)| k != "CVC" && k != "PSWD"));
}

#[tokio::test]
async fn ogone_alias_update_failures() {
    let (base, _server) = start().await;
    let creds = ogone_creds();
    // A redirect signed with another SHA-OUT passphrase.
    assert_eq!(
        directlink(&base, "badsha")
            .update_alias(&alias_update(), &creds)
            .await,
        Err(AliasUpdateError::Verify(VerifyError::BadSignature))
    );
    // The gateway's error page (bad SHASIGN / PSPID) is a 4xx; a 5xx; a page instead of a
    // redirect; a redirect without a Location; a closed port.
    assert!(matches!(
        directlink(&base, "nope")
            .update_alias(&alias_update(), &creds)
            .await,
        Err(AliasUpdateError::Call(CallError::HttpStatus(404)))
    ));
    assert_eq!(
        directlink(&base, "unavailable")
            .update_alias(&alias_update(), &creds)
            .await,
        Err(AliasUpdateError::Call(CallError::HttpStatus(503)))
    );
    assert!(matches!(
        directlink(&base, "garbage")
            .update_alias(&alias_update(), &creds)
            .await,
        Err(AliasUpdateError::Call(CallError::Malformed(_)))
    ));
    assert!(matches!(
        directlink(&base, "nolocation")
            .update_alias(&alias_update(), &creds)
            .await,
        Err(AliasUpdateError::Call(CallError::Malformed(_)))
    ));
    let closed = closed_port().await;
    assert!(matches!(
        directlink(&closed, "ok")
            .update_alias(&alias_update(), &creds)
            .await,
        Err(AliasUpdateError::Call(CallError::NotSent(_)))
    ));
}

#[tokio::test]
async fn ogone_alias_delete() {
    let (base, server) = start().await;
    let creds = ogone_creds();
    let outcome = directlink(&base, "ok")
        .delete_alias(&AliasDeleteRequest::new("A1B2C3"), &creds)
        .await
        .unwrap();
    assert_eq!(outcome, AliasDeleteOutcome::Deleted);
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen[0].path, "/ok/ncol/test/aliasdirect_utf8.asp");
    let form = form_of(&seen[0].body);
    let names: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "PSPID",
            "USERID",
            "PSWD",
            "ALIAS",
            "ALIASOPERATION",
            "SHASIGN"
        ]
    );
    assert_eq!(form[4].1, "DEL");
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert!(verify_sha_in(
        &refs,
        OGONE_PASS,
        HashAlgorithm::Sha512,
        &form[5].1
    ));

    let gone = directlink(&base, "gone")
        .delete_alias(&AliasDeleteRequest::new("A1B2C3"), &creds)
        .await
        .unwrap();
    assert_eq!(gone, AliasDeleteOutcome::UnknownAlias);
    assert!(gone.is_gone());
    assert!(matches!(
        directlink(&base, "truncated")
            .delete_alias(&AliasDeleteRequest::new("A1B2C3"), &creds)
            .await,
        Err(CallError::Malformed(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Sips
// ---------------------------------------------------------------------------------------------

fn sips(base: &str, mode: &str) -> Sips {
    Sips::with_transport(transport(), &format!("{base}/{mode}"), TIMEOUT).unwrap()
}

fn sips_creds() -> SipsCredentials {
    SipsCredentials::new("002001000000001", 1, SIPS_KEY)
}

fn init() -> PaymentInitRequest {
    PaymentInitRequest::new(
        1999,
        "EUR",
        "G42A1",
        "https://guichet.example/sips/return",
        "https://guichet.example/sips/notify",
    )
}

fn refund() -> CashManagementRequest {
    CashManagementRequest {
        transaction_reference: "G42A1".into(),
        operation_amount_minor: 500,
        currency: "EUR".into(),
        operation_origin: "GUICHET".into(),
    }
}

#[tokio::test]
async fn sips_replies_are_parsed_and_requests_sealed() {
    let (base, server) = start().await;
    let client = sips(&base, "ok");
    let creds = sips_creds();

    let r = client.payment_init(&init(), &creds).await.unwrap();
    assert!(r.is_accepted());
    assert_eq!(r.redirect_form().unwrap().fields[1].1, "tok123");

    let r = client.refund(&refund(), &creds).await.unwrap();
    assert!(r.is_accepted());
    assert_eq!(r.new_amount_minor, Some(1499));
    let r = client.cancel(&refund(), &creds).await.unwrap();
    assert!(r.is_accepted());

    let r = client
        .get_transaction_data(
            &GetTransactionDataRequest {
                transaction_reference: "G42A1".into(),
            },
            &creds,
        )
        .await
        .unwrap();
    assert_eq!(r.transaction_status, Some(TransactionStatus::Captured));
    assert_eq!(r.current_amount_minor, Some(1499));

    let seen = server.seen.lock().unwrap().clone();
    let paths: Vec<&str> = seen.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/ok/rs-services/v2/paymentInit",
            "/ok/rs-services/v2/cashManagement/refund",
            "/ok/rs-services/v2/cashManagement/cancel",
            "/ok/rs-services/v2/diagnostic/getTransactionData",
        ]
    );
    for r in &seen {
        assert_eq!(r.content_type, "application/json");
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(verify_json_seal(&body, SIPS_KEY), "{}", r.path);
        assert_eq!(body["merchantId"], json!("002001000000001"));
        assert_eq!(body["keyVersion"], json!(1));
    }
    let init_body: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(init_body["interfaceVersion"], json!("IR_WS_2.35"));
    assert_eq!(init_body["currencyCode"], json!("978"));
    let refund_body: Value = serde_json::from_slice(&seen[1].body).unwrap();
    assert_eq!(refund_body["interfaceVersion"], json!("CR_WS_2.3"));
    assert_eq!(refund_body["operationAmount"], json!(500));
    let diag_body: Value = serde_json::from_slice(&seen[3].body).unwrap();
    assert_eq!(diag_body["interfaceVersion"], json!("DR_WS_2.23"));
}

#[tokio::test]
async fn sips_bad_or_missing_seal_is_refused() {
    let (base, _server) = start().await;
    let creds = sips_creds();
    let err = sips(&base, "badseal")
        .payment_init(&init(), &creds)
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::BadSeal(_)), "{err:?}");
    let err = sips(&base, "badseal")
        .refund(&refund(), &creds)
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::BadSeal(_)), "{err:?}");
    let err = sips(&base, "unsealed")
        .refund(&refund(), &creds)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CallError::BadSeal(m) if m.contains("03")),
        "{err:?}"
    );
}

#[tokio::test]
async fn sips_failures() {
    let (base, _server) = start().await;
    let creds = sips_creds();
    let started = Instant::now();
    assert_eq!(
        sips(&base, "slow").refund(&refund(), &creds).await,
        Err(CallError::Timeout)
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        sips(&base, "unavailable")
            .payment_init(&init(), &creds)
            .await,
        Err(CallError::HttpStatus(503))
    );
    assert!(matches!(
        sips(&base, "garbage").payment_init(&init(), &creds).await,
        Err(CallError::Malformed(_))
    ));
    let closed = closed_port().await;
    let err = sips(&closed, "ok")
        .payment_init(&init(), &creds)
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::NotSent(_)), "{err:?}");
    // A request that cannot be built is not sent either.
    let mut bad = init();
    bad.currency = "SEK".into();
    let err = sips(&base, "ok")
        .payment_init(&bad, &creds)
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::NotSent(_)), "{err:?}");
}
