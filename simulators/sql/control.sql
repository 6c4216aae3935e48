-- The simulated Db2's control tables, in the same SQLite file as the data (so a unit of work
-- and its capture rows commit in one transaction). {schema} is the quoted Db2 schema.
-- IBMSNAP_UOW and IBMSNAP_REGISTER carry the ASN column names the capture reader queries on a
-- real Db2; SYSTABLES and SYSCOLUMNS mimic SYSIBM's catalog (same column names and COLTYPE
-- codes), because SQLite's own declared types cannot say DECIMAL(31,2) or CHAR(10).

-- name: control
CREATE TABLE IF NOT EXISTS {schema}.IBMSNAP_UOW (
    IBMSNAP_COMMITSEQ INTEGER PRIMARY KEY,  -- the LSN; a rowid alias, so MAX() is one lookup
    IBMSNAP_UOWID TEXT NOT NULL,
    IBMSNAP_LOGMARKER TEXT                  -- commit time, UTC, microseconds; NULL while open
);
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
    (SOURCE_OWNER, SOURCE_TABLE, SOURCE_VIEW_QUAL, CD_OWNER, CD_TABLE, BEFORE_IMG_PREFIX, STATE,
     SYNCHPOINT, CD_OLD_SYNCHPOINT, REGISTERED_ROWS)
SELECT ?, ?, 0, ?, ?, 'X', 'A', COMMITSEQ, COMMITSEQ, ? FROM {schema}.IBMSNAP_OPEN_UOW

-- name: register_columns
SELECT name FROM pragma_table_info('IBMSNAP_REGISTER', ?)

-- name: count_rows
SELECT COUNT(*) FROM {table}

-- name: unregister
DELETE FROM {schema}.IBMSNAP_REGISTER WHERE SOURCE_OWNER = ? AND SOURCE_TABLE = ?

-- name: max_key
SELECT MAX({column}) FROM {table}
