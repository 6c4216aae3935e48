-- The legs whose cold_chain row a batch may change: changed assignments (old and new window),
-- orders (product switch), product ranges, and readings inside a leg's current window (a
-- window that changed in the same batch is covered by the assignment's own images).
SELECT order_id, container_id, voyage_id FROM delta_shipping_order_assignments
UNION SELECT a.order_id, a.container_id, a.voyage_id
    FROM (
        -- An order inserted or deleted (one image) or whose product changed: a leg reads
        -- nothing else of its order, so a status change alone leaves the legs' rows as they are.
        SELECT order_id FROM delta_shipping_orders
        GROUP BY order_id
        HAVING count(*) <> 2 OR count(product_id) <> 2 OR min(product_id) <> max(product_id)
    ) AS d
    JOIN shipping.order_assignments AS a USING (order_id)
UNION SELECT a.order_id, a.container_id, a.voyage_id
    FROM delta_reference_products AS d
    JOIN shipping.orders AS o USING (product_id)
    JOIN shipping.order_assignments AS a USING (order_id)
UNION SELECT a.order_id, a.container_id, a.voyage_id
    FROM delta_shipping_reefer_telemetry AS d
    JOIN shipping.order_assignments AS a
        ON a.container_id = d.container_id
        AND d.reading_ts >= a.loaded_at
        AND (a.discharged_at IS NULL OR d.reading_ts <= a.discharged_at)
