-- Cold-chain status of a whole voyage. Params: $voyage_id.
SELECT
    (SELECT count(*) FROM views.order_tracking WHERE voyage_id = $voyage_id) AS orders,
    count(DISTINCT container_id) AS containers,
    count(*) AS legs,
    count(*) FILTER (WHERE compliant) AS compliant_legs,
    count(*) FILTER (WHERE NOT compliant) AS non_compliant_legs,
    coalesce(sum(excursions), 0) AS leg_excursions,
    bool_and(compliant) AS compliant  -- NULL: no leg yet, or a product range unknown
FROM views.cold_chain
WHERE voyage_id = $voyage_id
