-- Saved cards, account links, installment plans and installments (issue 5, SPEC F9, F10).
-- Kept in lockstep with ../sqlite/0004_saved_cards_installments.sql.
-- A saved card is the provider's alias for a card on one channel's payment system, with what
-- may be shown of it (masked number, brand, expiry, holder): never the number or the CVV. An
-- order paid in installments keeps its schedule in `installments`; the job runner claims due
-- installments with a lease (`claimed_until`) and charges the saved card.

-- How many cards a contact may keep on this channel's payment system.
ALTER TABLE payment_systems ADD COLUMN max_saved_cards INTEGER NOT NULL DEFAULT 5 CHECK (max_saved_cards >= 0);

CREATE TABLE saved_cards (
    id                 UUID PRIMARY KEY,
    contact_id         UUID NOT NULL REFERENCES contacts(id),
    sales_channel_id   UUID NOT NULL REFERENCES sales_channels(id),   -- whose payment system holds the alias
    provider           TEXT NOT NULL CHECK (provider IN ('ogone', 'sips')),
    alias              TEXT NOT NULL,
    masked_pan         TEXT NOT NULL,           -- at most BIN + last 4
    brand              TEXT NOT NULL,
    expiry             TEXT NOT NULL,           -- MMYY
    holder             TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    deleted_at         TIMESTAMPTZ              -- deleted cards stay for the installments that used them
);
-- An alias names one live card per channel; a deleted card's alias may be saved again.
CREATE UNIQUE INDEX saved_cards_alias ON saved_cards(sales_channel_id, alias) WHERE deleted_at IS NULL;
CREATE INDEX saved_cards_contact ON saved_cards(contact_id);

-- One-time links that attach a buyer's browser to a contact (only the SHA-256 of the token).
CREATE TABLE account_links (
    token_hash   TEXT PRIMARY KEY,
    contact_id   UUID NOT NULL REFERENCES contacts(id),
    expires_at   TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE installment_plans (
    id                 UUID PRIMARY KEY,
    point_of_sale_id   UUID NOT NULL REFERENCES points_of_sale(id),
    name               TEXT NOT NULL,
    count              INTEGER NOT NULL CHECK (count > 0),
    split              TEXT NOT NULL,           -- JSON of domain::installments::Split
    interval           TEXT NOT NULL,           -- JSON of domain::installments::Interval
    min_amount_minor   BIGINT NOT NULL CHECK (min_amount_minor >= 0),
    currency           TEXT NOT NULL,
    mode               TEXT NOT NULL CHECK (mode IN ('restrictive', 'free')),
    active             BOOLEAN NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX installment_plans_pos ON installment_plans(point_of_sale_id);

CREATE TABLE installments (
    id                 UUID PRIMARY KEY,
    order_id           UUID NOT NULL REFERENCES orders(id),
    plan_id            UUID NOT NULL REFERENCES installment_plans(id),
    number             INTEGER NOT NULL CHECK (number > 0),
    due_on             DATE NOT NULL,           -- YYYY-MM-DD
    amount_minor       BIGINT NOT NULL CHECK (amount_minor > 0),
    currency           TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('open', 'paid', 'failed', 'cancelled')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    TIMESTAMPTZ NOT NULL,           -- when the job runner may charge it
    claimed_until      TIMESTAMPTZ,                    -- a job runner's lease
    saved_card_id      UUID REFERENCES saved_cards(id),
    card_payment_id    UUID,                    -- the payment that paid it (or the last attempt)
    failure_reason     TEXT,
    paid_at            TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    UNIQUE (order_id, number)
);
CREATE INDEX installments_due ON installments(status, next_attempt_at);
CREATE INDEX installments_plan ON installments(plan_id);

-- A merchant-initiated payment charges one installment with a saved card.
ALTER TABLE card_payments ADD COLUMN installment_id UUID;
ALTER TABLE card_payments ADD COLUMN initiator TEXT NOT NULL DEFAULT 'customer' CHECK (initiator IN ('customer', 'merchant'));
CREATE INDEX card_payments_installment ON card_payments(installment_id);
-- The buyer's choices carried by a customer-present payment until the provider answers: keep
-- the card (a saved card), pay in installments with this plan.
ALTER TABLE card_payments ADD COLUMN save_card BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE card_payments ADD COLUMN installment_plan_id UUID;

-- order_legs.kind gains 'installments' (the part of an order owed in later installments).
-- lockstep: dialect begin
ALTER TABLE order_legs DROP CONSTRAINT order_legs_kind_check;
ALTER TABLE order_legs ADD CONSTRAINT order_legs_kind_check CHECK (kind IN ('voucher', 'credit_balance', 'deferred_account', 'card', 'installments'));
-- lockstep: dialect end
