-- Renkei on PostgreSQL, migration 1: what renkei-store's traits keep (docs/storage.md).
-- Every gateway table is keyed by the tenant (its agency code) first; keys compared as
-- bytes (COLLATE "C") so pages come in the order sled gives. Values are the protobuf
-- messages the sled backend stores.

CREATE TABLE address_numbers (
    tenant text COLLATE "C" NOT NULL,
    uan text COLLATE "C" NOT NULL,
    registered_ms bigint NOT NULL,
    PRIMARY KEY (tenant, uan)
);

-- One row per person holds both directions; the unique index is the reverse lookup, so
-- neither direction can be seen without the other.
CREATE TABLE symbols (
    tenant text COLLATE "C" NOT NULL,
    uan text COLLATE "C" NOT NULL,
    symbol bytea NOT NULL,
    PRIMARY KEY (tenant, uan),
    UNIQUE (tenant, symbol)
);

CREATE TABLE acquisitions (
    tenant text COLLATE "C" NOT NULL,
    processing_serial text COLLATE "C" NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (tenant, processing_serial)
);

-- item is a u32: bigint keeps its order.
CREATE TABLE copies (
    tenant text COLLATE "C" NOT NULL,
    item bigint NOT NULL,
    uan text COLLATE "C" NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (tenant, item, uan),
    FOREIGN KEY (tenant, uan) REFERENCES address_numbers (tenant, uan)
);

CREATE TABLE inquiries (
    tenant text COLLATE "C" NOT NULL,
    inquiry_id text COLLATE "C" NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (tenant, inquiry_id)
);

CREATE TABLE idempotency_keys (
    tenant text COLLATE "C" NOT NULL,
    idempotency_key text COLLATE "C" NOT NULL,
    inquiry_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, idempotency_key)
);

CREATE TABLE awaiting_answers (
    tenant text COLLATE "C" NOT NULL,
    permit_id text COLLATE "C" NOT NULL,
    inquiry_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, permit_id)
);

CREATE TABLE seen_permits (
    tenant text COLLATE "C" NOT NULL,
    permit_id text COLLATE "C" NOT NULL,
    expires_ms bigint NOT NULL,
    PRIMARY KEY (tenant, permit_id)
);
CREATE INDEX seen_permits_expiry ON seen_permits (tenant, expires_ms);

CREATE TABLE held_answers (
    tenant text COLLATE "C" NOT NULL,
    permit_id text COLLATE "C" NOT NULL,
    held bytea NOT NULL,
    deferred boolean NOT NULL,
    ready_at_ms bigint NOT NULL,
    -- a decided answer not yet taken by the hub (DeliverLateAnswerRequest), or NULL
    unsent bytea,
    PRIMARY KEY (tenant, permit_id)
);

CREATE TABLE flags (
    tenant text COLLATE "C" NOT NULL,
    uan text COLLATE "C" NOT NULL,
    item bigint NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (tenant, uan, item)
);

CREATE TABLE operators (
    tenant text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (tenant, user_id)
);

-- Found by the SHA-256 of the token; one per user.
CREATE TABLE operator_sessions (
    tenant text COLLATE "C" NOT NULL,
    token_hash bytea NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (tenant, token_hash),
    UNIQUE (tenant, user_id)
);

CREATE TABLE audit_entries (
    tenant text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    at_ms bigint NOT NULL,
    operator text COLLATE "C" NOT NULL,
    action text COLLATE "C" NOT NULL,
    target text COLLATE "C" NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (tenant, seq)
);

-- The next audit number, per tenant: numbers are never reused, even after a purge, and
-- the row lock orders appends from several nodes.
CREATE TABLE audit_counters (
    tenant text COLLATE "C" PRIMARY KEY,
    next_seq bigint NOT NULL
);

CREATE TABLE jobs (
    tenant text COLLATE "C" NOT NULL,
    number bigint NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (tenant, number)
);

-- The hub's state: not per tenant (the hub is one keeper).
CREATE TABLE hub_pending (
    permit_id text COLLATE "C" PRIMARY KEY,
    record bytea NOT NULL,
    keep_until_ms bigint NOT NULL
);
CREATE INDEX hub_pending_keep_until ON hub_pending (keep_until_ms);

CREATE TABLE hub_meta (
    key text COLLATE "C" PRIMARY KEY,
    value bigint NOT NULL
);

-- The head last witnessed per record log (WitnessedHead), replaced only if unchanged
-- since read, so the witnessed size never goes back.
CREATE TABLE hub_witnessed_heads (
    log_id text COLLATE "C" PRIMARY KEY,
    head bytea NOT NULL
);
