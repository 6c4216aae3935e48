-- The reference loader's ledger (reference_loader/ledger.py): every run, and each job's
-- last committed state (encoded key → value hash). Every value is bound with ?.

-- name: create_runs
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    job TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    status TEXT NOT NULL,
    source TEXT,
    source_sha256 TEXT,
    records_read INTEGER NOT NULL DEFAULT 0,
    records_new INTEGER NOT NULL DEFAULT 0,
    records_changed INTEGER NOT NULL DEFAULT 0,
    records_deleted INTEGER NOT NULL DEFAULT 0,
    records_unchanged INTEGER NOT NULL DEFAULT 0,
    records_rejected INTEGER NOT NULL DEFAULT 0,
    kafka_outcome TEXT NOT NULL,
    topic TEXT NOT NULL,
    reject_file TEXT,
    error TEXT
)

-- name: create_runs_index
CREATE INDEX IF NOT EXISTS runs_by_job ON runs (job, started_at)

-- name: create_state
-- Ledgers before state_chunks kept the state here, a row a key, with blake2b hashes: never
-- read now (see Ledger.trusted_state), cleared by the next committed load.
CREATE TABLE IF NOT EXISTS state (
    job TEXT NOT NULL,
    key BLOB NOT NULL,
    value_hash INTEGER NOT NULL,
    PRIMARY KEY (job, key)
) WITHOUT ROWID

-- name: create_state_chunks
-- The state in chunks of up to 65,536 entries (reading and writing a million rows of `state`
-- took 7-11 s): the keys back to back, the end offset of each (int64 little-endian) and each
-- value hash (int64 little-endian). `state` holds the state of ledgers written before.
CREATE TABLE IF NOT EXISTS state_chunks (
    job TEXT NOT NULL,
    chunk INTEGER NOT NULL,
    key_ends BLOB NOT NULL,
    keys BLOB NOT NULL,
    hashes BLOB NOT NULL,
    PRIMARY KEY (job, chunk)
)

-- name: create_state_meta
-- value_hash names the hash of the job's state (`reference_loader.delta.HASH_NAME`); NULL in
-- ledgers written before it was kept, whose hashes are blake2b's.
CREATE TABLE IF NOT EXISTS state_meta (
    job TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    run_id TEXT NOT NULL,
    value_hash TEXT
)

-- name: begin_run
INSERT INTO runs (run_id, job, started_at, status, kafka_outcome, topic)
VALUES (?, ?, ?, 'running', 'none', ?)

-- name: set_source
UPDATE runs SET source = ?, source_sha256 = ? WHERE run_id = ?

-- name: finish_run
UPDATE runs SET
    ended_at = ?, status = ?, records_read = ?, records_new = ?, records_changed = ?,
    records_deleted = ?, records_unchanged = ?, records_rejected = ?, kafka_outcome = ?,
    reject_file = ?, error = ?
WHERE run_id = ?

-- name: resolve_run
UPDATE runs SET ended_at = COALESCE(ended_at, ?), status = ?, kafka_outcome = ?, error = ?
WHERE run_id = ?

-- name: unfinished
SELECT run_id FROM runs WHERE job = ? AND status = 'running' ORDER BY started_at

-- name: last_runs
SELECT run_id, job, started_at, ended_at, status, source, source_sha256, records_read,
    records_new, records_changed, records_deleted, records_unchanged, records_rejected,
    kafka_outcome, topic, reject_file, error
FROM runs WHERE job = ? ORDER BY started_at DESC, rowid DESC LIMIT ?

-- name: state_meta
SELECT topic, run_id, value_hash FROM state_meta WHERE job = ?

-- name: state_meta_columns
SELECT name FROM pragma_table_info('state_meta')

-- name: state_meta_add_value_hash
ALTER TABLE state_meta ADD COLUMN value_hash TEXT

-- name: state_chunk_rows
SELECT key_ends, keys, hashes FROM state_chunks WHERE job = ? ORDER BY chunk

-- name: state_clear
DELETE FROM state WHERE job = ?

-- name: state_chunks_clear
DELETE FROM state_chunks WHERE job = ?

-- name: state_chunk_insert
INSERT INTO state_chunks (job, chunk, key_ends, keys, hashes) VALUES (?, ?, ?, ?, ?)

-- name: state_meta_upsert
INSERT INTO state_meta (job, topic, run_id, value_hash) VALUES (?, ?, ?, ?)
ON CONFLICT (job) DO UPDATE SET topic = excluded.topic, run_id = excluded.run_id,
    value_hash = excluded.value_hash

-- name: state_meta_clear
DELETE FROM state_meta WHERE job = ?
