"""The data types of Db2 for z/OS expressions: constants, arithmetic, aggregates, result types.

Pure rules, from the Db2 for z/OS SQL Reference ("Arithmetic with two decimal operands",
"Decimal division", "Rules for result data types", the SUM and AVG aggregate functions):

- Decimal arithmetic follows DEC15, Db2's installation default (DECARTH): a result has at
  most 15 digits unless an operand has more than 15, when DEC31 applies (at most 31).
- An integer meets a decimal as a temporary DECIMAL(5,0) (SMALLINT), DECIMAL(11,0)
  (INTEGER) or DECIMAL(19,0) (BIGINT); an integer constant as DECIMAL(max(5, digits), 0).
- A constant with a decimal point is DECIMAL(digits, digits after the point); one with an
  exponent is DOUBLE; a whole number is INTEGER, BIGINT or DECIMAL(digits,0) by its size.
"""

from __future__ import annotations

from dataclasses import dataclass

from event_contract.catalog import MAX_DECIMAL_PRECISION, Column, Db2Type
from simulators.errors import Db2SqlError

DEC15 = 15
"""The decimal precision limit of DEC15 arithmetic (Db2's default DECIMAL ARITHMETIC)."""
INTEGERS = (Db2Type.SMALLINT, Db2Type.INTEGER, Db2Type.BIGINT)
STRINGS = (Db2Type.CHAR, Db2Type.VARCHAR)
DATETIMES = (Db2Type.DATE, Db2Type.TIME, Db2Type.TIMESTAMP)
INT_RANGES = {
    Db2Type.SMALLINT: (-(2**15), 2**15 - 1),
    Db2Type.INTEGER: (-(2**31), 2**31 - 1),
    Db2Type.BIGINT: (-(2**63), 2**63 - 1),
}
_INT_PRECISION = {Db2Type.SMALLINT: 5, Db2Type.INTEGER: 11, Db2Type.BIGINT: 19}


@dataclass(frozen=True, slots=True)
class SqlType:
    """The type of a value or an expression.

    Attributes:
        kind: the Db2 type; None for an untyped NULL.
        length: CHAR/VARCHAR length, DECIMAL precision.
        scale: DECIMAL scale.
        digits: for an integer constant, its number of digits (0 for anything else).
    """

    kind: Db2Type | None
    length: int | None = None
    scale: int | None = None
    digits: int = 0

    @property
    def sql(self) -> str:
        """The type as Db2 writes it, e.g. DECIMAL(13,2)."""
        if self.kind is None:
            return "NULL"
        return Column("_", self.kind, self.length, self.scale).type_sql

    @property
    def is_int(self) -> bool:
        """SMALLINT, INTEGER or BIGINT."""
        return self.kind in INTEGERS

    @property
    def is_decimal(self) -> bool:
        """DECIMAL."""
        return self.kind is Db2Type.DECIMAL

    @property
    def is_numeric(self) -> bool:
        """Any number."""
        return self.is_int or self.is_decimal or self.kind is Db2Type.DOUBLE

    @property
    def is_string(self) -> bool:
        """CHAR or VARCHAR."""
        return self.kind in STRINGS


NULL = SqlType(None)
DOUBLE = SqlType(Db2Type.DOUBLE)
INTEGER = SqlType(Db2Type.INTEGER)
BIGINT = SqlType(Db2Type.BIGINT)


def decimal(precision: int, scale: int) -> SqlType:
    """DECIMAL(precision, scale)."""
    return SqlType(Db2Type.DECIMAL, precision, scale)


def varchar(length: int) -> SqlType:
    """VARCHAR(length) (at least 1)."""
    return SqlType(Db2Type.VARCHAR, max(1, length))


def of_column(column: Column) -> SqlType:
    """The type of a table column."""
    return SqlType(column.type, column.length, column.scale)


def of_number(text: str) -> SqlType:
    """The type of a numeric constant as written, e.g. `10.5` → DECIMAL(3,1).

    Raises:
        Db2SqlError: a decimal constant of more than 31 digits (SQLCODE -405).
    """
    if "E" in text.upper():
        return DOUBLE
    whole, _, fraction = text.partition(".")
    digits = len(whole) + len(fraction)
    if "." not in text:
        value = int(text)
        if value <= INT_RANGES[Db2Type.INTEGER][1]:
            return SqlType(Db2Type.INTEGER, digits=len(whole))
        if value <= INT_RANGES[Db2Type.BIGINT][1]:
            return SqlType(Db2Type.BIGINT, digits=len(whole))
    if digits > MAX_DECIMAL_PRECISION:
        raise Db2SqlError(f"the numeric constant {text} is out of range", -405, "42820")
    return decimal(max(digits, 1), len(fraction))


def as_decimal(kind: SqlType) -> tuple[int, int]:
    """(precision, scale) of a number taking part in decimal arithmetic."""
    if kind.is_decimal:
        return kind.length or 5, kind.scale or 0
    if kind.digits:
        return max(5, kind.digits), 0
    return _INT_PRECISION.get(kind.kind, 31), 0  # type: ignore[arg-type]


def _limit(p: int, q: int) -> int:
    return MAX_DECIMAL_PRECISION if max(p, q) > DEC15 else DEC15


def arithmetic(op: str, left: SqlType, right: SqlType) -> SqlType:
    """The result type of `left op right` (op one of + - * /) on two numbers.

    Raises:
        Db2SqlError: a decimal division whose result would have a negative scale (-419).
    """
    if Db2Type.DOUBLE in (left.kind, right.kind):
        return DOUBLE
    if left.is_int and right.is_int:
        return BIGINT if Db2Type.BIGINT in (left.kind, right.kind) else INTEGER
    (p, s), (q, t) = as_decimal(left), as_decimal(right)
    n = _limit(p, q)
    if op in "+-":
        return decimal(min(n, max(p - s, q - t) + max(s, t) + 1), max(s, t))
    if op == "/":
        return _division(p, s, q, t)
    left_copy, right_copy = copies(op, left, right)
    (p, s), (q, t) = left_copy or (p, s), right_copy or (q, t)
    return decimal(min(n, p + q), min(n, s + t))


def copies(
    op: str, left: SqlType, right: SqlType
) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """Which decimal operand Db2 first truncates to a 15-digit copy, as (precision, scale).

    Multiplying two decimals of more than 15 digits truncates the one with the smaller
    precision (the second when equal); dividing by more than 15 digits truncates the divisor.
    """
    (p, s), (q, t) = as_decimal(left), as_decimal(right)
    if op == "*" and p > DEC15 and q > DEC15:
        return (None, _copy(q, t)) if q <= p else (_copy(p, s), None)
    if op == "/" and q > DEC15:
        return None, _copy(q, t)
    return None, None


def _copy(precision: int, scale: int) -> tuple[int, int]:
    return DEC15, max(0, scale - (precision - DEC15))


def _division(p: int, s: int, q: int, t: int) -> SqlType:
    if q > DEC15:  # divided by the divisor's 15-digit copy
        precision, scale = MAX_DECIMAL_PRECISION, DEC15 - (p - s + _copy(q, t)[1])
    elif p > DEC15:
        precision, scale = MAX_DECIMAL_PRECISION, (30 - q if q % 2 else 29 - q) - (p - s + t)
    else:
        precision, scale = DEC15, DEC15 - (p - s + t)
    if scale < 0:
        raise Db2SqlError(
            f"the decimal division of DECIMAL({p},{s}) by DECIMAL({q},{t}) would have a "
            "negative scale",
            -419,
            "42911",
        )
    return decimal(precision, scale)


def negated(kind: SqlType) -> SqlType:
    """The type of `-x`: a SMALLINT becomes INTEGER, anything else keeps its type."""
    return INTEGER if kind.kind is Db2Type.SMALLINT else SqlType(kind.kind, kind.length, kind.scale)


def sum_of(kind: SqlType) -> SqlType:
    """The result type of SUM over values of `kind`."""
    if kind.is_decimal:
        p = kind.length or 5
        return decimal(min(MAX_DECIMAL_PRECISION, p + 10) if p > DEC15 else DEC15, kind.scale or 0)
    return INTEGER if kind.kind is Db2Type.SMALLINT else SqlType(kind.kind)


def avg_of(kind: SqlType) -> SqlType:
    """The result type of AVG over values of `kind`."""
    if kind.is_decimal:
        p, s = kind.length or 5, kind.scale or 0
        if p > DEC15:
            return decimal(MAX_DECIMAL_PRECISION, max(0, 28 - p + s))
        return decimal(DEC15, DEC15 - p + s)
    return sum_of(kind)


def common(kinds: list[SqlType], what: str) -> SqlType:
    """The result type of values that meet in CASE, COALESCE, VALUES or a UNION.

    Raises:
        Db2SqlError: the types are not compatible (SQLCODE -415), naming `what`.
    """
    known = [k for k in kinds if k.kind is not None]
    if not known:
        return NULL
    result = known[0]
    for other in known[1:]:
        merged = _pair(result, other)
        if merged is None:
            raise Db2SqlError(
                f"the types {result.sql} and {other.sql} of {what} are not compatible",
                -415,
                "42825",
            )
        result = merged
    return result


def _pair(a: SqlType, b: SqlType) -> SqlType | None:
    if a.is_string and b.is_string:
        both_char = a.kind is b.kind is Db2Type.CHAR
        kind = Db2Type.CHAR if both_char else Db2Type.VARCHAR
        return SqlType(kind, max(a.length or 1, b.length or 1))
    if a.is_numeric and b.is_numeric:
        if Db2Type.DOUBLE in (a.kind, b.kind):
            return DOUBLE
        if a.is_int and b.is_int:
            return max(a, b, key=lambda k: INTEGERS.index(k.kind))
        (p, s), (q, t) = as_decimal(a), as_decimal(b)
        scale = max(s, t)
        return decimal(min(MAX_DECIMAL_PRECISION, scale + max(p - s, q - t)), scale)
    if a.kind in DATETIMES and (b.kind is a.kind or b.is_string):
        return a
    if b.kind in DATETIMES and a.is_string:
        return b
    return None


def comparable(a: SqlType, b: SqlType) -> bool:
    """Whether Db2 compares values of the two types (strings are cast to numbers or datetimes)."""
    if a.kind is None or b.kind is None:
        return True
    if (a.is_numeric and b.is_numeric) or (a.is_string and b.is_string):
        return True
    if (a.is_numeric and b.is_string) or (a.is_string and b.is_numeric):
        return True
    return (a.kind in DATETIMES and (b.kind is a.kind or b.is_string)) or (
        b.kind in DATETIMES and a.is_string
    )
