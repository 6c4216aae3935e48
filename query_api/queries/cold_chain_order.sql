-- Every cold-chain leg of one order. Params: $order_id, $limit.
SELECT *
FROM views.cold_chain
WHERE order_id = $order_id
ORDER BY container_id, voyage_id
LIMIT $limit
