-- The voyage's mirror row (existence check and header). Params: $voyage_id.
SELECT *
FROM __SOURCE__.voyages
WHERE voyage_id = $voyage_id
