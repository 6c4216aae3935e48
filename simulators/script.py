"""A script of Db2 SQL run as one unit of work, as `offload sor exec` runs it.

Every statement is parsed and checked before the first one runs, so a construct the simulated
Db2 cannot execute is refused before anything changes (`UnsupportedSql`). DDL (CREATE/ALTER/DROP
TABLE) goes to `simulators.ddl`; queries, INSERT, UPDATE and DELETE are translated by
`simulators.db2_sql` and run on SQLite. A statement that fails raises `StatementError` naming
Db2's SQLCODE, and the caller's unit of work rolls everything back.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlglot import exp

from simulators.db2_sql import parse
from simulators.ddl import Statement, is_ddl, parse_statement, split_statements
from simulators.errors import Db2SqlError, StatementError

if TYPE_CHECKING:
    from simulators.sor import SystemOfRecord

logger = logging.getLogger(__name__)

# A table of another schema than the file's is kept as "SCHEMA.TABLE" (db2.dialect.sqlite_table).
_NOT_NULL = re.compile(r"NOT NULL constraint failed: ([\w.]+)\.(\w+)")
_UNIQUE = re.compile(r"UNIQUE constraint failed: ([\w.]+)\.\w+")


@dataclass(frozen=True, slots=True)
class Result:
    """What one statement answered.

    Attributes:
        statement: the statement as written.
        columns: a query's column names as Db2 names them; () for any other statement.
        rows: a query's rows (DECIMAL as text at its scale, CHAR padded with blanks).
        count: rows answered by a query, or changed by INSERT, UPDATE or DELETE.
    """

    statement: str
    columns: tuple[str, ...]
    rows: list[tuple[object, ...]]
    count: int


Planned = tuple[str, "Statement | exp.Expr"]


def plan(text: str, schema: str) -> list[Planned]:
    """Every statement of `text` parsed and checked; nothing runs.

    Raises:
        DdlError: a DDL statement the simulated Db2 cannot parse or carry.
        UnsupportedSql: a statement or construct the simulated Db2 cannot execute.
    """
    return [
        (sql, parse_statement(sql, schema) if is_ddl(sql) else parse(sql))
        for sql in split_statements(text)
    ]


def run_script(sor: SystemOfRecord, text: str) -> list[Result]:
    """Run every statement of `text` (call inside a unit of work); returns their results.

    Statements before the first DDL are translated before any runs too, so their Db2 errors
    (an unknown column, a constant out of range) also come before anything changed.
    """
    planned = plan(text, sor.schema)
    for sql, tree in planned:
        if not isinstance(tree, exp.Expr):
            break
        _translate(sor, sql, tree)
    return [_run(sor, sql, tree) for sql, tree in planned]


def _translate(sor: SystemOfRecord, sql: str, tree: exp.Expr) -> tuple[str, tuple[str, ...]]:
    try:
        translation = sor.db2.translate(tree)
    except Db2SqlError as exc:
        raise StatementError(sql, str(exc)) from exc
    return translation.sql, translation.columns


def _run(sor: SystemOfRecord, sql: str, tree: Statement | exp.Expr) -> Result:
    if not isinstance(tree, exp.Expr):
        sor.apply_ddl(tree)
        return Result(sql, (), [], 0)
    sqlite_sql, columns = _translate(sor, sql, tree)
    logger.debug("Db2 statement %r runs as %r", sql, sqlite_sql)
    try:
        cursor = sor.conn.execute(sqlite_sql)
        rows = cursor.fetchall() if columns else []
    except sqlite3.Error as exc:
        raise StatementError(sql, _reason(sor, exc)) from exc
    return Result(sql, columns, rows, len(rows) if columns else cursor.rowcount)


def _reason(sor: SystemOfRecord, exc: sqlite3.Error) -> str:
    """Why a statement failed, as Db2 says it."""
    error = sor.db2.runtime.take_error()
    if error is not None:
        return str(error)
    text = str(exc)
    missing = _NOT_NULL.search(text)
    if missing:
        table, column = missing.groups()
        table = table if "." in table else f"{sor.schema}.{table}"
        reason = f"column {column} of {table} cannot be NULL"
        return str(Db2SqlError(reason, -407, "23502"))
    duplicate = _UNIQUE.search(text)
    if duplicate:
        table = duplicate.group(1)
        table = table if "." in table else f"{sor.schema}.{table}"
        reason = f"{table} already has a row with this primary key"
        return str(Db2SqlError(reason, -803, "23505"))
    return text
