-- The container's mirror row (existence check and header). Params: $container_id.
SELECT *
FROM __SOURCE__.containers
WHERE container_id = $container_id
