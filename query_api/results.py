"""Rendering of result rows as JSON-safe values, CSV and Arrow IPC (pure functions)."""

from __future__ import annotations

import base64
import csv
import io
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa

JSON = "application/json"
CSV = "text/csv"
ARROW = "application/vnd.apache.arrow.stream"
MEDIA_TYPES = (JSON, CSV, ARROW)


def jsonable(value: Any) -> Any:
    """`value` as JSON can carry it exactly: DECIMAL as a string, times as ISO 8601 text,
    bytes as base64, NaN/Infinity as strings."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value).replace("inf", "Infinity")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [jsonable(v) for v in value]
    return str(value)


# DuckDB types whose Python values JSON carries as they are (no `jsonable` call per value).
_JSON_NATIVE_TYPES = frozenset(
    {"BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
     "UINTEGER", "UBIGINT", "HUGEINT", "UHUGEINT", "VARCHAR"}
)  # fmt: skip


def rows_as_dicts(
    description: Sequence[Sequence[Any]], rows: Iterable[Sequence[Any]]
) -> list[dict[str, Any]]:
    """Rows (tuples) as JSON-safe dicts keyed by column name.

    Args:
        description: the cursor's `description` (name and DuckDB type of each column); only
            the values of columns whose type JSON cannot carry as is go through `jsonable`.
        rows: the rows, as fetched.
    """
    names = [str(column[0]) for column in description]
    special = [
        (names[i], i)
        for i, column in enumerate(description)
        if str(column[1]) not in _JSON_NATIVE_TYPES
    ]
    items = []
    for row in rows:
        item = dict(zip(names, row, strict=True))
        for name, i in special:
            item[name] = jsonable(row[i])
        items.append(item)
    return items


def table_as_dicts(table: pa.Table) -> list[dict[str, Any]]:
    """An Arrow table as JSON-safe dicts."""
    return [{k: jsonable(v) for k, v in row.items()} for row in table.to_pylist()]


def table_as_csv(table: pa.Table) -> str:
    """An Arrow table as CSV text with a header line; nested values as JSON-ish text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow(["" if v is None else _csv_cell(jsonable(v)) for v in row.values()])
    return out.getvalue()


def _csv_cell(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def table_as_ipc(table: pa.Table) -> bytes:
    """An Arrow table as an Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def choose_media_type(accept: str | None) -> str | None:
    """The media type to answer with for an Accept header; None if none fits (406)."""
    if not accept or not accept.strip():
        return JSON
    for part in (p.split(";")[0].strip().lower() for p in accept.split(",")):
        if part in MEDIA_TYPES:
            return part
        if part in ("*/*", "application/*"):
            return JSON
        if part == "text/*":
            return CSV
    return None
