-- The view change log's newest position and its horizon (projections/changelog.py).
SELECT last_lsn, last_n, horizon_lsn, horizon_n
FROM _offload.view_changes_state
WHERE id = 1
