-- Set-based apply of one mirror's folded batch. `_incoming` is the registered Arrow table
-- (mirror columns, then _lsn, _seq, _del, _ts). Placeholders in braces are identifiers from the
-- catalog, quoted by the caller; values are never interpolated.

-- name: winners
-- The changes newer than what their key has applied; older and duplicate ones change nothing.
-- A snapshot read (_seq = $snapshot_seq) applies only above the key's LSN.
CREATE OR REPLACE TEMP TABLE _win AS
SELECT i.*, (k.lsn IS NOT NULL AND NOT k.deleted) AS _existed
FROM _incoming AS i
LEFT JOIN {keys_table} AS k ON {key_join_ik}
WHERE k.lsn IS NULL
   OR i._lsn > k.lsn
   OR (i._lsn = k.lsn AND i._seq > k.seq AND i._seq < $snapshot_seq);

-- name: counts
SELECT count(*), count(*) FILTER (WHERE _existed) FROM _win;

-- name: old_images
INSERT INTO {delta} SELECT m.* FROM {mirror} AS m SEMI JOIN (SELECT * FROM _win WHERE _existed) AS w ON {key_join_mw};

-- name: delete
DELETE FROM {mirror} AS m USING _win AS w WHERE {key_join_mw} AND w._del AND w._existed;

-- name: upsert
INSERT INTO {mirror} ({columns}) SELECT {columns} FROM _win WHERE NOT _del ON CONFLICT ({key_columns}) DO {conflict_action};

-- name: new_images
INSERT INTO {delta} ({columns}) SELECT {columns} FROM _win WHERE NOT _del;

-- name: keys
INSERT INTO {keys_table} SELECT {key_columns}, _lsn, _seq, _del, _ts FROM _win ON CONFLICT ({key_columns}) DO UPDATE SET lsn = excluded.lsn, seq = excluded.seq, deleted = excluded.deleted, commit_time = excluded.commit_time;

-- name: delta_table
CREATE TEMP TABLE IF NOT EXISTS {delta} AS SELECT * FROM {mirror} WITH NO DATA;

-- name: delta_clear
DELETE FROM {delta};

-- name: delta_drop
DROP TABLE IF EXISTS {delta};

-- name: mirror_columns
SELECT column_name FROM duckdb_columns()
WHERE schema_name = $schema AND table_name = $table AND NOT internal;
