-- A page of a customer's orders, ordered by order_id (keyset).
-- Params: $customer_id, $after_order_id (NULL on the first page), $limit.
SELECT *
FROM views.order_tracking
WHERE customer_id = $customer_id
  AND ($after_order_id IS NULL OR order_id > $after_order_id)
ORDER BY order_id
LIMIT $limit
