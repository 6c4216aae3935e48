-- Queries of the capture reader (cdc_ingest/source.py). They run unchanged on the simulated
-- Db2 (SQLite) and on Db2 for z/OS; {control}, {limit} and the quoted table and column names
-- come from db2/dialect.py and the catalog. Every value is bound with ?.

-- name: uow
SELECT IBMSNAP_COMMITSEQ, IBMSNAP_UOWID, IBMSNAP_LOGMARKER
FROM {control}.IBMSNAP_UOW
WHERE IBMSNAP_COMMITSEQ >= ? AND IBMSNAP_COMMITSEQ <= ?
ORDER BY IBMSNAP_COMMITSEQ

-- name: uow_after
SELECT IBMSNAP_COMMITSEQ, IBMSNAP_UOWID, IBMSNAP_LOGMARKER
FROM {control}.IBMSNAP_UOW
WHERE IBMSNAP_COMMITSEQ > ? AND IBMSNAP_COMMITSEQ <= ?
ORDER BY IBMSNAP_COMMITSEQ
{limit}

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
