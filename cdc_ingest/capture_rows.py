"""CD rows of several tables merged into one commit-ordered batch of units of work.

The capture reader (`cdc_ingest.source`) opens one cursor per CD table, ordered by (LSN,
IBMSNAP_INTENTSEQ); `tagged` turns each into merge items, `heapq.merge` interleaves them
lazily, and `build_batch` converts only the rows kept (with one compiled row reader per
catalog, `ChangeBuilder`) and groups them into `UnitOfWork`s.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from db2.dialect import Dialect, RowReader
from db2.errors import SourceError
from event_contract.catalog import Column, Table
from event_contract.changes import Op, RowChange, UnitOfWork

UOW_END = 2**62
"""An IBMSNAP_INTENTSEQ beyond any real one: Position(lsn, UOW_END) is after all of unit lsn."""
FETCH_ROWS = 500
"""Rows fetched from a CD table's cursor at a time."""

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

    units: tuple[UnitOfWork, ...]
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
        tables: Sequence[tuple[Table, bool]],
        readers: dict[tuple[Column, ...], RowReader],
    ) -> None:
        """Args: the dialect; per merge index, the table and whether its CD rows carry
        before images; the compiled row readers, by catalog (shared across reads)."""
        self.dialect = dialect
        self.plans = []
        for table, has_before in tables:
            columns = table.columns
            reader = readers.get(columns)
            if reader is None:
                reader = readers[columns] = dialect.row_reader(columns)
            before_at = 3 + len(columns) if has_before else None
            self.plans.append((table.qualified_name, reader, before_at))

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


def build_batch(
    picked: Sequence[Picked],
    convert: ChangeBuilder,
    *,
    headers: Mapping[int, tuple[str, Any]],
    after: Position,
    newest: int,
    max_rows: int,
    catalog: Mapping[str, Table],
) -> ChangeBatch:
    """Group the merged CD rows (one more than asked for, when there are more) into units."""
    full = len(picked) > max_rows
    rows = picked[:max_rows]
    units = []
    for raw_lsn, group in itertools.groupby(rows, key=lambda row: row[0]):
        lsn = convert.lsn(raw_lsn)
        if lsn not in headers:
            raise SourceError(f"capture rows at LSN {lsn} have no IBMSNAP_UOW row")
        uow_id, commit_time = headers[lsn]
        units.append(UnitOfWork(lsn, uow_id, commit_time, tuple(map(convert, group))))
    if full:
        position = Position(convert.lsn(rows[-1][0]), convert.lsn(rows[-1][1]))
        last_complete = picked[max_rows][0] != rows[-1][0]
    else:
        # Everything committed up to `newest` was read in this transaction.
        position = Position.after_unit(newest) if newest >= after.lsn else after
        last_complete = True
    return ChangeBatch(tuple(units), position, newest, last_complete, dict(catalog))
