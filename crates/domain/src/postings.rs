//! The ledger transactions each money movement posts: the one place that decides which
//! accounts a movement debits and credits (DESIGN.md invariant 6).

use crate::ledger::{AccountKind, LedgerError, Transaction, TransactionBuilder};
use crate::money::Money;
use uuid::Uuid;

/// An account as the posting rules need it: its id and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountRef {
    pub id: Uuid,
    pub kind: AccountKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostingError {
    #[error("the amount must not be zero")]
    ZeroAmount,
    #[error("expected a {expected} account, got {got}")]
    WrongAccount {
        expected: &'static str,
        got: &'static str,
    },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

fn expect(account: AccountRef, kind: AccountKind) -> Result<(), PostingError> {
    if account.kind == kind {
        Ok(())
    } else {
        Err(PostingError::WrongAccount {
            expected: kind.as_str(),
            got: account.kind.as_str(),
        })
    }
}

/// A back-office adjustment of a contact's credit balance (goodwill, opening balance):
/// a positive amount credits the contact, a negative one takes credit back. The counterpart is
/// the institution's adjustments account, so the movement stays visible in the books.
pub fn credit_adjustment(
    contact_credit: AccountRef,
    adjustments: AccountRef,
    amount: Money,
    memo: &str,
) -> Result<Transaction, PostingError> {
    expect(contact_credit, AccountKind::ContactCredit)?;
    expect(adjustments, AccountKind::Adjustments)?;
    if amount.is_zero() {
        return Err(PostingError::ZeroAmount);
    }
    let builder = TransactionBuilder::new("credit_adjustment", memo);
    let magnitude = if amount.is_negative() {
        amount.checked_neg().map_err(LedgerError::from)?
    } else {
        amount
    };
    let builder = if amount.is_positive() {
        builder
            .debit(adjustments.id, adjustments.kind, magnitude)
            .credit(contact_credit.id, contact_credit.kind, magnitude)
    } else {
        builder
            .debit(contact_credit.id, contact_credit.kind, magnitude)
            .credit(adjustments.id, adjustments.kind, magnitude)
    };
    Ok(builder.build()?)
}

/// Refuses a zero amount; a negative one is refused by the ledger
/// ([`LedgerError::NonPositiveAmount`]).
fn non_zero(amount: Money) -> Result<(), PostingError> {
    if amount.is_zero() {
        Err(PostingError::ZeroAmount)
    } else {
        Ok(())
    }
}

/// Reserves part of a voucher for an order (SPEC F3, F6): Dr the voucher's liability, Cr the
/// order's holds. The voucher's balance drops at once, so the same value cannot be spent twice;
/// [`release_hold`] gives it back, [`commit_order`] spends it.
pub fn hold_voucher(
    voucher: AccountRef,
    order_holds: AccountRef,
    amount: Money,
    memo: &str,
) -> Result<Transaction, PostingError> {
    expect(voucher, AccountKind::VoucherLiability)?;
    expect(order_holds, AccountKind::Holds)?;
    non_zero(amount)?;
    Ok(TransactionBuilder::new("voucher_hold", memo)
        .debit(voucher.id, voucher.kind, amount)
        .credit(order_holds.id, order_holds.kind, amount)
        .build()?)
}

/// Reserves part of a contact's credit balance for an order (SPEC F4, F6): Dr contact credit,
/// Cr the order's holds.
pub fn hold_credit(
    contact_credit: AccountRef,
    order_holds: AccountRef,
    amount: Money,
    memo: &str,
) -> Result<Transaction, PostingError> {
    expect(contact_credit, AccountKind::ContactCredit)?;
    expect(order_holds, AccountKind::Holds)?;
    non_zero(amount)?;
    Ok(TransactionBuilder::new("credit_hold", memo)
        .debit(contact_credit.id, contact_credit.kind, amount)
        .credit(order_holds.id, order_holds.kind, amount)
        .build()?)
}

/// Gives a hold back to where it came from (cancel, failure, expiry, code removed): Dr the
/// order's holds, Cr the source (a voucher's liability or a contact's credit).
pub fn release_hold(
    source: AccountRef,
    order_holds: AccountRef,
    amount: Money,
    memo: &str,
) -> Result<Transaction, PostingError> {
    if !matches!(
        source.kind,
        AccountKind::VoucherLiability | AccountKind::ContactCredit
    ) {
        return Err(PostingError::WrongAccount {
            expected: "voucher_liability or contact_credit",
            got: source.kind.as_str(),
        });
    }
    expect(order_holds, AccountKind::Holds)?;
    non_zero(amount)?;
    Ok(TransactionBuilder::new("hold_release", memo)
        .debit(order_holds.id, order_holds.kind, amount)
        .credit(source.id, source.kind, amount)
        .build()?)
}

/// Everything an order's payment commits in one transaction; see [`commit_order`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderCommit {
    pub memo: String,
    pub sales: AccountRef,
    pub discounts: AccountRef,
    /// The order's holds account.
    pub holds: AccountRef,
    /// Order total including delivery.
    pub total: Money,
    /// Σ promo discounts.
    pub discount_total: Money,
    /// Σ voucher and credit holds, all of which the order spends.
    pub held_total: Money,
    /// Charge to the contact's deferred account (a `ContactDeferred` account).
    pub deferred: Option<(AccountRef, Money)>,
    /// Card capture (a `ProviderClearing` account).
    pub card: Option<(AccountRef, Money)>,
    /// What the buyer owes in later installments (the order's `InstallmentsReceivable`).
    pub installments: Option<(AccountRef, Money)>,
    /// Vouchers the order's voucher lines issue, one per unit: the new voucher's liability
    /// account, its face value, and the price paid for it.
    pub issued_vouchers: Vec<(AccountRef, Money, Money)>,
}

/// The transaction that commits a paid order (SPEC F6):
///
/// - Dr discounts `discount_total`, Dr holds `held_total`, Dr the deferred account, Dr provider
///   clearing for the card, Dr the installments receivable for what later installments owe;
/// - Cr sales (total − Σ voucher prices);
/// - for each issued voucher: Cr its liability with the face value, plus Dr discounts
///   (face − price) when the face value exceeds the price, or Cr sales (price − face) when the
///   price exceeds it.
///
/// Zero-amount entries are omitted. Refused, with the existing error kinds:
/// wrong account kinds ([`PostingError::WrongAccount`]); a negative amount or a voucher price
/// above what the order's total leaves ([`LedgerError::NonPositiveAmount`]); a voucher with a
/// zero face value or an order with nothing at all to post ([`PostingError::ZeroAmount`]); an
/// amount in another currency ([`LedgerError::Money`]); and discount_total + held_total +
/// deferred + card + installments ≠ total ([`LedgerError::Unbalanced`], debits = that sum, credits = total).
pub fn commit_order(c: &OrderCommit) -> Result<Transaction, PostingError> {
    expect(c.sales, AccountKind::Sales)?;
    expect(c.discounts, AccountKind::Discounts)?;
    expect(c.holds, AccountKind::Holds)?;
    if let Some((account, _)) = c.deferred {
        expect(account, AccountKind::ContactDeferred)?;
    }
    if let Some((account, _)) = c.card {
        expect(account, AccountKind::ProviderClearing)?;
    }
    if let Some((account, _)) = c.installments {
        expect(account, AccountKind::InstallmentsReceivable)?;
    }
    for (account, _, _) in &c.issued_vouchers {
        expect(*account, AccountKind::VoucherLiability)?;
    }

    let currency = c.total.currency();
    let deferred = c.deferred.map_or(Money::zero(currency), |(_, a)| a);
    let card = c.card.map_or(Money::zero(currency), |(_, a)| a);
    let owed = c.installments.map_or(Money::zero(currency), |(_, a)| a);
    let paid_parts = [c.discount_total, c.held_total, deferred, card, owed];
    let all_amounts = paid_parts.iter().chain(std::iter::once(&c.total)).chain(
        c.issued_vouchers
            .iter()
            .flat_map(|(_, face, price)| [face, price]),
    );
    for amount in all_amounts {
        if amount.currency() != currency {
            return Err(
                LedgerError::from(crate::money::MoneyError::CurrencyMismatch {
                    left: currency,
                    right: amount.currency(),
                })
                .into(),
            );
        }
        if amount.is_negative() {
            return Err(LedgerError::NonPositiveAmount.into());
        }
    }
    if c.issued_vouchers.iter().any(|(_, face, _)| face.is_zero()) {
        return Err(PostingError::ZeroAmount);
    }
    let paid = Money::sum(currency, paid_parts).map_err(LedgerError::from)?;
    if paid != c.total {
        return Err(LedgerError::Unbalanced {
            currency,
            debits_minor: paid.amount_minor(),
            credits_minor: c.total.amount_minor(),
        }
        .into());
    }
    let voucher_prices = Money::sum(currency, c.issued_vouchers.iter().map(|&(_, _, p)| p))
        .map_err(LedgerError::from)?;
    let ticket_sales = c
        .total
        .checked_sub(voucher_prices)
        .map_err(LedgerError::from)?;
    if ticket_sales.is_negative() {
        return Err(LedgerError::NonPositiveAmount.into());
    }

    let mut builder = TransactionBuilder::new("order_commit", &c.memo);
    let debit = |b: TransactionBuilder, account: AccountRef, amount: Money| {
        if amount.is_zero() {
            b
        } else {
            b.debit(account.id, account.kind, amount)
        }
    };
    builder = debit(builder, c.discounts, c.discount_total);
    builder = debit(builder, c.holds, c.held_total);
    if let Some((account, amount)) = c.deferred {
        builder = debit(builder, account, amount);
    }
    if let Some((account, amount)) = c.card {
        builder = debit(builder, account, amount);
    }
    if let Some((account, amount)) = c.installments {
        builder = debit(builder, account, amount);
    }
    let credit = |b: TransactionBuilder, account: AccountRef, amount: Money| {
        if amount.is_zero() {
            b
        } else {
            b.credit(account.id, account.kind, amount)
        }
    };
    builder = credit(builder, c.sales, ticket_sales);
    for &(voucher, face, price) in &c.issued_vouchers {
        builder = credit(builder, voucher, face);
        let bonus = face.checked_sub(price).map_err(LedgerError::from)?;
        if bonus.is_positive() {
            builder = debit(builder, c.discounts, bonus);
        } else if bonus.is_negative() {
            builder = credit(
                builder,
                c.sales,
                bonus.checked_neg().map_err(LedgerError::from)?,
            );
        }
    }
    let transaction = builder.build().map_err(|e| match e {
        // Every amount was zero: a free order with no voucher issues nothing to post.
        LedgerError::TooFewEntries => PostingError::ZeroAmount,
        other => PostingError::Ledger(other),
    })?;
    Ok(transaction)
}

/// Writes off what a committed order left on a single-use voucher
/// ([`crate::voucher::forfeited_on_commit`]): Dr the voucher's liability, Cr sales (breakage),
/// so the voucher ends at zero and no cent disappears.
pub fn forfeit_voucher(
    voucher: AccountRef,
    sales: AccountRef,
    amount: Money,
    memo: &str,
) -> Result<Transaction, PostingError> {
    expect(voucher, AccountKind::VoucherLiability)?;
    expect(sales, AccountKind::Sales)?;
    non_zero(amount)?;
    Ok(TransactionBuilder::new("voucher_forfeit", memo)
        .debit(voucher.id, voucher.kind, amount)
        .credit(sales.id, sales.kind, amount)
        .build()?)
}

/// The back office records a payment of a contact's deferred account (SPEC F5): Dr cash, Cr the
/// contact's deferred account, whose outstanding drops by `amount`.
pub fn deferred_settlement(
    contact_deferred: AccountRef,
    cash: AccountRef,
    amount: Money,
    memo: &str,
) -> Result<Transaction, PostingError> {
    expect(contact_deferred, AccountKind::ContactDeferred)?;
    expect(cash, AccountKind::Cash)?;
    non_zero(amount)?;
    Ok(TransactionBuilder::new("deferred_settlement", memo)
        .debit(cash.id, cash.kind, amount)
        .credit(contact_deferred.id, contact_deferred.kind, amount)
        .build()?)
}

/// A refund (SPEC F12): Dr the institution's refunds, Cr where the money goes — the provider's
/// clearing account for a refund to the card (the provider pays the buyer back out of what it
/// owes us), or the contact's credit balance.
pub fn refund(
    refunds: AccountRef,
    destination: AccountRef,
    amount: Money,
    memo: &str,
) -> Result<Transaction, PostingError> {
    expect(refunds, AccountKind::Refunds)?;
    if !matches!(
        destination.kind,
        AccountKind::ProviderClearing | AccountKind::ContactCredit
    ) {
        return Err(PostingError::WrongAccount {
            expected: "provider_clearing or contact_credit",
            got: destination.kind.as_str(),
        });
    }
    non_zero(amount)?;
    Ok(TransactionBuilder::new("refund", memo)
        .debit(refunds.id, refunds.kind, amount)
        .credit(destination.id, destination.kind, amount)
        .build()?)
}

/// A later installment captured by card (SPEC F10): Dr provider clearing, Cr the order's
/// installments receivable.
pub fn installment_capture(
    clearing: AccountRef,
    receivable: AccountRef,
    amount: Money,
    memo: &str,
) -> Result<Transaction, PostingError> {
    expect(clearing, AccountKind::ProviderClearing)?;
    expect(receivable, AccountKind::InstallmentsReceivable)?;
    non_zero(amount)?;
    Ok(TransactionBuilder::new("installment_capture", memo)
        .debit(clearing.id, clearing.kind, amount)
        .credit(receivable.id, receivable.kind, amount)
        .build()?)
}

/// Installments that will not be collected (cancelled with a refund of the order, or given
/// up): Dr refunds, Cr the order's installments receivable.
pub fn installments_cancel(
    refunds: AccountRef,
    receivable: AccountRef,
    amount: Money,
    memo: &str,
) -> Result<Transaction, PostingError> {
    expect(refunds, AccountKind::Refunds)?;
    expect(receivable, AccountKind::InstallmentsReceivable)?;
    non_zero(amount)?;
    Ok(TransactionBuilder::new("installments_cancel", memo)
        .debit(refunds.id, refunds.kind, amount)
        .credit(receivable.id, receivable.kind, amount)
        .build()?)
}

/// A due installment paid another way at the box office (cash or cheque, SPEC F10): Dr cash,
/// Cr the order's installments receivable.
pub fn installment_other_payment(
    cash: AccountRef,
    receivable: AccountRef,
    amount: Money,
    memo: &str,
) -> Result<Transaction, PostingError> {
    expect(cash, AccountKind::Cash)?;
    expect(receivable, AccountKind::InstallmentsReceivable)?;
    non_zero(amount)?;
    Ok(TransactionBuilder::new("installment_other_payment", memo)
        .debit(cash.id, cash.kind, amount)
        .credit(receivable.id, receivable.kind, amount)
        .build()?)
}

#[cfg(test)]
mod refund_tests {
    use super::*;
    use crate::ledger::natural_delta;
    use crate::money::Currency;

    fn acc(kind: AccountKind) -> AccountRef {
        AccountRef {
            id: Uuid::now_v7(),
            kind,
        }
    }

    #[test]
    fn refund_to_card_or_credit() {
        let eur = Money::new(1250, Currency::EUR);
        let refunds = acc(AccountKind::Refunds);
        for dest in [
            acc(AccountKind::ProviderClearing),
            acc(AccountKind::ContactCredit),
        ] {
            let t = refund(refunds, dest, eur, "r").unwrap();
            let delta = |a: AccountRef| -> i64 {
                t.entries()
                    .iter()
                    .filter(|e| e.account_id == a.id)
                    .map(|e| natural_delta(a.kind, e.side, e.amount.amount_minor()))
                    .sum()
            };
            // Refunds grow; the clearing account (an asset) shrinks; a credit balance grows.
            assert_eq!(delta(refunds), 1250);
            let expected = if dest.kind == AccountKind::ProviderClearing {
                -1250
            } else {
                1250
            };
            assert_eq!(delta(dest), expected);
        }
        assert!(matches!(
            refund(refunds, acc(AccountKind::Sales), eur, "r"),
            Err(PostingError::WrongAccount { .. })
        ));
        assert_eq!(
            refund(
                refunds,
                acc(AccountKind::ContactCredit),
                Money::zero(Currency::EUR),
                "r"
            ),
            Err(PostingError::ZeroAmount)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Side, natural_delta};
    use crate::money::Currency;

    fn acc(kind: AccountKind) -> AccountRef {
        AccountRef {
            id: Uuid::now_v7(),
            kind,
        }
    }

    #[test]
    fn credit_adjustment_moves_the_contact_balance_by_the_amount() {
        let credit = acc(AccountKind::ContactCredit);
        let adj = acc(AccountKind::Adjustments);
        for amount in [1500, -700] {
            let t = credit_adjustment(credit, adj, Money::new(amount, Currency::EUR), "x").unwrap();
            let on_contact: i64 = t
                .entries()
                .iter()
                .filter(|e| e.account_id == credit.id)
                .map(|e| natural_delta(e.kind, e.side, e.amount.amount_minor()))
                .sum();
            assert_eq!(on_contact, amount);
        }
        assert_eq!(
            credit_adjustment(credit, adj, Money::zero(Currency::EUR), "x"),
            Err(PostingError::ZeroAmount)
        );
        assert!(credit_adjustment(adj, credit, Money::new(1, Currency::EUR), "x").is_err());
        let t = credit_adjustment(credit, adj, Money::new(5, Currency::EUR), "x").unwrap();
        assert_eq!(t.entries()[0].side, Side::Debit);
    }
}

#[cfg(test)]
mod checkout_tests {
    use super::*;
    use crate::ledger::{Side, natural_delta};
    use crate::money::Currency::{self, EUR, USD};
    use proptest::prelude::*;

    fn acc(kind: AccountKind) -> AccountRef {
        AccountRef {
            id: Uuid::now_v7(),
            kind,
        }
    }

    fn eur(amount_minor: i64) -> Money {
        Money::new(amount_minor, EUR)
    }

    /// Net effect of a transaction on one account's natural balance.
    fn delta(t: &Transaction, account: AccountRef) -> i64 {
        t.entries()
            .iter()
            .filter(|e| e.account_id == account.id)
            .map(|e| natural_delta(e.kind, e.side, e.amount.amount_minor()))
            .sum()
    }

    type Posting = fn(AccountRef, AccountRef, Money, &str) -> Result<Transaction, PostingError>;

    #[test]
    fn two_account_postings() {
        use AccountKind::*;
        // (posting, first kind, second kind, natural delta on first and second per unit)
        let table: [(&str, Posting, AccountKind, AccountKind, i64, i64); 6] = [
            ("voucher_hold", hold_voucher, VoucherLiability, Holds, -1, 1),
            ("credit_hold", hold_credit, ContactCredit, Holds, -1, 1),
            ("hold_release", release_hold, VoucherLiability, Holds, 1, -1),
            ("hold_release", release_hold, ContactCredit, Holds, 1, -1),
            (
                "voucher_forfeit",
                forfeit_voucher,
                VoucherLiability,
                Sales,
                -1,
                1,
            ),
            (
                "deferred_settlement",
                deferred_settlement,
                ContactDeferred,
                Cash,
                -1,
                1,
            ),
        ];
        for (name, post, first_kind, second_kind, first, second) in table {
            let (a, b) = (acc(first_kind), acc(second_kind));
            let t = post(a, b, eur(2000), "order 42").unwrap();
            assert_eq!(t.kind(), name);
            assert_eq!(t.memo(), "order 42");
            assert_eq!(t.entries().len(), 2);
            assert_eq!(delta(&t, a), first * 2000, "{name}");
            assert_eq!(delta(&t, b), second * 2000, "{name}");
            assert_eq!(post(a, b, eur(0), "x"), Err(PostingError::ZeroAmount));
            assert_eq!(
                post(a, b, eur(-5), "x"),
                Err(PostingError::Ledger(LedgerError::NonPositiveAmount))
            );
            assert!(matches!(
                post(b, a, eur(1), "x"),
                Err(PostingError::WrongAccount { .. })
            ));
            assert!(matches!(
                post(a, acc(Adjustments), eur(1), "x"),
                Err(PostingError::WrongAccount { .. })
            ));
        }
        assert_eq!(
            release_hold(acc(Sales), acc(Holds), eur(1), "x"),
            Err(PostingError::WrongAccount {
                expected: "voucher_liability or contact_credit",
                got: "sales"
            })
        );
    }

    struct Accounts {
        sales: AccountRef,
        discounts: AccountRef,
        holds: AccountRef,
        deferred: AccountRef,
        card: AccountRef,
    }

    fn accounts() -> Accounts {
        Accounts {
            sales: acc(AccountKind::Sales),
            discounts: acc(AccountKind::Discounts),
            holds: acc(AccountKind::Holds),
            deferred: acc(AccountKind::ContactDeferred),
            card: acc(AccountKind::ProviderClearing),
        }
    }

    fn commit(a: &Accounts, total: i64, discounts: i64, held: i64) -> OrderCommit {
        OrderCommit {
            memo: "order 42".to_owned(),
            sales: a.sales,
            discounts: a.discounts,
            holds: a.holds,
            total: eur(total),
            discount_total: eur(discounts),
            held_total: eur(held),
            deferred: None,
            card: None,
            installments: None,
            issued_vouchers: Vec::new(),
        }
    }

    #[test]
    fn installments_commit_capture_and_cancel() {
        let a = accounts();
        let receivable = acc(AccountKind::InstallmentsReceivable);
        let c = OrderCommit {
            card: Some((a.card, eur(3334))),
            installments: Some((receivable, eur(6666))),
            ..commit(&a, 10000, 0, 0)
        };
        let t = commit_order(&c).unwrap();
        let delta = |t: &Transaction, acct: AccountRef| -> i64 {
            t.entries()
                .iter()
                .filter(|e| e.account_id == acct.id)
                .map(|e| natural_delta(acct.kind, e.side, e.amount.amount_minor()))
                .sum()
        };
        assert_eq!(delta(&t, receivable), 6666);
        assert_eq!(delta(&t, a.card), 3334);
        // Short of the total: refused.
        let short = OrderCommit {
            installments: Some((receivable, eur(6665))),
            ..c.clone()
        };
        assert!(commit_order(&short).is_err());
        // The wrong account for the receivable: refused.
        let wrong = OrderCommit {
            installments: Some((a.card, eur(6666))),
            ..c.clone()
        };
        assert!(commit_order(&wrong).is_err());
        let second = installment_capture(a.card, receivable, eur(3333), "2/3").unwrap();
        assert_eq!(delta(&second, receivable), -3333);
        assert_eq!(delta(&second, a.card), 3333);
        let refunds = acc(AccountKind::Refunds);
        let cancel = installments_cancel(refunds, receivable, eur(3333), "3/3").unwrap();
        assert_eq!(delta(&cancel, receivable), -3333);
        assert_eq!(delta(&cancel, refunds), 3333);
        assert!(installment_capture(receivable, a.card, eur(1), "x").is_err());
        assert!(installments_cancel(refunds, receivable, eur(0), "x").is_err());
        let cash = acc(AccountKind::Cash);
        let other = installment_other_payment(cash, receivable, eur(3333), "3/3 cheque").unwrap();
        assert_eq!(delta(&other, receivable), -3333);
        assert_eq!(delta(&other, cash), 3333);
        assert!(installment_other_payment(receivable, cash, eur(1), "x").is_err());
    }

    #[test]
    fn seed_order_commit() {
        // 36.00 − 1.80 promo, 20.00 voucher + 10.00 credit held, 4.20 on the deferred account.
        let a = accounts();
        let c = OrderCommit {
            deferred: Some((a.deferred, eur(420))),
            ..commit(&a, 3600, 180, 3000)
        };
        let t = commit_order(&c).unwrap();
        assert_eq!(t.kind(), "order_commit");
        assert_eq!(delta(&t, a.discounts), 180);
        assert_eq!(delta(&t, a.holds), -3000);
        assert_eq!(delta(&t, a.deferred), 420);
        assert_eq!(delta(&t, a.sales), 3600);
        assert_eq!(t.entries().len(), 4);
        // Without the deferred charge it no longer adds up.
        assert_eq!(
            commit_order(&commit(&a, 3600, 180, 3000)),
            Err(PostingError::Ledger(LedgerError::Unbalanced {
                currency: EUR,
                debits_minor: 3180,
                credits_minor: 3600
            }))
        );
    }

    #[test]
    fn voucher_issue_on_commit() {
        let a = accounts();
        let (v1, v2, v3) = (
            acc(AccountKind::VoucherLiability),
            acc(AccountKind::VoucherLiability),
            acc(AccountKind::VoucherLiability),
        );
        // Tickets 30.00 + a 50.00 voucher sold 45.00 + a 20.00 voucher sold 20.00 + a 10.00
        // voucher sold 12.00 (a gift box), paid by card.
        let c = OrderCommit {
            card: Some((a.card, eur(3000 + 4500 + 2000 + 1200))),
            issued_vouchers: vec![
                (v1, eur(5000), eur(4500)),
                (v2, eur(2000), eur(2000)),
                (v3, eur(1000), eur(1200)),
            ],
            ..commit(&a, 10_700, 0, 0)
        };
        let t = commit_order(&c).unwrap();
        assert_eq!(delta(&t, a.card), 10_700);
        assert_eq!(delta(&t, v1), 5000);
        assert_eq!(delta(&t, v2), 2000);
        assert_eq!(delta(&t, v3), 1000);
        assert_eq!(delta(&t, a.discounts), 500);
        assert_eq!(delta(&t, a.sales), 3000 + 200);
        // A voucher given away with free tickets: nothing paid, face value 10.00.
        let free = OrderCommit {
            issued_vouchers: vec![(v1, eur(1000), eur(0))],
            ..commit(&a, 0, 0, 0)
        };
        let t = commit_order(&free).unwrap();
        assert_eq!(delta(&t, v1), 1000);
        assert_eq!(delta(&t, a.discounts), 1000);
        assert_eq!(t.entries().len(), 2);
    }

    #[test]
    fn commit_refusals() {
        let a = accounts();
        let v = acc(AccountKind::VoucherLiability);
        #[track_caller]
        fn check(c: OrderCommit, expect: PostingError) {
            assert_eq!(commit_order(&c), Err(expect));
        }
        // Nothing to post.
        check(commit(&a, 0, 0, 0), PostingError::ZeroAmount);
        check(
            commit(&a, 1000, -500, 1500),
            PostingError::Ledger(LedgerError::NonPositiveAmount),
        );
        check(
            OrderCommit {
                issued_vouchers: vec![(v, eur(0), eur(0))],
                ..commit(&a, 0, 0, 0)
            },
            PostingError::ZeroAmount,
        );
        // Vouchers priced above the order total.
        check(
            OrderCommit {
                issued_vouchers: vec![(v, eur(2000), eur(2000))],
                ..commit(&a, 1000, 0, 1000)
            },
            PostingError::Ledger(LedgerError::NonPositiveAmount),
        );
        check(
            OrderCommit {
                card: Some((a.card, Money::new(1000, USD))),
                ..commit(&a, 1000, 0, 0)
            },
            PostingError::Ledger(LedgerError::Money(MoneyError::CurrencyMismatch {
                left: EUR,
                right: USD,
            })),
        );
        let wrong = |c: OrderCommit| {
            assert!(matches!(
                commit_order(&c),
                Err(PostingError::WrongAccount { .. })
            ));
        };
        wrong(OrderCommit {
            sales: a.discounts,
            ..commit(&a, 100, 100, 0)
        });
        wrong(OrderCommit {
            holds: a.sales,
            ..commit(&a, 100, 100, 0)
        });
        wrong(OrderCommit {
            deferred: Some((a.card, eur(100))),
            ..commit(&a, 100, 0, 0)
        });
        wrong(OrderCommit {
            card: Some((a.deferred, eur(100))),
            ..commit(&a, 100, 0, 0)
        });
        wrong(OrderCommit {
            issued_vouchers: vec![(a.holds, eur(100), eur(100))],
            ..commit(&a, 100, 100, 0)
        });
    }

    use crate::money::MoneyError;

    /// A consistent commit: the total is split into its four parts, vouchers are priced within
    /// what the total leaves.
    fn consistent() -> impl Strategy<Value = (i64, [i64; 4], Vec<(i64, i64)>, bool, bool)> {
        (
            0i64..=10_000_000,
            prop::collection::vec(0u64..=100, 4),
            prop::collection::vec((1i64..=100_000, 0u32..=10_000), 0..4),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(total, ratios, vouchers, some_deferred, some_card)| {
                let ratios: Vec<u64> = if ratios.iter().all(|&r| r == 0) {
                    vec![1, 0, 0, 0]
                } else {
                    ratios
                };
                let parts = eur(total).allocate(&ratios).unwrap();
                let parts = [
                    parts[0].amount_minor(),
                    parts[1].amount_minor(),
                    parts[2].amount_minor(),
                    parts[3].amount_minor(),
                ];
                // Price each voucher as a share (in bp) of what the total leaves.
                let mut left = total;
                let vouchers = vouchers
                    .into_iter()
                    .map(|(face, bp)| {
                        let price = eur(left).percent_bp(bp).unwrap().amount_minor();
                        left -= price;
                        (face, price)
                    })
                    .collect();
                (total, parts, vouchers, some_deferred, some_card)
            })
    }

    fn build(
        a: &Accounts,
        total: i64,
        parts: [i64; 4],
        vouchers: &[(AccountRef, i64, i64)],
        some_deferred: bool,
        some_card: bool,
    ) -> OrderCommit {
        OrderCommit {
            deferred: (some_deferred || parts[2] != 0).then_some((a.deferred, eur(parts[2]))),
            card: (some_card || parts[3] != 0).then_some((a.card, eur(parts[3]))),
            issued_vouchers: vouchers
                .iter()
                .map(|&(v, face, price)| (v, eur(face), eur(price)))
                .collect(),
            ..commit(a, total, parts[0], parts[1])
        }
    }

    proptest! {
        #[test]
        fn consistent_commits_balance(
            (total, parts, vouchers, some_deferred, some_card) in consistent()
        ) {
            let a = accounts();
            let vouchers: Vec<(AccountRef, i64, i64)> = vouchers
                .iter()
                .map(|&(face, price)| (acc(AccountKind::VoucherLiability), face, price))
                .collect();
            let c = build(&a, total, parts, &vouchers, some_deferred, some_card);
            let t = match commit_order(&c) {
                Ok(t) => t,
                Err(PostingError::ZeroAmount) => {
                    // Only a free order issuing nothing has nothing to post.
                    prop_assert!(total == 0 && vouchers.is_empty());
                    return Ok(());
                }
                Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
            };
            // Balanced (the ledger guarantees it; check it independently anyway).
            let debits: i64 = t.entries().iter().filter(|e| e.side == Side::Debit)
                .map(|e| e.amount.amount_minor()).sum();
            let credits: i64 = t.entries().iter().filter(|e| e.side == Side::Credit)
                .map(|e| e.amount.amount_minor()).sum();
            prop_assert_eq!(debits, credits);
            prop_assert!(t.entries().iter().all(|e| e.amount.is_positive()));
            // Each account moves by exactly what the order says.
            prop_assert_eq!(delta(&t, a.holds), -parts[1]);
            prop_assert_eq!(delta(&t, a.deferred), parts[2]);
            prop_assert_eq!(delta(&t, a.card), parts[3]);
            let faces: i64 = vouchers.iter().map(|v| v.1).sum();
            for &(v, face, _) in &vouchers {
                prop_assert_eq!(delta(&t, v), face);
            }
            // Net revenue = total − promo discounts − face value of the vouchers issued.
            prop_assert_eq!(
                delta(&t, a.sales) - delta(&t, a.discounts),
                total - parts[0] - faces
            );
        }

        #[test]
        fn inconsistent_commits_are_refused(
            (total, parts, vouchers, some_deferred, some_card) in consistent(),
            which in 0usize..4,
            by in prop_oneof![-1_000i64..=-1, 1i64..=1_000],
        ) {
            let a = accounts();
            let vouchers: Vec<(AccountRef, i64, i64)> = vouchers
                .iter()
                .map(|&(face, price)| (acc(AccountKind::VoucherLiability), face, price))
                .collect();
            let mut parts = parts;
            parts[which] += by;
            let c = build(&a, total, parts, &vouchers, some_deferred, some_card);
            prop_assert!(commit_order(&c).is_err());
        }
    }

    #[test]
    fn currency_is_checked_on_every_amount() {
        let a = accounts();
        let usd = |n| Money::new(n, Currency::USD);
        let c = OrderCommit {
            issued_vouchers: vec![(acc(AccountKind::VoucherLiability), usd(100), eur(100))],
            ..commit(&a, 100, 0, 100)
        };
        assert!(matches!(
            commit_order(&c),
            Err(PostingError::Ledger(LedgerError::Money(_)))
        ));
    }
}
