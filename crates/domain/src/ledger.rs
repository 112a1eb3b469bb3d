//! Double-entry bookkeeping: every money movement is one [`Transaction`] whose debits equal its
//! credits in each currency.
//!
//! The invariant lives in the constructor: a `Transaction` that does not balance cannot exist, so
//! the store can only ever write balanced ones. Entries carry a side and a positive amount; the
//! effect on an account's balance follows from the account's kind ([`natural_delta`]).

use std::collections::BTreeMap;

use crate::money::{Currency, Money, MoneyError};

/// Which column of the ledger an entry goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Debit,
    Credit,
}

impl Side {
    /// The other side.
    pub fn opposite(self) -> Side {
        match self {
            Side::Debit => Side::Credit,
            Side::Credit => Side::Debit,
        }
    }
}

/// What an account represents, which decides its normal side and its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// Credit balance owed to a contact (liability, credit-normal); must not go below 0.
    ContactCredit,
    /// A contact's deferred-account receivable (asset, debit-normal); must not exceed the
    /// contact's maximum outstanding.
    ContactDeferred,
    /// Value still owed on one issued gift voucher (liability, credit-normal); must not go below 0.
    VoucherLiability,
    /// Money captured by a card provider, not yet paid out (asset, debit-normal).
    ProviderClearing,
    /// Revenue (credit-normal).
    Sales,
    /// Promo discounts granted (contra-revenue, debit-normal).
    Discounts,
    /// Refunds granted (contra-revenue, debit-normal).
    Refunds,
    /// Amounts reserved during a checkout, not yet committed (liability, credit-normal); must not
    /// go below 0.
    Holds,
    /// Money received by other means: box office, bank transfer (asset, debit-normal).
    Cash,
    /// Manual goodwill and opening balances (equity-like, debit-normal).
    Adjustments,
    /// What a buyer still owes on an order paid in installments (asset, debit-normal; one per
    /// order); must not go below 0: nobody owes less than nothing.
    InstallmentsReceivable,
}

impl AccountKind {
    pub const ALL: [AccountKind; 11] = [
        AccountKind::ContactCredit,
        AccountKind::ContactDeferred,
        AccountKind::VoucherLiability,
        AccountKind::ProviderClearing,
        AccountKind::Sales,
        AccountKind::Discounts,
        AccountKind::Refunds,
        AccountKind::Holds,
        AccountKind::Cash,
        AccountKind::Adjustments,
        AccountKind::InstallmentsReceivable,
    ];

    /// The snake_case name, as serialized and stored: `"contact_credit"`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::ContactCredit => "contact_credit",
            AccountKind::ContactDeferred => "contact_deferred",
            AccountKind::VoucherLiability => "voucher_liability",
            AccountKind::ProviderClearing => "provider_clearing",
            AccountKind::Sales => "sales",
            AccountKind::Discounts => "discounts",
            AccountKind::Refunds => "refunds",
            AccountKind::Holds => "holds",
            AccountKind::Cash => "cash",
            AccountKind::Adjustments => "adjustments",
            AccountKind::InstallmentsReceivable => "installments_receivable",
        }
    }

    /// The kind with exactly this snake_case name.
    pub fn parse(s: &str) -> Option<AccountKind> {
        AccountKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The side that increases the account's natural balance: debit for assets and
    /// contra-revenue, credit for liabilities and revenue.
    pub fn normal_side(self) -> Side {
        match self {
            AccountKind::ContactCredit
            | AccountKind::VoucherLiability
            | AccountKind::Sales
            | AccountKind::Holds => Side::Credit,
            AccountKind::ContactDeferred
            | AccountKind::ProviderClearing
            | AccountKind::Discounts
            | AccountKind::Refunds
            | AccountKind::Cash
            | AccountKind::Adjustments
            | AccountKind::InstallmentsReceivable => Side::Debit,
        }
    }

    /// True for the kinds whose natural balance must never be negative: what Guichet owes on a
    /// credit balance, a voucher or a hold cannot be less than nothing.
    pub fn must_stay_non_negative(self) -> bool {
        matches!(
            self,
            AccountKind::ContactCredit
                | AccountKind::VoucherLiability
                | AccountKind::Holds
                | AccountKind::InstallmentsReceivable
        )
    }
}

impl std::fmt::Display for AccountKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Signed effect of an entry on the natural balance of an account of this kind: `+amount` when
/// `side` is the kind's normal side, `-amount` otherwise.
///
/// Entry amounts are positive, so the negation always fits. Only `i64::MIN` on the opposite side
/// has no representable result; it saturates to `i64::MAX` rather than wrapping.
pub fn natural_delta(kind: AccountKind, side: Side, amount_minor: i64) -> i64 {
    if side == kind.normal_side() {
        amount_minor
    } else {
        amount_minor.saturating_neg()
    }
}

/// One line of a transaction. The fields are public; the balance invariant is checked when the
/// entries are put together into a [`Transaction`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub account_id: uuid::Uuid,
    pub kind: AccountKind,
    pub side: Side,
    pub amount: Money,
}

impl Entry {
    /// Signed effect of this entry on its account's natural balance, see [`natural_delta`].
    pub fn natural_delta(&self) -> i64 {
        natural_delta(self.kind, self.side, self.amount.amount_minor())
    }
}

/// Why a transaction could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("a transaction needs at least two entries")]
    TooFewEntries,
    #[error("every entry amount must be positive")]
    NonPositiveAmount,
    #[error(
        "unbalanced transaction in {currency}: debits {debits_minor}, credits {credits_minor} (minor units)"
    )]
    Unbalanced {
        currency: Currency,
        debits_minor: i64,
        credits_minor: i64,
    },
    #[error(
        "invalid transaction kind {0:?}: expected ascii snake_case like \"voucher_redemption\""
    )]
    InvalidKind(String),
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// A balanced set of entries: at least two, every amount positive, and in each currency the
/// debits add up to the credits. Fields are private so that an unbalanced one cannot exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    kind: String,
    memo: String,
    entries: Vec<Entry>,
}

impl Transaction {
    /// Builds a transaction, refusing one that does not balance.
    ///
    /// `kind` names the movement in ascii snake_case (`"voucher_redemption"`); `memo` is free
    /// text for people. Checks, in order: the kind, at least two entries, every amount > 0, then
    /// Σdebits == Σcredits per currency (sums are checked: an overflow is an error). When several
    /// currencies are unbalanced, the error names the first in [`Currency`] order.
    pub fn new(kind: &str, memo: &str, entries: Vec<Entry>) -> Result<Transaction, LedgerError> {
        if !is_snake_case(kind) {
            return Err(LedgerError::InvalidKind(kind.to_owned()));
        }
        if entries.len() < 2 {
            return Err(LedgerError::TooFewEntries);
        }
        if entries.iter().any(|e| !e.amount.is_positive()) {
            return Err(LedgerError::NonPositiveAmount);
        }

        let mut totals: BTreeMap<Currency, (Money, Money)> = BTreeMap::new();
        for entry in &entries {
            let currency = entry.amount.currency();
            let (debits, credits) = totals
                .entry(currency)
                .or_insert((Money::zero(currency), Money::zero(currency)));
            match entry.side {
                Side::Debit => *debits = debits.checked_add(entry.amount)?,
                Side::Credit => *credits = credits.checked_add(entry.amount)?,
            }
        }
        if let Some((&currency, &(debits, credits))) = totals
            .iter()
            .find(|(_, (debits, credits))| debits != credits)
        {
            return Err(LedgerError::Unbalanced {
                currency,
                debits_minor: debits.amount_minor(),
                credits_minor: credits.amount_minor(),
            });
        }

        Ok(Transaction {
            kind: kind.to_owned(),
            memo: memo.to_owned(),
            entries,
        })
    }

    pub fn kind(&self) -> &str {
        &self.kind
    }

    pub fn memo(&self) -> &str {
        &self.memo
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The currencies of the entries, sorted, without duplicates.
    pub fn currencies(&self) -> Vec<Currency> {
        let mut currencies: Vec<Currency> =
            self.entries.iter().map(|e| e.amount.currency()).collect();
        currencies.sort_unstable();
        currencies.dedup();
        currencies
    }
}

/// `^[a-z][a-z0-9]*(_[a-z0-9]+)*$`: lower-case ascii words joined by single underscores.
fn is_snake_case(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.split('_').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Collects entries one by one, then checks them all at once with [`Transaction::new`]:
///
/// ```
/// # use guichet_domain::{AccountKind, Currency, Money, TransactionBuilder};
/// # let (clearing, sales) = (uuid::Uuid::nil(), uuid::Uuid::max());
/// let eur = Money::new(3420, Currency::EUR);
/// let transaction = TransactionBuilder::new("card_capture", "order 42")
///     .debit(clearing, AccountKind::ProviderClearing, eur)
///     .credit(sales, AccountKind::Sales, eur)
///     .build()?;
/// assert_eq!(transaction.entries().len(), 2);
/// # Ok::<(), guichet_domain::LedgerError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionBuilder {
    kind: String,
    memo: String,
    entries: Vec<Entry>,
}

impl TransactionBuilder {
    pub fn new(kind: &str, memo: &str) -> TransactionBuilder {
        TransactionBuilder {
            kind: kind.to_owned(),
            memo: memo.to_owned(),
            entries: Vec::new(),
        }
    }

    /// Adds a debit of `amount` to the account.
    pub fn debit(self, account_id: uuid::Uuid, kind: AccountKind, amount: Money) -> Self {
        self.entry(Entry {
            account_id,
            kind,
            side: Side::Debit,
            amount,
        })
    }

    /// Adds a credit of `amount` to the account.
    pub fn credit(self, account_id: uuid::Uuid, kind: AccountKind, amount: Money) -> Self {
        self.entry(Entry {
            account_id,
            kind,
            side: Side::Credit,
            amount,
        })
    }

    /// Adds an entry as it is.
    pub fn entry(mut self, entry: Entry) -> Self {
        self.entries.push(entry);
        self
    }

    pub fn build(self) -> Result<Transaction, LedgerError> {
        Transaction::new(&self.kind, &self.memo, self.entries)
    }
}

#[cfg(test)]
mod tests;
