"""Rendering of result rows as JSON-safe values, CSV and Arrow IPC (pure functions)."""

from __future__ import annotations

import base64
import csv
import io
import math
import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

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


def table_as_dicts(table: pa.Table) -> list[dict[str, Any]]:
    """An Arrow table as JSON-safe dicts keyed by column name, the same values `jsonable`
    gives, converted a column at a time (Arrow's compute kernels for decimals, dates and
    times; Python per value only for the rare types JSON cannot carry as they are)."""
    names = table.column_names
    columns = [json_column(table.column(i)) for i in range(table.num_columns)]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def json_column(column: pa.ChunkedArray) -> list[Any]:
    """One column's values as `jsonable` gives them."""
    kind = column.type
    if _NATIVE(kind):
        return column.to_pylist()
    if pa.types.is_floating(kind):
        values = column.to_pylist()
        if pc.all(pc.is_finite(column)).as_py() is not False:
            return values
        return [jsonable(v) for v in values]
    if pa.types.is_decimal(kind):
        return pc.cast(column, pa.string()).to_pylist()  # str(Decimal) of every value
    if pa.types.is_date32(kind) or pa.types.is_date64(kind):
        return pc.cast(column, pa.string()).to_pylist()
    if pa.types.is_timestamp(kind) and kind.tz is None:
        text = pc.strftime(column, "%Y-%m-%dT%H:%M:%S")
        return _drop_zero_fraction(text)
    if pa.types.is_time(kind):
        return _drop_zero_fraction(pc.cast(column, pa.string()))
    return [jsonable(v) for v in column.to_pylist()]


def _NATIVE(kind: pa.DataType) -> bool:
    return (
        pa.types.is_integer(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_null(kind)
    )


def _drop_zero_fraction(text: pa.ChunkedArray) -> list[Any]:
    """ISO text as `isoformat` writes it: no fraction when the microseconds are zero."""
    return pc.replace_substring_regex(text, r"\.000000$", "").to_pylist()


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
