use super::*;
use crate::money::Currency::{EUR, JPY, KWD, USD};
use proptest::prelude::*;
use uuid::Uuid;

fn m(amount_minor: i64, currency: Currency) -> Money {
    Money::new(amount_minor, currency)
}

fn account(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn entry(side: Side, amount: Money) -> Entry {
    Entry {
        account_id: account(1),
        kind: AccountKind::Adjustments,
        side,
        amount,
    }
}

fn debit(amount: Money) -> Entry {
    entry(Side::Debit, amount)
}

fn credit(amount: Money) -> Entry {
    entry(Side::Credit, amount)
}

// ---- account kinds --------------------------------------------------------------------------

#[test]
fn account_kind_table() {
    #[track_caller]
    fn check(kind: AccountKind, name: &str, normal: Side, non_negative: bool) {
        assert_eq!(kind.as_str(), name);
        assert_eq!(kind.to_string(), name);
        assert_eq!(AccountKind::parse(name), Some(kind));
        assert_eq!(kind.normal_side(), normal);
        assert_eq!(kind.must_stay_non_negative(), non_negative);
        assert_eq!(
            serde_json::to_string(&kind).ok(),
            Some(format!("\"{name}\""))
        );
        assert_eq!(
            serde_json::from_str::<AccountKind>(&format!("\"{name}\"")).ok(),
            Some(kind)
        );
    }
    use AccountKind::*;
    use Side::{Credit, Debit};
    check(ContactCredit, "contact_credit", Credit, true);
    check(ContactDeferred, "contact_deferred", Debit, false);
    check(VoucherLiability, "voucher_liability", Credit, true);
    check(ProviderClearing, "provider_clearing", Debit, false);
    check(Sales, "sales", Credit, false);
    check(Discounts, "discounts", Debit, false);
    check(Refunds, "refunds", Debit, false);
    check(Holds, "holds", Credit, true);
    check(Cash, "cash", Debit, false);
    check(Adjustments, "adjustments", Debit, false);
    check(
        InstallmentsReceivable,
        "installments_receivable",
        Debit,
        true,
    );
    assert_eq!(AccountKind::ALL.len(), 11);
    for name in ["", "Sales", "contact-credit", "contactCredit", " sales"] {
        assert_eq!(AccountKind::parse(name), None, "{name:?}");
    }
}

#[test]
fn side_serde_and_opposite() {
    assert_eq!(
        serde_json::to_string(&Side::Debit).ok(),
        Some("\"debit\"".to_owned())
    );
    assert_eq!(
        serde_json::to_string(&Side::Credit).ok(),
        Some("\"credit\"".to_owned())
    );
    assert_eq!(Side::Debit.opposite(), Side::Credit);
    assert_eq!(Side::Credit.opposite(), Side::Debit);
}

#[test]
fn natural_delta_table() {
    #[track_caller]
    fn check(kind: AccountKind, side: Side, amount_minor: i64, expected: i64) {
        assert_eq!(natural_delta(kind, side, amount_minor), expected);
    }
    use AccountKind::*;
    use Side::{Credit, Debit};
    // Using a voucher: debit the liability (it shrinks), so the natural balance goes down.
    check(VoucherLiability, Debit, 500, -500);
    check(VoucherLiability, Credit, 500, 500);
    check(ContactCredit, Debit, 300, -300);
    check(ContactCredit, Credit, 300, 300);
    check(Holds, Credit, 7, 7);
    check(Holds, Debit, 7, -7);
    check(Sales, Credit, 3420, 3420);
    check(Sales, Debit, 3420, -3420);
    // A deferred charge: debit the receivable, so the outstanding goes up.
    check(ContactDeferred, Debit, 1000, 1000);
    check(ContactDeferred, Credit, 1000, -1000);
    check(ProviderClearing, Debit, 42, 42);
    check(ProviderClearing, Credit, 42, -42);
    check(Discounts, Debit, 167, 167);
    check(Refunds, Debit, 1, 1);
    check(Refunds, Credit, 1, -1);
    check(Cash, Debit, 10, 10);
    check(Adjustments, Credit, 10, -10);
    check(Sales, Debit, i64::MAX, -i64::MAX);
    check(Sales, Debit, i64::MIN, i64::MAX);
    for kind in AccountKind::ALL {
        assert_eq!(natural_delta(kind, kind.normal_side(), 9), 9);
        assert_eq!(natural_delta(kind, kind.normal_side().opposite(), 9), -9);
        let e = Entry {
            account_id: account(9),
            kind,
            side: Side::Debit,
            amount: m(9, EUR),
        };
        assert_eq!(e.natural_delta(), natural_delta(kind, Side::Debit, 9));
    }
}

// ---- transactions ---------------------------------------------------------------------------

#[test]
fn balanced_transaction_is_built() {
    let voucher = account(10);
    let clearing = account(11);
    let sales = account(12);
    let built = TransactionBuilder::new("voucher_redemption", "order 42")
        .debit(voucher, AccountKind::VoucherLiability, m(1500, EUR))
        .debit(clearing, AccountKind::ProviderClearing, m(1920, EUR))
        .credit(sales, AccountKind::Sales, m(3420, EUR))
        .build();
    let transaction = match built {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(transaction.kind(), "voucher_redemption");
    assert_eq!(transaction.memo(), "order 42");
    assert_eq!(transaction.entries().len(), 3);
    assert_eq!(transaction.entries()[0].account_id, voucher);
    assert_eq!(transaction.entries()[2].side, Side::Credit);
    assert_eq!(transaction.currencies(), vec![EUR]);
}

#[test]
fn transaction_rules() {
    #[track_caller]
    fn check(kind: &str, entries: Vec<Entry>, expected: Result<(), LedgerError>) {
        let actual = Transaction::new(kind, "memo", entries).map(|_| ());
        assert_eq!(actual, expected);
    }
    let ok = || Ok(());
    check(
        "card_capture",
        vec![debit(m(1, EUR)), credit(m(1, EUR))],
        ok(),
    );
    check("x", vec![debit(m(1, EUR)), credit(m(1, EUR))], ok());
    check(
        "installment_2",
        vec![debit(m(1, EUR)), credit(m(1, EUR))],
        ok(),
    );
    check(
        "split",
        vec![debit(m(3, EUR)), credit(m(1, EUR)), credit(m(2, EUR))],
        ok(),
    );
    // Unbalanced.
    check(
        "card_capture",
        vec![debit(m(2, EUR)), credit(m(1, EUR))],
        Err(LedgerError::Unbalanced {
            currency: EUR,
            debits_minor: 2,
            credits_minor: 1,
        }),
    );
    check(
        "card_capture",
        vec![debit(m(1, EUR)), debit(m(1, EUR))],
        Err(LedgerError::Unbalanced {
            currency: EUR,
            debits_minor: 2,
            credits_minor: 0,
        }),
    );
    // Too few entries.
    check("card_capture", vec![], Err(LedgerError::TooFewEntries));
    check(
        "card_capture",
        vec![debit(m(1, EUR))],
        Err(LedgerError::TooFewEntries),
    );
    // Zero and negative amounts: a negative credit is not a debit.
    check(
        "card_capture",
        vec![debit(m(0, EUR)), credit(m(0, EUR))],
        Err(LedgerError::NonPositiveAmount),
    );
    check(
        "card_capture",
        vec![debit(m(5, EUR)), credit(m(6, EUR)), credit(m(-1, EUR))],
        Err(LedgerError::NonPositiveAmount),
    );
    check(
        "card_capture",
        vec![debit(m(-5, EUR)), credit(m(-5, EUR))],
        Err(LedgerError::NonPositiveAmount),
    );
    // Multi-currency: each currency balances on its own.
    check(
        "fx",
        vec![
            debit(m(100, EUR)),
            credit(m(100, EUR)),
            debit(m(15_000, JPY)),
            credit(m(15_000, JPY)),
        ],
        ok(),
    );
    check(
        "fx",
        vec![debit(m(100, EUR)), credit(m(100, USD))],
        Err(LedgerError::Unbalanced {
            currency: EUR,
            debits_minor: 100,
            credits_minor: 0,
        }),
    );
    check(
        "fx",
        vec![
            debit(m(100, EUR)),
            credit(m(100, EUR)),
            debit(m(7, KWD)),
            credit(m(8, KWD)),
        ],
        Err(LedgerError::Unbalanced {
            currency: KWD,
            debits_minor: 7,
            credits_minor: 8,
        }),
    );
    // Totals are checked sums.
    check(
        "big",
        vec![
            debit(m(i64::MAX, EUR)),
            debit(m(1, EUR)),
            credit(m(i64::MAX, EUR)),
            credit(m(1, EUR)),
        ],
        Err(LedgerError::Money(MoneyError::Overflow)),
    );
    check(
        "big",
        vec![debit(m(i64::MAX, EUR)), credit(m(i64::MAX, EUR))],
        ok(),
    );
    // Kinds.
    for kind in [
        "",
        "Card_capture",
        "card capture",
        "card-capture",
        "_card",
        "card_",
        "card__capture",
        "1st",
        "carte_créditée",
    ] {
        check(
            kind,
            vec![debit(m(1, EUR)), credit(m(1, EUR))],
            Err(LedgerError::InvalidKind(kind.to_owned())),
        );
    }
}

#[test]
fn currencies_are_sorted_and_unique() {
    let built = Transaction::new(
        "fx",
        "",
        vec![
            debit(m(1, KWD)),
            debit(m(1, EUR)),
            credit(m(1, EUR)),
            credit(m(1, KWD)),
            debit(m(2, JPY)),
            credit(m(1, JPY)),
            credit(m(1, JPY)),
        ],
    );
    assert_eq!(built.map(|t| t.currencies()), Ok(vec![EUR, JPY, KWD]));
}

#[test]
fn ledger_errors_read_well() {
    let e = LedgerError::Unbalanced {
        currency: EUR,
        debits_minor: 2,
        credits_minor: 1,
    };
    assert_eq!(
        e.to_string(),
        "unbalanced transaction in EUR: debits 2, credits 1 (minor units)"
    );
    assert_eq!(
        LedgerError::from(MoneyError::Overflow).to_string(),
        MoneyError::Overflow.to_string()
    );
}

// ---- properties -----------------------------------------------------------------------------

/// A random balanced transaction: for each of 1..=3 currencies, an amount split into 1..=4
/// debits and 1..=4 credits by random ratios, over random accounts, then shuffled.
fn balanced_entries() -> impl Strategy<Value = Vec<Entry>> {
    let currencies = prop::sample::subsequence(Currency::ALL.to_vec(), 1..=3);
    let leg = (
        1i64..=1_000_000_000_000,
        prop::collection::vec(1u64..=1000, 1..=4),
        prop::collection::vec(1u64..=1000, 1..=4),
    );
    (currencies, prop::collection::vec(leg, 3), any::<u64>()).prop_flat_map(
        |(currencies, legs, seed)| {
            let mut entries = Vec::new();
            for (currency, (amount, debit_ratios, credit_ratios)) in
                currencies.into_iter().zip(legs)
            {
                // More parts than units would leave zero parts, so use at most `amount` ratios.
                let total = m(amount, currency);
                for (side, ratios) in [(Side::Debit, debit_ratios), (Side::Credit, credit_ratios)] {
                    let usable = &ratios[..ratios
                        .len()
                        .min(usize::try_from(amount).unwrap_or(usize::MAX))];
                    // A tiny amount over large ratios can still leave a zero part; dropping it
                    // keeps the side's total.
                    let parts = total
                        .allocate(usable)
                        .into_iter()
                        .flatten()
                        .filter(|p| p.is_positive());
                    for (i, part) in parts.enumerate() {
                        let kind = AccountKind::ALL[(seed as usize + i) % AccountKind::ALL.len()];
                        entries.push(Entry {
                            account_id: Uuid::from_u128(u128::from(seed) + i as u128),
                            kind,
                            side,
                            amount: part,
                        });
                    }
                }
            }
            Just(entries).prop_shuffle()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn balanced_transactions_build_and_balance(entries in balanced_entries()) {
        let transaction = Transaction::new("random_movement", "", entries.clone())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(transaction.entries(), &entries[..]);
        for currency in transaction.currencies() {
            let side_total = |side: Side| {
                Money::sum(
                    currency,
                    transaction
                        .entries()
                        .iter()
                        .filter(|e| e.side == side && e.amount.currency() == currency)
                        .map(|e| e.amount),
                )
            };
            let debits = side_total(Side::Debit);
            prop_assert!(debits.is_ok());
            prop_assert_eq!(debits, side_total(Side::Credit));
        }
    }

    #[test]
    fn perturbing_one_entry_unbalances(
        entries in balanced_entries(),
        index in any::<prop::sample::Index>(),
        delta in prop_oneof![-1000i64..=-1, 1i64..=1000],
    ) {
        let mut perturbed = entries;
        let i = index.index(perturbed.len());
        let target = &mut perturbed[i];
        let new_amount = target.amount.amount_minor() + delta;
        target.amount = m(new_amount, target.amount.currency());
        let result = Transaction::new("random_movement", "", perturbed);
        prop_assert!(result.is_err());
        let expected_error = if new_amount <= 0 {
            matches!(result, Err(LedgerError::NonPositiveAmount))
        } else {
            matches!(result, Err(LedgerError::Unbalanced { .. }))
        };
        prop_assert!(expected_error, "{:?}", result);
    }

    #[test]
    fn flipping_one_side_unbalances(entries in balanced_entries(), index in any::<prop::sample::Index>()) {
        let mut flipped = entries;
        let i = index.index(flipped.len());
        flipped[i].side = flipped[i].side.opposite();
        let unbalanced = matches!(
            Transaction::new("random_movement", "", flipped),
            Err(LedgerError::Unbalanced { .. })
        );
        prop_assert!(unbalanced);
    }
}
