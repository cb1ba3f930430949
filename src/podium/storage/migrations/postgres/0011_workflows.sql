-- Workflows (PostgreSQL): runs with their lease, step checkpoints, run events and human-review tasks.
-- JSON values are stored as text; booleans as 0/1, as in SQLite, so both share one SQL.

CREATE TABLE workflow_runs (
    id               text COLLATE "C" PRIMARY KEY,
    tenant           text NOT NULL,
    flow             text NOT NULL,
    flow_hash        text NOT NULL,
    definition       bytea NOT NULL,
    status           text NOT NULL,  -- queued | running | waiting | succeeded | failed | cancelled
    inputs           text NOT NULL,
    outputs          text,
    error            text,
    actor            text NOT NULL,
    principal        text NOT NULL,
    metadata         text NOT NULL,
    created_at       double precision NOT NULL,
    started_at       double precision,
    finished_at      double precision,
    updated_at       double precision NOT NULL,
    paused_s         double precision NOT NULL,
    cost_usd         double precision NOT NULL,
    current          text,
    cancel_requested integer NOT NULL,
    lease_owner      text,
    lease_until      double precision,
    event_seq        integer NOT NULL,
    version          integer NOT NULL
);
CREATE INDEX workflow_runs_tenant ON workflow_runs (tenant, created_at, id);
CREATE INDEX workflow_runs_runnable ON workflow_runs (status, lease_until);
CREATE INDEX workflow_runs_finished ON workflow_runs (finished_at);

-- One visit of one step: its checkpoint, written before the next step starts.
CREATE TABLE workflow_steps (
    run_id      text NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    key         text NOT NULL,
    step        text NOT NULL,
    kind        text NOT NULL,
    status      text NOT NULL,
    input       text NOT NULL,
    output      text NOT NULL,
    error       text,
    attempts    integer NOT NULL,
    started_at  double precision NOT NULL,
    finished_at double precision,
    duration_ms double precision,
    cost_usd    double precision NOT NULL,
    request_ids text NOT NULL,
    seq         integer NOT NULL,
    version     integer NOT NULL,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE workflow_events (
    run_id  text NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    seq     integer NOT NULL,
    at      double precision NOT NULL,
    type    text NOT NULL,
    step    text,
    data    text NOT NULL,
    version integer NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE review_tasks (
    id              text PRIMARY KEY,
    run_id          text NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    tenant          text NOT NULL,
    flow            text NOT NULL,
    step            text NOT NULL,
    step_key        text NOT NULL,
    role            text,
    instructions    text,
    content         text NOT NULL,
    schema          text,
    status          text NOT NULL,  -- pending | claimed | approved | modified | rejected | expired | cancelled
    created_at      double precision NOT NULL,
    deadline        double precision,
    escalate_at     double precision,
    escalation_role text,
    escalated       integer NOT NULL,
    claimed_by      text,
    claimed_at      double precision,
    decided_by      text,
    decided_at      double precision,
    reason          text,
    result          text NOT NULL,
    version         integer NOT NULL
);
CREATE INDEX review_tasks_queue ON review_tasks (tenant, status, created_at);
CREATE INDEX review_tasks_run ON review_tasks (run_id);
