"""The statement gate of POST /sql: exactly one read-only SELECT, judged by DuckDB's parser.

It is one of several layers, not the only one: the statement also runs inside a read-only
transaction, on a database whose external access is off and whose configuration is locked
(see `store.lock_down`). The gate works on DuckDB's own parse tree, never on keywords:

1. `duckdb.extract_statements` must find exactly one statement, of type SELECT (WITH …
   SELECT, VALUES, FROM-first, DESCRIBE, SHOW and SUMMARIZE parse as SELECT too).
2. The parse tree (`json_serialize_sql`) may name only the table functions in
   `ALLOWED_TABLE_FUNCTIONS`: every file, URL and nested-query reader (read_csv, read_blob,
   glob, query, ...) is refused, including on the DuckDB file itself, which DuckDB's own
   external-access switch still lets through.
3. A table name that looks like a path or URL (`FROM '/etc/passwd'`) is refused.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import duckdb

from query_api.errors import SqlRefused

ALLOWED_TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        "duckdb_tables",
        "duckdb_columns",
        "duckdb_views",
        "duckdb_schemas",
        "duckdb_types",
        "duckdb_constraints",
    }
)
_PATH_CHARS = frozenset("/\\:.~")


class SqlGate:
    """Checks one SQL text; holds a private in-memory DuckDB used only to parse."""

    def __init__(self) -> None:
        self._parser = duckdb.connect(":memory:")
        self._parser.execute("SET enable_external_access = false")
        self._parser.execute("SET lock_configuration = true")
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the parser connection."""
        self._parser.close()

    def check(self, sql: str) -> str:
        """The single SELECT statement of `sql`, without its trailing semicolon.

        Raises:
            SqlRefused: with the reason, for anything but exactly one allowed SELECT.
        """
        if not sql.strip():
            raise SqlRefused("the statement is empty")
        try:
            statements = duckdb.extract_statements(sql)
        except duckdb.Error as exc:
            raise SqlRefused(f"it does not parse: {_first_line(exc)}") from exc
        if len(statements) != 1:
            raise SqlRefused(f"exactly one statement is allowed, got {len(statements)}")
        kind = statements[0].type
        if kind != duckdb.StatementType.SELECT:
            raise SqlRefused(f"only SELECT (or WITH … SELECT) is allowed, got {kind.name}")
        for problem in self._problems(self._tree(sql)):
            raise SqlRefused(problem)
        return sql.strip().rstrip(";").strip()

    def _tree(self, sql: str) -> dict[str, Any]:
        with self._lock:
            rows = self._parser.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()
        tree: dict[str, Any] = json.loads(rows[0][0]) if rows else {"error": True}
        if tree.get("error"):
            message = tree.get("error_message", "the parse tree cannot be built")
            raise SqlRefused(f"it cannot be checked: {message}")
        return tree

    @staticmethod
    def _problems(tree: dict[str, Any]) -> Iterator[str]:
        for node in _walk(tree):
            kind = node.get("type")
            if kind == "TABLE_FUNCTION":
                name = str((node.get("function") or {}).get("function_name", "")).lower()
                if name not in ALLOWED_TABLE_FUNCTIONS:
                    allowed = ", ".join(sorted(ALLOWED_TABLE_FUNCTIONS))
                    yield f"table function {name} is not allowed (allowed: {allowed})"
            elif kind == "BASE_TABLE":
                name = str(node.get("table_name", ""))
                if _PATH_CHARS & set(name):
                    yield f"{name!r} looks like a file or URL; only tables and views can be read"


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict in a JSON tree, depth first."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
