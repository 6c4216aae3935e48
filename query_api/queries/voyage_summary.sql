-- Cold-chain status of a whole voyage. Params: $voyage_id.
SELECT
    (SELECT count(*) FROM views.order_tracking WHERE voyage_id = $voyage_id) AS orders,
    count(DISTINCT container_id) AS containers,
    count(*) AS legs,
    count(*) FILTER (WHERE compliant) AS compliant_legs,
    count(*) FILTER (WHERE NOT compliant) AS non_compliant_legs,
    coalesce(sum(excursion_count), 0) AS excursions,
    coalesce(bool_and(compliant), true) AS compliant
FROM views.cold_chain
WHERE voyage_id = $voyage_id
