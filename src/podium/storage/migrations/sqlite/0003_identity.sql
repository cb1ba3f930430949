-- Identity (SQLite): tenants, teams, people; roles, team, guardrail policy and regions on keys.
-- Tenants and users share one change counter ('identity_rev'), bumped in the write's transaction
-- (BEGIN IMMEDIATE), so every replica's mirror follows them in commit order, like keys.

ALTER TABLE api_keys ADD COLUMN roles TEXT NOT NULL DEFAULT '[]';            -- JSON array
ALTER TABLE api_keys ADD COLUMN team TEXT;
ALTER TABLE api_keys ADD COLUMN guardrail_policy TEXT;
ALTER TABLE api_keys ADD COLUMN allowed_regions TEXT NOT NULL DEFAULT '[]';  -- JSON array
CREATE INDEX api_keys_tenant ON api_keys (tenant, created_at, id);
CREATE INDEX request_log_tenant ON request_log (tenant, created_at, id);

INSERT INTO counters (name, value) VALUES ('identity_rev', 1);

CREATE TABLE tenants (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    created_at    REAL NOT NULL,
    disabled_at   REAL,
    audit_content INTEGER NOT NULL,  -- 0/1
    metadata      TEXT NOT NULL,     -- JSON object
    rev           INTEGER NOT NULL UNIQUE,
    version       INTEGER NOT NULL
);
-- Every key made before tenants existed belongs to 'default', which is also the root tenant.
INSERT INTO tenants (id, name, created_at, disabled_at, audit_content, metadata, rev, version)
VALUES ('default', 'Default', CAST(strftime('%s', 'now') AS REAL), NULL, 0, '{}', 1, 1);

CREATE TABLE teams (
    tenant      TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  REAL NOT NULL,
    version     INTEGER NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    tenant          TEXT NOT NULL,
    username        TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    email           TEXT,
    password_hash   TEXT,
    roles           TEXT NOT NULL,  -- JSON array
    team            TEXT,
    created_at      REAL NOT NULL,
    disabled_at     REAL,
    session_version INTEGER NOT NULL,
    rev             INTEGER NOT NULL UNIQUE,
    version         INTEGER NOT NULL,
    UNIQUE (tenant, username)
);
