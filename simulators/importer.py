"""Bulk load of a CSV file into a table of the simulated Db2, one unit of work per batch.

The first record names the columns (case-insensitive, any subset that includes every NOT NULL
column without a default). Values are parsed per the column's Db2 type; an empty field is NULL.
TIMESTAMP accepts ISO text ("2024-03-01 06:00:00.123456") and Db2's own form
("2024-03-01-06.00.00.123456").
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, time
from decimal import Context, Decimal, InvalidOperation
from pathlib import Path

from event_contract.catalog import Column, Db2Type, Table
from simulators.errors import ImportFileError
from simulators.sor import SystemOfRecord

_DB2_TIMESTAMP = "%Y-%m-%d-%H.%M.%S.%f"


def parse_value(column: Column, text: str) -> object:
    """A CSV field → the Python value of `column` (per `event_contract.catalog`).

    Raises:
        ValueError: the text does not fit the column's type.
    """
    if text == "":
        return None
    kind = column.type
    if kind in (Db2Type.SMALLINT, Db2Type.INTEGER, Db2Type.BIGINT):
        return int(text)
    if kind is Db2Type.DECIMAL:
        return _decimal(column, text)
    if kind is Db2Type.DOUBLE:
        return float(text)
    if kind is Db2Type.DATE:
        return date.fromisoformat(text)
    if kind is Db2Type.TIME:
        return time.fromisoformat(text.replace(".", ":"))
    if kind is Db2Type.TIMESTAMP:
        if len(text) > 10 and text[10] == "-":
            return datetime.strptime(text, _DB2_TIMESTAMP)
        return datetime.fromisoformat(text)
    if column.length is not None and len(text.rstrip(" ")) > column.length:
        raise ValueError(f"{len(text)} characters do not fit {column.type_sql}")
    return text


def _decimal(column: Column, text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not a number") from exc
    scale = column.scale or 0
    exact = Context(prec=64)
    if not value.is_finite() or value != value.quantize(Decimal(1).scaleb(-scale), context=exact):
        raise ValueError(f"{text} has more than {scale} decimal places")
    if len(value.as_tuple().digits) - max(0, -int(value.as_tuple().exponent) - scale) > (
        column.length or 31
    ):
        raise ValueError(f"{text} does not fit {column.type_sql}")
    return value


def count_records(path: Path) -> int:
    """Data records in the CSV file (for the progress bar)."""
    with path.open(newline="", encoding="utf-8") as handle:
        return max(0, sum(1 for _ in csv.reader(handle)) - 1)


def _records(path: Path, table: Table) -> Iterator[tuple[int, dict[str, object]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise ImportFileError(str(path), 1, "the file has no header record")
        try:
            columns = [table.column(name.strip()) for name in header]
        except Exception as exc:
            raise ImportFileError(str(path), 1, str(exc)) from exc
        for number, record in enumerate(reader, start=2):
            if len(record) != len(columns):
                raise ImportFileError(
                    str(path), number, f"has {len(record)} fields, the header has {len(columns)}"
                )
            row = {}
            for column, text in zip(columns, record, strict=True):
                try:
                    row[column.name] = parse_value(column, text)
                except ValueError as exc:
                    raise ImportFileError(
                        str(path), number, f"column {column.name}: {exc}"
                    ) from exc
            yield number, row


def import_csv(
    sor: SystemOfRecord,
    table_name: str,
    path: Path,
    batch: int,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[int]:
    """Load `path` into `table_name`, `batch` records per unit of work.

    Args:
        on_batch: called with (records in the batch, its LSN) after each commit.

    Returns:
        The LSN of each unit of work, in order.

    Raises:
        ImportFileError: naming the file and the record number; the batch is rolled back (the
            batches before it stay committed, as separate units of work do on Db2).
    """
    if not path.is_file():
        raise ImportFileError(str(path), 0, "the file does not exist")
    table = sor.table(table_name)
    lsns: list[int] = []
    pending: list[tuple[int, dict[str, object]]] = []
    for item in _records(path, table):
        pending.append(item)
        if len(pending) >= batch:
            lsns.append(_commit(sor, table, path, pending, on_batch))
            pending = []
    if pending:
        lsns.append(_commit(sor, table, path, pending, on_batch))
    return lsns


def _commit(
    sor: SystemOfRecord,
    table: Table,
    path: Path,
    pending: Sequence[tuple[int, dict[str, object]]],
    on_batch: Callable[[int, int], None] | None,
) -> int:
    try:
        with sor.unit_of_work() as unit:
            unit.insert(table, [row for _, row in pending])
    except Exception as exc:
        first, last = pending[0][0], pending[-1][0]
        raise ImportFileError(
            str(path), first, f"batch of records {first}-{last} was rolled back: {exc}"
        ) from exc
    if on_batch is not None:
        on_batch(len(pending), unit.lsn)
    return unit.lsn
