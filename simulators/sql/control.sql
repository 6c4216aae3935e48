-- The simulated Db2's control tables, in the same SQLite file as the data (so a unit of work
-- and its capture rows commit in one transaction). {schema} is the quoted Db2 schema.
-- IBMSNAP_UOW and IBMSNAP_REGISTER carry the ASN column names the capture reader queries on a
-- real Db2; SYSTABLES and SYSCOLUMNS mimic SYSIBM's catalog (same column names and COLTYPE
-- codes), because SQLite's own declared types cannot say DECIMAL(31,2) or CHAR(10).

-- name: uow_integer
-- The "simulator" flavor (every file made before the flavors): integer sequences.
CREATE TABLE IF NOT EXISTS {schema}.IBMSNAP_UOW (
    IBMSNAP_COMMITSEQ INTEGER PRIMARY KEY,  -- the LSN; a rowid alias, so MAX() is one lookup
    IBMSNAP_UOWID TEXT NOT NULL,
    IBMSNAP_LOGMARKER TEXT                  -- commit time, UTC, microseconds; NULL while open
)

-- name: uow_binary
-- The binary flavors: IBMSNAP_UOW with the columns ASN's has, sequences as log positions
-- (CHAR(10)/CHAR(16)/VARCHAR(16) FOR BIT DATA: SQLite BLOBs, compared byte by byte as Db2 does).
CREATE TABLE IF NOT EXISTS {schema}.IBMSNAP_UOW (
    IBMSNAP_UOWID BLOB NOT NULL,             -- CHAR(10) FOR BIT DATA
    IBMSNAP_COMMITSEQ BLOB NOT NULL PRIMARY KEY,
    IBMSNAP_LOGMARKER TEXT,                  -- TIMESTAMP, UTC; NULL while open
    IBMSNAP_AUTHTKN TEXT NOT NULL DEFAULT 'OFFLOAD',
    IBMSNAP_AUTHID TEXT NOT NULL DEFAULT 'OFFLOAD',
    IBMSNAP_REJ_CODE TEXT NOT NULL DEFAULT '0',
    IBMSNAP_APPLY_QUAL TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID

-- name: control
-- One row while a unit of work is open: its LSN and the last IBMSNAP_INTENTSEQ handed out.
-- The capture triggers refuse changes when it is absent (a write outside a unit of work).
CREATE TABLE IF NOT EXISTS {schema}.IBMSNAP_OPEN_UOW (
    ID INTEGER PRIMARY KEY CHECK (ID = 1),
    COMMITSEQ INTEGER NOT NULL,
    NEXTSEQ INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS {schema}.IBMSNAP_REGISTER (
    SOURCE_OWNER TEXT NOT NULL,
    SOURCE_TABLE TEXT NOT NULL,
    SOURCE_VIEW_QUAL INTEGER NOT NULL DEFAULT 0,
    CD_OWNER TEXT NOT NULL,
    CD_TABLE TEXT NOT NULL,
    BEFORE_IMG_PREFIX TEXT,
    STATE TEXT NOT NULL DEFAULT 'A',
    SYNCHPOINT INTEGER,            -- LSN of the unit of work that registered the table
    CD_OLD_SYNCHPOINT INTEGER,     -- oldest LSN the CD table still holds (pruning raises it)
    REGISTERED_ROWS INTEGER NOT NULL DEFAULT 0,  -- rows held when registered (simulator's own)
    PRIMARY KEY (SOURCE_OWNER, SOURCE_TABLE, SOURCE_VIEW_QUAL)
);
CREATE TABLE IF NOT EXISTS {schema}.SYSTABLES (
    CREATOR TEXT NOT NULL,
    NAME TEXT NOT NULL,
    TYPE TEXT NOT NULL DEFAULT 'T',
    COLCOUNT INTEGER NOT NULL,
    PRIMARY KEY (CREATOR, NAME)
);
-- The schemas created by CREATE SCHEMA or implied by a qualified CREATE TABLE.
CREATE TABLE IF NOT EXISTS {schema}.SYSSCHEMATA (
    SCHEMANAME TEXT NOT NULL PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS {schema}.SYSCOLUMNS (
    TBCREATOR TEXT NOT NULL,
    TBNAME TEXT NOT NULL,
    NAME TEXT NOT NULL,
    COLNO INTEGER NOT NULL,
    COLTYPE TEXT NOT NULL,
    LENGTH INTEGER NOT NULL,
    SCALE INTEGER NOT NULL,
    NULLS TEXT NOT NULL,
    DEFAULTVALUE TEXT,
    KEYSEQ INTEGER NOT NULL,
    PRIMARY KEY (TBCREATOR, TBNAME, NAME)
);

-- name: begin_uow
INSERT INTO {schema}.IBMSNAP_UOW (IBMSNAP_COMMITSEQ, IBMSNAP_UOWID, IBMSNAP_LOGMARKER)
SELECT N, printf('%020X', N), NULL
FROM (SELECT COALESCE(MAX(IBMSNAP_COMMITSEQ), 0) + 1 AS N FROM {schema}.IBMSNAP_UOW)
RETURNING IBMSNAP_COMMITSEQ, IBMSNAP_UOWID

-- name: newest_uow
SELECT MAX(IBMSNAP_COMMITSEQ) FROM {schema}.IBMSNAP_UOW

-- name: begin_uow_binary
INSERT INTO {schema}.IBMSNAP_UOW (IBMSNAP_COMMITSEQ, IBMSNAP_UOWID, IBMSNAP_LOGMARKER)
VALUES (?, ?, NULL)

-- name: uow_columns
SELECT name FROM pragma_table_info('IBMSNAP_UOW', ?)

-- name: lsn_type
SELECT COLTYPE, LENGTH FROM {schema}.SYSCOLUMNS
WHERE TBCREATOR = ? AND TBNAME = 'IBMSNAP_UOW' AND NAME = 'IBMSNAP_COMMITSEQ'

-- name: add_schema
INSERT OR IGNORE INTO {schema}.SYSSCHEMATA (SCHEMANAME) VALUES (?)

-- name: has_schema
SELECT COUNT(*) FROM {schema}.SYSSCHEMATA WHERE SCHEMANAME = ?

-- name: registration_mode
SELECT CHG_UPD_TO_DEL_INS FROM {schema}.IBMSNAP_REGISTER
WHERE SOURCE_OWNER = ? AND SOURCE_TABLE = ? AND SOURCE_VIEW_QUAL = 0

-- name: open_uow
INSERT INTO {schema}.IBMSNAP_OPEN_UOW (ID, COMMITSEQ, NEXTSEQ) VALUES (1, ?, 0)

-- name: commit_uow
UPDATE {schema}.IBMSNAP_UOW SET IBMSNAP_LOGMARKER = ? WHERE IBMSNAP_COMMITSEQ = ?

-- name: close_uow
DELETE FROM {schema}.IBMSNAP_OPEN_UOW

-- name: uow_rows
SELECT NEXTSEQ FROM {schema}.IBMSNAP_OPEN_UOW

-- name: add_table
INSERT INTO {schema}.SYSTABLES (CREATOR, NAME, TYPE, COLCOUNT) VALUES (?, ?, 'T', ?)

-- name: add_column
INSERT INTO {schema}.SYSCOLUMNS
    (TBCREATOR, TBNAME, NAME, COLNO, COLTYPE, LENGTH, SCALE, NULLS, DEFAULTVALUE, KEYSEQ)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)

-- name: count_columns
UPDATE {schema}.SYSTABLES SET COLCOUNT = COLCOUNT + 1 WHERE CREATOR = ? AND NAME = ?

-- name: drop_table
DELETE FROM {schema}.SYSTABLES WHERE CREATOR = ? AND NAME = ?

-- name: drop_columns
DELETE FROM {schema}.SYSCOLUMNS WHERE TBCREATOR = ? AND TBNAME = ?

-- name: register
INSERT INTO {schema}.IBMSNAP_REGISTER
    (SOURCE_OWNER, SOURCE_TABLE, SOURCE_VIEW_QUAL, CD_OWNER, CD_TABLE, PHYS_CHANGE_OWNER,
     PHYS_CHANGE_TABLE, BEFORE_IMG_PREFIX, STATE, SYNCHPOINT, CD_OLD_SYNCHPOINT,
     CD_NEW_SYNCHPOINT, REGISTERED_ROWS, CHG_UPD_TO_DEL_INS)
SELECT ?, ?, 0, ?, ?, ?, ?, 'X', 'A', COMMITSEQ, COMMITSEQ, COMMITSEQ, ?, ?
FROM {schema}.IBMSNAP_OPEN_UOW

-- name: register_columns
SELECT name FROM pragma_table_info('IBMSNAP_REGISTER', ?)

-- name: count_rows
SELECT COUNT(*) FROM {table}

-- name: unregister
DELETE FROM {schema}.IBMSNAP_REGISTER WHERE SOURCE_OWNER = ? AND SOURCE_TABLE = ?

-- name: max_key
SELECT MAX({column}) FROM {table}
