"""CD rows of several tables merged into one commit-ordered batch of units of work.

The capture reader (`cdc_ingest.source`) opens one cursor per CD table, ordered by (LSN,
IBMSNAP_INTENTSEQ); `tagged` turns each into merge items, `heapq.merge` interleaves them
lazily, and `build_batch` converts only the rows kept (with one compiled row reader per
catalog, `ChangeBuilder`) and groups them into `UnitOfWork`s.

Updates captured as delete and insert (a table registered with ASN's CHG_UPD_TO_DEL_INS = 'Y')
come as a `D` row (the old row) immediately followed by an `I` row (the new one). `build_batch`
turns such a pair with the same primary key back into the one update it was, so every CD-table
flavor gives the same change events: as Debezium's Db2 connector pairs a `D` with the `I`
after it, but only in tables registered that way and only for the same key (an update that
changed the key stays a delete and an insert, the events a key-changing `U` row gives too). A
pair is never cut between two batches. The update's position is the `D` row's.

A unit of work with at least `bulk_rows` rows in the batch (a batch job's) is not converted
row by row: it comes as a `BulkUnit` holding the raw rows, which capture encodes a column at
a time (`bulk_events`), or converts on demand (`BulkUnit.changes`) when that path declines.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from cdc_ingest.bulk_events import TableRows
from db2.dialect import Dialect, RowReader
from db2.errors import SourceError
from event_contract.catalog import Column, Table
from event_contract.changes import Op, RowChange, UnitOfWork

UOW_END = 2**62
"""An IBMSNAP_INTENTSEQ beyond any real one: Position(lsn, UOW_END) is after all of unit lsn."""
FETCH_ROWS = 500
"""Rows fetched from a CD table's cursor at a time."""

LOOKAHEAD = 2
"""Rows read beyond `max_rows`: one to know whether more follow, one more to keep a `D` + `I`
pair that straddles the limit whole."""

Picked = tuple[Any, Any, int, Sequence[Any]]
"""A CD row before conversion: (LSN, IBMSNAP_INTENTSEQ as the driver returns them, index of
its registration, the raw row)."""


class Position(NamedTuple):
    """The last row consumed: (LSN, IBMSNAP_INTENTSEQ). Position(0, 0) is the beginning."""

    lsn: int
    seq: int

    @classmethod
    def after_unit(cls, lsn: int) -> Position:
        """The position just after every row of unit of work `lsn`."""
        return cls(lsn, UOW_END)


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    """One read of the capture tables.

    Attributes:
        units: units of work in commit order; the first may continue one begun in the previous
            batch, the last may stop short of its end (see `last_complete`).
        position: where the next read continues.
        newest_lsn: newest committed LSN when the batch was read.
        last_complete: whether the last unit's final row is in this batch.
        tables: the catalog the values were read with, SCHEMA.TABLE → Table.
    """

    units: tuple[UnitOfWork | BulkUnit, ...]
    position: Position
    newest_lsn: int
    last_complete: bool
    tables: Mapping[str, Table]


def tagged(index: int, cursor: Any) -> Iterator[Picked]:
    """The rows of one CD table's cursor as merge items, ordered by (LSN, INTENTSEQ)."""
    while rows := cursor.fetchmany(FETCH_ROWS):
        for row in rows:
            yield (row[0], row[1], index, row)


class ChangeBuilder:
    """Converts picked CD rows into `RowChange`s, with one compiled row reader per catalog."""

    def __init__(
        self,
        dialect: Dialect,
        tables: Sequence[tuple[Table, bool, bool]],
        readers: dict[tuple[Column, ...], RowReader],
    ) -> None:
        """Args: the dialect; per merge index, the table, whether its CD rows carry before
        images and whether its updates come as `D` + `I` pairs; the compiled row readers, by
        catalog (shared across reads)."""
        self.dialect = dialect
        self.tables = tuple(tables)
        self.plans = []
        self.paired: dict[str, tuple[str, ...]] = {}
        """Tables whose updates come as pairs → their primary-key columns."""
        self._paired_index: set[int] = set()
        for index, (table, has_before, as_pairs) in enumerate(tables):
            columns = table.columns
            reader = readers.get(columns)
            if reader is None:
                reader = readers[columns] = dialect.row_reader(columns)
            before_at = 3 + len(columns) if has_before else None
            self.plans.append((table.qualified_name, reader, before_at))
            if as_pairs:
                self.paired[table.qualified_name] = tuple(table.primary_key)
                self._paired_index.add(index)

    def straddles(self, first: Picked, second: Picked) -> bool:
        """Whether two consecutive CD rows may be a `D` + `I` pair (not to be cut apart)."""
        return (
            first[2] in self._paired_index
            and first[2] == second[2]
            and first[0] == second[0]
            and str(first[3][2]).strip() == "D"
            and str(second[3][2]).strip() == "I"
        )

    def lsn(self, raw: object) -> int:
        """An LSN (or INTENTSEQ) as the driver returned it, as an int."""
        return raw if raw.__class__ is int else self.dialect.lsn_from_db(raw)

    def __call__(self, picked: Picked) -> RowChange:
        table, read, before_at = self.plans[picked[2]]
        raw = picked[3]
        op = _OPS.get(raw[2]) or Op(str(raw[2]).strip())
        lsn, seq = self.lsn(picked[0]), self.lsn(picked[1])
        if op is Op.INSERT:
            return RowChange(table, op, lsn, seq, None, read(raw, 3))
        image = read(raw, 3)
        if op is Op.DELETE:
            # ASN writes a deleted row's values in the after-image columns too.
            before = image if before_at is None else read(raw, before_at)
            return RowChange(table, op, lsn, seq, before, None)
        prior = None if before_at is None else read(raw, before_at)
        return RowChange(table, op, lsn, seq, prior, image)


_OPS = {op.value: op for op in Op}


@dataclass(frozen=True, slots=True)
class BulkUnit:
    """A unit of work (or its piece in this batch) whose CD rows stay as the driver returned
    them, for capture's column-at-a-time path.

    Attributes:
        lsn, uow_id, commit_time: as `UnitOfWork`'s.
        rows: its CD rows in commit order (every table), as merged.
        builder: converts them row by row.
    """

    lsn: int
    uow_id: str
    commit_time: datetime
    rows: tuple[Picked, ...]
    builder: ChangeBuilder

    @property
    def changes(self) -> tuple[RowChange, ...]:
        """The unit's changes, converted row by row (the per-event path)."""
        changes = list(map(self.builder, self.rows))
        if self.builder.paired:
            changes = pair_updates(changes, self.builder.paired)
        return tuple(changes)

    def tables(self) -> list[TableRows]:
        """The rows of each table, in the order the tables first change in the unit."""
        grouped: dict[int, tuple[list[Sequence[Any]], list[int], list[int]]] = {}
        lsn = self.builder.lsn
        for position, picked in enumerate(self.rows):
            rows, seqs, positions = grouped.setdefault(picked[2], ([], [], []))
            rows.append(picked[3])
            seqs.append(lsn(picked[1]))
            positions.append(position)
        out = []
        for index, (rows, seqs, positions) in grouped.items():
            table, has_before, pairs = self.builder.tables[index]
            out.append(TableRows(table, rows, seqs, positions, has_before, pairs))
        return out


def build_batch(
    picked: Sequence[Picked],
    convert: ChangeBuilder,
    *,
    headers: Mapping[int, tuple[str, Any]],
    after: Position,
    newest: int,
    max_rows: int,
    catalog: Mapping[str, Table],
    bulk_rows: int | None = None,
) -> ChangeBatch:
    """Group the merged CD rows (up to `LOOKAHEAD` more than asked for, when there are more)
    into units; a `D` + `I` pair at the limit is kept whole (one row more). A unit with at
    least `bulk_rows` rows here comes as a `BulkUnit` (None: never)."""
    take = max_rows
    if len(picked) > take and convert.straddles(picked[take - 1], picked[take]):
        take += 1
    full = len(picked) > take
    rows = picked[:take]
    units: list[UnitOfWork | BulkUnit] = []
    for raw_lsn, group in itertools.groupby(rows, key=lambda row: row[0]):
        lsn = convert.lsn(raw_lsn)
        if lsn not in headers:
            raise SourceError(f"capture rows at LSN {lsn} have no IBMSNAP_UOW row")
        uow_id, commit_time = headers[lsn]
        raw = tuple(group)
        if bulk_rows is not None and len(raw) >= bulk_rows:
            units.append(BulkUnit(lsn, uow_id, commit_time, raw, convert))
            continue
        changes = list(map(convert, raw))
        if convert.paired:
            changes = pair_updates(changes, convert.paired)
        units.append(UnitOfWork(lsn, uow_id, commit_time, tuple(changes)))
    if full:
        position = Position(convert.lsn(rows[-1][0]), convert.lsn(rows[-1][1]))
        last_complete = picked[take][0] != rows[-1][0]
    else:
        # Everything committed up to `newest` was read in this transaction.
        position = Position.after_unit(newest) if newest >= after.lsn else after
        last_complete = True
    return ChangeBatch(tuple(units), position, newest, last_complete, dict(catalog))


def with_every_unit(
    batch: ChangeBatch, after: Position, headers: Sequence[tuple[int, str, datetime]], cut: bool
) -> ChangeBatch:
    """The batch with an empty unit of work for each unit in `headers` that has no rows in it.

    Capture split by table group: every group writes a BEGIN and an END for every unit of
    work, also those that changed none of its tables, so the read side knows when a unit is
    whole. `headers` are (LSN, id, commit time) of the units after `after`, in LSN order, up
    to at least where the batch ends; `cut`: the list stopped at a limit, so the batch ends
    at its last unit (units and rows after it are left to the next read).
    """
    end = batch.position
    if cut and headers and headers[-1][0] < end.lsn:
        end = Position.after_unit(headers[-1][0])
    units = [u for u in batch.units if u.lsn <= end.lsn]
    have = {u.lsn for u in units}
    units += [
        UnitOfWork(lsn, uow_id, commit_time, ())
        for lsn, uow_id, commit_time in headers
        if after.lsn < lsn <= end.lsn and lsn not in have
    ]
    units.sort(key=lambda u: u.lsn)
    last_complete = batch.last_complete if end == batch.position else True
    return ChangeBatch(tuple(units), end, batch.newest_lsn, last_complete, batch.tables)


def pair_updates(
    changes: Sequence[RowChange], paired: Mapping[str, Sequence[str]]
) -> list[RowChange]:
    """The changes of one unit of work with each `D` + `I` pair of a `paired` table (SCHEMA.TABLE
    → primary-key columns) on the same key turned into the update it was."""
    out: list[RowChange] = []
    i = 0
    while i < len(changes):
        change = changes[i]
        keys = paired.get(change.table)
        if keys is not None and change.op is Op.DELETE and i + 1 < len(changes):
            after = changes[i + 1]
            if (
                after.op is Op.INSERT
                and after.table == change.table
                and change.before is not None
                and after.after is not None
                and all(change.before[k] == after.after[k] for k in keys)
            ):
                out.append(
                    RowChange(
                        change.table, Op.UPDATE, change.lsn, change.seq, change.before, after.after
                    )
                )
                i += 2
                continue
        out.append(change)
        i += 1
    return out
