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
