//! The back-office JSON API under `/api/v1/admin/` (SPEC F13). Reading needs a signed-in user
//! of any role; changing configuration, users and keys needs the `admin` role.

pub mod access;
pub mod catalogue;
pub mod contacts;
pub mod installment_plans;
pub mod payment_modes;
pub mod payment_system;
pub mod structure;

use crate::AppState;
use crate::error::Fields;
use axum::Router;
use axum::routing::{delete, get, post};
use guichet_domain::{Currency, Money};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", post(access::login))
        .route("/logout", post(access::logout))
        .route("/me", get(access::me))
        .route("/users", get(access::list_users).post(access::create_user))
        .route(
            "/shop-keys",
            get(access::list_shop_keys).post(access::create_shop_key),
        )
        .route("/shop-keys/{id}", delete(access::revoke_shop_key))
        .route(
            "/shop-keys/{id}/webhook",
            get(crate::webhooks::get_endpoint)
                .put(crate::webhooks::put_endpoint)
                .delete(crate::webhooks::delete_endpoint),
        )
        .route("/webhook-events", get(crate::webhooks::list_events))
        .route(
            "/institutions",
            get(structure::list_institutions).post(structure::create_institution),
        )
        .route("/institutions/{id}", get(structure::get_institution))
        .route(
            "/organizers",
            get(structure::list_organizers).post(structure::create_organizer),
        )
        .route("/organizers/{id}", get(structure::get_organizer))
        .route(
            "/sales-channels",
            get(structure::list_channels).post(structure::create_channel),
        )
        .route("/sales-channels/{id}", get(structure::get_channel))
        .route(
            "/sales-channels/{id}/payment-system",
            get(payment_system::get).put(payment_system::put),
        )
        .route(
            "/points-of-sale",
            get(structure::list_points_of_sale).post(structure::create_point_of_sale),
        )
        .route("/points-of-sale/{id}", get(structure::get_point_of_sale))
        .route(
            "/points-of-sale/{id}/payment-modes",
            get(payment_modes::list_associated).post(payment_modes::associate),
        )
        .route(
            "/points-of-sale/{id}/payment-modes/{mode_id}",
            delete(payment_modes::dissociate),
        )
        .route(
            "/payment-modes",
            get(payment_modes::list).post(payment_modes::create),
        )
        .route(
            "/payment-modes/{id}",
            get(payment_modes::get)
                .put(payment_modes::update)
                .delete(payment_modes::delete),
        )
        .route("/contacts", get(contacts::list).post(contacts::create))
        .route("/contacts/{id}", get(contacts::get).patch(contacts::update))
        .route("/contacts/{id}/history", get(contacts::history))
        .route(
            "/contacts/{id}/credit-adjustments",
            post(contacts::adjust_credit),
        )
        .route(
            "/contacts/{id}/deferred-settlements",
            post(catalogue::settle_deferred),
        )
        .route("/orders/{id}", get(crate::orders::admin_get))
        .route("/orders/{id}/refunds", post(crate::orders::admin_refund))
        .route(
            "/promo-codes",
            get(catalogue::list_promo_codes).post(catalogue::create_promo_code),
        )
        .route("/promo-codes/coupons", post(catalogue::generate_coupons))
        .route("/promo-codes/import", post(catalogue::import_coupons))
        .route("/promo-codes/{id}", get(catalogue::get_promo_code))
        .route(
            "/promo-codes/{id}/deactivate",
            post(catalogue::deactivate_promo_code),
        )
        .route(
            "/promo-codes/{id}/activate",
            post(catalogue::activate_promo_code),
        )
        .route(
            "/voucher-products",
            get(catalogue::list_voucher_products).post(catalogue::create_voucher_product),
        )
        .route(
            "/voucher-products/{id}",
            get(catalogue::get_voucher_product),
        )
        .route("/vouchers", get(catalogue::list_vouchers))
        .route("/vouchers/{id}", get(catalogue::get_voucher))
        .route("/audit", get(contacts::audit))
        .route(
            "/installment-plans",
            get(installment_plans::list).post(installment_plans::create),
        )
        .route(
            "/installment-plans/{id}",
            get(installment_plans::get)
                .put(installment_plans::update)
                .delete(installment_plans::delete),
        )
        .route("/installments", get(installment_plans::list_installments))
        .route(
            "/contacts/{id}/saved-cards",
            get(installment_plans::contact_saved_cards),
        )
}

/// An amount with its currency, as every API carries it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MoneyJson {
    /// Integer amount in the currency's minor unit (cents for EUR, yen for JPY, fils for KWD).
    pub amount_minor: i64,
    /// ISO 4217 code: EUR, CHF, GBP, USD, JPY or KWD.
    #[schema(example = "EUR")]
    pub currency: String,
}

impl From<Money> for MoneyJson {
    fn from(m: Money) -> Self {
        Self {
            amount_minor: m.amount_minor(),
            currency: m.currency().code().to_owned(),
        }
    }
}

impl MoneyJson {
    /// Parses into domain money, recording a field error on failure.
    pub fn parse(&self, field: &str, fields: &mut Fields) -> Option<Money> {
        let currency = fields.check(
            &format!("{field}.currency"),
            Currency::from_code(&self.currency),
        )?;
        Some(Money::new(self.amount_minor, currency))
    }
}

/// Query filter by parent id, e.g. `?institution_id=…`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct InstitutionFilter {
    pub institution_id: Option<uuid::Uuid>,
}
