//! Ogone DirectLink wire types: the `orderdirect.asp` request form and the XML `<ncresponse>`
//! reply shared by `orderdirect.asp`, `maintenancedirect.asp` and `querydirect.asp`.
//!
//! These are boundary types (STYLE.md): they mirror the wire format and know nothing about
//! Guichet's domain. Mapping to and from Guichet's payments happens in the caller.
//!
//! Source: shared/reference/psp-protocols.md, sections 1.2 (request), 1.3 (reply), 1.4
//! (maintenance and query), 1.5 (STATUS), 1.6 (NCERROR), 3.1 (alias flow) and 4 (3-D Secure).
//!
//! **Card data.** The request type carries no card number, expiry or CVC: Guichet pays with an
//! alias created by the Alias Gateway (section 3.1, "Step 2: a DirectLink `orderdirect.asp`
//! request with `ALIAS=<alias>` and no card data"). A CVC is only ever forwarded by the buyer's
//! browser (Alias Gateway form posting straight to Ogone), never set by Guichet's server, so the
//! field does not exist here.
//!
//! **Saved cards** (docs/PROVIDERS.md, "Saved cards"): a customer-present payment with a saved
//! card is [`OrderDirectRequest::customer_present`] (`ECI=7`), sent right after the buyer typed
//! the CVC again into the Alias Gateway ([`super::alias::AliasGatewayForm::saved_card_cvc`]),
//! which holds it for the next order on that alias; a merchant-initiated payment (an
//! instalment) is [`OrderDirectRequest::merchant_initiated`] (`ECI=9`, no CVC, no 3-D Secure).
//! The reply's `CVCCheck` ([`NcResponse::cvc_check`]) says whether a CVC was checked.

use std::fmt;

use base64::Engine as _;
use quick_xml::events::Event;
use serde::Deserialize;

use super::credentials::Credentials;
use super::signature::{HashAlgorithm, sha_in};
use crate::amount::{AmountError, decimal_to_minor_in};
use crate::card::{CardExpiry, MaskedCardNumber};

pub use super::maintenance::{MaintenanceOperation, MaintenanceRequest, QueryBy, QueryRequest};

// ---------------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------------

/// `OPERATION` of a new order (section 1.2). Only the two Guichet uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `RES`: authorisation only (capture later with `maintenancedirect.asp`).
    Authorization,
    /// `SAL`: sale (authorisation and capture).
    Sale,
}

impl Operation {
    /// The wire code.
    pub fn code(self) -> &'static str {
        match self {
            Operation::Authorization => "RES",
            Operation::Sale => "SAL",
        }
    }
}

/// `ECI` of a new order (section 1.2). Only the two values that apply to an alias payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Eci {
    /// `7`: e-commerce with SSL (the buyer is present).
    EcommerceSsl,
    /// `9`: recurring payment after a first e-commerce transaction (ActiveMerchant's default
    /// with an alias).
    RecurringAfterEcommerce,
}

impl Eci {
    /// The wire code.
    pub fn code(self) -> &'static str {
        match self {
            Eci::EcommerceSsl => "7",
            Eci::RecurringAfterEcommerce => "9",
        }
    }
}

/// `WIN3DS`: where the 3-D Secure page is shown (section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Win3ds {
    /// `MAINW`: main window (Ogone's default).
    MainWindow,
    /// `POPUP`: pop-up, then back to the main window.
    Popup,
    /// `POPIX`: pop-up, and stay in it.
    PopupStay,
}

impl Win3ds {
    /// The wire code.
    pub fn code(self) -> &'static str {
        match self {
            Win3ds::MainWindow => "MAINW",
            Win3ds::Popup => "POPUP",
            Win3ds::PopupStay => "POPIX",
        }
    }
}

/// The API user's password. Its `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(pub String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// The buyer's browser, for 3-D Secure v2 (section 4, "3-DS v2 (PSD2)" fields). Copied from the
/// buyer's request; values are sent as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrowserInfo {
    /// `BROWSERACCEPTHEADER`.
    pub accept_header: String,
    /// `BROWSERCOLORDEPTH`.
    pub color_depth: Option<u8>,
    /// `BROWSERJAVAENABLED` (the reference does not give the value format; sent as given).
    pub java_enabled: String,
    /// `BROWSERJAVASCRIPTENABLED` (value format not given by the reference; sent as given).
    pub javascript_enabled: String,
    /// `BROWSERLANGUAGE`.
    pub language: String,
    /// `BROWSERSCREENHEIGHT`.
    pub screen_height: Option<u32>,
    /// `BROWSERSCREENWIDTH`.
    pub screen_width: Option<u32>,
    /// `BROWSERTIMEZONE`, minutes from UTC.
    pub timezone_minutes: Option<i32>,
    /// `BROWSERUSERAGENT`.
    pub user_agent: String,
}

/// A new order paid with an alias (`orderdirect.asp`, sections 1.2 and 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderDirectRequest {
    /// `PSPID`: merchant account.
    pub pspid: String,
    /// `USERID`: API user.
    pub userid: String,
    /// `PSWD`: API user's password.
    pub pswd: Password,
    /// `ORDERID`: merchant reference. Ogone rejects a reused one with NCERROR 50001113.
    /// (ActiveMerchant truncates to 30 characters; this type sends it as given.)
    pub order_id: String,
    /// `AMOUNT`, in cents (minor units), sent as an integer string.
    pub amount_cents: u64,
    /// `CURRENCY`: ISO 4217 alpha-3.
    pub currency: String,
    /// `ALIAS`: the alias created by the Alias Gateway.
    pub alias: String,
    /// `ALIASUSAGE`: text shown to the buyer about the alias use (optional).
    pub alias_usage: Option<String>,
    /// `OPERATION`.
    pub operation: Operation,
    /// `ECI`.
    pub eci: Eci,
    /// `FLAG3D=Y` when true (ask for 3-D Secure).
    pub flag3d: bool,
    /// `WIN3DS`.
    pub win3ds: Option<Win3ds>,
    /// `ACCEPTURL` (3-D Secure result redirect).
    pub accept_url: Option<String>,
    /// `DECLINEURL`.
    pub decline_url: Option<String>,
    /// `EXCEPTIONURL`.
    pub exception_url: Option<String>,
    /// 3-D Secure v2 browser fields.
    pub browser: Option<BrowserInfo>,
    /// `LANGUAGE` of the 3-D Secure pages (`en_US`, `fr_FR`; section 4).
    pub language: Option<String>,
    /// `REMOTE_ADDR`: the buyer's IP address (section 1.2).
    pub remote_addr: Option<String>,
    /// `PARAMPLUS`: `k=v&k2=v2`, given back (unsigned) on the 3-D Secure redirects (section 4).
    pub param_plus: Option<String>,
    /// `COMPLUS`: a value given back, signed, in the feedback (section 4).
    pub complus: Option<String>,
}

impl OrderDirectRequest {
    /// An order paid with `alias`, every optional field empty. `PSPID`, `USERID` and `PSWD`
    /// are left empty: [`Self::to_form_with`] (what the client sends) takes them from the
    /// account's credentials.
    pub fn new(
        order_id: impl Into<String>,
        amount_cents: u64,
        currency: impl Into<String>,
        alias: impl Into<String>,
        operation: Operation,
        eci: Eci,
    ) -> OrderDirectRequest {
        OrderDirectRequest {
            pspid: String::new(),
            userid: String::new(),
            pswd: Password(String::new()),
            order_id: order_id.into(),
            amount_cents,
            currency: currency.into(),
            alias: alias.into(),
            alias_usage: None,
            operation,
            eci,
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

    /// A customer-present payment with a saved card (`ECI=7`): the buyer is on Guichet's page
    /// and has just typed the CVC again into the Alias Gateway, which holds it for this order
    /// (docs/PROVIDERS.md, "Saved cards"). Set `flag3d` and the 3-D Secure fields as for any
    /// buyer-present payment.
    pub fn customer_present(
        order_id: impl Into<String>,
        amount_cents: u64,
        currency: impl Into<String>,
        alias: impl Into<String>,
        operation: Operation,
    ) -> OrderDirectRequest {
        OrderDirectRequest::new(
            order_id,
            amount_cents,
            currency,
            alias,
            operation,
            Eci::EcommerceSsl,
        )
    }

    /// A merchant-initiated payment with a saved card (`ECI=9`: an instalment, the buyer
    /// absent): no CVC, no 3-D Secure (`FLAG3D` is not sent).
    pub fn merchant_initiated(
        order_id: impl Into<String>,
        amount_cents: u64,
        currency: impl Into<String>,
        alias: impl Into<String>,
        operation: Operation,
    ) -> OrderDirectRequest {
        OrderDirectRequest::new(
            order_id,
            amount_cents,
            currency,
            alias,
            operation,
            Eci::RecurringAfterEcommerce,
        )
    }

    /// The form fields to POST, upper-case names, empty values omitted, with `SHASIGN` (SHA-IN
    /// over every field sent, section 2.1) last. Contains `PSWD`: never log it.
    pub fn to_form(&self, sha_in_passphrase: &str, alg: HashAlgorithm) -> Vec<(String, String)> {
        fn opt(v: &Option<String>) -> String {
            v.clone().unwrap_or_default()
        }
        fn num<T: ToString>(v: Option<T>) -> String {
            v.map(|v| v.to_string()).unwrap_or_default()
        }
        let b = self.browser.clone().unwrap_or_default();
        let fields: Vec<(&str, String)> = vec![
            ("PSPID", self.pspid.clone()),
            ("USERID", self.userid.clone()),
            ("PSWD", self.pswd.0.clone()),
            ("ORDERID", self.order_id.clone()),
            ("AMOUNT", self.amount_cents.to_string()),
            ("CURRENCY", self.currency.clone()),
            ("ALIAS", self.alias.clone()),
            ("ALIASUSAGE", opt(&self.alias_usage)),
            ("OPERATION", self.operation.code().to_owned()),
            ("ECI", self.eci.code().to_owned()),
            ("FLAG3D", if self.flag3d { "Y" } else { "" }.to_owned()),
            (
                "WIN3DS",
                self.win3ds.map(|w| w.code()).unwrap_or("").to_owned(),
            ),
            ("ACCEPTURL", opt(&self.accept_url)),
            ("DECLINEURL", opt(&self.decline_url)),
            ("EXCEPTIONURL", opt(&self.exception_url)),
            ("BROWSERACCEPTHEADER", b.accept_header),
            ("BROWSERCOLORDEPTH", num(b.color_depth)),
            ("BROWSERJAVAENABLED", b.java_enabled),
            ("BROWSERJAVASCRIPTENABLED", b.javascript_enabled),
            ("BROWSERLANGUAGE", b.language),
            ("BROWSERSCREENHEIGHT", num(b.screen_height)),
            ("BROWSERSCREENWIDTH", num(b.screen_width)),
            ("BROWSERTIMEZONE", num(b.timezone_minutes)),
            ("BROWSERUSERAGENT", b.user_agent),
            ("LANGUAGE", opt(&self.language)),
            ("REMOTE_ADDR", opt(&self.remote_addr)),
            ("PARAMPLUS", opt(&self.param_plus)),
            ("COMPLUS", opt(&self.complus)),
        ];
        let mut form: Vec<(String, String)> = fields
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let sign = sha_in(&refs, sha_in_passphrase, alg);
        form.push(("SHASIGN".to_owned(), sign));
        form
    }

    /// [`Self::to_form`] with the account's `PSPID`, `USERID`, `PSWD`, SHA-IN passphrase and
    /// algorithm taken from `credentials` (they replace the request's own `pspid`, `userid`
    /// and `pswd`). This is what [`crate::ogone::client::DirectLink::order`] sends.
    pub fn to_form_with(&self, credentials: &Credentials) -> Vec<(String, String)> {
        let mut request = self.clone();
        request.pspid = credentials.pspid.clone();
        request.userid = credentials.userid.clone();
        request.pswd = credentials.pswd.clone();
        request.to_form(credentials.sha_in.expose(), credentials.algorithm)
    }
}

// ---------------------------------------------------------------------------------------------
// Reply
// ---------------------------------------------------------------------------------------------

/// Why an `<ncresponse>` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not well-formed XML (including truncated input).
    #[error("malformed XML: {0}")]
    Xml(String),
    /// The root element is not `ncresponse`.
    #[error("root element is {0:?}, expected \"ncresponse\"")]
    NotNcResponse(String),
    /// No `STATUS` attribute.
    #[error("STATUS attribute missing")]
    MissingStatus,
    /// `STATUS` is not a number.
    #[error("STATUS is not numeric: {0:?}")]
    InvalidStatus(String),
    /// `HTML_ANSWER` is not valid base64.
    #[error("HTML_ANSWER is not valid base64: {0}")]
    HtmlAnswer(String),
}

/// A DirectLink reply (section 1.3). Attributes that are absent or empty are `None`.
/// Amounts stay decimal strings (`amount` is **not** in cents in replies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NcResponse {
    /// `orderID`.
    pub order_id: Option<String>,
    /// `PAYID` (`0` when nothing was created).
    pub pay_id: Option<String>,
    /// `PAYIDSUB` (history line; maintenance replies).
    pub pay_id_sub: Option<String>,
    /// `NCSTATUS` (first digit of NCERROR).
    pub nc_status: Option<String>,
    /// `NCERROR` (`0` = OK; section 1.6).
    pub nc_error: Option<String>,
    /// `NCERRORPLUS` (free text).
    pub nc_error_plus: Option<String>,
    /// `ACCEPTANCE` (acquirer authorisation code).
    pub acceptance: Option<String>,
    /// `STATUS` (section 1.5).
    pub status: u16,
    /// `ECI`.
    pub eci: Option<String>,
    /// `amount`: decimal string, not multiplied by 100 (`AMOUNT` accepted too: querydirect
    /// sample of section 1.4).
    pub amount: Option<String>,
    /// `currency` (`CURRENCY` accepted too).
    pub currency: Option<String>,
    /// `PM` (`CreditCard`).
    pub pm: Option<String>,
    /// `BRAND` (`VISA`...).
    pub brand: Option<String>,
    /// `ALIAS`.
    pub alias: Option<String>,
    /// `CARDNO`, masked (`XXXXXXXXXXXX1111`). A value that is not a masked number is dropped
    /// (`None`, with a warning that does not repeat it): a full card number is never kept, and
    /// the reply's outcome stays readable.
    pub card_number: Option<MaskedCardNumber>,
    /// `ED`, as sent (`MMYY`); see [`NcResponse::expiry`].
    pub ed: Option<String>,
    /// `<HTML_ANSWER>`, base64-decoded (3-D Secure, STATUS 46): HTML to return to the buyer
    /// as-is.
    pub html_answer: Option<String>,
    /// `CVCCheck` (section 1.3: `OK` / `KO` / `NO`): whether a CVC was checked with this order.
    /// With a saved card, `OK` means the CVC the buyer typed again was used; `NO`, that none
    /// was (none typed, expired, or a merchant-initiated order).
    pub cvc_check: Option<String>,
}

#[derive(Deserialize)]
struct RawNcResponse {
    #[serde(rename = "@orderID")]
    order_id: Option<String>,
    #[serde(rename = "@PAYID")]
    pay_id: Option<String>,
    #[serde(rename = "@PAYIDSUB")]
    pay_id_sub: Option<String>,
    #[serde(rename = "@NCSTATUS")]
    nc_status: Option<String>,
    #[serde(rename = "@NCERROR")]
    nc_error: Option<String>,
    #[serde(rename = "@NCERRORPLUS")]
    nc_error_plus: Option<String>,
    #[serde(rename = "@ACCEPTANCE")]
    acceptance: Option<String>,
    #[serde(rename = "@STATUS")]
    status: Option<String>,
    #[serde(rename = "@ECI")]
    eci: Option<String>,
    #[serde(rename = "@amount", alias = "@AMOUNT")]
    amount: Option<String>,
    #[serde(rename = "@currency", alias = "@CURRENCY")]
    currency: Option<String>,
    #[serde(rename = "@PM")]
    pm: Option<String>,
    #[serde(rename = "@BRAND")]
    brand: Option<String>,
    #[serde(rename = "@ALIAS")]
    alias: Option<String>,
    #[serde(rename = "@CARDNO")]
    card_no: Option<String>,
    #[serde(rename = "@ED")]
    ed: Option<String>,
    #[serde(rename = "HTML_ANSWER")]
    html_answer: Option<String>,
    #[serde(rename = "@CVCCheck", alias = "@CVCCHECK")]
    cvc_check: Option<String>,
}

/// Checks that `xml` is well-formed, complete, and rooted at `<ncresponse>`.
fn check_document(xml: &str) -> Result<(), ParseError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut depth = 0usize;
    let mut root_seen = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| ParseError::Xml(e.to_string()))?;
        let root_name = match &event {
            Event::Start(e) | Event::Empty(e) if depth == 0 => {
                if root_seen {
                    return Err(ParseError::Xml("more than one root element".into()));
                }
                root_seen = true;
                let name = e.name();
                let name: &str = name.as_ref();
                Some(name.to_owned())
            }
            _ => None,
        };
        if let Some(name) = root_name
            && name != "ncresponse"
        {
            return Err(ParseError::NotNcResponse(name));
        }
        match event {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Text(t) if depth == 0 && !is_blank(t.as_ref()) => {
                return Err(ParseError::Xml("text outside the root element".into()));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if depth != 0 {
        return Err(ParseError::Xml(
            "truncated document (unclosed element)".into(),
        ));
    }
    if !root_seen {
        return Err(ParseError::Xml("no root element".into()));
    }
    Ok(())
}

fn is_blank(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_whitespace())
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

/// Decodes `HTML_ANSWER`: base64 with line breaks (section 4), stripped of whitespace first.
/// The reply is declared ISO-8859-1, so bytes that are not UTF-8 are read as Latin-1.
fn decode_html_answer(b64: &str) -> Result<String, ParseError> {
    let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| ParseError::HtmlAnswer(e.to_string()))?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => e.into_bytes().into_iter().map(char::from).collect(),
    })
}

/// Parses a DirectLink reply (orderdirect, maintenancedirect or querydirect). `xml` must be
/// already decoded to text (Ogone declares `iso-8859-1`). Never panics.
pub fn parse_ncresponse(xml: &str) -> Result<NcResponse, ParseError> {
    check_document(xml)?;
    let raw: RawNcResponse =
        quick_xml::de::from_str(xml).map_err(|e| ParseError::Xml(e.to_string()))?;
    let status_text = raw.status.ok_or(ParseError::MissingStatus)?;
    let trimmed = status_text.trim();
    if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::InvalidStatus(status_text));
    }
    let status: u16 = trimmed
        .parse()
        .map_err(|_| ParseError::InvalidStatus(status_text.clone()))?;
    let html_answer = match non_empty(raw.html_answer) {
        Some(b64) => Some(decode_html_answer(&b64)?),
        None => None,
    };
    Ok(NcResponse {
        order_id: non_empty(raw.order_id),
        pay_id: non_empty(raw.pay_id),
        pay_id_sub: non_empty(raw.pay_id_sub),
        nc_status: non_empty(raw.nc_status),
        nc_error: non_empty(raw.nc_error),
        nc_error_plus: non_empty(raw.nc_error_plus),
        acceptance: non_empty(raw.acceptance),
        status,
        eci: non_empty(raw.eci),
        amount: non_empty(raw.amount),
        currency: non_empty(raw.currency),
        pm: non_empty(raw.pm),
        brand: non_empty(raw.brand),
        alias: non_empty(raw.alias),
        card_number: non_empty(raw.card_no).and_then(|c| match MaskedCardNumber::parse(&c) {
            Ok(masked) => Some(masked),
            Err(_) => {
                tracing::warn!("ncresponse CARDNO is not a masked card number: dropped");
                None
            }
        }),
        ed: non_empty(raw.ed),
        html_answer,
        cvc_check: non_empty(raw.cvc_check),
    })
}

// ---------------------------------------------------------------------------------------------
// Outcome
// ---------------------------------------------------------------------------------------------

/// NCERROR 50001113: "This order has already been processed" (reused ORDERID).
pub const NCERROR_DUPLICATE_ORDER_ID: &str = "50001113";
/// NCERROR 50001129: overflow in refund requests (refund above what remains).
pub const NCERROR_REFUND_OVERFLOW: &str = "50001129";
/// NCERROR 50001184: SHA mismatch (wrong SHA-IN passphrase or algorithm).
pub const NCERROR_SHA_MISMATCH: &str = "50001184";
/// NCERROR 50001130: "error accessing the original order" (section 1.6). On `querydirect`
/// with `PAYID=0`: the provider never received the order (docs/PROVIDERS.md, "Query"); on
/// `orderdirect`: unknown alias.
pub const NCERROR_UNKNOWN_ORDER: &str = "50001130";

/// Why Ogone refused: its NCERROR code and NCERRORPLUS text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// `NCERROR` (section 1.6), if given.
    pub nc_error: Option<String>,
    /// `NCERRORPLUS`, if given.
    pub text: Option<String>,
}

impl Reason {
    fn is(&self, code: &str) -> bool {
        self.nc_error.as_deref() == Some(code)
    }
    /// NCERROR 50001129: refund above what remains.
    pub fn is_refund_overflow(&self) -> bool {
        self.is(NCERROR_REFUND_OVERFLOW)
    }
    /// NCERROR 50001184: the SHA-IN signature did not match (configuration error).
    pub fn is_sha_mismatch(&self) -> bool {
        self.is(NCERROR_SHA_MISMATCH)
    }
    /// A data error (NCERROR `5xxxxxxx`, NCSTATUS 5: invalid or incomplete request, section
    /// 1.6), as opposed to a refusal by the acquirer or issuer (`3xxxxxxx`) or an
    /// authentication failure (`4xxxxxxx`).
    pub fn is_data_error(&self) -> bool {
        self.nc_error
            .as_deref()
            .is_some_and(|e| e.len() == 8 && e.starts_with('5'))
    }
}

/// What a reply's STATUS means (section 1.5). Anything the reference does not document as
/// final is [`Outcome::Uncertain`]: never guessed as success or as failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 9: payment requested (captured).
    Captured,
    /// 5: authorised, not captured.
    Authorized,
    /// 46 with an `HTML_ANSWER`: return `html` to the buyer's browser as-is.
    Pending3ds {
        /// The decoded HTML_ANSWER.
        html: String,
    },
    /// 2 (authorisation refused), 93 (payment refused), 0 (invalid or incomplete, except a
    /// duplicate ORDERID, see [`Outcome::Uncertain`]).
    Declined {
        /// NCERROR and NCERRORPLUS.
        reason: Reason,
    },
    /// 1 (cancelled by customer), 6 / 64 (authorised and cancelled), 7 / 74 (payment deleted).
    Cancelled,
    /// 81: refund pending.
    RefundPending,
    /// 8 (refund), 85 (refund handled by merchant).
    Refunded,
    /// 83 (refund refused), 94 (refund declined by the acquirer).
    RefundRefused {
        /// NCERROR and NCERRORPLUS.
        reason: Reason,
    },
    /// To be resolved with `querydirect.asp`: 51, 52, 91, 92, 99 and every other pending,
    /// "uncertain" or undocumented code (4, 40, 41, 50, 55, 56, 57, 59, 61, 62, 63, 71, 72,
    /// 73, 75, 82, 84, 95, unknown); 46 without HTML_ANSWER; STATUS 0 with NCERROR 50001113
    /// (the ORDERID was already used: the earlier order may have gone through, query it by
    /// ORDERID).
    Uncertain,
}

/// What a `querydirect` reply means: either the provider never received the order, or the
/// order's [`Outcome`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryOutcome {
    /// `STATUS=0`, `NCERROR=50001130`, `PAYID` `0` or absent: the ORDERID / PAYID queried is
    /// unknown to the provider, so an order sent under it never reached it (docs/PROVIDERS.md,
    /// "Query"). Distinct from [`Outcome::Uncertain`].
    NotReceived,
    /// The provider knows the order.
    Known(Outcome),
}

impl NcResponse {
    /// `amount` in minor units, converted exactly from the decimal with the exponent of
    /// `currency` (`"4.5"` GBP → 450). `Ok(None)` when the reply has no amount.
    pub fn amount_minor(&self) -> Result<Option<u64>, AmountError> {
        let Some(amount) = &self.amount else {
            return Ok(None);
        };
        let currency = self.currency.as_deref().unwrap_or_default();
        decimal_to_minor_in(amount, currency).map(Some)
    }

    /// `ED` as an expiry; `None` when absent or not `MMYY`.
    pub fn expiry(&self) -> Option<CardExpiry> {
        self.ed
            .as_deref()
            .and_then(|ed| CardExpiry::parse_mmyy(ed).ok())
    }

    /// The meaning of a `querydirect` reply: [`QueryOutcome::NotReceived`] for an unknown
    /// order, otherwise [`NcResponse::outcome`].
    pub fn query_outcome(&self) -> QueryOutcome {
        let no_payid = matches!(self.pay_id.as_deref(), None | Some("0"));
        if self.status == 0 && no_payid && self.nc_error.as_deref() == Some(NCERROR_UNKNOWN_ORDER) {
            QueryOutcome::NotReceived
        } else {
            QueryOutcome::Known(self.outcome())
        }
    }

    pub(crate) fn reason(&self) -> Reason {
        Reason {
            nc_error: self.nc_error.clone(),
            text: self.nc_error_plus.clone(),
        }
    }

    /// The meaning of `STATUS` (and, for 0, `NCERROR`).
    pub fn outcome(&self) -> Outcome {
        match self.status {
            9 => Outcome::Captured,
            5 => Outcome::Authorized,
            46 => match &self.html_answer {
                Some(html) => Outcome::Pending3ds { html: html.clone() },
                None => Outcome::Uncertain,
            },
            0 if self.nc_error.as_deref() == Some(NCERROR_DUPLICATE_ORDER_ID) => Outcome::Uncertain,
            0 | 2 | 93 => Outcome::Declined {
                reason: self.reason(),
            },
            1 | 6 | 64 | 7 | 74 => Outcome::Cancelled,
            81 => Outcome::RefundPending,
            8 | 85 => Outcome::Refunded,
            83 | 94 => Outcome::RefundRefused {
                reason: self.reason(),
            },
            _ => Outcome::Uncertain,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ogone::signature::sha_in_string;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    // --- Parsing: samples from shared/reference/psp-protocols.md -----------------------------

    struct Sample {
        section: &'static str,
        xml: String,
        order_id: Option<&'static str>,
        pay_id: Option<&'static str>,
        status: u16,
        nc_error: Option<&'static str>,
        amount: Option<&'static str>,
        currency: Option<&'static str>,
    }

    fn samples() -> Vec<Sample> {
        vec![
            Sample {
                section: "1.3 official example [P-DLRESP]",
                xml: r#"<?xml version="1.0"?><ncresponse orderID="99999" PAYID="1111111" NCSTATUS="0" NCERROR="" NCERRORPLUS=""
 ACCEPTANCE="12345" STATUS="5" ECI="7" amount="125" currency="EUR" PM="CreditCard" BRAND="VISA"/>"#
                    .into(),
                order_id: Some("99999"),
                pay_id: Some("1111111"),
                status: 5,
                nc_error: None,
                amount: Some("125"),
                currency: Some("EUR"),
            },
            Sample {
                section: "1.3 real-world successful authorisation [AM-T]",
                xml: "<?xml version=\"1.0\"?><ncresponse\r\n  orderID=\"1233680882919266242708828\"\r\n PAYID=\"3014726\" NCSTATUS=\"0\" NCERROR=\"0\" NCERRORPLUS=\"!\"\r\n  ACCEPTANCE=\"test123\" STATUS=\"5\" IPCTY=\"99\" CCCTY=\"99\" ECI=\"7\" CVCCheck=\"NO\" AAVCheck=\"NO\" VC=\"NO\"\r\n  amount=\"1\" currency=\"EUR\" PM=\"CreditCard\" BRAND=\"VISA\" ALIAS=\"2\">\r\n</ncresponse>"
                    .into(),
                order_id: Some("1233680882919266242708828"),
                pay_id: Some("3014726"),
                status: 5,
                nc_error: Some("0"),
                amount: Some("1"),
                currency: Some("EUR"),
            },
            Sample {
                section: "1.3 error example 1 [AM-T] (no orderid)",
                xml: r#"<ncresponse orderID="" PAYID="0" NCSTATUS="5" NCERROR="50001111" NCERRORPLUS=" no orderid" ACCEPTANCE="" STATUS="0" amount="" currency="EUR" PM="" BRAND="" ALIAS="2"></ncresponse>"#.into(),
                order_id: None,
                pay_id: Some("0"),
                status: 0,
                nc_error: Some("50001111"),
                amount: None,
                currency: Some("EUR"),
            },
            Sample {
                // The reference elides the tail ("..."); the elided attributes are left out.
                section: "1.3 error example 2 [AM-T] (unknown order)",
                xml: r##"<ncresponse orderID="#1019.22" PAYID="0" NCSTATUS="5" NCERROR="50001116" NCERRORPLUS="unknown order/1/i/67.192.100.64" ACCEPTANCE="" STATUS="0"/>"##.into(),
                order_id: Some("#1019.22"),
                pay_id: Some("0"),
                status: 0,
                nc_error: Some("50001116"),
                amount: None,
                currency: None,
            },
            Sample {
                // Section 1.4 gives the attributes of ML's querydirect test; upper-case
                // AMOUNT/CURRENCY as printed there.
                section: "1.4 querydirect response [ML DirectLinkQueryResponseTest]",
                xml: r#"<?xml version="1.0"?><ncresponse PAYID="1" STATUS="91" AMOUNT="4.5" CURRENCY="GBP" CARDNO="XXXXXXXXXXXX1111" IP="127.0.0.1"/>"#.into(),
                order_id: None,
                pay_id: Some("1"),
                status: 91,
                nc_error: None,
                amount: Some("4.5"),
                currency: Some("GBP"),
            },
            Sample {
                // Section 1.4 / 6: RFD → STATUS 81, PAYIDSUB 1, NCERROR 0 (shape, not verbatim).
                section: "1.4 and 6 refund maintenance reply [AM-T fixture, described]",
                xml: r#"<ncresponse orderID="1" PAYID="3014726" PAYIDSUB="1" NCSTATUS="0" NCERROR="0" NCERRORPLUS="!" ACCEPTANCE="" STATUS="81" amount="1" currency="EUR"/>"#.into(),
                order_id: Some("1"),
                pay_id: Some("3014726"),
                status: 81,
                nc_error: Some("0"),
                amount: Some("1"),
                currency: Some("EUR"),
            },
            Sample {
                section: "1.3 / 8 3-DS v2 failure [AM-R]",
                xml: r#"<ncresponse orderID="x" PAYID="9" NCSTATUS="4" NCERROR="40001134" NCERRORPLUS="Authentication failed. Please retry or cancel." STATUS="2"/>"#.into(),
                order_id: Some("x"),
                pay_id: Some("9"),
                status: 2,
                nc_error: Some("40001134"),
                amount: None,
                currency: None,
            },
        ]
    }

    #[test]
    fn parses_reference_samples() {
        for s in samples() {
            let r = parse_ncresponse(&s.xml).unwrap_or_else(|e| panic!("{}: {e}", s.section));
            assert_eq!(r.order_id.as_deref(), s.order_id, "{}", s.section);
            assert_eq!(r.pay_id.as_deref(), s.pay_id, "{}", s.section);
            assert_eq!(r.status, s.status, "{}", s.section);
            assert_eq!(r.nc_error.as_deref(), s.nc_error, "{}", s.section);
            assert_eq!(r.amount.as_deref(), s.amount, "{}", s.section);
            assert_eq!(r.currency.as_deref(), s.currency, "{}", s.section);
            assert_eq!(r.html_answer, None, "{}", s.section);
        }
    }

    #[test]
    fn reads_every_attribute() {
        let r = parse_ncresponse(&samples()[1].xml).unwrap();
        assert_eq!(r.nc_status.as_deref(), Some("0"));
        assert_eq!(r.nc_error_plus.as_deref(), Some("!"));
        assert_eq!(r.acceptance.as_deref(), Some("test123"));
        assert_eq!(r.eci.as_deref(), Some("7"));
        assert_eq!(r.pm.as_deref(), Some("CreditCard"));
        assert_eq!(r.brand.as_deref(), Some("VISA"));
        assert_eq!(r.alias.as_deref(), Some("2"));
        assert_eq!(r.pay_id_sub, None);
        assert_eq!(
            parse_ncresponse(&samples()[5].xml)
                .unwrap()
                .pay_id_sub
                .as_deref(),
            Some("1")
        );
    }

    #[test]
    fn three_ds_html_answer_is_decoded_across_line_breaks() {
        // Section 4: STATUS 46, NCERROR 0, base64 with line breaks; the decoded form shape is
        // the reference's description of the AM-T fixture.
        let html = "<form name=\"downloadform3D\" action=\"https://secure.ogone.com/ncol/test/Test_3D_ACS.asp\" method=\"post\"><input type=\"hidden\" name=\"CSRFSP\" value=\"/ncol/test/orderdirect.asp\"></form><script>document.forms.downloadform3D.submit();</script>";
        let encoded = b64(html);
        let wrapped: String = encoded
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        let xml = format!(
            "<?xml version=\"1.0\"?><ncresponse orderID=\"1\" PAYID=\"3014726\" NCSTATUS=\"0\" NCERROR=\"0\" NCERRORPLUS=\"!\" STATUS=\"46\" amount=\"1\" currency=\"EUR\">\n<HTML_ANSWER>{wrapped}\n</HTML_ANSWER>\n</ncresponse>"
        );
        let r = parse_ncresponse(&xml).unwrap();
        assert_eq!(r.html_answer.as_deref(), Some(html));
        assert_eq!(
            r.outcome(),
            Outcome::Pending3ds {
                html: html.to_owned()
            }
        );
    }

    #[test]
    fn latin1_html_answer_is_kept() {
        let xml = format!(
            r#"<ncresponse STATUS="46"><HTML_ANSWER>{}</HTML_ANSWER></ncresponse>"#,
            base64::engine::general_purpose::STANDARD.encode([b'r', 0xE9, b'f'])
        );
        assert_eq!(
            parse_ncresponse(&xml).unwrap().html_answer.as_deref(),
            Some("réf")
        );
    }

    #[test]
    fn garbage_and_truncated_inputs_are_errors() {
        let full = &samples()[1].xml;
        let mut cases: Vec<(String, &str)> =
            vec![
            (String::new(), "empty"),
            ("   ".into(), "blank"),
            ("not xml at all".into(), "text"),
            ("{\"STATUS\":9}".into(), "json"),
            ("<html><body>Error 500</body></html>".into(), "html error page"),
            ("<foo STATUS=\"9\"/>".into(), "wrong root"),
            ("<ncresponse STATUS=\"9\"".into(), "unterminated tag"),
            ("<ncresponse STATUS=\"9\">".into(), "unclosed root"),
            ("<ncresponse STATUS=\"9></ncresponse>".into(), "unterminated attr"),
            ("<ncresponse STATUS=\"9\"></other>".into(), "mismatched end"),
            ("<ncresponse STATUS=\"9\"/><ncresponse STATUS=\"2\"/>".into(), "two roots"),
            ("<ncresponse orderID=\"1\"/>".into(), "missing STATUS"),
            ("<ncresponse STATUS=\"\"/>".into(), "empty STATUS"),
            ("<ncresponse STATUS=\"OK\"/>".into(), "non-numeric STATUS"),
            ("<ncresponse STATUS=\"-9\"/>".into(), "negative STATUS"),
            ("<ncresponse STATUS=\"9.0\"/>".into(), "decimal STATUS"),
            ("<ncresponse STATUS=\"99999999\"/>".into(), "overflowing STATUS"),
            (
                "<ncresponse STATUS=\"46\"><HTML_ANSWER>@@not base64@@</HTML_ANSWER></ncresponse>"
                    .into(),
                "bad base64",
            ),
            ("\u{0}\u{1}\u{2}<<>>&&".into(), "binary"),
        ];
        // Every strict prefix of a real reply must fail, never panic.
        let truncated: Vec<String> = (0..full.len())
            .filter(|i| full.is_char_boundary(*i))
            .map(|i| full[..i].to_owned())
            .collect();
        for t in &truncated {
            cases.push((t.clone(), "truncated"));
        }
        for (input, what) in &cases {
            assert!(
                parse_ncresponse(input).is_err(),
                "{what}: {input:?} was accepted"
            );
        }
    }

    #[test]
    fn specific_errors() {
        assert_eq!(
            parse_ncresponse("<ncresponse orderID=\"1\"/>"),
            Err(ParseError::MissingStatus)
        );
        assert_eq!(
            parse_ncresponse("<ncresponse STATUS=\"OK\"/>"),
            Err(ParseError::InvalidStatus("OK".into()))
        );
        assert_eq!(
            parse_ncresponse("<foo/>"),
            Err(ParseError::NotNcResponse("foo".into()))
        );
    }

    // --- Outcome ------------------------------------------------------------------------------

    fn reply(status: u16, nc_error: &str) -> NcResponse {
        let xml =
            format!(r#"<ncresponse STATUS="{status}" NCERROR="{nc_error}" NCERRORPLUS="txt"/>"#);
        parse_ncresponse(&xml).unwrap()
    }

    #[test]
    fn outcome_table() {
        let declined = |e: &str| Outcome::Declined {
            reason: Reason {
                nc_error: Some(e.to_owned()).filter(|s| !s.is_empty()),
                text: Some("txt".into()),
            },
        };
        let refund_refused = |e: &str| Outcome::RefundRefused {
            reason: Reason {
                nc_error: Some(e.to_owned()),
                text: Some("txt".into()),
            },
        };
        let table: Vec<(u16, &str, Outcome)> = vec![
            (9, "0", Outcome::Captured),
            (5, "0", Outcome::Authorized),
            (2, "30001001", declined("30001001")),
            (2, "40001134", declined("40001134")),
            (93, "", declined("")),
            (0, "50001111", declined("50001111")),
            (0, "50001184", declined("50001184")),
            (0, "50001129", declined("50001129")),
            (0, "50001113", Outcome::Uncertain),
            (1, "", Outcome::Cancelled),
            (6, "", Outcome::Cancelled),
            (64, "", Outcome::Cancelled),
            (7, "", Outcome::Cancelled),
            (74, "", Outcome::Cancelled),
            (81, "0", Outcome::RefundPending),
            (8, "0", Outcome::Refunded),
            (85, "0", Outcome::Refunded),
            (83, "30001001", refund_refused("30001001")),
            (94, "30001001", refund_refused("30001001")),
            (46, "0", Outcome::Uncertain), // no HTML_ANSWER
        ];
        for (status, err, want) in table {
            assert_eq!(reply(status, err).outcome(), want, "STATUS {status}");
        }
        for status in [
            4, 40, 41, 50, 51, 52, 55, 56, 57, 59, 61, 62, 63, 71, 72, 73, 75, 82, 84, 91, 92, 95,
            99, 3, 10, 42, 100, 999,
        ] {
            assert_eq!(
                reply(status, "0").outcome(),
                Outcome::Uncertain,
                "STATUS {status}"
            );
        }
    }

    #[test]
    fn reason_helpers() {
        let Outcome::Declined { reason } = reply(0, "50001129").outcome() else {
            panic!()
        };
        assert!(reason.is_refund_overflow() && !reason.is_sha_mismatch());
        let Outcome::Declined { reason } = reply(0, "50001184").outcome() else {
            panic!()
        };
        assert!(reason.is_sha_mismatch());
    }

    // --- Request ------------------------------------------------------------------------------

    fn request() -> OrderDirectRequest {
        OrderDirectRequest {
            pspid: "MrPSPID".into(),
            userid: "api".into(),
            pswd: Password("secret12".into()),
            order_id: "1".into(),
            amount_cents: 100,
            currency: "EUR".into(),
            alias: "2".into(),
            alias_usage: None,
            operation: Operation::Authorization,
            eci: Eci::RecurringAfterEcommerce,
            flag3d: false,
            win3ds: None,
            accept_url: None,
            decline_url: Some(String::new()),
            exception_url: None,
            browser: None,
            language: None,
            remote_addr: None,
            param_plus: None,
            complus: None,
        }
    }

    fn as_refs(form: &[(String, String)]) -> Vec<(&str, &str)> {
        form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn minimal_form_omits_empty_fields() {
        let form = request().to_form("mynicesig", HashAlgorithm::Sha512);
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
        assert!(form.contains(&("AMOUNT".into(), "100".into())));
        assert!(form.contains(&("OPERATION".into(), "RES".into())));
        assert!(form.contains(&("ECI".into(), "9".into())));
    }

    #[test]
    fn shasign_equals_signature_module_output() {
        let mut req = request();
        req.amount_cents = 1999;
        req.operation = Operation::Sale;
        req.eci = Eci::EcommerceSsl;
        req.alias_usage = Some("Guichet card on file".into());
        req.flag3d = true;
        req.win3ds = Some(Win3ds::MainWindow);
        req.accept_url = Some("https://shop.example/ok".into());
        req.decline_url = Some("https://shop.example/ko".into());
        req.exception_url = Some("https://shop.example/ex".into());
        req.browser = Some(BrowserInfo {
            accept_header: "*/*".into(),
            color_depth: Some(24),
            java_enabled: "false".into(),
            javascript_enabled: "true".into(),
            language: "fr-FR".into(),
            screen_height: Some(1080),
            screen_width: Some(1920),
            timezone_minutes: Some(-60),
            user_agent: "Mozilla/5.0".into(),
        });
        req.language = Some("fr_FR".into());
        req.remote_addr = Some("203.0.113.7".into());
        req.param_plus = Some("attempt=1&k=v".into());
        req.complus = Some("G-1".into());
        for alg in [
            HashAlgorithm::Sha1,
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha512,
        ] {
            let form = req.to_form("mynicesig", alg);
            let (last_name, sign) = form.last().unwrap();
            assert_eq!(last_name, "SHASIGN");
            let fields = &form[..form.len() - 1];
            assert_eq!(fields.len(), 28);
            assert_eq!(sign, &sha_in(&as_refs(fields), "mynicesig", alg));
            // The signature module also skips SHASIGN itself.
            assert_eq!(sign, &sha_in(&as_refs(&form), "mynicesig", alg));
        }
        let form = req.to_form("p", HashAlgorithm::Sha256);
        assert!(form.contains(&("FLAG3D".into(), "Y".into())));
        assert!(form.contains(&("WIN3DS".into(), "MAINW".into())));
        assert!(form.contains(&("BROWSERTIMEZONE".into(), "-60".into())));
        assert!(form.contains(&("LANGUAGE".into(), "fr_FR".into())));
        assert!(form.contains(&("REMOTE_ADDR".into(), "203.0.113.7".into())));
        assert!(form.contains(&("PARAMPLUS".into(), "attempt=1&k=v".into())));
        assert!(form.contains(&("COMPLUS".into(), "G-1".into())));
    }

    #[test]
    fn signed_string_matches_reference_rule() {
        // Section 2.1 rule, in the shape of V5 (alias payment, no card data).
        let form = request().to_form("mynicesig", HashAlgorithm::Sha512);
        assert_eq!(
            sha_in_string(&as_refs(&form), "mynicesig"),
            "ALIAS=2mynicesigAMOUNT=100mynicesigCURRENCY=EURmynicesigECI=9mynicesig\
             OPERATION=RESmynicesigORDERID=1mynicesigPSPID=MrPSPIDmynicesig\
             PSWD=secret12mynicesigUSERID=apimynicesig"
        );
    }

    #[test]
    fn password_is_redacted_in_debug() {
        let dbg = format!("{:?}", request());
        assert!(!dbg.contains("secret12"));
        assert!(dbg.contains("Password(***)"));
    }

    #[test]
    fn form_with_credentials_uses_the_account() {
        let creds = Credentials::new(
            "GUICHETTEST",
            "API",
            "guichet-test",
            "Mysecretsig1875!?",
            "out",
            HashAlgorithm::Sha512,
        );
        let mut req = request();
        req.pspid = String::new();
        req.userid = String::new();
        req.pswd = Password(String::new());
        let form = req.to_form_with(&creds);
        assert_eq!(form[0], ("PSPID".into(), "GUICHETTEST".into()));
        assert_eq!(form[1], ("USERID".into(), "API".into()));
        assert_eq!(form[2], ("PSWD".into(), "guichet-test".into()));
        let (_, sign) = form.last().unwrap();
        assert_eq!(
            sign,
            &sha_in(
                &as_refs(&form[..form.len() - 1]),
                "Mysecretsig1875!?",
                HashAlgorithm::Sha512
            )
        );
    }

    // --- Reply additions ----------------------------------------------------------------------

    #[test]
    fn reads_card_fields_and_exact_amounts() {
        // The simulator's transaction shape (docs/PROVIDERS.md, DirectLink answer).
        let xml = r#"<?xml version="1.0"?><ncresponse orderID="G-1" PAYID="3014726" PAYIDSUB="2" NCSTATUS="0" NCERROR="0" NCERRORPLUS="!" ACCEPTANCE="test123" STATUS="9" amount="1111.11" currency="USD" PM="CreditCard" BRAND="VISA" CARDNO="XXXXXXXXXXXX1111" ED="1230" ECI="7" ALIAS="A1"></ncresponse>"#;
        let r = parse_ncresponse(xml).unwrap();
        assert_eq!(r.pay_id_sub.as_deref(), Some("2"));
        assert_eq!(r.alias.as_deref(), Some("A1"));
        assert_eq!(r.card_number.as_ref().unwrap().as_str(), "XXXXXXXXXXXX1111");
        assert_eq!(r.ed.as_deref(), Some("1230"));
        assert_eq!(r.expiry(), Some(CardExpiry::new(12, 2030).unwrap()));
        assert_eq!(r.eci.as_deref(), Some("7"));
        assert_eq!(r.brand.as_deref(), Some("VISA"));
        assert_eq!(r.amount_minor(), Ok(Some(111111)));
        // Section 1.4 querydirect sample: AMOUNT="4.5" GBP → 450; section 1.3 "125" EUR.
        assert_eq!(
            parse_ncresponse(&samples()[4].xml).unwrap().amount_minor(),
            Ok(Some(450))
        );
        assert_eq!(
            parse_ncresponse(&samples()[0].xml).unwrap().amount_minor(),
            Ok(Some(12500))
        );
        // No amount; JPY and KWD exponents; a bad amount.
        assert_eq!(
            parse_ncresponse(&samples()[2].xml).unwrap().amount_minor(),
            Ok(None)
        );
        let with = |amount: &str, currency: &str| {
            parse_ncresponse(&format!(
                r#"<ncresponse STATUS="9" amount="{amount}" currency="{currency}"/>"#
            ))
            .unwrap()
            .amount_minor()
        };
        assert_eq!(with("1500", "JPY"), Ok(Some(1500)));
        assert_eq!(with("1.5", "KWD"), Ok(Some(1500)));
        assert!(with("1.5", "JPY").is_err());
        assert!(with("1e3", "EUR").is_err());
        assert!(with("15", "ZZZ").is_err());
    }

    #[test]
    fn saved_card_constructors_and_cvc_check() {
        // Customer present (ECI 7) and merchant-initiated (ECI 9): an alias, no CVC field.
        let creds = Credentials::new("P", "U", "pw", "k", "k", HashAlgorithm::Sha256);
        let present =
            OrderDirectRequest::customer_present("G-1", 1500, "EUR", "A1", Operation::Sale);
        assert_eq!(present.eci, Eci::EcommerceSsl);
        assert!(!present.flag3d);
        let form = present.to_form_with(&creds);
        assert!(form.contains(&("ECI".into(), "7".into())));
        assert!(form.contains(&("ALIAS".into(), "A1".into())));
        let mit = OrderDirectRequest::merchant_initiated("G-2", 500, "EUR", "A1", Operation::Sale);
        let form = mit.to_form_with(&creds);
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
        assert!(form.contains(&("ECI".into(), "9".into())));
        assert!(form.iter().all(|(k, _)| k != "CVC" && k != "FLAG3D"));
        let (_, sign) = form.last().unwrap();
        assert_eq!(
            sign,
            &sha_in(
                &as_refs(&form[..form.len() - 1]),
                "k",
                HashAlgorithm::Sha256
            )
        );
        assert_eq!(
            OrderDirectRequest::new(
                "G-3",
                1,
                "EUR",
                "A1",
                Operation::Authorization,
                Eci::EcommerceSsl
            ),
            {
                let mut r = request();
                r.pspid.clear();
                r.userid.clear();
                r.pswd = Password(String::new());
                r.order_id = "G-3".into();
                r.amount_cents = 1;
                r.alias = "A1".into();
                r.eci = Eci::EcommerceSsl;
                r.decline_url = None;
                r
            }
        );
        // CVCCheck: the AM-T sample says NO; the simulator's OK.
        assert_eq!(
            parse_ncresponse(&samples()[1].xml)
                .unwrap()
                .cvc_check
                .as_deref(),
            Some("NO")
        );
        let r = parse_ncresponse(r#"<ncresponse STATUS="9" CVCCheck="OK"/>"#).unwrap();
        assert_eq!(r.cvc_check.as_deref(), Some("OK"));
        assert_eq!(
            parse_ncresponse(r#"<ncresponse STATUS="9"/>"#)
                .unwrap()
                .cvc_check,
            None
        );
    }

    #[test]
    fn unmasked_card_number_is_dropped() {
        let xml = r#"<ncresponse STATUS="9" CARDNO="4111111111111111" ED="99"/>"#;
        let r = parse_ncresponse(xml).unwrap();
        assert_eq!(r.card_number, None);
        assert_eq!(r.expiry(), None);
        assert_eq!(r.outcome(), Outcome::Captured);
        assert!(!format!("{r:?}").contains("4111111111111111"));
    }

    #[test]
    fn query_outcomes() {
        // docs/PROVIDERS.md, "Query": an ORDERID or PAYID the provider never received.
        let never = r#"<ncresponse orderID="G-1" PAYID="0" NCSTATUS="5" NCERROR="50001130" NCERRORPLUS="unknown order" STATUS="0"/>"#;
        let r = parse_ncresponse(never).unwrap();
        assert_eq!(r.query_outcome(), QueryOutcome::NotReceived);
        // The same code from orderdirect (unknown alias) is a data error, not "never received".
        assert!(matches!(r.outcome(), Outcome::Declined { reason } if reason.is_data_error()));
        let no_payid = r#"<ncresponse NCERROR="50001130" STATUS="0"/>"#;
        assert_eq!(
            parse_ncresponse(no_payid).unwrap().query_outcome(),
            QueryOutcome::NotReceived
        );
        // Known orders, whatever their state.
        for (xml, want) in [
            (
                r#"<ncresponse PAYID="5" NCERROR="50001130" STATUS="0"/>"#,
                Outcome::Declined {
                    reason: Reason {
                        nc_error: Some("50001130".into()),
                        text: None,
                    },
                },
            ),
            (
                r#"<ncresponse PAYID="5" NCERROR="0" STATUS="9"/>"#,
                Outcome::Captured,
            ),
            (
                r#"<ncresponse PAYID="5" NCERROR="0" STATUS="5"/>"#,
                Outcome::Authorized,
            ),
            (
                r#"<ncresponse PAYID="5" NCERROR="0" STATUS="8"/>"#,
                Outcome::Refunded,
            ),
            (
                r#"<ncresponse PAYID="5" NCERROR="0" STATUS="81"/>"#,
                Outcome::RefundPending,
            ),
            (
                r#"<ncresponse PAYID="5" NCERROR="0" STATUS="91"/>"#,
                Outcome::Uncertain,
            ),
            (
                r#"<ncresponse PAYID="0" NCERROR="50001113" STATUS="0"/>"#,
                Outcome::Uncertain,
            ),
        ] {
            assert_eq!(
                parse_ncresponse(xml).unwrap().query_outcome(),
                QueryOutcome::Known(want),
                "{xml}"
            );
        }
    }

    #[test]
    fn data_errors() {
        let reason = |e: &str| Reason {
            nc_error: Some(e.into()),
            text: None,
        };
        assert!(reason("50001111").is_data_error());
        assert!(reason("50001184").is_data_error());
        assert!(!reason("30001001").is_data_error());
        assert!(!reason("40001134").is_data_error());
        assert!(!reason("0").is_data_error());
        assert!(
            !Reason {
                nc_error: None,
                text: None
            }
            .is_data_error()
        );
    }
}
