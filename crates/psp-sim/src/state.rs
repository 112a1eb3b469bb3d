//! The simulator's memory: transactions, aliases, queued faults, feedback settings.
//!
//! Everything here lives in one `Mutex` (never held across an `.await`). Card numbers and CVCs
//! exist only inside [`CardData`]; every listing shows masked numbers.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use guichet_psp::sips::seal::SealAlgorithm;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::cards::{CardBehaviour, CardData};
use crate::util::{currency_alpha, rfc3339};

/// How long an alias created with `ALIASPERSISTEDAFTERUSE=N` lives (ref §3.1: "deleted after
/// 2 h").
pub const TEMPORARY_ALIAS_LIFETIME: Duration = Duration::from_secs(2 * 3600);

/// How long a CVC typed into the Alias Gateway waits for the order that uses it (ref §3.1:
/// "stored for a limited time only"; the length is the simulator's choice, \[UNCONFIRMED\]).
pub const FRESH_CVC_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Where a 3-D Secure challenge stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    None,
    Pending,
    Approved,
    Refused,
}

impl Challenge {
    pub fn as_str(self) -> &'static str {
        match self {
            Challenge::None => "none",
            Challenge::Pending => "pending",
            Challenge::Approved => "approved",
            Challenge::Refused => "refused",
        }
    }
}

/// The endpoint a queued fault applies to (`path` of `POST /__sim/faults`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPath {
    AliasGateway,
    OrderDirect,
    AliasDirect,
    MaintenanceDirect,
    QueryDirect,
    Acs,
    PaymentInit,
    PaypageInit,
    Pay,
    Refund,
    Cancel,
    GetTransactionData,
}

impl FaultPath {
    pub const ALL: &'static [FaultPath] = &[
        FaultPath::AliasGateway,
        FaultPath::OrderDirect,
        FaultPath::AliasDirect,
        FaultPath::MaintenanceDirect,
        FaultPath::QueryDirect,
        FaultPath::Acs,
        FaultPath::PaymentInit,
        FaultPath::PaypageInit,
        FaultPath::Pay,
        FaultPath::Refund,
        FaultPath::Cancel,
        FaultPath::GetTransactionData,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultPath::AliasGateway => "alias_gateway",
            FaultPath::OrderDirect => "orderdirect",
            FaultPath::AliasDirect => "aliasdirect",
            FaultPath::MaintenanceDirect => "maintenancedirect",
            FaultPath::QueryDirect => "querydirect",
            FaultPath::Acs => "acs",
            FaultPath::PaymentInit => "paymentInit",
            FaultPath::PaypageInit => "init",
            FaultPath::Pay => "pay",
            FaultPath::Refund => "refund",
            FaultPath::Cancel => "cancel",
            FaultPath::GetTransactionData => "getTransactionData",
        }
    }

    /// Reads a path name; `.asp` suffixes and `_utf8` are accepted (`orderdirect_utf8.asp`).
    pub fn parse(text: &str) -> Option<FaultPath> {
        let t = text.trim().trim_matches('/');
        let t = t.rsplit('/').next().unwrap_or(t);
        let t = t.strip_suffix(".asp").unwrap_or(t);
        let t = t.strip_suffix("_utf8").unwrap_or(t);
        FaultPath::ALL
            .iter()
            .copied()
            .find(|p| p.as_str().eq_ignore_ascii_case(t))
    }

    /// Whether the simulator signs something on this path (redirect, feedback, Data, JSON).
    pub fn signs(self) -> bool {
        !matches!(
            self,
            FaultPath::OrderDirect
                | FaultPath::AliasDirect
                | FaultPath::MaintenanceDirect
                | FaultPath::QueryDirect
                | FaultPath::PaypageInit
        )
    }

    /// Server-to-server endpoints: these get the global latency.
    pub fn server_to_server(self) -> bool {
        matches!(
            self,
            FaultPath::OrderDirect
                | FaultPath::AliasDirect
                | FaultPath::MaintenanceDirect
                | FaultPath::QueryDirect
                | FaultPath::PaymentInit
                | FaultPath::Refund
                | FaultPath::Cancel
                | FaultPath::GetTransactionData
        )
    }
}

/// What a queued fault does (`kind` of `POST /__sim/faults`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    Timeout,
    Http500,
    Malformed,
    LostReplyAfterCommit,
    BadSignature,
    Latency,
}

impl FaultKind {
    pub const ALL: &'static [FaultKind] = &[
        FaultKind::Timeout,
        FaultKind::Http500,
        FaultKind::Malformed,
        FaultKind::LostReplyAfterCommit,
        FaultKind::BadSignature,
        FaultKind::Latency,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Timeout => "timeout",
            FaultKind::Http500 => "http500",
            FaultKind::Malformed => "malformed",
            FaultKind::LostReplyAfterCommit => "lost_reply_after_commit",
            FaultKind::BadSignature => "bad_signature",
            FaultKind::Latency => "latency",
        }
    }

    pub fn parse(text: &str) -> Option<FaultKind> {
        FaultKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

/// A fault waiting for its next `remaining` matching requests.
#[derive(Debug, Clone)]
pub struct Fault {
    pub path: FaultPath,
    pub kind: FaultKind,
    pub latency_ms: u64,
    pub remaining: u32,
}

impl Fault {
    pub fn to_json(&self) -> Value {
        json!({
            "path": self.path.as_str(),
            "kind": self.kind.as_str(),
            "latency_ms": self.latency_ms,
            "count": self.remaining,
        })
    }
}

/// How post-sale feedback (Ogone) and automatic responses (Sips) are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackMode {
    Normal,
    /// The same message is POSTed twice.
    Duplicate,
    /// Sent after this many milliseconds.
    Late(u64),
    /// Not sent at all.
    Off,
}

impl FeedbackMode {
    pub fn to_json(self) -> Value {
        match self {
            FeedbackMode::Normal => json!({"mode": "normal"}),
            FeedbackMode::Duplicate => json!({"mode": "duplicate"}),
            FeedbackMode::Late(ms) => json!({"mode": "late", "late_ms": ms}),
            FeedbackMode::Off => json!({"mode": "off"}),
        }
    }
}

/// `OPERATION` of an Ogone order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OgoneOperation {
    /// Sale: authorised and captured.
    Sal,
    /// Authorisation only.
    Res,
}

/// What an Ogone history line (PAYIDSUB) records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Refund,
    Capture,
    Cancel,
}

/// One maintenance operation on an Ogone transaction.
#[derive(Debug, Clone)]
pub struct OgoneLine {
    pub payidsub: u32,
    pub kind: LineKind,
    pub amount_minor: u64,
    /// 81 → 8 (refund), 91 → 9 (capture), 6 (cancel).
    pub status: u16,
}

/// An Ogone transaction (one PAYID).
#[derive(Debug, Clone)]
pub struct OgoneTx {
    pub seq: u64,
    pub payid: u64,
    pub pspid: String,
    pub order_id: String,
    pub amount_minor: u64,
    pub currency: String,
    pub operation: OgoneOperation,
    pub status: u16,
    pub ncerror: String,
    pub ncerror_plus: String,
    pub acceptance: String,
    pub eci: String,
    pub flag3d: bool,
    pub challenge: Challenge,
    pub alias: Option<String>,
    pub card: CardData,
    pub captured_minor: u64,
    pub captures_closed: bool,
    pub refunds_closed: bool,
    pub lines: Vec<OgoneLine>,
    pub accept_url: String,
    pub decline_url: String,
    pub exception_url: String,
    pub paramplus: String,
    pub complus: String,
    /// The secret of the 3-D Secure session (`MD` of the ACS form).
    pub acs_token: String,
    /// `CVCCheck`: `OK` when a CVC was used (typed with the card data, sent in the request, or
    /// typed again into the Alias Gateway for this alias), else `NO`.
    pub cvc_check: &'static str,
    pub created: OffsetDateTime,
}

impl OgoneTx {
    /// Refunds not refused (pending or done).
    pub fn refunded_minor(&self) -> u64 {
        self.lines
            .iter()
            .filter(|l| l.kind == LineKind::Refund)
            .map(|l| l.amount_minor)
            .sum()
    }

    pub fn next_payidsub(&self) -> u32 {
        self.lines.iter().map(|l| l.payidsub).max().unwrap_or(0) + 1
    }

    /// What a query makes of pending operations: refunds 81 → 8, captures 91 → 9 (PROVIDERS.md:
    /// "become 8 the next time they are queried").
    pub fn settle(&mut self) {
        for line in &mut self.lines {
            match line.status {
                81 => line.status = 8,
                91 => line.status = 9,
                _ => {}
            }
        }
        if self.status == 91 {
            self.status = 9;
        }
        let refunded = self.refunded_minor();
        if self.status == 9 && self.captured_minor > 0 && refunded == self.captured_minor {
            self.status = 8;
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "provider": "ogone",
            "merchant": self.pspid,
            "reference": self.order_id,
            "payid": self.payid.to_string(),
            "status": self.status.to_string(),
            "ncerror": self.ncerror,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "captured_minor": self.captured_minor,
            "refunded_minor": self.refunded_minor(),
            "refunds": self.lines.iter().filter(|l| l.kind == LineKind::Refund).map(|l| json!({
                "payidsub": l.payidsub,
                "amount_minor": l.amount_minor,
                "status": l.status.to_string(),
            })).collect::<Vec<_>>(),
            "operations": self.lines.iter().map(|l| json!({
                "payidsub": l.payidsub,
                "kind": match l.kind {
                    LineKind::Refund => "refund",
                    LineKind::Capture => "capture",
                    LineKind::Cancel => "cancel",
                },
                "amount_minor": l.amount_minor,
                "status": l.status.to_string(),
            })).collect::<Vec<_>>(),
            "operation": match self.operation { OgoneOperation::Sal => "SAL", OgoneOperation::Res => "RES" },
            "eci": self.eci,
            "flag3d": self.flag3d,
            "challenge": self.challenge.as_str(),
            "alias": self.alias,
            "masked_pan": self.card.masked_pan(),
            "brand": self.card.brand.as_str(),
            "cvc_check": self.cvc_check,
            "created_at": rfc3339(self.created),
        })
    }
}

/// A card stored under an Ogone alias.
#[derive(Debug, Clone)]
pub struct StoredAlias {
    pub pspid: String,
    pub alias: String,
    /// The card; its CVC, when it has one, is the one-time CVC typed last (see `cvc_typed`).
    pub card: CardData,
    pub persisted: bool,
    /// When the pending CVC was typed into the Alias Gateway (`None`: no CVC pending). It is
    /// good for [`FRESH_CVC_LIFETIME`] and for one order.
    pub cvc_typed: Option<OffsetDateTime>,
    /// Set by `POST /__sim/aliases/{alias}/behaviour`: overrides the card number's behaviour
    /// for every later order with this alias.
    pub behaviour: Option<CardBehaviour>,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
}

impl StoredAlias {
    pub fn new(
        pspid: &str,
        alias: &str,
        card: CardData,
        persisted: bool,
        now: OffsetDateTime,
    ) -> StoredAlias {
        let cvc_typed = card.has_cvc().then_some(now);
        StoredAlias {
            pspid: pspid.to_owned(),
            alias: alias.to_owned(),
            card,
            persisted,
            cvc_typed,
            behaviour: None,
            created: now,
            updated: now,
        }
    }

    pub fn expired(&self, now: OffsetDateTime) -> bool {
        !self.persisted && now - self.updated > TEMPORARY_ALIAS_LIFETIME
    }

    /// When a temporary alias will be forgotten.
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        (!self.persisted).then(|| self.updated + TEMPORARY_ALIAS_LIFETIME)
    }

    /// Whether a CVC typed into the Alias Gateway waits for the next order.
    pub fn cvc_pending(&self, now: OffsetDateTime) -> bool {
        self.card.has_cvc()
            && self
                .cvc_typed
                .is_some_and(|at| now - at <= FRESH_CVC_LIFETIME)
    }

    /// Forgets a CVC whose time is up.
    pub fn forget_stale_cvc(&mut self, now: OffsetDateTime) {
        if !self.cvc_pending(now) {
            self.card.take_cvc();
            self.cvc_typed = None;
        }
    }

    /// Takes the pending CVC (one order uses it, whatever that order's outcome).
    pub fn take_cvc(&mut self, now: OffsetDateTime) -> Option<String> {
        let fresh = self.cvc_pending(now);
        self.cvc_typed = None;
        self.card.take_cvc().filter(|_| fresh)
    }

    /// What an order with this alias does: the override, else the card number's behaviour.
    pub fn behaviour(&self) -> CardBehaviour {
        self.behaviour.unwrap_or_else(|| self.card.behaviour())
    }

    /// The `/__sim/aliases` line: masked number only, never the number or the CVC.
    pub fn to_json(&self, now: OffsetDateTime) -> Value {
        let pending = self.cvc_pending(now);
        json!({
            "pspid": self.pspid,
            "alias": self.alias,
            "brand": self.card.brand.as_str(),
            "masked_pan": self.card.masked_pan(),
            "cardno": self.card.masked_ogone(),
            "ed": self.card.ed(),
            "holder": self.card.holder,
            "persisted": self.persisted,
            "persisted_after_use": if self.persisted { "Y" } else { "N" },
            "expires_at": self.expires_at().map(rfc3339),
            "cvc_pending": pending,
            "cvc_stored": pending,
            "behaviour": self.behaviour().as_str(),
            "behaviour_overridden": self.behaviour.is_some(),
            "created_at": rfc3339(self.created),
            "updated_at": rfc3339(self.updated),
        })
    }
}

/// Sips `transactionStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipsStatus {
    /// Initialised; the buyer has not finished on the Paypage.
    Pending,
    Captured,
    /// Authorised, capture deferred (`captureDay` > 0).
    ToCapture,
    /// Authorised, waiting for the merchant's validation (`captureMode=VALIDATION`).
    ToValidate,
    Refused,
    Cancelled,
}

impl SipsStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SipsStatus::Pending => "PENDING",
            SipsStatus::Captured => "CAPTURED",
            SipsStatus::ToCapture => "TO_CAPTURE",
            SipsStatus::ToValidate => "TO_VALIDATE",
            SipsStatus::Refused => "REFUSED",
            SipsStatus::Cancelled => "CANCELLED",
        }
    }

    /// Accepted by the acquirer (money held or taken).
    pub fn accepted(self) -> bool {
        matches!(
            self,
            SipsStatus::Captured | SipsStatus::ToCapture | SipsStatus::ToValidate
        )
    }
}

/// A Sips Office operation (refund or cancel).
#[derive(Debug, Clone)]
pub struct SipsOperation {
    pub id: u32,
    pub amount_minor: u64,
    pub at: OffsetDateTime,
}

/// A Sips Paypage transaction (one `transactionReference`).
#[derive(Debug, Clone)]
pub struct SipsTx {
    pub seq: u64,
    pub merchant_id: String,
    pub reference: String,
    /// `redirectionData`: the Paypage session.
    pub token: String,
    pub amount_minor: u64,
    pub currency_code: String,
    pub capture_mode: String,
    pub capture_day: u32,
    pub order_channel: String,
    pub normal_return_url: String,
    pub automatic_response_url: Option<String>,
    pub challenge_mode: Option<String>,
    pub seal_algorithm: SealAlgorithm,
    pub return_context: Option<String>,
    pub status: SipsStatus,
    pub response_code: Option<String>,
    pub acquirer_response_code: Option<String>,
    pub authorisation_id: Option<String>,
    pub holder_authent_status: Option<String>,
    pub card: Option<CardData>,
    /// A card waiting for the buyer's 3-D Secure answer.
    pub pending_card: Option<CardData>,
    pub acs_token: String,
    pub challenge: Challenge,
    pub attempts: u32,
    pub refunds: Vec<SipsOperation>,
    pub cancellations: Vec<SipsOperation>,
    pub created: OffsetDateTime,
    pub transaction_date_time: String,
}

impl SipsTx {
    pub fn refunded_minor(&self) -> u64 {
        self.refunds.iter().map(|o| o.amount_minor).sum()
    }

    pub fn cancelled_minor(&self) -> u64 {
        self.cancellations.iter().map(|o| o.amount_minor).sum()
    }

    /// `currentAmount`: amount less refunds and cancellations (0 when not accepted).
    pub fn current_minor(&self) -> u64 {
        if self.status.accepted() || self.status == SipsStatus::Cancelled {
            self.amount_minor
                .saturating_sub(self.refunded_minor())
                .saturating_sub(self.cancelled_minor())
        } else {
            0
        }
    }

    pub fn captured_minor(&self) -> u64 {
        if self.status == SipsStatus::Captured {
            self.amount_minor.saturating_sub(self.cancelled_minor())
        } else {
            0
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "provider": "sips",
            "merchant": self.merchant_id,
            "reference": self.reference,
            "payid": Value::Null,
            "status": self.status.as_str(),
            "response_code": self.response_code,
            "amount_minor": self.amount_minor,
            "currency": currency_alpha(&self.currency_code).unwrap_or(&self.currency_code),
            "currency_code": self.currency_code,
            "captured_minor": self.captured_minor(),
            "current_minor": self.current_minor(),
            "refunded_minor": self.refunded_minor(),
            "cancelled_minor": self.cancelled_minor(),
            "refunds": self.refunds.iter().map(|o| json!({
                "payidsub": o.id,
                "amount_minor": o.amount_minor,
                "status": "CREDITED",
                "at": rfc3339(o.at),
            })).collect::<Vec<_>>(),
            "eci": Value::Null,
            "flag3d": self.challenge_mode.as_deref() == Some("CHALLENGE_MANDATED"),
            "challenge_mode": self.challenge_mode,
            "challenge": self.challenge.as_str(),
            "holder_authent_status": self.holder_authent_status,
            "alias": Value::Null,
            "masked_pan": self.card.as_ref().map(CardData::masked_pan),
            "brand": self.card.as_ref().map(|c| c.brand.as_str()),
            "created_at": rfc3339(self.created),
        })
    }
}

/// The whole memory.
pub struct State {
    seq: u64,
    next_payid: u64,
    pub ogone: BTreeMap<u64, OgoneTx>,
    pub aliases: BTreeMap<(String, String), StoredAlias>,
    pub sips: Vec<SipsTx>,
    pub faults: Vec<Fault>,
    pub latency_ms: u64,
    pub feedback_mode: FeedbackMode,
    /// Feedback URLs set with `POST /__sim/feedback-url` (over the configuration's).
    pub feedback_urls: HashMap<String, String>,
    /// How far `POST /__sim/clock` moved the simulator's clock ahead of the real time.
    pub clock_offset: time::Duration,
}

impl State {
    pub fn new(now: OffsetDateTime) -> State {
        // PAYIDs grow with time so that a restarted simulator does not hand out a PAYID that
        // an earlier run gave to another order.
        let start = u64::try_from(now.unix_timestamp() - 1_700_000_000)
            .unwrap_or(0)
            .saturating_mul(10)
            + 3_000_000;
        State {
            seq: 0,
            next_payid: start,
            ogone: BTreeMap::new(),
            aliases: BTreeMap::new(),
            sips: Vec::new(),
            faults: Vec::new(),
            latency_ms: 0,
            feedback_mode: FeedbackMode::Normal,
            feedback_urls: HashMap::new(),
            clock_offset: time::Duration::ZERO,
        }
    }

    /// Forgets everything but the PAYID counter (so PAYIDs are never reused); the clock is
    /// back to the real time.
    pub fn reset(&mut self) {
        self.clock_offset = time::Duration::ZERO;
        self.ogone.clear();
        self.aliases.clear();
        self.sips.clear();
        self.faults.clear();
        self.latency_ms = 0;
        self.feedback_mode = FeedbackMode::Normal;
        self.feedback_urls.clear();
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn next_payid(&mut self) -> u64 {
        self.next_payid += 1;
        self.next_payid
    }

    /// Takes one use of the first queued fault for `path` that acts when a request arrives
    /// (every kind but `bad_signature`).
    pub fn take_entry_fault(&mut self, path: FaultPath) -> Option<Fault> {
        self.take_fault(path, |k| k != FaultKind::BadSignature)
    }

    /// Takes one use of a queued `bad_signature` fault for `path`.
    pub fn take_bad_signature(&mut self, path: FaultPath) -> bool {
        self.take_fault(path, |k| k == FaultKind::BadSignature)
            .is_some()
    }

    fn take_fault(&mut self, path: FaultPath, want: impl Fn(FaultKind) -> bool) -> Option<Fault> {
        let index = self
            .faults
            .iter()
            .position(|f| f.path == path && want(f.kind) && f.remaining > 0)?;
        let fault = self.faults[index].clone();
        self.faults[index].remaining -= 1;
        if self.faults[index].remaining == 0 {
            self.faults.remove(index);
        }
        Some(fault)
    }

    pub fn ogone_by_order(&mut self, pspid: &str, order_id: &str) -> Option<&mut OgoneTx> {
        self.ogone
            .values_mut()
            .find(|t| t.pspid == pspid && t.order_id == order_id)
    }

    /// The alias (dropping it first if it was temporary and its time is up, and its CVC if
    /// that is stale).
    pub fn alias(
        &mut self,
        pspid: &str,
        alias: &str,
        now: OffsetDateTime,
    ) -> Option<&mut StoredAlias> {
        let key = (pspid.to_owned(), alias.to_owned());
        if self.aliases.get(&key).is_some_and(|a| a.expired(now)) {
            self.aliases.remove(&key);
        }
        let stored = self.aliases.get_mut(&key)?;
        stored.forget_stale_cvc(now);
        Some(stored)
    }

    /// Forgets an alias (deletion at the merchant's request). `false` if it was unknown or
    /// already expired.
    pub fn delete_alias(&mut self, pspid: &str, alias: &str, now: OffsetDateTime) -> bool {
        if self.alias(pspid, alias, now).is_none() {
            return false;
        }
        self.aliases
            .remove(&(pspid.to_owned(), alias.to_owned()))
            .is_some()
    }

    /// The PSPIDs under which `alias` exists (live ones only).
    pub fn alias_owners(&mut self, alias: &str, now: OffsetDateTime) -> Vec<String> {
        self.aliases.retain(|_, a| !a.expired(now));
        self.aliases
            .keys()
            .filter(|(_, name)| name == alias)
            .map(|(pspid, _)| pspid.clone())
            .collect()
    }

    pub fn sips_by_reference(&mut self, merchant_id: &str, reference: &str) -> Option<&mut SipsTx> {
        self.sips
            .iter_mut()
            .find(|t| t.merchant_id == merchant_id && t.reference == reference)
    }

    pub fn sips_by_token(&mut self, token: &str) -> Option<&mut SipsTx> {
        if token.is_empty() {
            return None;
        }
        self.sips.iter_mut().find(|t| t.token == token)
    }

    /// Every transaction of both providers, oldest first.
    pub fn transactions_json(&self) -> Vec<Value> {
        let mut all: Vec<(u64, Value)> = self
            .ogone
            .values()
            .map(|t| (t.seq, t.to_json()))
            .chain(self.sips.iter().map(|t| (t.seq, t.to_json())))
            .collect();
        all.sort_by_key(|(seq, _)| *seq);
        all.into_iter().map(|(_, v)| v).collect()
    }

    /// Every live alias (temporary ones past their 2 hours and deleted ones are gone).
    pub fn aliases_json(&mut self, now: OffsetDateTime) -> Vec<Value> {
        self.aliases.retain(|_, a| !a.expired(now));
        self.aliases
            .values_mut()
            .map(|a| {
                a.forget_stale_cvc(now);
                a.to_json(now)
            })
            .collect()
    }
}
