"""Every SQL difference between the simulated Db2 (SQLite) and a real Db2 for z/OS, in one place.

The capture reader in `cdc_ingest.source` writes one set of queries; a `Dialect` fills in what
differs: where the catalog and the ASN control tables live, how a row limit is written, how an
LSN is bound and read back (an INTEGER on SQLite, ASN's `CHAR(10) FOR BIT DATA` on Db2), how
column values come out of (and go into) the driver, and how cheaply a new commit is noticed.

Both drivers (sqlite3 and ibm_db_dbi) use the `qmark` parameter style, so queries bind with `?`
everywhere.

How the simulated Db2 stores each type in SQLite (values stay exact, no float on their path):
DECIMAL → TEXT such as "-12.50" (or an INTEGER), CHAR/VARCHAR → TEXT compared with
`COLLATE RTRIM`, DATE → "YYYY-MM-DD", TIME → "HH:MM:SS", TIMESTAMP → "YYYY-MM-DD
HH:MM:SS.ffffff", integers → INTEGER, DOUBLE → REAL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Context, Decimal
from functools import partial
from typing import Any, Literal

from db2.errors import SourceError
from event_contract.catalog import Column, Db2Type

_EXACT = Context(prec=64)
RowReader = Callable[[Sequence[Any], int], dict[str, object]]
"""Converts the columns of a raw driver row starting at an offset into a row dict."""
DB2_LSN_BYTES = 10
"""Width of ASN's IBMSNAP_COMMITSEQ (CHAR(10) FOR BIT DATA) on a Db2 for z/OS source whose
catalog does not say otherwise."""
MAX_LSN = 2**63 - 1
"""The largest log position the event contract carries (`commit_lsn` is an Avro long)."""
FLAVOR_LSN_BYTES: dict[str, int | None] = {
    "simulator": None,
    "zos": 10,
    "zos-extended": 16,
    "luw": 16,
}
"""How wide each CD-table flavor's IBMSNAP_COMMITSEQ/INTENTSEQ is: None for the simulator's
integers, else the bytes of the binary log position (RBA/LRSN) as ASN writes it."""
SQLITE_COMMIT_CHECK_S = 0.005
"""How often idle capture checks the simulated Db2 for a commit, in seconds: the check is a
PRAGMA reading SQLite's shared-memory WAL index (no table, no disk), a few microseconds."""


def quote(identifier: str) -> str:
    """An identifier from the catalog, double-quoted for SQL (never a user value)."""
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the two systems of record the capture reader can read.

    Attributes:
        kind: "sqlite" (the simulated Db2) or "db2" (a real Db2 for z/OS through ibm_db_dbi).
        catalog_schema: schema of SYSTABLES/SYSCOLUMNS; None means the source schema itself
            (the simulated Db2 keeps its catalog beside the data).
        control_schema: schema of IBMSNAP_UOW and IBMSNAP_REGISTER; None: the source schema.
        lsn_bytes: width of IBMSNAP_COMMITSEQ and IBMSNAP_INTENTSEQ when they are binary log
            positions (CHAR/VARCHAR FOR BIT DATA); None when they are integers. The catalog
            reader sets it from the catalog (`SystemCatalog.lsn_bytes`).
    """

    kind: Literal["sqlite", "db2"]
    catalog_schema: str | None = None
    control_schema: str | None = None
    lsn_bytes: int | None = None

    def catalog(self, source_schema: str) -> str:
        """Quoted schema holding SYSTABLES and SYSCOLUMNS."""
        return quote(self.catalog_schema or source_schema)

    def control(self, source_schema: str) -> str:
        """Quoted schema holding the ASN control tables."""
        return quote(self.control_schema or source_schema)

    def control_name(self, source_schema: str) -> str:
        """The schema holding the ASN control tables, unquoted (a catalog query binds it)."""
        return self.control_schema or source_schema

    def table(self, home: str, schema: str, name: str) -> str:
        """The quoted reference of Db2 table `schema.name` in this system's SQL.

        On a real Db2 it is the table itself; on the simulated Db2, where every schema lives
        in the one file attached as `home`, see `sqlite_table`.
        """
        if self.kind == "db2":
            return f"{quote(schema)}.{quote(name)}"
        return sqlite_table(home, schema, name)

    @property
    def registered_rows(self) -> str:
        """The select-list item of IBMSNAP_REGISTER's REGISTERED_ROWS: the simulator's own
        column (rows a table held when registered); a real register has no such column."""
        return "REGISTERED_ROWS" if self.kind == "sqlite" else "0"

    def limit(self, rows: int) -> str:
        """The clause that bounds a query to `rows` rows (appended after ORDER BY)."""
        count = int(rows)
        return f"LIMIT {count}" if self.kind == "sqlite" else f"FETCH FIRST {count} ROWS ONLY"

    @property
    def begin_read(self) -> str | None:
        """Statement opening a consistent read transaction, or None when the driver opens one."""
        # SQLite in WAL mode: a deferred transaction reads one snapshot for all its statements.
        # ibm_db_dbi runs with autocommit off; the caller sets the isolation it needs.
        return "BEGIN" if self.kind == "sqlite" else None

    def commit_check(self, source_schema: str) -> str | None:
        """A statement answering a number that changes when another connection commits.

        SQLite's `PRAGMA <schema>.data_version` changes whenever another connection (of any
        process) committed to the file since this connection last asked. None on a real Db2:
        the change check there is the newest committed LSN (`SystemCatalog.change_token`).
        """
        return f"PRAGMA {quote(source_schema)}.data_version" if self.kind == "sqlite" else None

    @property
    def commit_check_s(self) -> float | None:
        """How often idle capture may run the change check, in seconds; None when it costs
        a round trip to the system of record (a real Db2): capture then polls every
        `capture.poll_interval_ms` instead."""
        return SQLITE_COMMIT_CHECK_S if self.kind == "sqlite" else None

    def lsn_to_db(self, lsn: int) -> object:
        """An LSN (or IBMSNAP_INTENTSEQ) as a query parameter: an int, or the big-endian
        binary log position of `lsn_bytes` bytes."""
        width = self.lsn_bytes
        return lsn if width is None else log_position(lsn, width)

    def lsn_from_db(self, raw: object) -> int:
        """An LSN (or IBMSNAP_INTENTSEQ) read from the control or CD tables, as an int.

        Binary log positions (RBA/LRSN, CHAR or VARCHAR FOR BIT DATA) are read as big-endian
        unsigned numbers, which keeps their order (Db2 compares them byte by byte).

        Raises:
            SourceError: a position beyond the 63 bits the event contract carries.
        """
        if raw is None:
            return 0
        if isinstance(raw, bytes | bytearray | memoryview):
            value = int.from_bytes(bytes(raw), "big")
            if value > MAX_LSN:
                raise SourceError(
                    f"log position x'{bytes(raw).hex().upper()}' does not fit the 63-bit "
                    "commit_lsn/change_lsn of the event contract"
                )
            return value
        return int(raw)  # type: ignore[call-overload]

    def value_from_db(self, column: Column, raw: object) -> object:
        """A column value as the driver returns it → the gateway's Python representation."""
        if raw is None:
            return None
        if self.kind == "sqlite":
            return _from_sqlite(column, raw)
        if column.type is Db2Type.CHAR and isinstance(raw, str):
            return raw.rstrip(" ")
        if column.type is Db2Type.DECIMAL and not isinstance(raw, Decimal):
            return _decimal(column, str(raw))
        return raw

    def row_reader(self, columns: Sequence[Column]) -> RowReader:
        """A function converting `columns`' raw values (from an offset) into a row dict.

        The same conversion as `value_from_db`, compiled once per catalog into one function
        (the capture reader's hot path: a generic call per value costs more than the value).
        """
        scope: dict[str, Any] = {}
        items = []
        for i, column in enumerate(columns):
            convert = self._converter(column)
            value = f"r[o + {i}]"
            if convert is not None:
                scope[f"c{i}"] = convert
                value = f"None if (x{i} := r[o + {i}]) is None else c{i}(x{i})"
            items.append(f"{column.name!r}: {value}")
        source = "def read(r, o):\n    return {" + ", ".join(items) + "}\n"
        exec(compile(source, "<row reader>", "exec"), scope)  # built from the catalog only
        reader: RowReader = scope["read"]
        return reader

    def _converter(self, column: Column) -> Callable[[Any], object] | None:
        if self.kind == "db2":
            if column.type in (Db2Type.CHAR, Db2Type.DECIMAL):
                return partial(self.value_from_db, column)
            return None
        kind = column.type
        if kind is Db2Type.DECIMAL:
            return partial(_decimal_of, Decimal(1).scaleb(-(column.scale or 0), _EXACT))
        return _SQLITE_CONVERTERS.get(kind)

    def value_to_db(self, column: Column, value: object) -> object:
        """A Python value → what the driver binds for `column` (ibm_db_dbi takes them as is)."""
        if value is None or self.kind == "db2":
            return value
        return _to_sqlite(column, value)


def log_position(value: int, width: int) -> bytes:
    """`value` as a binary log position of `width` bytes, big-endian (as ASN's CHAR(n) FOR
    BIT DATA sequences compare: byte by byte)."""
    return int(value).to_bytes(width, "big")


def sqlite_table(home: str, schema: str, name: str) -> str:
    """Where the simulated Db2 keeps Db2 table `schema.name`, quoted for SQLite.

    The simulated Db2 is one SQLite file (so a unit of work commits atomically across every
    schema) attached under its home schema `home` (`source.schema`): a table of the home
    schema keeps its own name (`"SHIPPING"."ORDERS"`, as every file made before schemas
    could be many), a table of another schema is named `SCHEMA.NAME` inside the file
    (`"SHIPPING"."ACCT.LEDGER"`).
    """
    return f"{quote(home)}.{quote(stored_name(home, schema, name))}"


def stored_name(home: str, schema: str, name: str) -> str:
    """The unqualified SQLite name of Db2 table `schema.name` (see `sqlite_table`)."""
    return name if schema == home else f"{schema}.{name}"


def _decimal(column: Column, text: str) -> Decimal:
    # Quantize to the declared scale so 12.5 stored in a DECIMAL(9,2) reads back as 12.50;
    # the context holds 31 digits (the default one holds 28 and would refuse DECIMAL(31,s)).
    exponent = Decimal(1).scaleb(-(column.scale or 0), _EXACT)
    return Decimal(text).quantize(exponent, context=_EXACT)


def _decimal_of(exponent: Decimal, raw: object) -> Decimal:
    text = raw if raw.__class__ is str else str(raw)
    return Decimal(text).quantize(exponent, context=_EXACT)


_SQLITE_CONVERTERS: dict[Db2Type, Callable[[Any], object]] = {
    Db2Type.CHAR: lambda raw: str(raw).rstrip(" "),
    Db2Type.TIMESTAMP: lambda raw: datetime.fromisoformat(str(raw)),
    Db2Type.DATE: lambda raw: date.fromisoformat(str(raw)),
    Db2Type.TIME: lambda raw: time.fromisoformat(str(raw)),
    Db2Type.DOUBLE: float,
}
"""How `_from_sqlite` converts each type that is not stored as is (see the module docstring)."""


def _from_sqlite(column: Column, raw: object) -> object:
    kind = column.type
    if kind is Db2Type.DECIMAL:
        return _decimal(column, str(raw))
    if kind is Db2Type.CHAR:
        return str(raw).rstrip(" ")
    if kind is Db2Type.TIMESTAMP:
        return datetime.fromisoformat(str(raw))
    if kind is Db2Type.DATE:
        return date.fromisoformat(str(raw))
    if kind is Db2Type.TIME:
        return time.fromisoformat(str(raw))
    if kind is Db2Type.DOUBLE:
        return float(raw)  # type: ignore[arg-type]
    return raw


def _to_sqlite(column: Column, value: object) -> object:
    kind = column.type
    if kind is Db2Type.DECIMAL:
        if isinstance(value, float):
            raise TypeError(f"column {column.name} is {column.type_sql}: pass a Decimal, not float")
        # Fixed-point text: str() would write 1E-31, which the CHECK refuses.
        return format(value, "f") if isinstance(value, Decimal) else value
    if kind is Db2Type.TIMESTAMP and isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="microseconds")
    if kind is Db2Type.DATE and isinstance(value, date):
        return value.isoformat()
    if kind is Db2Type.TIME and isinstance(value, time):
        return value.isoformat(timespec="seconds")
    return value


# How SYSIBM.SYSCOLUMNS.COLTYPE names each type on Db2 for z/OS (DOUBLE is FLOAT, LENGTH 8).
# The simulated Db2's own SYSCOLUMNS uses the same codes, so one catalog query reads both.
COLTYPES: dict[Db2Type, str] = {
    Db2Type.CHAR: "CHAR",
    Db2Type.VARCHAR: "VARCHAR",
    Db2Type.SMALLINT: "SMALLINT",
    Db2Type.INTEGER: "INTEGER",
    Db2Type.BIGINT: "BIGINT",
    Db2Type.DECIMAL: "DECIMAL",
    Db2Type.DATE: "DATE",
    Db2Type.TIME: "TIME",
    Db2Type.TIMESTAMP: "TIMESTMP",
    Db2Type.DOUBLE: "FLOAT",
}
_TYPES_BY_COLTYPE = {code: kind for kind, code in COLTYPES.items()}


def type_of_coltype(coltype: str, length: int) -> Db2Type | None:
    """The Db2 type of a SYSCOLUMNS COLTYPE code, or None for a type the gateway cannot carry."""
    kind = _TYPES_BY_COLTYPE.get(coltype.strip().upper())
    if kind is Db2Type.DOUBLE and length != 8:
        return None  # FLOAT with LENGTH 4 is REAL, which the gateway does not carry
    return kind


SQLITE = Dialect(kind="sqlite")
"""The simulated Db2: catalog and control tables live in the source schema's SQLite file."""


def db2_dialect(control_schema: str = "ASN") -> Dialect:
    """A real Db2 for z/OS: catalog in SYSIBM, ASN control tables in `control_schema`
    (sequences 10 bytes wide until the catalog says otherwise)."""
    return Dialect(
        kind="db2", catalog_schema="SYSIBM", control_schema=control_schema, lsn_bytes=DB2_LSN_BYTES
    )
