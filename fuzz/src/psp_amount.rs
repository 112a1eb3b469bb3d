//! Provider amounts: `guichet_psp::amount::decimal_to_minor` / `decimal_to_minor_in` (the
//! decimal in major units that Ogone replies and feedback carry), `minor_to_decimal` and the
//! currency table look-ups.
//!
//! Input: the first byte is the exponent (any `u8`), the rest the amount text (UTF-8).
//!
//! Properties:
//! - `decimal_to_minor` never panics and agrees with an independent reading (digits, optional
//!   `.` and digits; the digit string padded to the exponent compared with `u64::MAX`): the
//!   same value, or the same refusal — `NotDecimal` for anything else than that shape (sign,
//!   spaces, exponent notation, `,`, a bare `.`), `TooManyDecimals` for more decimals than the
//!   exponent (even zeros), `Overflow` past `u64::MAX`;
//! - `minor_to_decimal` (for any exponent, and any minor units: the accepted amounts and the
//!   input's digits read as `u64`) writes the shortest form (no trailing zero after the point,
//!   no leading zero), which reads back to the same value;
//! - `decimal_to_minor_in` equals `decimal_to_minor` with the table's exponent for the six
//!   codes and refuses any other code (`UnknownCurrency`), lower case included;
//! - `currency_by_numeric` accepts exactly the table's three-digit codes.

use guichet_psp::amount::{
    AmountError, CURRENCIES, currency_by_alpha, currency_by_numeric, decimal_to_minor,
    decimal_to_minor_in, minor_to_decimal,
};

pub fn run(data: &[u8]) {
    let Some((&exponent, rest)) = data.split_first() else {
        return;
    };
    let Ok(amount) = std::str::from_utf8(rest) else {
        return;
    };
    check(amount, exponent);
    // The digits as minor units, written with `minor_to_decimal` and read back.
    if !amount.is_empty()
        && amount.bytes().all(|b| b.is_ascii_digit())
        && let Ok(minor) = amount.parse::<u64>()
    {
        check_written(minor, exponent);
    }
    for c in CURRENCIES {
        assert_eq!(
            decimal_to_minor_in(amount, c.alpha),
            decimal_to_minor(amount, c.exponent)
        );
        check(amount, c.exponent);
    }
    // The text as a currency code.
    match currency_by_alpha(amount) {
        Some(c) => assert_eq!(c.alpha, amount),
        None => assert_eq!(
            decimal_to_minor_in("15", amount),
            Err(AmountError::UnknownCurrency(amount.to_owned()))
        ),
    }
    if let Some(c) = currency_by_numeric(amount) {
        assert_eq!(c.numeric.to_string(), amount);
    }
}

/// What `decimal_to_minor` should answer, computed another way.
fn reference(amount: &str, exponent: u8) -> Result<u64, AmountError> {
    let (whole, fraction) = match amount.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (amount, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || fraction.is_some_and(|f| !digits(f)) {
        return Err(AmountError::NotDecimal(amount.to_owned()));
    }
    let fraction = fraction.unwrap_or("");
    let exp = usize::from(exponent);
    if fraction.len() > exp {
        return Err(AmountError::TooManyDecimals {
            amount: amount.to_owned(),
            exponent,
        });
    }
    let mut all = format!("{whole}{fraction}");
    all.extend(std::iter::repeat_n('0', exp - fraction.len()));
    let significant = all.trim_start_matches('0');
    let max = u64::MAX.to_string();
    if significant.len() > max.len() || (significant.len() == max.len() && significant > &max[..]) {
        return Err(AmountError::Overflow(amount.to_owned()));
    }
    Ok(if significant.is_empty() {
        0
    } else {
        significant.parse().expect("at most u64::MAX")
    })
}

fn check(amount: &str, exponent: u8) {
    let got = decimal_to_minor(amount, exponent);
    assert_eq!(got, reference(amount, exponent), "{amount:?} e{exponent}");
    if let Ok(minor) = got {
        let decimals = amount.split_once('.').map_or(0, |(_, f)| f.len());
        assert!(decimals <= usize::from(exponent));
        check_written(minor, exponent);
    }
}

/// `minor_to_decimal` writes the shortest decimal, which reads back to the same minor units.
fn check_written(minor: u64, exponent: u8) {
    let written = minor_to_decimal(minor, exponent);
    assert_eq!(
        decimal_to_minor(&written, exponent),
        Ok(minor),
        "{minor} e{exponent} written {written:?}"
    );
    assert!(!written.ends_with('.'));
    if let Some((whole, fraction)) = written.split_once('.') {
        assert!(
            !fraction.ends_with('0'),
            "{written:?} is not the shortest form"
        );
        assert!(whole == "0" || !whole.starts_with('0'));
    } else {
        assert!(written == "0" || !written.starts_with('0'));
    }
}
