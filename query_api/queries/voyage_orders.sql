-- A page of the orders travelling on a voyage, with each leg's compliance (keyset on order_id).
-- Params: $voyage_id, $after_order_id, $limit.
SELECT
    o.order_id,
    o.customer_id,
    o.product_id,
    o.product_name,
    o.container_id,
    o.status,
    c.readings,
    c.compliant,
    c.excursions
FROM views.order_tracking AS o
LEFT JOIN views.cold_chain AS c
    ON c.order_id = o.order_id AND c.container_id = o.container_id AND c.voyage_id = o.voyage_id
WHERE o.voyage_id = $voyage_id
  AND ($after_order_id IS NULL OR o.order_id > $after_order_id)
ORDER BY o.order_id
LIMIT $limit
