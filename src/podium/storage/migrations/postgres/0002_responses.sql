-- Stored Responses-API answers (POST /v1/responses with store on), for previous_response_id and
-- GET /v1/responses/{id}. Every lookup names the tenant: a key never sees another tenant's answer.
-- `conversation` is the JSON of the canonical messages a continuation starts from; `body` the
-- response object as sent. Written in batches off the request path.
CREATE TABLE stored_responses (
    id                   text COLLATE "C" PRIMARY KEY,
    tenant               text NOT NULL,
    key_id               text,
    created_at           double precision NOT NULL,
    model                text NOT NULL,
    previous_response_id text,
    conversation         bytea NOT NULL,
    body                 bytea NOT NULL,
    version              integer NOT NULL
);
-- Retention removes old answers by time.
CREATE INDEX stored_responses_created_at ON stored_responses (created_at);
