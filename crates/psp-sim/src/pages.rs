//! The simulator's HTML: plain pages, inline style, no external resource.

use crate::util::html_escape;

const STYLE: &str = "body{font-family:sans-serif;max-width:32em;margin:2em auto;padding:0 1em;color:#222}\
h1{font-size:1.3em}.box{border:1px solid #bbb;border-radius:6px;padding:1em}\
.sim{color:#a40;font-size:.85em}label{display:block;margin:.6em 0}input{font-size:1em}\
button{font-size:1em;margin:.8em .5em 0 0;padding:.4em 1.2em}.error{color:#b00}\
dt{font-weight:bold}dd{margin:0 0 .5em 0}";

/// A full page around `body` (already HTML).
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>{STYLE}</style></head><body>\n{body}\n</body></html>\n",
        html_escape(title)
    )
}

/// Hidden inputs, one per line, in a fixed shape (`name` then `value`).
pub fn hidden_inputs(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                html_escape(name),
                html_escape(value)
            )
        })
        .collect()
}

/// A page with a title and a message (errors, results).
pub fn message_page(title: &str, message: &str) -> String {
    page(
        title,
        &format!(
            "<p class=\"sim\">Payment provider simulator</p><h1>{}</h1><p>{}</p>",
            html_escape(title),
            html_escape(message)
        ),
    )
}

/// A form that submits itself (with a button for browsers without script).
pub fn autopost_page(
    title: &str,
    form_name: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> String {
    page(
        title,
        &format!(
            "<p class=\"sim\">Payment provider simulator</p>\n\
             <form name=\"{name}\" method=\"post\" action=\"{action}\">\n{inputs}\
             <button type=\"submit\">Continue</button>\n</form>\n\
             <script>document.forms[\"{name}\"].submit();</script>",
            name = html_escape(form_name),
            action = html_escape(action),
            inputs = hidden_inputs(fields),
        ),
    )
}

/// What the ACS page shows about the payment.
pub struct AcsInfo<'a> {
    pub merchant: &'a str,
    pub amount: &'a str,
    pub currency: &'a str,
    pub masked_card: &'a str,
    pub brand: &'a str,
}

/// The 3-D Secure challenge page (Ogone and Sips alike): "Approve" and "Refuse" post
/// `decision=approve|refuse` with the hidden fields back to `action`.
pub fn acs_page(action: &str, hidden: &[(&str, &str)], info: &AcsInfo<'_>) -> String {
    page(
        "3-D Secure authentication",
        &format!(
            "<p class=\"sim\">Payment provider simulator: card issuer's authentication page</p>\n\
             <h1>3-D Secure authentication</h1>\n<div class=\"box\"><dl>\n\
             <dt>Merchant</dt><dd>{merchant}</dd>\n<dt>Amount</dt><dd>{amount} {currency}</dd>\n\
             <dt>Card</dt><dd>{brand} {card}</dd>\n</dl>\n\
             <p>Approve to authenticate the cardholder, or refuse to fail the authentication.</p>\n\
             <form name=\"acsform\" method=\"post\" action=\"{action}\">\n{inputs}\
             <button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>\n\
             <button type=\"submit\" name=\"decision\" value=\"refuse\">Refuse</button>\n\
             </form></div>",
            merchant = html_escape(info.merchant),
            amount = html_escape(info.amount),
            currency = html_escape(info.currency),
            brand = html_escape(info.brand),
            card = html_escape(info.masked_card),
            action = html_escape(action),
            inputs = hidden_inputs(hidden),
        ),
    )
}

/// What the Sips card form shows.
pub struct CardFormInfo<'a> {
    pub merchant: &'a str,
    pub reference: &'a str,
    pub amount: &'a str,
    pub currency: &'a str,
    pub error: Option<&'a str>,
}

/// The Sips Paypage card form, posting to `action` (`/paymentprovider/pay`).
pub fn card_form(action: &str, redirection_data: &str, info: &CardFormInfo<'_>) -> String {
    let error = info
        .error
        .map(|e| format!("<p class=\"error\">{}</p>\n", html_escape(e)))
        .unwrap_or_default();
    page(
        "Card payment",
        &format!(
            "<p class=\"sim\">Payment provider simulator: Sips Paypage</p>\n\
             <h1>Card payment</h1>\n<div class=\"box\"><dl>\n\
             <dt>Merchant</dt><dd>{merchant}</dd>\n<dt>Reference</dt><dd>{reference}</dd>\n\
             <dt>Amount</dt><dd>{amount} {currency}</dd>\n</dl>\n{error}\
             <form name=\"cardform\" method=\"post\" action=\"{action}\" autocomplete=\"off\">\n{inputs}\
             <label>Card number <input name=\"cardNumber\" inputmode=\"numeric\" autocomplete=\"cc-number\"></label>\n\
             <label>Expiry (YYYYMM) <input name=\"cardExpiryDate\" inputmode=\"numeric\" placeholder=\"203012\"></label>\n\
             <label>Security code <input name=\"cardCSCValue\" inputmode=\"numeric\" autocomplete=\"cc-csc\"></label>\n\
             <label>Cardholder <input name=\"holderName\" autocomplete=\"cc-name\"></label>\n\
             <button type=\"submit\">Pay</button>\n\
             <button type=\"submit\" name=\"cancel\" value=\"1\" formnovalidate>Cancel</button>\n\
             </form></div>",
            merchant = html_escape(info.merchant),
            reference = html_escape(info.reference),
            amount = html_escape(info.amount),
            currency = html_escape(info.currency),
            action = html_escape(action),
            inputs = hidden_inputs(&[("redirectionData", redirection_data)]),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_and_need_nothing_external() {
        let html = acs_page(
            "http://sim/ncol/test/acs.asp",
            &[("PAYID", "1\"<")],
            &AcsInfo {
                merchant: "<M>",
                amount: "15.00",
                currency: "EUR",
                masked_card: "XXXXXXXXXXXX1111",
                brand: "VISA",
            },
        );
        assert!(html.contains("value=\"1&quot;&lt;\""));
        assert!(html.contains("&lt;M&gt;"));
        assert!(html.contains("value=\"approve\"") && html.contains("value=\"refuse\""));
        for page in [
            html,
            autopost_page("t", "f", "http://x/", &[("Data", "a|b")]),
            card_form(
                "http://x/pay",
                "tok",
                &CardFormInfo {
                    merchant: "m",
                    reference: "r",
                    amount: "1.00",
                    currency: "EUR",
                    error: Some("bad"),
                },
            ),
        ] {
            assert!(!page.contains("src="), "{page}");
            assert!(!page.contains("<link"), "{page}");
        }
    }
}
