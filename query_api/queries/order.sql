-- One order as views.order_tracking holds it. Params: $order_id.
-- DECIMAL columns come out as VARCHAR: JSON carries them as exact text anyway, and DuckDB
-- renders them several times faster than Python builds Decimal objects.
SELECT * REPLACE (
    temp_min::VARCHAR AS temp_min,
    temp_max::VARCHAR AS temp_max,
    amount::VARCHAR AS amount
)
FROM views.order_tracking
WHERE order_id = $order_id
