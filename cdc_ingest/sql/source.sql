-- Queries of the capture reader (cdc_ingest/source.py). They run unchanged on the simulated
-- Db2 (SQLite) and on Db2 for z/OS; {catalog}, {control}, {limit} and the quoted table and
-- column names come from cdc_ingest/dialect.py and the catalog. Every value is bound with ?.

-- name: tables
SELECT NAME FROM {catalog}.SYSTABLES WHERE CREATOR = ? AND TYPE = 'T' ORDER BY NAME

-- name: columns
SELECT NAME, COLNO, COLTYPE, LENGTH, SCALE, NULLS, DEFAULTVALUE, KEYSEQ
FROM {catalog}.SYSCOLUMNS
WHERE TBCREATOR = ? AND TBNAME = ?
ORDER BY COLNO

-- name: registered
SELECT SOURCE_OWNER, SOURCE_TABLE, CD_OWNER, CD_TABLE, BEFORE_IMG_PREFIX,
       SYNCHPOINT, CD_OLD_SYNCHPOINT, REGISTERED_ROWS
FROM {control}.IBMSNAP_REGISTER
WHERE SOURCE_OWNER = ? AND SOURCE_VIEW_QUAL = 0 AND STATE = 'A'
ORDER BY SOURCE_TABLE

-- name: newest_lsn
SELECT MAX(IBMSNAP_COMMITSEQ) FROM {control}.IBMSNAP_UOW

-- name: uow
SELECT IBMSNAP_COMMITSEQ, IBMSNAP_UOWID, IBMSNAP_LOGMARKER
FROM {control}.IBMSNAP_UOW
WHERE IBMSNAP_COMMITSEQ >= ? AND IBMSNAP_COMMITSEQ <= ?
ORDER BY IBMSNAP_COMMITSEQ

-- name: uow_rows
SELECT COUNT(*) FROM {cd} WHERE IBMSNAP_COMMITSEQ = ?

-- name: changes
SELECT IBMSNAP_COMMITSEQ, IBMSNAP_INTENTSEQ, IBMSNAP_OPERATION, {columns}
FROM {cd}
WHERE IBMSNAP_COMMITSEQ >= ? AND (IBMSNAP_COMMITSEQ > ? OR IBMSNAP_INTENTSEQ > ?)
  AND IBMSNAP_COMMITSEQ <= ?
ORDER BY IBMSNAP_COMMITSEQ, IBMSNAP_INTENTSEQ
{limit}

-- name: chunk
SELECT {columns} FROM {table} {where} ORDER BY {key} {limit}
