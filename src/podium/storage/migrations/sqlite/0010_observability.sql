-- Observability (SQLite): the team on each request record (usage by team), evaluation scores per
-- request, alert state and history, and named leases (one replica evaluates the alert rules at a time).

ALTER TABLE request_log ADD COLUMN team TEXT;

-- One evaluator's score of one answer; score NULL = unmeasured (a judge that gave no usable score).
-- Route, model and prompt version are copied from the request so aggregates need no join.
CREATE TABLE eval_scores (
    request_id     TEXT NOT NULL,
    evaluator      TEXT NOT NULL,
    score          REAL,
    created_at     REAL NOT NULL,
    source         TEXT NOT NULL,  -- live | dataset:<file>
    tenant         TEXT NOT NULL,
    model          TEXT NOT NULL,
    route          TEXT,
    deployment     TEXT,
    prompt_name    TEXT,
    prompt_version INTEGER,
    detail         TEXT,
    version        INTEGER NOT NULL,
    PRIMARY KEY (request_id, evaluator)
);
CREATE INDEX eval_scores_created_at ON eval_scores (created_at);
CREATE INDEX eval_scores_tenant ON eval_scores (tenant, created_at);

-- Where each rule stands, per group ('' = all traffic): replaced on every change of status.
CREATE TABLE alert_states (
    rule        TEXT NOT NULL,
    grp         TEXT NOT NULL,
    status      TEXT NOT NULL,  -- firing | resolved
    value       REAL,
    condition   TEXT NOT NULL,
    since       REAL NOT NULL,
    updated_at  REAL NOT NULL,
    notified_at REAL,
    severity    TEXT NOT NULL,
    version     INTEGER NOT NULL,
    PRIMARY KEY (rule, grp)
);

-- Every fired / resolved / repeated notification, append-only.
CREATE TABLE alert_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    rule       TEXT NOT NULL,
    grp        TEXT NOT NULL,
    kind       TEXT NOT NULL,
    value      REAL,
    condition  TEXT NOT NULL,
    message    TEXT NOT NULL,
    severity   TEXT NOT NULL,
    at         REAL NOT NULL,
    deliveries TEXT NOT NULL,  -- JSON object: channel -> "ok" | error
    version    INTEGER NOT NULL
);
CREATE INDEX alert_events_rule ON alert_events (rule, id);

-- A named lease held by one process until expires_at (epoch seconds); renewed by its holder.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at REAL NOT NULL
);
