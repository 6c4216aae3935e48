-- The orders whose order_tracking row a batch may change: from the old and new images of
-- every changed source row (delta_*), joined to the current state where the link is indirect.
SELECT order_id FROM delta_shipping_orders
UNION SELECT order_id FROM delta_shipping_order_assignments
UNION SELECT o.order_id FROM delta_shipping_customers AS d JOIN shipping.orders AS o USING (customer_id)
UNION SELECT o.order_id FROM delta_reference_products AS d JOIN shipping.orders AS o USING (product_id)
UNION SELECT o.order_id FROM delta_reference_ports AS d
    JOIN shipping.orders AS o ON d.unlocode IN (o.origin_port, o.destination_port)
UNION SELECT a.order_id FROM delta_shipping_voyages AS d
    JOIN shipping.order_assignments AS a USING (voyage_id)
UNION SELECT a.order_id FROM delta_reference_vessels AS d
    JOIN shipping.voyages AS v USING (vessel_id)
    JOIN shipping.order_assignments AS a USING (voyage_id)
