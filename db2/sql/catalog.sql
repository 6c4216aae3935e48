-- Queries of the system catalog and the ASN control tables (db2/catalog_reader.py). They run
-- unchanged on the simulated Db2 (SQLite) and on Db2 for z/OS; {catalog} and {control} come from
-- db2/dialect.py. Every value is bound with ?.

-- name: tables
SELECT NAME FROM {catalog}.SYSTABLES WHERE CREATOR = ? AND TYPE = 'T' ORDER BY NAME

-- name: all_tables
SELECT CREATOR, NAME FROM {catalog}.SYSTABLES WHERE TYPE = 'T' ORDER BY CREATOR, NAME

-- name: lsn_type
SELECT COLTYPE, LENGTH
FROM {catalog}.SYSCOLUMNS
WHERE TBCREATOR = ? AND TBNAME = 'IBMSNAP_UOW' AND NAME = 'IBMSNAP_COMMITSEQ'

-- name: columns
SELECT NAME, COLNO, COLTYPE, LENGTH, SCALE, NULLS, DEFAULTVALUE, KEYSEQ
FROM {catalog}.SYSCOLUMNS
WHERE TBCREATOR = ? AND TBNAME = ?
ORDER BY COLNO

-- name: registered
-- Every schema's registrations: capture.tables chooses among them.
SELECT SOURCE_OWNER, SOURCE_TABLE, CD_OWNER, CD_TABLE, BEFORE_IMG_PREFIX,
       SYNCHPOINT, CD_OLD_SYNCHPOINT, {registered_rows}, CHG_UPD_TO_DEL_INS
FROM {control}.IBMSNAP_REGISTER
WHERE SOURCE_VIEW_QUAL = 0 AND STATE = 'A'
ORDER BY SOURCE_OWNER, SOURCE_TABLE

-- name: newest_lsn
SELECT MAX(IBMSNAP_COMMITSEQ) FROM {control}.IBMSNAP_UOW
