"""The Db2 for z/OS built-in functions the simulated Db2 executes, translated to SQLite.

Casting functions (DECIMAL/DEC, INTEGER/INT, SMALLINT, BIGINT, DOUBLE/FLOAT, CHAR, VARCHAR,
DATE, TIME, TIMESTAMP and CAST), strings (SUBSTR, LENGTH, UPPER/UCASE, LOWER/LCASE, TRIM,
LTRIM, RTRIM, STRIP, CONCAT, LEFT, RIGHT, REPLACE, LOCATE, POSSTR), numbers (ABS, MOD, ROUND),
datetimes (YEAR, MONTH, DAY, HOUR, MINUTE, SECOND, DAYS), NULLs (COALESCE, VALUE, IFNULL,
NULLIF) and the aggregates COUNT, SUM, AVG, MIN, MAX with Db2's result types.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlglot import exp

from event_contract.catalog import CatalogError, Db2Type
from simulators import db2_types as types
from simulators.db2_tree import Scope, Typed, call, construct_name, literal
from simulators.db2_types import SqlType
from simulators.db2_values import type_named
from simulators.errors import Db2SqlError, UnsupportedSql

if TYPE_CHECKING:
    from simulators.db2_expr import Expressions

Handler = Callable[["Builtins", list[exp.Expr], Scope], Typed]
_DEFAULT_PRECISION = {Db2Type.SMALLINT: 5, Db2Type.INTEGER: 11, Db2Type.BIGINT: 19}
_CHAR_LENGTHS = {
    Db2Type.SMALLINT: 6,
    Db2Type.INTEGER: 11,
    Db2Type.BIGINT: 20,
    Db2Type.DOUBLE: 24,
    Db2Type.DATE: 10,
    Db2Type.TIME: 8,
    Db2Type.TIMESTAMP: 26,
}
_PARTS = {"YEAR": (1, 4), "MONTH": (6, 2), "DAY": (9, 2)}
_CLOCK = {"HOUR": (1, 2), "MINUTE": (4, 2), "SECOND": (7, 2)}
_BYTES = {
    Db2Type.SMALLINT: 2,
    Db2Type.INTEGER: 4,
    Db2Type.BIGINT: 8,
    Db2Type.DOUBLE: 8,
    Db2Type.DATE: 4,
    Db2Type.TIME: 3,
    Db2Type.TIMESTAMP: 10,
}


class Builtins:
    """Translates function calls; `expressions` translates their arguments."""

    def __init__(self, expressions: Expressions) -> None:
        self.x = expressions

    def call(self, node: exp.Expr, scope: Scope) -> Typed:
        """A built-in function call as SQLite and its Db2 result type."""
        if isinstance(node, exp.Cast):
            target = _type_of(node.args["to"])
            return self.x.cast(self.x.value(node.this, scope), target), target
        if isinstance(node, exp.Trim):
            return self._trim(node, scope)
        if isinstance(node, exp.Substring):
            args = [node.this, node.args["start"], node.args.get("length")]
            return _substr(self, [a for a in args if a is not None], scope)
        if isinstance(node, exp.Count | exp.Sum | exp.Avg | exp.Min | exp.Max):
            return self._aggregate(node, scope)
        if isinstance(node, exp.Anonymous):
            name = str(node.this).upper()
            handler = _FUNCTIONS.get(name)
            if handler is not None:
                return handler(self, list(node.expressions), scope)
        raise UnsupportedSql(construct_name(node))

    def args(
        self, name: str, nodes: list[exp.Expr], scope: Scope, low: int, high: int
    ) -> list[Typed]:
        """The translated arguments of `name`, between `low` and `high` of them."""
        if not low <= len(nodes) <= high:
            raise Db2SqlError(f"the number of arguments of {name} is invalid", -170, "42605")
        return [self.x.value(n, scope) for n in nodes]

    def _trim(self, node: exp.Expr, scope: Scope) -> Typed:
        text = self.x.as_string(self.x.value(node.this, scope))
        side = {"LEADING": "LTRIM", "TRAILING": "RTRIM"}.get(str(node.args.get("position") or ""))
        chars = node.args.get("expression")
        args = [text[0]] + ([self.x.value(chars, scope)[0]] if chars is not None else [])
        return exp.Anonymous(this=side or "TRIM", expressions=args), types.varchar(
            text[1].length or 1
        )

    def _aggregate(self, node: exp.Func, scope: Scope) -> Typed:
        name = node.sql_name()
        if not scope.aggregates:
            raise Db2SqlError(f"{name} is not allowed here", -120, "42903")
        inner, distinct = node.this, False
        if isinstance(inner, exp.Distinct):
            inner, distinct = inner.expressions[0], True
        if isinstance(node, exp.Count) and isinstance(inner, exp.Star):
            return exp.Count(this=exp.Star()), types.INTEGER
        argument = self.x.value(inner, Scope(scope.sources, scope.outer, aggregates=False))
        value, kind = argument
        if kind.is_decimal:
            value = call("db2_fmt", value, kind.scale or 0)  # DISTINCT compares values
        if distinct:
            value = exp.Distinct(expressions=[value])
        if isinstance(node, exp.Count):
            return exp.Count(this=value), types.INTEGER
        return self._numeric_aggregate(name, value, kind)

    def _numeric_aggregate(self, name: str, value: exp.Expr, kind: SqlType) -> Typed:
        if name in ("MIN", "MAX"):
            if kind.is_decimal:
                return exp.Anonymous(this=self.x.aggregate(name, kind), expressions=[value]), kind
            return exp.Anonymous(this=name, expressions=[value]), kind
        if not kind.is_numeric:
            raise Db2SqlError(f"{name} needs numbers, not {kind.sql}", -171, "42815")
        result = types.sum_of(kind) if name == "SUM" else types.avg_of(kind)
        if kind.kind is Db2Type.DOUBLE:
            return exp.Anonymous(this=name, expressions=[value]), result
        return exp.Anonymous(this=self.x.aggregate(name, result), expressions=[value]), result


def _type_of(node: exp.Expr) -> SqlType:
    text = node.sql().upper().replace(" ", "")
    text = text.removesuffix("(6)") if text.startswith("TIMESTAMP") else text
    try:
        return type_named(text)
    except CatalogError as exc:
        raise UnsupportedSql(f"CAST to {text}") from exc


def _integer(node: exp.Expr, name: str) -> int:
    if isinstance(node, exp.Literal) and not node.is_string and node.this.isdigit():
        return int(node.this)
    raise Db2SqlError(
        f"the length, precision or scale of {name} must be a whole number", -171, "42815"
    )


def _decimal(b: Builtins, nodes: list[exp.Expr], scope: Scope) -> Typed:
    (arg, *_) = b.args("DECIMAL", nodes, scope, 1, 3)
    default = _DEFAULT_PRECISION.get(arg[1].kind, 15)  # type: ignore[arg-type]
    precision = _integer(nodes[1], "DECIMAL") if len(nodes) > 1 else default
    scale = _integer(nodes[2], "DECIMAL") if len(nodes) > 2 else 0
    try:
        target = type_named(f"DECIMAL({precision},{scale})")
    except CatalogError as exc:
        raise Db2SqlError(str(exc), -171, "42815") from exc
    return b.x.cast(arg, target), target


def _to(kind: Db2Type) -> Handler:
    def convert(b: Builtins, nodes: list[exp.Expr], scope: Scope) -> Typed:
        (arg,) = b.args(kind.value, nodes, scope, 1, 1)
        return b.x.cast(arg, SqlType(kind)), SqlType(kind)

    return convert


def _string(kind: Db2Type) -> Handler:
    def convert(b: Builtins, nodes: list[exp.Expr], scope: Scope) -> Typed:
        form_given = len(nodes) == 2 and isinstance(nodes[1], exp.Column)
        (arg, *rest) = b.args(kind.value, nodes[:1] if form_given else nodes, scope, 1, 2)
        source = arg[1]
        if form_given:
            if source.kind not in (Db2Type.DATE, Db2Type.TIME):
                raise Db2SqlError(
                    f"{kind.value} takes a format only for DATE and TIME", -171, "42815"
                )
            form = nodes[1].name.upper()
            if form not in ("ISO", "USA", "EUR", "JIS", "LOCAL"):
                raise Db2SqlError(f"{form} is not a datetime format", -171, "42815")
            text = call(
                "db2_char_datetime", arg[0], source.kind.value, form.replace("LOCAL", "ISO")
            )
            return text, SqlType(kind, _CHAR_LENGTHS[source.kind])
        if rest:
            length = _integer(nodes[1], kind.value)
        elif source.is_string:
            length = source.length or 1
        elif source.is_decimal:
            length = (source.length or 5) + 2
        else:
            length = _CHAR_LENGTHS.get(source.kind, 1)  # type: ignore[arg-type]
        target = SqlType(kind, length)
        string = b.x.as_string(arg)
        value = b.x.cast(string, target) if rest else string[0]  # CAST pads and truncates
        return (call("db2_pad", value, length) if kind is Db2Type.CHAR else value), target

    return convert


def _substr(b: Builtins, nodes: list[exp.Expr], scope: Scope) -> Typed:
    text, start, *rest = b.args("SUBSTR", nodes, scope, 2, 3)
    text = b.x.as_string(text)
    attribute = text[1].length or 1
    count = rest[0][0] if rest else exp.Null()
    return call("db2_substr", text[0], start[0], count, attribute), types.varchar(attribute)


def _length(b: Builtins, nodes: list[exp.Expr], scope: Scope) -> Typed:
    ((value, kind),) = b.args("LENGTH", nodes, scope, 1, 1)
    if kind.is_string or kind.kind is None:
        return exp.Anonymous(this="LENGTH", expressions=[value]), types.INTEGER
    size = (kind.length or 5) // 2 + 1 if kind.is_decimal else _BYTES[kind.kind]
    test = exp.If(this=exp.Is(this=value, expression=exp.Null()), true=exp.Null())
    return exp.Case(ifs=[test], default=literal(size)), types.INTEGER


def _native(name: str, low: int, high: int, result: Callable[[list[Typed]], SqlType]) -> Handler:
    """A function SQLite computes as Db2 does, on string arguments."""

    def translate(b: Builtins, nodes: list[exp.Expr], scope: Scope) -> Typed:
        args = b.args(name, nodes, scope, low, high)
        return exp.Anonymous(this=name, expressions=[a[0] for a in args]), result(args)

    return translate


def _same_string(args: list[Typed]) -> SqlType:
    return types.varchar(args[0][1].length or 1)


def _locate(b: Builtins, nodes: list[exp.Expr], scope: Scope) -> Typed:
    args = b.args("LOCATE", nodes, scope, 2, 2)
    return exp.Anonymous(this="INSTR", expressions=[args[1][0], args[0][0]]), types.INTEGER


def _posstr(b: Builtins, nodes: list[exp.Expr], scope: Scope) -> Typed:
    args = b.args("POSSTR", nodes, scope, 2, 2)
    return exp.Anonymous(this="INSTR", expressions=[args[0][0], args[1][0]]), types.INTEGER


def _abs(b: Builtins, nodes: list[exp.Expr], scope: Scope) -> Typed:
    ((value, kind),) = b.args("ABS", nodes, scope, 1, 1)
    if kind.is_decimal:
        negative = exp.LT(this=call("db2_cmp", value, 0), expression=literal(0))
        flipped = call("db2_dec", "-", "0", value, kind.sql, "", "")
        return exp.Case(ifs=[exp.If(this=negative, true=flipped)], default=value), kind
    if kind.is_numeric or kind.kind is None:
        return exp.Anonymous(this="ABS", expressions=[value]), kind
    raise Db2SqlError(f"ABS needs a number, not {kind.sql}", -171, "42815")


def _mod(b: Builtins, nodes: list[exp.Expr], scope: Scope) -> Typed:
    (a, ta), (c, tc) = b.args("MOD", nodes, scope, 2, 2)
    if not (ta.is_numeric and tc.is_numeric):
        raise Db2SqlError("MOD needs numbers", -171, "42815")
    if ta.is_int and tc.is_int:
        result = types.arithmetic("+", ta, tc)
        return call("db2_int", "%", a, c, result.sql), result
    if Db2Type.DOUBLE in (ta.kind, tc.kind):
        raise UnsupportedSql("MOD of DOUBLE values")
    (p, s), (q, t) = types.as_decimal(ta), types.as_decimal(tc)
    result = types.decimal(min(p - s, q - t) + max(s, t), max(s, t))
    return call("db2_dec", "%", a, c, result.sql, "", ""), result


def _round(b: Builtins, nodes: list[exp.Expr], scope: Scope) -> Typed:
    (value, kind), places = b.args("ROUND", nodes, scope, 2, 2)
    if not (kind.is_decimal or kind.is_int) or not places[1].is_int:
        raise UnsupportedSql(f"ROUND of {kind.sql}")
    if kind.is_int:
        return call("db2_round", value, places[0], kind.sql), kind
    precision = min(31, (kind.length or 5) + 1)
    result = types.decimal(precision, kind.scale or 0)
    return call("db2_round", value, places[0], result.sql), result


def _part(name: str, positions: tuple[int, int], kinds: tuple[Db2Type, ...]) -> Handler:
    def extract(b: Builtins, nodes: list[exp.Expr], scope: Scope) -> Typed:
        ((value, kind),) = b.args(name, nodes, scope, 1, 1)
        if kind.is_string:
            value, kind = b.x.cast((value, kind), SqlType(kinds[0])), SqlType(kinds[0])
        if kind.kind not in kinds:
            raise Db2SqlError(
                f"{name} needs a {' or '.join(k.value for k in kinds)}", -171, "42815"
            )
        start = positions[0] + (11 if kind.kind is Db2Type.TIMESTAMP and name in _CLOCK else 0)
        text = exp.Anonymous(
            this="SUBSTR", expressions=[value, literal(start), literal(positions[1])]
        )
        return exp.Cast(this=text, to=exp.DataType.build("INTEGER")), types.INTEGER

    return extract


def _days(b: Builtins, nodes: list[exp.Expr], scope: Scope) -> Typed:
    ((value, kind),) = b.args("DAYS", nodes, scope, 1, 1)
    day = b.x.cast((value, kind), SqlType(Db2Type.DATE))
    span = exp.Sub(
        this=exp.Anonymous(
            this="JULIANDAY",
            expressions=[exp.Anonymous(this="SUBSTR", expressions=[day, literal(1), literal(10)])],
        ),
        expression=literal(1721424.5),
    )
    return exp.Cast(this=span, to=exp.DataType.build("INTEGER")), types.INTEGER


def _nullif(b: Builtins, nodes: list[exp.Expr], scope: Scope) -> Typed:
    if len(nodes) != 2:
        raise Db2SqlError("the number of arguments of NULLIF is invalid", -170, "42605")
    equal = b.x.compare("=", nodes[0], nodes[1], scope)
    value = b.x.value(nodes[0], scope)
    return exp.Case(ifs=[exp.If(this=equal, true=exp.Null())], default=value[0]), value[1]


def _concat(b: Builtins, nodes: list[exp.Expr], scope: Scope) -> Typed:
    if len(nodes) != 2:
        raise Db2SqlError("the number of arguments of CONCAT is invalid", -170, "42605")
    return b.x.concat(nodes, scope)


def _side(name: str) -> Handler:
    def translate(b: Builtins, nodes: list[exp.Expr], scope: Scope) -> Typed:
        text, count = b.args(name, nodes, scope, 2, 2)
        start = literal(1) if name == "LEFT" else exp.Neg(this=count[0])
        return exp.Anonymous(this="SUBSTR", expressions=[text[0], start, count[0]]), text[1]

    return translate


_DATE_KINDS = (Db2Type.DATE, Db2Type.TIMESTAMP)
_TIME_KINDS = (Db2Type.TIME, Db2Type.TIMESTAMP)
_FUNCTIONS: dict[str, Handler] = {
    "DECIMAL": _decimal,
    "DEC": _decimal,
    "INTEGER": _to(Db2Type.INTEGER),
    "INT": _to(Db2Type.INTEGER),
    "SMALLINT": _to(Db2Type.SMALLINT),
    "BIGINT": _to(Db2Type.BIGINT),
    "DOUBLE": _to(Db2Type.DOUBLE),
    "FLOAT": _to(Db2Type.DOUBLE),
    "DATE": _to(Db2Type.DATE),
    "TIME": _to(Db2Type.TIME),
    "TIMESTAMP": _to(Db2Type.TIMESTAMP),
    "CHAR": _string(Db2Type.CHAR),
    "VARCHAR": _string(Db2Type.VARCHAR),
    "SUBSTR": _substr,
    "LENGTH": _length,
    "UPPER": _native("UPPER", 1, 1, _same_string),
    "UCASE": _native("UPPER", 1, 1, _same_string),
    "LOWER": _native("LOWER", 1, 1, _same_string),
    "LCASE": _native("LOWER", 1, 1, _same_string),
    "LTRIM": _native("LTRIM", 1, 1, _same_string),
    "RTRIM": _native("RTRIM", 1, 1, _same_string),
    "STRIP": _native("TRIM", 1, 1, _same_string),
    "REPLACE": _native("REPLACE", 3, 3, lambda args: types.varchar(32704)),
    "CONCAT": _concat,
    "LEFT": _side("LEFT"),
    "RIGHT": _side("RIGHT"),
    "LOCATE": _locate,
    "POSSTR": _posstr,
    "ABS": _abs,
    "MOD": _mod,
    "ROUND": _round,
    "DAYS": _days,
    "VALUE": lambda b, nodes, scope: b.x.coalesce(nodes, scope),
    "IFNULL": lambda b, nodes, scope: b.x.coalesce(nodes, scope),
    "NULLIF": _nullif,
    **{name: _part(name, place, _DATE_KINDS) for name, place in _PARTS.items()},
    **{name: _part(name, place, _TIME_KINDS) for name, place in _CLOCK.items()},
}
"""Db2 scalar functions by name (sqlglot hands them over as Anonymous calls)."""
FUNCTION_NAMES = frozenset(_FUNCTIONS)
