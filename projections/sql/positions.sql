-- Statements of the projection's bookkeeping (values always bound).

-- name: read_positions
SELECT topic, partition, next_offset FROM _offload.positions ORDER BY topic, partition;

-- name: write_positions
INSERT INTO _offload.positions SELECT topic, partition, next_offset FROM _positions
ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset;

-- name: read_watermark
SELECT lsn, commit_time, uow_lsn, applied_at, units, events FROM _offload.watermark WHERE id = 1;

-- name: write_watermark
UPDATE _offload.watermark
SET lsn = greatest(lsn, $lsn),
    commit_time = CASE WHEN $lsn >= lsn THEN $commit_time ELSE commit_time END,
    uow_lsn = greatest(uow_lsn, $uow_lsn),
    applied_at = $applied_at,
    units = units + $units,
    events = events + $events
WHERE id = 1;
