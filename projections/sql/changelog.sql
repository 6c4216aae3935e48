-- The views' change log (projections/changelog.py). Placeholders in braces are identifiers
-- or expressions the caller builds from the view's own columns (quoted); values are always
-- bound parameters.

-- name: create_log
CREATE TABLE IF NOT EXISTS _offload.view_changes (
    lsn         BIGINT NOT NULL,     -- the watermark LSN of the batch that made the change
    n           INTEGER NOT NULL,    -- 0, or 1, 2, ... for later batches at the same LSN
    view_name   VARCHAR NOT NULL,
    seq         INTEGER NOT NULL,    -- order of the change within its batch and view
    commit_time TIMESTAMP,
    key         VARCHAR NOT NULL,    -- JSON object of the view's key columns
    before      VARCHAR,             -- JSON object of the row before the batch, NULL if new
    after       VARCHAR,             -- JSON object of the row after the batch, NULL if gone
    logged_at   TIMESTAMP NOT NULL
);

-- name: create_state
CREATE TABLE IF NOT EXISTS _offload.view_changes_state (
    id          INTEGER PRIMARY KEY,
    last_lsn    BIGINT NOT NULL,     -- position of the newest batch logged
    last_n      INTEGER NOT NULL,
    horizon_lsn BIGINT NOT NULL,     -- every change after this position is in the log
    horizon_n   INTEGER NOT NULL
);

-- name: init_state
INSERT INTO _offload.view_changes_state
SELECT 1, lsn, 0, lsn, 0 FROM _offload.watermark WHERE id = 1
ON CONFLICT DO NOTHING;

-- name: create_captured
CREATE TEMP TABLE IF NOT EXISTS _changes_captured (
    side      VARCHAR,  -- 'before' or 'after' the batch replaced the rows
    view_name VARCHAR,
    key       VARCHAR,
    row       VARCHAR
);

-- name: view_columns
SELECT column_name, data_type FROM duckdb_columns()
WHERE schema_name = 'views' AND table_name = $name
ORDER BY column_index;

-- name: capture
INSERT INTO _changes_captured
SELECT $side, $view, {key_json}, {row_json}
FROM {view} AS v SEMI JOIN {keys} AS a ON {key_match};

-- name: log
-- The batch's position: the watermark after it (the bookkeeping writes it later in the same
-- transaction: the greater of the stored one and $lsn), n one more than the last position's
-- when that is at the same LSN.
INSERT INTO _offload.view_changes
WITH pos AS (
    SELECT greatest(w.lsn, $lsn) AS lsn,
           CASE WHEN greatest(w.lsn, $lsn) = s.last_lsn THEN s.last_n + 1 ELSE 0 END AS n,
           CASE WHEN $lsn >= w.lsn THEN $commit_time ELSE w.commit_time END AS commit_time
    FROM _offload.watermark AS w, _offload.view_changes_state AS s
    WHERE w.id = 1 AND s.id = 1
),
changed AS (
    SELECT view_name, key,
           any_value(row) FILTER (WHERE side = 'before') AS before,
           any_value(row) FILTER (WHERE side = 'after') AS after
    FROM _changes_captured
    GROUP BY view_name, key
)
SELECT p.lsn, p.n, c.view_name,
       CAST(row_number() OVER (ORDER BY c.view_name, c.key) AS INTEGER),
       p.commit_time, c.key, c.before, c.after, $now
FROM changed AS c, pos AS p
WHERE c.before IS DISTINCT FROM c.after;

-- name: advance
UPDATE _offload.view_changes_state AS s
SET last_lsn = greatest(w.lsn, $lsn),
    last_n = CASE WHEN greatest(w.lsn, $lsn) = s.last_lsn THEN s.last_n + 1 ELSE 0 END
FROM _offload.watermark AS w
WHERE w.id = 1 AND s.id = 1;

-- name: clear
DELETE FROM _changes_captured;

-- name: horizon
SELECT lsn, n FROM _offload.view_changes WHERE logged_at < $cutoff
ORDER BY lsn DESC, n DESC LIMIT 1;

-- name: compact
DELETE FROM _offload.view_changes WHERE lsn < $lsn OR (lsn = $lsn AND n <= $n);

-- name: set_horizon
UPDATE _offload.view_changes_state SET horizon_lsn = $lsn, horizon_n = $n
WHERE id = 1 AND (horizon_lsn < $lsn OR (horizon_lsn = $lsn AND horizon_n < $n));
