-- Observability (PostgreSQL): the team on each request record (usage by team), evaluation scores per
-- request, alert state and history, and named leases (one replica evaluates the alert rules at a time).

ALTER TABLE request_log ADD COLUMN team text;

-- One evaluator's score of one answer; score NULL = unmeasured (a judge that gave no usable score).
-- Route, model and prompt version are copied from the request so aggregates need no join.
CREATE TABLE eval_scores (
    request_id     text COLLATE "C" NOT NULL,
    evaluator      text NOT NULL,
    score          double precision,
    created_at     double precision NOT NULL,
    source         text NOT NULL,  -- live | dataset:<file>
    tenant         text NOT NULL,
    model          text NOT NULL,
    route          text,
    deployment     text,
    prompt_name    text,
    prompt_version integer,
    detail         text,
    version        integer NOT NULL,
    PRIMARY KEY (request_id, evaluator)
);
CREATE INDEX eval_scores_created_at ON eval_scores (created_at);
CREATE INDEX eval_scores_tenant ON eval_scores (tenant, created_at);

-- Where each rule stands, per group ('' = all traffic): replaced on every change of status.
CREATE TABLE alert_states (
    rule        text NOT NULL,
    grp         text NOT NULL,
    status      text NOT NULL,  -- firing | resolved
    value       double precision,
    condition   text NOT NULL,
    since       double precision NOT NULL,
    updated_at  double precision NOT NULL,
    notified_at double precision,
    severity    text NOT NULL,
    version     integer NOT NULL,
    PRIMARY KEY (rule, grp)
);

-- Every fired / resolved / repeated notification, append-only.
CREATE TABLE alert_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule       text NOT NULL,
    grp        text NOT NULL,
    kind       text NOT NULL,
    value      double precision,
    condition  text NOT NULL,
    message    text NOT NULL,
    severity   text NOT NULL,
    at         double precision NOT NULL,
    deliveries text NOT NULL,  -- JSON object: channel -> "ok" | error
    version    integer NOT NULL
);
CREATE INDEX alert_events_rule ON alert_events (rule, id);

-- A named lease held by one process until expires_at (epoch seconds); renewed by its holder.
CREATE TABLE leases (
    name       text PRIMARY KEY,
    holder     text NOT NULL,
    expires_at double precision NOT NULL
);
