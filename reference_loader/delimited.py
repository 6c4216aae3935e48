"""Reading CSV extracts: a header row, then one record a row, typed by declared fields."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from reference_loader.errors import LayoutError
from reference_loader.fieldtypes import ExtractField, from_text
from reference_loader.records import InvalidField, InvalidValue, Location, Record, Reject


def read_csv(
    lines: Iterable[str],
    fields: Sequence[ExtractField],
    *,
    delimiter: str = ",",
    source: str = "",
) -> Iterator[Record | Reject]:
    """Read a CSV extract whose header row names its columns.

    Args:
        lines: the text's lines with their line ends (a text stream opened with
            `newline=""`, or `textlines.decoded_lines` of a binary one).
        fields: the declared fields; every one must be a header column. Columns that are not
            declared are not read.
        delimiter: the field separator (one character).
        source: the file name, for error messages.

    Yields:
        A `Record` per data row (location: the line the row starts on; blank lines are
        skipped and not numbered) or a `Reject` for a row with a wrong number of columns or
        a value that does not fit its type. An undecodable byte ends the stream with a fatal
        `Reject`.

    Raises:
        LayoutError: no header row, a declared field missing from it, or a column named twice.
    """
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = next(reader, None)
    except UnicodeDecodeError as exc:
        raise LayoutError(f"header row is not valid text: {exc.reason}", source=source) from exc
    if not header:
        raise LayoutError("has no header row", source=source)
    positions = _positions(header, fields, source)
    number, line = 0, reader.line_num
    while True:
        try:
            row = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as exc:
            reason = f"not valid text: {exc}" if isinstance(exc, UnicodeDecodeError) else str(exc)
            yield Reject(number + 1, Location("line", line + 1), None, reason, fatal=True)
            return
        if row is None:
            return
        start, line = line + 1, reader.line_num
        if not row:
            continue
        number += 1
        where = Location("line", start)
        if len(row) != len(header):
            reason = f"row has {len(row)} columns, the header has {len(header)}"
            yield Reject(number, where, None, reason)
            continue
        try:
            yield Record(number, where, _typed(row, positions))
        except InvalidField as exc:
            yield Reject(number, where, exc.field, exc.reason)


def _positions(
    header: list[str], fields: Sequence[ExtractField], source: str
) -> list[tuple[ExtractField, int]]:
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        if name in columns:
            raise LayoutError(f"header names column '{name}' twice", source=source)
        columns[name] = index
    missing = [f.name for f in fields if f.name not in columns]
    if missing:
        raise LayoutError(
            f"header row lacks declared field(s) {', '.join(missing)} "
            f"(header: {', '.join(header)})",
            source=source,
        )
    return [(f, columns[f.name]) for f in fields]


def _typed(row: list[str], positions: list[tuple[ExtractField, int]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field, index in positions:
        cell = row[index]
        if cell == "":
            if not field.nullable:
                raise InvalidField(field.name, 0, "missing value (the field is not nullable)")
            values[field.name] = None
            continue
        try:
            values[field.name] = from_text(field.type, cell)
        except InvalidValue as exc:
            raise InvalidField(field.name, 0, str(exc)) from exc
    return values
