"""Db2 column defaults as Avro field defaults: a SQL literal turned into the encoded value.

A NOT NULL column with a literal default gets that default in its Avro field, so adding the
column later is a BACKWARD-compatible change. Values are written the way Avro stores them: a
DATE as days since 1970-01-01, a TIME as milliseconds since midnight (time-millis), a TIMESTAMP as
microseconds since 1970-01-01 00:00 (wall-clock, no zone), a DECIMAL as its unscaled
two's-complement bytes spelled as a string of code points 0..255. Special registers
(CURRENT DATE, ...) have no Avro equivalent and give no default.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from event_contract.catalog import Column, Db2Type
from event_contract.errors import SchemaDefinitionError

NO_DEFAULT: Final = object()
"""What `avro_default` returns for a default with no Avro equivalent (e.g. CURRENT DATE)."""

_EPOCH_DATE = date(1970, 1, 1)
_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


def avro_default(column: Column, table: str) -> Any:
    """The Avro default for a NOT NULL column's SQL default, or `NO_DEFAULT`.

    Args:
        column: the column; its `default` is the SQL text, e.g. `'N'`, `0`, `CURRENT DATE`.
        table: SCHEMA.TABLE, named in errors (may be empty).

    Raises:
        SchemaDefinitionError: the literal does not fit the column's type.
    """
    text = (column.default or "").strip()
    quoted = len(text) >= 2 and text[0] == "'" and text[-1] == "'"
    literal = text[1:-1].replace("''", "'") if quoted else text
    try:
        return _convert_default(column, literal, quoted)
    except (ValueError, InvalidOperation) as exc:
        where = f"column {table}.{column.name}" if table else f"column {column.name}"
        raise SchemaDefinitionError(
            where, f"default {text!r} does not fit {column.type_sql}"
        ) from exc


def _convert_default(column: Column, literal: str, quoted: bool) -> Any:
    kind = column.type
    if kind in (Db2Type.CHAR, Db2Type.VARCHAR):
        if not quoted:
            return NO_DEFAULT
        return literal.rstrip(" ") if kind is Db2Type.CHAR else literal
    if not quoted and kind in (Db2Type.DATE, Db2Type.TIME, Db2Type.TIMESTAMP):
        return NO_DEFAULT  # CURRENT DATE and the like
    if kind in (Db2Type.SMALLINT, Db2Type.INTEGER, Db2Type.BIGINT):
        return int(literal)
    if kind is Db2Type.DOUBLE:
        return float(literal)
    if kind is Db2Type.DECIMAL:
        unscaled = int(Decimal(literal).scaleb(column.scale or 0).to_integral_exact())
        size = (unscaled.bit_length() + 8) // 8
        # Avro writes a bytes default as a string of code points 0..255.
        return unscaled.to_bytes(size, "big", signed=True).decode("latin-1")
    if kind is Db2Type.DATE:
        return (date.fromisoformat(literal) - _EPOCH_DATE).days
    if kind is Db2Type.TIME:
        moment = time.fromisoformat(literal.replace(".", ":", 2))
        millis, rest = divmod(moment.microsecond, 1000)
        if rest:
            raise ValueError(literal)
        return ((moment.hour * 60 + moment.minute) * 60 + moment.second) * 1000 + millis
    stamp = _parse_timestamp(literal)
    return (stamp - _EPOCH) // _MICROSECOND


def _parse_timestamp(text: str) -> datetime:
    # Db2 writes 2024-01-31-13.45.00.000000; ISO is accepted too.
    match = re.match(r"^(\d{4}-\d{2}-\d{2})[- T](\d{2})[.:](\d{2})[.:](\d{2})(\.\d{1,6})?$", text)
    if not match:
        raise ValueError(text)
    day, hour, minute, second, fraction = match.groups()
    return datetime.fromisoformat(f"{day}T{hour}:{minute}:{second}{fraction or ''}")
