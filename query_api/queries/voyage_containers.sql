-- The containers of a voyage with their cold-chain status, by container_id.
-- Params: $voyage_id, $limit.
SELECT
    container_id,
    count(*) AS legs,
    sum(reading_count) AS reading_count,
    min(min_temp) AS min_temp,
    max(max_temp) AS max_temp,
    sum(excursion_count) AS excursion_count,
    bool_and(compliant) AS compliant
FROM views.cold_chain
WHERE voyage_id = $voyage_id
GROUP BY container_id
ORDER BY container_id
LIMIT $limit
