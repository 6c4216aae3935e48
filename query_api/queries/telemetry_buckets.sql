-- A page of min/avg/max temperature per time bucket of a container's readings in [from, to).
-- Params: $container_id, $bucket_s (bucket width in seconds), $from, $to,
-- $after_bucket_start, $limit.
-- DECIMAL columns come out as VARCHAR: JSON carries them as exact text anyway, and DuckDB
-- renders them several times faster than Python builds Decimal objects.
SELECT
    time_bucket(to_seconds($bucket_s), reading_ts) AS bucket_start,
    count(*) AS readings,
    min(temperature)::VARCHAR AS min_temp,
    avg(temperature) AS avg_temp,
    max(temperature)::VARCHAR AS max_temp
FROM __SOURCE__.reefer_telemetry
WHERE container_id = $container_id
  AND ($from IS NULL OR reading_ts >= $from)
  AND ($to IS NULL OR reading_ts < $to)
GROUP BY bucket_start
HAVING $after_bucket_start IS NULL OR bucket_start > $after_bucket_start
ORDER BY bucket_start
LIMIT $limit
