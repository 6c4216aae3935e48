-- Statements of the error table (values always bound).

-- name: insert
INSERT INTO _offload.errors (
    first_seen, kind, topic, partition, "offset", uow_id, commit_lsn, source_table,
    key_text, raw_key, raw_value, headers, reason, status
) VALUES (
    $first_seen, $kind, $topic, $partition, $offset, $uow_id, $commit_lsn, $source_table,
    $key_text, $raw_key, $raw_value, $headers, $reason, 'open'
)
ON CONFLICT (topic, partition, "offset") DO UPDATE SET
    uow_id = coalesce(excluded.uow_id, uow_id),
    commit_lsn = coalesce(excluded.commit_lsn, commit_lsn),
    source_table = coalesce(excluded.source_table, source_table);

-- name: select_all
SELECT id, first_seen, kind, topic, partition, "offset", uow_id, commit_lsn, source_table,
       key_text, raw_key, raw_value, headers, reason, status, replayed_at, dlq_sent
FROM _offload.errors ORDER BY id;

-- name: select_one
SELECT id, first_seen, kind, topic, partition, "offset", uow_id, commit_lsn, source_table,
       key_text, raw_key, raw_value, headers, reason, status, replayed_at, dlq_sent
FROM _offload.errors WHERE id = $id;

-- name: select_undelivered
SELECT id, first_seen, kind, topic, partition, "offset", uow_id, commit_lsn, source_table,
       key_text, raw_key, raw_value, headers, reason, status, replayed_at, dlq_sent
FROM _offload.errors WHERE NOT dlq_sent ORDER BY id;

-- name: mark_delivered
UPDATE _offload.errors SET dlq_sent = true WHERE id = $id;

-- name: mark_replayed
UPDATE _offload.errors SET status = 'replayed', replayed_at = $now WHERE id = $id;

-- name: set_reason
UPDATE _offload.errors SET reason = $reason WHERE id = $id;

-- name: count_open
SELECT count(*) FROM _offload.errors WHERE status = 'open';
