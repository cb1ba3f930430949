-- The audit trail (SQLite): a hash chain, its head, and signed checkpoints.
-- Appends run under BEGIN IMMEDIATE: the head row is read and moved in the same transaction as the
-- inserts, so two processes appending at once can never take the same seq or fork the chain.
-- details is stored as the canonical JSON text that the hash covers, byte for byte.

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    time      REAL NOT NULL,
    tenant    TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    resource  TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    details   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL,
    mac       TEXT NOT NULL,
    version   INTEGER NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant, seq);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_checkpoints (
    seq        INTEGER PRIMARY KEY,
    hash       TEXT NOT NULL,
    time       REAL NOT NULL,
    key_id     TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL,
    version    INTEGER NOT NULL
);
