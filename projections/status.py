"""`offload project status`: the watermark, the lag behind the source, rates, rows, errors.

The writer holds the DuckDB file while it runs, and DuckDB lets no other process open it
meanwhile, so the running writer also writes these figures to `status.json` beside the
database (at most once a second, atomically); `project status` reads the database when it can
and that file when a writer holds it.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from config import KafkaSettings
from event_contract.codec import Codec
from event_contract.envelope import PublishedHead
from plumbing.kafka_errors import KafkaUnavailable
from plumbing.topic_reader import TopicReader
from projections.applier import ms_to_datetime
from projections.errorlog import count_open
from projections.mirror import quote
from projections.sqlfiles import statements
from projections.store import read_watermark

logger = logging.getLogger(__name__)

STATUS_FILE = "status.json"
_HEAD_TAIL = 20


def collect(
    con: duckdb.DuckDBPyConnection,
    head: tuple[int, int] | None,
    events_per_s: float | None,
) -> dict[str, Any]:
    """The status figures from the database, the published head (LSN, commit ms) and a rate."""
    cur = con.cursor()
    try:
        mark = read_watermark(cur)
        head_time = None if head is None else ms_to_datetime(head[1])
        views = [
            {
                "name": name,
                "status": status,
                "lsn": lsn,
                "commit_time": _iso(commit_time),
                "rows": rows,
                "lag_lsn": None if head is None else max(head[0] - lsn, 0),
                "lag_seconds": _lag(head, lsn, head_time, commit_time),
                "rebuild_seconds": rebuild_seconds,
                "rebuild_rows": rebuild_rows,
            }
            for name, status, lsn, commit_time, rows, rebuild_seconds, rebuild_rows in cur.execute(
                "SELECT name, status, lsn, commit_time, rows, rebuild_seconds, rebuild_rows "
                "FROM _offload.view_state ORDER BY name"
            ).fetchall()
        ]
        return {
            "watermark": {
                "lsn": mark.lsn,
                "commit_time": _iso(mark.commit_time),
                "applied_at": _iso(mark.applied_at),
                "units": mark.units,
                "events": mark.events,
            },
            "published": None if head is None else {"lsn": head[0], "commit_time": _iso(head_time)},
            "lag_lsn": None if head is None else max(head[0] - mark.lsn, 0),
            "lag_seconds": _lag(head, mark.lsn, head_time, mark.commit_time),
            "events_per_s": events_per_s,
            "views": views,
            "mirrors": _mirror_rows(cur),
            "errors_open": count_open(cur),
        }
    finally:
        cur.close()


def write_file(path: Path, figures: dict[str, Any]) -> None:
    """Write the figures to `path` atomically, stamped with this process and the time."""
    data = {**figures, "pid": os.getpid(), "written_at": _iso(_now())}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(path)


def read_file(path: Path) -> dict[str, Any] | None:
    """The figures a running writer last wrote, or None."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def published_head(
    kafka: KafkaSettings, codec: Codec, timeout_s: float = 10.0
) -> tuple[int, int] | None:
    """The newest unit of work every capture group ended (an END marker of each, see
    `PublishedHead`) in the transaction topic: (commit LSN, commit ms), or None.

    Reads the last `_HEAD_TAIL` offsets; when Kafka does not answer, the head is unknown (None)
    or the newest END read so far.
    """
    topic = kafka.topic("transaction")
    newest: tuple[int, int] | None = None
    head = PublishedHead()
    with TopicReader(kafka, f"{kafka.topic_prefix}.status") as reader:
        try:
            for record in reader.read(reader.ends([topic], timeout_s), timeout_s, _HEAD_TAIL):
                try:
                    value = codec.decode(record.value or b"")
                except Exception:  # a poison marker: the status shows the last good one
                    continue
                if value.get("status") == "END":
                    head.end(
                        str(value["id"]), int(value["commit_lsn"]), int(value["ts_ms"]),
                        value.get("part"), int(value.get("parts") or 1),
                    )  # fmt: skip
                    newest = head.head or newest
        except KafkaUnavailable as exc:
            logger.debug("published head of %s: %s", topic, exc)
    return newest


def _mirror_rows(cur: duckdb.DuckDBPyConnection) -> dict[str, int]:
    tables = cur.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() "
        "WHERE schema_name NOT IN ('_offload', 'views') AND NOT temporary "
        "ORDER BY schema_name, table_name"
    ).fetchall()
    sql = statements("view_maintenance.sql")["source_count"]
    out = {}
    for schema, table in tables:
        row = cur.execute(sql.format(mirror=f"{quote(schema)}.{quote(table)}")).fetchone()
        out[f"{schema}.{table}"] = int(row[0]) if row else 0
    return out


def _lag(
    head: tuple[int, int] | None, lsn: int, head_time: datetime | None, mark: datetime | None
) -> float | None:
    if head is None or head_time is None:
        return None
    if head[0] <= lsn:
        return 0.0
    if mark is None:
        return None
    return max((head_time - mark).total_seconds(), 0.0)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
