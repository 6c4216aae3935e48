-- The containers of a voyage with their cold-chain status, by container_id. Legs of one
-- container share its readings, so readings and excursions are per leg, not summed.
-- Params: $voyage_id, $limit.
-- DECIMAL columns come out as VARCHAR: JSON carries them as exact text anyway, and DuckDB
-- renders them several times faster than Python builds Decimal objects.
SELECT
    container_id,
    count(*) AS legs,
    max(readings) AS readings,
    min(min_temperature)::VARCHAR AS min_temperature,
    max(max_temperature)::VARCHAR AS max_temperature,
    max(excursions) AS excursions,
    max(last_reading_at) AS last_reading_at,
    bool_and(compliant) AS compliant
FROM views.cold_chain
WHERE voyage_id = $voyage_id
GROUP BY container_id
ORDER BY container_id
LIMIT $limit
