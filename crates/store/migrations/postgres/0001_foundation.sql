-- Guichet foundation schema (PostgreSQL). Kept in lockstep with ../sqlite/0001_foundation.sql:
-- same tables, columns and constraints; only the column types differ.

CREATE TABLE institutions (
    id                UUID PRIMARY KEY,
    name              TEXT NOT NULL,
    default_currency  TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL
);

CREATE TABLE organizers (
    id              UUID PRIMARY KEY,
    institution_id  UUID NOT NULL REFERENCES institutions(id),
    name            TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX organizers_institution ON organizers(institution_id);

CREATE TABLE sales_channels (
    id              UUID PRIMARY KEY,
    institution_id  UUID NOT NULL REFERENCES institutions(id),
    organizer_id    UUID NOT NULL REFERENCES organizers(id),
    kind            TEXT NOT NULL CHECK (kind IN ('internet', 'box_office', 'mobile')),
    name            TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX sales_channels_organizer ON sales_channels(organizer_id);

CREATE TABLE points_of_sale (
    id                UUID PRIMARY KEY,
    institution_id    UUID NOT NULL REFERENCES institutions(id),
    sales_channel_id  UUID NOT NULL REFERENCES sales_channels(id),
    name              TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX points_of_sale_channel ON points_of_sale(sales_channel_id);

CREATE TABLE payment_modes (
    id                     UUID PRIMARY KEY,
    institution_id         UUID NOT NULL REFERENCES institutions(id),
    code                   TEXT NOT NULL,
    internal_name          TEXT NOT NULL,
    public_names           TEXT NOT NULL,          -- JSON object {"fr": "...", "en": "..."}
    mode_type              TEXT NOT NULL CHECK (mode_type IN ('card', 'voucher', 'credit_balance', 'deferred_account', 'cash', 'cheque')),
    status                 TEXT NOT NULL CHECK (status IN ('visible', 'hidden', 'archived')),
    predetermined          BOOLEAN NOT NULL,
    available_for_payment  BOOLEAN NOT NULL,
    available_for_refund   BOOLEAN NOT NULL,
    limits_currency        TEXT,
    min_order_minor        BIGINT CHECK (min_order_minor >= 0),
    max_order_minor        BIGINT CHECK (max_order_minor >= 0),
    created_at             TIMESTAMPTZ NOT NULL,
    updated_at             TIMESTAMPTZ NOT NULL,
    UNIQUE (institution_id, code)
);

CREATE TABLE point_of_sale_payment_modes (
    point_of_sale_id  UUID NOT NULL REFERENCES points_of_sale(id),
    payment_mode_id   UUID NOT NULL REFERENCES payment_modes(id) ON DELETE CASCADE,
    created_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (point_of_sale_id, payment_mode_id)
);

CREATE TABLE payment_systems (
    sales_channel_id     UUID PRIMARY KEY REFERENCES sales_channels(id),
    provider             TEXT NOT NULL CHECK (provider IN ('ogone', 'sips')),
    label                TEXT NOT NULL,
    base_url             TEXT NOT NULL,
    merchant_id          TEXT NOT NULL,
    settings             TEXT NOT NULL,            -- JSON object of non-secret merchant settings
    credentials_sealed   BYTEA NOT NULL,           -- AES-256-GCM sealed JSON object of secrets
    credential_names     TEXT NOT NULL,            -- JSON array of the secret names, never values
    card_saving_enabled  BOOLEAN NOT NULL,
    cvv_on_saved_cards   BOOLEAN NOT NULL,
    three_ds_policy      TEXT NOT NULL CHECK (three_ds_policy IN ('always', 'never', 'close_to_event')),
    three_ds_days        INTEGER NOT NULL CHECK (three_ds_days >= 0),
    updated_at           TIMESTAMPTZ NOT NULL
);

CREATE TABLE contacts (
    id                   UUID PRIMARY KEY,
    institution_id       UUID NOT NULL REFERENCES institutions(id),
    external_ref         TEXT,
    first_name           TEXT NOT NULL,
    last_name            TEXT NOT NULL,
    email                TEXT NOT NULL,
    language             TEXT NOT NULL,
    currency             TEXT NOT NULL,
    deferred_allowed     BOOLEAN NOT NULL,
    deferred_max_minor   BIGINT NOT NULL CHECK (deferred_max_minor >= 0),
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    UNIQUE (institution_id, external_ref)
);

-- The ledger. Accounts carry a cached natural balance (positive on their normal side) and
-- optional bounds; every change to balance_minor happens in the same database transaction as
-- the entries that explain it. `guichet audit` recomputes balances from the entries.
CREATE TABLE ledger_accounts (
    id                 UUID PRIMARY KEY,
    institution_id     UUID NOT NULL REFERENCES institutions(id),
    kind               TEXT NOT NULL,
    owner_id           UUID NOT NULL,              -- contact, voucher, payment system or institution
    currency           TEXT NOT NULL,
    balance_minor      BIGINT NOT NULL,
    min_balance_minor  BIGINT,
    max_balance_minor  BIGINT,
    created_at         TIMESTAMPTZ NOT NULL,
    UNIQUE (kind, owner_id, currency)
);
CREATE INDEX ledger_accounts_owner ON ledger_accounts(owner_id);

CREATE TABLE ledger_transactions (
    id              UUID PRIMARY KEY,
    institution_id  UUID NOT NULL REFERENCES institutions(id),
    kind            TEXT NOT NULL,
    memo            TEXT NOT NULL,
    order_id        UUID,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX ledger_transactions_order ON ledger_transactions(order_id);

CREATE TABLE ledger_entries (
    id              UUID PRIMARY KEY,
    transaction_id  UUID NOT NULL REFERENCES ledger_transactions(id),
    account_id      UUID NOT NULL REFERENCES ledger_accounts(id),
    side            TEXT NOT NULL CHECK (side IN ('debit', 'credit')),
    amount_minor    BIGINT NOT NULL CHECK (amount_minor > 0),
    currency        TEXT NOT NULL
);
CREATE INDEX ledger_entries_transaction ON ledger_entries(transaction_id);
CREATE INDEX ledger_entries_account ON ledger_entries(account_id);

CREATE TABLE users (
    id             UUID PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'operator')),
    disabled       BOOLEAN NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,                  -- SHA-256 of the bearer token; the token itself is never stored
    user_id     UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE shop_keys (
    id              UUID PRIMARY KEY,
    institution_id  UUID NOT NULL REFERENCES institutions(id),
    name            TEXT NOT NULL,
    prefix          TEXT NOT NULL,                 -- first characters, to recognise a key in lists
    key_hash        TEXT NOT NULL UNIQUE,          -- SHA-256 of the key; the key is shown once
    created_at      TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ
);
