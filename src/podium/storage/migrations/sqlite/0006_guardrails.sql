-- Guardrail verdicts on the request record (docs/guardrails.md): the strongest action taken, as a
-- filterable column, and every scanner's verdict as a JSON array (kinds found, never matched text).
ALTER TABLE request_log ADD COLUMN guardrail_action TEXT;
ALTER TABLE request_log ADD COLUMN guardrails TEXT;  -- JSON array of verdicts; NULL when none
-- Most requests pass their guardrails: a partial index keeps the ones that did not cheap to find.
CREATE INDEX request_log_guardrail_action ON request_log (guardrail_action, created_at, id)
    WHERE guardrail_action IS NOT NULL;
