-- order_tracking: one row per order with its customer, product (name and temperature range),
-- quantity, amount, status, the container and voyage of its assignment (the latest by
-- ASSIGNED_AT when there were several), the vessel, origin and destination port names, the
-- voyage's planned and actual departure and arrival times, and the LSN and commit time of the
-- last change that touched the row (greatest over the contributing source rows: the order,
-- its customer, its assignment and its voyage; reference rows carry no LSN).
-- key: order_id
-- sources: shipping.orders, shipping.customers, shipping.order_assignments, shipping.voyages, reference.products, reference.ports, reference.vessels
WITH latest AS (
    SELECT a.*
    FROM shipping.order_assignments AS a
    JOIN affected_keys USING (order_id)
    QUALIFY row_number() OVER (
        PARTITION BY a.order_id
        ORDER BY a.assigned_at DESC, a.voyage_id DESC, a.container_id DESC
    ) = 1
)
SELECT
    o.order_id,
    o.customer_id,
    c.name AS customer_name,
    o.product_id,
    p.product_name,
    p.temp_min,
    p.temp_max,
    o.quantity,
    o.amount,
    o.currency,
    o.status,
    l.container_id,
    l.voyage_id,
    v.vessel_id,
    ve.name AS vessel_name,
    o.origin_port,
    op.name AS origin_port_name,
    o.destination_port,
    dp.name AS destination_port_name,
    v.planned_departure,
    v.planned_arrival,
    v.departed_at,
    v.arrived_at,
    l.assigned_at,
    l.loaded_at,
    l.discharged_at,
    greatest(ko.lsn, kc.lsn, ka.lsn, kv.lsn) AS last_lsn,
    greatest(ko.commit_time, kc.commit_time, ka.commit_time, kv.commit_time) AS last_commit_time
FROM shipping.orders AS o
JOIN affected_keys USING (order_id)
JOIN _offload."keys.shipping.orders" AS ko USING (order_id)
LEFT JOIN shipping.customers AS c ON c.customer_id = o.customer_id
LEFT JOIN _offload."keys.shipping.customers" AS kc ON kc.customer_id = c.customer_id
LEFT JOIN reference.products AS p ON p.product_id = o.product_id
LEFT JOIN latest AS l ON l.order_id = o.order_id
LEFT JOIN _offload."keys.shipping.order_assignments" AS ka
    ON ka.order_id = l.order_id AND ka.container_id = l.container_id AND ka.voyage_id = l.voyage_id
LEFT JOIN shipping.voyages AS v ON v.voyage_id = l.voyage_id
LEFT JOIN _offload."keys.shipping.voyages" AS kv ON kv.voyage_id = v.voyage_id
LEFT JOIN reference.vessels AS ve ON ve.vessel_id = v.vessel_id
LEFT JOIN reference.ports AS op ON op.unlocode = o.origin_port
LEFT JOIN reference.ports AS dp ON dp.unlocode = o.destination_port
