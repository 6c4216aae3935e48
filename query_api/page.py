"""Pagination: a page-size cap and an opaque cursor holding the last row's sort key.

Lists are ordered by a unique key, and a page starts strictly after the cursor's key
(keyset pagination), so concurrent changes never shift a row onto two pages. The cursor is
base64url JSON `[query name, [key values]]`; it is validated against the query's key types.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from query_api.errors import BadParameter

KeyTypes = tuple[type, ...]


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Rows per page and the key after which the page starts (None: the first page)."""

    size: int
    after: tuple[Any, ...] | None = None


def encode_cursor(query: str, key: Sequence[Any]) -> str:
    """An opaque cursor for the page after the row whose sort key is `key`."""
    values = [v.isoformat() if isinstance(v, datetime) else v for v in key]
    raw = json.dumps([query, values], separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(query: str, token: str, types: KeyTypes) -> tuple[Any, ...]:
    """The sort key held by a cursor of `query`.

    Raises:
        BadParameter: naming `cursor`, when the token was not made by this query.
    """
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        name, values = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise BadParameter("cursor", "not a cursor returned by this API") from exc
    if name != query or not isinstance(values, list) or len(values) != len(types):
        raise BadParameter("cursor", f"not a cursor of the {query} list")
    return tuple(_typed(v, t) for v, t in zip(values, types, strict=True))


def _typed(value: Any, kind: type) -> Any:
    if kind is datetime and isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError as exc:
            raise BadParameter("cursor", "not a cursor returned by this API") from exc
    if kind is int and isinstance(value, bool):
        raise BadParameter("cursor", "not a cursor returned by this API")
    if not isinstance(value, kind):
        raise BadParameter("cursor", "not a cursor returned by this API")
    return value


def page_of(
    query: str, rows: list[dict[str, Any]], raw_keys: list[tuple[Any, ...]], size: int
) -> tuple[list[dict[str, Any]], str | None]:
    """The first `size` rows and the cursor of the next page (None when none follows).

    `rows` holds up to size + 1 rows (one more than asked, to learn whether more exist);
    `raw_keys` holds each row's sort key as DuckDB returned it.
    """
    if len(rows) <= size:
        return rows, None
    return rows[:size], encode_cursor(query, raw_keys[size - 1])
