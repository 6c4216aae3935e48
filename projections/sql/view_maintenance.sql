-- Statements that keep derived views current. Placeholders in braces are identifiers (quoted
-- by the caller) or the view's own SQL files; values are always bound parameters.

-- name: affected
CREATE OR REPLACE TEMP TABLE affected_keys AS SELECT DISTINCT * FROM ({keys_sql});

-- name: no_affected
CREATE OR REPLACE TEMP TABLE affected_keys AS SELECT * FROM ({keys_sql}) LIMIT 0;

-- name: delete_affected
DELETE FROM {view} AS v USING affected_keys AS a WHERE {key_match};

-- name: insert_affected
INSERT INTO {view} {select_sql};

-- name: hold_delta
CREATE OR REPLACE TEMP TABLE _held_delta AS SELECT * FROM {delta};

-- name: clear_delta
DELETE FROM {delta};

-- name: restore_delta
INSERT INTO {delta} SELECT * FROM _held_delta;

-- name: incremental_rows
CREATE OR REPLACE TEMP TABLE incremental_rows AS
SELECT v.* FROM ({incremental_sql}) AS v ANTI JOIN affected_keys AS a ON {key_match};

-- name: incremental_delete
DELETE FROM {view} AS v USING incremental_rows AS a WHERE {key_match};

-- name: incremental_insert
INSERT INTO {view} BY NAME SELECT * FROM incremental_rows;

-- name: delta_view
CREATE OR REPLACE TEMP VIEW {delta} AS SELECT * FROM {mirror};

-- name: fresh_drop
DROP TABLE IF EXISTS {fresh};

-- name: fresh_create
CREATE TABLE {fresh} AS {select_sql};

-- name: fresh_key
ALTER TABLE {fresh} ADD PRIMARY KEY ({key_columns});

-- name: fresh_count
SELECT count(*) FROM {fresh};

-- name: swap_drop
DROP TABLE IF EXISTS {view};

-- name: swap_rename
ALTER TABLE {fresh} RENAME TO {bare_name};

-- name: state_rows
UPDATE _offload.view_state SET rows = rows - $deleted + $inserted WHERE name = $name;

-- name: state_lsn
UPDATE _offload.view_state SET lsn = $lsn, commit_time = $commit_time, updated_at = $now
WHERE status = 'current' AND lsn < $lsn;

-- name: state_rebuilt
INSERT OR REPLACE INTO _offload.view_state
SELECT $name, lsn, commit_time, 'current', $rows, $sha, $now, $seconds, $rows
FROM _offload.watermark WHERE id = 1;

-- name: state_hashes
SELECT name, definition_sha256 FROM _offload.view_state;

-- name: table_exists
SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'views' AND table_name = $name;

-- name: source_count
SELECT count(*) FROM {mirror};
