"""Building blocks of the Db2 → SQLite translation: the names an expression sees (`Scope`),
SQLite calls, literals and identifiers, and how a refusal names a construct."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from simulators.db2_types import SqlType
from simulators.errors import Db2SqlError

Typed = tuple[exp.Expr, SqlType]
"""A translated expression: the SQLite expression and its Db2 type."""


def call(name: str, *args: exp.Expr | str | int) -> exp.Expr:
    """A call of a SQLite function; str and int arguments become literals."""
    return exp.Anonymous(this=name, expressions=[literal(a) for a in args])


def literal(value: exp.Expr | str | int | float | None) -> exp.Expr:
    """A SQLite literal (an expression is returned as is)."""
    if isinstance(value, exp.Expr):
        return value
    if value is None:
        return exp.Null()
    if isinstance(value, str):
        return exp.Literal.string(value)
    return exp.Literal.number(repr(value) if isinstance(value, float) else str(value))


def ident(name: str) -> exp.Identifier:
    """A quoted identifier, exactly as named."""
    return exp.to_identifier(name, quoted=True)


@dataclass
class Scope:
    """The relations an expression sees: qualifier → column types, then the outer scope.

    Attributes:
        sources: per qualifier (table name or correlation name), its columns and types.
        outer: the scope of the enclosing query (for correlated subqueries).
        aggregates: whether aggregate functions may appear (select list, HAVING).
    """

    sources: dict[str, dict[str, SqlType]] = field(default_factory=dict)
    outer: Scope | None = None
    aggregates: bool = False

    def resolve(self, name: str, qualifier: str | None) -> tuple[str, SqlType]:
        """(qualifier, type) of a column.

        Raises:
            Db2SqlError: no visible relation has the column, or more than one (-206/-203).
        """
        found = [
            (q, columns[name])
            for q, columns in self.sources.items()
            if (qualifier is None or q == qualifier) and name in columns
        ]
        if len(found) == 1:
            return found[0]
        if found:
            raise Db2SqlError(f"the column name {name} is ambiguous", -203, "42702")
        if self.outer is not None:
            return self.outer.resolve(name, qualifier)
        where = f"{qualifier}.{name}" if qualifier else name
        raise Db2SqlError(f"{where} is not a column of the tables of the statement", -206, "42703")


def construct_name(node: exp.Expr) -> str:
    """How a refusal names an unsupported construct, e.g. "MERGE" or "function DAYNAME"."""
    if isinstance(node, exp.Anonymous):
        return f"function {str(node.this).upper()}"
    if isinstance(node, exp.Var):
        return f"{node.name.upper()} in this place"
    names = {
        exp.Window: "an OLAP specification (OVER)",
        exp.Interval: "a labeled duration",
        exp.Placeholder: "a parameter marker",
        exp.Parameter: "a host variable",
        exp.Select: "a query in this place",
    }
    for kind, name in names.items():
        if isinstance(node, kind):
            return name
    if isinstance(node, exp.Func):
        return f"function {node.sql_name()}"
    return node.key.upper().replace("_", " ")
