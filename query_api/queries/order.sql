-- One order as views.order_tracking holds it. Params: $order_id.
SELECT *
FROM views.order_tracking
WHERE order_id = $order_id
