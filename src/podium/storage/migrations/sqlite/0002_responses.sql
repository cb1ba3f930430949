-- Stored Responses-API answers (POST /v1/responses with store on), for previous_response_id and
-- GET /v1/responses/{id}. Every lookup names the tenant: a key never sees another tenant's answer.
-- `conversation` is the JSON of the canonical messages a continuation starts from; `body` the
-- response object as sent. Written in batches off the request path.
CREATE TABLE stored_responses (
    id                   TEXT PRIMARY KEY,
    tenant               TEXT NOT NULL,
    key_id               TEXT,
    created_at           REAL NOT NULL,
    model                TEXT NOT NULL,
    previous_response_id TEXT,
    conversation         BLOB NOT NULL,
    body                 BLOB NOT NULL,
    version              INTEGER NOT NULL
);
-- Retention removes old answers by time.
CREATE INDEX stored_responses_created_at ON stored_responses (created_at);
