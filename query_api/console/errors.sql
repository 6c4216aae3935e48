-- The error table for the console, newest first, without the record's bytes.
-- Params: $limit.
SELECT id, first_seen, kind, status, topic, "partition", "offset", uow_id, commit_lsn,
       source_table, key_text AS key, reason, replayed_at, dlq_sent
FROM _offload.errors
ORDER BY (status = 'open') DESC, id DESC
LIMIT $limit
