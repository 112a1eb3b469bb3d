-- Orders and their settlement (SPEC F1–F6, F14). Kept in lockstep with ../sqlite/0002_orders.sql.
-- Rules the domain reads whole (order lines, promo rules, voucher product rules) are stored as
-- JSON of the domain types; the columns SQL must filter or guard on are columns of their own.

ALTER TABLE shop_keys ADD COLUMN webhook_url TEXT;
ALTER TABLE shop_keys ADD COLUMN webhook_secret_sealed BYTEA;

CREATE TABLE voucher_products (
    id               UUID PRIMARY KEY,
    institution_id   UUID NOT NULL REFERENCES institutions(id),
    name             TEXT NOT NULL,
    currency         TEXT NOT NULL,
    rule             TEXT NOT NULL,              -- JSON of domain::voucher::VoucherProductRule
    created_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE orders (
    id                    UUID PRIMARY KEY,
    institution_id        UUID NOT NULL REFERENCES institutions(id),
    point_of_sale_id      UUID NOT NULL REFERENCES points_of_sale(id),
    shop_key_id           UUID REFERENCES shop_keys(id),
    contact_id            UUID REFERENCES contacts(id),
    currency              TEXT NOT NULL,
    language              TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('awaiting_payment', 'paid', 'cancelled', 'expired')),
    total_minor           BIGINT NOT NULL CHECK (total_minor >= 0),
    lines                 TEXT NOT NULL,         -- JSON array of domain::order::OrderLine
    delivery              TEXT NOT NULL,         -- JSON of domain::order::Delivery
    first_event_at        TIMESTAMPTZ,
    return_url            TEXT,
    cancel_url            TEXT,
    checkout_token_hash   TEXT NOT NULL UNIQUE,
    version               BIGINT NOT NULL,       -- optimistic concurrency: every change bumps it
    hold_expires_at       TIMESTAMPTZ NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL,
    paid_at               TIMESTAMPTZ,
    closed_at             TIMESTAMPTZ
);
CREATE INDEX orders_status_expiry ON orders(status, hold_expires_at);
CREATE INDEX orders_contact ON orders(contact_id);

CREATE TABLE promo_codes (
    id                    UUID PRIMARY KEY,
    institution_id        UUID NOT NULL REFERENCES institutions(id),
    code                  TEXT NOT NULL,
    label                 TEXT NOT NULL,
    rule                  TEXT NOT NULL,         -- JSON of domain::promo::PromoRule
    batch_id              UUID,                  -- coupons generated or imported together
    max_uses_total        INTEGER,               -- effective limit (1 for a coupon), guarded in SQL
    uses_count            INTEGER NOT NULL CHECK (uses_count >= 0),
    active                BOOLEAN NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    UNIQUE (institution_id, code)
);

-- A promo code applied to an order: `held` reserves a use, `committed` with the payment,
-- `released` when removed, cancelled or expired.
CREATE TABLE promo_applications (
    id              UUID PRIMARY KEY,
    order_id        UUID NOT NULL REFERENCES orders(id),
    promo_code_id   UUID NOT NULL REFERENCES promo_codes(id),
    contact_id      UUID,
    position        INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('held', 'committed', 'released')),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX promo_applications_order ON promo_applications(order_id);
CREATE INDEX promo_applications_code ON promo_applications(promo_code_id, contact_id, status);

CREATE TABLE vouchers (
    id                 UUID PRIMARY KEY,
    institution_id     UUID NOT NULL REFERENCES institutions(id),
    code               TEXT NOT NULL UNIQUE,
    product_id         UUID REFERENCES voucher_products(id),
    currency           TEXT NOT NULL,
    face_value_minor   BIGINT NOT NULL CHECK (face_value_minor > 0),
    reusable           BOOLEAN NOT NULL,
    expires_at         TIMESTAMPTZ NOT NULL,
    issued_order_id    UUID REFERENCES orders(id),
    held_by_order_id   UUID,                     -- a single-use voucher is held by one order at a time
    created_at         TIMESTAMPTZ NOT NULL
);

-- How an order is being paid: internal legs (voucher, credit balance) are held when applied;
-- every leg is committed with the payment or released.
CREATE TABLE order_legs (
    id            UUID PRIMARY KEY,
    order_id      UUID NOT NULL REFERENCES orders(id),
    kind          TEXT NOT NULL CHECK (kind IN ('voucher', 'credit_balance', 'deferred_account', 'card')),
    source_id     UUID NOT NULL,                 -- voucher or contact
    amount_minor  BIGINT NOT NULL CHECK (amount_minor >= 0),
    status        TEXT NOT NULL CHECK (status IN ('held', 'committed', 'released')),
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX order_legs_order ON order_legs(order_id);

CREATE TABLE idempotency_keys (
    scope             TEXT NOT NULL,             -- who: a shop key or a checkout
    idem_key          TEXT NOT NULL,
    request_hash      TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('running', 'done')),
    response_status   INTEGER,
    response_body     TEXT,
    created_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, idem_key)
);

CREATE TABLE rate_limits (
    bucket        TEXT PRIMARY KEY,
    window_start  TIMESTAMPTZ NOT NULL,
    hits          INTEGER NOT NULL
);

CREATE TABLE webhook_events (
    id               UUID PRIMARY KEY,
    shop_key_id      UUID NOT NULL REFERENCES shop_keys(id),
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    delivered_at     TIMESTAMPTZ
);
CREATE INDEX webhook_events_due ON webhook_events(status, next_attempt_at);
