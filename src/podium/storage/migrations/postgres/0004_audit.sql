-- The audit trail (PostgreSQL): a hash chain, its head, and signed checkpoints.
-- Appends take the head row with SELECT ... FOR UPDATE and move it in the same transaction as the
-- inserts, so replicas appending at once are serialised on that one row: no shared seq, no fork.
-- details is text, not jsonb: jsonb would reorder keys and the hash covers the exact bytes.

CREATE TABLE audit_log (
    seq       bigint PRIMARY KEY,
    time      double precision NOT NULL,
    tenant    text COLLATE "C" NOT NULL,
    actor     text NOT NULL,
    action    text NOT NULL,
    resource  text NOT NULL,
    outcome   text NOT NULL,
    details   text NOT NULL,
    prev_hash text NOT NULL,
    hash      text NOT NULL,
    mac       text NOT NULL,
    version   integer NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant, seq);

CREATE TABLE audit_head (
    id   integer PRIMARY KEY CHECK (id = 1),
    seq  bigint NOT NULL,
    hash text NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_checkpoints (
    seq        bigint PRIMARY KEY,
    hash       text NOT NULL,
    time       double precision NOT NULL,
    key_id     text NOT NULL,
    public_key text NOT NULL,
    signature  text NOT NULL,
    version    integer NOT NULL
);
