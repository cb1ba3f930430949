-- What the response cache and the limits did to each request (docs/caching.md, docs/limits.md).
ALTER TABLE request_log ADD COLUMN cache text;                 -- hit | semantic-hit | miss | skip; NULL: no cache
ALTER TABLE request_log ADD COLUMN limit_hit text;             -- the limit that refused it or made it wait
ALTER TABLE request_log ADD COLUMN queued_ms double precision; -- time waited in that limit's queue
