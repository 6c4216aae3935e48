-- A page of a container's reefer readings in [from, to), ordered by reading_ts (keyset).
-- Params: $container_id, $from, $to (NULL = open), $after_reading_ts, $limit.
-- DECIMAL columns come out as VARCHAR: JSON carries them as exact text anyway, and DuckDB
-- renders them several times faster than Python builds Decimal objects.
SELECT * REPLACE (temperature::VARCHAR AS temperature, humidity::VARCHAR AS humidity)
FROM __SOURCE__.reefer_telemetry
WHERE container_id = $container_id
  AND ($from IS NULL OR reading_ts >= $from)
  AND ($to IS NULL OR reading_ts < $to)
  AND ($after_reading_ts IS NULL OR reading_ts > $after_reading_ts)
ORDER BY reading_ts
LIMIT $limit
