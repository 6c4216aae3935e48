"""The capture position: everything a restarted capture needs to continue exactly once.

One `CapturePosition` is written in every Kafka transaction of the publisher, as the value of
the record keyed `position:<group>` in the compacted `<prefix>.cdc-offsets` topic; the one in
the last committed transaction is where a restart continues. It holds:

- `lsn`, `seq`: the last capture row consumed (ASN's IBMSNAP_COMMITSEQ, IBMSNAP_INTENTSEQ);
  `seq` is `source.UOW_END` when the whole unit of work `lsn` was consumed;
- `open_unit`: a unit of work larger than `capture.max_events_per_transaction` that is split
  across Kafka transactions, with the events published so far per table (its END marker, in
  a later transaction, needs them);
- `tables`: every table capture has started for, with its state (running, blocked on an
  incompatible schema change, catching up after one was resolved);
- `snapshots`: snapshots in progress: the last primary key published per table;
- figures for `cdc status`: events published in total, commit time of the newest unit
  published, publish time;
- `split`: the deployment's `capture.split` it was written under (`cdc_ingest.groups`).

Operator decisions (`cdc resume TABLE --accept-incompatible`) and snapshot requests
(`cdc snapshot TABLE...`) are separate records of the same topic (`decision:<group>:<TABLE>`,
`snapshot:<group>:<TABLE>`), written by the CLI and read by the running publisher.

Pure: JSON in and out, no I/O. Key values of snapshot progress keep their Python types
(Decimal, date, time, datetime) through a small tagged JSON form.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Literal

TableStatus = Literal["running", "blocked", "catching_up"]
Key = tuple[object, ...]

POSITION_KEY = "position"
DECISION_KEY = "decision"
SNAPSHOT_KEY = "snapshot"


def record_key(kind: str, group: str, table: str | None = None) -> bytes:
    """Key of a cdc-offsets record: `position:<group>`, `decision:<group>:<TABLE>`, ..."""
    parts = [kind, group] + ([table.upper()] if table else [])
    return ":".join(parts).encode()


@dataclass(frozen=True, slots=True)
class OpenUnit:
    """A unit of work split across Kafka transactions: published so far, END still to come.

    Attributes:
        lsn: its commit LSN.
        uow_id: its id.
        ts_ms: its commit time, ms since the epoch UTC.
        counts: change events published so far per table (SCHEMA.TABLE).
    """

    lsn: int
    uow_id: str
    ts_ms: int
    counts: dict[str, int]

    @property
    def total(self) -> int:
        """Events published so far."""
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class TableState:
    """Where capture of one table stands.

    Attributes:
        status: "running"; "blocked" on an incompatible schema change (its changes after
            `held_after` are held); "catching_up" once resolved, publishing the held changes.
        held_after: (lsn, seq) of the last change of this table published before it was
            blocked; its later changes are held until the block is resolved.
        refused_schema_id: the id of the value schema that was refused.
        reason: the message naming table, column and both types.
        snapshot_ms: time of the last snapshot request already carried out.
    """

    status: TableStatus = "running"
    held_after: tuple[int, int] | None = None
    refused_schema_id: int | None = None
    reason: str | None = None
    snapshot_ms: int = 0


@dataclass(frozen=True, slots=True)
class SnapshotProgress:
    """A snapshot in progress: chunks published and the last primary key published."""

    chunks: int = 0
    last_key: Key | None = None
    rows: int = 0


@dataclass(frozen=True, slots=True)
class CapturePosition:
    """The committed state of capture (see the module docstring)."""

    lsn: int = 0
    seq: int = 0
    open_unit: OpenUnit | None = None
    tables: dict[str, TableState] = field(default_factory=dict)
    snapshots: dict[str, SnapshotProgress] = field(default_factory=dict)
    events: int = 0
    commit_ms: int = 0
    published_ms: int = 0
    split: dict[str, list[str]] = field(default_factory=dict)

    def with_table(self, name: str, state: TableState) -> CapturePosition:
        """A copy with `name`'s state replaced."""
        return replace(self, tables={**self.tables, name: state})

    def blocked(self) -> dict[str, TableState]:
        """Tables whose changes are held (blocked or catching up)."""
        return {n: t for n, t in self.tables.items() if t.status != "running"}

    def to_json(self) -> bytes:
        """The record value."""
        data = asdict(self)
        data["open_unit"] = None if self.open_unit is None else asdict(self.open_unit)
        data["snapshots"] = {
            name: {"chunks": p.chunks, "rows": p.rows, "last_key": _key_out(p.last_key)}
            for name, p in self.snapshots.items()
        }
        return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> CapturePosition:
        """Parse a record value written by `to_json`.

        Raises:
            ValueError: it is not one.
        """
        data = json.loads(raw)
        unit = data.get("open_unit")
        tables = {}
        for name, t in data.get("tables", {}).items():
            held = t.get("held_after")
            tables[name] = TableState(
                status=t["status"],
                held_after=None if held is None else (int(held[0]), int(held[1])),
                refused_schema_id=t.get("refused_schema_id"),
                reason=t.get("reason"),
                snapshot_ms=int(t.get("snapshot_ms", 0)),
            )
        snapshots = {
            name: SnapshotProgress(int(p["chunks"]), _key_in(p["last_key"]), int(p["rows"]))
            for name, p in data.get("snapshots", {}).items()
        }
        return cls(
            lsn=int(data["lsn"]),
            seq=int(data["seq"]),
            open_unit=None if unit is None else OpenUnit(**unit),
            tables=tables,
            snapshots=snapshots,
            events=int(data.get("events", 0)),
            commit_ms=int(data.get("commit_ms", 0)),
            published_ms=int(data.get("published_ms", 0)),
            split={str(g): [str(t) for t in ts] for g, ts in data.get("split", {}).items()},
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """An operator's `cdc resume TABLE --accept-incompatible`: accept this value schema."""

    table: str
    schema_id: int
    decided_ms: int

    def to_json(self) -> bytes:
        """The record value."""
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Decision:
        """Parse a record value written by `to_json`."""
        data = json.loads(raw)
        return cls(str(data["table"]), int(data["schema_id"]), int(data["decided_ms"]))


_TAGS: dict[str, Any] = {
    "decimal": Decimal,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "timestamp": datetime.fromisoformat,
}


def _key_out(key: Key | None) -> list[Any] | None:
    if key is None:
        return None
    out: list[Any] = []
    for value in key:
        if isinstance(value, Decimal):
            out.append(["decimal", format(value, "f")])
        elif isinstance(value, datetime):
            out.append(["timestamp", value.isoformat()])
        elif isinstance(value, date):
            out.append(["date", value.isoformat()])
        elif isinstance(value, time):
            out.append(["time", value.isoformat()])
        else:
            out.append(value)
    return out


def _key_in(raw: list[Any] | None) -> Key | None:
    if raw is None:
        return None
    return tuple(
        _TAGS[v[0]](v[1]) if isinstance(v, list) and len(v) == 2 and v[0] in _TAGS else v
        for v in raw
    )
