-- A page of a customer's orders, ordered by order_id (keyset).
-- Params: $customer_id, $after_order_id (NULL on the first page), $limit.
-- DECIMAL columns come out as VARCHAR: JSON carries them as exact text anyway, and DuckDB
-- renders them several times faster than Python builds Decimal objects.
SELECT * REPLACE (
    temp_min::VARCHAR AS temp_min,
    temp_max::VARCHAR AS temp_max,
    amount::VARCHAR AS amount
)
FROM views.order_tracking
WHERE customer_id = $customer_id
  AND ($after_order_id IS NULL OR order_id > $after_order_id)
ORDER BY order_id
LIMIT $limit
