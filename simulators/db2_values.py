"""Db2 values in the simulated Db2: exact conversions, assignment rules and their string forms.

Values keep the stored forms of `db2.dialect`: DECIMAL is text such as "-12.50" (or an
integer), DATE "YYYY-MM-DD", TIME "HH:MM:SS", TIMESTAMP "YYYY-MM-DD HH:MM:SS.ffffff".
Decimals are computed on Python `Decimal`, never on binary floating point.

Db2 for z/OS rules kept here: a number assigned to a DECIMAL column loses digits of its
fraction by truncation (never rounding) and is refused when its whole part does not fit
(SQLCODE -406); a string too long for its column is refused unless only blanks are cut
(-404); strings become numbers as numeric constants (-420 when they are not one) and
datetimes in the ISO, USA, EUR and JIS forms (-180/-181 when they are not one).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import ROUND_DOWN, Context, Decimal
from functools import lru_cache
from typing import TypeVar

from event_contract.catalog import Db2Type, parse_type
from simulators.db2_types import INT_RANGES, NULL, SqlType
from simulators.errors import Db2SqlError

_T = TypeVar("_T")
EXACT = Context(prec=200, rounding=ROUND_DOWN)
"""Enough digits for any product or quotient of 31-digit decimals before truncation."""
_NUMBER = re.compile(r"^\s*[+-]?\s*(\d+\.?\d*|\.\d+)(E[+-]?\d+)?\s*$", re.IGNORECASE)
_DATE_FORMS = (
    re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$"),  # ISO, JIS
    re.compile(r"^(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})$"),  # USA
    re.compile(r"^(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})$"),  # EUR
)
_TIME = re.compile(r"^(?P<h>\d{1,2})[.:](?P<mi>\d{2})(?:[.:](?P<s>\d{2}))?(?:\s*(?P<ap>AM|PM))?$")
_TIMESTAMP = re.compile(
    r"^(?P<date>\d{4}-\d{1,2}-\d{1,2})[- T](?P<h>\d{1,2})[.:](?P<mi>\d{2})[.:](?P<s>\d{2})"
    r"(?:[.,](?P<f>\d{0,12}))?$"
)
_CHAR_FORMATS = {
    Db2Type.DATE: {"ISO": "%Y-%m-%d", "JIS": "%Y-%m-%d", "USA": "%m/%d/%Y", "EUR": "%d.%m.%Y"},
    Db2Type.TIME: {"ISO": "%H.%M.%S", "JIS": "%H:%M:%S", "USA": "%I:%M %p", "EUR": "%H.%M.%S"},
}


@lru_cache(maxsize=512)
def type_named(text: str) -> SqlType:
    """A SqlType from its Db2 spelling, e.g. "DECIMAL(13,2)", or "NULL"."""
    if text == "NULL":
        return NULL
    kind, length, scale = parse_type(text)
    return SqlType(kind, length, scale)


def to_decimal(raw: object, function: str = "DECIMAL") -> Decimal:
    """A stored or computed number (int, decimal text, float) or a numeric string as Decimal.

    Raises:
        Db2SqlError: a string that is not a number (SQLCODE -420).
    """
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float):
        return Decimal(repr(raw))  # the double's shortest decimal form
    text = str(raw)
    if not _NUMBER.match(text):
        raise Db2SqlError(
            f"the string {text!r} is not acceptable to the {function} function", -420, "22018"
        )
    return Decimal(text.replace(" ", ""))


def decimal_text(value: Decimal, scale: int) -> str:
    """Fixed-point text of `value` truncated to `scale` places; never "-0"."""
    fixed = value.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_DOWN, context=EXACT)
    return format(fixed.copy_abs() if fixed.is_zero() else fixed, "f")


def fit_decimal(value: Decimal, precision: int, scale: int, what: str) -> str:
    """`value` as DECIMAL(precision, scale): the fraction truncated, the whole part checked.

    Raises:
        Db2SqlError: the whole part has more than precision - scale digits; SQLCODE -406
            when assigned to a column (`what` names it), -413 for a conversion.
    """
    text = decimal_text(value, scale)
    whole = text.lstrip("-").split(".")[0].lstrip("0")
    if len(whole) > precision - scale:
        code = -406 if what.startswith("column") else -413
        target = f"DECIMAL({precision},{scale})"
        raise Db2SqlError(f"{_where(what)}{value} does not fit {target}", code, "22003")
    return text


def fit_integer(value: Decimal | int, kind: Db2Type, what: str) -> int:
    """`value` as a SMALLINT/INTEGER/BIGINT: the fraction dropped, the range checked.

    Raises:
        Db2SqlError: out of the type's range (-406 for a column, -413 otherwise).
    """
    number = int(value)  # truncates toward zero, as Db2 does
    low, high = INT_RANGES[kind]
    if not low <= number <= high:
        code = -406 if what.startswith("column") else -413
        raise Db2SqlError(f"{_where(what)}{value} does not fit {kind.value}", code, "22003")
    return number


def _where(what: str) -> str:
    return f"{what}: " if what else ""


def convert(raw: object, source: SqlType, target: SqlType, what: str = "") -> object:
    """A value of type `source` converted (cast or assigned) to `target`, in its stored form.

    Args:
        raw: the value as SQLite holds it; None stays None.
        source: its type.
        target: the type to convert to.
        what: for an assignment, "column NAME of SCHEMA.TABLE" (named in errors); "" for a
            CAST or a conversion function.

    Raises:
        Db2SqlError: the value does not fit or cannot be read as the target type.
    """
    if raw is None:
        return None
    kind = target.kind
    if kind is Db2Type.DECIMAL:
        number = _number(raw, source, "DECIMAL")
        return fit_decimal(number, target.length or 5, target.scale or 0, what)
    if kind in INT_RANGES:
        return fit_integer(_number(raw, source, kind.value), kind, what)
    if kind is Db2Type.DOUBLE:
        return float(_number(raw, source, "DOUBLE"))
    if kind in (Db2Type.CHAR, Db2Type.VARCHAR):
        return _to_string(string_of(raw, source), target, what)
    return _to_datetime(raw, source, kind, what)


def _number(raw: object, source: SqlType, function: str) -> Decimal:
    if source.kind is Db2Type.DOUBLE and isinstance(raw, float):
        return Decimal(repr(raw))
    return to_decimal(raw, function)


def string_of(raw: object, source: SqlType) -> str:
    """The string form of a value, as CHAR/VARCHAR and an implicit cast to a string give it."""
    if source.is_decimal:
        return _char_of_decimal(to_decimal(raw), source.scale or 0)
    if source.kind is Db2Type.DOUBLE:
        return f"{float(raw):.15E}"  # type: ignore[arg-type]
    if source.kind in (Db2Type.DATE, Db2Type.TIME, Db2Type.TIMESTAMP):
        return datetime_string(str(raw), source.kind, "ISO")
    return str(raw)


def _char_of_decimal(value: Decimal, scale: int) -> str:
    # Db2 for z/OS (V10 on): no leading zeros, no decimal point when the scale is 0.
    text = decimal_text(value, scale)
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, _, fraction = digits.partition(".")
    whole = whole.lstrip("0")
    return sign + (f"{whole}.{fraction}" if scale else whole or "0")


def datetime_string(stored: str, kind: Db2Type, form: str) -> str:
    """CHAR of a stored DATE, TIME or TIMESTAMP in a Db2 format (ISO, USA, EUR, JIS)."""
    if kind is Db2Type.TIMESTAMP:
        return stored[:10] + "-" + stored[11:19].replace(":", ".") + stored[19:]
    value = date.fromisoformat(stored) if kind is Db2Type.DATE else time.fromisoformat(stored)
    return value.strftime(_CHAR_FORMATS[kind][form])


def _to_string(text: str, target: SqlType, what: str) -> str:
    length = target.length or 1
    if len(text) <= length:
        # A CAST to CHAR pads; an assigned value is stored as given (the column's RTRIM
        # collation and the capture's stripping make the padding invisible).
        return text.ljust(length) if not what and target.kind is Db2Type.CHAR else text
    if not what or not text[length:].strip(" "):
        return text[:length]  # CAST truncates; an assignment only cuts trailing blanks
    raise Db2SqlError(f"{what}: the string {text!r} is too long for {target.sql}", -404, "22001")


def _to_datetime(raw: object, source: SqlType, kind: Db2Type | None, what: str) -> str:
    text = str(raw)
    if source.kind is Db2Type.TIMESTAMP:
        return text[:10] if kind is Db2Type.DATE else text[11:19] if kind is Db2Type.TIME else text
    if source.kind is Db2Type.DATE and kind is Db2Type.TIMESTAMP:
        return text + " 00:00:00.000000"
    if source.kind is kind:
        return text
    parse = {Db2Type.DATE: parse_date, Db2Type.TIME: parse_time}.get(kind, parse_timestamp)  # type: ignore[arg-type]
    try:
        return parse(text.strip())
    except Db2SqlError as exc:
        if what:
            raise Db2SqlError(f"{what}: {exc.reason}", exc.sqlcode, exc.sqlstate) from exc
        raise


def parse_date(text: str) -> str:
    """A Db2 date string (ISO/JIS yyyy-mm-dd, USA mm/dd/yyyy, EUR dd.mm.yyyy) → "YYYY-MM-DD"."""
    for form in _DATE_FORMS:
        match = form.match(text)
        if match:
            parts = (int(match["y"]), int(match["m"]), int(match["d"]))
            return _valid(date, parts, text, "date").isoformat()
    raise _bad_syntax(text, "date")


def parse_time(text: str) -> str:
    """A Db2 time string (hh.mm.ss, hh:mm:ss, hh:mm AM) → "HH:MM:SS"."""
    match = _TIME.match(text.upper())
    if not match:
        raise _bad_syntax(text, "time")
    hour = int(match["h"])
    if match["ap"]:
        hour = hour % 12 + (12 if match["ap"] == "PM" else 0)
    parts = (hour, int(match["mi"]), int(match["s"] or 0))
    return _valid(time, parts, text, "time").isoformat()


def parse_timestamp(text: str) -> str:
    """A Db2 timestamp string (yyyy-mm-dd-hh.mm.ss.nnnnnn or yyyy-mm-dd hh:mm:ss.nnnnnn,
    0 to 12 fractional digits, truncated to microseconds) → "YYYY-MM-DD HH:MM:SS.ffffff"."""
    match = _TIMESTAMP.match(text)
    if not match:
        raise _bad_syntax(text, "timestamp")
    day = parse_date(match["date"])
    micros = int(((match["f"] or "") + "000000")[:6])
    parts = (int(match["h"]), int(match["mi"]), int(match["s"]), micros)
    clock = _valid(time, parts, text, "timestamp").isoformat("microseconds")
    return f"{day} {clock}"


def _valid(kind: Callable[..., _T], parts: tuple[int, ...], text: str, what: str) -> _T:
    try:
        return kind(*parts)
    except ValueError as exc:
        raise Db2SqlError(f"{text!r} is not a valid {what}", -181, "22007") from exc


def _bad_syntax(text: str, what: str) -> Db2SqlError:
    return Db2SqlError(f"{text!r} is not a valid string representation of a {what}", -180, "22007")


def now_registers(now: datetime) -> dict[Db2Type, str]:
    """CURRENT DATE, CURRENT TIME and CURRENT TIMESTAMP at `now`, in their stored forms."""
    return {
        Db2Type.DATE: now.date().isoformat(),
        Db2Type.TIME: now.time().isoformat("seconds"),
        Db2Type.TIMESTAMP: now.isoformat(" ", "microseconds"),
    }
