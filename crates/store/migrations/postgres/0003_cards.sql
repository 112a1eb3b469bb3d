-- Card payments and refunds (SPEC F7, F11, F12, F15). Kept in lockstep with ../sqlite/0003_cards.sql.
-- A card leg is an `order_legs` row of kind 'card', held while the provider decides; the provider
-- side of it (reference sent, alias, masked number, 3-D Secure decision, provider state) lives in
-- `card_payments`. No card number or CVV is ever stored: only the provider's alias and a masked
-- number (at most BIN + last 4).

-- What each leg has given back so far (pending provider refunds included), guarded in SQL so
-- that concurrent refunds never exceed what the leg collected.
ALTER TABLE order_legs ADD COLUMN refunded_minor BIGINT NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0);

CREATE TABLE card_payments (
    id                 UUID PRIMARY KEY,
    order_id           UUID NOT NULL REFERENCES orders(id),
    leg_id             UUID NOT NULL,
    sales_channel_id   UUID NOT NULL REFERENCES sales_channels(id),
    provider           TEXT NOT NULL,
    reference          TEXT NOT NULL UNIQUE,    -- ORDERID / transactionReference sent to the provider
    amount_minor       BIGINT NOT NULL CHECK (amount_minor > 0),
    currency           TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending_provider', 'awaiting_3ds', 'captured', 'declined', 'failed', 'abandoned')),
    three_ds_required  BOOLEAN NOT NULL,
    three_ds_reason    TEXT NOT NULL,
    alias              TEXT,
    masked_pan         TEXT,
    brand              TEXT,
    expiry             TEXT,                    -- MMYY
    holder             TEXT,
    provider_payid     TEXT,
    provider_status    TEXT,
    failure_reason     TEXT,
    next_check_at      TIMESTAMPTZ NOT NULL,           -- when the recovery job asks the provider next
    checks             BIGINT NOT NULL DEFAULT 0,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX card_payments_order ON card_payments(order_id);
CREATE INDEX card_payments_recovery ON card_payments(status, next_check_at);

CREATE TABLE refunds (
    id                 UUID PRIMARY KEY,
    order_id           UUID NOT NULL REFERENCES orders(id),
    leg_id             UUID NOT NULL REFERENCES order_legs(id),
    destination        TEXT NOT NULL CHECK (destination IN ('card', 'credit_balance')),
    amount_minor       BIGINT NOT NULL CHECK (amount_minor > 0),
    currency           TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending_provider', 'succeeded', 'failed')),
    card_payment_id    UUID REFERENCES card_payments(id),
    provider_payidsub  TEXT,
    failure_reason     TEXT,
    requested_by       TEXT NOT NULL,
    next_check_at      TIMESTAMPTZ NOT NULL,
    checks             BIGINT NOT NULL DEFAULT 0,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX refunds_order ON refunds(order_id);
CREATE INDEX refunds_recovery ON refunds(status, next_check_at);
