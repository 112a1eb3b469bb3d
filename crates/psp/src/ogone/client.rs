//! The DirectLink client: posts signed forms to `orderdirect`, `maintenancedirect` and
//! `querydirect` and reads the `<ncresponse>` (docs/PROVIDERS.md, "DirectLink", "Maintenance",
//! "Query"; shared/reference/psp-protocols.md, section 1.1).
//!
//! Errors follow [`CallError`]: only [`CallError::NotSent`] means the provider cannot have seen
//! the request. After any other error, ask with [`DirectLink::query`] (by `ORDERID`) before
//! trying again; a [`super::directlink::QueryOutcome::NotReceived`] answer then means the
//! order never arrived.
//!
//! Saved cards: [`DirectLink::update_alias`] posts an alias update to the Alias Gateway and
//! reads its redirect without following it; [`DirectLink::delete_alias`] deletes an alias
//! (**\[UNCONFIRMED — our design\]**, see [`super::alias_delete`]). Both can be sent again after
//! any error.
//!
//! Nothing is logged but the operation, HTTP status and duration: the forms carry `PSWD`.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::alias::{ALIAS_GATEWAY_PAGE, AliasUpdateError, AliasUpdateRequest, AliasUpdated};
use super::alias_delete::{ALIAS_DELETE_PAGE, AliasDeleteOutcome, AliasDeleteRequest};
use super::directlink::{
    MaintenanceRequest, NcResponse, OrderDirectRequest, QueryRequest, parse_ncresponse,
};
use crate::call::{self, BaseUrlError, CallError, HttpRequest, Transport};

pub use super::credentials::{Credentials, Passphrase};

/// New orders (the UTF-8 variant, section 1.1).
pub const ORDER_PAGE: &str = "orderdirect_utf8.asp";
/// Maintenance on a PAYID (section 1.1 lists no UTF-8 variant).
pub const MAINTENANCE_PAGE: &str = "maintenancedirect.asp";
/// Status queries (the UTF-8 variant).
pub const QUERY_PAGE: &str = "querydirect_utf8.asp";

const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
const XML_ACCEPT: &str = "text/xml, application/xml";
const HTML_ACCEPT: &str = "text/html";

/// An Ogone DirectLink client for one base URL (`https://…/ncol/test/`). Cheap to clone.
#[derive(Clone)]
pub struct DirectLink {
    transport: Arc<dyn Transport>,
    base_url: Url,
    timeout: Duration,
}

impl std::fmt::Debug for DirectLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectLink")
            .field("base_url", &self.base_url.as_str())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl DirectLink {
    /// A client over `http` (see the [`Transport`] implementation of `reqwest::Client` for how
    /// to build it). `base_url` is the Ogone base ending in `/ncol/test/` or `/ncol/prod/` (a
    /// missing final `/` is added); `timeout` bounds each whole call.
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        timeout: Duration,
    ) -> Result<DirectLink, BaseUrlError> {
        DirectLink::with_transport(Arc::new(http), base_url, timeout)
    }

    /// A client over any [`Transport`].
    pub fn with_transport(
        transport: Arc<dyn Transport>,
        base_url: &str,
        timeout: Duration,
    ) -> Result<DirectLink, BaseUrlError> {
        Ok(DirectLink {
            transport,
            base_url: call::parse_base_url(base_url)?,
            timeout,
        })
    }

    /// The base URL, with its final `/`.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// A new order (`orderdirect_utf8.asp`). `PSPID`, `USERID`, `PSWD` and the signature come
    /// from `credentials` ([`OrderDirectRequest::to_form_with`]).
    pub async fn order(
        &self,
        request: &OrderDirectRequest,
        credentials: &Credentials,
    ) -> Result<NcResponse, CallError> {
        self.post(ORDER_PAGE, "order", request.to_form_with(credentials))
            .await
    }

    /// A maintenance operation (`maintenancedirect.asp`).
    pub async fn maintenance(
        &self,
        request: &MaintenanceRequest,
        credentials: &Credentials,
    ) -> Result<NcResponse, CallError> {
        self.post(
            MAINTENANCE_PAGE,
            "maintenance",
            request.to_form(credentials),
        )
        .await
    }

    /// A status query (`querydirect_utf8.asp`); read the reply with
    /// [`NcResponse::query_outcome`].
    pub async fn query(
        &self,
        request: &QueryRequest,
        credentials: &Credentials,
    ) -> Result<NcResponse, CallError> {
        self.post(QUERY_PAGE, "query", request.to_form(credentials))
            .await
    }

    /// Updates a saved card's expiry date and holder name (section 3.1 [P-AGUPD]): posts
    /// [`AliasUpdateRequest::to_form`] to the Alias Gateway (`alias_gateway_utf8.asp`), takes
    /// the `Location` of its `303` without following it (the transport must not follow
    /// redirects), and verifies it with the account's SHA-OUT ([`AliasUpdated::from_location`]).
    /// Returns the card as the gateway now holds it (masked).
    pub async fn update_alias(
        &self,
        request: &AliasUpdateRequest,
        credentials: &Credentials,
    ) -> Result<AliasUpdated, AliasUpdateError> {
        let form = request.to_form(credentials)?;
        let location = call::post_for_redirect(
            self.transport.as_ref(),
            self.http_request(ALIAS_GATEWAY_PAGE, HTML_ACCEPT, &form)?,
            "ogone",
            "alias_update",
        )
        .await?;
        AliasUpdated::from_location(
            &location,
            request,
            credentials.sha_out.expose(),
            credentials.algorithm,
        )
    }

    /// Deletes an alias (`aliasdirect_utf8.asp`, **\[UNCONFIRMED — our design\]**: see
    /// [`super::alias_delete`]). [`AliasDeleteOutcome::is_gone`] tells whether the card is
    /// gone at the provider.
    pub async fn delete_alias(
        &self,
        request: &AliasDeleteRequest,
        credentials: &Credentials,
    ) -> Result<AliasDeleteOutcome, CallError> {
        let reply = self
            .post(
                ALIAS_DELETE_PAGE,
                "alias_delete",
                request.to_form(credentials),
            )
            .await?;
        Ok(AliasDeleteOutcome::of(&reply))
    }

    fn http_request(
        &self,
        page: &str,
        accept: &'static str,
        form: &[(String, String)],
    ) -> Result<HttpRequest, CallError> {
        let body = serde_urlencoded::to_string(form)
            .map_err(|e| CallError::NotSent(format!("form encoding: {e}")))?;
        Ok(HttpRequest {
            url: call::endpoint(&self.base_url, page),
            content_type: FORM_CONTENT_TYPE,
            accept,
            body: body.into_bytes(),
            timeout: self.timeout,
        })
    }

    async fn post(
        &self,
        page: &str,
        operation: &'static str,
        form: Vec<(String, String)>,
    ) -> Result<NcResponse, CallError> {
        let request = self.http_request(page, XML_ACCEPT, &form)?;
        let bytes = call::post(self.transport.as_ref(), request, "ogone", operation).await?;
        parse_ncresponse(&call::decode_text(bytes)).map_err(|e| CallError::Malformed(e.to_string()))
    }
}
