-- Identity (PostgreSQL): tenants, teams, people; roles, team, guardrail policy and regions on keys.
-- Tenants and users share one change sequence; writers lock the users table first (see
-- postgres_identity.py) so revs commit in the order they are drawn, as for keys.

ALTER TABLE api_keys
    ADD COLUMN roles text[] NOT NULL DEFAULT '{}',
    ADD COLUMN team text,
    ADD COLUMN guardrail_policy text,
    ADD COLUMN allowed_regions text[] NOT NULL DEFAULT '{}';
CREATE INDEX api_keys_tenant ON api_keys (tenant, created_at, id);
CREATE INDEX request_log_tenant ON request_log (tenant, created_at, id);

CREATE SEQUENCE identity_rev_seq;

CREATE TABLE tenants (
    id            text COLLATE "C" PRIMARY KEY,
    name          text NOT NULL,
    created_at    double precision NOT NULL,
    disabled_at   double precision,
    audit_content boolean NOT NULL,
    metadata      jsonb NOT NULL,
    rev           bigint NOT NULL UNIQUE,
    version       integer NOT NULL
);
-- Every key made before tenants existed belongs to 'default', which is also the root tenant.
INSERT INTO tenants (id, name, created_at, disabled_at, audit_content, metadata, rev, version)
VALUES ('default', 'Default', extract(epoch FROM now()), NULL, false, '{}', nextval('identity_rev_seq'), 1);

CREATE TABLE teams (
    tenant      text COLLATE "C" NOT NULL,
    name        text COLLATE "C" NOT NULL,
    description text NOT NULL,
    created_at  double precision NOT NULL,
    version     integer NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE users (
    id              text COLLATE "C" PRIMARY KEY,
    tenant          text COLLATE "C" NOT NULL,
    username        text COLLATE "C" NOT NULL,
    display_name    text NOT NULL,
    email           text,
    password_hash   text,
    roles           text[] NOT NULL,
    team            text,
    created_at      double precision NOT NULL,
    disabled_at     double precision,
    session_version integer NOT NULL,
    rev             bigint NOT NULL UNIQUE,
    version         integer NOT NULL,
    UNIQUE (tenant, username)
);
