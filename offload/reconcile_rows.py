"""Exact, order-independent digests of a table's rows, and the keys where two sides differ.

Each value becomes a canonical text by its Db2 type (a DECIMAL by its exact value, so 1.50 and
1.5 agree and 1.5 and 1.50000001 do not; CHAR without trailing blanks, as the event contract
carries it; dates and times in ISO form; a DOUBLE by its shortest round-trip repr; NULL as a
text no value can have), a row becomes the SHA-256 of its values' texts in catalog order, and
the table's digest is the sum of its rows' hashes modulo 2**128: equal for the same rows in any
order. Rows are also kept by primary key, so the first keys that differ can be named.

A derived view's rows have no Db2 catalog: `digest_plain` makes each value's text from its
Python type instead (DuckDB's values on both sides of that comparison).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from event_contract.catalog import Column, Db2Type

_NULL = "\x00NULL"
_SEP = "\x1f"
_MOD = 1 << 128

Key = tuple[str, ...]


def value_text(value: Any, column: Column) -> str:
    """The canonical text of one value of `column` (see the module docstring)."""
    if value is None:
        return _NULL
    kind = column.type
    if kind is Db2Type.DECIMAL:
        return str(Decimal(value).normalize())
    if kind is Db2Type.DOUBLE:
        return repr(float(value))
    if kind in (Db2Type.SMALLINT, Db2Type.INTEGER, Db2Type.BIGINT):
        return str(int(value))
    if kind is Db2Type.CHAR:
        return str(value).rstrip(" ")
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


@dataclass(slots=True)
class TableDigest:
    """One side's rows of a table.

    Attributes:
        rows: how many rows.
        digest: the order-independent digest, 32 hex digits.
        by_key: each row's hash by its primary key (as canonical texts).
    """

    rows: int = 0
    digest: str = "0" * 32
    by_key: dict[Key, int] = field(default_factory=dict)


def digest_rows(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], key: Sequence[str], lower: bool
) -> TableDigest:
    """The digest of `rows`, each a mapping by column name (lowercased when `lower`).

    Args:
        rows: the rows.
        columns: the table's columns in catalog order (the source's catalog).
        key: the primary-key column names (as the catalog names them).
        lower: whether the rows name their columns in lower case (a DuckDB mirror).
    """
    names = [c.name.lower() if lower else c.name for c in columns]
    by_name = {c.name: i for i, c in enumerate(columns)}
    texts = (
        [value_text(row.get(name), column) for name, column in zip(names, columns, strict=True)]
        for row in rows
    )
    return _digest(texts, [by_name[k] for k in key])


def plain_text(value: Any) -> str:
    """The canonical text of a value by its Python type (a DECIMAL by its exact value, a float
    by its shortest round-trip repr, times in ISO form, NULL as a text no value can have)."""
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return str(value.normalize())
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def digest_plain(
    rows: Iterable[Mapping[str, Any]], names: Sequence[str], key: Sequence[str]
) -> TableDigest:
    """The digest of `rows` (mappings by column name), values read by `plain_text`, in the
    order of `names`; `key` names the key columns."""
    texts = ([plain_text(row.get(name)) for name in names] for row in rows)
    return _digest(texts, [list(names).index(k) for k in key])


def _digest(rows: Iterable[list[str]], key_at: Sequence[int]) -> TableDigest:
    out = TableDigest()
    total = 0
    for texts in rows:
        hashed = hashlib.sha256(_SEP.join(texts).encode("utf-8")).digest()
        number = int.from_bytes(hashed[:16], "big")
        total = (total + number) % _MOD
        out.by_key[tuple(texts[i] for i in key_at)] = number
        out.rows += 1
    out.digest = f"{total:032x}"
    return out


def differing_keys(source: TableDigest, read: TableDigest, limit: int) -> list[dict[str, Any]]:
    """The first `limit` keys (in key order) missing on one side or with other values."""
    found = []
    for key in sorted(source.by_key.keys() | read.by_key.keys()):
        mine, theirs = source.by_key.get(key), read.by_key.get(key)
        if mine == theirs:
            continue
        what = "missing" if theirs is None else "extra" if mine is None else "values differ"
        found.append({"key": [None if k == _NULL else k for k in key], "difference": what})
        if len(found) >= limit:
            break
    return found
