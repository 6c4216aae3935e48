"""Db2 expressions and predicates translated into SQLite ones that compute what Db2 computes.

Each Db2 expression (a sqlglot tree read with `simulators.db2_sql.Db2`) becomes a SQLite
expression and its Db2 type (`SqlType`). Decimal literals become exact text, decimal
arithmetic, comparison, ordering and aggregates call the functions of
`simulators.db2_functions`, CHAR values are blank-padded as Db2 holds them, and strings
compare as Db2 compares them (trailing blanks ignored). Scalar functions are in
`simulators.db2_builtins`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from sqlglot import exp

from event_contract.catalog import Db2Type
from simulators import db2_types as types
from simulators.db2_builtins import Builtins
from simulators.db2_tree import Scope, Typed, call, construct_name, ident, literal
from simulators.db2_types import SqlType
from simulators.db2_values import convert
from simulators.errors import Db2SqlError, UnsupportedSql

_COMPARISONS = {exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<="}
_ARITHMETIC = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/"}
_REGISTERS: dict[type[exp.Expr], Db2Type] = {
    exp.CurrentDate: Db2Type.DATE,
    exp.CurrentTime: Db2Type.TIME,
    exp.CurrentTimestamp: Db2Type.TIMESTAMP,
}


class Expressions:
    """Translates expressions and predicates of one statement.

    Args:
        now: CURRENT DATE/TIME/TIMESTAMP of the statement (one value per statement, as Db2).
        query: translates a subquery in a scope, answering its SELECT and column types.
        aggregate: the name of a registered aggregate for (function, result type).
    """

    def __init__(
        self,
        now: dict[Db2Type, str],
        query: Callable[[exp.Expr, Scope], tuple[exp.Expr, list[SqlType]]],
        aggregate: Callable[[str, SqlType], str],
    ) -> None:
        self.now = now
        self.query = query
        self.aggregate = aggregate
        self.builtins = Builtins(self)

    # --- values --------------------------------------------------------------------------

    def value(self, node: exp.Expr, scope: Scope) -> Typed:
        """A Db2 expression as a SQLite expression and its Db2 type."""
        kind = type(node)
        if kind in _ARITHMETIC:
            return self.arithmetic(_ARITHMETIC[kind], node.this, node.expression, scope)
        handler = _VALUE_HANDLERS.get(kind)
        if handler is not None:
            return handler(self, node, scope)
        if isinstance(node, exp.Func):
            return self.builtins.call(node, scope)
        raise UnsupportedSql(construct_name(node))

    def _literal(self, node: exp.Expr, scope: Scope) -> Typed:
        assert isinstance(node, exp.Literal)
        text = node.this
        if node.is_string:
            return literal(text), types.varchar(len(text))
        kind = types.of_number(text)
        if kind.is_decimal:
            return literal(format(Decimal(text), "f")), kind
        if kind.kind is Db2Type.DOUBLE:
            return literal(float(text)), kind
        return literal(int(text)), kind

    def _column(self, node: exp.Expr, scope: Scope) -> Typed:
        column, kind = self.column(node, scope)
        if kind.kind is Db2Type.CHAR:
            return call("db2_pad", column, kind.length or 1), kind
        return column, kind

    def column(self, node: exp.Expr, scope: Scope) -> Typed:
        """A column reference as stored (CHAR not padded), qualified by its relation."""
        assert isinstance(node, exp.Column)
        if isinstance(node.this, exp.Star):
            raise UnsupportedSql("a * outside the select list")
        qualifier = node.table or None
        found, kind = scope.resolve(
            node.name.upper() if not node.this.quoted else node.name,
            qualifier.upper() if qualifier else None,
        )
        return exp.Column(
            this=ident(node.this.name if node.this.quoted else node.name.upper()),
            table=ident(found),
        ), kind

    def _negate(self, node: exp.Expr, scope: Scope) -> Typed:
        inner, kind = self.value(node.this, scope)
        if not kind.is_numeric:
            raise _not_numeric("-", kind)
        result = types.negated(kind)
        if kind.kind is Db2Type.DOUBLE:
            return exp.Neg(this=exp.Paren(this=inner)), result
        if kind.is_decimal:
            return call("db2_dec", "-", "0", inner, result.sql, "", ""), result
        return call("db2_int", "-", 0, inner, result.sql), result

    def arithmetic(self, op: str, left: exp.Expr, right: exp.Expr, scope: Scope) -> Typed:
        """`left op right` with Db2's result type; decimals exact, integers range-checked."""
        a, ta = self.value(left, scope)
        b, tb = self.value(right, scope)
        for kind in (ta, tb):
            if kind.kind in types.DATETIMES:
                raise UnsupportedSql("date and time arithmetic")
            if kind.kind is not None and not kind.is_numeric:
                raise _not_numeric(op, kind)
        if ta.kind is None or tb.kind is None:
            return exp.Null(), ta if tb.kind is None else tb
        result = types.arithmetic(op, ta, tb)
        if result.kind is Db2Type.DOUBLE:
            node = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul, "/": exp.Div}[op]
            return exp.Paren(this=node(this=self.real(a, ta), expression=self.real(b, tb))), result
        if result.is_int:
            return call("db2_int", op, a, b, result.sql), result
        copy_a, copy_b = types.copies(op, ta, tb)
        copies = [f"DECIMAL({p},{s})" if p else "" for p, s in (copy_a or (0, 0), copy_b or (0, 0))]
        return call("db2_dec", op, a, b, result.sql, *copies), result

    def real(self, node: exp.Expr, kind: SqlType) -> exp.Expr:
        """A number as a SQLite REAL (for arithmetic and comparison with DOUBLE)."""
        if kind.kind is Db2Type.DOUBLE:
            return node
        return self.cast((node, kind), types.DOUBLE)

    def _concat(self, node: exp.Expr, scope: Scope) -> Typed:
        return self.concat([node.this, node.expression], scope)

    def concat(self, nodes: list[exp.Expr], scope: Scope) -> Typed:
        """a || b: strings (numbers and datetimes in their string forms)."""
        parts = [self.value(n, scope) for n in nodes]
        strings = [self.as_string(p) for p in parts]
        length = sum(k.length or 0 for _, k in strings)
        kind = Db2Type.CHAR if all(k.kind is Db2Type.CHAR for _, k in strings) else Db2Type.VARCHAR
        return exp.DPipe(this=strings[0][0], expression=strings[1][0]), SqlType(kind, length)

    def as_string(self, typed: Typed) -> Typed:
        """A value as a string, as Db2 casts a number or a datetime implicitly."""
        kind = typed[1]
        if kind.is_string or kind.kind is None:
            return typed
        length = {Db2Type.DATE: 10, Db2Type.TIME: 8, Db2Type.TIMESTAMP: 26}.get(kind.kind, 33)
        target = types.varchar(length)
        return self.cast(typed, target), target

    def cast(self, typed: Typed, target: SqlType, what: str = "") -> exp.Expr:
        """CAST (or assignment, when `what` names a column) to `target`; constants are
        converted now, so a bad constant fails before the statement runs."""
        node, kind = typed
        if isinstance(node, exp.Null):
            return node
        if kind == target and kind.kind not in (Db2Type.DECIMAL, Db2Type.CHAR, Db2Type.VARCHAR):
            return node
        _check_castable(kind, target, what)
        if isinstance(node, exp.Literal):
            raw = node.this if node.is_string else _number(node.this)
            return literal(convert(raw, kind, target, what))  # type: ignore[arg-type]
        return call("db2_cast", node, kind.sql, target.sql, what)

    def _special(self, node: exp.Expr, scope: Scope) -> Typed:
        kind = _REGISTERS[type(node)]
        return literal(self.now[kind]), SqlType(kind)

    def _paren(self, node: exp.Expr, scope: Scope) -> Typed:
        inner, kind = self.value(node.this, scope)
        return exp.Paren(this=inner), kind

    def _subquery(self, node: exp.Expr, scope: Scope) -> Typed:
        select, kinds = self.query(node.this, scope)
        if len(kinds) != 1:
            raise Db2SqlError("a scalar subquery must select one column", -412, "42823")
        return exp.Paren(this=select), kinds[0]

    def _case(self, node: exp.Expr, scope: Scope) -> Typed:
        subject = node.args.get("this")
        whens = []
        for branch in node.args["ifs"]:
            test = branch.this if subject is None else exp.EQ(this=subject, expression=branch.this)
            whens.append((self.predicate(test, scope), self.value(branch.args["true"], scope)))
        default = node.args.get("default")
        other = self.value(default, scope) if default is not None else (exp.Null(), types.NULL)
        kind = types.common([v[1] for _, v in whens] + [other[1]], "the results of a CASE")
        ifs = [exp.If(this=test, true=self.cast(v, kind)) for test, v in whens]
        return exp.Case(ifs=ifs, default=self.cast(other, kind)), kind

    def _coalesce(self, node: exp.Expr, scope: Scope) -> Typed:
        return self.coalesce([node.this, *node.expressions], scope)

    def coalesce(self, nodes: list[exp.Expr], scope: Scope) -> Typed:
        """COALESCE/VALUE: the first non-NULL value, at the arguments' common type."""
        args = [self.value(n, scope) for n in nodes]
        kind = types.common([k for _, k in args], "the arguments of COALESCE")
        return exp.Coalesce(
            this=self.cast(args[0], kind), expressions=[self.cast(a, kind) for a in args[1:]]
        ), kind

    def output(self, typed: Typed) -> exp.Expr:
        """A value as a query answers it: decimals as text at their scale."""
        node, kind = typed
        if kind.is_decimal:
            return call("db2_fmt", node, kind.scale or 0)
        return node

    def sort_key(self, typed: Typed) -> exp.Expr:
        """What ORDER BY and MIN/MAX compare: decimals by value, not as text."""
        node, kind = typed
        return call("db2_key", node) if kind.is_decimal else node

    # --- predicates ----------------------------------------------------------------------

    def predicate(self, node: exp.Expr, scope: Scope) -> exp.Expr:
        """A Db2 search condition as a SQLite condition."""
        if node.args.get("negate"):  # sqlglot's form of NOT LIKE, NOT IN, NOT BETWEEN
            plain = node.copy()
            plain.set("negate", None)
            return exp.Not(this=exp.Paren(this=self.predicate(plain, scope)))
        kind = type(node)
        if kind in _COMPARISONS:
            return self.compare(_COMPARISONS[kind], node.this, node.expression, scope)
        if isinstance(node, exp.And | exp.Or):
            return kind(
                this=self.predicate(node.this, scope),
                expression=self.predicate(node.expression, scope),
            )
        if isinstance(node, exp.Not):
            return exp.Not(this=self.predicate(node.this, scope))
        if isinstance(node, exp.Paren):
            return exp.Paren(this=self.predicate(node.this, scope))
        if isinstance(node, exp.Is):
            return exp.Is(this=self.value(node.this, scope)[0], expression=exp.Null())
        if isinstance(node, exp.Between):
            low = self.compare(">=", node.this, node.args["low"], scope)
            high = self.compare("<=", node.this, node.args["high"], scope)
            return exp.Paren(this=exp.And(this=low, expression=high))
        if isinstance(node, exp.Exists):
            return exp.Exists(this=self.query(node.this, scope)[0])
        if isinstance(node, exp.In):
            return self._in(node, scope)
        if isinstance(node, exp.Like | exp.Escape):
            return self._like(node, scope)
        raise UnsupportedSql(construct_name(node))

    def compare(self, op: str, left: exp.Expr, right: exp.Expr, scope: Scope) -> exp.Expr:
        """`left op right` compared as Db2 compares the two types."""
        a, ta = self._operand(left, scope)
        b, tb = self._operand(right, scope)
        if not types.comparable(ta, tb):
            raise Db2SqlError(f"{ta.sql} and {tb.sql} values cannot be compared", -401, "42818")
        node = {"=": exp.EQ, "<>": exp.NEQ, ">": exp.GT, ">=": exp.GTE, "<": exp.LT, "<=": exp.LTE}[
            op
        ]
        if ta.is_string and tb.is_string:
            return node(this=a, expression=exp.Collate(this=b, expression=exp.Var(this="RTRIM")))
        if Db2Type.DOUBLE in (ta.kind, tb.kind):
            return node(this=self.real(a, ta), expression=self.real(b, tb))
        if ta.is_numeric or tb.is_numeric:
            if ta.is_int and tb.is_int:
                return node(this=a, expression=b)
            return node(this=call("db2_cmp", a, b), expression=literal(0))
        if ta.kind in types.DATETIMES and tb.is_string:
            b = self.cast((b, tb), ta)
        elif tb.kind in types.DATETIMES and ta.is_string:
            a = self.cast((a, ta), tb)
        return node(this=a, expression=b)

    def _operand(self, node: exp.Expr, scope: Scope) -> Typed:
        # A column compared as stored: CHAR compares without its padding (the column's
        # RTRIM collation), and the comparison can use the table's index.
        return self.column(node, scope) if isinstance(node, exp.Column) else self.value(node, scope)

    def _in(self, node: exp.Expr, scope: Scope) -> exp.Expr:
        query = node.args.get("query")
        if query is None:
            tests = [self.compare("=", node.this, item, scope) for item in node.expressions]
            either: exp.Expr = tests[0]
            for test in tests[1:]:
                either = exp.Or(this=either, expression=test)
            return exp.Paren(this=either)
        subject = self.value(node.this, scope)
        select, kinds = self.query(query.this if isinstance(query, exp.Subquery) else query, scope)
        if len(kinds) != 1:
            raise Db2SqlError("the subquery of IN must select one column", -412, "42823")
        if not types.comparable(subject[1], kinds[0]):
            raise Db2SqlError(
                f"{subject[1].sql} and {kinds[0].sql} values cannot be compared", -401, "42818"
            )
        if subject[1].is_decimal or kinds[0].is_decimal:
            return self._in_decimal(subject, select)
        this = subject[0]
        if subject[1].is_string:
            this = exp.Collate(this=this, expression=exp.Var(this="RTRIM"))
        return exp.In(this=this, query=exp.Subquery(this=select))

    def _in_decimal(self, subject: Typed, select: exp.Expr) -> exp.Expr:
        assert isinstance(select, exp.Query)
        inner = exp.Column(this=ident(select.named_selects[0]), table=ident("Q"))
        found = exp.select("1").from_(
            exp.Subquery(this=select, alias=exp.TableAlias(this=ident("Q")))
        )
        found = found.where(exp.EQ(this=call("db2_cmp", subject[0], inner), expression=literal(0)))
        return exp.Exists(this=found)

    def _like(self, node: exp.Expr, scope: Scope) -> exp.Expr:
        escape = None
        if isinstance(node, exp.Escape):
            escape, node = self.value(node.expression, scope)[0], node.this
        text = self.value(node.this, scope)
        pattern = self.value(node.expression, scope)
        if not (text[1].is_string and pattern[1].is_string):
            raise Db2SqlError("LIKE needs character strings", -132, "42824")
        return exp.EQ(
            this=call("db2_like", text[0], pattern[0], escape or exp.Null()), expression=literal(1)
        )


def _number(text: str) -> object:
    kind = types.of_number(text)
    return float(text) if kind.kind is Db2Type.DOUBLE else text if kind.is_decimal else int(text)


def _not_numeric(op: str, kind: SqlType) -> Db2SqlError:
    return Db2SqlError(f"the operator {op} is applied to {kind.sql} data", -402, "42819")


def _check_castable(source: SqlType, target: SqlType, what: str) -> None:
    """Raise when Db2 has no conversion from `source` to `target` (-408 or -461)."""
    if source.kind is None or source.kind is target.kind:
        return
    ok = (
        (source.is_numeric and (target.is_numeric or target.is_string))
        or source.is_string
        or (source.kind in types.DATETIMES and target.is_string)
        or (source.kind is Db2Type.TIMESTAMP and target.kind in types.DATETIMES)
        or (source.kind is Db2Type.DATE and target.kind is Db2Type.TIMESTAMP)
    )
    if not ok:
        if what:
            raise Db2SqlError(
                f"{what}: a {source.sql} value cannot be assigned to {target.sql}", -408, "42821"
            )
        raise Db2SqlError(f"a {source.sql} value cannot be cast to {target.sql}", -461, "42846")


_VALUE_HANDLERS: dict[type, Callable[[Expressions, exp.Expr, Scope], Typed]] = {
    exp.Literal: Expressions._literal,
    exp.Null: lambda self, node, scope: (exp.Null(), types.NULL),
    exp.Column: Expressions._column,
    exp.Neg: Expressions._negate,
    exp.Paren: Expressions._paren,
    exp.DPipe: Expressions._concat,
    exp.CurrentDate: Expressions._special,
    exp.CurrentTime: Expressions._special,
    exp.CurrentTimestamp: Expressions._special,
    exp.Subquery: Expressions._subquery,
    exp.Case: Expressions._case,
    exp.Coalesce: Expressions._coalesce,
}
