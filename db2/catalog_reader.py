"""Reading the system of record's catalog and ASN control tables through DB-API.

`SystemCatalog` is what the simulated Db2 (its writer) and the capture reader (`cdc_ingest`)
both read: the tables of a schema with their exact Db2 types (SYSTABLES, SYSCOLUMNS), the
captured tables (IBMSNAP_REGISTER), the newest committed LSN (IBMSNAP_UOW) and a cheap check
whether anything committed since (`change_token`). The same queries
(`sql/catalog.sql`) run on both systems; `db2.dialect` fills in what differs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config import Settings
from db2.connection import connect_source
from db2.dialect import Dialect, RowReader, quote, type_of_coltype
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
    """

    table: str
    cd_table: str
    before_prefix: str | None
    needs_snapshot: bool = False


class SystemCatalog:
    """Reads the catalog and the ASN control tables of one schema.

    Args:
        conn: a DB-API connection (sqlite3 in autocommit mode, or ibm_db_dbi).
        dialect: how this system of record differs (see `db2.dialect`).
        schema: the source schema (Db2 creator) of the captured tables.
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
            name: text.replace("{catalog}", dialect.catalog(schema)).replace(
                "{control}", dialect.control(schema)
            )
            for name, text in queries.items()
        }

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

    def table_names(self) -> list[str]:
        """Names (upper case, unqualified) of every table of the source schema."""
        return [row[0].strip() for row in self._rows(self._sql["tables"], (self.schema,))]

    def table(self, name: str) -> Table:
        """The catalog entry of table `name` (unqualified, or SCHEMA.NAME of this schema).

        Raises:
            SourceError: the table is not in the catalog, or has a type the gateway cannot carry.
        """
        bare = name.upper().removeprefix(self.schema + ".")
        rows = self._rows(self._sql["columns"], (self.schema, bare))
        if not rows:
            raise SourceError(f"table {self.schema}.{bare} is not in the catalog")
        columns, keys = [], []
        for col_name, _no, coltype, length, scale, nulls, default, keyseq in rows:
            kind = type_of_coltype(coltype, int(length))
            if kind is None:
                raise SourceError(
                    f"table {self.schema}.{bare} column {col_name.strip()}: Db2 type "
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
        return Table(self.schema, bare, tuple(columns), tuple(name for _, name in sorted(keys)))

    def registrations(self) -> list[Registration]:
        """The captured tables of this schema (active rows of IBMSNAP_REGISTER)."""
        lsn = self.dialect.lsn_from_db
        return [
            Registration(
                table=f"{owner.strip()}.{name.strip()}",
                cd_table=f"{quote(cd_owner.strip())}.{quote(cd_name.strip())}",
                before_prefix=prefix.strip() if prefix else None,
                needs_snapshot=bool(rows) or lsn(old) > lsn(synch),
            )
            for owner, name, cd_owner, cd_name, prefix, synch, old, rows in self._rows(
                self._sql["registered"], (self.schema,)
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
