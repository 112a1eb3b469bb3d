//! Money parsing in the domain: `guichet_domain::money::Money::parse` (`"34.20 EUR"`,
//! `"EUR 34.20"`, `"€34.20"`, `"-5.00 EUR"`…), `Money::parse_amount` (a decimal in a known
//! currency), `Currency::from_code`, and the formats they read back.
//!
//! Input: UTF-8 text; when it is at least 9 bytes long, its first 8 bytes are also read as an
//! `i64` amount and the 9th as a currency, for the format → parse direction.
//!
//! Properties:
//! - parse → format → parse round-trips: a parsed amount written with `Display`
//!   (`34.20 EUR`), code first (`EUR 34.20`), with its symbol (`€34.20`) or as a bare amount
//!   (`format_amount` with `parse_amount`) reads back to the same `Money`; every `i64` in every
//!   currency formats and reads back the same way;
//! - `parse_amount` agrees with the provider crate's independent parser
//!   (`guichet_psp::amount::decimal_to_minor`) on every unsigned decimal: same value, or the same
//!   refusal (shape, too many decimals, overflow past the `i64` range);
//! - a parsed currency code is exactly the code given; `FromStr` equals `parse`;
//! - no error message repeats a run of 7 or more digits of the input (a mistyped amount could
//!   be a card number: DESIGN.md invariant 3).

use guichet_domain::{Currency, Money, MoneyError};
use guichet_psp::amount::{AmountError, decimal_to_minor};

use crate::util::assert_no_digit_run;

pub fn run(data: &[u8]) {
    if data.len() >= 9 {
        let amount = i64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
        let currency = Currency::ALL[usize::from(data[8]) % Currency::ALL.len()];
        round_trip(Money::new(amount, currency));
    }
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Money::parse(s);
    assert_eq!(s.parse::<Money>(), parsed);
    match &parsed {
        Ok(m) => round_trip(*m),
        Err(e) => assert_no_digit_run(&e.to_string()),
    }
    match Currency::from_code(s) {
        Ok(c) => assert_eq!(c.code(), s),
        Err(e) => assert_no_digit_run(&e.to_string()),
    }
    for currency in Currency::ALL {
        let amount = Money::parse_amount(s, currency);
        match &amount {
            Ok(m) => {
                assert_eq!(m.currency(), currency);
                round_trip(*m);
            }
            Err(e) => assert_no_digit_run(&e.to_string()),
        }
        against_psp(s, currency, &amount);
    }
}

fn round_trip(m: Money) {
    let currency = m.currency();
    assert_eq!(Money::parse(&m.to_string()), Ok(m), "Display {m}");
    assert_eq!(
        Money::parse(&format!("{} {}", currency.code(), m.format_amount())),
        Ok(m)
    );
    assert_eq!(
        Money::parse(&m.format_symbol()),
        Ok(m),
        "{}",
        m.format_symbol()
    );
    assert_eq!(Money::parse_amount(&m.format_amount(), currency), Ok(m));
    // Exactly `exponent` decimals.
    let text = m.format_amount();
    let decimals = text.split_once('.').map_or(0, |(_, f)| f.len());
    assert_eq!(decimals, currency.exponent() as usize, "{text}");
}

fn against_psp(s: &str, currency: Currency, domain: &Result<Money, MoneyError>) {
    let (negative, unsigned) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let exponent = u8::try_from(currency.exponent()).expect("small exponent");
    let psp = decimal_to_minor(unsigned, exponent);
    let limit: u128 = if negative {
        1u128 << 63
    } else {
        i64::MAX as u128
    };
    match (domain, &psp) {
        (Ok(m), Ok(v)) => {
            assert_eq!(i128::from(m.amount_minor()).unsigned_abs(), u128::from(*v));
            assert!(*v == 0 || (m.amount_minor() < 0) == negative);
        }
        (Err(MoneyError::Overflow), Ok(v)) => assert!(u128::from(*v) > limit, "{s:?}"),
        (Err(MoneyError::Overflow), Err(AmountError::Overflow(_))) => {}
        (Err(MoneyError::TooPrecise { .. }), Err(AmountError::TooManyDecimals { .. })) => {}
        (Err(MoneyError::Parse(_)), Err(AmountError::NotDecimal(_))) => {}
        (d, p) => panic!("{s:?} in {currency}: domain {d:?}, psp {p:?}"),
    }
}
