use crate::helpers::{TestApp, id};
use crate::on_both;
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn accounting_tab_moves_only_through_the_ledger(app: TestApp) {
    let t = app.tenant().await;
    let karin = app
        .created(
            "/api/v1/admin/contacts",
            json!({"institution_id": t.institution, "first_name": "Karin", "last_name": "DEU",
                   "email": "karin.deu@example.org", "deferred_allowed": true, "deferred_max_minor": 20000}),
        )
        .await;
    let path = format!("/api/v1/admin/contacts/{}", id(&karin));
    assert_eq!(
        karin["accounting"]["credit_balance"],
        json!({"amount_minor": 0, "currency": "EUR"})
    );
    assert_eq!(karin["accounting"]["deferred_room"]["amount_minor"], 20000);

    let (status, after) = app
        .admin_post(
            &format!("{path}/credit-adjustments"),
            json!({"amount_minor": 1500, "memo": "Geste commercial"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{after}");
    assert_eq!(after["accounting"]["credit_balance"]["amount_minor"], 1500);
    let (status, err) = app
        .admin_post(
            &format!("{path}/credit-adjustments"),
            json!({"amount_minor": -1501, "memo": "Trop"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["error"]["code"], "insufficient_balance");
    let (_, read) = app.admin_get(&path).await;
    assert_eq!(
        read["accounting"]["credit_balance"]["amount_minor"], 1500,
        "nothing moved"
    );
    app.admin_post(
        &format!("{path}/credit-adjustments"),
        json!({"amount_minor": -500, "memo": "Correction"}),
    )
    .await;

    let (status, history) = app.admin_get(&format!("{path}/history")).await;
    assert_eq!(status, StatusCode::OK);
    let lines = history.as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["kind"], "credit_adjustment");
    assert_eq!(lines[0]["balance_change_minor"], 1500);
    assert_eq!(lines[1]["balance_change_minor"], -500);

    let (status, patched) = app
        .call(
            Method::PATCH,
            &path,
            Some(&app.admin),
            Some(json!({"deferred_max_minor": 5000, "email": "karin@example.org"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["accounting"]["deferred_max"]["amount_minor"], 5000);
    assert_eq!(patched["email"], "karin@example.org");
    let (status, err) = app
        .call(
            Method::PATCH,
            &path,
            Some(&app.admin),
            Some(json!({"deferred_max_minor": -1, "email": "nope"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        err["error"]["fields"]["email"].is_string()
            && err["error"]["fields"]["deferred_max_minor"].is_string()
    );

    let (status, audit) = app.admin_get("/api/v1/admin/audit").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(audit["differences"], json!([]));
    assert_eq!(audit["transactions_checked"], 2);
}
on_both!(accounting_tab_moves_only_through_the_ledger);

async fn contact_validation_and_unknown_ids(app: TestApp) {
    let t = app.tenant().await;
    let (status, err) = app
        .admin_post(
            "/api/v1/admin/contacts",
            json!({"institution_id": t.institution, "email": "not-an-email", "currency": "EURO"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for f in ["last_name", "email", "currency"] {
        assert!(err["error"]["fields"][f].is_string(), "{f}: {err}");
    }
    let (status, _) = app
        .admin_get("/api/v1/admin/contacts/0190f4c4-0000-7000-8000-000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.admin_get("/api/v1/admin/contacts/not-a-uuid").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) = app
        .admin_post("/api/v1/admin/contacts", json!({"institution_id": "0190f4c4-0000-7000-8000-000000000000", "last_name": "X", "email": "x@example.org"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
on_both!(contact_validation_and_unknown_ids);
