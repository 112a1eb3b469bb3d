//! Orders through the shop API (SPEC F1, F14): create, read, cancel. The amount due is the
//! domain's; the shop only ever reads it.

use crate::AppState;
use crate::admin::MoneyJson;
use crate::auth::{self, Shop};
use crate::checkout;
use crate::error::{ApiError, ApiResult, Fields};
use crate::extract::ApiPath;
use crate::idempotency::{self, JsonResult};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{Json, Response};
use guichet_domain::config::{parse_language, parse_name};
use guichet_domain::order::{self, Delivery, EventRef, LineKind, OrderLine};
use guichet_domain::voucher;
use guichet_domain::{Currency, Money};
use guichet_store::{HoldStatus, NewOrder, Order};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Deserialize, Serialize, ToSchema)]
pub struct EventJson {
    pub id: String,
    pub name: String,
    /// RFC 3339 with the venue's offset.
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
}

#[derive(Deserialize, ToSchema)]
pub struct LineRequest {
    /// `ticket`, `voucher` or `fee`.
    pub kind: String,
    pub label: String,
    pub quantity: i64,
    pub unit_amount_minor: i64,
    /// Tickets only.
    pub event: Option<EventJson>,
    /// Voucher lines only: the voucher product sold.
    pub voucher_product: Option<Uuid>,
}

#[derive(Deserialize, ToSchema)]
pub struct DeliveryRequest {
    pub mode: String,
    pub delay: String,
    pub fee_minor: i64,
}

#[derive(Deserialize, ToSchema)]
pub struct CreateOrderRequest {
    pub point_of_sale: Option<Uuid>,
    pub contact: Option<Uuid>,
    pub currency: Option<String>,
    /// ISO 639-1, default `fr`.
    pub language: Option<String>,
    pub lines: Option<Vec<LineRequest>>,
    pub delivery: Option<DeliveryRequest>,
    pub return_url: Option<String>,
    pub cancel_url: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LineJson {
    pub kind: String,
    pub label: String,
    pub quantity: u32,
    pub unit_amount_minor: i64,
    pub amount_minor: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<EventJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voucher_product: Option<Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryJson {
    pub mode: String,
    pub delay: String,
    pub fee_minor: i64,
}

#[derive(Serialize, ToSchema)]
pub struct AppliedCodeJson {
    pub code: String,
    pub label: String,
    /// The discount it gives on this order.
    pub amount_minor: i64,
    /// `held` until the order is paid, then `committed`.
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct LegJson {
    pub id: Uuid,
    /// `voucher`, `credit_balance`, `deferred_account` or `card`.
    pub kind: String,
    pub amount_minor: i64,
    /// `held`, `committed` or `released`.
    pub status: String,
    /// Voucher legs: the voucher's code, last group only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voucher: Option<String>,
    /// Refunded from this leg so far (pending provider refunds included).
    pub refunded_minor: i64,
    /// Card legs: the payment at the provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<CardPaymentJson>,
}

/// A card payment as the provider sees it; the card is shown masked (at most BIN + last 4).
#[derive(Serialize, ToSchema)]
pub struct CardPaymentJson {
    pub id: Uuid,
    /// `ogone` or `sips`.
    pub provider: String,
    /// The reference sent to the provider (`ORDERID`, `transactionReference`).
    pub reference: String,
    /// `pending_provider`, `awaiting_3ds`, `captured`, `declined`, `failed` or `abandoned`.
    pub status: String,
    pub amount_minor: i64,
    pub three_ds_required: bool,
    /// Why 3-D Secure was or was not asked (`policy_always`, `event_within_days`, …).
    pub three_ds_reason: String,
    pub brand: Option<String>,
    pub masked_pan: Option<String>,
    pub expiry: Option<String>,
    pub holder: Option<String>,
    pub provider_payid: Option<String>,
    pub failure_reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RefundJson {
    pub id: Uuid,
    pub leg: Uuid,
    /// `card` or `credit_balance`.
    pub destination: String,
    pub amount_minor: i64,
    pub amount: MoneyJson,
    /// `pending_provider`, `succeeded` or `failed`.
    pub status: String,
    pub failure_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<&guichet_store::Refund> for RefundJson {
    fn from(r: &guichet_store::Refund) -> Self {
        RefundJson {
            id: r.id,
            leg: r.leg_id,
            destination: r.destination.as_str().to_owned(),
            amount_minor: r.amount.amount_minor(),
            amount: r.amount.into(),
            status: r.status.as_str().to_owned(),
            failure_reason: r.failure_reason.clone(),
            created_at: r.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct OrderJson {
    pub id: Uuid,
    /// `awaiting_payment`, `paid`, `cancelled` or `expired`.
    pub status: String,
    pub currency: String,
    pub language: String,
    pub point_of_sale: Uuid,
    pub contact: Option<Uuid>,
    pub lines: Vec<LineJson>,
    pub delivery: DeliveryJson,
    /// Lines plus delivery fee.
    pub total_minor: i64,
    pub applied_codes: Vec<AppliedCodeJson>,
    pub legs: Vec<LegJson>,
    /// Refunds of a paid order.
    pub refunds: Vec<RefundJson>,
    /// An order paid in installments: its schedule (the first paid at checkout).
    pub installments: Vec<crate::account::InstallmentJson>,
    /// What remains to pay (0 once paid).
    pub amount_due_minor: i64,
    pub amount_due: MoneyJson,
    #[serde(with = "time::serde::rfc3339")]
    pub hold_expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub paid_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    /// Only in the creation response: where to send the buyer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_url: Option<String>,
}

impl OrderJson {
    pub async fn build(state: &AppState, order: &Order) -> ApiResult<OrderJson> {
        let figs = checkout::figures(order)?;
        let applied_codes = order
            .promos
            .iter()
            .filter(|p| p.status != HoldStatus::Released)
            .map(|p| {
                let amount = figs
                    .discounts
                    .iter()
                    .find(|(id, _)| *id == p.id)
                    .map_or(0, |(_, m)| m.amount_minor());
                AppliedCodeJson {
                    code: p.code.clone(),
                    label: p.label.clone(),
                    amount_minor: amount,
                    status: p.status.as_str().to_owned(),
                }
            })
            .collect();
        let mut legs = Vec::with_capacity(order.legs.len());
        let has_card = order
            .legs
            .iter()
            .any(|l| l.kind == guichet_store::LegKind::Card);
        let payments = if has_card {
            state.store.card_payments_of_order(order.id).await?
        } else {
            Vec::new()
        };
        let refunds: Vec<RefundJson> = if order.status == guichet_store::OrderStatus::Paid {
            state
                .store
                .refunds_of_order(order.id)
                .await?
                .iter()
                .map(RefundJson::from)
                .collect()
        } else {
            Vec::new()
        };
        let installments = if order
            .legs
            .iter()
            .any(|l| l.kind == guichet_store::LegKind::Installments)
        {
            state
                .store
                .installments_of_order(order.id)
                .await?
                .iter()
                .map(Into::into)
                .collect()
        } else {
            Vec::new()
        };
        for l in &order.legs {
            let card = payments
                .iter()
                .find(|p| p.leg_id == l.id)
                .map(|p| CardPaymentJson {
                    id: p.id,
                    provider: p.provider.as_str().to_owned(),
                    reference: p.reference.clone(),
                    status: p.status.as_str().to_owned(),
                    amount_minor: p.amount.amount_minor(),
                    three_ds_required: p.three_ds_required,
                    three_ds_reason: p.three_ds_reason.clone(),
                    brand: p.card.brand.clone(),
                    masked_pan: p.card.masked_pan.clone(),
                    expiry: p.card.expiry.clone(),
                    holder: p.card.holder.clone(),
                    provider_payid: p.provider_payid.clone(),
                    failure_reason: p.failure_reason.clone(),
                });
            let voucher = match l.kind {
                guichet_store::LegKind::Voucher => state
                    .store
                    .get_voucher(l.source_id)
                    .await
                    .ok()
                    .map(|v| crate::admin::catalogue::masked_code(&v.code)),
                _ => None,
            };
            legs.push(LegJson {
                id: l.id,
                kind: l.kind.as_str().to_owned(),
                amount_minor: l.amount.amount_minor(),
                status: l.status.as_str().to_owned(),
                voucher,
                refunded_minor: l.refunded.amount_minor(),
                card,
            });
        }
        Ok(OrderJson {
            id: order.id,
            status: order.status.as_str().to_owned(),
            currency: order.currency.code().to_owned(),
            language: order.language.clone(),
            point_of_sale: order.point_of_sale_id,
            contact: order.contact_id,
            lines: order
                .lines
                .iter()
                .map(|l| LineJson {
                    kind: l.kind.as_str().to_owned(),
                    label: l.label.clone(),
                    quantity: l.quantity,
                    unit_amount_minor: l.unit_amount.amount_minor(),
                    amount_minor: l
                        .unit_amount
                        .checked_mul(i64::from(l.quantity))
                        .map_or(0, Money::amount_minor),
                    event: l.event.as_ref().map(|e| EventJson {
                        id: e.id.clone(),
                        name: e.name.clone(),
                        starts_at: e.starts_at,
                    }),
                    voucher_product: l.voucher_product_id,
                })
                .collect(),
            delivery: DeliveryJson {
                mode: order.delivery.mode.clone(),
                delay: order.delivery.delay.clone(),
                fee_minor: order.delivery.fee.amount_minor(),
            },
            total_minor: order.total.amount_minor(),
            applied_codes,
            legs,
            refunds,
            installments,
            amount_due_minor: figs.amount_due.amount_minor(),
            amount_due: figs.amount_due.into(),
            hold_expires_at: order.hold_expires_at,
            created_at: order.created_at,
            paid_at: order.paid_at,
            closed_at: order.closed_at,
            payment_url: None,
        })
    }
}

fn parse_url(raw: &str, f: &mut Fields, field: &str) -> Option<String> {
    let ok = (raw.starts_with("https://") || raw.starts_with("http://"))
        && raw.len() <= 2000
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Some(raw.to_owned())
    } else {
        f.add(field, "must be an http(s) URL");
        None
    }
}

/// Parses and checks an order against the shop's institution; nothing is written on error.
async fn parse_order(
    state: &AppState,
    shop: &Shop,
    req: CreateOrderRequest,
) -> ApiResult<NewOrder> {
    let mut f = Fields::new();
    let pos_id = f.required("point_of_sale", req.point_of_sale);
    let currency = f
        .required("currency", req.currency)
        .and_then(|c| f.check("currency", Currency::from_code(&c)));
    let language = f.check(
        "language",
        parse_language(req.language.as_deref().unwrap_or("fr")),
    );
    let lines_req = f.required("lines", req.lines);
    let delivery_req = f.required("delivery", req.delivery);
    let return_url = req
        .return_url
        .and_then(|u| parse_url(&u, &mut f, "return_url"));
    let cancel_url = req
        .cancel_url
        .and_then(|u| parse_url(&u, &mut f, "cancel_url"));
    f.finish()?;
    let (Some(pos_id), Some(currency), Some(language), Some(lines_req), Some(delivery_req)) =
        (pos_id, currency, language, lines_req, delivery_req)
    else {
        return Err(ApiError::internal());
    };

    let mut f = Fields::new();
    let mut lines = Vec::with_capacity(lines_req.len());
    for (i, l) in lines_req.into_iter().enumerate() {
        let field = |name: &str| format!("lines[{i}].{name}");
        let kind = f.check(&field("kind"), LineKind::parse(&l.kind));
        let label = f.check(&field("label"), parse_name(&l.label, 200));
        let quantity = match u32::try_from(l.quantity) {
            Ok(q) if (1..=order::MAX_QUANTITY).contains(&q) => Some(q),
            _ => {
                f.add(
                    &field("quantity"),
                    format!("must be between 1 and {}", order::MAX_QUANTITY),
                );
                None
            }
        };
        if l.unit_amount_minor < 0 {
            f.add(&field("unit_amount_minor"), "must not be negative");
        }
        let event = l.event.map(|e| EventRef {
            id: e.id,
            name: e.name,
            starts_at: e.starts_at,
        });
        if let (Some(kind), Some(label), Some(quantity)) = (kind, label, quantity) {
            lines.push(OrderLine {
                kind,
                label,
                quantity,
                unit_amount: Money::new(l.unit_amount_minor, currency),
                event,
                voucher_product_id: l.voucher_product,
            });
        }
    }
    if delivery_req.fee_minor < 0 {
        f.add("delivery.fee_minor", "must not be negative");
    }
    let mode = f.check("delivery.mode", parse_name(&delivery_req.mode, 100));
    let delay = f.check("delivery.delay", parse_name(&delivery_req.delay, 100));
    f.finish()?;
    let (Some(mode), Some(delay)) = (mode, delay) else {
        return Err(ApiError::internal());
    };
    let delivery = Delivery {
        mode,
        delay,
        fee: Money::new(delivery_req.fee_minor, currency),
    };
    let total = order::order_total(currency, &lines, &delivery).map_err(|e| {
        let mut f = Fields::new();
        let field = match e.line() {
            Some(i) => format!("lines[{i}]"),
            None => "lines".to_owned(),
        };
        f.add(&field, e.to_string());
        f.finish().err().unwrap_or_else(ApiError::internal)
    })?;

    // References must exist in the shop's own institution.
    let institution = shop.key.institution_id;
    let pos = state
        .store
        .get_point_of_sale(pos_id)
        .await
        .ok()
        .filter(|p| p.institution_id == institution)
        .ok_or_else(|| ApiError::not_found("point of sale"))?;
    if let Some(c) = req.contact {
        let contact = state
            .store
            .get_contact(c)
            .await
            .ok()
            .filter(|x| x.institution_id == institution)
            .ok_or_else(|| ApiError::not_found("contact"))?;
        if contact.currency != currency {
            return Err(ApiError::unprocessable(
                "the contact's account is kept in another currency",
            ));
        }
    }
    let mut f = Fields::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(product_id) = line.voucher_product_id {
            match state.store.get_voucher_product(product_id).await {
                Ok(p) if p.institution_id == institution => {
                    f.check(
                        &format!("lines[{i}].unit_amount_minor"),
                        voucher::face_value(&p.rule, line.unit_amount),
                    );
                }
                _ => f.add(
                    &format!("lines[{i}].voucher_product"),
                    "no such voucher product",
                ),
            }
        }
    }
    f.finish()?;
    let now = OffsetDateTime::now_utc();
    Ok(NewOrder {
        institution_id: institution,
        point_of_sale_id: pos.id,
        shop_key_id: Some(shop.key.id),
        contact_id: req.contact,
        currency,
        language,
        total,
        first_event_at: order::first_event_start(&lines),
        lines,
        delivery,
        return_url,
        cancel_url,
        checkout_token_hash: String::new(),
        hold_expires_at: now + time::Duration::minutes(i64::from(state.config.hold_minutes)),
    })
}

fn shop_scope(shop: &Shop) -> String {
    format!("shop:{}", shop.key.id)
}

#[utoipa::path(post, path = "/api/v1/orders", tag = "shop",
    request_body = CreateOrderRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "replays return the stored response")),
    responses((status = 201, body = OrderJson), (status = 401), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    shop: Shop,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = match idempotency::key_of(&headers) {
        Ok(k) => k,
        Err(e) => return axum::response::IntoResponse::into_response(e),
    };
    let fp = idempotency::fingerprint(&method, "/api/v1/orders", &body);
    let scope = shop_scope(&shop);
    idempotency::run(&state, &scope, key, &fp, || async {
        let req: CreateOrderRequest = idempotency::parse_json(&body)?;
        let mut new = parse_order(&state, &shop, req).await?;
        let token = auth::random_token("")?;
        new.checkout_token_hash = auth::sha256_hex(&token);
        let order = state.store.create_order(&new).await?;
        tracing::info!(order = %order.id, total_minor = order.total.amount_minor(), "order created");
        let mut json = OrderJson::build(&state, &order).await?;
        json.payment_url = Some(format!("{}/pay/{token}", state.config.base_url));
        let mut value = serde_json::to_value(json).map_err(|_| ApiError::internal())?;
        value["checkout_token"] = serde_json::Value::String(token);
        Ok((StatusCode::CREATED, value)) as JsonResult
    })
    .await
}

async fn shop_order(state: &AppState, shop: &Shop, id: Uuid) -> ApiResult<Order> {
    state
        .store
        .get_order(id)
        .await
        .ok()
        .filter(|o| o.institution_id == shop.key.institution_id)
        .ok_or_else(|| ApiError::not_found("order"))
}

#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "shop",
    responses((status = 200, body = OrderJson), (status = 401), (status = 404)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    shop: Shop,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<OrderJson>> {
    let order = shop_order(&state, &shop, id).await?;
    Ok(Json(OrderJson::build(&state, &order).await?))
}

#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "shop",
    params(("Idempotency-Key" = Option<String>, Header, description = "replays return the stored response")),
    responses((status = 200, body = OrderJson), (status = 401), (status = 404), (status = 409)), security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    shop: Shop,
    ApiPath(id): ApiPath<Uuid>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = match idempotency::key_of(&headers) {
        Ok(k) => k,
        Err(e) => return axum::response::IntoResponse::into_response(e),
    };
    let fp = idempotency::fingerprint(&method, &format!("/api/v1/orders/{id}/cancel"), &body);
    let scope = shop_scope(&shop);
    idempotency::run(&state, &scope, key, &fp, || async {
        let order = shop_order(&state, &shop, id).await?;
        let order = checkout::close(
            &state,
            order.id,
            guichet_store::OrderStatus::Cancelled,
            OffsetDateTime::now_utc(),
        )
        .await?;
        let json = OrderJson::build(&state, &order).await?;
        Ok((
            StatusCode::OK,
            serde_json::to_value(json).map_err(|_| ApiError::internal())?,
        )) as JsonResult
    })
    .await
}

#[derive(Deserialize, ToSchema)]
pub struct RefundRequest {
    /// In the order's currency, minor units.
    pub amount_minor: i64,
    /// `card` (back to the card, through the provider) or `credit_balance`.
    pub destination: String,
    /// The leg to refund from; by default the card leg for `card`, and for `credit_balance`
    /// the card leg first, then the first other leg with the room.
    pub leg: Option<Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct RefundResponse {
    pub refund: RefundJson,
    pub order: OrderJson,
}

/// Runs a refund request for `order_id` under `scope`'s idempotency keys.
pub async fn refund_request(
    state: &AppState,
    scope: &str,
    order_id: Uuid,
    requested_by: &str,
    method: &Method,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let key = match idempotency::key_of(headers) {
        Ok(k) => k,
        Err(e) => return axum::response::IntoResponse::into_response(e),
    };
    let fp = idempotency::fingerprint(method, &format!("/orders/{order_id}/refunds"), body);
    idempotency::run(state, scope, key, &fp, || async {
        let req: RefundRequest = idempotency::parse_json(body)?;
        let order = state.store.get_order(order_id).await?;
        let mut f = crate::error::Fields::new();
        let destination = guichet_store::RefundDestination::parse(&req.destination);
        if destination.is_none() {
            f.add("destination", "must be \"card\" or \"credit_balance\"");
        }
        if req.amount_minor <= 0 {
            f.add("amount_minor", "must be a positive amount in minor units");
        }
        f.finish()?;
        let destination = destination.ok_or_else(ApiError::internal)?;
        let amount = Money::new(req.amount_minor, order.currency);
        let refund = crate::cards::refund(
            state,
            order_id,
            amount,
            destination,
            req.leg,
            requested_by,
            OffsetDateTime::now_utc(),
        )
        .await?;
        let order = state.store.get_order(order_id).await?;
        let out = RefundResponse {
            refund: RefundJson::from(&refund),
            order: OrderJson::build(state, &order).await?,
        };
        let status = match refund.status {
            guichet_store::RefundStatus::Succeeded => StatusCode::CREATED,
            guichet_store::RefundStatus::PendingProvider => StatusCode::ACCEPTED,
            guichet_store::RefundStatus::Failed => StatusCode::BAD_GATEWAY,
        };
        Ok((
            status,
            serde_json::to_value(out).map_err(|_| ApiError::internal())?,
        )) as JsonResult
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/orders/{id}/refunds", tag = "shop",
    request_body = RefundRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "replays return the stored response")),
    responses((status = 201, body = RefundResponse, description = "refunded"),
        (status = 202, body = RefundResponse, description = "sent to the provider, outcome pending"),
        (status = 502, body = RefundResponse, description = "the provider refused the refund"),
        (status = 401), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn refund(
    State(state): State<AppState>,
    shop: Shop,
    ApiPath(id): ApiPath<Uuid>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = shop_order(&state, &shop, id).await {
        return axum::response::IntoResponse::into_response(e);
    }
    let scope = shop_scope(&shop);
    let by = format!("shop_key:{}", shop.key.id);
    refund_request(&state, &scope, id, &by, &method, &headers, &body).await
}

#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/refunds", tag = "admin",
    request_body = RefundRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "replays return the stored response")),
    responses((status = 201, body = RefundResponse, description = "refunded"),
        (status = 202, body = RefundResponse, description = "sent to the provider, outcome pending"),
        (status = 502, body = RefundResponse, description = "the provider refused the refund"),
        (status = 401), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn admin_refund(
    State(state): State<AppState>,
    staff: auth::Staff,
    ApiPath(id): ApiPath<Uuid>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Refunds move money: admins only, as the back-office page.
    if let Err(e) = staff.require_admin() {
        return axum::response::IntoResponse::into_response(e);
    }
    if let Err(e) = state.store.get_order(id).await {
        return axum::response::IntoResponse::into_response(ApiError::from(e));
    }
    let scope = format!("staff:{}", staff.user.id);
    let by = format!("user:{}", staff.user.username);
    refund_request(&state, &scope, id, &by, &method, &headers, &body).await
}

/// A refund decided in the back office (admins only): `cards::refund`, as the JSON API's, with
/// the user named as who asked.
pub async fn back_office_refund(
    state: &AppState,
    staff: &auth::Staff,
    order_id: Uuid,
    amount: Money,
    destination: guichet_store::RefundDestination,
    leg: Option<Uuid>,
) -> ApiResult<guichet_store::Refund> {
    staff.require_admin()?;
    let by = format!("user:{}", staff.user.username);
    crate::cards::refund(
        state,
        order_id,
        amount,
        destination,
        leg,
        &by,
        OffsetDateTime::now_utc(),
    )
    .await
}

#[utoipa::path(get, path = "/api/v1/admin/orders/{id}", tag = "admin",
    responses((status = 200, body = OrderJson), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn admin_get(
    State(state): State<AppState>,
    _staff: auth::Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<OrderJson>> {
    let order = state.store.get_order(id).await?;
    Ok(Json(OrderJson::build(&state, &order).await?))
}
