"""Db2 SQL on the simulated Db2: the Db2 for z/OS dialect for sqlglot, and statements
(SELECT, INSERT, UPDATE, DELETE) translated to SQLite that computes what Db2 computes.

The dialect is the one place that knows Db2's syntax beyond sqlglot's own: the special
registers `CURRENT DATE/TIME/TIMESTAMP` written with a blank, Db2's scalar functions kept by
name (sqlglot would turn CHAR(x) into CHR), and the trailing isolation and read-only clauses
(`WITH UR`, `FOR READ ONLY`) that the simulator, serialising its writers, ignores.

What the simulator cannot execute is refused by `check` before any statement of a script
runs, with the construct named (`UnsupportedSql`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlglot import exp, parser, tokens
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from event_contract.catalog import Table
from simulators.db2_builtins import FUNCTION_NAMES
from simulators.db2_expr import Expressions
from simulators.db2_functions import Runtime
from simulators.db2_query import Queries
from simulators.db2_tree import construct_name
from simulators.db2_values import now_registers
from simulators.errors import UnsupportedSql

_KEPT_FUNCTIONS = {"COUNT", "SUM", "AVG", "MIN", "MAX", "COALESCE"}
_KEPT_PARSERS = {"CAST", "TRIM", "SUBSTRING"}
_IGNORED_ENDINGS = (
    ("WITH", "UR"), ("WITH", "CS"), ("WITH", "RS"), ("WITH", "RR"),
    ("FOR", "READ", "ONLY"), ("FOR", "FETCH", "ONLY"),
)  # fmt: skip
_DURATIONS = {"YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND", "MICROSECOND"}
_STATEMENTS = (exp.Select, exp.Union, exp.Except, exp.Intersect, exp.Insert, exp.Update, exp.Delete)
_SUPPORTED_NODES = (
    exp.Select, exp.Union, exp.Except, exp.Intersect, exp.Insert, exp.Update, exp.Delete,
    exp.From, exp.Join, exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered, exp.Limit,
    exp.Fetch, exp.LimitOptions, exp.Offset, exp.Distinct, exp.Table, exp.TableAlias,
    exp.Schema, exp.Values, exp.Tuple, exp.Identifier, exp.Column, exp.Star, exp.Alias,
    exp.Literal, exp.Null, exp.Paren, exp.Neg, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.DPipe,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.And, exp.Or, exp.Not, exp.Is,
    exp.In, exp.Between, exp.Like, exp.Escape, exp.Exists, exp.Case, exp.If, exp.Subquery,
    exp.Cast, exp.DataType, exp.DataTypeParam, exp.Coalesce, exp.Trim, exp.Substring,
    exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.CurrentDate, exp.CurrentTime,
    exp.CurrentTimestamp, exp.Anonymous, exp.Var,
)  # fmt: skip


class Db2(Dialect):
    """Db2 for z/OS, as far as the simulated Db2 reads it."""

    class Tokenizer(tokens.Tokenizer):
        KEYWORDS = {
            **tokens.Tokenizer.KEYWORDS,
            "CURRENT DATE": TokenType.CURRENT_DATE,
            "CURRENT TIME": TokenType.CURRENT_TIME,
            "CURRENT TIMESTAMP": TokenType.CURRENT_TIMESTAMP,
        }

    class Parser(parser.Parser):
        FUNCTIONS = {k: v for k, v in parser.Parser.FUNCTIONS.items() if k in _KEPT_FUNCTIONS}
        FUNCTION_PARSERS = {
            k: v for k, v in parser.Parser.FUNCTION_PARSERS.items() if k in _KEPT_PARSERS
        }


_DB2 = Db2()


def parse(text: str) -> exp.Expr:
    """One Db2 statement as a sqlglot tree, checked (see `check`).

    Raises:
        UnsupportedSql: the syntax, the statement or a construct in it is not supported.
    """
    words = text.split(None, 2)
    first = words[0].upper().lstrip("(") if words else ""
    if first not in ("SELECT", "INSERT", "UPDATE", "DELETE"):
        two = first in ("CREATE", "DROP", "ALTER", "SET", "DECLARE") and len(words) > 1
        raise UnsupportedSql(f"{first} {words[1].upper()}" if two else first)
    try:
        found = _DB2.tokenize(text)
        for ending in _IGNORED_ENDINGS:
            if [t.text.upper() for t in found[-len(ending) :]] == list(ending):
                found = found[: -len(ending)]
                break
        trees = _DB2.parser().parse(found, text)
    except (ParseError, TokenError) as exc:
        raise UnsupportedSql(_syntax(exc, text)) from exc
    if len(trees) != 1 or trees[0] is None:
        raise UnsupportedSql("more than one statement without a ';' between them")
    tree = trees[0]
    check(tree)
    return tree


def _syntax(exc: Exception, text: str) -> str:
    errors = getattr(exc, "errors", None) or [{}]
    near = (errors[0].get("highlight") or "").strip()
    if near.upper().removesuffix("S") in _DURATIONS:
        return f"a labeled duration ({near.upper()})"
    return f"the syntax near {near!r}" if near else f"the syntax of {text.strip()!r}"


def check(tree: exp.Expr) -> None:
    """Refuse a statement the simulated Db2 cannot execute, naming the first construct.

    Raises:
        UnsupportedSql: e.g. "MERGE is not supported by the simulated Db2".
    """
    if not isinstance(tree, _STATEMENTS):
        raise UnsupportedSql(_statement_name(tree))
    for node in tree.walk():
        if isinstance(node, exp.Anonymous) and str(node.this).upper() not in FUNCTION_NAMES:
            raise UnsupportedSql(construct_name(node))
        if not isinstance(node, _SUPPORTED_NODES):
            raise UnsupportedSql(construct_name(node))


def _statement_name(tree: exp.Expr) -> str:
    if isinstance(tree, exp.Command):
        return str(tree.this).upper()
    if isinstance(tree, exp.Create | exp.Drop | exp.Alter):
        kind = str(tree.args.get("kind") or "").upper()
        return f"{tree.key.upper()} {kind}".strip()
    return {"truncatetable": "TRUNCATE", "transaction": "START TRANSACTION"}.get(
        tree.key, tree.key.upper()
    )


def _expression(text: str) -> exp.Expr:
    """A Db2 expression, such as a column's DEFAULT ('USD', 0, CURRENT TIMESTAMP)."""
    select = parse(f"SELECT {text} FROM SYSIBM.SYSDUMMY1")  # noqa: S608 - parsed, not run
    assert isinstance(select, exp.Select)
    return select.expressions[0]


@dataclass(frozen=True, slots=True)
class Translation:
    """A Db2 statement as SQLite SQL.

    Attributes:
        sql: the SQLite statement (every value in it is a literal the translator wrote).
        columns: the names of a query's columns, as Db2 names them; () for INSERT, UPDATE,
            DELETE.
    """

    sql: str
    columns: tuple[str, ...]


class Db2Sql:
    """Translates Db2 statements for one simulated Db2 connection.

    Args:
        runtime: the functions registered on the connection (`db2_functions.Runtime`).
        lookup: the catalog: (schema or None for the default schema, table) → Table.
    """

    def __init__(self, runtime: Runtime, lookup: Callable[[str | None, str], Table]) -> None:
        self.runtime = runtime
        self.lookup = lookup
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        """The clock of CURRENT DATE/TIME/TIMESTAMP: UTC, like DEFAULT CURRENT TIMESTAMP."""
        self.storage: Callable[[str, str], tuple[str, str]] | None = None
        """Where the simulated Db2 keeps Db2 table (schema, name) in SQLite, as (attached
        database, table name); None: as Db2 names it (see `db2.dialect.sqlite_table`)."""

    def translate(self, tree: exp.Expr) -> Translation:
        """The SQLite form of a parsed Db2 statement, CURRENT registers read from `clock` once.

        Raises:
            Db2SqlError: Db2 would refuse the statement (types, names, constants).
            UnsupportedSql: a construct the simulator cannot execute.
        """
        moment = self.clock().replace(tzinfo=None)
        queries = Queries(self.lookup, _expression)
        queries.x = Expressions(now_registers(moment), queries.subquery, self._aggregate)
        sql, columns = queries.statement(tree)
        if self.storage is not None:
            sql = sql.transform(_stored_in, self.storage)
        return Translation(sql.sql(dialect="sqlite"), tuple(columns))

    def _aggregate(self, function: str, result: object) -> str:
        return self.runtime.aggregate(function, getattr(result, "sql", str(result)))


def _stored_in(node: exp.Expr, storage: Callable[[str, str], tuple[str, str]]) -> exp.Expr:
    """A table node renamed to where the simulated Db2 keeps it; a renamed table that had no
    correlation name keeps its Db2 name as one (column references use it)."""
    if not isinstance(node, exp.Table) or not node.db:
        return node
    database, name = storage(node.db, node.name)
    if (database, name) == (node.db, node.name):
        return node
    renamed = exp.Table(this=exp.to_identifier(name, quoted=True),
                        db=exp.to_identifier(database, quoted=True))  # fmt: skip
    alias = node.args.get("alias")
    if alias is None and not isinstance(node.parent, exp.Schema):
        alias = exp.TableAlias(this=exp.to_identifier(node.name, quoted=True))
    if alias is not None:
        renamed.set("alias", alias)
    return renamed
