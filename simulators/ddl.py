"""A small parser of Db2 DDL: CREATE SCHEMA, CREATE TABLE, ALTER TABLE ... ADD COLUMN,
DROP TABLE.

It accepts the column types of `event_contract.catalog` (with Db2's aliases), NOT NULL, DEFAULT /
WITH DEFAULT, column and table PRIMARY KEY constraints, and ignores the z/OS placement clauses
`IN database.tablespace` and `CCSID ...`. Anything else is refused with a message naming the
table and column, so a table is never created with types the gateway cannot carry exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from event_contract.catalog import CatalogError, Column, Db2Type, Table, parse_type
from simulators.errors import DdlError

_TOKEN = re.compile(
    r"""\s+|--[^\n]*
    |(?P<qid>"(?:[^"]|"")+")
    |(?P<str>'(?:[^']|'')*')
    |(?P<num>\d+(?:\.\d*)?|\.\d+)
    |(?P<word>[A-Za-z_][A-Za-z0-9_#$@]*)
    |(?P<punct>[(),.;+-])""",
    re.VERBOSE,
)
_TWO_WORD_TYPES = {("DOUBLE", "PRECISION"), ("CHARACTER", "VARYING"), ("CHAR", "VARYING")}
_CURRENT = {"DATE": Db2Type.DATE, "TIME": Db2Type.TIME, "TIMESTAMP": Db2Type.TIMESTAMP}
_TYPE_DEFAULTS = {
    Db2Type.CHAR: "''",
    Db2Type.VARCHAR: "''",
    Db2Type.DATE: "CURRENT DATE",
    Db2Type.TIME: "CURRENT TIME",
    Db2Type.TIMESTAMP: "CURRENT TIMESTAMP",
}


@dataclass(frozen=True, slots=True)
class CreateTable:
    """CREATE TABLE: the table as the catalog will record it."""

    table: Table


@dataclass(frozen=True, slots=True)
class AddColumn:
    """ALTER TABLE ... ADD COLUMN."""

    schema: str
    table: str
    column: Column


@dataclass(frozen=True, slots=True)
class DropTable:
    """DROP TABLE."""

    schema: str
    table: str


@dataclass(frozen=True, slots=True)
class CreateSchema:
    """CREATE SCHEMA (a schema is also created by the first qualified CREATE TABLE in it)."""

    schema: str


Statement = CreateTable | AddColumn | DropTable | CreateSchema


def split_statements(text: str) -> list[str]:
    """Split SQL text on semicolons outside quotes and comments; drop empty statements."""
    parts: list[str] = []
    current: list[str] = []
    quote_char, i = "", 0
    while i < len(text):
        ch = text[i]
        if quote_char:
            quote_char = "" if ch == quote_char else quote_char
        elif ch in "'\"":
            quote_char = ch
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        elif ch == ";":
            parts.append("".join(current))
            current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def is_ddl(statement: str) -> bool:
    """Whether the statement is DDL this parser handles (CREATE/ALTER/DROP TABLE, CREATE
    SCHEMA)."""
    words = [w.upper() for w in statement.split(None, 2)[:2]]
    return len(words) == 2 and (
        (words[0] in ("CREATE", "ALTER", "DROP") and words[1] == "TABLE")
        or words == ["CREATE", "SCHEMA"]
    )


class _Tokens:
    def __init__(self, text: str) -> None:
        self.items: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if not match:
                raise DdlError(None, None, f"unexpected character {text[pos]!r} at offset {pos}")
            pos = match.end()
            if match.lastgroup:
                self.items.append((match.lastgroup, match.group(match.lastgroup)))
        self.i = 0
        self.table: str | None = None
        self.column: str | None = None

    def fail(self, reason: str) -> DdlError:
        return DdlError(self.table, self.column, reason)

    def peek(self, ahead: int = 0) -> str:
        j = self.i + ahead
        if j >= len(self.items):
            return ""
        kind, text = self.items[j]
        return text if kind in ("str", "qid", "num") else text.upper()

    def take(self) -> tuple[str, str]:
        if self.i >= len(self.items):
            raise self.fail("unexpected end of statement")
        self.i += 1
        return self.items[self.i - 1]

    def accept(self, *words: str) -> bool:
        if all(self.peek(k) == w for k, w in enumerate(words)):
            self.i += len(words)
            return True
        return False

    def expect(self, *words: str) -> None:
        if not self.accept(*words):
            raise self.fail(f"expected {' '.join(words)}, found {self.peek() or 'end'!r}")

    def ident(self, what: str) -> str:
        kind, text = self.take()
        if kind == "qid":
            return text[1:-1].replace('""', '"')
        if kind != "word":
            raise self.fail(f"expected {what}, found {text!r}")
        return text.upper()

    def qualified(self, default_schema: str) -> tuple[str, str]:
        first = self.ident("a table name")
        if self.accept("."):
            return first, self.ident("a table name")
        return default_schema, first

    def number(self) -> int:
        kind, text = self.take()
        if kind != "num" or not text.isdigit():
            raise self.fail(f"expected a whole number, found {text!r}")
        return int(text)


def parse_statement(text: str, default_schema: str) -> Statement:
    """Parse one Db2 DDL statement.

    Args:
        text: CREATE TABLE, ALTER TABLE ... ADD [COLUMN], DROP TABLE or CREATE SCHEMA name
            [AUTHORIZATION name].
        default_schema: the schema of unqualified table names.

    Raises:
        DdlError: naming the table (and column) and what is wrong.
    """
    toks = _Tokens(text)
    if toks.accept("CREATE", "SCHEMA"):
        statement: Statement = CreateSchema(toks.ident("a schema name"))
        if toks.accept("AUTHORIZATION"):
            toks.ident("an authorization name")
    elif toks.accept("CREATE", "TABLE"):
        statement = _create(toks, default_schema)
    elif toks.accept("ALTER", "TABLE"):
        schema, name = toks.qualified(default_schema)
        toks.table = f"{schema}.{name}"
        toks.expect("ADD")
        toks.accept("COLUMN")
        statement = AddColumn(schema, name, _column(toks))
    elif toks.accept("DROP", "TABLE"):
        schema, name = toks.qualified(default_schema)
        toks.table = f"{schema}.{name}"
        statement = DropTable(schema, name)
    else:
        raise DdlError(
            None, None, "expected CREATE TABLE, ALTER TABLE, DROP TABLE or CREATE SCHEMA"
        )
    toks.accept(";")
    if toks.peek():
        raise toks.fail(f"unexpected {toks.peek()!r} after the end of the statement")
    return statement


def _create(toks: _Tokens, default_schema: str) -> CreateTable:
    schema, name = toks.qualified(default_schema)
    toks.table = f"{schema}.{name}"
    toks.expect("(")
    columns: list[Column] = []
    keys: list[str] = []
    while True:
        toks.column = None
        if toks.accept("CONSTRAINT"):
            toks.ident("a constraint name")
        if toks.accept("PRIMARY", "KEY"):
            keys += _name_list(toks)
        elif toks.peek() in ("FOREIGN", "UNIQUE", "CHECK"):
            raise toks.fail(f"{toks.peek()} constraints are not supported")
        else:
            column = _column(toks)
            if any(c.name == column.name for c in columns):
                raise toks.fail("is declared twice")
            if toks.accept("PRIMARY", "KEY"):
                keys.append(column.name)
            columns.append(column)
        if not toks.accept(","):
            break
    toks.expect(")")
    _placement(toks)
    toks.column = None
    return CreateTable(_table(toks, schema, name, columns, keys))


def _table(toks: _Tokens, schema: str, name: str, columns: list[Column], keys: list[str]) -> Table:
    names = [c.name for c in columns]
    for key in keys:
        toks.column = key
        if key not in names:
            raise toks.fail("is in the PRIMARY KEY but not declared")
    toks.column = None
    if len(set(keys)) != len(keys):
        raise toks.fail("PRIMARY KEY names a column twice")
    # Db2 requires primary-key columns to be NOT NULL; make them so, as Db2 z/OS does.
    columns = [replace(c, nullable=False) if c.name in keys else c for c in columns]
    return Table(schema, name, tuple(columns), tuple(keys))


def _placement(toks: _Tokens) -> None:
    while toks.peek() in ("IN", "CCSID"):
        if toks.accept("IN"):
            toks.ident("a database or table space")
            if toks.accept("."):
                toks.ident("a table space")
        else:
            toks.expect("CCSID")
            toks.ident("an encoding scheme")


def _name_list(toks: _Tokens) -> list[str]:
    toks.expect("(")
    names = [toks.ident("a column name")]
    while toks.accept(","):
        names.append(toks.ident("a column name"))
    toks.expect(")")
    return names


def _column(toks: _Tokens) -> Column:
    name = toks.ident("a column name")
    toks.column = name
    kind, length, scale = _type(toks)
    nullable, default = True, None
    while toks.peek() in ("NOT", "NULL", "WITH", "DEFAULT"):
        if toks.accept("NOT", "NULL"):
            nullable = False
        elif toks.accept("NULL"):
            nullable = True
        else:
            with_default = toks.accept("WITH")
            toks.expect("DEFAULT")
            default = _default(toks, kind, scale, optional=with_default)
    return Column(name, kind, length, scale, nullable, default)


def _type(toks: _Tokens) -> tuple[Db2Type, int | None, int | None]:
    words = [toks.ident("a type")]
    if (words[0], toks.peek()) in _TWO_WORD_TYPES:
        words.append(toks.ident("a type"))
    text = " ".join(words)
    if toks.accept("("):
        args = [str(toks.number())]
        while toks.accept(","):
            args.append(str(toks.number()))
        toks.expect(")")
        if text == "TIMESTAMP" and args == ["6"]:
            args = []  # TIMESTAMP(6) is Db2's default precision: microseconds
        text += "(" + ",".join(args) + ")" if args else ""
    if toks.peek() == "FOR":
        raise toks.fail(f"type {text} FOR ... DATA is not supported")
    try:
        return parse_type(text)
    except CatalogError as exc:
        raise toks.fail(str(exc)) from exc


def _default(toks: _Tokens, kind: Db2Type, scale: int | None, optional: bool) -> str | None:
    """The default as Db2 SQL text, checked against the column type."""
    if toks.accept("NULL"):
        return None
    if toks.peek() == "CURRENT" or toks.peek().startswith("CURRENT_"):
        word = toks.take()[1].upper()
        special = word.removeprefix("CURRENT_") if word != "CURRENT" else toks.ident("DATE/TIME")
        if _CURRENT.get(special) is not kind:
            raise toks.fail(f"DEFAULT CURRENT {special} does not fit type {kind.value}")
        return f"CURRENT {special}"
    sign = "-" if toks.accept("-") else ""
    if not sign:
        toks.accept("+")
    token_kind, text = toks.items[toks.i] if toks.i < len(toks.items) else ("", "")
    if token_kind == "num":
        toks.i += 1
        if kind in (Db2Type.CHAR, Db2Type.VARCHAR, Db2Type.DATE, Db2Type.TIME, Db2Type.TIMESTAMP):
            raise toks.fail(f"a numeric DEFAULT does not fit type {kind.value}")
        if kind in (Db2Type.SMALLINT, Db2Type.INTEGER, Db2Type.BIGINT) and "." in text:
            raise toks.fail(f"DEFAULT {sign}{text} is not a whole number")
        return _decimal_text(toks, sign + text)
    if token_kind == "str" and not sign:
        toks.i += 1
        if kind not in (
            Db2Type.CHAR,
            Db2Type.VARCHAR,
            Db2Type.DATE,
            Db2Type.TIME,
            Db2Type.TIMESTAMP,
        ):
            raise toks.fail(f"a string DEFAULT does not fit type {kind.value}")
        return text
    if optional:
        return _TYPE_DEFAULTS.get(kind, "0")
    raise toks.fail(f"expected a DEFAULT value, found {toks.peek() or 'end'!r}")


def _decimal_text(toks: _Tokens, text: str) -> str:
    try:
        return str(Decimal(text))
    except InvalidOperation as exc:
        raise toks.fail(f"DEFAULT {text} is not a number") from exc
