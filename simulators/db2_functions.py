"""The SQLite functions that Db2 SQL translated by `simulators.db2_sql` calls.

Every decimal operation runs here on Python `Decimal` (exact), with Db2's result precision
and scale passed in by the translator: `db2_dec('*', a, b, 'DECIMAL(15,2)', '', '')`.
A Db2 error raised inside a function is kept on the `Runtime` (SQLite only reports that a
user function failed), so the statement's error names it exactly.

Nothing stored depends on these functions (no CHECK, default or trigger calls them), so a
connection without them, the capture reader's, reads the file as before.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, DivisionByZero, InvalidOperation
from functools import lru_cache
from typing import Any

from event_contract.catalog import Db2Type
from simulators.db2_types import DEC15, INT_RANGES
from simulators.db2_values import (
    EXACT,
    convert,
    datetime_string,
    decimal_text,
    fit_decimal,
    to_decimal,
    type_named,
)
from simulators.errors import Db2SqlError

_KEY_DIGITS = 64
"""Digits on each side of the point in a decimal sort key (more than any DECIMAL holds)."""


class Runtime:
    """The Db2 functions registered on one connection, and the last Db2 error they raised."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.error: Db2SqlError | None = None
        self._conn = conn
        self._aggregates: set[str] = set()
        for name, (arity, function) in _SCALARS.items():
            conn.create_function(name, arity, self._guard(function), deterministic=True)

    def aggregate(self, function: str, result: str) -> str:
        """The name of the aggregate computing `function` (SUM, AVG, MIN, MAX) at the Db2
        result type `result`, registered on first use (one argument, so DISTINCT works)."""
        name = "db2_" + re.sub(r"\W+", "_", f"{function} {result}").strip("_").lower()
        if name not in self._aggregates:
            fold = self._aggregate(_AGGREGATES[function], result)
            self._conn.create_aggregate(name, 1, fold)
            self._aggregates.add(name)
        return name

    def take_error(self) -> Db2SqlError | None:
        """The Db2 error a function raised since the last call, if any (and forget it)."""
        error, self.error = self.error, None
        return error

    def _guard(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            try:
                return function(*args)
            except Db2SqlError as exc:
                self.error = exc
                raise

        return call

    def _aggregate(self, result: Callable[[_Fold, str], object], kind: str) -> type:
        runtime = self

        class Aggregate(_Fold):
            def step(self, value: object) -> None:
                try:
                    super().step(value)
                except Db2SqlError as exc:
                    runtime.error = exc
                    raise

            def finalize(self) -> object:
                try:
                    return result(self, kind) if self.count else None
                except Db2SqlError as exc:
                    runtime.error = exc
                    raise

        return Aggregate


class _Fold:
    """What an aggregate keeps of the values it saw: their exact sum, count and extremes."""

    def __init__(self) -> None:
        self.total = Decimal(0)
        self.count = 0
        self.low: tuple[Decimal, object] | None = None
        self.high: tuple[Decimal, object] | None = None

    def step(self, value: object) -> None:
        if value is None:
            return
        number = to_decimal(value)
        self.total, self.count = EXACT.add(self.total, number), self.count + 1
        if self.low is None or number < self.low[0]:
            self.low = (number, value)
        if self.high is None or number > self.high[0]:
            self.high = (number, value)


def _overflow(kind: str) -> Db2SqlError:
    return Db2SqlError(f"arithmetic overflow on {kind} data", -802, "22003")


def _divide_by_zero(kind: str) -> Db2SqlError:
    return Db2SqlError(f"division by zero on {kind} data", -802, "22012")


def _copy(value: Decimal, copy: str) -> Decimal:
    if not copy:
        return value
    kind = type_named(copy)
    text = decimal_text(value, kind.scale or 0)
    if len(text.lstrip("-").split(".")[0].lstrip("0")) > DEC15 - (kind.scale or 0):
        raise _overflow("DECIMAL")
    return Decimal(text)


def dec_arith(  # noqa: PLR0917 - SQLite passes a function's arguments by position
    op: str, a: object, b: object, result: str, copy_a: str, copy_b: str
) -> object:
    """`a op b` on decimals, exact, truncated to the result's scale (Db2 for z/OS rules)."""
    if a is None or b is None:
        return None
    x, y = _copy(to_decimal(a), copy_a), _copy(to_decimal(b), copy_b)
    try:
        value = {
            "+": EXACT.add,
            "-": EXACT.subtract,
            "*": EXACT.multiply,
            "/": EXACT.divide,
            "%": EXACT.remainder,  # MOD: the sign of the dividend, as Db2's
        }[op](x, y)
    except (DivisionByZero, InvalidOperation) as exc:
        raise _divide_by_zero("DECIMAL") from exc
    kind = type_named(result)
    try:
        return fit_decimal(value, kind.length or 31, kind.scale or 0, "")
    except Db2SqlError as exc:
        raise _overflow("DECIMAL") from exc


def int_arith(op: str, a: object, b: object, kind: str) -> object:
    """`a op b` on integers (division truncates toward zero), within the result's range."""
    if a is None or b is None:
        return None
    x, y = int(a), int(b)  # type: ignore[call-overload]
    if op in "/%":
        if y == 0:
            raise _divide_by_zero(kind)
        quotient = abs(x) // abs(y) * (1 if (x < 0) == (y < 0) else -1)
        value = quotient if op == "/" else x - quotient * y
    else:
        value = x + y if op == "+" else x - y if op == "-" else x * y
    low, high = INT_RANGES[Db2Type(kind)]
    if not low <= value <= high:
        raise _overflow(kind)
    return value


def round_to(a: object, places: int, result: str) -> object:
    """Db2 ROUND: to `places` after the point (before it when negative), half away from 0."""
    if a is None or places is None:
        return None
    kind = type_named(result)
    exponent = Decimal(1).scaleb(-places)
    rounded = to_decimal(a).quantize(exponent, rounding=ROUND_HALF_UP, context=EXACT)
    if kind.is_int:
        return int_arith("+", int(rounded), 0, kind.sql)
    try:
        return fit_decimal(rounded, kind.length or 31, kind.scale or 0, "")
    except Db2SqlError as exc:
        raise _overflow("DECIMAL") from exc


def like(text: object, pattern: object, escape: object) -> int | None:
    """Db2 LIKE: _ and % as wildcards, case and trailing blanks significant."""
    if text is None or pattern is None:
        return None
    return int(
        _like_pattern(str(pattern), None if escape is None else str(escape)).fullmatch(str(text))
        is not None
    )


@lru_cache(maxsize=256)
def _like_pattern(pattern: str, escape: str | None) -> re.Pattern[str]:
    parts, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if escape is not None and ch == escape and i + 1 < len(pattern):
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(parts), re.DOTALL)


def dec_cmp(a: object, b: object) -> int | None:
    """-1, 0 or 1 as the number `a` is below, equal to or above `b` (None with a NULL)."""
    if a is None or b is None:
        return None
    x, y = to_decimal(a), to_decimal(b)
    return (x > y) - (x < y)


def dec_key(a: object) -> str | None:
    """A string that sorts as the number `a` does."""
    if a is None:
        return None
    text = decimal_text(to_decimal(a), _KEY_DIGITS // 2)
    negative = text.startswith("-")
    whole, fraction = text.lstrip("-").split(".")
    digits = whole.rjust(_KEY_DIGITS, "0") + fraction
    if negative:  # nines' complement: larger magnitudes sort first
        return "0" + digits.translate(str.maketrans("0123456789", "9876543210"))
    return "1" + digits


def dec_fmt(a: object, scale: int) -> str | None:
    """A decimal at its scale, as SELECT answers it and GROUP BY compares it."""
    return None if a is None else decimal_text(to_decimal(a), scale)


def cast(a: object, source: str, target: str, what: str) -> object:
    """Db2 CAST or assignment of `a` from type `source` to type `target` (see `convert`)."""
    return convert(a, type_named(source), type_named(target), what)


def substr(text: object, start: object, length: object, attribute: int) -> str | None:
    """Db2 SUBSTR: the string is padded with blanks up to its length attribute."""
    if text is None or start is None:
        return None
    begin = int(start)  # type: ignore[call-overload]
    count = attribute - begin + 1 if length is None else int(length)  # type: ignore[call-overload]
    if not 1 <= begin <= attribute + 1 or count < 0 or begin + count - 1 > attribute:
        raise Db2SqlError(
            f"SUBSTR({begin}, {count}) is out of range for a string of length {attribute}",
            -138,
            "22011",
        )
    value = str(text)
    if length is not None:
        value = value.ljust(begin + count - 1)
    return value[begin - 1 : begin - 1 + count]


def char_pad(text: object, length: int) -> str | None:
    """A CHAR(length) value as Db2 holds it: padded with blanks."""
    return None if text is None else str(text).ljust(length)


def char_datetime(value: object, kind: str, form: str) -> str | None:
    """CHAR(datetime, ISO|USA|EUR|JIS)."""
    return None if value is None else datetime_string(str(value), Db2Type(kind), form)


def _sum(fold: _Fold, result: str) -> object:
    kind = type_named(result)
    if kind.is_decimal:
        try:
            return fit_decimal(fold.total, kind.length or 31, kind.scale or 0, "")
        except Db2SqlError as exc:
            raise _overflow("DECIMAL") from exc
    return int_arith("+", int(fold.total), 0, kind.sql)


def _avg(fold: _Fold, result: str) -> object:
    kind = type_named(result)
    if kind.is_decimal:
        average = EXACT.divide(fold.total, Decimal(fold.count))
        return fit_decimal(average, kind.length or 31, kind.scale or 0, "")
    return int_arith("/", int(fold.total), fold.count, kind.sql)


_SCALARS: dict[str, tuple[int, Callable[..., object]]] = {
    "db2_dec": (6, dec_arith),
    "db2_int": (4, int_arith),
    "db2_cmp": (2, dec_cmp),
    "db2_key": (1, dec_key),
    "db2_fmt": (2, dec_fmt),
    "db2_cast": (4, cast),
    "db2_substr": (4, substr),
    "db2_pad": (2, char_pad),
    "db2_char_datetime": (3, char_datetime),
    "db2_round": (3, round_to),
    "db2_like": (3, like),
}
_AGGREGATES: dict[str, Callable[[_Fold, str], object]] = {
    "SUM": _sum,
    "AVG": _avg,
    "MIN": lambda fold, _kind: fold.low[1] if fold.low else None,
    "MAX": lambda fold, _kind: fold.high[1] if fold.high else None,
}
"""Aggregates over numbers, exact, at a Db2 result type (see `Runtime.aggregate`)."""
