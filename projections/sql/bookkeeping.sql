-- Bookkeeping of the projection, in the same DuckDB file as the read models, so that each
-- batch commits data, positions and watermark in one transaction. Idempotent.
CREATE SCHEMA IF NOT EXISTS _offload;
CREATE SCHEMA IF NOT EXISTS views;
CREATE SCHEMA IF NOT EXISTS reference;

-- The next offset to read per topic partition on restart (never Kafka group offsets).
CREATE TABLE IF NOT EXISTS _offload.positions (
    topic       VARCHAR NOT NULL,
    partition   INTEGER NOT NULL,
    next_offset BIGINT  NOT NULL,
    PRIMARY KEY (topic, partition)
);

-- One row: the highest LSN applied (units of work and snapshot pseudo-units), its source
-- commit time, the highest LSN of a source unit of work applied (snapshots excluded: the
-- assembler's duplicate rule), when the last batch committed, and running totals.
CREATE TABLE IF NOT EXISTS _offload.watermark (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    lsn         BIGINT  NOT NULL,
    commit_time TIMESTAMP,
    uow_lsn     BIGINT  NOT NULL,
    applied_at  TIMESTAMP,
    units       BIGINT  NOT NULL,
    events      BIGINT  NOT NULL
);
INSERT INTO _offload.watermark VALUES (1, 0, NULL, 0, NULL, 0, 0) ON CONFLICT DO NOTHING;

-- Per derived view: the LSN it reflects, its status ("current", "rebuilding", "failed"),
-- its row count, the hash of its SQL files (a changed definition is rebuilt) and the
-- figures of its last rebuild.
CREATE TABLE IF NOT EXISTS _offload.view_state (
    name                VARCHAR PRIMARY KEY,
    lsn                 BIGINT  NOT NULL,
    commit_time         TIMESTAMP,
    status              VARCHAR NOT NULL,
    rows                BIGINT  NOT NULL,
    definition_sha256   VARCHAR NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    rebuild_seconds     DOUBLE,
    rebuild_rows        BIGINT
);

-- The error table: every record that could not be decoded or applied, with its original
-- bytes, headers and where it came from, until it is replayed. One row per record (topic,
-- partition, offset): a record read again after a restart is not recorded twice. `dlq_sent`
-- turns true once the record was produced to `<prefix>.dlq`.
CREATE SEQUENCE IF NOT EXISTS _offload.error_ids START 1;
CREATE TABLE IF NOT EXISTS _offload.errors (
    id           BIGINT PRIMARY KEY DEFAULT nextval('_offload.error_ids'),
    first_seen   TIMESTAMP NOT NULL,
    kind         VARCHAR NOT NULL,   -- "decode", "apply", "missing"
    topic        VARCHAR,
    partition    INTEGER,
    "offset"     BIGINT,
    uow_id       VARCHAR,
    commit_lsn   BIGINT,
    source_table VARCHAR,
    key_text     VARCHAR,
    raw_key      BLOB,
    raw_value    BLOB,
    headers      VARCHAR,            -- JSON [[name, base64 value or null], ...]
    reason       VARCHAR NOT NULL,
    status       VARCHAR NOT NULL,   -- "open", "replayed"
    replayed_at  TIMESTAMP,
    dlq_sent     BOOLEAN NOT NULL DEFAULT false,
    UNIQUE (topic, partition, "offset")
);

-- Events of units of work too large to hold in memory until their END marker (the stage).
-- Scratch space: emptied when the writer starts, since positions make it re-read them.
CREATE TABLE IF NOT EXISTS _offload.stage (
    uow_id  VARCHAR NOT NULL,
    seq     BIGINT  NOT NULL,
    payload BLOB    NOT NULL
);
