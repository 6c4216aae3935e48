-- The changes of one view after the position ($lsn, $n), whole batches only, at most $batches
-- of them, in position order: each row's key and its row before and after (JSON text).
WITH batches AS (
    SELECT DISTINCT lsn, n
    FROM _offload.view_changes
    WHERE view_name = $view AND (lsn > $lsn OR (lsn = $lsn AND n > $n))
    ORDER BY lsn, n
    LIMIT $batches
)
SELECT c.lsn, c.n, c.commit_time,
       '{"key":' || c.key || ',"before":' || coalesce(c.before, 'null')
           || ',"after":' || coalesce(c.after, 'null') || '}' AS item
FROM _offload.view_changes AS c
JOIN batches AS b ON c.lsn = b.lsn AND c.n = b.n
WHERE c.view_name = $view
ORDER BY c.lsn, c.n, c.seq
