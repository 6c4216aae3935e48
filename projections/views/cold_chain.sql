-- cold_chain: one row per (order, container, voyage) leg that has been loaded: the
-- container's readings from LOADED_AT until DISCHARGED_AT (inclusive; until now while at
-- sea, i.e. every reading so far) against the order's product range [temp_min, temp_max]
-- (inclusive): reading count, min, max and average temperature, readings outside the range,
-- the first excursion's time, the last reading's time, and compliant (no reading outside;
-- NULL while the product's range is unknown). sum_temperature is kept so that new readings
-- can be folded into a leg exactly (cold_chain.incremental.sql); the average is sum / count,
-- exact: DECIMAL(7,4) (the readings' DECIMAL(5,2) with two more digits of scale), the exact
-- quotient rounded half to even, computed in integers (DuckDB divides decimals as doubles).
-- cold_chain.incremental.sql computes it the same way.
-- key: order_id, container_id, voyage_id
-- sources: shipping.order_assignments, shipping.orders, shipping.reefer_telemetry, reference.products
WITH leg AS (
    SELECT a.order_id, a.container_id, a.voyage_id, a.loaded_at, a.discharged_at,
           o.product_id, p.temp_min, p.temp_max
    FROM shipping.order_assignments AS a
    JOIN affected_keys USING (order_id, container_id, voyage_id)
    JOIN shipping.orders AS o USING (order_id)
    LEFT JOIN reference.products AS p ON p.product_id = o.product_id
    WHERE a.loaded_at IS NOT NULL
),
totals AS (
    SELECT
        l.order_id,
        l.container_id,
        l.voyage_id,
        l.product_id,
        l.temp_min,
        l.temp_max,
        l.loaded_at,
        l.discharged_at,
        count(t.temperature) AS readings,
        min(t.temperature) AS min_temperature,
        max(t.temperature) AS max_temperature,
        NULL AS avg_temperature,
        count(*) FILTER (WHERE t.temperature < l.temp_min OR t.temperature > l.temp_max)
            AS excursions,
        min(t.reading_ts) FILTER (WHERE t.temperature < l.temp_min OR t.temperature > l.temp_max)
            AS first_excursion_at,
        max(t.reading_ts) AS last_reading_at,
        CASE WHEN any_value(l.temp_min) IS NULL OR any_value(l.temp_max) IS NULL THEN NULL
             ELSE count(*) FILTER (WHERE t.temperature < l.temp_min
                                      OR t.temperature > l.temp_max) = 0
        END AS compliant,
        sum(t.temperature) AS sum_temperature
    FROM leg AS l
    LEFT JOIN shipping.reefer_telemetry AS t
        ON t.container_id = l.container_id
        AND t.reading_ts >= l.loaded_at
        AND (l.discharged_at IS NULL OR t.reading_ts <= l.discharged_at)
    GROUP BY l.order_id, l.container_id, l.voyage_id, l.product_id, l.temp_min, l.temp_max,
             l.loaded_at, l.discharged_at
),
-- The average in units of 0.0001: quotient and remainder of sum * 10^4 by the count
-- (// truncates toward zero, % takes the sign of the dividend).
parts AS (
    SELECT *,
           CAST(sum_temperature * 10000 AS HUGEINT) // nullif(readings, 0) AS avg_q,
           CAST(sum_temperature * 10000 AS HUGEINT) % nullif(readings, 0) AS avg_r
    FROM totals
)
SELECT * EXCLUDE (avg_q, avg_r) REPLACE (
    CAST((avg_q + CASE WHEN 2 * abs(avg_r) > readings
                         OR (2 * abs(avg_r) = readings AND avg_q % 2 <> 0)
                       THEN sign(avg_r) ELSE 0 END) * 0.0001 AS DECIMAL(7,4)) AS avg_temperature
)
FROM parts
