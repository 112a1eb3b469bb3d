//! A payment-provider simulator that speaks Ogone (Ingenico ePayments) and Worldline Sips 2.0
//! on the wire as docs/PROVIDERS.md describes them, so that Guichet runs and is tested
//! offline: Alias Gateway, DirectLink (orders, 3-D Secure, maintenance, query), post-sale
//! feedback, the Sips Paypage (JSON init, card form, sealed return, automatic response) and
//! Sips Office. Signatures are those of `guichet_psp` (SHA-IN/SHA-OUT, JSON and Data seals);
//! card checks are the domain's (`guichet_domain::card`).
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use guichet_psp_sim::{SimConfig, Simulator};
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8091").await?;
//! let sim = Simulator::new(SimConfig::default(), "http://127.0.0.1:8091");
//! println!("Ogone base URL: {}", sim.ogone_base_url()); // http://127.0.0.1:8091/ncol/test/
//! sim.serve(listener).await
//! # }
//! ```
//!
//! [`Simulator::router`] can also be nested in another axum app (`Router::nest("/psp-sim", …)`);
//! the public base URL given to [`Simulator::new`] must then include the prefix, because the
//! simulator builds the ACS, Paypage and return URLs it hands out from it. State is in memory
//! only; clones of a [`Simulator`] share it.
//!
//! # Endpoints
//!
//! | path (below the public base URL) | what |
//! |---|---|
//! | `POST /ncol/test/alias_gateway.asp`, `alias_gateway_utf8.asp` | Alias Gateway (browser form) → `303` to ACCEPTURL / EXCEPTIONURL |
//! | `POST /ncol/test/orderdirect.asp`, `orderdirect_utf8.asp` | DirectLink order (SAL, RES; alias or card data; 3-D Secure) |
//! | `GET`/`POST /ncol/test/acs.asp` | the 3-D Secure challenge page (form fields `PAYID`, `MD`) and its answer (`decision=approve\|refuse`; `answer` is accepted too) |
//! | `POST /ncol/test/aliasdirect.asp`, `aliasdirect_utf8.asp` | alias deletion (`ALIAS`, `ALIASOPERATION=DEL`): **\[UNCONFIRMED — our design\]**, docs/PROVIDERS.md "Alias deletion" |
//! | `POST /ncol/test/maintenancedirect.asp` | RFD, RFS, DES, SAL, SAS on a PAYID |
//! | `POST /ncol/test/querydirect.asp`, `querydirect_utf8.asp` | status by ORDERID or PAYID (+ PAYIDSUB) |
//! | `POST /rs-services/v2/paymentInit` | Sips Paypage JSON init |
//! | `POST /paymentprovider/init` | the Paypage card form (browser, `redirectionVersion` + `redirectionData`) |
//! | `POST /paymentprovider/pay` | card form submission (or its "Cancel" button: responseCode 17) |
//! | `GET`/`POST /paymentprovider/acs` | the Sips 3-D Secure page (`redirectionData`, `MD`) and its answer (`decision`) |
//! | `POST /rs-services/v2/cashManagement/refund`, `…/cancel` | Sips Office |
//! | `POST /rs-services/v2/diagnostic/getTransactionData` | Sips Office status |
//! | `/__sim/…` | the simulator's control endpoints (below) |
//!
//! # Merchants (`--accounts FILE`)
//!
//! [`SimConfig::default`] knows the test merchants of docs/PROVIDERS.md: Ogone `GUICHETTEST`
//! (`USERID=API`, `PSWD=guichet-test`, SHA-IN = SHA-OUT `Mysecretsig1875!?`, SHA-512, no
//! feedback URL) and Sips `002001000000001` (key `002001000000001_KEY1`, keyVersion 1).
//! [`SimConfig::from_json_file`] reads this form instead (every key optional at top level, where
//! `ogone_accounts` and `sips_merchants` are accepted for `ogone` and `sips`; `algorithm` is
//! `SHA-1`, `SHA-256` or `SHA-512`, default SHA-512; the Sips keys may also be written
//! `merchantId`, `secretKey`, `keyVersion`; `hang_ms` defaults to 60 000):
//!
//! ```
//! let config = guichet_psp_sim::SimConfig::from_json_str(r#"{
//!   "ogone": [{"pspid": "GUICHETTEST", "userid": "API", "pswd": "guichet-test",
//!              "sha_in": "Mysecretsig1875!?", "sha_out": "Mysecretsig1875!?",
//!              "algorithm": "SHA-512", "feedback_url": "http://127.0.0.1:8080/psp/ogone/feedback"}],
//!   "sips":  [{"merchant_id": "002001000000001", "secret_key": "002001000000001_KEY1",
//!              "key_version": 1}],
//!   "hang_ms": 60000
//! }"#).unwrap();
//! assert_eq!(config.ogone_accounts[0].pspid, "GUICHETTEST");
//! ```
//!
//! # Test cards
//!
//! The numbers are also constants of [`test_cards`] (`test_cards::DECLINED`, …), with the
//! table as [`TEST_CARDS`]. Any expiry not in the past and a CVC of the right length (3 digits;
//! 4 for Amex) work; the CVC's value is not checked. Every other Luhn-valid Visa, Mastercard or Amex number is
//! approved without 3-D Secure. The decline and fault numbers are `4000 0000 0000 CCC` plus
//! the Luhn digit, CCC a mnemonic code (005 decline, 051 funds, 408 timeout, 500, 502 lost
//! reply, 422 malformed).
//!
//! | number | brand | Ogone `orderdirect` | Sips Paypage |
//! |---|---|---|---|
//! | 4111 1111 1111 1111 | Visa | STATUS 9 (SAL) / 5 (RES), no 3-D Secure | `00` |
//! | 5399 9999 9999 9999 | Mastercard | success | `00` |
//! | 3741 1111 1111 111 | Amex | success | `00` |
//! | 4000 0000 0000 0002 | Visa | 3-D Secure challenge: with `FLAG3D=Y` (and ECI ≠ 9) STATUS 46 + `HTML_ANSWER` → ACS page | ACS page |
//! | 5130 2574 7453 3310 | Mastercard | challenge | ACS page |
//! | 5555 5555 5555 4444 | Mastercard | challenge | ACS page |
//! | 3714 4963 5311 004 | Amex | challenge | ACS page |
//! | 4186 4551 7583 6497 | Visa | frictionless: STATUS 9 (ECI 5 with `FLAG3D=Y`), no page | `00`, `holderAuthentStatus=SUCCESS` |
//! | 4419 1772 7495 5460 | Visa | with `FLAG3D=Y`: STATUS 2, NCERROR 40001134; without: success | `05`, `FAILURE` |
//! | 4000 0000 0000 0051 | Visa | declined: STATUS 2, NCERROR 30051001 | `05` (acquirer `05`) |
//! | 4000 0000 0000 0515 | Visa | insufficient funds: STATUS 2, NCERROR 30511001 | `51` (acquirer `51`) |
//! | 4000 0000 0000 4087 | Visa | timeout: recorded and captured, the reply is held back for `hang` (60 s) | captured; the return page and automatic response are held back for `hang` |
//! | 4000 0000 0000 5027 | Visa | lost reply: recorded and captured, then the connection is closed without a reply | captured; connection closed, no automatic response |
//! | 4000 0000 0000 5001 | Visa | HTTP 500 before anything is recorded | HTTP 500, nothing recorded (the form can be posted again) |
//! | 4000 0000 0000 4228 | Visa | malformed: recorded and captured, the XML is cut in half | captured; `Data` cut in half (the `Seal` is that of the whole) |
//!
//! The card number is checked when it is typed (Alias Gateway, Paypage) and the behaviour
//! applies where the card is charged (`orderdirect`, the Paypage submission or its ACS answer).
//! A challenge card, or any card when Sips is asked for `CHALLENGE_MANDATED`, shows the ACS
//! page; "Approve" authenticates, then the card's own behaviour applies.
//!
//! # Control endpoints (`/__sim/…`)
//!
//! | call | does |
//! |---|---|
//! | `POST /__sim/faults` `{"path", "kind", "latency_ms"?, "count"?}` | queues a fault for the next `count` (default 1) requests on `path` → `201 {"queued", "faults"}`; `400` for an unknown path or kind, or `bad_signature` where nothing is signed |
//! | `GET /__sim/faults`, `DELETE /__sim/faults` | lists / clears the queued faults |
//! | `POST /__sim/latency {"ms": n}` | adds `n` ms to every server-to-server request (orderdirect, aliasdirect, maintenancedirect, querydirect, paymentInit, refund, cancel, getTransactionData); `0` stops it |
//! | `POST /__sim/hold {"on": bool}` | while on, every server-to-server request waits at the door (after the latency) until it is turned off: a benchmark piles payments up at the provider to count how many Guichet holds in flight at once |
//! | `GET /__sim/in-flight` | `{"waiting", "peak", "held", "latency_ms"}`: server-to-server requests waiting now (latency or hold), the most seen at once since the last reset, and whether the hold is on |
//! | `POST /__sim/feedback-mode {"mode": "normal" \| "duplicate" \| "off"}` or `{"mode": "late", "late_ms": n}` | how Ogone post-sale feedback and Sips automatic responses are sent: once, twice, not at all, or after `n` ms |
//! | `POST /__sim/feedback-url {"pspid", "url"}` | sets an Ogone account's post-sale feedback URL at run time (`null`: back to the configured one) |
//! | `GET /__sim/transactions` | every transaction, oldest first: `provider` (`ogone`/`sips`), `merchant`, `reference` (ORDERID / transactionReference), `payid` (string; `null` for Sips), `status` (Ogone STATUS as a string, Sips transactionStatus), `amount_minor`, `currency`, `captured_minor`, `refunds` `[{payidsub, amount_minor, status}]`, `eci`, `flag3d`, `challenge` (`none`/`pending`/`approved`/`refused`), `alias`, `masked_pan` (`411111XXXXXX1111`), `brand`, `created_at`, and per provider `ncerror`, `operation`, `operations`, `refunded_minor` (Ogone) or `response_code`, `current_minor`, `cancelled_minor`, `holder_authent_status`, `challenge_mode`, `currency_code` (Sips) |
//! | `GET /__sim/aliases` | live Ogone aliases (deleted and expired ones are absent): `pspid`, `alias`, `brand`, `masked_pan`, `cardno`, `ed`, `holder`, `persisted`, `persisted_after_use` (`Y`/`N`), `expires_at`, `cvc_pending` (`cvc_stored`, its old name), `behaviour`, `behaviour_overridden`, `created_at`, `updated_at`; never a number or CVC |
//! | `POST /__sim/aliases/{alias}/behaviour {"behaviour", "pspid"?}` | later orders with the alias `decline`, `insufficient_funds`, `approve` (or any test-card behaviour); `"card"`/`null` back to the number's own → `200` with the alias; `404` unknown alias |
//! | `POST /__sim/clock {"advance_s" \| "advance_ms": n}`, `GET /__sim/clock` | moves the simulator's clock forward (temporary aliases, a typed CVC's 15 minutes, expiries) → `{"now", "offset_ms"}` |
//! | `POST /__sim/reset` | forgets transactions, aliases, faults, latency, feedback mode and URLs, and the clock's advance (PAYIDs keep growing, never reused) |
//!
//! Fault `path`s: `alias_gateway`, `orderdirect`, `aliasdirect`, `maintenancedirect`, `querydirect`, `acs`
//! (the Ogone ACS page and its answer), `paymentInit`, `init` (the Paypage card form), `pay`
//! (the card form's submission and the Sips ACS answer), `refund`, `cancel`,
//! `getTransactionData` (`.asp`, `_utf8` and full paths are accepted). Fault `kind`s:
//!
//! - `timeout`: the request is processed and recorded, the reply held back for
//!   [`SimConfig::hang`];
//! - `http500`: `500` before anything is processed;
//! - `malformed`: processed, the reply cut in half (XML, JSON, a redirect's query string, the
//!   Sips `Data`);
//! - `lost_reply_after_commit`: processed, then the connection is closed without a reply (for
//!   `pay`, no automatic response either);
//! - `bad_signature`: the next signature made on that path uses a wrong key: the Alias
//!   Gateway redirect, the 3-D Secure redirect and its feedback (`acs`), the Sips `Seal` of the
//!   return and automatic response (`pay`), the `seal` of a Sips JSON answer;
//! - `latency`: waits `latency_ms`, then answers normally.
//!
//! # Card data
//!
//! Card numbers and CVCs stay in this process's memory. Logs, replies, redirects, feedback and
//! listings only ever carry masked numbers (`XXXXXXXXXXXX1111`, `411111######1111`,
//! `411111XXXXXX1111`); a CVC is never sent anywhere. A CVC typed into the Alias Gateway is
//! held 15 minutes (simulated clock) for the next `orderdirect` on that alias, which takes it
//! (`CVCCheck=OK`, unless the order is merchant-initiated, ECI 9, which discards it); a
//! transaction keeps no CVC.
//!
//! The points where docs/PROVIDERS.md left a choice to the simulator are listed there, in
//! "Simulator".

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;

mod admin;
mod cards;
mod config;
mod ogone;
mod pages;
mod reply;
mod sips;
mod state;
mod util;

pub use cards::{CardBehaviour, TEST_CARDS, TestCard};

/// The test cards: [`TEST_CARDS`] and one constant per number (see the crate documentation).
pub mod test_cards {
    pub use crate::cards::numbers::*;
    pub use crate::cards::{CardBehaviour, TEST_CARDS, TestCard, behaviour_of};
}
pub use config::{DEFAULT_HANG, OgoneAccount, SimConfig, SipsMerchant};

use state::{FeedbackMode, State};

/// Where the Ogone pages live, below the public base URL.
pub const OGONE_BASE_PATH: &str = "/ncol/test/";
/// Where the Sips JSON (Paypage init and Office) endpoints live.
pub const SIPS_OFFICE_BASE_PATH: &str = "/rs-services/v2/";
/// Where the Sips Paypage (browser) pages live.
pub const SIPS_PAYPAGE_BASE_PATH: &str = "/paymentprovider/";
/// The simulator's own control endpoints (not part of any provider's protocol).
pub const ADMIN_BASE_PATH: &str = "/__sim/";

/// How long a feedback or automatic-response POST may take.
const FEEDBACK_TIMEOUT: Duration = Duration::from_secs(10);

/// The provider simulator. Cheap to clone (an `Arc` inside); every clone shares one memory.
#[derive(Clone)]
pub struct Simulator {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: SimConfig,
    base_url: String,
    state: Mutex<State>,
    http: reqwest::Client,
    /// Server-to-server requests waiting now (latency or hold) and the most at once.
    pub(crate) waiting: AtomicU64,
    pub(crate) peak_waiting: AtomicU64,
    /// `true` while `POST /__sim/hold` holds server-to-server requests at the door.
    pub(crate) hold: tokio::sync::watch::Sender<bool>,
}

impl Simulator {
    /// A simulator for `config`, reachable by browsers and by Guichet at `public_base_url`
    /// (e.g. `http://127.0.0.1:8091`, or `http://host/psp-sim` when its router is nested
    /// there): the ACS, Paypage and return URLs it hands out start with it.
    pub fn new(config: SimConfig, public_base_url: impl Into<String>) -> Simulator {
        // reqwest is built without a default crypto provider: install ring's if nobody has
        // installed one yet (plain http needs none, https feedback URLs do).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(FEEDBACK_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let base_url = public_base_url.into().trim_end_matches('/').to_owned();
        Simulator {
            inner: Arc::new(Inner {
                config,
                base_url,
                state: Mutex::new(State::new(util::now())),
                http,
                waiting: AtomicU64::new(0),
                peak_waiting: AtomicU64::new(0),
                hold: tokio::sync::watch::Sender::new(false),
            }),
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    /// The public base URL, without a trailing `/`.
    pub fn public_base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The Ogone base URL to configure in Guichet: `{public}/ncol/test/`.
    pub fn ogone_base_url(&self) -> String {
        self.url(OGONE_BASE_PATH)
    }

    /// The Sips base URL (Office and Paypage init share it): `{public}`; the paths
    /// `/rs-services/v2/…` follow.
    pub fn sips_base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    /// Every route: Ogone, Sips and `/__sim`.
    pub fn router(&self) -> Router {
        Router::new()
            .merge(ogone::routes())
            .merge(sips::routes())
            .merge(admin::routes())
            .with_state(self.clone())
    }

    /// Serves [`Simulator::router`] on `listener` until the process ends.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits `latency_ms`, then for the hold to be off, counted in the in-flight gauge.
    pub(crate) async fn wait_at_door(&self, latency_ms: u64) {
        let held = *self.inner.hold.borrow();
        if latency_ms == 0 && !held {
            return;
        }
        let now = self.inner.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        self.inner.peak_waiting.fetch_max(now, Ordering::SeqCst);
        if latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(latency_ms)).await;
        }
        let mut hold = self.inner.hold.subscribe();
        // `wait_for` returns at once when the hold is off (or the sender is gone).
        let _ = hold.wait_for(|on| !*on).await;
        self.inner.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    /// The simulator's clock: the real time plus what `POST /__sim/clock` advanced it by.
    /// Takes the state lock: never call it while holding [`Simulator::state`].
    pub(crate) fn now(&self) -> time::OffsetDateTime {
        let offset = self.state().clock_offset;
        util::now() + offset
    }

    /// `{public}{path}`, `path` starting with `/`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.base_url)
    }

    /// The post-sale feedback URL of an Ogone account (runtime setting first).
    pub(crate) fn feedback_url(&self, pspid: &str) -> Option<String> {
        if let Some(url) = self.state().feedback_urls.get(pspid) {
            return Some(url.clone()).filter(|u| !u.is_empty());
        }
        self.inner
            .config
            .ogone_account(pspid)
            .and_then(|a| a.feedback_url.clone())
    }

    /// POSTs `form` to `url` in the background, as the feedback mode says (normal, twice,
    /// late, or not at all). One attempt per message; failures are logged.
    pub(crate) fn send_feedback(
        &self,
        url: String,
        form: Vec<(String, String)>,
        what: &'static str,
    ) {
        let mode = self.state().feedback_mode;
        let http = self.inner.http.clone();
        let sends = match mode {
            FeedbackMode::Off => {
                tracing::info!(what, "psp-sim: feedback off, not sent");
                return;
            }
            FeedbackMode::Duplicate => 2,
            FeedbackMode::Normal | FeedbackMode::Late(_) => 1,
        };
        tokio::spawn(async move {
            if let FeedbackMode::Late(ms) = mode {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            for _ in 0..sends {
                match http.post(&url).form(&form).send().await {
                    Ok(response) => {
                        tracing::info!(
                            what,
                            status = response.status().as_u16(),
                            "psp-sim: feedback sent"
                        );
                    }
                    Err(error) => {
                        tracing::warn!(what, %error, "psp-sim: feedback not delivered");
                    }
                }
            }
        });
    }
}
