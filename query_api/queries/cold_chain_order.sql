-- Every cold-chain leg of one order. Params: $order_id, $limit.
-- DECIMAL columns come out as VARCHAR: JSON carries them as exact text anyway, and DuckDB
-- renders them several times faster than Python builds Decimal objects.
SELECT * REPLACE (
    temp_min::VARCHAR AS temp_min,
    temp_max::VARCHAR AS temp_max,
    min_temperature::VARCHAR AS min_temperature,
    max_temperature::VARCHAR AS max_temperature
)
FROM views.cold_chain
WHERE order_id = $order_id
ORDER BY container_id, voyage_id
LIMIT $limit
