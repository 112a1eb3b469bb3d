-- Saved cards, account links, installment plans and installments (issue 5, SPEC F9, F10).
-- Kept in lockstep with ../postgres/0004_saved_cards_installments.sql.
-- A saved card is the provider's alias for a card on one channel's payment system, with what
-- may be shown of it (masked number, brand, expiry, holder): never the number or the CVV. An
-- order paid in installments keeps its schedule in `installments`; the job runner claims due
-- installments with a lease (`claimed_until`) and charges the saved card.

-- How many cards a contact may keep on this channel's payment system.
ALTER TABLE payment_systems ADD COLUMN max_saved_cards INTEGER NOT NULL DEFAULT 5 CHECK (max_saved_cards >= 0);

CREATE TABLE saved_cards (
    id                 BLOB PRIMARY KEY,
    contact_id         BLOB NOT NULL REFERENCES contacts(id),
    sales_channel_id   BLOB NOT NULL REFERENCES sales_channels(id),   -- whose payment system holds the alias
    provider           TEXT NOT NULL CHECK (provider IN ('ogone', 'sips')),
    alias              TEXT NOT NULL,
    masked_pan         TEXT NOT NULL,           -- at most BIN + last 4
    brand              TEXT NOT NULL,
    expiry             TEXT NOT NULL,           -- MMYY
    holder             TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    deleted_at         TEXT                     -- deleted cards stay for the installments that used them
);
-- An alias names one live card per channel; a deleted card's alias may be saved again.
CREATE UNIQUE INDEX saved_cards_alias ON saved_cards(sales_channel_id, alias) WHERE deleted_at IS NULL;
CREATE INDEX saved_cards_contact ON saved_cards(contact_id);

-- One-time links that attach a buyer's browser to a contact (only the SHA-256 of the token).
CREATE TABLE account_links (
    token_hash   TEXT PRIMARY KEY,
    contact_id   BLOB NOT NULL REFERENCES contacts(id),
    expires_at   TEXT NOT NULL,
    created_at   TEXT NOT NULL
);

CREATE TABLE installment_plans (
    id                 BLOB PRIMARY KEY,
    point_of_sale_id   BLOB NOT NULL REFERENCES points_of_sale(id),
    name               TEXT NOT NULL,
    count              INTEGER NOT NULL CHECK (count > 0),
    split              TEXT NOT NULL,           -- JSON of domain::installments::Split
    interval           TEXT NOT NULL,           -- JSON of domain::installments::Interval
    min_amount_minor   INTEGER NOT NULL CHECK (min_amount_minor >= 0),
    currency           TEXT NOT NULL,
    mode               TEXT NOT NULL CHECK (mode IN ('restrictive', 'free')),
    active             INTEGER NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX installment_plans_pos ON installment_plans(point_of_sale_id);

CREATE TABLE installments (
    id                 BLOB PRIMARY KEY,
    order_id           BLOB NOT NULL REFERENCES orders(id),
    plan_id            BLOB NOT NULL REFERENCES installment_plans(id),
    number             INTEGER NOT NULL CHECK (number > 0),
    due_on             TEXT NOT NULL,           -- YYYY-MM-DD
    amount_minor       INTEGER NOT NULL CHECK (amount_minor > 0),
    currency           TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('open', 'paid', 'failed', 'cancelled')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    TEXT NOT NULL,           -- when the job runner may charge it
    claimed_until      TEXT,                    -- a job runner's lease
    saved_card_id      BLOB REFERENCES saved_cards(id),
    card_payment_id    BLOB,                    -- the payment that paid it (or the last attempt)
    failure_reason     TEXT,
    paid_at            TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    UNIQUE (order_id, number)
);
CREATE INDEX installments_due ON installments(status, next_attempt_at);
CREATE INDEX installments_plan ON installments(plan_id);

-- A merchant-initiated payment charges one installment with a saved card.
ALTER TABLE card_payments ADD COLUMN installment_id BLOB;
ALTER TABLE card_payments ADD COLUMN initiator TEXT NOT NULL DEFAULT 'customer' CHECK (initiator IN ('customer', 'merchant'));
CREATE INDEX card_payments_installment ON card_payments(installment_id);
-- The buyer's choices carried by a customer-present payment until the provider answers: keep
-- the card (a saved card), pay in installments with this plan.
ALTER TABLE card_payments ADD COLUMN save_card INTEGER NOT NULL DEFAULT FALSE;
ALTER TABLE card_payments ADD COLUMN installment_plan_id BLOB;

-- order_legs.kind gains 'installments' (the part of an order owed in later installments).
-- lockstep: dialect begin
-- SQLite cannot change a CHECK constraint: the table is rebuilt. `refunds` references
-- order_legs and foreign keys are on (and cannot be turned off inside the migration's
-- transaction), so its rows step aside while the old table is dropped and come back after.
CREATE TEMP TABLE refunds_keep AS SELECT * FROM refunds;
DELETE FROM refunds;
CREATE TABLE order_legs_new (
    id              BLOB PRIMARY KEY,
    order_id        BLOB NOT NULL REFERENCES orders(id),
    kind            TEXT NOT NULL CHECK (kind IN ('voucher', 'credit_balance', 'deferred_account', 'card', 'installments')),
    source_id       BLOB NOT NULL,
    amount_minor    INTEGER NOT NULL CHECK (amount_minor >= 0),
    status          TEXT NOT NULL CHECK (status IN ('held', 'committed', 'released')),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    refunded_minor  INTEGER NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0)
);
INSERT INTO order_legs_new (id, order_id, kind, source_id, amount_minor, status, created_at, updated_at, refunded_minor)
    SELECT id, order_id, kind, source_id, amount_minor, status, created_at, updated_at, refunded_minor FROM order_legs;
DROP TABLE order_legs;
ALTER TABLE order_legs_new RENAME TO order_legs;
CREATE INDEX order_legs_order ON order_legs(order_id);
INSERT INTO refunds SELECT * FROM refunds_keep;
DROP TABLE refunds_keep;
-- lockstep: dialect end
