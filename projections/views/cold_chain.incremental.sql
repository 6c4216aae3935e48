-- cold_chain after new readings only (inserts into shipping.reefer_telemetry): each leg whose
-- window holds new readings gets them folded into its row (counts and sums added, min/max,
-- first excursion and last reading by least/greatest). Windows and ranges come from the row
-- itself: a leg whose assignment, order or product changed in the same batch is recomputed
-- from scratch instead (see projections/views.py).
-- incremental: shipping.reefer_telemetry
WITH fresh AS (
    SELECT
        v.order_id,
        v.container_id,
        v.voyage_id,
        count(d.temperature) AS readings,
        min(d.temperature) AS min_temperature,
        max(d.temperature) AS max_temperature,
        sum(d.temperature) AS sum_temperature,
        count(*) FILTER (WHERE d.temperature < v.temp_min OR d.temperature > v.temp_max)
            AS excursions,
        min(d.reading_ts) FILTER (WHERE d.temperature < v.temp_min OR d.temperature > v.temp_max)
            AS first_excursion_at,
        max(d.reading_ts) AS last_reading_at
    FROM views.cold_chain AS v
    JOIN delta_shipping_reefer_telemetry AS d
        ON d.container_id = v.container_id
        AND d.reading_ts >= v.loaded_at
        AND (v.discharged_at IS NULL OR d.reading_ts <= v.discharged_at)
    GROUP BY v.order_id, v.container_id, v.voyage_id
),
folded AS (
    SELECT
        v.* EXCLUDE (readings, min_temperature, max_temperature, avg_temperature, excursions,
                     first_excursion_at, last_reading_at, compliant, sum_temperature),
        v.readings + f.readings AS readings,
        least(v.min_temperature, f.min_temperature) AS min_temperature,
        greatest(v.max_temperature, f.max_temperature) AS max_temperature,
        v.excursions + f.excursions AS excursions,
        least(v.first_excursion_at, f.first_excursion_at) AS first_excursion_at,
        greatest(v.last_reading_at, f.last_reading_at) AS last_reading_at,
        CASE WHEN v.sum_temperature IS NULL THEN f.sum_temperature
             WHEN f.sum_temperature IS NULL THEN v.sum_temperature
             ELSE v.sum_temperature + f.sum_temperature
        END AS sum_temperature
    FROM views.cold_chain AS v
    JOIN fresh AS f USING (order_id, container_id, voyage_id)
),
-- The average exactly as cold_chain.sql computes it: DECIMAL(7,4), half to even, in integers.
parts AS (
    SELECT *,
           CAST(sum_temperature * 10000 AS HUGEINT) // nullif(readings, 0) AS avg_q,
           CAST(sum_temperature * 10000 AS HUGEINT) % nullif(readings, 0) AS avg_r
    FROM folded
)
SELECT
    * EXCLUDE (sum_temperature, avg_q, avg_r),
    CAST((avg_q + CASE WHEN 2 * abs(avg_r) > readings
                         OR (2 * abs(avg_r) = readings AND avg_q % 2 <> 0)
                       THEN sign(avg_r) ELSE 0 END) * 0.0001 AS DECIMAL(7,4)) AS avg_temperature,
    CASE WHEN temp_min IS NULL OR temp_max IS NULL THEN NULL ELSE excursions = 0 END
        AS compliant,
    sum_temperature
FROM parts
