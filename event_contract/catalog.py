"""The source catalog: tables and columns as Db2 declares them, and how their values look in
Python. This is part of the event contract (with `envelope`, `avro_types` and `codec`).

Python representation of column values everywhere in the gateway (source readers, envelopes,
projections): CHAR and VARCHAR → `str` (CHAR with its trailing blanks removed), SMALLINT,
INTEGER, BIGINT → `int`, DECIMAL → `decimal.Decimal` (never float), DATE → `datetime.date`,
TIME → `datetime.time`, TIMESTAMP → naive `datetime.datetime` with microseconds (Db2
TIMESTAMP has no zone), DOUBLE → `float`, NULL → `None`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Db2Type(StrEnum):
    """The Db2 column types the gateway carries exactly."""

    CHAR = "CHAR"
    VARCHAR = "VARCHAR"
    SMALLINT = "SMALLINT"
    INTEGER = "INTEGER"
    BIGINT = "BIGINT"
    DECIMAL = "DECIMAL"
    DATE = "DATE"
    TIME = "TIME"
    TIMESTAMP = "TIMESTAMP"
    DOUBLE = "DOUBLE"


_ALIASES = {
    "INT": Db2Type.INTEGER,
    "DEC": Db2Type.DECIMAL,
    "NUMERIC": Db2Type.DECIMAL,
    "CHARACTER": Db2Type.CHAR,
    "FLOAT": Db2Type.DOUBLE,
    "DOUBLE PRECISION": Db2Type.DOUBLE,
    "CHARACTER VARYING": Db2Type.VARCHAR,
    "CHAR VARYING": Db2Type.VARCHAR,
}
_TYPE_RE = re.compile(r"^\s*([A-Z ]+?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$", re.IGNORECASE)
MAX_DECIMAL_PRECISION = 31


class CatalogError(ValueError):
    """A type or table declaration the gateway cannot carry exactly."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column as Db2 declares it.

    Attributes:
        name: the column name, upper case as in the Db2 catalog.
        type: the Db2 type.
        length: n of CHAR(n)/VARCHAR(n), precision p of DECIMAL(p,s); None otherwise.
        scale: s of DECIMAL(p,s); None otherwise.
        nullable: whether NULL is allowed.
        default: the declared default as SQL text, or None.
    """

    name: str
    type: Db2Type
    length: int | None = None
    scale: int | None = None
    nullable: bool = True
    default: str | None = None

    @property
    def type_sql(self) -> str:
        """The type as Db2 DDL writes it, e.g. `DECIMAL(31,2)` or `CHAR(10)`."""
        if self.type is Db2Type.DECIMAL:
            return f"DECIMAL({self.length},{self.scale})"
        if self.type in (Db2Type.CHAR, Db2Type.VARCHAR):
            return f"{self.type.value}({self.length})"
        return self.type.value


@dataclass(frozen=True, slots=True)
class Table:
    """A source table: its schema, name, columns in declaration order and primary key."""

    schema: str
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]

    @property
    def qualified_name(self) -> str:
        """SCHEMA.TABLE, upper case."""
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> Column:
        """The column called `name` (case-insensitive)."""
        wanted = name.upper()
        for col in self.columns:
            if col.name == wanted:
                return col
        raise CatalogError(f"table {self.qualified_name} has no column {name}")

    @property
    def key_columns(self) -> tuple[Column, ...]:
        """The primary-key columns, in key order."""
        return tuple(self.column(n) for n in self.primary_key)


def parse_type(text: str) -> tuple[Db2Type, int | None, int | None]:
    """Parse a Db2 type such as `DECIMAL(9,2)`, `CHAR(10)`, `INT` into (type, length, scale).

    Raises:
        CatalogError: for a type the gateway does not carry, or lengths out of range.
    """
    match = _TYPE_RE.match(text)
    if not match:
        raise CatalogError(f"cannot parse Db2 type {text!r}")
    word = " ".join(match.group(1).upper().split())
    try:
        kind = _ALIASES.get(word) or Db2Type(word)
    except ValueError as exc:
        supported = ", ".join(t.value for t in Db2Type)
        raise CatalogError(f"unsupported Db2 type {text!r} (supported: {supported})") from exc
    first = int(match.group(2)) if match.group(2) else None
    second = int(match.group(3)) if match.group(3) else None
    if kind is Db2Type.DECIMAL:
        precision = 5 if first is None else first
        scale = 0 if second is None else second
        if not 1 <= precision <= MAX_DECIMAL_PRECISION or not 0 <= scale <= precision:
            raise CatalogError(f"DECIMAL({precision},{scale}) is out of range in {text!r}")
        return kind, precision, scale
    if kind is Db2Type.CHAR:
        length = 1 if first is None else first
        if second is not None or not 1 <= length <= 255:
            raise CatalogError(f"CHAR length must be 1..255 in {text!r}")
        return kind, length, None
    if kind is Db2Type.VARCHAR:
        if first is None or second is not None or not 1 <= first <= 32704:
            raise CatalogError(f"VARCHAR needs a length 1..32704 in {text!r}")
        return kind, first, None
    if first is not None:
        raise CatalogError(f"{kind.value} takes no length in {text!r}")
    return kind, None, None
