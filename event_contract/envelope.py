"""Row changes → Debezium change-event envelopes, keys and transaction markers (pure).

Part of the event contract: the dicts built here are what `codec` encodes with the schemas of
`avro_types`, and what a reader decodes. No I/O.

Ordering inside a unit of work: `total_order` numbers its events 1, 2, ... across tables, and
`data_collection_order` numbers them per table, as Debezium does. An update that changes the
primary key becomes two events, a delete of the old key then a create of the new key (so the
old key's tombstone compacts it away), and counts as two in the END marker. Tombstones are not
change events and are not counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, Literal

from event_contract.avro_types import CONNECTOR
from event_contract.catalog import Db2Type, Table
from event_contract.changes import Op, RowChange, UnitOfWork
from event_contract.errors import RowShapeError

Snapshot = Literal["false", "true", "last"]
Record = dict[str, Any]

_EPOCH = datetime(1970, 1, 1)
_MILLISECOND = timedelta(milliseconds=1)
_OP_CODES = {Op.INSERT: "c", Op.UPDATE: "u", Op.DELETE: "d"}


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """Who publishes: the same for every event of one capture process.

    Attributes:
        name: the topic prefix (Debezium's logical server name).
        db: the source database name (the Db2 location, or the SQLite file's stem).
        version: the gateway's version.
    """

    name: str
    db: str
    version: str = "0.1.0"


@dataclass(frozen=True, slots=True)
class TxInfo:
    """The unit of work (or snapshot chunk) that events belong to.

    Attributes:
        id: the unit of work id, or `snapshot:<SCHEMA.TABLE>:<chunk>` for a snapshot chunk.
        lsn: its commit LSN (for a snapshot chunk, the newest LSN committed when it was read).
        ts_ms: its commit time, ms since the epoch UTC.
        snapshot: "false" for captured changes; "true" for snapshot rows, "last" on the
            snapshot's last chunk. Snapshot rows get op "r".
    """

    id: str
    lsn: int
    ts_ms: int
    snapshot: Snapshot = "false"

    @classmethod
    def of(cls, uow: UnitOfWork, snapshot: Snapshot = "false") -> TxInfo:
        """The TxInfo of a unit of work (commit time naive UTC)."""
        return cls(uow.uow_id, uow.lsn, epoch_ms(uow.commit_time), snapshot)


def _no_key(row: Mapping[str, Any]) -> tuple[()]:
    return ()


class TableLayout:
    """What building events of one table needs, computed once per table (a hot path)."""

    __slots__ = ("char_columns", "columns", "key", "key_values", "schema", "table", "table_name")

    def __init__(self, table: Table) -> None:
        self.table = table
        self.schema = table.schema
        self.table_name = table.name
        self.columns = tuple(c.name for c in table.columns)
        self.key = tuple(table.primary_key)
        self.key_values: Callable[[Mapping[str, Any]], object] = (
            itemgetter(*self.key) if self.key else _no_key
        )
        """A row's primary-key values as the row holds them (CHAR blanks kept)."""
        self.char_columns = frozenset(c.name for c in table.columns if c.type is Db2Type.CHAR)


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One change event ready to encode: its table, key record and envelope record."""

    table: str
    key: Record
    value: Record


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch of a naive UTC datetime (floor)."""
    return (moment - _EPOCH) // _MILLISECOND


def row_record(layout: TableLayout, row: Mapping[str, Any], lsn: int = 0) -> Record:
    """The `Value` record of a row: every column in order, CHAR values without trailing blanks.

    Raises:
        RowShapeError: the row has a column the layout does not know.
    """
    if len(row) > len(layout.columns):
        extra = sorted(set(row) - set(layout.columns))
        raise RowShapeError(layout.table.qualified_name, lsn, extra)
    record = {name: row.get(name) for name in layout.columns}
    for name in layout.char_columns:
        value = record[name]
        if value.__class__ is str:
            record[name] = value.rstrip(" ")
    return record


def key_record(layout: TableLayout, row: Mapping[str, Any]) -> Record:
    """The `Key` record: the primary-key columns of `row`, CHAR values without trailing blanks."""
    key = {name: row[name] for name in layout.key}
    for name in layout.char_columns.intersection(key):
        if isinstance(key[name], str):
            key[name] = key[name].rstrip(" ")
    return key


def change_envelope(
    change: RowChange,
    layout: TableLayout,
    tx: TxInfo,
    source: SourceInfo,
    *,
    order: tuple[int, int],
    ts_ms: int,
) -> Record:
    """The `Envelope` record of one row change.

    Args:
        change: the row change; its `seq` becomes `source.change_lsn`.
        layout: its table's layout.
        tx: its unit of work; a snapshot `tx` makes the op "r".
        source: the publishing process.
        order: (total_order, data_collection_order), both 1-based.
        ts_ms: the publish time, ms since the epoch UTC.
    """
    before = None if change.before is None else row_record(layout, change.before, change.lsn)
    after = None if change.after is None else row_record(layout, change.after, change.lsn)
    return {
        "before": before,
        "after": after,
        "source": {
            "version": source.version,
            "connector": CONNECTOR,
            "name": source.name,
            "ts_ms": tx.ts_ms,
            "snapshot": tx.snapshot,
            "db": source.db,
            "schema": layout.schema,
            "table": layout.table_name,
            "commit_lsn": tx.lsn,
            "change_lsn": change.seq,
            "txId": tx.id,
        },
        "op": "r" if tx.snapshot != "false" else _OP_CODES[change.op],
        "ts_ms": ts_ms,
        "transaction": {
            "id": tx.id,
            "total_order": order[0],
            "data_collection_order": order[1],
        },
    }


def split_key_change(change: RowChange, layout: TableLayout) -> tuple[RowChange, ...]:
    """The change itself, or for an update that changes the primary key, a delete + an insert."""
    if change.op is not Op.UPDATE or change.before is None or change.after is None:
        return (change,)
    same = layout.key_values
    if same(change.before) == same(change.after):  # equal values: equal keys, blanks or not
        return (change,)
    if key_record(layout, change.before) == key_record(layout, change.after):
        return (change,)
    removal = RowChange(change.table, Op.DELETE, change.lsn, change.seq, change.before, None)
    creation = RowChange(change.table, Op.INSERT, change.lsn, change.seq, None, change.after)
    return (removal, creation)


def unit_events(
    uow: UnitOfWork,
    layouts: Mapping[str, TableLayout],
    source: SourceInfo,
    ts_ms: int,
    snapshot: Snapshot = "false",
) -> Iterator[ChangeEvent]:
    """Every change event of a unit of work, in change order, numbered as Debezium does.

    Args:
        uow: the unit of work (or snapshot chunk, with `snapshot` "true" or "last").
        layouts: the layout of every table it touches, by SCHEMA.TABLE.
        source: the publishing process.
        ts_ms: the publish time, ms since the epoch UTC.
        snapshot: "false" for captured changes.
    """
    tx = TxInfo.of(uow, snapshot)
    per_table: dict[str, int] = {}
    total = 0
    for original in uow.changes:
        layout = layouts[original.table]
        for change in split_key_change(original, layout):
            total += 1
            per_table[change.table] = count = per_table.get(change.table, 0) + 1
            value = change_envelope(change, layout, tx, source, order=(total, count), ts_ms=ts_ms)
            row = change.after if change.after is not None else change.before
            assert row is not None  # a RowChange always has a before or an after image
            yield ChangeEvent(change.table, key_record(layout, row), value)


def collection_counts(uow: UnitOfWork, layouts: Mapping[str, TableLayout]) -> dict[str, int]:
    """Change events per table (SCHEMA.TABLE) that `unit_events` yields for `uow`."""
    counts: dict[str, int] = {}
    for change in uow.changes:
        events = len(split_key_change(change, layouts[change.table]))
        counts[change.table] = counts.get(change.table, 0) + events
    return counts


SNAPSHOT_PREFIX = "snapshot:"
"""Unit-of-work ids of snapshot pseudo-units start with this."""
RESUMED_PREFIX = "resumed:"
"""Unit-of-work ids of resumed pseudo-units start with this: the held part of a unit of work
that touched a table blocked on an incompatible schema, published when the table caught up,
with the unit's original commit LSN (below units published meanwhile)."""
PSEUDO_PREFIXES = (SNAPSHOT_PREFIX, RESUMED_PREFIX)
"""Pseudo-units carry a commit LSN that may lie at or below the watermark: they are applied by
the per-key rule, never dropped as already applied."""


def is_pseudo(uow_id: str) -> bool:
    """Whether a unit-of-work id names a snapshot or resumed pseudo-unit."""
    return uow_id.startswith(PSEUDO_PREFIXES)


def transaction_key(tx: TxInfo) -> Record:
    """The key of a transaction marker."""
    return {"id": tx.id}


def begin_marker(tx: TxInfo, part: str | None = None, parts: int = 1) -> Record:
    """The BEGIN marker of a unit of work (of its `part` of `parts`, capture split by group)."""
    return {
        "status": "BEGIN",
        "id": tx.id,
        "ts_ms": tx.ts_ms,
        "commit_lsn": tx.lsn,
        "event_count": None,
        "data_collections": None,
        "part": part,
        "parts": parts,
    }


def end_marker(
    tx: TxInfo, counts: Mapping[str, int], part: str | None = None, parts: int = 1
) -> Record:
    """The END marker: the total and per-table event counts (tables as SCHEMA.TABLE) of the
    unit of work, or of its `part` of `parts` (capture split by table group)."""
    return {
        "status": "END",
        "id": tx.id,
        "ts_ms": tx.ts_ms,
        "commit_lsn": tx.lsn,
        "event_count": sum(counts.values()),
        "data_collections": [
            {"data_collection": table, "event_count": count} for table, count in counts.items()
        ],
        "part": part,
        "parts": parts,
    }


class PublishedHead:
    """How far capture has published: the newest unit of work whose END every capture group
    wrote (with capture split by table group, each group writes an END for every unit, in
    commit order). Feed it END markers in topic order.

    Parts are named by the markers' `part`; ENDs of parts no longer running (a deployment
    that was split differently before) do not hold the head back: it is the `parts`-th
    highest of the parts' newest ENDs.
    """

    def __init__(self) -> None:
        self._newest: dict[str | None, tuple[int, int]] = {}
        self._parts = 1

    def end(
        self, uow_id: str, commit_lsn: int, commit_ms: int, part: str | None, parts: int
    ) -> None:
        """Take an END marker: its unit's id, commit LSN and time, its part and how many parts
        (a pseudo-unit has one part, and its LSN is not above its group's stream)."""
        if not is_pseudo(uow_id):
            self._parts = max(parts, 1)
        current = self._newest.get(part)
        if current is None or commit_lsn > current[0]:
            self._newest[part] = (commit_lsn, commit_ms)

    @property
    def head(self) -> tuple[int, int] | None:
        """(commit LSN, commit ms) of the newest unit every part ended, None before that."""
        if len(self._newest) < self._parts:
            return None
        return sorted(self._newest.values(), reverse=True)[self._parts - 1]
