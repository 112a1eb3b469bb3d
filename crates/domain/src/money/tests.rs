use super::*;
use Currency::{CHF, EUR, GBP, JPY, KWD, USD};
use proptest::prelude::*;

fn m(amount_minor: i64, currency: Currency) -> Money {
    Money::new(amount_minor, currency)
}

// ---- Currency -------------------------------------------------------------------------------

#[test]
fn currency_table() {
    #[track_caller]
    fn check(c: Currency, code: &str, exponent: u32, numeric: u16, symbol: Option<&str>) {
        assert_eq!(c.code(), code);
        assert_eq!(c.exponent(), exponent);
        assert_eq!(c.numeric(), numeric);
        assert_eq!(c.symbol(), symbol);
        assert_eq!(c.to_string(), code);
        assert_eq!(Currency::from_code(code), Ok(c));
        assert_eq!(code.parse::<Currency>(), Ok(c));
    }
    check(EUR, "EUR", 2, 978, Some("€"));
    check(CHF, "CHF", 2, 756, None);
    check(GBP, "GBP", 2, 826, Some("£"));
    check(USD, "USD", 2, 840, Some("$"));
    check(JPY, "JPY", 0, 392, Some("¥"));
    check(KWD, "KWD", 3, 414, None);
    assert_eq!(Currency::ALL.len(), 6);
}

#[test]
fn unknown_currency_codes() {
    #[track_caller]
    fn check(input: &str, expected: &str) {
        assert_eq!(
            Currency::from_code(input),
            Err(MoneyError::UnknownCurrency(expected.to_owned()))
        );
    }
    check("eur", "eur");
    check("Eur", "Eur");
    check("XYZ", "XYZ");
    check("EURO", "EURO");
    check("", NOT_A_CODE);
    check(" EUR", NOT_A_CODE);
    check("EUR ", NOT_A_CODE);
    // A card number typed in the wrong field is never repeated in an error.
    check("4111111111111111", NOT_A_CODE);
    check("€", NOT_A_CODE);
}

#[test]
fn currency_serde() {
    assert_eq!(serde_json::to_string(&EUR).ok(), Some("\"EUR\"".to_owned()));
    for c in Currency::ALL {
        let json = serde_json::to_string(&c).expect("serialize");
        assert_eq!(json, format!("\"{}\"", c.code()));
        assert_eq!(serde_json::from_str::<Currency>(&json).ok(), Some(c));
    }
    assert!(serde_json::from_str::<Currency>("\"eur\"").is_err());
}

// ---- Money arithmetic -----------------------------------------------------------------------

#[test]
fn money_serde() {
    let json = serde_json::to_string(&m(3420, EUR)).expect("serialize");
    assert_eq!(json, r#"{"amount_minor":3420,"currency":"EUR"}"#);
    assert_eq!(
        serde_json::from_str::<Money>(&json).ok(),
        Some(m(3420, EUR))
    );
}

#[test]
fn accessors_and_signs() {
    let a = m(-5, KWD);
    assert_eq!(a.amount_minor(), -5);
    assert_eq!(a.currency(), KWD);
    assert!(a.is_negative() && !a.is_positive() && !a.is_zero());
    assert!(Money::zero(JPY).is_zero());
    assert!(m(1, JPY).is_positive());
}

#[test]
fn checked_arithmetic() {
    #[track_caller]
    fn check(actual: Result<Money, MoneyError>, expected: Result<Money, MoneyError>) {
        assert_eq!(actual, expected);
    }
    let mismatch = Err(MoneyError::CurrencyMismatch {
        left: EUR,
        right: USD,
    });
    check(m(1, EUR).checked_add(m(2, EUR)), Ok(m(3, EUR)));
    check(
        m(i64::MAX, EUR).checked_add(m(1, EUR)),
        Err(MoneyError::Overflow),
    );
    check(
        m(i64::MIN, EUR).checked_add(m(-1, EUR)),
        Err(MoneyError::Overflow),
    );
    check(m(1, EUR).checked_add(m(1, USD)), mismatch.clone());
    check(m(1, EUR).checked_sub(m(3, EUR)), Ok(m(-2, EUR)));
    check(
        m(i64::MIN, EUR).checked_sub(m(1, EUR)),
        Err(MoneyError::Overflow),
    );
    check(m(0, EUR).checked_sub(m(0, USD)), mismatch.clone());
    check(m(5, JPY).checked_neg(), Ok(m(-5, JPY)));
    check(m(i64::MAX, JPY).checked_neg(), Ok(m(-i64::MAX, JPY)));
    check(m(i64::MIN, JPY).checked_neg(), Err(MoneyError::Overflow));
    check(m(250, EUR).checked_mul(4), Ok(m(1000, EUR)));
    check(m(250, EUR).checked_mul(-1), Ok(m(-250, EUR)));
    check(
        m(i64::MAX / 2 + 1, EUR).checked_mul(2),
        Err(MoneyError::Overflow),
    );
    check(m(-1, EUR).checked_mul(i64::MIN), Err(MoneyError::Overflow));
    check(m(3, EUR).min(m(2, EUR)), Ok(m(2, EUR)));
    check(m(-3, EUR).min(m(2, EUR)), Ok(m(-3, EUR)));
    check(m(3, EUR).min(m(2, USD)), mismatch.clone());
    check(Money::sum(EUR, []), Ok(m(0, EUR)));
    check(
        Money::sum(EUR, [m(1, EUR), m(2, EUR), m(-4, EUR)]),
        Ok(m(-1, EUR)),
    );
    check(Money::sum(EUR, [m(1, EUR), m(2, USD)]), mismatch);
    check(
        Money::sum(EUR, [m(i64::MAX, EUR), m(1, EUR), m(-1, EUR)]),
        Err(MoneyError::Overflow),
    );
}

#[test]
fn percent_bp_rounds_half_away_from_zero() {
    #[track_caller]
    fn check(amount_minor: i64, bp: u32, expected: Result<i64, MoneyError>) {
        assert_eq!(
            m(amount_minor, EUR).percent_bp(bp),
            expected.map(|a| m(a, EUR)),
            "{bp} bp of {amount_minor}"
        );
    }
    check(3330, 500, Ok(167)); // 166.5 -> 167
    check(3600, 500, Ok(180));
    check(-3330, 500, Ok(-167)); // -166.5 -> -167
    check(3329, 500, Ok(166)); // 166.45
    check(3339, 500, Ok(167)); // 166.95
    check(1, 5_000, Ok(1)); // 0.5 -> 1
    check(1, 4_999, Ok(0));
    check(-1, 5_000, Ok(-1));
    check(12_345, 0, Ok(0));
    check(12_345, 10_000, Ok(12_345));
    check(12_345, 20_000, Ok(24_690));
    check(i64::MAX, 10_000, Ok(i64::MAX));
    check(i64::MIN, 10_000, Ok(i64::MIN));
    check(i64::MAX, 10_001, Err(MoneyError::Overflow));
    check(i64::MAX, u32::MAX, Err(MoneyError::Overflow));
    assert_eq!(m(3330, JPY).percent_bp(500), Ok(m(167, JPY)));
}

// ---- allocate -------------------------------------------------------------------------------

#[test]
fn allocate_examples() {
    #[track_caller]
    fn check(amount_minor: i64, ratios: &[u64], expected: Result<&[i64], MoneyError>) {
        let actual = m(amount_minor, EUR)
            .allocate(ratios)
            .map(|parts| parts.iter().map(|p| p.amount_minor()).collect::<Vec<_>>());
        assert_eq!(
            actual,
            expected.map(<[i64]>::to_vec),
            "{amount_minor} by {ratios:?}"
        );
    }
    check(100, &[1, 1, 1], Ok(&[34, 33, 33]));
    check(-100, &[1, 1, 1], Ok(&[-34, -33, -33]));
    check(101, &[1, 1, 1], Ok(&[34, 34, 33]));
    check(5, &[3, 7], Ok(&[2, 3])); // 1.5 / 3.5: tie, lowest index first
    check(5, &[7, 3], Ok(&[4, 1])); // 3.5 / 1.5: tie again, index 0 gets the unit
    check(1000, &[70, 20, 10], Ok(&[700, 200, 100]));
    check(1, &[0, 1, 0], Ok(&[0, 1, 0]));
    check(7, &[0, 1, 0, 1], Ok(&[0, 4, 0, 3]));
    check(0, &[5, 5], Ok(&[0, 0]));
    check(3420, &[1], Ok(&[3420]));
    check(10, &[u64::MAX, u64::MAX, 1], Ok(&[5, 5, 0]));
    check(i64::MIN, &[1, 1], Ok(&[i64::MIN / 2, i64::MIN / 2]));
    check(i64::MIN, &[1], Ok(&[i64::MIN]));
    check(i64::MIN, &[0, u64::MAX], Ok(&[0, i64::MIN]));
    check(i64::MAX, &[1, 1], Ok(&[i64::MAX / 2 + 1, i64::MAX / 2]));
    check(1, &[], Err(MoneyError::InvalidRatios));
    check(1, &[0, 0], Err(MoneyError::InvalidRatios));
    assert!(
        m(100, KWD)
            .allocate(&[1, 2])
            .iter()
            .flatten()
            .all(|p| p.currency() == KWD)
    );
}

// ---- parse and format -----------------------------------------------------------------------

#[test]
fn parse_accepts() {
    #[track_caller]
    fn check(input: &str, amount_minor: i64, currency: Currency) {
        assert_eq!(
            Money::parse(input),
            Ok(m(amount_minor, currency)),
            "{input:?}"
        );
        assert_eq!(
            input.parse::<Money>(),
            Ok(m(amount_minor, currency)),
            "{input:?}"
        );
    }
    check("34.20 EUR", 3420, EUR);
    check("EUR 34.20", 3420, EUR);
    check("-5.00 EUR", -500, EUR);
    check("EUR -5.00", -500, EUR);
    check("1.234 KWD", 1234, KWD);
    check("1234 JPY", 1234, JPY);
    check("¥1234", 1234, JPY);
    check("€34.20", 3420, EUR);
    check("-€5.00", -500, EUR);
    check("£1.50", 150, GBP);
    check("$2.00", 200, USD);
    check("34 EUR", 3400, EUR);
    check("34.2 EUR", 3420, EUR);
    check("0.05 CHF", 5, CHF);
    check("-0.05 CHF", -5, CHF);
    check("0.1 KWD", 100, KWD);
    check("-0 EUR", 0, EUR);
    check("007.50 EUR", 750, EUR);
    check("92233720368547758.07 EUR", i64::MAX, EUR);
    check("-92233720368547758.08 EUR", i64::MIN, EUR);
    check("9223372036854775807 JPY", i64::MAX, JPY);
    check("-¥9223372036854775808", i64::MIN, JPY);
    check("-9223372036854775.808 KWD", i64::MIN, KWD);
}

#[test]
fn parse_refuses() {
    #[track_caller]
    fn check(input: &str, expected: MoneyError) {
        let actual = Money::parse(input);
        match (&actual, &expected) {
            (Err(MoneyError::Parse(_)), MoneyError::Parse(_)) => {}
            _ => assert_eq!(actual, Err(expected), "{input:?}"),
        }
    }
    let parse = MoneyError::Parse(String::new());
    check("1.234 EUR", MoneyError::TooPrecise { currency: EUR });
    check("12.5 JPY", MoneyError::TooPrecise { currency: JPY });
    check("12.0 JPY", MoneyError::TooPrecise { currency: JPY });
    check("1.2345 KWD", MoneyError::TooPrecise { currency: KWD });
    check("¥1.5", MoneyError::TooPrecise { currency: JPY });
    check("92233720368547758.08 EUR", MoneyError::Overflow);
    check("-92233720368547758.09 EUR", MoneyError::Overflow);
    check("9223372036854775808 JPY", MoneyError::Overflow);
    check(&format!("{} JPY", "9".repeat(60)), MoneyError::Overflow);
    check("34.20 XYZ", MoneyError::UnknownCurrency("XYZ".to_owned()));
    check("34.20 eur", MoneyError::UnknownCurrency("eur".to_owned()));
    check("XYZ 34.20", MoneyError::UnknownCurrency("XYZ".to_owned()));
    check("34.20 EURO", MoneyError::UnknownCurrency("EURO".to_owned()));
    for input in [
        "",
        " ",
        "34.20",
        "EUR",
        "€",
        "-€",
        "34.20EUR",
        "EUR34.20",
        "34.20  EUR",
        " 34.20 EUR",
        "34.20 EUR ",
        "34.20 EUR x",
        "1,234.00 EUR",
        "1 234.00 EUR",
        "+5.00 EUR",
        "--5.00 EUR",
        "- 5.00 EUR",
        ".50 EUR",
        "5. EUR",
        "5.0.0 EUR",
        "5.-1 EUR",
        "€ 34.20",
        "€-5.00",
        "34.20€",
        "CHF",
        "Fr.34.20",
        "abc EUR",
        "EUR abc",
        "١٢٣ EUR",
        "12e3 EUR",
        "0x10 EUR",
        "4111 1111",
        "34.20 EUR1",
    ] {
        check(input, parse.clone());
    }
}

#[test]
fn parse_errors_do_not_repeat_the_input() {
    for input in [
        "4111111111111111",
        "4111111111111111.001 EUR",
        "4111111111111111x EUR",
        "4111111111111111 EURO",
        "€4111111111111111x",
        "EUR 4111 1111 1111 1111",
        "4111 1111 1111 1111",
        "41111111111111111111111 EUR",
    ] {
        let message = Money::parse(input).map(|_| ()).err().map(|e| e.to_string());
        assert!(
            message
                .as_deref()
                .is_some_and(|msg| !msg.contains("41111111")),
            "{input:?}: {message:?}"
        );
    }
}

#[test]
fn parse_amount_in_known_currency() {
    #[track_caller]
    fn check(input: &str, currency: Currency, expected: Result<i64, MoneyError>) {
        let actual = Money::parse_amount(input, currency);
        match (&actual, &expected) {
            (Err(MoneyError::Parse(_)), Err(MoneyError::Parse(_))) => {}
            _ => assert_eq!(actual, expected.map(|a| m(a, currency)), "{input:?}"),
        }
    }
    let parse = || Err(MoneyError::Parse(String::new()));
    check("34.20", EUR, Ok(3420));
    check("34.2", EUR, Ok(3420));
    check("34", EUR, Ok(3400));
    check("-0.05", EUR, Ok(-5));
    check("1234", JPY, Ok(1234));
    check("1.234", KWD, Ok(1234));
    check("1.234", EUR, Err(MoneyError::TooPrecise { currency: EUR }));
    check("1.5", JPY, Err(MoneyError::TooPrecise { currency: JPY }));
    check("99999999999999999999", EUR, Err(MoneyError::Overflow));
    check("", EUR, parse());
    check("-", EUR, parse());
    check("34.20 EUR", EUR, parse());
    check("€34.20", EUR, parse());
    check(" 34.20", EUR, parse());
}

#[test]
fn format_examples() {
    #[track_caller]
    fn check(amount_minor: i64, currency: Currency, amount: &str, display: &str, symbol: &str) {
        let money = m(amount_minor, currency);
        assert_eq!(money.format_amount(), amount);
        assert_eq!(money.to_string(), display);
        assert_eq!(money.format_symbol(), symbol);
    }
    check(3420, EUR, "34.20", "34.20 EUR", "€34.20");
    check(-500, EUR, "-5.00", "-5.00 EUR", "-€5.00");
    check(-5, EUR, "-0.05", "-0.05 EUR", "-€0.05");
    check(0, EUR, "0.00", "0.00 EUR", "€0.00");
    check(1234, JPY, "1234", "1234 JPY", "¥1234");
    check(-1, JPY, "-1", "-1 JPY", "-¥1");
    check(1234, KWD, "1.234", "1.234 KWD", "1.234 KWD");
    check(7, KWD, "0.007", "0.007 KWD", "0.007 KWD");
    check(3420, CHF, "34.20", "34.20 CHF", "34.20 CHF");
    check(150, GBP, "1.50", "1.50 GBP", "£1.50");
    check(200, USD, "2.00", "2.00 USD", "$2.00");
    check(
        i64::MIN,
        EUR,
        "-92233720368547758.08",
        "-92233720368547758.08 EUR",
        "-€92233720368547758.08",
    );
    check(
        i64::MIN,
        JPY,
        "-9223372036854775808",
        "-9223372036854775808 JPY",
        "-¥9223372036854775808",
    );
    check(
        i64::MAX,
        KWD,
        "9223372036854775.807",
        "9223372036854775.807 KWD",
        "9223372036854775.807 KWD",
    );
}

// ---- properties -----------------------------------------------------------------------------

fn any_currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(Currency::ALL.to_vec())
}

/// Ratios of 1..=36 parts, zeros included, never all zero; sometimes huge.
fn ratios() -> impl Strategy<Value = Vec<u64>> {
    let ratio = prop_oneof![
        3 => Just(0u64),
        5 => 0u64..=100,
        2 => any::<u64>(),
    ];
    prop::collection::vec(ratio, 1..=36).prop_filter("not all zero", |r| r.iter().any(|&x| x != 0))
}

fn check_allocation(amount_minor: i64, ratios: &[u64]) -> Result<(), TestCaseError> {
    let money = m(amount_minor, EUR);
    let parts = money
        .allocate(ratios)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(parts.len(), ratios.len());
    prop_assert_eq!(Money::sum(EUR, parts.iter().copied()), Ok(money));
    let total: i128 = ratios.iter().map(|&r| i128::from(r)).sum();
    for (part, &ratio) in parts.iter().zip(ratios) {
        prop_assert_eq!(part.currency(), EUR);
        // |part - amount * r / Σr| < 1, multiplied through by Σr.
        let error =
            i128::from(part.amount_minor()) * total - i128::from(amount_minor) * i128::from(ratio);
        prop_assert!(error.abs() < total, "part {:?} ratio {}", part, ratio);
        if ratio == 0 {
            prop_assert!(part.is_zero());
        }
    }
    prop_assert_eq!(money.allocate(ratios), Ok(parts));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn allocate_up_to_10_pow_12(amount in 0i64..=1_000_000_000_000, ratios in ratios()) {
        check_allocation(amount, &ratios)?;
        check_allocation(-amount, &ratios)?;
    }

    #[test]
    fn allocate_whole_i64_range(amount in any::<i64>(), ratios in ratios()) {
        check_allocation(amount, &ratios)?;
    }

    #[test]
    fn display_and_symbol_round_trip(amount in any::<i64>(), currency in any_currency()) {
        let money = m(amount, currency);
        prop_assert_eq!(Money::parse(&money.to_string()), Ok(money));
        prop_assert_eq!(Money::parse(&money.format_symbol()), Ok(money));
        prop_assert_eq!(Money::parse_amount(&money.format_amount(), currency), Ok(money));
        let code_first = format!("{} {}", currency, money.format_amount());
        prop_assert_eq!(Money::parse(&code_first), Ok(money));
        let json = serde_json::to_string(&money).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(serde_json::from_str::<Money>(&json).ok(), Some(money));
    }

    #[test]
    fn small_amounts_round_trip_in_every_currency(amount in -100_000i64..=100_000, currency in any_currency()) {
        let money = m(amount, currency);
        prop_assert_eq!(Money::parse(&money.to_string()), Ok(money));
        prop_assert_eq!(Money::parse(&money.format_symbol()), Ok(money));
    }

    #[test]
    fn parse_never_panics(s in "\\PC{0,30}") {
        let _ = Money::parse(&s);
        let _ = Money::parse_amount(&s, KWD);
    }

    #[test]
    fn parse_never_panics_on_amount_like_text(s in "[-€¥$£]{0,2}[0-9]{0,25}(\\.[0-9]{0,5})?( (EUR|JPY|KWD|XYZ))?") {
        if let Ok(money) = Money::parse(&s) {
            // Whatever was accepted formats back to an equal amount.
            prop_assert_eq!(Money::parse(&money.to_string()), Ok(money));
        }
    }

    #[test]
    fn add_is_checked(a in any::<i64>(), b in any::<i64>(), currency in any_currency()) {
        let sum = m(a, currency).checked_add(m(b, currency));
        match a.checked_add(b) {
            Some(expected) => prop_assert_eq!(sum, Ok(m(expected, currency))),
            None => prop_assert_eq!(sum, Err(MoneyError::Overflow)),
        }
        let difference = m(a, currency).checked_sub(m(b, currency));
        match a.checked_sub(b) {
            Some(expected) => prop_assert_eq!(difference, Ok(m(expected, currency))),
            None => prop_assert_eq!(difference, Err(MoneyError::Overflow)),
        }
    }

    #[test]
    fn mixed_currencies_are_refused(a in any::<i64>(), b in any::<i64>(), x in any_currency(), y in any_currency()) {
        prop_assume!(x != y);
        let mismatch = Err(MoneyError::CurrencyMismatch { left: x, right: y });
        prop_assert_eq!(m(a, x).checked_add(m(b, y)), mismatch.clone());
        prop_assert_eq!(m(a, x).checked_sub(m(b, y)), mismatch.clone());
        prop_assert_eq!(m(a, x).min(m(b, y)), mismatch);
    }

    #[test]
    fn percent_bp_matches_exact_rounding(amount in any::<i64>(), bp in 0u32..=20_000) {
        let result = m(amount, EUR).percent_bp(bp);
        // Exact share in 1/10 000 of a minor unit; the rounded result is within half a unit,
        // and exactly half rounds away from zero.
        let exact = i128::from(amount) * i128::from(bp);
        match result {
            Ok(money) => {
                let error = i128::from(money.amount_minor()) * 10_000 - exact;
                prop_assert!(error.abs() <= 5_000);
                if error.abs() == 5_000 {
                    prop_assert_eq!(error.signum(), exact.signum());
                }
            }
            Err(e) => {
                prop_assert_eq!(e, MoneyError::Overflow);
                prop_assert!(exact / 10_000 >= i128::from(i64::MAX) || exact / 10_000 <= i128::from(i64::MIN));
            }
        }
    }
}
