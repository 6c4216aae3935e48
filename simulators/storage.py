"""How a Db2 table is declared in SQLite, and its capture: CD table and triggers.

SQLite's declared types cannot be trusted to keep Db2 values (a column declared DECIMAL gets
NUMERIC affinity and turns 0.1 into a float), so each column is declared for exactness and
guarded by a CHECK constraint named after its Db2 type; the Db2 type itself is recorded in the
simulated catalog (SYSCOLUMNS). See `db2.dialect` for the stored formats.

Capture, as ASN Capture does with CD tables: each registered table has `CD_<TABLE>` (in the
table's own schema) with IBMSNAP_COMMITSEQ, IBMSNAP_INTENTSEQ, IBMSNAP_OPERATION ('I'/'U'/'D'),
the after-image columns and the before-image columns prefixed 'X'. Three AFTER triggers fill it
in the writer's own transaction, numbering changes through IBMSNAP_OPEN_UOW, so any writer that
opens a unit of work the way `simulators.sor` does is captured, and nothing else may write.
The sequences are integers, or binary log positions of `lsn_bytes` bytes (the CD-table flavor,
see `simulators.flavors`); a table registered with updates as delete and insert gets a `D` row
(the old row) and an `I` row (the new one) per updated row instead of one `U` row.

Every schema lives in the one file; `db2.dialect.sqlite_table` says where each table is kept.
"""

from __future__ import annotations

from db2.dialect import quote, sqlite_table, stored_name
from event_contract.catalog import Column, Db2Type, Table
from simulators.errors import DdlError

BEFORE_PREFIX = "X"
_INT_RANGES = {
    Db2Type.SMALLINT: (-(2**15), 2**15 - 1),
    Db2Type.INTEGER: (-(2**31), 2**31 - 1),
    Db2Type.BIGINT: (-(2**63), 2**63 - 1),
}
_CURRENT_DEFAULTS = {
    "CURRENT TIMESTAMP": "(strftime('%Y-%m-%d %H:%M:%f000', 'now'))",
    "CURRENT DATE": "(date('now'))",
    "CURRENT TIME": "(time('now'))",
}
_OPS = (("I", "INSERT"), ("U", "UPDATE"), ("D", "DELETE"))


def cd_table_name(table: str) -> str:
    """The name of a table's change-data table (in the table's schema), as ASN names it by
    convention."""
    return f"CD_{table}"


def ref(home: str, table: Table) -> str:
    """The quoted SQLite reference of a Db2 table in the file attached as `home`."""
    return sqlite_table(home, table.schema, table.name)


def cd_ref(home: str, table: Table) -> str:
    """The quoted SQLite reference of a table's CD table."""
    return sqlite_table(home, table.schema, cd_table_name(table.name))


def _affinity(column: Column) -> str:
    kind = column.type
    if kind in (Db2Type.CHAR, Db2Type.VARCHAR):
        # Db2 compares character strings as if padded with blanks: 'AB' = 'AB  '.
        return " TEXT COLLATE RTRIM"
    if kind in _INT_RANGES:
        return " INT"  # not "INTEGER": a one-column INTEGER key would become the rowid
    if kind is Db2Type.DOUBLE:
        return " REAL"
    if kind is Db2Type.DECIMAL:
        return ""  # no affinity: text stays text and a float is refused by the CHECK below
    return " TEXT"


def _check(column: Column) -> str:
    x = quote(column.name)
    kind = column.type
    if kind in (Db2Type.CHAR, Db2Type.VARCHAR):
        rule = f"typeof({x}) = 'text' AND length({x}) <= {int(column.length or 0)}"
    elif kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        rule = f"typeof({x}) = 'integer' AND {x} BETWEEN {low} AND {high}"
    elif kind is Db2Type.DECIMAL:
        rule = (
            f"typeof({x}) = 'integer' OR (typeof({x}) = 'text' AND {x} GLOB '*[0-9]*' "
            f"AND {x} NOT GLOB '*[^0-9.+-]*')"
        )
    elif kind is Db2Type.DATE:
        # The '+0 days' modifier normalises 2024-02-30 to 2024-03-01, so it fails the test.
        rule = f"date({x}, '+0 days') IS {x}"
    elif kind is Db2Type.TIME:
        rule = f"time({x}) IS {x}"
    elif kind is Db2Type.TIMESTAMP:
        rule = (
            f"length({x}) = 26 AND strftime('%Y-%m-%d %H:%M:%S', substr({x}, 1, 19), '+0 days') "
            f"IS substr({x}, 1, 19) "
            f"AND substr({x}, 20, 1) = '.' AND substr({x}, 21) NOT GLOB '*[^0-9]*'"
        )
    else:
        rule = f"typeof({x}) = 'real'"
    name = quote(f"{column.name} is {column.type_sql}")
    return f" CONSTRAINT {name} CHECK ({x} IS NULL OR ({rule}))"


def sqlite_default(column: Column) -> str | None:
    """The SQLite DEFAULT clause value for a column's Db2 default, or None."""
    text = column.default
    if text is None:
        return None
    if text in _CURRENT_DEFAULTS:
        return _CURRENT_DEFAULTS[text]
    if column.type is Db2Type.DECIMAL:
        return "'" + text + "'"  # stored as text, like every DECIMAL value
    return text


def column_sql(column: Column, for_capture: bool = False) -> str:
    """One column definition; a CD table's copy has no constraints and no default."""
    decl = quote(column.name) + _affinity(column)
    if for_capture:
        return decl
    if not column.nullable:
        decl += " NOT NULL"
    default = sqlite_default(column)
    if default is not None:
        decl += f" DEFAULT {default}"
    return decl + _check(column)


def create_table_sql(table: Table, home: str | None = None) -> str:
    """CREATE TABLE for a Db2 table in the file attached as `home` (default: the table's own
    schema, a file attached under that name)."""
    home = home or table.schema
    parts = [column_sql(c) for c in table.columns]
    if table.primary_key:
        parts.append("PRIMARY KEY (" + ", ".join(quote(k) for k in table.primary_key) + ")")
    body = ",\n    ".join(parts)
    return f"CREATE TABLE {ref(home, table)} (\n    {body}\n)"


def add_column_sql(table: Table, column: Column, home: str) -> str:
    """ALTER TABLE ... ADD COLUMN for a new column of a Db2 table."""
    if column.default in _CURRENT_DEFAULTS:
        raise DdlError(
            table.qualified_name,
            column.name,
            f"ADD COLUMN with DEFAULT {column.default} is not supported by the simulated Db2",
        )
    if not column.nullable and column.default is None:
        raise DdlError(table.qualified_name, column.name, "a NOT NULL column added needs a DEFAULT")
    return f"ALTER TABLE {ref(home, table)} ADD COLUMN {column_sql(column)}"


def cd_table_sql(table: Table, home: str, lsn_bytes: int | None) -> str:
    """CREATE TABLE of the table's CD table (after-image and X-prefixed before-image columns),
    with integer sequences or binary ones of `lsn_bytes` bytes."""
    images = [column_sql(c, for_capture=True) for c in table.columns]
    befores = [column_sql(_prefixed(c), for_capture=True) for c in table.columns]
    seq = "INT" if lsn_bytes is None else "BLOB"
    body = ",\n    ".join(
        [
            f"IBMSNAP_COMMITSEQ {seq} NOT NULL",
            f"IBMSNAP_INTENTSEQ {seq} NOT NULL",
            "IBMSNAP_OPERATION TEXT NOT NULL",
            *images,
            *befores,
            "PRIMARY KEY (IBMSNAP_COMMITSEQ, IBMSNAP_INTENTSEQ)",
        ]
    )
    return f"CREATE TABLE {cd_ref(home, table)} (\n    {body}\n) WITHOUT ROWID"


def cd_add_column_sql(table: Table, column: Column, home: str) -> list[str]:
    """ALTER TABLEs that give the CD table a new column and its before image."""
    cd = cd_ref(home, table)
    return [
        f"ALTER TABLE {cd} ADD COLUMN {column_sql(column, for_capture=True)}",
        f"ALTER TABLE {cd} ADD COLUMN {column_sql(_prefixed(column), for_capture=True)}",
    ]


def _prefixed(column: Column) -> Column:
    return Column(BEFORE_PREFIX + column.name, column.type, column.length, column.scale)


def trigger_names(table: Table, home: str) -> list[str]:
    """Quoted, schema-qualified names of the table's three capture triggers."""
    name = stored_name(home, table.schema, table.name)
    return [f"{quote(home)}.{quote(f'ASN_{op}_{name}')}" for op, _ in _OPS]


def triggers_sql(
    table: Table, home: str, lsn_bytes: int | None, updates_as_delete_insert: bool
) -> list[str]:
    """The three AFTER triggers that write the table's changes to its CD table.

    Args:
        table: the captured table.
        home: the schema the file is attached as.
        lsn_bytes: width of binary sequences, or None for integers.
        updates_as_delete_insert: write an update as a `D` row and an `I` row.
    """
    # Trigger bodies on an attached database may only name its tables unqualified.
    cd = quote(stored_name(home, table.schema, cd_table_name(table.name)))
    source = quote(stored_name(home, table.schema, table.name))
    seq = "NEXTSEQ" if lsn_bytes is None else f"ASN_POSITION(NEXTSEQ, {int(lsn_bytes)})"
    targets = ", ".join(
        ["IBMSNAP_COMMITSEQ", "IBMSNAP_INTENTSEQ", "IBMSNAP_OPERATION"]
        + [quote(c.name) for c in table.columns]
        + [quote(BEFORE_PREFIX + c.name) for c in table.columns]
    )
    message = f"{table.qualified_name} changed outside a unit of work".replace("'", "''")
    images = {
        "I": ("NEW", None),
        "U": ("NEW", "OLD"),
        "D": ("OLD", "OLD"),  # ASN puts a deleted row's values in the after-image columns too
    }
    statements = []
    for (op, event), name in zip(_OPS, trigger_names(table, home), strict=True):
        rows: list[tuple[str, str, str | None]] = [("D", "OLD", "OLD"), ("I", "NEW", None)]
        if op != "U" or not updates_as_delete_insert:
            rows = [(op, *images[op])]
        body = "".join(_cd_insert(table, cd, targets, seq, *row) for row in rows)
        statements.append(  # identifiers from the catalog, quoted; no values
            f"CREATE TRIGGER {name} AFTER {event} ON {source} BEGIN\n"  # noqa: S608
            f"  SELECT RAISE(ABORT, '{message}') "
            "WHERE NOT EXISTS (SELECT 1 FROM IBMSNAP_OPEN_UOW);\n"
            f"{body}END"
        )
    return statements


def _cd_insert(  # noqa: PLR0917 - the parts of one statement
    table: Table, cd: str, targets: str, seq: str, op: str, after: str, before: str | None
) -> str:
    """A trigger body's statements writing one CD row (`after`/`before`: NEW, OLD or None)."""
    values = [f"{after}.{quote(c.name)}" for c in table.columns] + [
        f"{before}.{quote(c.name)}" if before else "NULL" for c in table.columns
    ]
    return (
        "  UPDATE IBMSNAP_OPEN_UOW SET NEXTSEQ = NEXTSEQ + 1;\n"  # noqa: S608
        f"  INSERT INTO {cd} ({targets})\n"
        f"  SELECT COMMITSEQ, {seq}, '{op}', {', '.join(values)} FROM IBMSNAP_OPEN_UOW;\n"
    )
