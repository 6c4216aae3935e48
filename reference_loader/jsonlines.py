"""Reading JSON Lines extracts: one JSON object a line, typed by declared fields."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from reference_loader.fieldtypes import ExtractField, from_json
from reference_loader.records import InvalidField, InvalidValue, Location, Record, Reject


def read_jsonl(lines: Iterable[str], fields: Sequence[ExtractField]) -> Iterator[Record | Reject]:
    """Read a JSON Lines extract.

    Numbers are parsed exactly (floats as Decimal). Members that are not declared are not
    read; a declared member that is absent or null is a missing value.

    Args:
        lines: the text's lines (a text stream, or `textlines.decoded_lines` of a binary one).
        fields: the declared fields.

    Yields:
        A `Record` per non-blank line (location: its line number) or a `Reject` for a line
        that is not a JSON object or has a value that does not fit its type. An undecodable
        byte ends the stream with a fatal `Reject`.
    """
    number, line = 0, 0
    line_iter = iter(lines)
    while True:
        try:
            text = next(line_iter, None)
        except UnicodeDecodeError as exc:
            where = Location("line", line + 1)
            yield Reject(number + 1, where, None, f"not valid text: {exc}", fatal=True)
            return
        if text is None:
            return
        line += 1
        if not text.strip():
            continue
        number += 1
        where = Location("line", line)
        try:
            yield Record(number, where, _typed(text, fields))
        except InvalidField as exc:
            yield Reject(number, where, exc.field or None, exc.reason)


def _typed(text: str, fields: Sequence[ExtractField]) -> dict[str, Any]:
    try:
        obj = json.loads(text.rstrip("\r\n"), parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise InvalidField("", 0, f"invalid JSON: {exc.msg} at column {exc.colno}") from exc
    if not isinstance(obj, dict):
        kind = type(obj).__name__ if not isinstance(obj, list) else "array"
        raise InvalidField("", 0, f"a JSON Lines record must be an object, not {kind}")
    values: dict[str, Any] = {}
    for field in fields:
        value = obj.get(field.name)
        if value is None:
            if not field.nullable:
                raise InvalidField(field.name, 0, "missing value (the field is not nullable)")
            values[field.name] = None
            continue
        try:
            values[field.name] = from_json(field.type, value)
        except InvalidValue as exc:
            raise InvalidField(field.name, 0, str(exc)) from exc
    return values
