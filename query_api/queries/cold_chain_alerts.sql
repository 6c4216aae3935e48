-- Cold-chain alerts after the position ($lsn, $n), whole batches only, at most $batches of
-- them: a leg that became non-compliant (compliant false now, not before), recovered (false
-- before, true now), or withdrawn (false before; now gone, or its product's range unknown).
WITH flips AS (
    SELECT lsn, n, seq, commit_time, key, before, after,
           json_extract_string(before, '$.compliant') AS was,
           json_extract_string(after, '$.compliant') AS now
    FROM _offload.view_changes
    WHERE view_name = 'cold_chain' AND (lsn > $lsn OR (lsn = $lsn AND n > $n))
),
alerts AS (
    SELECT *,
           CASE WHEN now = 'false' THEN 'non_compliant'
                WHEN now = 'true' THEN 'recovered'
                ELSE 'withdrawn' END AS kind
    FROM flips
    WHERE was IS DISTINCT FROM now AND (was = 'false' OR now = 'false')
),
batches AS (
    SELECT DISTINCT lsn, n FROM alerts ORDER BY lsn, n LIMIT $batches
)
SELECT a.lsn, a.n, a.commit_time,
       '{"kind":"' || a.kind || '","key":' || a.key
           || ',"leg":' || coalesce(a.after, a.before)
           || ',"before":' || coalesce(a.before, 'null') || '}' AS item
FROM alerts AS a
JOIN batches AS b ON a.lsn = b.lsn AND a.n = b.n
ORDER BY a.lsn, a.n, a.seq
