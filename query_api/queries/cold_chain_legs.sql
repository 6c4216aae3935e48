-- A page of cold-chain legs, filtered, ordered by (order_id, container_id, voyage_id).
-- Params (NULL = no filter): $compliant, $voyage_id, $product_id, $since (last reading at or
-- after), $after_order_id, $after_container_id, $after_voyage_id, $limit.
-- DECIMAL columns come out as VARCHAR: JSON carries them as exact text anyway, and DuckDB
-- renders them several times faster than Python builds Decimal objects.
SELECT * REPLACE (
    temp_min::VARCHAR AS temp_min,
    temp_max::VARCHAR AS temp_max,
    min_temperature::VARCHAR AS min_temperature,
    max_temperature::VARCHAR AS max_temperature
)
FROM views.cold_chain
WHERE ($compliant IS NULL OR compliant = $compliant)
  AND ($voyage_id IS NULL OR voyage_id = $voyage_id)
  AND ($product_id IS NULL OR product_id = $product_id)
  AND ($since IS NULL OR last_reading_at >= $since)
  AND ($after_order_id IS NULL
       OR (order_id, container_id, voyage_id) > ($after_order_id, $after_container_id, $after_voyage_id))
ORDER BY order_id, container_id, voyage_id
LIMIT $limit
