//! Ogone transaction feedback: the post-sale server-to-server request, and the same parameters
//! on the browser redirects to `ACCEPTURL` / `DECLINEURL` after 3-D Secure (docs/PROVIDERS.md,
//! "3-D Secure result"; shared/reference/psp-protocols.md, sections 4 and 5).
//!
//! [`Feedback::verify`] checks the SHA-OUT signature and reads the fields; the caller then
//! compares them with the payment it expects ([`Feedback::check_matches`]: order, amount and
//! currency, as Odoo does, section 5 "Verification").

use time::{Date, Month};

use super::params::{self, VerifyError, parse_u16};
use super::signature::HashAlgorithm;
use crate::amount::{AmountError, currency_by_alpha, decimal_to_minor};
use crate::card::{CardExpiry, MaskedCardNumber};

pub use super::params::parse_query;

/// Why a feedback was refused.
pub type FeedbackError = VerifyError;

/// A verified feedback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    /// `orderID`.
    pub order_id: String,
    /// `PAYID`.
    pub pay_id: String,
    /// `STATUS` (section 1.5; the same table as DirectLink replies).
    pub status: u16,
    /// `NCERROR`; `None` when `0` or absent.
    pub nc_error: Option<String>,
    /// `amount` in minor units (the wire value is a decimal in major units: `15` → 1500).
    pub amount_minor: u64,
    /// `currency` (ISO 4217 alpha-3).
    pub currency: String,
    /// `PM` (`CreditCard`).
    pub pm: Option<String>,
    /// `BRAND`.
    pub brand: Option<String>,
    /// `CARDNO`, masked (an unmasked number refuses the feedback).
    pub card_number: Option<MaskedCardNumber>,
    /// `ED`.
    pub expiry: Option<CardExpiry>,
    /// `CN`.
    pub holder: Option<String>,
    /// `ALIAS`.
    pub alias: Option<String>,
    /// `ECI`.
    pub eci: Option<String>,
    /// `ACCEPTANCE` (acquirer authorisation code).
    pub acceptance: Option<String>,
    /// `TRXDATE` (`MM/DD/YY`: section 5, as Odoo parses it).
    pub trx_date: Option<Date>,
    /// `IP`.
    pub ip: Option<String>,
    /// `COMPLUS` (merchant data given back, signed).
    pub complus: Option<String>,
    /// Parameters outside the SHA-OUT list (the PARAMPLUS pairs): **not authenticated**.
    pub unsigned: Vec<(String, String)>,
}

/// What the merchant expected, for [`Feedback::check_matches`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected<'a> {
    /// The `ORDERID` sent.
    pub order_id: &'a str,
    /// The amount sent, minor units.
    pub amount_minor: u64,
    /// The currency sent.
    pub currency: &'a str,
    /// The `PAYID` already known, if any.
    pub pay_id: Option<&'a str>,
}

/// A verified feedback that is not about the expected payment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    /// Another `orderID`.
    #[error("orderID differs")]
    OrderId,
    /// Another amount.
    #[error("amount differs: expected {expected}, got {got} (minor units)")]
    Amount {
        /// Minor units expected.
        expected: u64,
        /// Minor units received.
        got: u64,
    },
    /// Another currency.
    #[error("currency differs")]
    Currency,
    /// Another `PAYID`.
    #[error("PAYID differs")]
    PayId,
}

/// `TRXDATE`: `MM/DD/YY`, year 20YY.
fn parse_trx_date(text: &str) -> Option<Date> {
    let b = text.as_bytes();
    if b.len() != 8 || b[2] != b'/' || b[5] != b'/' {
        return None;
    }
    let two = |i: usize| -> Option<u8> {
        let (x, y) = (b[i], b[i + 1]);
        (x.is_ascii_digit() && y.is_ascii_digit()).then(|| (x - b'0') * 10 + (y - b'0'))
    };
    let month = Month::try_from(two(0)?).ok()?;
    let day = two(3)?;
    let year = 2000 + i32::from(two(6)?);
    Date::from_calendar_date(year, month, day).ok()
}

impl Feedback {
    /// Verifies and reads feedback parameters (the post-sale form fields, or the redirect's
    /// query parameters via [`parse_query`]). Names are case-insensitive; `SHASIGN` is checked
    /// with the SHA-OUT rule, in constant time, before any field is read.
    ///
    /// Required: `orderID`, `PAYID`, `STATUS`, `amount`, `currency` (a currency of
    /// [`crate::amount::CURRENCIES`], whose exponent converts `amount`).
    pub fn verify(
        params: &[(String, String)],
        sha_out_passphrase: &str,
        alg: HashAlgorithm,
    ) -> Result<Feedback, FeedbackError> {
        let v = params::verify(params, sha_out_passphrase, alg)?;
        let order_id = v.required("ORDERID")?.to_owned();
        let pay_id = v.required("PAYID")?.to_owned();
        let status = parse_u16(v.required("STATUS")?).ok_or(VerifyError::InvalidField("STATUS"))?;
        let currency = v.required("CURRENCY")?.to_owned();
        let exponent = currency_by_alpha(&currency)
            .ok_or_else(|| VerifyError::Amount(AmountError::UnknownCurrency(currency.clone())))?
            .exponent;
        let amount_minor =
            decimal_to_minor(v.required("AMOUNT")?, exponent).map_err(VerifyError::Amount)?;
        let trx_date = match v.get("TRXDATE") {
            None => None,
            Some(t) => Some(parse_trx_date(t).ok_or(VerifyError::InvalidField("TRXDATE"))?),
        };
        Ok(Feedback {
            order_id,
            pay_id,
            status,
            nc_error: v.error_code("NCERROR")?,
            amount_minor,
            currency,
            pm: v.opt("PM"),
            brand: v.opt("BRAND"),
            card_number: v.card_number()?,
            expiry: v.expiry()?,
            holder: v.opt("CN"),
            alias: v.opt("ALIAS"),
            eci: v.opt("ECI"),
            acceptance: v.opt("ACCEPTANCE"),
            trx_date,
            ip: v.opt("IP"),
            complus: v.opt("COMPLUS"),
            unsigned: v.unsigned,
        })
    }

    /// Checks that this feedback is about the payment `expected` describes.
    pub fn check_matches(&self, expected: &Expected<'_>) -> Result<(), Mismatch> {
        if self.order_id != expected.order_id {
            return Err(Mismatch::OrderId);
        }
        if self.currency != expected.currency {
            return Err(Mismatch::Currency);
        }
        if self.amount_minor != expected.amount_minor {
            return Err(Mismatch::Amount {
                expected: expected.amount_minor,
                got: self.amount_minor,
            });
        }
        if let Some(pay_id) = expected.pay_id
            && pay_id != self.pay_id
        {
            return Err(Mismatch::PayId);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::CardDataError;
    use crate::ogone::signature::sha_out;

    const PASS: &str = "Mysecretsig1875!?";

    fn signed(fields: &[(&str, &str)], pass: &str, alg: HashAlgorithm) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        out.push(("SHASIGN".into(), sha_out(fields, pass, alg)));
        out
    }

    fn three_ds_accept() -> Vec<(&'static str, &'static str)> {
        // The parameter list of docs/PROVIDERS.md, "3-D Secure result".
        vec![
            ("orderID", "G-42"),
            ("currency", "EUR"),
            ("amount", "19.99"),
            ("PM", "CreditCard"),
            ("ACCEPTANCE", "test123"),
            ("STATUS", "9"),
            ("CARDNO", "XXXXXXXXXXXX0002"),
            ("ED", "1230"),
            ("CN", "Jane Doe"),
            ("TRXDATE", "02/29/24"),
            ("PAYID", "3014726"),
            ("NCERROR", "0"),
            ("BRAND", "VISA"),
            ("ECI", "5"),
            ("ALIAS", "A1B2C3"),
        ]
    }

    #[test]
    fn reads_every_field() {
        let mut params = signed(&three_ds_accept(), PASS, HashAlgorithm::Sha512);
        params.push(("attempt".into(), "7".into()));
        let f = Feedback::verify(&params, PASS, HashAlgorithm::Sha512).unwrap();
        assert_eq!(f.order_id, "G-42");
        assert_eq!(f.pay_id, "3014726");
        assert_eq!(f.status, 9);
        assert_eq!(f.nc_error, None);
        assert_eq!(f.amount_minor, 1999);
        assert_eq!(f.currency, "EUR");
        assert_eq!(f.pm.as_deref(), Some("CreditCard"));
        assert_eq!(f.brand.as_deref(), Some("VISA"));
        assert_eq!(f.card_number.as_ref().unwrap().last_digits(), "0002");
        assert_eq!(f.expiry, Some(CardExpiry::new(12, 2030).unwrap()));
        assert_eq!(f.holder.as_deref(), Some("Jane Doe"));
        assert_eq!(f.alias.as_deref(), Some("A1B2C3"));
        assert_eq!(f.eci.as_deref(), Some("5"));
        assert_eq!(f.acceptance.as_deref(), Some("test123"));
        assert_eq!(
            f.trx_date,
            Some(Date::from_calendar_date(2024, Month::February, 29).unwrap())
        );
        assert_eq!(f.unsigned, vec![("attempt".to_owned(), "7".to_owned())]);
        f.check_matches(&Expected {
            order_id: "G-42",
            amount_minor: 1999,
            currency: "EUR",
            pay_id: Some("3014726"),
        })
        .unwrap();
    }

    #[test]
    fn declined_redirect() {
        let mut fields = three_ds_accept();
        fields[5].1 = "2";
        fields[11].1 = "40001134";
        fields[4].1 = "";
        let f = Feedback::verify(
            &signed(&fields, PASS, HashAlgorithm::Sha256),
            PASS,
            HashAlgorithm::Sha256,
        )
        .unwrap();
        assert_eq!(f.status, 2);
        assert_eq!(f.nc_error.as_deref(), Some("40001134"));
        assert_eq!(f.acceptance, None);
    }

    #[test]
    fn amounts_by_currency_exponent() {
        for (amount, currency, want) in [
            ("15", "EUR", Some(1500)),
            ("4.5", "GBP", Some(450)),
            ("1111.11", "USD", Some(111111)),
            ("1500", "JPY", Some(1500)),
            ("15.5", "JPY", None),
            ("1.234", "KWD", Some(1234)),
            ("1.2345", "KWD", None),
            ("1.234", "EUR", None),
            ("-1", "EUR", None),
            ("1,5", "EUR", None),
            ("15", "XYZ", None),
        ] {
            let mut fields = three_ds_accept();
            fields[1].1 = currency;
            fields[2].1 = amount;
            let r = Feedback::verify(
                &signed(&fields, PASS, HashAlgorithm::Sha1),
                PASS,
                HashAlgorithm::Sha1,
            );
            match want {
                Some(minor) => assert_eq!(r.unwrap().amount_minor, minor, "{amount} {currency}"),
                None => assert!(
                    matches!(r, Err(VerifyError::Amount(_))),
                    "{amount} {currency}: {r:?}"
                ),
            }
        }
    }

    #[test]
    fn rejections() {
        let alg = HashAlgorithm::Sha512;
        let good = signed(&three_ds_accept(), PASS, alg);
        // Flipped signature character, flipped value byte, missing SHASIGN, wrong key.
        let mut p = good.clone();
        let last = p.len() - 1;
        let mut b = p[last].1.clone().into_bytes();
        b[17] ^= 0x01;
        p[last].1 = String::from_utf8(b).unwrap();
        assert_eq!(
            Feedback::verify(&p, PASS, alg),
            Err(VerifyError::BadSignature)
        );
        let mut p = good.clone();
        p[2].1 = "19.98".into();
        assert_eq!(
            Feedback::verify(&p, PASS, alg),
            Err(VerifyError::BadSignature)
        );
        let p: Vec<_> = good.iter().take(good.len() - 1).cloned().collect();
        assert_eq!(
            Feedback::verify(&p, PASS, alg),
            Err(VerifyError::MissingSignature)
        );
        assert_eq!(
            Feedback::verify(&good, "Mysecretsig1875!", alg),
            Err(VerifyError::BadSignature)
        );
        // Required fields.
        for (i, name) in [
            (0, "ORDERID"),
            (10, "PAYID"),
            (5, "STATUS"),
            (2, "AMOUNT"),
            (1, "CURRENCY"),
        ] {
            let mut fields = three_ds_accept();
            fields.remove(i);
            assert_eq!(
                Feedback::verify(&signed(&fields, PASS, alg), PASS, alg),
                Err(VerifyError::MissingField(name))
            );
        }
        // Unmasked card number, bad TRXDATE, bad STATUS.
        let mut fields = three_ds_accept();
        fields[6].1 = "4000000000000002";
        assert_eq!(
            Feedback::verify(&signed(&fields, PASS, alg), PASS, alg),
            Err(VerifyError::Card(CardDataError::NotMasked))
        );
        for bad in ["13/01/24", "02/30/24", "2024-02-29", "1/1/24"] {
            let mut fields = three_ds_accept();
            fields[9].1 = bad;
            assert_eq!(
                Feedback::verify(&signed(&fields, PASS, alg), PASS, alg),
                Err(VerifyError::InvalidField("TRXDATE")),
                "{bad}"
            );
        }
        let mut fields = three_ds_accept();
        fields[5].1 = "9a";
        assert_eq!(
            Feedback::verify(&signed(&fields, PASS, alg), PASS, alg),
            Err(VerifyError::InvalidField("STATUS"))
        );
    }

    #[test]
    fn mismatches() {
        let f = Feedback::verify(
            &signed(&three_ds_accept(), PASS, HashAlgorithm::Sha256),
            PASS,
            HashAlgorithm::Sha256,
        )
        .unwrap();
        let expected = Expected {
            order_id: "G-42",
            amount_minor: 1999,
            currency: "EUR",
            pay_id: None,
        };
        assert_eq!(f.check_matches(&expected), Ok(()));
        assert_eq!(
            f.check_matches(&Expected {
                amount_minor: 2000,
                ..expected.clone()
            }),
            Err(Mismatch::Amount {
                expected: 2000,
                got: 1999
            })
        );
        assert_eq!(
            f.check_matches(&Expected {
                order_id: "G-43",
                ..expected.clone()
            }),
            Err(Mismatch::OrderId)
        );
        assert_eq!(
            f.check_matches(&Expected {
                currency: "CHF",
                ..expected.clone()
            }),
            Err(Mismatch::Currency)
        );
        assert_eq!(
            f.check_matches(&Expected {
                pay_id: Some("1"),
                ..expected
            }),
            Err(Mismatch::PayId)
        );
    }
}
