//! Guichet's side of the provider connectors: a channel's payment system (settings and sealed
//! secrets) turned into calls of `guichet_psp`, and every provider answer turned into one
//! [`Verdict`] the settlement understands. Wire types stay in `guichet_psp`; nothing here
//! logs a request body (DirectLink bodies carry the API password).

use crate::AppState;
use crate::error::ApiError;
use axum::http::StatusCode;
use guichet_domain::Money;
use guichet_domain::config::ProviderKind;
use guichet_psp::call::CallError;
use guichet_psp::card::{CardExpiry, MaskedCardNumber};
use guichet_psp::ogone::alias::{AliasGatewayForm, AliasReturn, AliasUpdateRequest};
use guichet_psp::ogone::alias_delete::AliasDeleteRequest;
use guichet_psp::ogone::client::DirectLink;
use guichet_psp::ogone::credentials::Credentials as OgoneCredentials;
use guichet_psp::ogone::directlink::{
    BrowserInfo, Eci, NcResponse, Operation, OrderDirectRequest, Outcome, QueryOutcome, Win3ds,
};
use guichet_psp::ogone::feedback::Feedback;
use guichet_psp::ogone::maintenance::{MaintenanceOperation, MaintenanceRequest, QueryRequest};
use guichet_psp::ogone::signature::HashAlgorithm;
use guichet_psp::sips::client::Sips;
use guichet_psp::sips::credentials::Credentials as SipsCredentials;
use guichet_psp::sips::office::{
    CashManagementRequest, GetTransactionDataRequest, TransactionStatus,
};
use guichet_psp::sips::paypage::{ChallengeMode3ds, PaymentInitRequest, PaypageResult};
use guichet_psp::sips::seal::SealAlgorithm;
use guichet_store::{CardDetails, CardPayment, Refund, SavedCard};
use uuid::Uuid;

/// The buyer's browser, for 3-D Secure.
#[derive(Debug, Clone, Default)]
pub struct Browser {
    pub accept_header: String,
    pub user_agent: String,
    pub language: String,
    pub color_depth: Option<u8>,
    pub java_enabled: Option<bool>,
    pub javascript_enabled: Option<bool>,
    pub screen_height: Option<u32>,
    pub screen_width: Option<u32>,
    pub timezone_minutes: Option<i32>,
}

impl Browser {
    /// What the buyer's request headers tell (each value at most 500 characters).
    pub fn from_headers(headers: &axum::http::HeaderMap) -> Browser {
        let header = |name: &str| -> String {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .chars()
                .take(500)
                .collect()
        };
        Browser {
            accept_header: header("accept"),
            user_agent: header("user-agent"),
            language: header("accept-language")
                .split([',', ';'])
                .next()
                .unwrap_or("")
                .trim()
                .to_owned(),
            ..Browser::default()
        }
    }
}

/// The card form of a provider: the browser posts the card fields with these to `url`.
#[derive(Debug, Clone)]
pub struct CardForm {
    pub url: String,
    pub fields: Vec<(String, String)>,
}

/// A card payment to ask the provider for.
#[derive(Debug, Clone)]
pub struct Charge {
    pub reference: String,
    pub amount: Money,
    pub alias: Option<String>,
    pub three_ds: bool,
    pub language: String,
    pub browser: Browser,
    pub client_ip: String,
    /// `{base_url}/psp`: where the provider sends the buyer and its answers back.
    pub return_base: String,
    /// A merchant-initiated charge of a saved card (a later installment): ECI 9, no CVV, no
    /// 3-D Secure.
    pub merchant_initiated: bool,
}

/// What the provider says about a payment, in Guichet's terms.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Money taken (Ogone 9 or 5, Sips 00 / CAPTURED).
    Captured {
        payid: Option<String>,
        status: String,
    },
    /// Refused: nothing taken.
    Declined {
        payid: Option<String>,
        status: String,
        reason: String,
    },
    /// The provider never took the payment (never received, or refused the request as
    /// invalid): nothing taken, the buyer may try again.
    NotTaken { reason: String },
    /// The buyer gave up (3-D Secure or hosted page left, time ran out).
    Abandoned { reason: String },
    /// 3-D Secure: show this page to the buyer.
    ThreeDs { payid: Option<String>, html: String },
    /// A hosted page: send the buyer there.
    Redirect {
        url: String,
        fields: Vec<(String, String)>,
    },
    /// The provider is still waiting for the buyer (3-D Secure, hosted page).
    Waiting { status: String },
    /// Unknown (timeout, lost reply, 5xx, unreadable or unverifiable reply): ask again later.
    Unknown { why: String },
}

impl Verdict {
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Captured { .. } => "captured",
            Verdict::Declined { .. } => "declined",
            Verdict::NotTaken { .. } => "not_taken",
            Verdict::Abandoned { .. } => "abandoned",
            Verdict::ThreeDs { .. } => "three_ds",
            Verdict::Redirect { .. } => "redirect",
            Verdict::Waiting { .. } => "waiting",
            Verdict::Unknown { .. } => "unknown",
        }
    }
}

/// What the provider says about a refund.
#[derive(Debug, Clone)]
pub enum RefundVerdict {
    Done {
        payidsub: Option<String>,
    },
    /// Accepted, not final yet (Ogone 81).
    Pending {
        payidsub: Option<String>,
    },
    Refused {
        reason: String,
    },
    Unknown {
        why: String,
    },
}

/// A verified answer from the provider about a payment.
pub struct Answer {
    pub verdict: Verdict,
    /// The amount the answer is about, when it carries one.
    pub amount: Option<Money>,
}

enum Connector {
    Ogone {
        creds: OgoneCredentials,
        client: DirectLink,
        /// Where the Alias Gateway is (the browser posts there).
        base_url: String,
    },
    Sips {
        creds: SipsCredentials,
        client: Sips,
    },
}

/// A channel's payment system, ready to call.
pub struct Account {
    connector: Connector,
}

fn unusable(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "payment_system_unusable",
        message,
    )
}

fn hash_algorithm(raw: Option<&String>) -> Result<HashAlgorithm, ApiError> {
    match raw {
        None => Ok(HashAlgorithm::Sha512),
        Some(text) => HashAlgorithm::parse(text).ok_or_else(|| {
            unusable("the payment system's hash_algorithm must be SHA-1, SHA-256 or SHA-512")
        }),
    }
}

fn minor(m: Money) -> u64 {
    u64::try_from(m.amount_minor()).unwrap_or(0)
}

fn unknown(e: &CallError) -> Verdict {
    Verdict::Unknown { why: e.to_string() }
}

impl Account {
    /// The payment system of a sales channel (422 `payment_system_unusable` when there is none
    /// or it is incomplete).
    pub async fn load(state: &AppState, channel: Uuid) -> Result<Account, ApiError> {
        let system = match state.store.get_payment_system(channel).await {
            Ok(s) => s,
            Err(guichet_store::StoreError::NotFound(_)) => {
                return Err(unusable("this sales channel has no payment system"));
            }
            Err(e) => return Err(e.into()),
        };
        let secrets = state.store.payment_system_credentials(channel).await?;
        let secret = |name: &str| -> Result<String, ApiError> {
            secrets
                .get(name)
                .map(|s| s.expose().to_owned())
                .ok_or_else(|| unusable(format!("the payment system lacks its {name}")))
        };
        let http = state.config.provider_http.clone();
        let timeout = state.config.provider_timeout;
        let bad_url = |e: guichet_psp::call::BaseUrlError| {
            unusable(format!("the payment system's base URL is not usable: {e}"))
        };
        let connector =
            match system.provider {
                ProviderKind::Ogone => {
                    let base_url = format!("{}/", system.base_url.trim_end_matches('/'));
                    Connector::Ogone {
                        creds: OgoneCredentials::new(
                            system.merchant_id.clone(),
                            system.settings.get("userid").cloned().ok_or_else(|| {
                                unusable("the Ogone payment system lacks its userid")
                            })?,
                            secret("password")?,
                            secret("sha_in")?,
                            secret("sha_out")?,
                            hash_algorithm(system.settings.get("hash_algorithm"))?,
                        ),
                        client: DirectLink::new(http, &base_url, timeout).map_err(bad_url)?,
                        base_url,
                    }
                }
                ProviderKind::Sips => Connector::Sips {
                    creds: SipsCredentials::new(
                        system.merchant_id.clone(),
                        system
                            .settings
                            .get("key_version")
                            .map_or(Ok(1), |v| v.parse::<u32>())
                            .map_err(|_| unusable("the Sips key_version must be a number"))?,
                        secret("secret_key")?,
                    ),
                    client: Sips::new(http, system.base_url.trim_end_matches('/'), timeout)
                        .map_err(bad_url)?,
                },
            };
        Ok(Account { connector })
    }

    pub fn provider(&self) -> ProviderKind {
        match self.connector {
            Connector::Ogone { .. } => ProviderKind::Ogone,
            Connector::Sips { .. } => ProviderKind::Sips,
        }
    }

    /// Ogone's Alias Gateway form for a new card (Sips uses its hosted page: none).
    /// The card form for a new card. `persist`: the provider keeps the alias
    /// (`ALIASPERSISTEDAFTERUSE=Y`, a card the buyer saves or pays installments with);
    /// otherwise it deletes it 2 hours after use.
    pub fn card_form(
        &self,
        alias_order_id: &str,
        return_url: &str,
        language: &str,
        persist: bool,
    ) -> Option<CardForm> {
        let Connector::Ogone { creds, .. } = &self.connector else {
            return None;
        };
        let form = AliasGatewayForm::new(
            creds.pspid.clone(),
            alias_order_id,
            return_url,
            return_url,
            persist,
        )
        .with_language(ogone_language(language));
        self.build_form(form)
    }

    /// The form where the buyer types the CVV of a saved card: it goes from the browser to
    /// the provider with the card's alias, never to Guichet (docs/PROVIDERS.md, "Saved cards").
    pub fn cvc_form(
        &self,
        order_id: &str,
        return_url: &str,
        language: &str,
        alias: &str,
    ) -> Option<CardForm> {
        let Connector::Ogone { creds, .. } = &self.connector else {
            return None;
        };
        let form = AliasGatewayForm::saved_card_cvc(
            creds.pspid.clone(),
            order_id,
            return_url,
            return_url,
            alias,
        )
        .with_language(ogone_language(language));
        self.build_form(form)
    }

    fn build_form(&self, form: AliasGatewayForm) -> Option<CardForm> {
        let Connector::Ogone {
            creds, base_url, ..
        } = &self.connector
        else {
            return None;
        };
        match form.build(base_url, creds.sha_in.expose(), creds.algorithm) {
            Ok(f) => Some(CardForm {
                url: f.action,
                fields: f.fields,
            }),
            Err(e) => {
                tracing::error!(error = %e, "the card form cannot be built");
                None
            }
        }
    }

    /// Verifies the Alias Gateway's redirect (SHA-OUT) and that it was made for one of the
    /// forms Guichet gave for this order (`accepted`); returns the card and which form it was.
    pub fn verify_alias_return(
        &self,
        raw: &str,
        accepted: &[&str],
    ) -> Result<(CardDetails, String), ApiError> {
        let Connector::Ogone { creds, .. } = &self.connector else {
            return Err(unusable("this provider has no card form"));
        };
        let params = guichet_psp::ogone::params::parse_query(raw.trim_start_matches('?'));
        let ret =
            AliasReturn::verify(&params, creds.sha_out.expose(), creds.algorithm).map_err(|e| {
                tracing::warn!(error = %e, "card form return rejected (signature or content)");
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "card_return_invalid",
                    "the provider's return from the card form does not verify",
                )
            })?;
        if !accepted.contains(&ret.order_id.as_str()) {
            tracing::warn!("card form return made for another order: rejected");
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "card_return_invalid",
                "the provider's return from the card form belongs to another order",
            ));
        }
        if !ret.is_usable() {
            let mut f = crate::error::Fields::new();
            let fe = &ret.field_errors;
            if fe.card_number.is_some() {
                f.add("card_number", "the card number was not accepted");
            }
            if fe.expiry.is_some() {
                f.add("expiry", "the expiry date was not accepted");
            }
            if fe.cvc.is_some() {
                f.add("cvc", "the security code was not accepted");
            }
            if fe.holder.is_some() {
                f.add("holder", "the holder name was not accepted");
            }
            f.add("card", "the provider did not accept the card details");
            return Err(f.finish().err().unwrap_or_else(ApiError::internal));
        }
        let form = ret.order_id.clone();
        Ok((
            CardDetails {
                alias: ret.alias,
                masked_pan: ret.card_number.map(|m| m.as_str().to_owned()),
                brand: ret.brand,
                expiry: ret
                    .expiry
                    .map(|e| format!("{:02}{:02}", e.month(), e.year() % 100)),
                holder: ret.holder,
            },
            form,
        ))
    }

    /// Changes a saved card's expiry date (`MMYY`) and holder name at the provider.
    pub async fn update_saved_card(
        &self,
        card: &SavedCard,
        expiry: &str,
        holder: &str,
    ) -> Result<(), ApiError> {
        let Connector::Ogone { creds, client, .. } = &self.connector else {
            return Err(unusable("this provider keeps no saved cards"));
        };
        let masked = MaskedCardNumber::parse(&card.masked_pan).map_err(|_| ApiError::internal())?;
        let expiry = CardExpiry::parse_mmyy(expiry).map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_expiry",
                "the expiry date is not valid",
            )
        })?;
        let back = "https://guichet.invalid/alias-update";
        let req = AliasUpdateRequest::new(
            format!("U{}", card.id.simple())
                .chars()
                .take(30)
                .collect::<String>(),
            card.alias.clone(),
            masked,
            expiry,
            holder,
            back,
            back,
        )
        .with_brand(card.brand.clone());
        client
            .update_alias(&req, creds)
            .await
            .map(|_| ())
            .map_err(|e| {
                tracing::warn!(card = %card.id, error = %e, "the provider did not update the card");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "provider_refused",
                    "the payment provider did not accept the change; nothing was changed",
                )
            })
    }

    /// Deletes a saved card at the provider (an alias it no longer knows counts as deleted).
    pub async fn delete_saved_card(&self, card: &SavedCard) -> Result<(), ApiError> {
        let Connector::Ogone { creds, client, .. } = &self.connector else {
            return Err(unusable("this provider keeps no saved cards"));
        };
        match client
            .delete_alias(&AliasDeleteRequest::new(card.alias.clone()), creds)
            .await
        {
            Ok(outcome) if outcome.is_gone() => Ok(()),
            Ok(outcome) => {
                tracing::warn!(card = %card.id, ?outcome, "the provider did not delete the card");
                Err(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "provider_refused",
                    "the payment provider did not delete the card; try again",
                ))
            }
            Err(e) => {
                tracing::warn!(card = %card.id, error = %e, "deleting the card at the provider failed");
                Err(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "provider_unavailable",
                    "the payment provider could not be reached; nothing was changed",
                ))
            }
        }
    }

    /// Asks the provider for a payment.
    pub async fn charge(&self, c: &Charge) -> Verdict {
        match &self.connector {
            Connector::Ogone { creds, client, .. } => {
                let Some(alias) = c.alias.clone() else {
                    return Verdict::NotTaken {
                        reason: "no card alias".to_owned(),
                    };
                };
                let back = format!("{}/ogone/3ds-return", c.return_base);
                let b = &c.browser;
                let req = OrderDirectRequest {
                    pspid: creds.pspid.clone(),
                    userid: creds.userid.clone(),
                    pswd: guichet_psp::ogone::directlink::Password(creds.pswd.0.clone()),
                    order_id: c.reference.clone(),
                    amount_cents: minor(c.amount),
                    currency: c.amount.currency().code().to_owned(),
                    alias,
                    alias_usage: None,
                    operation: Operation::Sale,
                    eci: if c.merchant_initiated {
                        Eci::RecurringAfterEcommerce
                    } else {
                        Eci::EcommerceSsl
                    },
                    flag3d: c.three_ds && !c.merchant_initiated,
                    win3ds: (c.three_ds && !c.merchant_initiated).then_some(Win3ds::MainWindow),
                    accept_url: c.three_ds.then(|| back.clone()),
                    decline_url: c.three_ds.then(|| back.clone()),
                    exception_url: c.three_ds.then(|| back.clone()),
                    browser: c.three_ds.then(|| BrowserInfo {
                        accept_header: b.accept_header.clone(),
                        color_depth: b.color_depth,
                        java_enabled: b.java_enabled.map(|x| x.to_string()).unwrap_or_default(),
                        javascript_enabled: b
                            .javascript_enabled
                            .map(|x| x.to_string())
                            .unwrap_or_default(),
                        language: b.language.clone(),
                        screen_height: b.screen_height,
                        screen_width: b.screen_width,
                        timezone_minutes: b.timezone_minutes,
                        user_agent: b.user_agent.clone(),
                    }),
                    language: Some(ogone_language(&c.language)),
                    remote_addr: (c.client_ip != "unknown").then(|| c.client_ip.clone()),
                    param_plus: None,
                    complus: None,
                };
                match client.order(&req, creds).await {
                    Ok(r) => ogone_verdict(&r, true),
                    Err(CallError::NotSent(why)) => Verdict::NotTaken { reason: why },
                    Err(e) => unknown(&e),
                }
            }
            Connector::Sips { creds, client } => {
                let mut req = PaymentInitRequest::new(
                    minor(c.amount),
                    c.amount.currency().code(),
                    c.reference.clone(),
                    format!("{}/sips/return", c.return_base),
                    format!("{}/sips/auto", c.return_base),
                );
                req.challenge_mode_3ds = Some(if c.three_ds {
                    ChallengeMode3ds::ChallengeMandated
                } else {
                    ChallengeMode3ds::NoChallengeRequested
                });
                match client.payment_init(&req, creds).await {
                    Ok(r) => match r.redirect_form() {
                        Some(f) => Verdict::Redirect {
                            url: f.action,
                            fields: f.fields,
                        },
                        None => Verdict::NotTaken {
                            reason: format!(
                                "Sips refused the payment initialisation (code {})",
                                r.redirection_status_code
                            ),
                        },
                    },
                    Err(CallError::NotSent(why)) => Verdict::NotTaken { reason: why },
                    // Without a redirection the buyer cannot pay: nothing can be taken, but the
                    // reference may exist at Sips; the recovery job asks.
                    Err(e) => unknown(&e),
                }
            }
        }
    }

    /// Asks the provider where a payment stands (recovery).
    pub async fn query(&self, reference: &str) -> Verdict {
        match &self.connector {
            Connector::Ogone { creds, client, .. } => {
                match client
                    .query(&QueryRequest::by_order_id(reference), creds)
                    .await
                {
                    Ok(r) => match r.query_outcome() {
                        QueryOutcome::NotReceived => Verdict::NotTaken {
                            reason: "the provider never received the payment".to_owned(),
                        },
                        QueryOutcome::Known(_) => ogone_verdict(&r, false),
                    },
                    Err(e) => unknown(&e),
                }
            }
            Connector::Sips { creds, client } => {
                let req = GetTransactionDataRequest {
                    transaction_reference: reference.to_owned(),
                };
                match client.get_transaction_data(&req, creds).await {
                    Ok(d) if d.is_unknown() => Verdict::NotTaken {
                        reason: "the provider never received the payment".to_owned(),
                    },
                    Ok(d) => match d.transaction_status {
                        Some(TransactionStatus::Captured) => Verdict::Captured {
                            payid: None,
                            status: "CAPTURED".to_owned(),
                        },
                        Some(TransactionStatus::Refused) => Verdict::Declined {
                            payid: None,
                            status: "REFUSED".to_owned(),
                            reason: format!(
                                "refused (acquirer {})",
                                d.acquirer_response_code.unwrap_or_default()
                            ),
                        },
                        Some(TransactionStatus::Cancelled) => Verdict::Abandoned {
                            reason: "cancelled on the payment page".to_owned(),
                        },
                        Some(TransactionStatus::Pending) => Verdict::Waiting {
                            status: "PENDING".to_owned(),
                        },
                        other => Verdict::Unknown {
                            why: format!("transaction status {other:?}"),
                        },
                    },
                    Err(e) => unknown(&e),
                }
            }
        }
    }

    /// Verifies a provider's answer (Ogone 3-D Secure return or feedback: SHA-OUT; Sips
    /// responses: seal) and reads its verdict.
    pub fn verify_answer(&self, params: &[(String, String)]) -> Result<Answer, ApiError> {
        let rejected = |what: String| ApiError::bad_request(format!("rejected: {what}"));
        match &self.connector {
            Connector::Ogone { creds, .. } => {
                let f = Feedback::verify(params, creds.sha_out.expose(), creds.algorithm)
                    .map_err(|e| rejected(e.to_string()))?;
                let currency = guichet_domain::Currency::from_code(&f.currency)
                    .map_err(|_| rejected("unknown currency".to_owned()))?;
                let amount = Money::new(
                    i64::try_from(f.amount_minor).map_err(|_| rejected("amount".to_owned()))?,
                    currency,
                );
                let payid = Some(f.pay_id.clone());
                let status = f.status.to_string();
                let verdict = match f.status {
                    9 | 5 => Verdict::Captured { payid, status },
                    2 | 93 => Verdict::Declined {
                        payid,
                        status,
                        reason: reason_text(f.nc_error.as_deref(), None),
                    },
                    1 => Verdict::Abandoned {
                        reason: "cancelled by the buyer".to_owned(),
                    },
                    46 => Verdict::Waiting { status },
                    _ => Verdict::Unknown {
                        why: format!("status {status}"),
                    },
                };
                Ok(Answer {
                    verdict,
                    amount: Some(amount),
                })
            }
            Connector::Sips { creds, .. } => {
                let r = PaypageResult::verify(params, &creds.secret_key, SealAlgorithm::Sha256)
                    .map_err(|e| rejected(e.to_string()))?;
                let currency = guichet_psp::amount::currency_by_numeric(&r.currency_code)
                    .and_then(|c| guichet_domain::Currency::from_code(c.alpha).ok())
                    .ok_or_else(|| rejected("unknown currency".to_owned()))?;
                let amount = Money::new(
                    i64::try_from(r.amount_minor).map_err(|_| rejected("amount".to_owned()))?,
                    currency,
                );
                let status = r.response_code.clone();
                let verdict = match r.response_code.as_str() {
                    "00" => Verdict::Captured {
                        payid: r.authorisation_id.clone(),
                        status,
                    },
                    "17" | "97" | "75" => Verdict::Abandoned {
                        reason: format!("payment page left (code {status})"),
                    },
                    "60" | "62" => Verdict::Waiting { status },
                    "90" | "99" => Verdict::Unknown {
                        why: format!("code {status}"),
                    },
                    _ => Verdict::Declined {
                        payid: None,
                        status: status.clone(),
                        reason: format!(
                            "refused (code {status}, acquirer {})",
                            r.acquirer_response_code.clone().unwrap_or_default()
                        ),
                    },
                };
                Ok(Answer {
                    verdict,
                    amount: Some(amount),
                })
            }
        }
    }

    /// Refunds `amount` of a captured payment at the provider (`last`: nothing will remain).
    pub async fn refund(&self, payment: &CardPayment, amount: Money, last: bool) -> RefundVerdict {
        match &self.connector {
            Connector::Ogone { creds, client, .. } => {
                let Some(payid) = payment.provider_payid.clone() else {
                    return RefundVerdict::Refused {
                        reason: "the payment has no provider id".to_owned(),
                    };
                };
                let req = MaintenanceRequest {
                    pay_id: payid,
                    operation: if last {
                        MaintenanceOperation::RefundLast
                    } else {
                        MaintenanceOperation::Refund
                    },
                    amount_minor: minor(amount),
                    currency: amount.currency().code().to_owned(),
                };
                match client.maintenance(&req, creds).await {
                    Ok(r) => ogone_refund_verdict(&r),
                    Err(CallError::NotSent(why)) => RefundVerdict::Refused { reason: why },
                    Err(e) => RefundVerdict::Unknown { why: e.to_string() },
                }
            }
            Connector::Sips { creds, client } => {
                let req = CashManagementRequest {
                    transaction_reference: payment.reference.clone(),
                    operation_amount_minor: minor(amount),
                    currency: amount.currency().code().to_owned(),
                    operation_origin: "guichet".to_owned(),
                };
                match client.refund(&req, creds).await {
                    Ok(r) if r.is_accepted() => RefundVerdict::Done { payidsub: None },
                    Ok(r) => RefundVerdict::Refused {
                        reason: format!("Sips refused the refund (code {})", r.response_code),
                    },
                    Err(CallError::NotSent(why)) => RefundVerdict::Refused { reason: why },
                    Err(e) => RefundVerdict::Unknown { why: e.to_string() },
                }
            }
        }
    }

    /// Where a refund accepted as pending stands (Ogone: the history line `payidsub`).
    pub async fn query_refund(&self, payment: &CardPayment, payidsub: &str) -> RefundVerdict {
        let Connector::Ogone { creds, client, .. } = &self.connector else {
            return RefundVerdict::Pending { payidsub: None };
        };
        let Some(payid) = payment.provider_payid.clone() else {
            return RefundVerdict::Unknown {
                why: "no provider id".to_owned(),
            };
        };
        let req = QueryRequest::by_pay_id(payid).with_pay_id_sub(payidsub);
        match client.query(&req, creds).await {
            Ok(r) => match ogone_refund_verdict(&r) {
                RefundVerdict::Done { .. } => RefundVerdict::Done {
                    payidsub: Some(payidsub.to_owned()),
                },
                RefundVerdict::Pending { .. } => RefundVerdict::Pending {
                    payidsub: Some(payidsub.to_owned()),
                },
                other => other,
            },
            Err(e) => RefundVerdict::Unknown { why: e.to_string() },
        }
    }

    /// Recovery of a refund left pending. With its history line (PAYIDSUB) known, the
    /// provider is asked about that line. When the reply was lost before the line was known
    /// (a timeout, a crash), the provider's record of the payment decides:
    /// - Ogone: the payment's history is walked line by line; the first refund line with this
    ///   amount that no other refund of the payment claims is this one; no such line means the
    ///   request never reached the provider (refused, its room given back).
    /// - Sips: what the provider refunded (amount less current amount) is compared with the
    ///   refunds Guichet holds as succeeded: one refund more is this one, none more means it
    ///   never reached Sips; anything else is left to an operator.
    ///
    /// `siblings`: the payment's other refunds.
    pub async fn recover_refund(
        &self,
        payment: &CardPayment,
        refund: &Refund,
        siblings: &[Refund],
    ) -> RefundVerdict {
        match (&self.connector, refund.provider_payidsub.as_deref()) {
            (Connector::Ogone { .. }, Some(sub)) => self.query_refund(payment, sub).await,
            (Connector::Ogone { creds, client, .. }, None) => {
                let Some(payid) = payment.provider_payid.clone() else {
                    return RefundVerdict::Refused {
                        reason: "the payment has no provider id, so no refund was made".to_owned(),
                    };
                };
                let claimed: Vec<&str> = siblings
                    .iter()
                    .filter(|r| r.id != refund.id)
                    .filter_map(|r| r.provider_payidsub.as_deref())
                    .collect();
                for line in 1..=MAX_HISTORY_LINES {
                    let sub = line.to_string();
                    let req = QueryRequest::by_pay_id(payid.clone()).with_pay_id_sub(sub.clone());
                    let reply = match client.query(&req, creds).await {
                        Ok(r) => r,
                        Err(e) => return RefundVerdict::Unknown { why: e.to_string() },
                    };
                    if matches!(reply.query_outcome(), QueryOutcome::NotReceived) {
                        // The end of the history: the refund never reached the provider.
                        return RefundVerdict::Refused {
                            reason: "the refund never reached the provider".to_owned(),
                        };
                    }
                    if claimed.contains(&sub.as_str()) {
                        continue;
                    }
                    let same_amount = reply
                        .amount
                        .as_deref()
                        .and_then(|a| {
                            guichet_psp::amount::decimal_to_minor_in(
                                a,
                                refund.amount.currency().code(),
                            )
                            .ok()
                        })
                        .is_some_and(|a| i128::from(a) == i128::from(refund.amount.amount_minor()));
                    let verdict = ogone_refund_verdict(&reply);
                    let is_refund_line = !matches!(verdict, RefundVerdict::Unknown { .. });
                    if same_amount && is_refund_line {
                        return match verdict {
                            RefundVerdict::Done { .. } => RefundVerdict::Done {
                                payidsub: Some(sub),
                            },
                            RefundVerdict::Pending { .. } => RefundVerdict::Pending {
                                payidsub: Some(sub),
                            },
                            other => other,
                        };
                    }
                }
                RefundVerdict::Unknown {
                    why: "the payment's history is too long to search; check it in the provider's back office".to_owned(),
                }
            }
            (Connector::Sips { creds, client }, _) => {
                let req = GetTransactionDataRequest {
                    transaction_reference: payment.reference.clone(),
                };
                let data = match client.get_transaction_data(&req, creds).await {
                    Ok(d) => d,
                    Err(e) => return RefundVerdict::Unknown { why: e.to_string() },
                };
                let (Some(amount), Some(current)) = (data.amount_minor, data.current_amount_minor)
                else {
                    return RefundVerdict::Unknown {
                        why: "Sips gave no amounts for the payment".to_owned(),
                    };
                };
                let at_sips = i128::from(amount) - i128::from(current);
                let ours: i128 = siblings
                    .iter()
                    .filter(|r| {
                        r.id != refund.id && r.status == guichet_store::RefundStatus::Succeeded
                    })
                    .map(|r| i128::from(r.amount.amount_minor()))
                    .sum();
                let this = i128::from(refund.amount.amount_minor());
                if at_sips == ours + this {
                    RefundVerdict::Done { payidsub: None }
                } else if at_sips == ours {
                    RefundVerdict::Refused {
                        reason: "the refund never reached the provider".to_owned(),
                    }
                } else {
                    RefundVerdict::Unknown {
                        why: format!(
                            "Sips holds {at_sips} refunded, Guichet {ours} plus this {this}; check it in the provider's back office"
                        ),
                    }
                }
            }
        }
    }
}

/// History lines searched, at most, when a refund's line was never learnt.
const MAX_HISTORY_LINES: u32 = 100;

fn reason_text(nc_error: Option<&str>, text: Option<&str>) -> String {
    let code = nc_error.unwrap_or("");
    let label = match code {
        "30051001" => "authorisation declined by the issuer",
        "30511001" => "insufficient funds",
        "40001134" => "3-D Secure authentication failed",
        "30331001" | "30541001" => "card expired",
        "30041001" | "30411001" | "30431001" => "card refused (lost or stolen)",
        _ => "payment refused",
    };
    match (
        code.is_empty(),
        text.map(str::trim).filter(|t| !t.is_empty()),
    ) {
        (true, _) => label.to_owned(),
        (false, Some(t)) => format!("{label} ({code}: {t})"),
        (false, None) => format!("{label} ({code})"),
    }
}

/// An Ogone reply about a payment, as a verdict. `direct`: the reply to our own orderdirect
/// (a data error there means the provider took nothing).
fn ogone_verdict(r: &NcResponse, direct: bool) -> Verdict {
    let payid = r.pay_id.clone().filter(|p| p != "0");
    let status = r.status.to_string();
    match r.outcome() {
        Outcome::Captured | Outcome::Authorized => Verdict::Captured { payid, status },
        Outcome::Pending3ds { html } => Verdict::ThreeDs { payid, html },
        Outcome::Declined { reason } if r.status == 0 => {
            if direct || reason.is_data_error() {
                Verdict::NotTaken {
                    reason: reason_text(reason.nc_error.as_deref(), reason.text.as_deref()),
                }
            } else {
                Verdict::Unknown {
                    why: format!("status 0, error {}", reason.nc_error.unwrap_or_default()),
                }
            }
        }
        Outcome::Declined { reason } => Verdict::Declined {
            payid,
            status,
            reason: reason_text(reason.nc_error.as_deref(), reason.text.as_deref()),
        },
        Outcome::Cancelled => Verdict::Abandoned {
            reason: "cancelled at the provider".to_owned(),
        },
        _ if r.status == 46 => Verdict::Waiting { status },
        _ => Verdict::Unknown {
            why: format!("status {status}"),
        },
    }
}

fn ogone_refund_verdict(r: &NcResponse) -> RefundVerdict {
    let payidsub = r.pay_id_sub.clone();
    match r.outcome() {
        Outcome::Refunded => RefundVerdict::Done { payidsub },
        Outcome::RefundPending => RefundVerdict::Pending { payidsub },
        Outcome::RefundRefused { reason } | Outcome::Declined { reason } => {
            let text = if reason.is_refund_overflow() {
                "the refund exceeds what remains at the provider".to_owned()
            } else {
                reason_text(reason.nc_error.as_deref(), reason.text.as_deref())
            };
            RefundVerdict::Refused { reason: text }
        }
        _ => RefundVerdict::Unknown {
            why: format!("status {}", r.status),
        },
    }
}

/// Ogone's `LANGUAGE` (`fr_FR`, `en_US`) from the order's language.
fn ogone_language(lang: &str) -> String {
    match lang.get(..2).unwrap_or("en") {
        "fr" => "fr_FR",
        "de" => "de_DE",
        "nl" => "nl_NL",
        "it" => "it_IT",
        "es" => "es_ES",
        _ => "en_US",
    }
    .to_owned()
}

/// The payment reference an answer names (Ogone `orderID`; Sips `transactionReference` in
/// `Data`), before it is verified.
pub fn reference_in(provider: ProviderKind, params: &[(String, String)]) -> Option<String> {
    match provider {
        ProviderKind::Ogone => params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("orderID"))
            .map(|(_, v)| v.clone()),
        ProviderKind::Sips => {
            let data = params.iter().find(|(k, _)| k == "Data").map(|(_, v)| v)?;
            guichet_psp::sips::paypage::parse_data(data)
                .ok()?
                .into_iter()
                .find(|(k, _)| k == "transactionReference")
                .map(|(_, v)| v)
        }
    }
}
