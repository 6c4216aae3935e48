-- Freshness of every derived view, as the projection writer records it.
SELECT name, lsn, commit_time, status, rows
FROM _offload.view_state
ORDER BY name
