//! The OpenAPI document served at `/api/openapi.json`, generated from the handlers' own
//! annotations so it cannot drift from the routes.

use crate::admin::{access, catalogue, contacts, payment_modes, payment_system, structure};
use axum::response::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Guichet",
        description = "Online payments for ticketing: shop API, checkout API and back office. Amounts are integers in minor units with their ISO 4217 currency; times are RFC 3339; errors are {\"error\": {\"code\", \"message\", \"fields\"}}."
    ),
    paths(
        access::login,
        access::logout,
        access::me,
        access::list_users,
        access::create_user,
        access::list_shop_keys,
        access::create_shop_key,
        access::revoke_shop_key,
        crate::webhooks::put_endpoint,
        crate::webhooks::get_endpoint,
        crate::webhooks::delete_endpoint,
        crate::webhooks::list_events,
        structure::list_institutions,
        structure::create_institution,
        structure::get_institution,
        structure::list_organizers,
        structure::create_organizer,
        structure::get_organizer,
        structure::list_channels,
        structure::create_channel,
        structure::get_channel,
        structure::list_points_of_sale,
        structure::create_point_of_sale,
        structure::get_point_of_sale,
        payment_modes::list,
        payment_modes::create,
        payment_modes::get,
        payment_modes::update,
        payment_modes::delete,
        payment_modes::list_associated,
        payment_modes::associate,
        payment_modes::dissociate,
        payment_system::get,
        payment_system::put,
        contacts::list,
        contacts::create,
        contacts::get,
        contacts::update,
        contacts::history,
        contacts::adjust_credit,
        contacts::audit,
        catalogue::settle_deferred,
        catalogue::list_promo_codes,
        catalogue::create_promo_code,
        catalogue::get_promo_code,
        catalogue::deactivate_promo_code,
        catalogue::activate_promo_code,
        catalogue::generate_coupons,
        catalogue::import_coupons,
        catalogue::list_voucher_products,
        catalogue::create_voucher_product,
        catalogue::get_voucher_product,
        catalogue::list_vouchers,
        catalogue::get_voucher,
        crate::shop::create_contact,
        crate::shop::get_contact,
        crate::orders::create,
        crate::orders::get,
        crate::orders::cancel,
        crate::checkout_api::get,
        crate::checkout_api::apply_code,
        crate::checkout_api::remove_code,
        crate::checkout_api::set_credit,
        crate::checkout_api::pay,
        crate::checkout_api::cancel,
    ),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
