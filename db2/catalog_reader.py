"""Reading the system of record's catalog and ASN control tables through DB-API.

`SystemCatalog` is what the simulated Db2 (its writer) and the capture reader (`cdc_ingest`)
both read: the tables of every schema with their exact Db2 types (SYSTABLES, SYSCOLUMNS), the
captured tables of every schema (IBMSNAP_REGISTER), the newest committed LSN (IBMSNAP_UOW), the
width of the log positions (the catalog's type of IBMSNAP_COMMITSEQ: an integer, or ASN's
CHAR(10)/CHAR(16)/VARCHAR(16) FOR BIT DATA) and a cheap check whether anything committed since
(`change_token`). The same queries (`sql/catalog.sql`) run on both systems; `db2.dialect` fills
in what differs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from config import Settings
from db2.connection import connect_source
from db2.dialect import Dialect, RowReader, type_of_coltype
from db2.errors import SourceError
from event_contract.catalog import Column, Db2Type, Table
from plumbing.sqlfiles import read_sections

SQL_DIR = Path(__file__).with_name("sql")


@dataclass(frozen=True, slots=True)
class Registration:
    """A captured table (a row of IBMSNAP_REGISTER): the source table and its CD table.

    Attributes:
        table: SCHEMA.TABLE.
        cd_table: its CD table, quoted and qualified.
        before_prefix: prefix of the before-image columns, or None.
        needs_snapshot: its capture history does not reproduce its rows: it held rows when
            it was registered, or its CD table was pruned past the registration (ASN's
            CD_OLD_SYNCHPOINT beyond SYNCHPOINT). Capture then starts it with a snapshot.
        updates_as_delete_insert: ASN writes each update of the table as a `D` row and an
            `I` row (IBMSNAP_REGISTER.CHG_UPD_TO_DEL_INS = 'Y'); capture pairs them again.
    """

    table: str
    cd_table: str
    before_prefix: str | None
    needs_snapshot: bool = False
    updates_as_delete_insert: bool = False


class SystemCatalog:
    """Reads the catalog and the ASN control tables of a system of record (every schema).

    Args:
        conn: a DB-API connection (sqlite3 in autocommit mode, or ibm_db_dbi).
        dialect: how this system of record differs (see `db2.dialect`).
        schema: the default schema (`source.schema`): that of unqualified table names; on
            the simulated Db2 also the name its file is attached under.
        extra_sql: further SQL files of named statements, filled in the same way (a subclass's
            own queries).
    """

    def __init__(
        self, conn: Any, dialect: Dialect, schema: str, extra_sql: Sequence[Path] = ()
    ) -> None:
        self.conn = conn
        self.dialect = dialect
        self.schema = schema
        self._readers: dict[tuple[Column, ...], RowReader] = {}
        queries = read_sections(SQL_DIR / "catalog.sql")
        for path in extra_sql:
            queries = {**queries, **read_sections(path)}
        self._sql = {
            name: text.replace("{catalog}", dialect.catalog(schema))
            .replace("{control}", dialect.control(schema))
            .replace("{registered_rows}", dialect.registered_rows)
            for name, text in queries.items()
        }
        self._lsn_known = False

    def __enter__(self) -> SystemCatalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        cur = self.conn.cursor()
        try:
            cur.execute(sql, tuple(params))
            return list(cur.fetchall())
        except Exception as exc:
            raise SourceError(f"query on {self.schema} failed: {exc}\n  {sql}") from exc
        finally:
            cur.close()

    @contextmanager
    def read_transaction(self) -> Iterator[None]:
        """Run the enclosed reads against one consistent state of the source."""
        begin = self.dialect.begin_read
        if begin:
            self.conn.execute(begin)
        try:
            yield
        finally:
            if begin:
                self.conn.execute("COMMIT")
            else:
                self.conn.commit()

    def split(self, name: str) -> tuple[str, str]:
        """(schema, table) of a table name: SCHEMA.NAME, or NAME of the default schema."""
        schema, dot, bare = name.upper().partition(".")
        return (schema, bare) if dot else (self.schema, schema)

    def table_names(self, schema: str | None = None) -> list[str]:
        """Names (upper case, unqualified) of every table of `schema` (default: the default
        schema)."""
        owner = schema or self.schema
        return [row[0].strip() for row in self._rows(self._sql["tables"], (owner,))]

    def all_tables(self) -> list[str]:
        """Every table of every schema, as SCHEMA.TABLE, ordered by schema then name."""
        return [f"{c.strip()}.{n.strip()}" for c, n in self._rows(self._sql["all_tables"])]

    def table_ref(self, table: Table) -> str:
        """The quoted reference of a catalog table in this system's SQL."""
        return self.dialect.table(self.schema, table.schema, table.name)

    @property
    def lsn_bytes(self) -> int | None:
        """Width of the binary log positions of IBMSNAP_COMMITSEQ/INTENTSEQ, or None for
        integers, as the catalog declares IBMSNAP_UOW.IBMSNAP_COMMITSEQ (read once; a catalog
        without that row keeps the dialect's width). Query parameters are bound with it."""
        if not self._lsn_known:
            control = self.dialect.control_name(self.schema)
            rows = self._rows(self._sql["lsn_type"], (control,))
            if rows:
                coltype, length = str(rows[0][0]).strip().upper(), int(rows[0][1])
                width = length if coltype in ("CHAR", "VARCHAR") else None
                self.dialect = replace(self.dialect, lsn_bytes=width)
            self._lsn_known = True
        return self.dialect.lsn_bytes

    def table(self, name: str) -> Table:
        """The catalog entry of table `name` (SCHEMA.NAME, or NAME of the default schema).

        Raises:
            SourceError: the table is not in the catalog, or has a type the gateway cannot carry.
        """
        schema, bare = self.split(name)
        rows = self._rows(self._sql["columns"], (schema, bare))
        if not rows:
            raise SourceError(f"table {schema}.{bare} is not in the catalog")
        columns, keys = [], []
        for col_name, _no, coltype, length, scale, nulls, default, keyseq in rows:
            kind = type_of_coltype(coltype, int(length))
            if kind is None:
                raise SourceError(
                    f"table {schema}.{bare} column {col_name.strip()}: Db2 type "
                    f"{coltype.strip()}({length}) is not carried by the gateway"
                )
            carries_length = kind in (Db2Type.CHAR, Db2Type.VARCHAR, Db2Type.DECIMAL)
            columns.append(
                Column(
                    name=col_name.strip(),
                    type=kind,
                    length=int(length) if carries_length else None,
                    scale=int(scale) if kind is Db2Type.DECIMAL else None,
                    nullable=str(nulls).strip() == "Y",
                    default=default,
                )
            )
            if keyseq:
                keys.append((int(keyseq), col_name.strip()))
        return Table(schema, bare, tuple(columns), tuple(name for _, name in sorted(keys)))

    def registrations(self) -> list[Registration]:
        """The captured tables of every schema (active rows of IBMSNAP_REGISTER)."""
        lsn = self.dialect.lsn_from_db
        table = self.dialect.table
        return [
            Registration(
                table=f"{owner.strip()}.{name.strip()}",
                cd_table=table(self.schema, cd_owner.strip(), cd_name.strip()),
                before_prefix=prefix.strip() if prefix else None,
                needs_snapshot=bool(rows) or lsn(old) > lsn(synch),
                updates_as_delete_insert=str(del_ins or "N").strip() == "Y",
            )
            for owner, name, cd_owner, cd_name, prefix, synch, old, rows, del_ins in self._rows(
                self._sql["registered"]
            )
        ]

    def newest_lsn(self) -> int:
        """The newest committed LSN (0 when nothing has committed yet)."""
        return self.dialect.lsn_from_db(self._rows(self._sql["newest_lsn"])[0][0])

    def change_token(self) -> int:
        """A number that differs from the one before when another connection has committed to
        the source in between; equal tokens: nothing new (only compare them, the value means
        nothing else).

        On the simulated Db2, SQLite's data_version of the source file (see
        `Dialect.commit_check`: cheap enough to ask every few milliseconds); on a real Db2, the
        newest committed LSN (one query).

        Raises:
            SourceError: the check failed.
        """
        check = self.dialect.commit_check(self.schema)
        if check is None:
            return self.newest_lsn()
        return int(self._rows(check)[0][0])


def uow_id_text(raw: object) -> str:
    """An IBMSNAP_UOWID as text: hexadecimal for Db2's binary ids, else stripped."""
    if isinstance(raw, bytes | bytearray | memoryview):
        return bytes(raw).hex().upper()
    return str(raw).strip()


def open_catalog(settings: Settings) -> SystemCatalog:
    """The catalog of the configured system of record (`source.kind`). Close it when done."""
    conn, dialect = connect_source(settings)
    return SystemCatalog(conn, dialect, settings.source.schema_name)
