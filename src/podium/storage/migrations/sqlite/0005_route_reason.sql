-- Routing (docs/routing.md): why the answering deployment was chosen, as the x-podium-route header says it.
ALTER TABLE request_log ADD COLUMN route_reason TEXT;
