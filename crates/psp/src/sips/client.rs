//! The Sips JSON client: Paypage `paymentInit` and the Office operations (docs/PROVIDERS.md,
//! "Paypage", "Office"). Every request is sealed; every reply's seal is verified before it is
//! read ([`CallError::BadSeal`] otherwise).
//!
//! Errors follow [`CallError`]: only [`CallError::NotSent`] means Sips cannot have seen the
//! request. After any other error on a refund or cancel, ask with
//! [`Sips::get_transaction_data`] before trying again.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use url::Url;

use super::json::ReplyError;
use super::office::{
    CashManagementRequest, CashManagementResponse, GetTransactionDataRequest, TransactionData,
};
use super::paypage::{PaymentInitRequest, PaymentInitResponse};
use crate::call::{self, BaseUrlError, CallError, HttpRequest, Transport};

pub use super::credentials::Credentials;

/// `paymentInit`, below the base URL.
pub const PAYMENT_INIT_PATH: &str = "rs-services/v2/paymentInit";
/// `cashManagement/refund`.
pub const REFUND_PATH: &str = "rs-services/v2/cashManagement/refund";
/// `cashManagement/cancel`.
pub const CANCEL_PATH: &str = "rs-services/v2/cashManagement/cancel";
/// `diagnostic/getTransactionData`.
pub const GET_TRANSACTION_DATA_PATH: &str = "rs-services/v2/diagnostic/getTransactionData";

const JSON: &str = "application/json";

/// A Sips client for one base URL (the host, e.g. `https://office-server.test.sips-services.com`,
/// or the simulator's root). Cheap to clone.
#[derive(Clone)]
pub struct Sips {
    transport: Arc<dyn Transport>,
    base_url: Url,
    timeout: Duration,
}

impl std::fmt::Debug for Sips {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sips")
            .field("base_url", &self.base_url.as_str())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Sips {
    /// A client over `http` (see the [`Transport`] implementation of `reqwest::Client`). The
    /// `/rs-services/v2/…` paths are appended to `base_url`; `timeout` bounds each whole call.
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        timeout: Duration,
    ) -> Result<Sips, BaseUrlError> {
        Sips::with_transport(Arc::new(http), base_url, timeout)
    }

    /// A client over any [`Transport`].
    pub fn with_transport(
        transport: Arc<dyn Transport>,
        base_url: &str,
        timeout: Duration,
    ) -> Result<Sips, BaseUrlError> {
        Ok(Sips {
            transport,
            base_url: call::parse_base_url(base_url)?,
            timeout,
        })
    }

    /// Opens a Paypage session.
    pub async fn payment_init(
        &self,
        request: &PaymentInitRequest,
        credentials: &Credentials,
    ) -> Result<PaymentInitResponse, CallError> {
        let body = request.to_json(credentials)?;
        let reply = self.post(PAYMENT_INIT_PATH, "paymentInit", &body).await?;
        Ok(PaymentInitResponse::parse(&reply, &credentials.secret_key)?)
    }

    /// Refunds (part of) a captured payment.
    pub async fn refund(
        &self,
        request: &CashManagementRequest,
        credentials: &Credentials,
    ) -> Result<CashManagementResponse, CallError> {
        let body = request.to_json(credentials)?;
        let reply = self.post(REFUND_PATH, "refund", &body).await?;
        Ok(CashManagementResponse::parse(
            &reply,
            &credentials.secret_key,
        )?)
    }

    /// Cancels (part of) a payment not yet captured.
    pub async fn cancel(
        &self,
        request: &CashManagementRequest,
        credentials: &Credentials,
    ) -> Result<CashManagementResponse, CallError> {
        let body = request.to_json(credentials)?;
        let reply = self.post(CANCEL_PATH, "cancel", &body).await?;
        Ok(CashManagementResponse::parse(
            &reply,
            &credentials.secret_key,
        )?)
    }

    /// A payment's status.
    pub async fn get_transaction_data(
        &self,
        request: &GetTransactionDataRequest,
        credentials: &Credentials,
    ) -> Result<TransactionData, CallError> {
        let body = request.to_json(credentials)?;
        let reply = self
            .post(GET_TRANSACTION_DATA_PATH, "getTransactionData", &body)
            .await?;
        Ok(TransactionData::parse(&reply, &credentials.secret_key)?)
    }

    async fn post(
        &self,
        path: &str,
        operation: &'static str,
        body: &Value,
    ) -> Result<String, CallError> {
        let body = serde_json::to_vec(body)
            .map_err(|e| CallError::NotSent(format!("JSON encoding: {e}")))?;
        let request = HttpRequest {
            url: call::endpoint(&self.base_url, path),
            content_type: JSON,
            accept: JSON,
            body,
            timeout: self.timeout,
        };
        let bytes = call::post(self.transport.as_ref(), request, "sips", operation).await?;
        String::from_utf8(bytes)
            .map_err(|_| CallError::from(ReplyError::NotJson("not UTF-8".into())))
    }
}
