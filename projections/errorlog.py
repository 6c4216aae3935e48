"""The error table: records that could not be decoded or applied, kept until replayed.

An error is never a reason to stop the other events, nor to drop one silently: the record's
original key and value bytes, its headers, where it came from and why it failed go into
`_offload.errors`, in the same DuckDB transaction as the batch that moves the consumed
positions past it (so a crash records it either with that batch or not at all, and a record
read again after a restart is not recorded twice: one row per topic, partition and offset).
The dead-letter topic gets a copy after the commit (`projections.deadletters`).

Kinds: "decode" (bad bytes, an unknown schema id, a contract violation), "apply" (a value a
mirror or a view rejects), "missing" (a unit of work applied without events announced by its
END marker that never arrived decodable).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb

from projections.errors import UnknownErrorEntry
from projections.sqlfiles import statements

Headers = tuple[tuple[str, bytes | None], ...]


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    """One failed record, as recorded.

    Attributes:
        kind: "decode", "apply" or "missing".
        reason: why it failed, as the decoder or DuckDB said it.
        topic: the record's topic (the transaction topic for "missing").
        partition: its partition.
        offset: its offset (the END marker's for "missing").
        raw_key: the record's key bytes.
        raw_value: the record's value bytes.
        headers: the record's headers.
        uow_id: its unit of work, once known.
        commit_lsn: that unit's commit LSN, once known.
        source_table: SCHEMA.TABLE the topic carries, when known.
        key_text: the decoded key as JSON, when the key could be decoded.
    """

    kind: str
    reason: str
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    raw_key: bytes | None = None
    raw_value: bytes | None = None
    headers: Headers = ()
    uow_id: str | None = None
    commit_lsn: int | None = None
    source_table: str | None = None
    key_text: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorEntry:
    """A row of the error table.

    Attributes:
        id: its id (what `offload errors show/replay` take).
        first_seen: when it was recorded, naive UTC.
        status: "open" or "replayed".
        replayed_at: when it was replayed, or None.
        dlq_sent: whether it was produced to the dead-letter topic.
        record: the failed record.
    """

    id: int
    first_seen: datetime
    status: str
    replayed_at: datetime | None
    dlq_sent: bool
    record: ErrorRecord = field(repr=False)

    def as_json(self, with_bytes: bool = False) -> dict[str, Any]:
        """The entry as JSON-able values; bytes as base64 only when `with_bytes`."""
        r = self.record
        out: dict[str, Any] = {
            "id": self.id,
            "first_seen": self.first_seen.isoformat(),
            "kind": r.kind,
            "status": self.status,
            "topic": r.topic,
            "partition": r.partition,
            "offset": r.offset,
            "uow_id": r.uow_id,
            "commit_lsn": r.commit_lsn,
            "source_table": r.source_table,
            "key": r.key_text,
            "reason": r.reason,
            "replayed_at": None if self.replayed_at is None else self.replayed_at.isoformat(),
            "dlq_sent": self.dlq_sent,
        }
        if with_bytes:
            out["raw_key"] = _b64(r.raw_key)
            out["raw_value"] = _b64(r.raw_value)
            out["headers"] = [[name, _b64(value)] for name, value in r.headers]
        return out


def record_errors(con: duckdb.DuckDBPyConnection, records: Iterable[ErrorRecord]) -> int:
    """Insert records inside the caller's open transaction; a known record only gains the
    unit of work it was attributed to since.

    Returns:
        the number of records written.
    """
    sql = statements("errors.sql")["insert"]
    now = _now()
    written = 0
    for r in records:
        con.execute(
            sql,
            {
                "first_seen": now,
                "kind": r.kind,
                "topic": r.topic,
                "partition": r.partition,
                "offset": r.offset,
                "uow_id": r.uow_id,
                "commit_lsn": r.commit_lsn,
                "source_table": r.source_table,
                "key_text": r.key_text,
                "raw_key": r.raw_key,
                "raw_value": r.raw_value,
                "headers": headers_json(r.headers),
                "reason": r.reason,
            },
        )
        written += 1
    return written


def list_errors(con: duckdb.DuckDBPyConnection, status: str | None = None) -> list[ErrorEntry]:
    """Every entry, oldest first; only those with `status` when given."""
    rows = con.execute(statements("errors.sql")["select_all"]).fetchall()
    entries = [_entry(row) for row in rows]
    return [e for e in entries if status is None or e.status == status]


def get_error(con: duckdb.DuckDBPyConnection, entry_id: int) -> ErrorEntry:
    """The entry with this id.

    Raises:
        UnknownErrorEntry: no entry has it.
    """
    row = con.execute(statements("errors.sql")["select_one"], {"id": entry_id}).fetchone()
    if row is None:
        raise UnknownErrorEntry(entry_id)
    return _entry(row)


def undelivered(con: duckdb.DuckDBPyConnection) -> list[ErrorEntry]:
    """Entries not yet produced to the dead-letter topic."""
    rows = con.execute(statements("errors.sql")["select_undelivered"]).fetchall()
    return [_entry(row) for row in rows]


def mark_delivered(con: duckdb.DuckDBPyConnection, ids: Sequence[int]) -> None:
    """Note that these entries reached the dead-letter topic."""
    sql = statements("errors.sql")["mark_delivered"]
    for entry_id in ids:
        con.execute(sql, {"id": entry_id})


def mark_replayed(con: duckdb.DuckDBPyConnection, ids: Sequence[int]) -> None:
    """Close entries whose record was applied again (inside the replay's transaction)."""
    sql = statements("errors.sql")["mark_replayed"]
    now = _now()
    for entry_id in ids:
        con.execute(sql, {"id": entry_id, "now": now})


def set_reason(con: duckdb.DuckDBPyConnection, entry_id: int, reason: str) -> None:
    """Replace an entry's reason (a replay that failed again, for another cause)."""
    con.execute(statements("errors.sql")["set_reason"], {"id": entry_id, "reason": reason})


def count_open(con: duckdb.DuckDBPyConnection) -> int:
    """How many entries wait for a replay."""
    row = con.execute(statements("errors.sql")["count_open"]).fetchone()
    return int(row[0]) if row else 0


def headers_json(headers: Headers) -> str:
    """Headers as stored: JSON pairs of name and base64 value (exact bytes, null kept)."""
    return json.dumps([[name, _b64(value)] for name, value in headers])


def headers_from_json(text: str | None) -> Headers:
    """The inverse of `headers_json`."""
    if not text:
        return ()
    pairs = json.loads(text)
    return tuple(
        (str(name), None if value is None else base64.b64decode(value)) for name, value in pairs
    )


def _entry(row: tuple[Any, ...]) -> ErrorEntry:
    (entry_id, first_seen, kind, topic, partition, offset, uow_id, commit_lsn, table) = row[:9]
    (key_text, raw_key, raw_value, headers, reason, status, replayed_at, sent) = row[9:]
    record = ErrorRecord(
        kind=kind,
        reason=reason,
        topic=topic,
        partition=partition,
        offset=offset,
        raw_key=None if raw_key is None else bytes(raw_key),
        raw_value=None if raw_value is None else bytes(raw_value),
        headers=headers_from_json(headers),
        uow_id=uow_id,
        commit_lsn=commit_lsn,
        source_table=table,
        key_text=key_text,
    )
    return ErrorEntry(int(entry_id), first_seen, status, replayed_at, bool(sent), record)


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
