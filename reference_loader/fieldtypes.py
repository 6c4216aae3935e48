"""Declared field types of text extracts (CSV, JSON Lines) and conversion of values to them.

A job declares each field as `name = "type"`, type one of `string`, `string(n)` (at most n
characters), `int` (64-bit signed), `decimal(p,s)`, `date` (YYYY-MM-DD), `timestamp`
(YYYY-MM-DD HH:MM:SS[.ffffff], a `T` or Db2's `YYYY-MM-DD-HH.MM.SS.ffffff`; no zone, like
Db2 TIMESTAMP), `bool`; a trailing `?` makes the field nullable (`decimal(5,2)?`).

Python values follow `event_contract.catalog`: str, int, Decimal with exactly scale s, date,
naive datetime, bool, None. A CSV cell that is empty is a missing value; so is an absent or
null JSON member. Values are never rounded: a decimal with more places than s is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Context, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from reference_loader.errors import LayoutError
from reference_loader.records import InvalidValue

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
MAX_PRECISION = 38
_TYPE_RE = re.compile(r"^\s*([a-z]+)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*(\?)?\s*$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TS_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T-](\d{2})[:.](\d{2})[:.](\d{2})(\.\d{1,6})?$")
_EXACT = Context(prec=2 * MAX_PRECISION)  # quantize never rounds nor overflows with it
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n"}


class TypeName(StrEnum):
    """The declarable types."""

    STRING = "string"
    INT = "int"
    DECIMAL = "decimal"
    DATE = "date"
    TIMESTAMP = "timestamp"
    BOOL = "bool"


@dataclass(frozen=True, slots=True)
class FieldType:
    """A declared type.

    Attributes:
        name: the type.
        length: string(n): at most n characters; None for any length or other types.
        precision: decimal(p,s): p.
        scale: decimal(p,s): s.
    """

    name: TypeName
    length: int | None = None
    precision: int | None = None
    scale: int | None = None

    def __str__(self) -> str:
        if self.name is TypeName.DECIMAL:
            return f"decimal({self.precision},{self.scale})"
        if self.length is not None:
            return f"string({self.length})"
        return self.name.value


@dataclass(frozen=True, slots=True)
class ExtractField:
    """A field of an extract's records with its type; `nullable` allows a missing value.

    Declared by the job for CSV and JSON Lines, derived from the copybook otherwise (see
    `extract.output_fields`).
    """

    name: str
    type: FieldType
    nullable: bool = False


def parse_field_type(text: str) -> tuple[FieldType, bool]:
    """Parse `decimal(5,2)?`-style declarations into (type, nullable).

    Raises:
        ValueError: the declaration is not one of the supported types.
    """
    match = _TYPE_RE.match(text.lower())
    if match is None or match[1] not in TypeName.__members__.values():
        raise ValueError(f"unknown field type '{text}' (use {', '.join(TypeName)})")
    name, first, second, nullable = TypeName(match[1]), match[2], match[3], bool(match[4])
    if name is TypeName.DECIMAL:
        if first is None:
            raise ValueError(f"field type '{text}' needs a precision and scale: decimal(p,s)")
        precision, scale = int(first), int(second or 0)
        if not 1 <= precision <= MAX_PRECISION or scale > precision:
            raise ValueError(f"field type '{text}' needs 1 <= p <= {MAX_PRECISION} and s <= p")
        return FieldType(name, precision=precision, scale=scale), nullable
    if name is TypeName.STRING and first is not None and second is None:
        return FieldType(name, length=int(first)), nullable
    if first is not None:
        raise ValueError(f"field type '{text}' takes no arguments")
    return FieldType(name), nullable


def declare_fields(types: Mapping[str, str], *, source: str = "") -> tuple[ExtractField, ...]:
    """Declared fields from a name → type-text mapping (config order kept).

    Raises:
        LayoutError: a type declaration is invalid (names the field).
    """
    fields = []
    for name, text in types.items():
        try:
            ftype, nullable = parse_field_type(text)
        except ValueError as exc:
            raise LayoutError(f"field {name}: {exc}", source=source) from exc
        fields.append(ExtractField(name, ftype, nullable))
    if not fields:
        raise LayoutError("no fields declared", source=source)
    return tuple(fields)


def from_text(ftype: FieldType, text: str) -> Any:
    """Convert a non-empty text value (a CSV cell) to `ftype`; InvalidValue if it does not fit."""
    name = ftype.name
    if name is TypeName.STRING:
        return _string(ftype, text)
    value = text.strip()
    if name is TypeName.INT:
        if not re.fullmatch(r"[+-]?\d+", value):
            raise InvalidValue(f"'{text}' is not an int")
        return _int(int(value))
    if name is TypeName.DECIMAL:
        return _decimal(ftype, value)
    if name is TypeName.DATE:
        return _date(value)
    if name is TypeName.TIMESTAMP:
        return _timestamp(value)
    lowered = value.lower()
    if lowered in _TRUE or lowered in _FALSE:
        return lowered in _TRUE
    raise InvalidValue(f"'{text}' is not a bool (true/false, 1/0, yes/no, y/n)")


def from_json(ftype: FieldType, value: object) -> Any:
    """Convert a non-null JSON value (floats parsed as Decimal) to `ftype`; InvalidValue if
    it does not fit. Numbers are not accepted for strings, nor strings for ints or bools."""
    name = ftype.name
    if name is TypeName.BOOL and isinstance(value, bool):
        return value
    if isinstance(value, bool) or name is TypeName.BOOL:
        raise InvalidValue(f"expected {ftype}, got JSON {_json_kind(value)}")
    if name is TypeName.INT and isinstance(value, int):
        return _int(value)
    if name is TypeName.DECIMAL and isinstance(value, int | Decimal | str):
        return _decimal(ftype, str(value))
    if isinstance(value, str) and name is not TypeName.INT:
        return from_text(ftype, value)
    raise InvalidValue(f"expected {ftype}, got JSON {_json_kind(value)}")


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | Decimal | float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string '{value}'"
    return "array" if isinstance(value, list) else "object"


def _string(ftype: FieldType, text: str) -> str:
    if ftype.length is not None and len(text) > ftype.length:
        raise InvalidValue(f"'{text}' is {len(text)} characters, {ftype} allows {ftype.length}")
    return text


def _int(value: int) -> int:
    if not INT_MIN <= value <= INT_MAX:
        raise InvalidValue(f"{value} is out of the int range (64-bit signed)")
    return value


def _decimal(ftype: FieldType, text: str) -> Decimal:
    assert ftype.precision is not None and ftype.scale is not None
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise InvalidValue(f"'{text}' is not a decimal") from exc
    if not value.is_finite():
        raise InvalidValue(f"'{text}' is not a decimal")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > ftype.scale:
        raise InvalidValue(f"{text} has {-exponent} decimal places, {ftype} allows {ftype.scale}")
    if not value.is_zero() and value.adjusted() >= ftype.precision - ftype.scale:
        raise InvalidValue(f"{text} does not fit {ftype}")
    exact = value.quantize(Decimal(f"1E-{ftype.scale}"), context=_EXACT)
    return abs(exact) if exact.is_zero() else exact


def _date(text: str) -> date:
    try:
        if not _DATE_RE.match(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidValue(f"'{text}' is not a date (YYYY-MM-DD)") from exc


def _timestamp(text: str) -> datetime:
    match = _TS_RE.match(text)
    try:
        if match is None:
            raise ValueError(text)
        day, hour, minute, second, fraction = match.groups()
        micros = int((fraction or ".0")[1:].ljust(6, "0"))
        return datetime.fromisoformat(f"{day}T{hour}:{minute}:{second}").replace(microsecond=micros)
    except ValueError as exc:
        raise InvalidValue(
            f"'{text}' is not a timestamp without zone (YYYY-MM-DD HH:MM:SS[.ffffff])"
        ) from exc
