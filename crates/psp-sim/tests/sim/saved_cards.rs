//! Ogone saved cards (docs/PROVIDERS.md, "Saved cards"): persisted and one-off aliases, the CVC
//! typed again through the Alias Gateway, customer-present (ECI 7) and merchant-initiated
//! (ECI 9) orders with an alias, alias update (P-AGUPD) and deletion ([UNCONFIRMED — our
//! design]), the alias behaviour switch and the simulator's clock. Requests are made by the
//! connector (`guichet_psp`) where it has a call for them, so these tests also hold the wire
//! contract of both sides.

use std::time::Duration;

use guichet_psp::card::{CardExpiry, MaskedCardNumber};
use guichet_psp::ogone::Credentials;
use guichet_psp::ogone::alias::{
    AliasGatewayForm, AliasReturn, AliasStatus, AliasUpdateError, AliasUpdateRequest,
};
use guichet_psp::ogone::alias_delete::{AliasDeleteOutcome, AliasDeleteRequest};
use guichet_psp::ogone::client::DirectLink;
use guichet_psp::ogone::directlink::{NcResponse, Operation, OrderDirectRequest, Outcome};
use guichet_psp::ogone::params::parse_query;
use guichet_psp_sim::test_cards;
use serde_json::{Value, json};

use crate::common::*;

const ACCEPT: &str = "http://shop.test/accept";
const EXCEPTION: &str = "http://shop.test/exception";
const UPDATE_URL: &str = "http://guichet.test/ogone/alias-update";

fn creds() -> Credentials {
    Credentials::new(PSPID, USERID, PSWD, PASSPHRASE, PASSPHRASE, ALG)
}

fn connector(h: &Harness) -> DirectLink {
    DirectLink::new(client(), &h.sim.ogone_base_url(), Duration::from_secs(5)).unwrap()
}

/// Creates an alias with `ALIASPERSISTEDAFTERUSE` = `persisted`; returns it.
async fn create_alias(h: &Harness, number: &str, persisted: &str) -> String {
    let cvc = if number.starts_with('3') {
        "1234"
    } else {
        "123"
    };
    let response = h
        .alias_gateway(
            &[
                ("PSPID", PSPID),
                ("ORDERID", "create"),
                ("ACCEPTURL", ACCEPT),
                ("EXCEPTIONURL", EXCEPTION),
                ("ALIASPERSISTEDAFTERUSE", persisted),
            ],
            &[
                ("CN", "Karin Deu"),
                ("CARDNO", number),
                ("ED", "1239"),
                ("CVC", cvc),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let params = query_of(&location(&response));
    assert!(sha_out_ok(&params));
    assert_eq!(value(&params, "STATUS").as_deref(), Some("0"));
    value(&params, "ALIAS").unwrap()
}

/// The buyer's browser posting the saved-card CVC form (built by the connector) with `cvc`.
async fn type_cvc(h: &Harness, alias: &str, order_id: &str, cvc: &str) -> reqwest::Response {
    let form = AliasGatewayForm::saved_card_cvc(PSPID, order_id, ACCEPT, EXCEPTION, alias)
        .build(&h.sim.ogone_base_url(), PASSPHRASE, ALG)
        .unwrap();
    let mut fields = form.fields.clone();
    fields.push(("CVC".into(), cvc.into()));
    h.client
        .post(&form.action)
        .form(&fields)
        .send()
        .await
        .unwrap()
}

/// The redirect of a gateway answer, verified by the connector.
fn gateway_return(response: &reqwest::Response) -> AliasReturn {
    assert_eq!(response.status(), 303);
    let location = location(response);
    let query = location.split_once('?').unwrap().1;
    AliasReturn::verify(&parse_query(query), PASSPHRASE, ALG).unwrap()
}

async fn aliases(h: &Harness) -> Vec<Value> {
    let v: Value = h
        .client
        .get(format!("{}/__sim/aliases", h.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v.as_array().unwrap().clone()
}

async fn listed(h: &Harness, alias: &str) -> Option<Value> {
    aliases(h).await.into_iter().find(|a| a["alias"] == alias)
}

async fn charge(h: &Harness, request: &OrderDirectRequest) -> NcResponse {
    connector(h).order(request, &creds()).await.unwrap()
}

fn present(order_id: &str, alias: &str) -> OrderDirectRequest {
    OrderDirectRequest::customer_present(order_id, 2500, "EUR", alias, Operation::Sale)
}

fn instalment(order_id: &str, alias: &str) -> OrderDirectRequest {
    OrderDirectRequest::merchant_initiated(order_id, 1000, "EUR", alias, Operation::Sale)
}

async fn behaviour(h: &Harness, alias: &str, body: Value) -> reqwest::Response {
    h.client
        .post(format!("{}/__sim/aliases/{alias}/behaviour", h.base))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn advance_clock(h: &Harness, seconds: u64) {
    let response = h.admin("clock", json!({"advance_s": seconds})).await;
    assert_eq!(response.status(), 200);
}

fn declined_with(reply: &NcResponse, code: &str) -> bool {
    matches!(reply.outcome(), Outcome::Declined { reason } if reason.nc_error.as_deref() == Some(code))
}

#[tokio::test]
async fn saved_card_lifecycle() {
    let h = start().await;
    let alias = create_alias(&h, test_cards::VISA_OK, "Y").await;
    let line = listed(&h, &alias).await.unwrap();
    assert_eq!(line["persisted"], true);
    assert_eq!(line["persisted_after_use"], "Y");
    assert_eq!(line["expires_at"], Value::Null);
    assert_eq!(line["masked_pan"], "411111XXXXXX1111");
    assert_eq!(line["cardno"], "XXXXXXXXXXXX1111");
    assert_eq!(line["brand"], "visa");
    assert_eq!(line["ed"], "1239");
    assert_eq!(line["holder"], "Karin Deu");
    // The CVC typed with the card waits for the first order.
    assert_eq!(line["cvc_pending"], true);
    assert_eq!(line["behaviour"], "approve");

    // Update ED and CN, server to server (P-AGUPD), through the connector.
    let update = AliasUpdateRequest::new(
        "upd-1",
        alias.clone(),
        MaskedCardNumber::parse("XXXXXXXXXXXX1111").unwrap(),
        CardExpiry::new(3, 2041).unwrap(),
        "Karin Deu-Martin",
        UPDATE_URL,
        UPDATE_URL,
    );
    let updated = connector(&h).update_alias(&update, &creds()).await.unwrap();
    assert_eq!(updated.status, AliasStatus::Updated);
    assert_eq!(updated.alias, alias);
    assert_eq!(updated.expiry, CardExpiry::new(3, 2041).unwrap());
    assert_eq!(updated.holder, "Karin Deu-Martin");
    assert_eq!(updated.card_number.unwrap().as_str(), "XXXXXXXXXXXX1111");
    let line = listed(&h, &alias).await.unwrap();
    assert_eq!(
        (line["ed"].as_str(), line["holder"].as_str()),
        (Some("0341"), Some("Karin Deu-Martin"))
    );
    assert_eq!(line["persisted"], true, "an update keeps the alias saved");
    // The same data again: nothing changes, STATUS 0.
    let again = connector(&h).update_alias(&update, &creds()).await.unwrap();
    assert_eq!(again.status, AliasStatus::Ok);

    // The first order uses the CVC typed at creation; a customer-present order with it.
    let first = charge(&h, &present("o-first", &alias)).await;
    assert_eq!(first.outcome(), Outcome::Captured);
    assert_eq!(first.cvc_check.as_deref(), Some("OK"));
    assert_eq!(
        first.ed.as_deref(),
        Some("0341"),
        "the order uses the new expiry"
    );
    assert_eq!(listed(&h, &alias).await.unwrap()["cvc_pending"], false);

    // The buyer comes back: CVC typed again (browser → gateway), then ECI 7 with it.
    let response = type_cvc(&h, &alias, "cvc-1", "456").await;
    assert!(location(&response).starts_with(&format!("{ACCEPT}?")));
    let ret = gateway_return(&response);
    assert_eq!(ret.status, AliasStatus::Ok);
    assert!(ret.is_usable_for(&alias));
    assert_eq!(ret.expiry, Some(CardExpiry::new(3, 2041).unwrap()));
    assert!(!location(&response).contains("456"));
    assert_eq!(listed(&h, &alias).await.unwrap()["cvc_pending"], true);
    let with_cvc = charge(&h, &present("o-eci7", &alias)).await;
    assert_eq!(with_cvc.outcome(), Outcome::Captured);
    assert_eq!(with_cvc.eci.as_deref(), Some("7"));
    assert_eq!(with_cvc.cvc_check.as_deref(), Some("OK"));
    // Used once.
    assert_eq!(listed(&h, &alias).await.unwrap()["cvc_pending"], false);
    // An ECI 7 order with no CVC typed: the provider accepts it (CVCCheck NO). Whether to
    // send one is Guichet's policy, not the provider's.
    let without = charge(&h, &present("o-eci7-nocvc", &alias)).await;
    assert_eq!(without.outcome(), Outcome::Captured);
    assert_eq!(without.cvc_check.as_deref(), Some("NO"));

    // Merchant-initiated instalment: ECI 9, no CVC.
    let due1 = charge(&h, &instalment("o-due-1", &alias)).await;
    assert_eq!(due1.outcome(), Outcome::Captured);
    assert_eq!(due1.eci.as_deref(), Some("9"));
    assert_eq!(due1.cvc_check.as_deref(), Some("NO"));

    // The card starts declining: the next instalment declines.
    let response = behaviour(&h, &alias, json!({"behaviour": "decline"})).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["behaviour"], "decline");
    assert_eq!(body["behaviour_overridden"], true);
    let due2 = charge(&h, &instalment("o-due-2", &alias)).await;
    assert_eq!(due2.status, 2);
    assert!(declined_with(&due2, "30051001"), "{due2:?}");
    // Insufficient funds, then back to the card's own behaviour.
    behaviour(&h, &alias, json!({"behaviour": "insufficient_funds"})).await;
    let due3 = charge(&h, &instalment("o-due-3", &alias)).await;
    assert!(declined_with(&due3, "30511001"), "{due3:?}");
    behaviour(&h, &alias, json!({"behaviour": null})).await;
    assert_eq!(
        charge(&h, &instalment("o-due-4", &alias)).await.outcome(),
        Outcome::Captured
    );

    // The transactions record ECI and CVC use, masked card only.
    let txs = h.transactions().await;
    let by_ref = |r: &str| txs.iter().find(|t| t["reference"] == r).unwrap().clone();
    assert_eq!(by_ref("o-eci7")["cvc_check"], "OK");
    assert_eq!(by_ref("o-eci7")["eci"], "7");
    assert_eq!(by_ref("o-due-2")["status"], "2");
    assert_eq!(by_ref("o-due-1")["eci"], "9");
    assert_eq!(by_ref("o-due-1")["cvc_check"], "NO");

    // Delete the alias (our design), through the connector.
    let deleted = connector(&h)
        .delete_alias(&AliasDeleteRequest::new(alias.clone()), &creds())
        .await
        .unwrap();
    assert_eq!(deleted, AliasDeleteOutcome::Deleted);
    assert!(
        listed(&h, &alias).await.is_none(),
        "a deleted alias is not listed"
    );
    // The next charge fails with an unknown alias; a second deletion says so too.
    let after = charge(&h, &instalment("o-due-5", &alias)).await;
    assert_eq!(after.status, 0);
    assert!(declined_with(&after, "50001130"), "{after:?}");
    assert_eq!(
        connector(&h)
            .delete_alias(&AliasDeleteRequest::new(alias.clone()), &creds())
            .await
            .unwrap(),
        AliasDeleteOutcome::UnknownAlias
    );
    // Neither the card typed again nor an update can bring it back.
    let response = type_cvc(&h, &alias, "cvc-2", "123").await;
    assert!(location(&response).starts_with(&format!("{EXCEPTION}?")));
    let ret = gateway_return(&response);
    assert_eq!(ret.status, AliasStatus::NotOk);
    assert_eq!(ret.nc_error.as_deref(), Some("50001130"));
    assert!(matches!(
        connector(&h).update_alias(&update, &creds()).await,
        Err(AliasUpdateError::Refused { nc_error: Some(e), .. }) if e == "50001130"
    ));

    // No listing ever carries the number or a CVC.
    let text = format!(
        "{} {}",
        Value::Array(aliases(&h).await),
        Value::Array(h.transactions().await)
    );
    assert!(!text.contains(test_cards::VISA_OK));
    assert!(!text.contains("\"456\"") && !text.contains("\"123\""));
}

#[tokio::test]
async fn one_off_aliases_expire_after_two_hours_and_saved_ones_stay() {
    let h = start().await;
    let one_off = create_alias(&h, test_cards::VISA_OK, "N").await;
    let saved = create_alias(&h, test_cards::MASTERCARD_OK, "Y").await;
    let line = listed(&h, &one_off).await.unwrap();
    assert_eq!(line["persisted"], false);
    assert_eq!(line["persisted_after_use"], "N");
    assert!(line["expires_at"].is_string());

    // Usable within its 2 hours.
    advance_clock(&h, 3600).await;
    assert_eq!(
        charge(&h, &present("o-1", &one_off)).await.outcome(),
        Outcome::Captured
    );
    // Past them (counted from its last update), gone: not listed, unknown to orderdirect.
    advance_clock(&h, 3601).await;
    assert!(listed(&h, &one_off).await.is_none());
    let reply = charge(&h, &present("o-2", &one_off)).await;
    assert!(declined_with(&reply, "50001130"), "{reply:?}");
    // The saved card is still there.
    assert!(listed(&h, &saved).await.is_some());
    assert_eq!(
        charge(&h, &instalment("o-3", &saved)).await.outcome(),
        Outcome::Captured
    );

    // The clock is readable; a reset puts it back.
    let clock: Value = h
        .client
        .get(format!("{}/__sim/clock", h.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(clock["offset_ms"], 7_201_000);
    assert_eq!(h.admin("reset", json!({})).await.status(), 200);
    let clock: Value = h
        .admin("clock", json!({"advance_ms": 0}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(clock["offset_ms"], 0);
    for bad in [
        json!({}),
        json!({"advance_s": -1}),
        json!({"advance_s": 1, "advance_ms": 1}),
    ] {
        assert_eq!(h.admin("clock", bad).await.status(), 400);
    }

    // A one-off alias made saved by a later post with Y (and the other way round).
    let alias = create_alias(&h, test_cards::VISA_OK, "N").await;
    let response = h
        .alias_gateway(
            &[
                ("PSPID", PSPID),
                ("ORDERID", "keep"),
                ("ACCEPTURL", ACCEPT),
                ("EXCEPTIONURL", EXCEPTION),
                ("ALIASPERSISTEDAFTERUSE", "Y"),
                ("ALIAS", alias.as_str()),
            ],
            &[("CVC", "321")],
        )
        .await;
    assert_eq!(gateway_return(&response).status, AliasStatus::Ok);
    assert_eq!(listed(&h, &alias).await.unwrap()["persisted"], true);
    advance_clock(&h, 3 * 3600).await;
    assert!(listed(&h, &alias).await.is_some());
}

#[tokio::test]
async fn a_typed_cvc_is_used_once_and_not_for_long() {
    let h = start().await;
    let alias = create_alias(&h, test_cards::AMEX_OK, "Y").await;
    // Take the creation CVC out of the way with an instalment: discarded, not used.
    let mit = charge(&h, &instalment("o-0", &alias)).await;
    assert_eq!(mit.cvc_check.as_deref(), Some("NO"));
    assert_eq!(listed(&h, &alias).await.unwrap()["cvc_pending"], false);

    // Typed, then 16 minutes pass: forgotten.
    assert!(gateway_return(&type_cvc(&h, &alias, "c-1", "1234").await).is_usable_for(&alias));
    assert_eq!(listed(&h, &alias).await.unwrap()["cvc_pending"], true);
    advance_clock(&h, 16 * 60).await;
    assert_eq!(listed(&h, &alias).await.unwrap()["cvc_pending"], false);
    let late = charge(&h, &present("o-1", &alias)).await;
    assert_eq!(
        (late.outcome(), late.cvc_check.as_deref()),
        (Outcome::Captured, Some("NO"))
    );

    // Typed and used at once.
    type_cvc(&h, &alias, "c-2", "1234").await;
    let fresh = charge(&h, &present("o-2", &alias)).await;
    assert_eq!(fresh.cvc_check.as_deref(), Some("OK"));

    // A CVC of the wrong length for the card: refused field by field, nothing stored.
    let response = type_cvc(&h, &alias, "c-3", "123").await;
    assert!(location(&response).starts_with(&format!("{EXCEPTION}?")));
    let ret = gateway_return(&response);
    assert_eq!(ret.status, AliasStatus::NotOk);
    assert_eq!(ret.field_errors.cvc.as_deref(), Some("50001066"));
    assert_eq!(listed(&h, &alias).await.unwrap()["cvc_pending"], false);

    // An order refused before it is recorded (a reused ORDERID) leaves the CVC in place.
    type_cvc(&h, &alias, "c-4", "1234").await;
    let dup = charge(&h, &present("o-2", &alias)).await;
    assert_eq!(dup.nc_error.as_deref(), Some("50001113"));
    assert_eq!(listed(&h, &alias).await.unwrap()["cvc_pending"], true);
    assert_eq!(
        charge(&h, &present("o-3", &alias))
            .await
            .cvc_check
            .as_deref(),
        Some("OK")
    );
}

#[tokio::test]
async fn declining_cards_keep_their_behaviour_as_aliases() {
    let h = start().await;
    let declined = create_alias(&h, test_cards::DECLINED, "Y").await;
    assert_eq!(listed(&h, &declined).await.unwrap()["behaviour"], "decline");
    let reply = charge(&h, &instalment("o-1", &declined)).await;
    assert!(declined_with(&reply, "30051001"), "{reply:?}");
    // Switched to approve, it goes through; back to the card, it declines again.
    behaviour(&h, &declined, json!({"behaviour": "approve"})).await;
    assert_eq!(
        charge(&h, &instalment("o-2", &declined)).await.outcome(),
        Outcome::Captured
    );
    behaviour(&h, &declined, json!({"behaviour": "card", "pspid": PSPID})).await;
    let reply = charge(&h, &instalment("o-3", &declined)).await;
    assert!(declined_with(&reply, "30051001"), "{reply:?}");

    let poor = create_alias(&h, test_cards::INSUFFICIENT_FUNDS, "Y").await;
    let reply = charge(&h, &instalment("o-4", &poor)).await;
    assert!(declined_with(&reply, "30511001"), "{reply:?}");

    // Control endpoint errors.
    assert_eq!(
        behaviour(&h, "NO-SUCH-ALIAS", json!({"behaviour": "decline"}))
            .await
            .status(),
        404
    );
    assert_eq!(
        behaviour(&h, &poor, json!({"behaviour": "sometimes"}))
            .await
            .status(),
        400
    );
    assert_eq!(behaviour(&h, &poor, json!({})).await.status(), 400);
    assert_eq!(
        behaviour(&h, &poor, json!({"behaviour": "decline", "pspid": "OTHER"}))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn alias_update_refusals() {
    let h = start().await;
    let alias = create_alias(&h, test_cards::VISA_OK, "Y").await;
    let update = |ed: CardExpiry, masked: &str| {
        AliasUpdateRequest::new(
            "upd",
            alias.clone(),
            MaskedCardNumber::parse(masked).unwrap(),
            ed,
            "Karin Deu",
            UPDATE_URL,
            UPDATE_URL,
        )
    };
    let client = connector(&h);
    // An expiry in the past.
    let past = client
        .update_alias(
            &update(CardExpiry::new(1, 2020).unwrap(), "XXXXXXXXXXXX1111"),
            &creds(),
        )
        .await;
    assert!(
        matches!(
            past,
            Err(AliasUpdateError::Refused { ref field_errors, .. })
                if field_errors.expiry.as_deref() == Some("50001005")
        ),
        "{past:?}"
    );
    // The X-ed number of another card.
    let other = client
        .update_alias(
            &update(CardExpiry::new(1, 2040).unwrap(), "XXXXXXXXXXXX4444"),
            &creds(),
        )
        .await;
    assert!(
        matches!(
            other,
            Err(AliasUpdateError::Refused { ref field_errors, .. })
                if field_errors.card_number.as_deref() == Some("50001054")
        ),
        "{other:?}"
    );
    // The domain's mask works as well as Ogone's.
    let ok = client
        .update_alias(
            &update(CardExpiry::new(1, 2040).unwrap(), "411111XXXXXX1111"),
            &creds(),
        )
        .await
        .unwrap();
    assert_eq!(ok.status, AliasStatus::Updated);
    // Nothing was changed by the refused ones.
    assert_eq!(listed(&h, &alias).await.unwrap()["ed"], "0140");
    // A wrong SHA-IN passphrase: the gateway's 400 page, no redirect.
    let wrong = Credentials::new(PSPID, USERID, PSWD, "wrong", PASSPHRASE, ALG);
    assert!(matches!(
        client
            .update_alias(
                &update(CardExpiry::new(2, 2040).unwrap(), "XXXXXXXXXXXX1111"),
                &wrong
            )
            .await,
        Err(AliasUpdateError::Call(
            guichet_psp::call::CallError::HttpStatus(400)
        ))
    ));
}

#[tokio::test]
async fn alias_deletion_wire_errors() {
    let h = start().await;
    let alias = create_alias(&h, test_cards::VISA_OK, "Y").await;
    let base = [
        ("PSPID", PSPID),
        ("USERID", USERID),
        ("PSWD", PSWD),
        ("ALIAS", alias.as_str()),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut fields: Vec<(&str, &str)> = base.to_vec();
        fields.extend_from_slice(extra);
        fields
    };
    // No ALIASOPERATION, another operation: data error, the alias stays.
    let reply = h.direct("aliasdirect.asp", &with(&[])).await;
    assert_eq!(
        (reply.status, reply.nc_error.as_deref()),
        (0, Some("50001111"))
    );
    let reply = h
        .direct("aliasdirect.asp", &with(&[("ALIASOPERATION", "BYPSP")]))
        .await;
    assert_eq!(reply.nc_error.as_deref(), Some("50001111"));
    // Wrong password.
    let mut wrong = with(&[("ALIASOPERATION", "DEL")]);
    wrong[2].1 = "nope";
    let reply = h.direct("aliasdirect_utf8.asp", &wrong).await;
    assert_eq!(reply.nc_error.as_deref(), Some("50001119"));
    // A bad SHASIGN.
    let mut form = sign_in(&with(&[("ALIASOPERATION", "DEL")]));
    form[3].1 = "OTHER-ALIAS".into();
    let xml = h
        .client
        .post(h.ogone("aliasdirect.asp"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        parse_nc(&xml).unwrap().nc_error.as_deref(),
        Some("50001184")
    );
    assert!(listed(&h, &alias).await.is_some());
    // A fault on the path: HTTP 500, nothing deleted.
    h.fault(json!({"path": "aliasdirect", "kind": "http500"}))
        .await;
    let response = h
        .client
        .post(h.ogone("aliasdirect_utf8.asp"))
        .form(&sign_in(&with(&[("ALIASOPERATION", "DEL")])))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert!(listed(&h, &alias).await.is_some());
    // The raw success reply.
    let xml = h
        .direct_raw("aliasdirect.asp", &with(&[("ALIASOPERATION", "del")]))
        .await;
    let reply = parse_nc(&xml).unwrap();
    assert_eq!(
        (
            reply.status,
            reply.nc_error.as_deref(),
            reply.alias.as_deref()
        ),
        (7, Some("0"), Some(alias.as_str()))
    );
    assert!(listed(&h, &alias).await.is_none());
}
